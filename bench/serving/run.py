"""Serving benchmark: the predict endpoint under gunicorn, against a hello-world ceiling.

Run from the repository root (about 100 s of load, after about 20 s of setup and, unless a
--reuse state has it, 1-1.5 minutes training the model):

    .venv/bin/python bench/serving/run.py
    .venv/bin/python bench/serving/run.py --workers 3 --worker-class gthread --threads 4
    .venv/bin/python bench/serving/run.py --reuse /tmp/modelyard-bench --json out.json
    .venv/bin/python bench/serving/run.py --targets ceiling   # gunicorn settings only, no DB

Setup: a fresh PostgreSQL database (`modelyard_bench`, dropped and created) and data
directory, `manage.py setup_platform`, then `manage.py train` of UCI Adult into the model
`adult-income` with a Celery worker started for it (the first version goes to production).
Then the platform and a bare WSGI app (hello.py, the ceiling) run under gunicorn with the same
settings, and each scenario (rows per request x concurrency) is sent to both by wrk if it is on
PATH, else by loadgen.py. It prints a table, optionally writes JSON, and checks that every row
served was written to the prediction log. Nothing passes or fails: see README.md for targets.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ADULT_PATH = REPO / "registry" / "data" / "adult.csv.gz"
ADULT_DATASET = "UCI Adult (census income)"
ADULT_DROP = {"split", "income"}
MISSING = {"", "?", "NA", "nan", "NaN"}
MARKER = "bench-serving.json"
CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --- Child processes -------------------------------------------------------------------------


class Children:
    """Every process the harness starts, each the leader of its own process group.

    A new session keeps the terminal's Ctrl-C away from the children, so shutdown is ours: the
    group (the process and whatever it forked, e.g. gunicorn's workers) gets SIGTERM, then
    SIGKILL if it is still there after a grace period.
    """

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.grace: dict[int, float] = {}

    def start(
        self, name: str, cmd: list[str], env: dict, *, stdout=None, grace: float = 15.0
    ) -> subprocess.Popen:
        """Start a child; `grace` is how long it gets between SIGTERM and SIGKILL."""
        log_path = self.log_dir / f"{name}.log"
        out = open(log_path, "ab")
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else out,
            stderr=out,
            start_new_session=True,
        )
        out.close()
        self.procs.append((name, proc))
        self.grace[proc.pid] = grace
        return proc

    def run(self, name: str, cmd: list[str], env: dict, *, stdout=None) -> int:
        """Start a child and wait for it; it is still stopped by stop_all() on Ctrl-C."""
        proc = self.start(name, cmd, env, stdout=stdout)
        try:
            return proc.wait()
        finally:
            self.stop(proc)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, proc: subprocess.Popen) -> None:
        grace = self.grace.get(proc.pid, 15.0)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            members = process_group(proc.pid)
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
            else:
                # The leader is gone; signal what it left behind by pid, since its group id
                # is only safe to use while the group still has members.
                for pid in members:
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                proc.poll()
                if proc.returncode is not None and not process_group(proc.pid):
                    self.procs = [(n, p) for n, p in self.procs if p is not proc]
                    return
                time.sleep(0.05)

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            self.stop(proc)


def _proc_stat(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields resume after the
    # last ')'. Index 0 of the rest is field 3 (state).
    return raw[raw.rindex(")") + 2 :].split()


def process_group(pgid: int) -> list[int]:
    """Live processes whose process group is pgid (Linux /proc)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            fields = _proc_stat(pid)
            if fields is not None and int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(pid))
    return found


def worker_memory(master: int) -> list[dict]:
    """Per gunicorn worker (the master's process group, less the master): resident memory in
    MB (VmRSS) and which heavy libraries its address space maps (torch's shared library is
    mapped once `import torch` has run, so this tells whether a worker imported it)."""
    found = []
    for pid in sorted(process_group(master)):
        if pid == master:
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        rss_kb = next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
        found.append({"pid": pid, "rss_mb": rss_kb / 1024, "torch": "libtorch" in maps})
    return found


