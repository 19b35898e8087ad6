"""The preprocessor: statistics from the rows it is fitted on, numpy-only transform, JSON state."""

import json

import numpy as np
import pandas as pd
import pytest

from engine.preprocess import TabularPreprocessor
from engine.signature import build_signature

COLUMNS = [
    {"name": "age", "kind": "numeric", "flags": []},
    {"name": "colour", "kind": "categorical", "flags": []},
    {"name": "member", "kind": "boolean", "flags": []},
]


def _train_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [20.0, 30.0, 40.0, np.nan, 50.0, 60.0],
            "colour": ["red", "blue", "red", None, "green", "blue"],
            "member": ["yes", "no", "yes", "yes", None, "no"],
            "label": ["a", "b", "a", "b", "a", "b"],
        }
    )


def _fitted(frame: pd.DataFrame | None = None) -> TabularPreprocessor:
    frame = _train_frame() if frame is None else frame
    signature = build_signature(frame, target="label", columns=COLUMNS)
    return TabularPreprocessor().fit(frame, signature)


def test_statistics_come_from_the_fitted_rows_only():
    # given training rows, and a validation row with an extreme age
    train = _train_frame()
    extreme = pd.DataFrame({"age": [1e9], "colour": ["purple"], "member": ["no"], "label": ["a"]})

    # when the preprocessor is fitted on the training rows and then applied to the extreme row
    pre = _fitted(train)
    before = json.dumps(pre.to_dict(), sort_keys=True)
    out = pre.transform(extreme)

    # then its statistics are those of the training ages alone, and applying it changed nothing
    age = pre.features[0]
    observed = np.array([20.0, 30.0, 40.0, 50.0, 60.0])
    assert age["mean"] == pytest.approx(observed.mean())
    assert age["median"] == pytest.approx(40.0)
    assert age["std"] == pytest.approx(observed.std())
    assert json.dumps(pre.to_dict(), sort_keys=True) == before
    assert out[0, 0] == pytest.approx((1e9 - observed.mean()) / observed.std())
    # and fitting on train + the extreme row would have given another mean (the check can fail)
    assert _fitted(pd.concat([train, extreme])).features[0]["mean"] != pytest.approx(age["mean"])


def test_encode_codes_and_expand_one_hot_with_missing_and_unknown():
    # given a fitted preprocessor (colours blue, green, red)
    pre = _fitted()
    rows = pd.DataFrame(
        {
            "age": [np.nan, 40.0, 40.0],
            "colour": ["green", None, "purple"],
            "member": [None, "no", "YES"],
        }
    )

    # when rows with a missing age, a missing colour and an unseen colour are encoded
    encoded = pre.encode(rows)
    expanded = pre.expand(encoded)

    # then the missing age gets the median, categorical codes are known / missing / unknown
    assert encoded[0, 0] == pytest.approx(encoded[1, 0])
    assert encoded[:, 1].tolist() == [1.0, 3.0, 4.0]
    # and the boolean maps yes → 1, no → 0, missing → the training mode (yes: 3 of 5)
    assert encoded[:, 2].tolist() == [1.0, 0.0, 1.0]
    # and the one-hot block is green / the missing indicator / all zeros for the unknown
    assert pre.feature_names_out == [
        "age",
        "colour=blue",
        "colour=green",
        "colour=red",
        "colour=<missing>",
        "member",
    ]
    block = expanded[:, 1:5]
    assert block.tolist() == [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert expanded.dtype == np.float32
    assert np.array_equal(pre.transform(rows), expanded)
    assert pre.categorical_indices == [1, 2]


def test_numeric_columns_may_arrive_as_strings_and_bad_values_name_the_column():
    # given a fitted preprocessor
    pre = _fitted()
    as_text = pd.DataFrame(
        {"age": ["40", None, " "], "colour": ["red", "red", "red"], "member": [1, 0, True]},
        dtype=object,
    )
    numeric = pd.DataFrame(
        {"age": [40.0, 40.0, 40.0], "colour": ["red"] * 3, "member": ["yes", "no", "yes"]}
    )

    # when numbers arrive as strings or objects, with None and blanks for missing
    out = pre.transform(as_text)

    # then they are read as numbers (missing ones imputed with the median, 40)
    assert np.array_equal(out, pre.transform(numeric))
    # and a cell that is not a number is refused with the column's name
    bad = as_text.assign(age=["40", "forty", None])
    with pytest.raises(ValueError, match="'age'.*'forty'"):
        pre.transform(bad)


def test_missing_feature_column_is_named():
    # given a fitted preprocessor
    pre = _fitted()

    # when a frame lacks the colour column, then the error names it
    with pytest.raises(ValueError, match="colour"):
        pre.transform(pd.DataFrame({"age": [1.0], "member": ["yes"]}))


def test_json_round_trip_gives_an_identical_transform():
    # given a fitted preprocessor and some rows, some unknown and some missing
    pre = _fitted()
    rows = pd.DataFrame(
        {
            "age": [np.nan, 33.3, -5.0, None],
            "colour": ["blue", "cyan", None, "red"],
            "member": ["no", None, "y", "TRUE"],
        }
    )

    # when its state goes through JSON text and back
    text = json.dumps(pre.to_dict(), allow_nan=False)
    restored = TabularPreprocessor.from_dict(json.loads(text))

    # then it transforms the rows exactly as the original does
    assert np.array_equal(restored.transform(rows), pre.transform(rows))
    assert restored.feature_names_out == pre.feature_names_out


def test_a_constant_numeric_column_does_not_divide_by_zero():
    # given a training frame whose age is the same everywhere
    frame = _train_frame().assign(age=7.0)

    # when fitted and applied
    out = _fitted(frame).transform(frame)

    # then the column is centred at zero, with no inf or NaN
    assert np.all(np.isfinite(out))
    assert np.all(out[:, 0] == 0.0)
