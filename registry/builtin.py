"""The datasets Modelyard ships: UCI Adult (real) and a synthetic pair with a known drift."""

from __future__ import annotations

import csv
import gzip
import io
import tempfile
from pathlib import Path

from django.conf import settings

from registry import services, synthetic
from registry.models import Dataset
from registry.synthetic import SyntheticParams

ADULT_PATH = Path(__file__).resolve().parent / "data" / "adult.csv.gz"
ADULT_NAME = "UCI Adult (census income)"
ADULT_CITATION = (
    "Becker, B. and Kohavi, R. (1996). Adult. UCI Machine Learning Repository, CC BY 4.0. "
    "https://doi.org/10.24432/C5XW20"
)
ADULT_DROP = {"split"}

SYNTHETIC_REFERENCE = synthetic.REFERENCE
SYNTHETIC_DRIFTED = SyntheticParams(rows=5000, features=8, seed=7, mean_shift=1.0, scale_change=1.5)


def adult_load() -> tuple[Dataset, bool]:
    """Ingest the bundled Adult file without its `split` column (15 columns remain)."""
    settings.UPLOAD_TMP_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=settings.UPLOAD_TMP_DIR) as out:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        with gzip.open(ADULT_PATH, "rt", encoding="utf-8", newline="") as src:
            reader = csv.reader(src)
            header = next(reader)
            keep = [i for i, name in enumerate(header) if name not in ADULT_DROP]
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow([header[i] for i in keep])
            for row in reader:
                writer.writerow([row[i] for i in keep])
        text.flush()
        text.detach()
        out.seek(0)
        return services.dataset_ingest(
            source=out,
            filename="adult.csv",
            name=ADULT_NAME,
            target="income",
            origin=Dataset.Origin.BUILTIN,
            description="Census income: predict whether income exceeds $50K/yr. "
            "48,842 people, 14 features (6 numeric, 8 categorical). " + ADULT_CITATION,
            source_params={
                "citation": ADULT_CITATION,
                "license": "CC BY 4.0",
                "dropped": ["split"],
            },
        )


def builtin_datasets_load(*, stdout=None) -> list[tuple[Dataset, bool]]:
    def say(msg):
        if stdout is not None:
            stdout.write(msg)

    results = []
    say("Loading UCI Adult ...")
    results.append(adult_load())
    say("Generating the synthetic reference dataset ...")
    results.append(
        services.dataset_generate_synthetic(
            params=SYNTHETIC_REFERENCE, name="Synthetic reference (seed 7)"
        )
    )
    say("Generating its drifted twin (x0, x1 shifted by 1 sd, scaled 1.5x) ...")
    results.append(
        services.dataset_generate_synthetic(
            params=SYNTHETIC_DRIFTED, name="Synthetic drifted (seed 7)"
        )
    )
    return results