def cpu_snapshot(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) each live process has used so far."""
    found = {}
    for pid in pids:
        fields = _proc_stat(str(pid))
        if fields is not None:
            found[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two snapshots.

    A process that started in between counts whole; one that exited in between is lost from
    its last snapshot on (an undercount, never a negative number). PostgreSQL backends come
    and go as Django reconnects, gunicorn workers when one is restarted.
    """
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def database_backends(dbname: str) -> list[int]:
    """PostgreSQL backends serving dbname, found by their process title (local server only)."""
    marker = f" {dbname} ".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read()
        except OSError:
            continue
        if title.startswith(b"postgres: ") and marker in title:
            found.append(int(pid))
    return found


def machine_busy_seconds() -> float:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Platform setup --------------------------------------------------------------------------


@dataclass
class Platform:
    env: dict
    data_dir: Path
    token: str = ""
    model: dict = field(default_factory=dict)


BLOCKED_ENV = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "REDIS_URL",
    "DJANGO_SETTINGS_MODULE",
    "GUNICORN_CMD_ARGS",
    # gunicorn.conf.py derives it from the data directory and empties it at start: an inherited
    # value could point at a running instance's metrics.
    "PROMETHEUS_MULTIPROC_DIR",
)


def child_env(*, database_url: str | None, data_dir: Path | None) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        # Never reach a real database or broker through the caller's environment, and run
        # gunicorn with exactly the settings printed in the header.
        if k not in BLOCKED_ENV
    }
    env.update(SECRET_KEY="bench", DEBUG="false", PYTHONUNBUFFERED="1")
    if database_url:
        env["DATABASE_URL"] = database_url
    if data_dir:
        env["MODELYARD_DATA_DIR"] = str(data_dir)
    return env


def pg_connect(server_url: str, dbname: str):
    import psycopg

    return psycopg.connect(f"{server_url}/{dbname}", autocommit=True, connect_timeout=5)


def pg_drop(server_url: str, dbname: str, *, create: bool = False) -> None:
    from psycopg import sql

    name = sql.Identifier(dbname)
    with pg_connect(server_url, "postgres") as conn:
        # FORCE: a backend left over from an interrupted run must not block the drop.
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def pg_has_token(server_url: str, dbname: str, token: str) -> bool:
    import psycopg

    try:
        with pg_connect(server_url, dbname) as conn:
            row = conn.execute("SELECT 1 FROM authtoken_token WHERE key = %s", [token]).fetchone()
    except psycopg.Error:
        return False
    return row is not None


def prediction_log_count(server_url: str, dbname: str, table: str) -> int | None:
    """Rows in the prediction log, or None while that table does not exist."""
    from psycopg import sql

    with pg_connect(server_url, dbname) as conn:
        if conn.execute("SELECT to_regclass(%s)", [table]).fetchone()[0] is None:
            return None
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        return conn.execute(query).fetchone()[0]


def manage(children: Children, env: dict, *args: str, capture: bool = False) -> str:
    """Run manage.py; its output goes to stderr (progress) or is returned when captured."""
    name = f"manage-{args[0]}"
    cmd = [sys.executable, "manage.py", *args]
    if capture:
        out_path = children.log_dir / f"{name}.out"
        with open(out_path, "wb") as out:
            code = children.run(name, cmd, env, stdout=out)
        output = out_path.read_text()
    else:
        code = children.run(name, cmd, env, stdout=sys.stderr)
        output = ""
    if code != 0:
        raise BenchError(
            f"manage.py {' '.join(args)} exited {code}:\n{output}{children.log_tail(name)}"
        )
    return output


