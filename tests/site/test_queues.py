"""Every task has a queue, every queue has a worker, and short work never shares a worker
process with long jobs (so a six-hour batch job cannot delay a drift check)."""

import re
import shlex
from pathlib import Path

import yaml
from django.conf import settings

from mlops_site.celery import app as celery_app

REPO_ROOT = Path(__file__).resolve().parents[2]
LONG = {"training", "batch"}
SHORT = {"monitoring", "default"}


def _queues_of(words: list[str]) -> set[str]:
    for i, word in enumerate(words):
        if word in ("-Q", "--queues") and i + 1 < len(words):
            return set(words[i + 1].split(","))
        if word.startswith("--queues="):
            return set(word.split("=", 1)[1].split(","))
    return set()


def procfile_workers() -> dict[str, set[str]]:
    found = {}
    for line in (REPO_ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        words = shlex.split(command.replace(";", " ; "))
        if "worker" in words and "celery" in words:
            found[name.strip()] = _queues_of(words)
    return found


def compose_workers() -> dict[str, set[str]]:
    services = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    return {
        name: _queues_of([str(w) for w in service["command"]])
        for name, service in services.items()
        if isinstance(service.get("command"), list) and "worker" in service["command"]
    }


def test_every_project_task_is_routed_to_a_known_queue():
    # given
    celery_app.autodiscover_tasks(force=True)
    ours = [
        name
        for name in celery_app.tasks
        if re.match(r"^(training|inference|monitoring|registry|abtests)\.", name)
    ]

    # when
    routes = settings.CELERY_TASK_ROUTES

    # then
    assert ours
    unrouted = sorted(name for name in ours if name not in routes)
    assert unrouted == []
    assert {route["queue"] for route in routes.values()} <= LONG | SHORT


def test_every_queue_has_a_worker_and_short_queues_never_share_one_with_long_jobs():
    for where, workers in (("Procfile", procfile_workers()), ("compose", compose_workers())):
        # when
        consumed = set().union(*workers.values())

        # then
        assert LONG | SHORT <= consumed, where
        for name, queues in workers.items():
            assert not (queues & LONG and queues & SHORT), f"{where} {name}: {queues}"
