"""The model signature and the stratified split."""

import numpy as np
import pandas as pd
import pytest

from engine.signature import build_signature
from engine.split import split_indices


def test_signature_drops_flagged_columns_and_describes_the_rest():
    # given a frame with an id column, a constant column and profiles flagging them
    frame = pd.DataFrame(
        {
            "id": range(6),
            "same": ["x"] * 6,
            "size": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
            "city": ["Oslo", "Bergen", None, "Oslo", "Bergen", "Oslo"],
            "y": [1.0, 0.0, 1.0, 0.0, 1.0, np.nan],
        }
    )
    columns = [
        {"name": "id", "kind": "numeric", "flags": ["id_like"]},
        {"name": "same", "kind": "categorical", "flags": ["constant"]},
        {"name": "size", "kind": "numeric", "flags": []},
        {"name": "city", "kind": "categorical", "flags": []},
        {"name": "y", "kind": "boolean", "flags": []},
    ]

    # when the signature is built
    signature = build_signature(frame, target="y", columns=columns)

    # then flagged columns are dropped with their reason and the target is not a feature
    assert signature["dropped_columns"] == [
        {"name": "id", "reason": "id_like"},
        {"name": "same", "reason": "constant"},
    ]
    size, city = signature["features"]
    assert size == {
        "name": "size",
        "kind": "numeric",
        "min": 1.0,
        "max": 6.0,
        "mean": 3.6,
        "missing_share": pytest.approx(1 / 6, abs=1e-6),
    }
    assert city["categories"] == ["Bergen", "Oslo"]
    # and integer-valued float labels are printed without ".0", sorted
    assert signature["class_labels"] == ["0", "1"]
    assert signature["target"] == "y"


def test_split_is_stratified_deterministic_and_covers_every_row():
    # given 3 classes of 50, 30 and 20 rows
    y = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20)

    # when split twice with the same seed and once with another
    first = split_indices(y, val_fraction=0.2, test_fraction=0.2, seed=3)
    again = split_indices(y, val_fraction=0.2, test_fraction=0.2, seed=3)
    other = split_indices(y, val_fraction=0.2, test_fraction=0.2, seed=4)

    # then the same seed gives the same parts, another seed other parts
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])
    # and the parts are disjoint, cover every row, and hold each class in proportion
    train, val, test = first
    assert np.array_equal(np.sort(np.concatenate(first)), np.arange(len(y)))
    assert not (set(train) & set(val) or set(train) & set(test) or set(val) & set(test))
    assert [int((y[test] == c).sum()) for c in "abc"] == [10, 6, 4]
    assert [int((y[val] == c).sum()) for c in "abc"] == [10, 6, 4]


def test_three_rows_of_a_class_put_one_in_each_part():
    # given a class with exactly three rows
    y = np.array(["big"] * 40 + ["rare"] * 3)

    # when split
    train, val, test = split_indices(y, val_fraction=0.15, test_fraction=0.15, seed=0)

    # then the rare class appears once in every part
    assert [int((y[part] == "rare").sum()) for part in (train, val, test)] == [1, 1, 1]


def test_split_names_the_class_with_too_few_rows():
    # given a class with two rows
    y = np.array(["common"] * 30 + ["rare"] * 2)

    # when split, then the error names the class and the minimum
    with pytest.raises(ValueError, match=r"at least 3.*'rare' \(2 rows\)"):
        split_indices(y, val_fraction=0.15, test_fraction=0.15, seed=0)