def platform_setup(children: Children, args, data_dir: Path, database_url: str) -> Platform:
    env = child_env(database_url=database_url, data_dir=data_dir)
    env.setdefault("MODELYARD_ADMIN_PASSWORD", "bench-" + os.urandom(8).hex())
    marker = data_dir / MARKER
    cached = json.loads(marker.read_text()) if marker.exists() else None
    reusable = (
        cached is not None
        and cached.get("database") == args.database
        and cached.get("model") == args.model
        and pg_has_token(args.pg, args.database, cached.get("token", ""))
    )
    if not reusable:
        if cached is not None:
            # The marker proves the directory is ours; its database was dropped (a run without
            # --reuse drops it at the end) or belongs to another model, so start over.
            log(f"The state in {data_dir} is stale; rebuilding it.")
            for path in data_dir.iterdir():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        elif any(data_dir.iterdir()):
            raise BenchError(
                f"{data_dir} holds files but no {MARKER}: not a benchmark state this script "
                "made. Give an empty or new directory."
            )
        log(f"Creating database {args.database} and data directory {data_dir} ...")
        pg_drop(args.pg, args.database, create=True)
        # Claimed before the long steps: if they are interrupted, the empty token marks the
        # state as stale and the next run rebuilds it instead of refusing the directory.
        marker.write_text(json.dumps({"database": args.database, "model": args.model, "token": ""}))
    # Always, as `make setup` does: migrations added since a reused state was made must be
    # applied, and with DEBUG off every page (a 404 too) needs the collected static manifest.
    log("manage.py setup_platform, collectstatic ...")
    manage(children, env, "setup_platform")
    manage(children, env, "collectstatic", "--noinput", "--verbosity", "0")
    platform_ = Platform(env=env, data_dir=data_dir)
    if reusable:
        log(f"Reusing the trained model {args.model!r} from {data_dir}.")
        platform_.token = cached["token"]
        return platform_

    log(f"Training {args.model!r} on UCI Adult ({args.trials} trials) with a Celery worker ...")
    worker = children.start(
        "celery-worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "mlops_site",
            "worker",
            "--queues",
            "default,training",
            "--concurrency",
            "1",
            "--loglevel",
            "WARNING",
        ],
        env,
        # A warm shutdown waits for the running trial; an interrupted setup is rebuilt anyway.
        grace=3.0,
    )
    train = [
        "train",
        ADULT_DATASET,
        "--model",
        args.model,
        "--trials",
        str(args.trials),
        "--seed",
        "0",
        "--wait",
    ]
    if args.families:
        train += ["--families", args.families]
    try:
        manage(children, env, *train)
    except BenchError as exc:
        raise BenchError(f"{exc}\ncelery worker log:\n{children.log_tail('celery-worker')}")
    finally:
        children.stop(worker)
    platform_.token = manage(
        children,
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "from rest_framework.authtoken.models import Token; "
        "user = get_user_model().objects.filter(is_superuser=True).order_by('pk').first(); "
        "print(Token.objects.get_or_create(user=user)[0].key)",
        capture=True,
    ).split()[-1]
    marker.write_text(
        json.dumps({"database": args.database, "model": args.model, "token": platform_.token})
    )
    return platform_


# --- Servers ---------------------------------------------------------------------------------


def gunicorn_command(app: str, port: int, args, *extra: str) -> list[str]:
    # Started from the repository root so a gunicorn.conf.py there applies to both servers;
    # the settings under test are passed explicitly and win over it.
    return [
        sys.executable,
        "-m",
        "gunicorn",
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--threads",
        str(args.threads),
        # gunicorn's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl):
        # two servers here, or any other gunicorn on the machine, would take it from each other.
        "--no-control-socket",
        *extra,
    ]


def wait_ready(
    children: Children, name: str, proc: subprocess.Popen, url: str, workers: int
) -> None:
    """Wait for an answer from url, then for every worker to finish booting.

    The first worker up answers while the others may still import the serving stack (about
    10 s of CPU each); measured, that would count as server CPU and take cores from the first
    scenario. So also wait until the master has all its workers and the group's CPU use
    drops below a tenth of a core.
    """
    deadline = time.monotonic() + 120
    answered = False
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited {proc.returncode}:\n{children.log_tail(name)}")
        if not answered:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    answered = response.status == 200
            except (urllib.error.URLError, OSError):
                pass
        if answered:
            group = process_group(proc.pid)
            used = sum(cpu_snapshot(group).values())
            if last is not None and len(group) > workers and used - last < 0.05:
                return
            last = used
            time.sleep(0.5)
        else:
            time.sleep(0.2)
    raise BenchError(f"{name} was not ready within 120 s:\n{children.log_tail(name)}")


