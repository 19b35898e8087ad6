"""A small, real training set: a stratified sample of the bundled UCI Adult data."""

import gzip
import io

import pandas as pd

from registry.builtin import ADULT_PATH
from registry.services import dataset_ingest


def adult_sample_csv(rows: int = 2000, seed: int = 0) -> bytes:
    with gzip.open(ADULT_PATH, "rt") as handle:
        frame = pd.read_csv(handle).drop(columns=["split"])
    share = rows / len(frame)
    sample = frame.groupby("income", group_keys=False).sample(frac=share, random_state=seed)
    return sample.sample(frac=1.0, random_state=seed).to_csv(index=False).encode()


def adult_sample_dataset(rows: int = 2000, seed: int = 0):
    dataset, _ = dataset_ingest(
        source=io.BytesIO(adult_sample_csv(rows, seed)),
        filename="adult-sample.csv",
        name=f"Adult sample ({rows})",
        target="income",
    )
    return dataset
