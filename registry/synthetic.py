"""A synthetic tabular classification generator with drift knobs whose answer is known.

Rows are drawn class-first:

1. Labels: y ~ Categorical(p) with p = (1 - b, b) for two classes, where b is
   `class_balance + prior_shift` (clipped to [0.01, 0.99]); more classes share the remainder
   evenly.
2. Features: each informative numeric feature j is N(mu[y, j], 1), with class means drawn once
   from the seed (separation `class_sep`); the other numeric features are N(0, 1) noise. Two
   categorical features follow the label with probability 0.6 and are uniform otherwise.
3. Label noise: a `label_noise` share of rows gets a different label, uniformly at random.
4. Drift, applied to the first `drift_features` numeric features only (they are recorded in the
   parameters, so a drift check has a known answer): x -> mu_j + (x - mu_j) * scale_change +
   mean_shift, where mean_shift is in units of the feature's standard deviation.
5. Category-frequency drift: a `category_shift` share of rows gets channel "partner" whatever
   it was, so the channel's level frequencies move (recorded: "channel" is drifted).
6. Concept drift: among rows whose x0 is above the average of its class means, a
   `concept_drift` share gets a different label ((y + 1) mod K). The features are drawn
   exactly as before, so their distribution does not move, only the relation between them
   and the label does; a feature drift check stays quiet and the model's accuracy drops
   (recorded as `concept_drifted`).

The same seed with the drift knobs at zero reproduces the undrifted reference exactly, so a
pair (reference, drifted) differs by the knobs alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from core.errors import InvalidInput


@dataclass
class SyntheticParams:
    rows: int = 5000
    features: int = 8
    informative_share: float = 0.5
    class_balance: float = 0.3
    n_classes: int = 2
    label_noise: float = 0.05
    class_sep: float = 1.0
    seed: int = 7
    mean_shift: float = 0.0
    scale_change: float = 1.0
    prior_shift: float = 0.0
    drift_features: int = 2
    categorical_features: bool = True
    category_shift: float = 0.0
    concept_drift: float = 0.0
    drifted: list[str] = field(default_factory=list)
    concept_drifted: bool = False

    def validate(self) -> None:
        checks = [
            ("rows", 50 <= self.rows <= 1_000_000, "between 50 and 1,000,000"),
            ("features", 1 <= self.features <= 200, "between 1 and 200"),
            ("informative_share", 0.0 < self.informative_share <= 1.0, "in (0, 1]"),
            ("class_balance", 0.01 <= self.class_balance <= 0.99, "between 0.01 and 0.99"),
            ("n_classes", 2 <= self.n_classes <= 20, "between 2 and 20"),
            ("label_noise", 0.0 <= self.label_noise < 0.5, "in [0, 0.5)"),
            ("class_sep", 0.0 <= self.class_sep <= 10.0, "between 0 and 10"),
            ("scale_change", 0.05 <= self.scale_change <= 20.0, "between 0.05 and 20"),
            ("mean_shift", -20.0 <= self.mean_shift <= 20.0, "between -20 and 20"),
            ("prior_shift", -0.98 <= self.prior_shift <= 0.98, "between -0.98 and 0.98"),
            ("drift_features", 0 <= self.drift_features <= self.features, "between 0 and features"),
            ("seed", 0 <= self.seed < 2**32, "between 0 and 2^32 - 1"),
            ("category_shift", 0.0 <= self.category_shift <= 1.0, "between 0 and 1"),
            ("concept_drift", 0.0 <= self.concept_drift <= 1.0, "between 0 and 1"),
        ]
        if self.category_shift and not self.categorical_features:
            raise InvalidInput(
                "category_shift needs the categorical features.", field="category_shift"
            )
        for name, ok, rule in checks:
            if not ok:
                raise InvalidInput(
                    f"{name} must be {rule} (got {getattr(self, name)}).", field=name
                )

    @property
    def has_drift(self) -> bool:
        return bool(
            self.mean_shift
            or self.scale_change != 1.0
            or self.prior_shift
            or self.category_shift
            or self.concept_drift
        )


# The built-in reference dataset's parameters (registry.builtin loads it; demos start from it).
REFERENCE = SyntheticParams(rows=5000, features=8, seed=7)


def generate(params: SyntheticParams) -> pd.DataFrame:
    params.validate()
    rng = np.random.default_rng(params.seed)
    k = params.n_classes
    n_inf = max(1, round(params.features * params.informative_share))
    # Class means come first from the generator so they do not depend on `rows`.
    means = rng.normal(0.0, params.class_sep, size=(k, n_inf))

    balance = float(np.clip(params.class_balance + params.prior_shift, 0.01, 0.99))
    if k == 2:
        priors = np.array([1.0 - balance, balance])
    else:
        priors = np.full(k, (1.0 - balance) / (k - 1))
        priors[-1] = balance
    draw = np.random.default_rng([params.seed, params.rows, 1])
    y = draw.choice(k, size=params.rows, p=priors)

    x = draw.normal(0.0, 1.0, size=(params.rows, params.features))
    x[:, :n_inf] += means[y]

    centre = np.zeros(params.features)
    centre[:n_inf] = means.mean(axis=0)
    spread = np.ones(params.features)
    spread[:n_inf] = np.sqrt(1.0 + means.var(axis=0))
    drift_cols = list(range(params.drift_features))
    if params.scale_change != 1.0 or params.mean_shift:
        for j in drift_cols:
            x[:, j] = centre[j] + (x[:, j] - centre[j]) * params.scale_change
            x[:, j] += params.mean_shift * spread[j]

    noisy = draw.random(params.rows) < params.label_noise
    y_obs = y.copy()
    if noisy.any():
        y_obs[noisy] = (y[noisy] + draw.integers(1, k, size=int(noisy.sum()))) % k

    # The new knobs draw from a stream of their own, so every earlier knob's rows stay as
    # they were for the same seed.
    knobs = np.random.default_rng([params.seed, params.rows, 2])
    if params.concept_drift:
        region = x[:, 0] > centre[0]
        flip = region & (knobs.random(params.rows) < params.concept_drift)
        y_obs[flip] = (y_obs[flip] + 1) % k

    frame = pd.DataFrame(np.round(x, 5), columns=[f"x{j}" for j in range(params.features)])
    if params.categorical_features:
        follows = draw.random(params.rows) < 0.6
        segment = np.where(follows, y, draw.integers(0, k, size=params.rows))
        frame["segment"] = np.array([f"s{i}" for i in range(k)])[segment]
        channel_levels = np.array(["web", "store", "phone", "partner"])
        follows = draw.random(params.rows) < 0.6
        channel = np.where(follows, y % 4, draw.integers(0, 4, size=params.rows))
        if params.category_shift:
            moved = knobs.random(params.rows) < params.category_shift
            channel = np.where(moved, 3, channel)
        frame["channel"] = channel_levels[channel]
    labels = (
        np.array(["negative", "positive"]) if k == 2 else np.array([f"class_{i}" for i in range(k)])
    )
    frame["label"] = labels[y_obs]
    params.drifted = (
        [f"x{j}" for j in drift_cols] if (params.mean_shift or params.scale_change != 1.0) else []
    ) + (["channel"] if params.category_shift else [])
    params.concept_drifted = bool(params.concept_drift)
    return frame


def params_dict(params: SyntheticParams) -> dict:
    return asdict(params)