def http_json(url: str, token: str, body: bytes | None = None) -> tuple[int, object]:
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")[:500]


# --- Request bodies --------------------------------------------------------------------------


def load_adult_rows(seed: int = 0) -> list[dict]:
    """Feature rows of the bundled Adult file, shuffled; missing cells become None (null)."""
    with gzip.open(ADULT_PATH, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        keep = [i for i, name in enumerate(header) if name not in ADULT_DROP]
        raw = [[row[i].strip() for i in keep] for row in reader]
    names = [header[i] for i in keep]
    columns = []
    for j in range(len(names)):
        values = [row[j] for row in raw if row[j] not in MISSING]
        columns.append(_numeric_parser(values))
    rows = [
        {
            name: (None if cell in MISSING else parse(cell))
            for name, cell, parse in zip(names, row, columns, strict=True)
        }
        for row in raw
    ]
    random.Random(seed).shuffle(rows)
    return rows


def _numeric_parser(values: list[str]):
    """int or float when every present value of a column parses as one, else str."""
    for kind in (int, float):
        try:
            for value in values:
                kind(value)
        except ValueError:
            continue
        return kind
    return str


def write_bodies(
    rows: list[dict], per_request: int, path: Path, limit: int = 5000, *, unit_ids: bool = False
) -> int:
    """Request bodies, one a line; with `unit_ids` each names a unit (`unit_id`), as clients
    in an A/B test do: 5,000 distinct units, so both arms serve."""
    count = min(limit, len(rows) // per_request)
    with open(path, "w") as f:
        for k in range(count):
            body = {"instances": rows[k * per_request : (k + 1) * per_request]}
            if unit_ids:
                body["unit_id"] = f"bench-unit-{k}"
            f.write(json.dumps(body, separators=(",", ":")) + "\n")
    return count


AB_SETUP = """
from abtests.models import ABTest
from abtests.services import abtest_create
from core.csvfiles import read_frame
from engine.search import SearchConfig, run_search
from registry.models import ModelVersion
from registry.services import model_version_register

MODEL, MODE = {model!r}, {mode!r}
ABTest.objects.filter(registered_model__name=MODEL, status="running").update(status="stopped")
if MODE == "none":
    print("no A/B test")
    raise SystemExit(0)
champion = ModelVersion.objects.get(registered_model__name=MODEL, stage="production")
challenger = (
    ModelVersion.objects.filter(registered_model__name=MODEL, stage="candidate")
    .filter(family=champion.family).order_by("-version").first()
)
if challenger is None:
    dataset = champion.dataset
    frame = read_frame(dataset.absolute_path, dataset.delimiter)
    result = run_search(
        frame,
        SearchConfig(target=dataset.target, families=[champion.family], n_trials=1, seed=1),
        columns=dataset.columns,
    )
    challenger = model_version_register(model_name=MODEL, dataset=dataset, result=result)
test = abtest_create(challenger=challenger, mode=MODE, min_labelled_per_arm=10**9)
print("A/B test", test.pk, MODE, "v%d against v%d" % (challenger.version, champion.version))
"""


def ab_setup(children: Children, env: dict, args) -> str:
    """A running A/B test of the model (split or shadow): a challenger of the production
    version's family (one trial, trained here the first time) against production, set never
    to decide, so every measured request goes through the arm assignment. With "none", a
    test a reused state left running is stopped."""
    log(f"A/B test of {args.model}: {args.ab_test} ...")
    code = AB_SETUP.format(model=args.model, mode=args.ab_test)
    return manage(children, env, "shell", "-c", code, capture=True).strip().splitlines()[-1]


# --- Load ------------------------------------------------------------------------------------


@dataclass
class Load:
    ok: int
    errors: int
    elapsed_s: float
    p50_ms: float | None
    p99_ms: float | None
    in_flight_at_stop: int
    client_cpu_s: float
    detail: dict


def run_load(
    children: Children,
    args,
    *,
    url: str,
    token: str,
    bodies: Path,
    concurrency: int,
    duration: float,
) -> Load:
    auth = f"Token {token}" if token else ""
    if args.client == "wrk":
        cmd = [
            "wrk",
            "-t",
            str(min(args.client_threads, concurrency)),
            "-c",
            str(concurrency),
            "-d",
            f"{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(HERE / "wrk_post.lua"),
            url,
            "--",
            str(bodies),
            auth,
        ]
    else:
        cmd = [
            sys.executable,
            str(HERE / "loadgen.py"),
            "--url",
            url,
            "--bodies",
            str(bodies),
            "--concurrency",
            str(concurrency),
            "--duration",
            str(duration),
        ]
        if auth:
            cmd += ["--header", f"Authorization: {auth}"]
    out_path = children.log_dir / "client.out"
    # Children reaped while it runs are only this client, so the rusage delta is its CPU.
    before = os.times()
    with open(out_path, "wb") as out:
        code = children.run("client", cmd, child_env(database_url=None, data_dir=None), stdout=out)
    after = os.times()
    output = out_path.read_text()
    if code != 0:
        raise BenchError(f"load generator exited {code}:\n{output}\n{children.log_tail('client')}")
    line = next((ln for ln in output.splitlines() if ln.startswith(("WRK_JSON ", "{"))), None)
    if line is None:
        raise BenchError(f"no result from the load generator:\n{output}")
    result = json.loads(line.removeprefix("WRK_JSON "))
    errors = result["errors"]
    if result["client"] == "wrk":
        # wrk's request count includes status errors; socket errors never completed.
        ok = result["requests"] - errors["status"]
        # wrk stops without waiting for requests in flight; the server may still finish them.
        in_flight = concurrency
    else:
        ok = result["ok"]
        in_flight = result["in_flight_at_stop"]
    latency = result["latency_ms"]
    return Load(
        ok=ok,
        errors=sum(errors.values()),
        elapsed_s=result["elapsed_s"],
        p50_ms=latency["p50"],
        p99_ms=latency["p99"],
        in_flight_at_stop=in_flight,
        client_cpu_s=(after.children_user + after.children_system)
        - (before.children_user + before.children_system),
        detail=result,
    )


@dataclass
class Target:
    name: str
    url: str
    token: str
    server: subprocess.Popen


def run_scenario(
    children: Children,
    args,
    target: Target,
    *,
    rows: int,
    concurrency: int,
    bodies: Path,
    dbname: str | None,
) -> tuple[dict, int, int]:
    """Warm up, then measure; returns the result row, rows served OK and rows maybe in flight."""
    common = dict(url=target.url, token=target.token, bodies=bodies, concurrency=concurrency)
    warm = run_load(children, args, duration=args.warmup, **common) if args.warmup > 0 else None

    def snapshot() -> tuple[dict, dict, float]:
        server = cpu_snapshot(process_group(target.server.pid))
        db = cpu_snapshot(database_backends(dbname)) if dbname else {}
        return server, db, machine_busy_seconds()

    server_before, db_before, busy = snapshot()
    wall = time.perf_counter()
    load = run_load(children, args, duration=args.duration, **common)
    # CPU shares are over the client process's whole life, its start and exit included.
    wall = time.perf_counter() - wall
    server_after, db_after, busy_after = snapshot()
    server_cpu = cpu_used(server_before, server_after)
    db_cpu = cpu_used(db_before, db_after) if db_before or db_after else None
    busy = busy_after - busy
    seconds = load.elapsed_s
    rps = load.ok / seconds if seconds else 0.0
    result = {
        "target": target.name,
        "rows_per_request": rows,
        "concurrency": concurrency,
        "requests_per_s": round(rps, 1),
        "rows_per_s": round(rps * rows, 1),
        "p50_ms": load.p50_ms,
        "p99_ms": load.p99_ms,
        "ok": load.ok,
        "errors": load.errors,
        "elapsed_s": seconds,
        # CPU in cores: CPU seconds over the wall seconds of the measured run.
        "server_cpu": round(server_cpu / wall, 2),
        "db_cpu": round(db_cpu / wall, 2) if db_cpu is not None else None,
        "client_cpu": round(load.client_cpu_s / wall, 2),
        "client_cpu_s": round(load.client_cpu_s, 2),
        "other_cpu": round(
            max(0.0, busy - server_cpu - (db_cpu or 0) - load.client_cpu_s) / wall, 2
        ),
        "client": load.detail,
    }
    served = load.ok + (warm.ok if warm else 0)
    in_flight = load.in_flight_at_stop + (warm.in_flight_at_stop if warm else 0)
    return result, served * rows, in_flight * rows


# --- Report ----------------------------------------------------------------------------------


def fmt(value, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(results: list[dict]) -> None:
    ceiling = {
        (r["rows_per_request"], r["concurrency"]): r["requests_per_s"]
        for r in results
        if r["target"] == "ceiling"
    }
    headers = [
        "scenario",
        "concurrency",
        "requests/s",
        "rows/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "vs ceiling",
        "server CPU",
        "DB CPU",
        "client CPU",
        "other CPU",
    ]
    body = []
    for r in results:
        base = ceiling.get((r["rows_per_request"], r["concurrency"]))
        ratio = r["requests_per_s"] / base if r["target"] != "ceiling" and base else None
        r["vs_ceiling"] = round(ratio, 3) if ratio is not None else None
        rows = r["rows_per_request"]
        body.append(
            [
                f"{r['target']}, {rows} row{'s' if rows != 1 else ''}",
                str(r["concurrency"]),
                fmt(r["requests_per_s"]),
                fmt(r["rows_per_s"]),
                fmt(r["p50_ms"], ".2f"),
                fmt(r["p99_ms"], ".2f"),
                fmt(r["errors"]),
                fmt(ratio, ".2f"),
                fmt(r["server_cpu"], ".2f"),
                fmt(r["db_cpu"], ".2f"),
                fmt(r["client_cpu"], ".2f"),
                fmt(r["other_cpu"], ".2f"),
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    print(line(headers))
    print(
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if i else (":" + "-" * (w + 1)) for i, w in enumerate(widths)
        )
        + "|"
    )
    for row in body:
        print(line(row))


def machine_line() -> str:
    versions = ", ".join(
        f"{p} {_version(p)}" for p in ("gunicorn", "Django", "djangorestframework")
    )
    return (
        f"# machine: {os.cpu_count()} CPUs ({platform.machine()}), "
        f"Python {platform.python_version()}, {versions}"
    )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


# --- Main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    int_list = lambda v: [int(x) for x in v.split(",") if x.strip()]  # noqa: E731
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (1)")
    # Whole seconds: wrk takes no fractions.
    parser.add_argument("--duration", type=int, default=10, help="measured seconds a scenario")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured seconds before each")
    parser.add_argument("--rows", type=int_list, default=[1, 100], help="rows per request: 1,100")
    parser.add_argument("--concurrency", type=int_list, default=[1, 8], help="connections: 1,8")
    parser.add_argument(
        "--targets",
        default="platform,ceiling",
        help="platform,ceiling (default both); ceiling alone needs no database",
    )
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--client-threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--reuse",
        type=Path,
        metavar="DIR",
        help="keep the data directory (and database) in DIR and reuse its trained model",
    )
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server URL")
    parser.add_argument("--database", default="modelyard_bench")
    parser.add_argument("--model", default="adult-income")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--families", default="", help="families to train (default all)")
    parser.add_argument("--log-table", default="inference_predictionlog")
    parser.add_argument(
        "--ab-test",
        choices=["none", "split", "shadow"],
        default="none",
        help="run the platform with a running A/B test of the model (implies --unit-ids)",
    )
    parser.add_argument(
        "--unit-ids", action="store_true", help="every request names a unit (unit_id)"
    )
    args = parser.parse_args(argv)
    args.unit_ids = args.unit_ids or args.ab_test != "none"
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not args.targets or set(args.targets) - {"platform", "ceiling"}:
        parser.error("--targets takes platform and/or ceiling")
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "python"
    elif args.client == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not on PATH")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM takes the same way out as Ctrl-C, through the finally that stops the children.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    scratch = Path(tempfile.mkdtemp(prefix="modelyard-bench-serving-"))
    children = Children(scratch)
    data_dir: Path | None = None
    database_url = f"{args.pg}/{args.database}"
    want_platform = "platform" in args.targets
    try:
        targets: list[Target] = []
        platform_ = None
        if want_platform:
            if args.reuse:
                data_dir = args.reuse.resolve()
                data_dir.mkdir(parents=True, exist_ok=True)
            else:
                data_dir = scratch / "data"
                data_dir.mkdir()
            platform_ = platform_setup(children, args, data_dir, database_url)
            ab_line = ab_setup(children, platform_.env, args)
            port = free_port()
            server = children.start(
                "gunicorn-platform",
                gunicorn_command("mlops_site.wsgi:application", port, args),
                platform_.env,
            )
            base = f"http://127.0.0.1:{port}"
            booting = time.monotonic()
            wait_ready(children, "gunicorn-platform", server, f"{base}/healthz", args.workers)
            boot_seconds = time.monotonic() - booting
            status, found = http_json(
                f"{base}/api/v1/versions/?model={args.model}&stage=production", platform_.token
            )
            versions = found.get("results") if isinstance(found, dict) else None
            if status != 200 or not versions:
                raise BenchError(f"No production version of {args.model!r} ({status}): {found}")
            platform_.model = versions[0]
            targets.append(
                Target(
                    "platform",
                    f"{base}/api/v1/models/{args.model}/predict",
                    platform_.token,
                    server,
                )
            )
        if "ceiling" in args.targets:
            port = free_port()
            # The repository's gunicorn.conf.py applies to the ceiling too, and its hooks load
            # Django when a worker boots (hello.py itself never touches it). Its own data
            # directory, since the config's on_starting empties the metrics folder in there.
            env = child_env(database_url=None, data_dir=scratch / "ceiling-data")
            env["DJANGO_SETTINGS_MODULE"] = "mlops_site.settings"
            server = children.start(
                "gunicorn-ceiling",
                gunicorn_command("hello:application", port, args, "--pythonpath", str(HERE)),
                env,
            )
            wait_ready(
                children, "gunicorn-ceiling", server, f"http://127.0.0.1:{port}/", args.workers
            )
            targets.append(Target("ceiling", f"http://127.0.0.1:{port}/", "", server))

        log("Building request bodies from UCI Adult ...")
        rows = load_adult_rows()
        bodies = {}
        for n in args.rows:
            bodies[n] = scratch / f"bodies-{n}.jsonl"
            write_bodies(rows, n, bodies[n], unit_ids=args.unit_ids)

        log_before = None
        expected_rows = 0
        in_flight_rows = 0
        platform_target = next((t for t in targets if t.name == "platform"), None)
        if platform_target is not None:
            log_before = prediction_log_count(args.pg, args.database, args.log_table)
            with bodies[min(args.rows)].open("rb") as f:
                sample = f.readline()
            status, answer = http_json(platform_target.url, platform_target.token, sample)
            if status == 404:
                log("The predict endpoint answered 404 (not there yet): only the ceiling runs.")
                targets.remove(platform_target)
                platform_target = None
            elif (
                status != 200
                or not isinstance(answer, dict)
                or len(answer.get("predictions", [])) != min(args.rows)
            ):
                raise BenchError(
                    f"POST {platform_target.url} answered {status}: {answer}\n"
                    f"server log:\n{children.log_tail('gunicorn-platform')}"
                )
            else:
                expected_rows += min(args.rows)

        client = "wrk" if args.client == "wrk" else "built-in Python client (loadgen.py)"
        log(
            f"Load: {client}, {args.warmup:g} s warm-up + {args.duration:g} s per scenario, "
            f"{len(targets) * len(args.rows) * len(args.concurrency)} scenarios."
        )
        results = []
        for n in args.rows:
            for c in args.concurrency:
                for target in targets:
                    log(f"  {target.name}: {n} row(s) per request, concurrency {c} ...")
                    result, served, in_flight = run_scenario(
                        children,
                        args,
                        target,
                        rows=n,
                        concurrency=c,
                        bodies=bodies[n],
                        dbname=args.database if target.name == "platform" else None,
                    )
                    results.append(result)
                    if target.name == "platform":
                        expected_rows += served
                        in_flight_rows += in_flight

        log_check = None
        memory = None
        if platform_target is not None:
            memory = worker_memory(platform_target.server.pid)
            log_check = check_prediction_log(args, log_before, expected_rows, in_flight_rows)

        print(machine_line())
        print(f"# rerun: {' '.join(shlex.quote(a) for a in [sys.executable, *sys.argv])}")
        print(
            f"# gunicorn: --workers {args.workers} --worker-class {args.worker_class} "
            f"--threads {args.threads}; client: {client}"
        )
        if platform_ is not None and platform_target is not None:
            m = platform_.model
            print(f"# model: {args.model} v{m['version']} ({m['family']}), stage {m['stage']}")
            if args.ab_test != "none":
                print(f"# {ab_line}; bodies name 5,000 distinct units")
            elif args.unit_ids:
                print("# bodies name 5,000 distinct units (unit_id); no A/B test")
        print()
        if results:
            print_table(results)
        else:
            print("No scenario ran.")
        if log_check is not None:
            print()
            print(f"# prediction log: {log_check['message']}")
        if memory:
            rss = ", ".join(f"{m['rss_mb']:.0f}" for m in memory)
            torch_in = sum(m["torch"] for m in memory)
            print(
                f"# platform workers after the run: RSS {rss} MB; torch imported in "
                f"{torch_in} of {len(memory)}; all workers booted in {boot_seconds:.1f} s"
            )
        busiest = max((r["other_cpu"] for r in results), default=0.0)
        if busiest > 0.25:
            # On two cores another process's load comes straight out of the server's share.
            print(
                f"# note: other processes used up to {busiest:.2f} cores during a measured "
                "window; rerun on a quiet machine for comparable numbers"
            )
        print(f"# total wall time {time.monotonic() - STARTED:.0f} s")

        if args.json:
            report = {
                "machine": machine_line().removeprefix("# machine: "),
                "command": sys.argv,
                "gunicorn": {
                    "workers": args.workers,
                    "worker_class": args.worker_class,
                    "threads": args.threads,
                },
                "client": args.client,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "model": platform_.model if platform_ and platform_target else None,
                "scenarios": results,
                "prediction_log": log_check,
                "workers": memory,
            }
            args.json.write_text(json.dumps(report, indent=2) + "\n")
            log(f"Wrote {args.json}")
        return 0
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("Interrupted; stopping everything started.")
        return 130
    finally:
        children.stop_all()
        if want_platform and not args.reuse:
            try:
                pg_drop(args.pg, args.database)
            except Exception as exc:  # cleanup must not hide the run's own outcome
                log(f"could not drop database {args.database}: {exc}")
        shutil.rmtree(scratch, ignore_errors=True)


def check_prediction_log(args, before: int | None, expected: int, in_flight: int) -> dict:
    """Compare the log's new rows with the rows the client got a 2xx for.

    Logging may be asynchronous, so wait up to 15 s for the count to reach what was served.
    Requests still in flight when a client stopped (wrk does not wait for them) may have been
    served and logged without being counted, so up to `in_flight` more rows are expected.
    """
    if before is None:
        return {"message": f"table {args.log_table} does not exist; not checked", "ok": None}
    deadline = time.monotonic() + 15
    while True:
        logged = prediction_log_count(args.pg, args.database, args.log_table) - before
        if logged >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    ok = expected <= logged <= expected + in_flight
    message = (
        f"{logged:,} rows logged, {expected:,} rows served with 2xx"
        + (f" (+ up to {in_flight:,} in flight when a client stopped)" if in_flight else "")
        + (": every served row logged" if ok else f": MISMATCH ({logged - expected:+,})")
    )
    return {
        "logged": logged,
        "served": expected,
        "in_flight": in_flight,
        "ok": ok,
        "message": message,
    }


if __name__ == "__main__":
    sys.exit(main())
