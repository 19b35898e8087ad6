"""Dataset ingest benchmark: how fast a CSV goes through `registry.services.dataset_ingest`.

Run from the repository root:

    .venv/bin/python bench/bench_dataset_ingest.py [--sizes 10000,100000,500000] [--repeat 3]

It sets Django up on a fresh SQLite database in a temporary data directory (deleted at exit),
so it never touches ./var or a database named by DATABASE_URL. For each size it writes one
synthetic CSV (registry.synthetic, 12 numeric features + 2 categorical + label), then times,
best of --repeat:

  spool      csvfiles.spool: copy to the upload temp dir while hashing (sha256)
  parse      csvfiles.parse_csv: UTF-8/NUL scan, header + row-width pass, pandas read + strip
  target     csvfiles.target_classes on the label column
  profile    csvfiles.profile_frame: kind, flags and statistics of every column
  e2e        services.dataset_ingest end to end (all of the above + DB row + moving the file)

and the peak RSS growth of a fresh child process doing one end-to-end ingest (VmHWM after the
ingest minus VmHWM once Django and pandas are imported). The bundled UCI Adult file is measured
the same way through registry.builtin.adult_load (whose end-to-end time also includes
decompressing the .gz and dropping its `split` column).

The default sizes stop at 500,000 rows so a run takes ~2.5 minutes on 2 cores; with 1,000,000
(the generator's maximum) a run takes ~4.5 minutes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()
DEFAULT_SIZES = "10000,100000,500000"
CHILD_MARKER = "BENCH_CHILD "
MB = 1024 * 1024


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def setup_django(data_dir: Path, *, migrate: bool) -> None:
    os.environ["MODELYARD_DATA_DIR"] = str(data_dir)
    os.environ["SECRET_KEY"] = "bench-throwaway-secret-key-not-for-production"
    os.environ["DJANGO_SETTINGS_MODULE"] = "mlops_site.settings"
    # Never benchmark (and delete datasets) against a real database: force the SQLite file in
    # the temporary data directory.
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def max_rss_bytes() -> int:
    """This process's peak RSS so far.

    On Linux this is VmHWM from /proc/self/status, not getrusage's ru_maxrss: ru_maxrss of a
    child starts at its parent's RSS at fork (the kernel carries the high-water mark across
    fork + exec), so a child of this big benchmark process would report the parent's size.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # bytes on macOS, KiB elsewhere


# --- child: one end-to-end ingest in a fresh process, reporting its own peak RSS -------------


def child_main(what: str) -> None:
    setup_django(Path(os.environ["MODELYARD_DATA_DIR"]), migrate=False)
    from registry import builtin, services  # imports pandas/numpy before the baseline
    from registry.models import Dataset

    gc.collect()
    baseline = max_rss_bytes()
    if what == "adult":
        dataset, created = builtin.adult_load()
    else:
        with open(what, "rb") as source:
            dataset, created = services.dataset_ingest(
                source=source,
                filename=Path(what).name,
                target="label",
                origin=Dataset.Origin.SYNTHETIC,
            )
    peak = max_rss_bytes()
    report = {"created": created, "rows": dataset.row_count, "baseline": baseline, "peak": peak}
    print(CHILD_MARKER + json.dumps(report), flush=True)


def child_rss(what: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--child", what],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        cwd=REPO,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child ingest failed ({proc.returncode}):\n{proc.stderr}")
    for line in proc.stdout.splitlines():
        if line.startswith(CHILD_MARKER):
            report = json.loads(line[len(CHILD_MARKER) :])
            if not report["created"]:
                raise RuntimeError("child ingest hit the sha256 dedupe: nothing was measured")
            return report
    raise RuntimeError(f"child printed no report:\n{proc.stdout}\n{proc.stderr}")


# --- parent: phase timings ---------------------------------------------------------------------


