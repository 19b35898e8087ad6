"""The platform's words, defined once: metrics (and which way is better), model families,
imbalance strategies, search objectives and the key-metrics list.

The search (`engine.search`), the training service and forms, the registry's selectors,
serializers and pages read these; the A/B decision will too. Adding a metric or a family here
(a family: its adapter module) is what makes every page, form and API field know it.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.families import ADAPTERS


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    higher_is_better: bool

    @property
    def direction(self) -> str:
        """Optuna's word for it: "maximize" or "minimize"."""
        return "maximize" if self.higher_is_better else "minimize"


@dataclass(frozen=True)
class Choice:
    name: str
    label: str


# The scalar test-set metrics of `engine.metrics.evaluate`, in the order pages list them.
TEST_METRICS: tuple[Metric, ...] = (
    Metric("accuracy", "Accuracy", True),
    Metric("balanced_accuracy", "Balanced accuracy", True),
    Metric("precision", "Precision", True),
    Metric("recall", "Recall", True),
    Metric("f1", "F1", True),
    Metric("roc_auc", "ROC AUC", True),
    Metric("pr_auc", "PR AUC", True),
    Metric("log_loss", "Log loss", False),
    Metric("brier", "Brier score", False),
    Metric("ece", "Expected calibration error", False),
    Metric("ece_uncalibrated", "ECE before calibration", False),
)
# What a search may optimise on the validation rows.
OBJECTIVE_METRICS: tuple[Metric, ...] = (
    Metric("roc_auc", "ROC AUC", True),
    Metric("f1_macro", "F1 (macro)", True),
    Metric("log_loss", "log loss", False),
)
METRICS: dict[str, Metric] = {m.name: m for m in (*OBJECTIVE_METRICS, *TEST_METRICS)}

# The search objective a user picks: "auto" resolves to ROC AUC for binary targets and macro
# F1 for multiclass ones (`objective_for`), both maximised.
AUTO_OBJECTIVE = Choice("auto", "auto (chosen from the target)")
OBJECTIVES: tuple[Choice, ...] = (
    AUTO_OBJECTIVE,
    *(Choice(m.name, m.label) for m in OBJECTIVE_METRICS),
)
OBJECTIVE_NAMES: tuple[str, ...] = tuple(c.name for c in OBJECTIVES)

# Stored in each version's manifest, answered by the API as `key_metrics`, given as evidence.
KEY_METRICS: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "f1",
    "accuracy",
    "balanced_accuracy",
    "log_loss",
)
# The few a model's page and version timeline chart.
HEADLINE_METRICS: tuple[str, ...] = ("roc_auc", "f1", "accuracy")

# Each family's name and label come from its adapter (`engine.families`), its one module.
FAMILIES: tuple[Choice, ...] = tuple(Choice(a.name, a.label) for a in ADAPTERS.values())
FAMILY_NAMES: tuple[str, ...] = tuple(c.name for c in FAMILIES)

IMBALANCE_STRATEGIES: tuple[Choice, ...] = (
    Choice("none", "none"),
    Choice("class_weight", "class weights"),
    Choice("smote", "SMOTE oversampling"),
)
IMBALANCE_NAMES: tuple[str, ...] = tuple(c.name for c in IMBALANCE_STRATEGIES)


def objective_for(objective: str, n_classes: int) -> str:
    """The metric a search optimises: "auto" → roc_auc (binary) or f1_macro (multiclass)."""
    if objective == AUTO_OBJECTIVE.name:
        return "roc_auc" if n_classes == 2 else "f1_macro"
    return objective


def direction(objective: str) -> str:
    """ "maximize" or "minimize" for an objective; known before the data is read, since both
    of "auto"'s choices are maximised."""
    if objective == AUTO_OBJECTIVE.name:
        return "maximize"
    return METRICS[objective].direction


def label(name: str) -> str:
    metric = METRICS.get(name)
    return metric.label if metric is not None else name
