"""The container setup (Dockerfile, docker-compose.yml) names commands, modules and environment
variables that must exist in this project. No Docker engine is needed: the files are parsed and
every name they use is looked up here."""

import ast
import fnmatch
import importlib
import json
import re
from pathlib import Path

import yaml
from celery import Celery
from celery.app.utils import find_app
from celery.beat import Scheduler
from django.core.management import get_commands
from kombu.utils.imports import symbol_by_name

from mlops_site.celery import app as celery_app

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("web", "worker", "worker-monitoring", "beat")
# Read by the container tooling itself (Python, Django's entry points, gunicorn, compose).
TOOLING_ENV_VARS = {"PORT", "WEB_CONCURRENCY", "PYTHONUNBUFFERED", "DJANGO_SETTINGS_MODULE"}
ENV_READ_PATTERN = re.compile(
    r"""(?:env_(?:str|int|bool|float|list)\(|os\.environ\.get\(|os\.getenv\(|os\.environ\[)"""
    r"""\s*["']([A-Z][A-Z0-9_]*)["']"""
)
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def command_lines(service: dict) -> list[str]:
    """The service's command, entrypoint and healthcheck, each as one line of words."""
    parts = [service.get("command"), service.get("entrypoint")]
    parts.append(service.get("healthcheck", {}).get("test"))
    lines = []
    for part in parts:
        if isinstance(part, str):
            lines.append(part)
        elif isinstance(part, list):
            lines.append(" ".join(str(item) for item in part))
    return lines


def has_healthcheck(service: dict) -> bool:
    check = service.get("healthcheck") or {}
    test = check.get("test")
    return bool(test) and not check.get("disable") and test not in ("NONE", ["NONE"])