def best_of(repeat: int, fn: Callable[[], object], *, before: Callable[[], None] | None = None):
    """Run fn `repeat` times; return (best seconds, last result). `before` runs untimed."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        if before is not None:
            before()
        result = None
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench_phases(csv_path: Path, target: str, repeat: int) -> dict:
    from django.conf import settings

    from core import csvfiles

    def spool():
        with open(csv_path, "rb") as source:
            spooled = csvfiles.spool(
                source, directory=settings.UPLOAD_TMP_DIR, limit=settings.DATASET_MAX_UPLOAD_BYTES
            )
        spooled.path.unlink()
        return spooled

    def sniff():
        with open(csv_path, encoding="utf-8-sig", newline="") as handle:
            return csvfiles._sniff_delimiter(handle.read(csvfiles.SNIFF_BYTES))

    out = {}
    out["spool"], _ = best_of(repeat, spool)
    delimiter = sniff()
    # Breakdown of parse_csv (private helpers, timed on their own for the second table).
    out["utf8"], _ = best_of(repeat, lambda: csvfiles._check_utf8_and_binary(csv_path))
    out["rowcheck"], _ = best_of(
        repeat,
        lambda: csvfiles._check_header_and_rows(csv_path, delimiter, settings.DATASET_MIN_ROWS),
    )
    out["parse"], parsed = best_of(
        repeat, lambda: csvfiles.parse_csv(csv_path, min_rows=settings.DATASET_MIN_ROWS)
    )
    frame = parsed.frame
    out["target"], _ = best_of(
        repeat,
        lambda: csvfiles.target_classes(frame, target, max_classes=settings.DATASET_MAX_CLASSES),
    )
    out["profile"], _ = best_of(repeat, lambda: csvfiles.profile_frame(frame))
    out["rows"] = len(frame)
    return out


def clear_datasets() -> None:
    from registry.models import Dataset

    Dataset.objects.all().delete()


def bench_e2e(ingest: Callable[[], tuple], repeat: int):
    def run():
        dataset, created = ingest()
        if not created:
            raise RuntimeError("dataset_ingest returned an existing dataset: nothing was measured")
        return dataset

    return best_of(repeat, run, before=clear_datasets)


def bench_synthetic(rows: int, repeat: int, work: Path) -> dict:
    from registry import services, synthetic
    from registry.models import Dataset

    start = time.perf_counter()
    frame = synthetic.generate(synthetic.SyntheticParams(rows=rows, features=12, seed=1))
    csv_path = work / f"synthetic-{rows}.csv"
    frame.to_csv(csv_path, index=False)
    del frame
    log(f"  generated {csv_path.name} in {time.perf_counter() - start:.1f} s")

    result = bench_phases(csv_path, "label", repeat)
    log(f"  phases done: {fmt_phases(result)}")

    def ingest():
        with open(csv_path, "rb") as source:
            return services.dataset_ingest(
                source=source,
                filename=csv_path.name,
                target="label",
                origin=Dataset.Origin.SYNTHETIC,
            )

    result["e2e"], dataset = bench_e2e(ingest, repeat)
    result["size"] = dataset.size_bytes
    if dataset.row_count != rows:
        raise RuntimeError(f"ingested {dataset.row_count} rows, generated {rows}")
    log(f"  end to end: {result['e2e']:.2f} s")
    clear_datasets()
    result["rss"] = child_rss(str(csv_path))
    clear_datasets()
    csv_path.unlink()
    return result


def bench_adult(repeat: int, work: Path) -> dict:
    from django.conf import settings

    from registry import builtin

    e2e, dataset = bench_e2e(builtin.adult_load, repeat)
    # The phases run on the exact file adult_load ingested (decompressed, `split` dropped).
    csv_path = work / "adult.csv"
    shutil.copyfile(settings.DATA_DIR / dataset.file_path, csv_path)
    size, rows = dataset.size_bytes, dataset.row_count
    log(f"  end to end: {e2e:.2f} s")
    result = bench_phases(csv_path, "income", repeat)
    if result["rows"] != rows:
        raise RuntimeError(f"phases parsed {result['rows']} rows, adult_load stored {rows}")
    result.update(e2e=e2e, size=size)
    clear_datasets()
    result["rss"] = child_rss("adult")
    clear_datasets()
    csv_path.unlink()
    return result


# --- output -------------------------------------------------------------------------------------


def fmt_phases(r: dict) -> str:
    return ", ".join(f"{k} {r[k]:.2f} s" for k in ("spool", "parse", "target", "profile"))


def seconds(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.2f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells, left_first=True):
        out = []
        for i, (cell, w) in enumerate(zip(cells, widths, strict=True)):
            out.append(cell.ljust(w) if (i == 0 and left_first) else cell.rjust(w))
        return "| " + " | ".join(out) + " |"

    sep = (
        "|"
        + "|".join(
            (":" + "-" * (w + 1)) if i == 0 else ("-" * (w + 1) + ":") for i, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def main_table(results: list[tuple[str, dict]]) -> str:
    headers = [
        "dataset",
        "rows",
        "file MB",
        "spool s",
        "parse s",
        "target s",
        "profile s",
        "end-to-end s",
        "MB/s",
        "rows/s",
        "peak RSS MB",
        "RSS growth MB",
    ]
    rows = []
    for label, r in results:
        mb = r["size"] / MB
        rows.append(
            [
                label,
                f"{r['rows']:,}",
                f"{mb:.1f}",
                seconds(r["spool"]),
                seconds(r["parse"]),
                seconds(r["target"]),
                seconds(r["profile"]),
                seconds(r["e2e"]),
                f"{mb / r['e2e']:.1f}",
                f"{r['rows'] / r['e2e']:,.0f}",
                f"{r['rss']['peak'] / MB:.0f}",
                f"{(r['rss']['peak'] - r['rss']['baseline']) / MB:.0f}",
            ]
        )
    return table(headers, rows)


def breakdown_table(results: list[tuple[str, dict]]) -> str:
    headers = [
        "dataset",
        "parse s",
        "utf8 scan s",
        "row check s",
        "read_csv+strip s*",
        "sum of phases s**",
        "end-to-end s",
    ]
    rows = []
    for label, r in results:
        rest = r["parse"] - r["utf8"] - r["rowcheck"]
        phases = r["spool"] + r["parse"] + r["target"] + r["profile"]
        rows.append(
            [
                label,
                seconds(r["parse"]),
                seconds(r["utf8"]),
                seconds(r["rowcheck"]),
                seconds(rest),
                seconds(phases),
                seconds(r["e2e"]),
            ]
        )
    return table(headers, rows)


def machine_line() -> str:
    import django
    import numpy
    import pandas

    return (
        f"# machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"pandas {pandas.__version__}, numpy {numpy.__version__}, Django {django.get_version()}"
    )


def rerun_command(sizes: str, repeat: int) -> str:
    exe = Path(sys.executable)
    try:
        exe_text = str(exe.relative_to(REPO))
    except ValueError:
        exe_text = str(exe)
    script = SCRIPT.relative_to(REPO)
    return shlex.join([exe_text, str(script), "--sizes", sizes, "--repeat", str(repeat)])


# --- entry point ------------------------------------------------------------------------------


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--sizes must be integers, got {text!r}") from exc
    if not sizes or any(n < 50 or n > 1_000_000 for n in sizes):
        raise argparse.ArgumentTypeError("--sizes must be between 50 and 1,000,000 rows each")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"rows (default {DEFAULT_SIZES})")
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        child_main(args.child)
        return

    try:
        sizes = parse_sizes(args.sizes)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    sizes_text = ",".join(str(n) for n in sizes)

    work = Path(tempfile.mkdtemp(prefix="modelyard-bench-"))

    def cleanup():
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django may not be set up yet
            pass
        shutil.rmtree(work, ignore_errors=True)

    # atexit does not run on SIGTERM; turn it into a normal exit so the temp dir goes away.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        data_dir = work / "data"
        setup_django(data_dir, migrate=True)
        print(machine_line())
        print(f"# rerun: cd {shlex.quote(str(REPO))} && {rerun_command(sizes_text, args.repeat)}")
        print(f"# best of {args.repeat}; fresh SQLite in a temp dir; peak RSS from a fresh child")
        sys.stdout.flush()

        total = time.perf_counter()
        results = []
        for n in sizes:
            log(f"synthetic {n:,} rows ...")
            results.append((f"synthetic {n:,}", bench_synthetic(n, args.repeat, work)))
        log("UCI Adult ...")
        results.append(("UCI Adult", bench_adult(args.repeat, work)))

        print()
        print(main_table(results))
        print()
        print(breakdown_table(results))
        print()
        print("*  read_csv+strip = parse - utf8 scan - row check (best-of times, so approximate)")
        print(
            "** spool + parse + target + profile, each timed on its own; end-to-end adds the DB "
            "row and moving the file (and for UCI Adult the gunzip + rewrite in adult_load)"
        )
        print(f"# total wall time {time.perf_counter() - total:.0f} s")
    finally:
        cleanup()


if __name__ == "__main__":
    main()
