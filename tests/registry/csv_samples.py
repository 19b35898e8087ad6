"""Small CSV files for ingest tests, built in code so each test shows what it feeds in."""

import io

import numpy as np


def good_csv(rows: int = 120, *, delimiter: str = ",", seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    lines = [delimiter.join(["customer_id", "age", "plan", "active", "score", "region", "churn"])]
    plans = ["basic", "plus", "pro"]
    for i in range(rows):
        age = "" if i % 10 == 0 else str(int(rng.integers(18, 80)))
        lines.append(
            delimiter.join(
                [
                    f"C{i:05d}",
                    age,
                    plans[i % 3],
                    "yes" if i % 2 else "no",
                    f"{rng.normal():.4f}",
                    "north",
                    "churned" if i % 4 == 0 else "stayed",
                ]
            )
        )
    return ("\n".join(lines) + "\n").encode()


def as_upload(content: bytes, name: str = "data.csv"):
    handle = io.BytesIO(content)
    handle.name = name
    return handle
