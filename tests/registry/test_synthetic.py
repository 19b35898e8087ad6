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


def test_category_shift_moves_only_the_channel_frequencies():
    # given a reference and its twin with a fifth of the rows moved to channel "partner"
    reference = generate(SyntheticParams(rows=20_000, seed=3))
    params = SyntheticParams(rows=20_000, seed=3, category_shift=0.2)
    drifted = generate(params)

    # then "partner" gained about 0.2 of the remaining share, and nothing else changed
    before = (reference["channel"] == "partner").mean()
    after = (drifted["channel"] == "partner").mean()
    assert after - before == pytest.approx(0.2 * (1 - before), abs=0.01)
    for col in [c for c in reference.columns if c != "channel"]:
        assert drifted[col].equals(reference[col]), col
    assert params.drifted == ["channel"]
    assert not params.concept_drifted


def test_concept_drift_changes_labels_but_not_features():
    # given a reference and its twin where half the rows with x0 above its mean changed label
    reference = generate(SyntheticParams(rows=20_000, seed=4, label_noise=0.0))
    params = SyntheticParams(rows=20_000, seed=4, label_noise=0.0, concept_drift=0.5)
    drifted = generate(params)

    # then every feature column is identical, the labels differ only in that region
    features = [c for c in reference.columns if c != "label"]
    assert drifted[features].equals(reference[features])
    changed = drifted["label"] != reference["label"]
    threshold = reference.loc[changed, "x0"].min()
    region = reference["x0"] >= threshold
    assert changed.sum() / region.sum() == pytest.approx(0.5, abs=0.03)
    assert 0.3 < region.mean() < 0.7
    # and the answer is recorded: nothing drifted in the features, the concept did
    assert params.drifted == []
    assert params.concept_drifted and params.has_drift


@pytest.mark.parametrize("knob", ["category_shift", "concept_drift"])
def test_new_knobs_refuse_values_outside_zero_to_one(knob):
    with pytest.raises(InvalidInput, match=knob):
        generate(SyntheticParams(rows=100, **{knob: 1.5}))
