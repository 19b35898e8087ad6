"""The synthetic generator: reproducible, and its drift knobs move exactly what they say."""

import numpy as np
import pytest

from core.errors import InvalidInput
from registry.synthetic import SyntheticParams, generate


def test_same_seed_gives_the_same_frame():
    a = generate(SyntheticParams(rows=400, seed=5))
    b = generate(SyntheticParams(rows=400, seed=5))
    c = generate(SyntheticParams(rows=400, seed=6))

    assert a.equals(b)
    assert not a.equals(c)


def test_columns_and_class_balance():
    frame = generate(SyntheticParams(rows=20_000, features=6, class_balance=0.2, label_noise=0.0))

    assert list(frame.columns) == [f"x{i}" for i in range(6)] + ["segment", "channel", "label"]
    assert (frame["label"] == "positive").mean() == pytest.approx(0.2, abs=0.01)


def test_mean_shift_moves_only_the_drift_features():
    # given a reference and its twin with a 2-sd shift on the first two features
    reference = generate(SyntheticParams(rows=5000, features=6, seed=1))
    drifted_params = SyntheticParams(
        rows=5000, features=6, seed=1, mean_shift=2.0, drift_features=2
    )
    drifted = generate(drifted_params)

    # then x0 and x1 moved by about two standard deviations and nothing else changed
    for col in ("x0", "x1"):
        shift = (drifted[col].mean() - reference[col].mean()) / reference[col].std()
        assert shift == pytest.approx(2.0, abs=0.25)
    for col in ("x2", "x3", "x4", "x5", "segment", "channel", "label"):
        assert drifted[col].equals(reference[col]), col
    assert drifted_params.drifted == ["x0", "x1"]


def test_scale_change_widens_the_spread():
    reference = generate(SyntheticParams(rows=5000, seed=2))
    drifted = generate(SyntheticParams(rows=5000, seed=2, scale_change=2.0, drift_features=1))

    assert drifted["x0"].std() / reference["x0"].std() == pytest.approx(2.0, rel=0.05)
    assert drifted["x1"].equals(reference["x1"])


def test_prior_shift_changes_the_class_balance():
    base = generate(SyntheticParams(rows=20_000, class_balance=0.3, label_noise=0.0))
    shifted = generate(
        SyntheticParams(rows=20_000, class_balance=0.3, prior_shift=0.3, label_noise=0.0)
    )

    assert (shifted["label"] == "positive").mean() - (
        base["label"] == "positive"
    ).mean() == pytest.approx(0.3, abs=0.02)


def test_informative_features_separate_the_classes():
    frame = generate(
        SyntheticParams(rows=10_000, features=4, informative_share=0.5, class_sep=2.0, seed=3)
    )

    gaps = [
        abs(
            frame.loc[frame.label == "positive", c].mean()
            - frame.loc[frame.label == "negative", c].mean()
        )
        for c in ("x0", "x1", "x2", "x3")
    ]
    assert min(gaps[:2]) > 0.3
    assert max(gaps[2:]) < 0.1


def test_multiclass_labels():
    frame = generate(SyntheticParams(rows=3000, n_classes=4, class_balance=0.25))

    assert sorted(frame["label"].unique()) == ["class_0", "class_1", "class_2", "class_3"]
    assert np.isfinite(frame[[f"x{i}" for i in range(8)]].to_numpy()).all()


@pytest.mark.parametrize(
    ("field", "value"),
    [("rows", 10), ("label_noise", 0.6), ("class_balance", 1.5), ("drift_features", 99)],
)
def test_invalid_parameters_name_the_field(field, value):
    with pytest.raises(InvalidInput) as raised:
        generate(SyntheticParams(**{field: value}))

    assert raised.value.field == field
    assert field in raised.value.message