def all_command_lines() -> list[str]:
    return [line for service in compose()["services"].values() for line in command_lines(service)]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for raw in (REPO_ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


def env_vars_read_by_project() -> set[str]:
    # gunicorn.conf.py reads the web server's variables (workers, worker class, metrics dir).
    sources = [REPO_ROOT / "mlops_site" / "settings.py", REPO_ROOT / "gunicorn.conf.py"]
    sources += sorted(REPO_ROOT.glob("*/management/commands/*.py"))
    names = {name for path in sources for name in ENV_READ_PATTERN.findall(path.read_text())}
    # The training engine is Django-free and names the variables it reads in *_ENV constants.
    for path in sorted(REPO_ROOT.glob("engine/**/*.py")):
        names |= set(re.findall(r'_ENV = "([A-Z][A-Z0-9_]*)"', path.read_text()))
    return names


def test_compose_defines_the_six_services():
    # given
    expected = {"postgres", "redis", "web", "worker", "worker-monitoring", "beat"}

    # when
    services = set(compose()["services"])

    # then
    assert expected <= services


def test_app_services_run_one_image():
    # given
    services = compose()["services"]

    # when
    images = {
        name: (json.dumps(services[name].get("build"), sort_keys=True), services[name].get("image"))
        for name in APP_SERVICES
    }

    # then
    assert images["web"] != ("null", None), "web neither builds nor names an image"
    assert images["worker"] == images["web"]
    assert images["beat"] == images["web"]


def test_every_service_has_a_healthcheck():
    # given
    services = compose()["services"]

    # when
    unchecked = [name for name, service in services.items() if not has_healthcheck(service)]

    # then
    assert unchecked == []


def test_python_healthchecks_compile_and_their_imports_resolve():
    # given
    snippets = [
        test[test.index("-c") + 1]
        for service in compose()["services"].values()
        if isinstance(test := service.get("healthcheck", {}).get("test"), list)
        and "python" in test
        and "-c" in test
    ]
    assert snippets, "no healthcheck runs python -c"

    # when
    missing = []
    for snippet in snippets:
        for node in ast.walk(ast.parse(snippet)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    importlib.import_module(alias.name)
            elif isinstance(node, ast.ImportFrom):
                module = importlib.import_module(node.module)
                missing += [
                    f"{node.module}.{alias.name}"
                    for alias in node.names
                    if not hasattr(module, alias.name)
                ]

    # then
    assert missing == []


def test_named_volumes_are_declared():
    # given
    config = compose()
    declared = set(config.get("volumes") or {})

    # when
    used = set()
    for service in config["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~", "$")):
                used.add(source)

    # then
    assert used, "no service uses a named volume"
    assert used <= declared


def test_app_services_share_the_data_volume_at_the_data_dir():
    # given
    services = compose()["services"]

    # when
    mounts = {
        name: {
            volume
            for volume in services[name].get("volumes", [])
            if isinstance(volume, str)
            and volume.split(":")[1:2] == [services[name]["environment"]["MODELYARD_DATA_DIR"]]
        }
        for name in APP_SERVICES
    }

    # then
    assert mounts["web"], "web mounts nothing at MODELYARD_DATA_DIR"
    assert mounts["worker"] == mounts["web"]
    assert mounts["beat"] == mounts["web"]


def test_every_manage_py_command_exists():
    # given
    dockerfile_runs = [args for keyword, args in dockerfile_instructions() if keyword == "RUN"]
    lines = all_command_lines() + dockerfile_runs

    # when
    named = {name for line in lines for name in re.findall(r"manage\.py\s+([\w-]+)", line)}

    # then
    assert {"migrate", "load_builtin_datasets"} <= named
    assert named - set(get_commands()) == set()


def test_celery_app_modules_resolve_to_the_celery_app():
    # given
    modules = {module for line in all_command_lines() for module in re.findall(r"-A\s+(\S+)", line)}
    assert modules, "no celery -A option in any command"

    # when
    apps = {module: find_app(module) for module in modules}

    # then
    assert isinstance(celery_app, Celery)
    assert all(isinstance(app, Celery) for app in apps.values()), apps


def test_gunicorn_targets_import():
    # given
    cmd = [json.loads(args) for keyword, args in dockerfile_instructions() if keyword == "CMD"]
    lines = all_command_lines() + [" ".join(args) for args in cmd]
    targets = {
        token
        for line in lines
        if "gunicorn" in line
        for token in line.split("gunicorn", 1)[1].split()
        if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", token)
    }
    assert targets, "no gunicorn module:attribute target found"

    # when
    resolved = {target: symbol_by_name(target) for target in targets}

    # then
    assert all(callable(application) for application in resolved.values()), resolved


def test_beat_scheduler_class_imports():
    # given
    lines = all_command_lines()
    paths = {path for line in lines for path in re.findall(r"--scheduler[=\s]+(\S+)", line)}
    assert paths, "no --scheduler option in any command"

    # when
    classes = [symbol_by_name(path) for path in paths]

    # then
    assert all(issubclass(cls, Scheduler) for cls in classes)


def test_app_services_set_only_environment_variables_the_project_reads():
    # given
    known = env_vars_read_by_project() | TOOLING_ENV_VARS
    services = compose()["services"]

    # when
    unknown = {
        name: sorted(set(services[name].get("environment") or {}) - known) for name in APP_SERVICES
    }

    # then
    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"} <= known
    assert unknown == {name: [] for name in APP_SERVICES}


def test_dockerfile_installs_cpu_torch_before_the_requirements():
    # given
    pin = re.search(r"^torch==(\S+)", (REPO_ROOT / "requirements.txt").read_text(), re.M)
    runs = [args for keyword, args in dockerfile_instructions() if keyword == "RUN"]

    # when
    torch_step = next(
        i for i, args in enumerate(runs) if "pip install" in args and "torch==" in args
    )
    requirements_step = next(
        i for i, args in enumerate(runs) if re.search(r"pip install .*-r requirements\.txt", args)
    )

    # then
    assert pin, "requirements.txt does not pin torch"
    assert torch_step < requirements_step
    assert f"--index-url {TORCH_CPU_INDEX}" in runs[torch_step]
    assert f"torch=={pin.group(1)}" in runs[torch_step].split()
    assert "-c constraints.txt" in runs[requirements_step]


def test_dockerfile_copies_only_files_that_exist_and_are_not_ignored():
    # given
    ignored = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copies = [
        args
        for keyword, args in dockerfile_instructions()
        if keyword in ("COPY", "ADD") and "--from=" not in args
    ]

    # when
    sources = []
    for args in copies:
        parts = json.loads(args) if args.startswith("[") else args.split()
        sources += [part for part in parts[:-1] if not part.startswith("--")]

    # then
    assert "requirements.txt" in sources
    for source in sources:
        assert (REPO_ROOT / source).exists() or any(REPO_ROOT.glob(source)), source
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
    assert {".git", ".venv", "var"} <= set(ignored)


def test_web_keeps_its_metric_files_on_a_tmpfs_of_its_own():
    # given the app services
    services = compose()["services"]

    # when
    web_env = services["web"]["environment"]
    directory = web_env.get("PROMETHEUS_MULTIPROC_DIR")

    # then web's workers share a tmpfs that no other container (or web replica) sees, and the
    # Celery processes, which serve no /metrics, do not write metric files at all
    assert directory, "web sets no PROMETHEUS_MULTIPROC_DIR"
    assert directory in (services["web"].get("tmpfs") or [])
    assert not directory.startswith(web_env["MODELYARD_DATA_DIR"])
    assert "PROMETHEUS_MULTIPROC_DIR" not in (services["worker"].get("environment") or {})
    assert "PROMETHEUS_MULTIPROC_DIR" not in (services["beat"].get("environment") or {})
