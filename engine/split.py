"""Stratified, deterministic train / validation / test split."""

from __future__ import annotations

import numpy as np

MIN_ROWS_PER_CLASS = 3


def split_indices(
    y: np.ndarray, *, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (into `y`) of the training, validation and test rows, each sorted.

    Per class c with n_c rows (shuffled with `seed`): round(n_c * test_fraction) test rows and
    round(n_c * val_fraction) validation rows, each at least 1, the rest for training (at least
    1). So every class appears in every part, which needs n_c >= 3.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            "val_fraction and test_fraction must each be between 0 and 1 and sum to less than 1 "
            f"(got {val_fraction} and {test_fraction})."
        )
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    too_few = [(c, n) for c, n in zip(classes, counts, strict=True) if n < MIN_ROWS_PER_CLASS]
    if too_few:
        listed = ", ".join(f"{c!r} ({n} row{'s' if n != 1 else ''})" for c, n in too_few)
        raise ValueError(
            f"Every class needs at least {MIN_ROWS_PER_CLASS} labelled rows to appear in the "
            f"training, validation and test parts; too few for class {listed}."
        )
    rng = np.random.default_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for c in classes:
        idx = rng.permutation(np.flatnonzero(y == c))
        n = idx.size
        n_test = max(1, round(n * test_fraction))
        n_val = max(1, round(n * val_fraction))
        # Rounding up both small parts can eat the last training row: give it back.
        while n - n_test - n_val < 1:
            if n_val >= n_test and n_val > 1:
                n_val -= 1
            else:
                n_test -= 1
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test : n_test + n_val])
        parts[0].append(idx[n_test + n_val :])
    train, val, test = (np.sort(np.concatenate(p)).astype(np.int64) for p in parts)
    return train, val, test
