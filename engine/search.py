"""The Optuna search over model families, imbalance strategies and hyper-parameters.

Single process: `run_search`. Several workers: each builds the same `PreparedData` with
`prepare_data` (deterministic from frame, config and column profiles), opens the shared
RDB-backed study with `create_study(..., storage=..., study_name=...)` and calls `run_trials`;
the worker that finishes calls `finalize`, which REFITS the best trial's parameters on the
training rows (the winning model lives in whichever process ran it), picks the decision
threshold on validation and evaluates once on the test rows.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import optuna
import pandas as pd
from optuna.study import MaxTrialsCallback, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from engine import vocabulary
from engine.calibration import fit_calibrator
from engine.errors import Cancelled, NoSuccessfulTrials
from engine.families import (
    DEFAULT_MAX_EPOCHS,
    FAMILIES,
    FittedEstimator,
    fit_model,
    limited_threads,
    suggest_params,
)
from engine.imbalance import STRATEGIES, resample
from engine.importance import permutation_importances
from engine.metrics import choose_threshold, evaluate, validation_score
from engine.model import FittedModel
from engine.preprocess import TabularPreprocessor
from engine.signature import build_signature
from engine.split import split_indices
from engine.values import json_safe, label_strings

optuna.logging.set_verbosity(optuna.logging.WARNING)

MAX_ERROR_CHARS = 2000
INPUT_EXAMPLE_ROWS = 3


@dataclass
class SearchConfig:
    target: str
    families: list[str] = field(default_factory=lambda: list(FAMILIES))
    imbalance: list[str] = field(default_factory=lambda: list(STRATEGIES))
    # "auto" → roc_auc for binary targets, f1_macro for multiclass ones.
    metric: str = "auto"
    n_trials: int = 20
    timeout_s: float | None = None
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    max_epochs: int = DEFAULT_MAX_EPOCHS
    reference_rows: int = 10_000

    def validate(self) -> None:
        unknown = [f for f in self.families if f not in FAMILIES]
        if not self.families or unknown:
            raise ValueError(
                f"families must be a non-empty subset of {FAMILIES} (got {self.families})."
            )
        unknown = [s for s in self.imbalance if s not in STRATEGIES]
        if not self.imbalance or unknown:
            raise ValueError(
                f"imbalance must be a non-empty subset of {STRATEGIES} (got {self.imbalance})."
            )
        if self.metric not in vocabulary.OBJECTIVE_NAMES:
            raise ValueError(
                f"metric must be one of {vocabulary.OBJECTIVE_NAMES} (got {self.metric!r})."
            )
        if self.n_trials < 1 or self.max_epochs < 1 or self.reference_rows < 0:
            raise ValueError("n_trials and max_epochs must be at least 1, reference_rows >= 0.")


def resolve_metric(metric: str, n_classes: int) -> str:
    return vocabulary.objective_for(metric, n_classes)


def metric_direction(metric: str) -> str:
    return vocabulary.direction(metric)


@dataclass
class TrialRecord:
    number: int
    family: str
    params: dict
    imbalance: str
    state: str  # "complete" | "pruned" | "failed" (or "running"/"waiting" for a live study)
    value: float | None
    duration_s: float
    curve: list[float]
    error: str
    cpu_seconds: float = 0.0  # the process CPU time the trial used (its fit and scoring)


@dataclass
class PreparedData:
    """Everything a trial needs, built once per process by `prepare_data`.

    Row indices are positions in the original frame (`frame.iloc[...]`); together they are
    exactly the rows with a target. `X_train_encoded` is stage 1 of the preprocessor (what
    resampling sees); `X_val`/`X_test` are fully transformed. `y_*` are class indices into
    `class_labels`.
    """

    signature: dict
    preprocessor: TabularPreprocessor
    class_labels: list[str]
    metric: str
    seed: int
    X_train_encoded: np.ndarray
    X_val_encoded: np.ndarray  # stage 1 of the validation rows (permutation importance)
    X_val: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray
    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    categorical_indices: list[int]
    reference_sample: pd.DataFrame
    input_example: list[dict]
    test_features: pd.DataFrame | None = None  # the test rows' raw inputs (model cards)
    _resampled: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_classes(self) -> int:
        return len(self.class_labels)

    @property
    def n_features_out(self) -> int:
        return len(self.preprocessor.feature_names_out)

    def training_rows(self, strategy: str) -> tuple[np.ndarray, np.ndarray, dict | None]:
        """Expanded training matrix, labels and class weights under an imbalance strategy.

        Deterministic for a given seed, so it is computed once per strategy and reused.
        """
        if strategy not in self._resampled:
            with limited_threads():  # SMOTE's neighbour search uses BLAS threads
                X, y, weights = resample(
                    self.X_train_encoded,
                    self.y_train,
                    strategy=strategy,
                    categorical_indices=self.categorical_indices,
                    seed=self.seed,
                )
            self._resampled[strategy] = (self.preprocessor.expand(X), y, weights)
        return self._resampled[strategy]


@dataclass
class SearchResult:
    best: TrialRecord
    model: FittedModel
    test_metrics: dict
    validation_score: float  # the config metric of the refit model on the validation rows
    metric: str
    signature: dict
    reference_sample: pd.DataFrame
    input_example: list[dict]
    # {input feature: {"mean", "std"}}: rise in validation log loss when it is shuffled
    feature_importance: dict
    n_complete: int
    n_pruned: int
    n_failed: int


# -- data ----------------------------------------------------------------------------------


def prepare_data(frame: pd.DataFrame, config: SearchConfig, *, columns: list[dict]) -> PreparedData:
    """1. Keep the rows with a target and turn labels into strings (csvfiles' rule).
    2. Split them, stratified, with the config's seed and fractions.
    3. Build the signature and fit the preprocessor on the TRAINING rows only.
    4. Encode the training rows (stage 1, for resampling); transform validation and test.
    5. Take the reference sample and the input example from the training rows.
    """
    config.validate()
    if config.target not in frame.columns:
        raise ValueError(f"Target column {config.target!r} is not in the data.")
    # 1.
    labels = label_strings(frame[config.target])
    class_labels = sorted(set(labels))
    if len(class_labels) < 2:
        raise ValueError(
            f"Target column {config.target!r} needs at least two classes (found {class_labels})."
        )
    code = {label: i for i, label in enumerate(class_labels)}
    # label_strings drops the unlabelled rows and keeps the order of the others.
    labelled = np.flatnonzero(frame[config.target].notna().to_numpy())
    y_all = labels.map(code).to_numpy(dtype=np.int64)
    # 2.
    tr, va, te = split_indices(
        np.asarray(class_labels, dtype=object)[y_all],
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
    )
    train_idx, val_idx, test_idx = labelled[tr], labelled[va], labelled[te]
    # 3.
    train_frame = frame.iloc[train_idx]
    signature = build_signature(train_frame, target=config.target, columns=columns)
    signature["class_labels"] = class_labels  # every class is in the training rows anyway
    if not signature["features"]:
        dropped = ", ".join(d["name"] for d in signature["dropped_columns"]) or "none"
        raise ValueError(f"No feature columns are left to train on (dropped: {dropped}).")
    preprocessor = TabularPreprocessor().fit(train_frame, signature)
    # 4.
    X_train_encoded = preprocessor.encode(train_frame)
    X_val_encoded = preprocessor.encode(frame.iloc[val_idx])
    X_val = preprocessor.expand(X_val_encoded)
    X_test = preprocessor.transform(frame.iloc[test_idx])
    # 5.
    raw = train_frame[preprocessor.feature_names]
    n_ref = min(config.reference_rows, len(raw))
    reference = raw.sample(n=n_ref, random_state=config.seed).reset_index(drop=True)
    example_rows = raw.sample(n=min(INPUT_EXAMPLE_ROWS, len(raw)), random_state=config.seed)
    input_example = json_safe(example_rows.to_dict(orient="records"))
    return PreparedData(
        signature=signature,
        preprocessor=preprocessor,
        class_labels=class_labels,
        metric=resolve_metric(config.metric, len(class_labels)),
        seed=config.seed,
        X_train_encoded=X_train_encoded,
        X_val_encoded=X_val_encoded,
        X_val=X_val,
        X_test=X_test,
        y_train=y_all[tr],
        y_val=y_all[va],
        y_test=y_all[te],
        train_idx=train_idx,
        val_idx=val_idx,
        test_idx=test_idx,
        categorical_indices=preprocessor.categorical_indices,
        reference_sample=reference,
        input_example=input_example,
        test_features=frame.iloc[test_idx][preprocessor.feature_names].reset_index(drop=True),
    )


# -- study ---------------------------------------------------------------------------------


def create_study(
    config: SearchConfig,
    *,
    storage: str | optuna.storages.BaseStorage | None = None,
    study_name: str | None = None,
    load_if_exists: bool = True,
    worker_index: int | None = None,
) -> optuna.Study:
    """A study with TPE sampling and median pruning (after 3 trials, from epoch 3 on).

    Without `storage` (one process) the sampler is seeded with config.seed, so a search is
    reproducible. With a storage, several workers may share the study: identical seeds would
    make every worker propose the same trials, so each worker passes its `worker_index` and
    gets seed + index (a job run by one worker, index 0, stays reproducible); without an index
    the sampler is seeded randomly. (A parallel search is not reproducible anyway: trial order
    depends on timing.)
    """
    config.validate()
    if storage is None:
        sampler_seed = config.seed
    elif worker_index is not None:
        sampler_seed = config.seed + worker_index
    else:
        sampler_seed = None
    return optuna.create_study(
        storage=storage,
        study_name=study_name,
        load_if_exists=load_if_exists,
        direction=metric_direction(config.metric),
        sampler=optuna.samplers.TPESampler(seed=sampler_seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=3),
    )


class _TrialFailed(Exception):
    """A trial's own error, wrapped so Optuna records the trial as failed and moves on while
    any other exception (Cancelled above all) still ends the search."""


_STATES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "waiting",
}


def trial_record(trial: FrozenTrial) -> TrialRecord:
    family = str(trial.params.get("family", ""))
    prefix = f"{family}_"
    params = {k[len(prefix) :]: v for k, v in trial.params.items() if k.startswith(prefix)}
    curve = trial.user_attrs.get("curve") or []
    if not curve and trial.intermediate_values:
        # A pruned trial's learning curve is its reported losses (negated in maximised
        # studies so the pruner ranks them the right way; a log loss is never negative).
        curve = [abs(v) for _, v in sorted(trial.intermediate_values.items())]
    duration = trial.duration.total_seconds() if trial.duration else 0.0
    # Optuna gives a pruned trial its last intermediate value: that is a loss, not the
    # objective, so only complete trials carry a value.
    complete = trial.state == TrialState.COMPLETE
    return TrialRecord(
        number=trial.number,
        family=family,
        params=params,
        imbalance=str(trial.params.get("imbalance", "")),
        state=_STATES.get(trial.state, trial.state.name.lower()),
        value=float(trial.value) if complete and trial.value is not None else None,
        duration_s=duration,
        curve=json_safe(list(curve)),
        error=str(trial.user_attrs.get("error", "")),
        cpu_seconds=float(trial.user_attrs.get("cpu_seconds", 0.0)),
    )


def fit_candidate(
    prepared: PreparedData,
    config: SearchConfig,
    *,
    family: str,
    imbalance: str,
    params: dict,
    report: Callable[[int, float], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> FittedEstimator:
    """Fit one candidate on the (resampled) training rows; validation rows only score it."""
    X, y, class_weight = prepared.training_rows(imbalance)
    return fit_model(
        family,
        params,
        X,
        y,
        prepared.X_val,
        prepared.y_val,
        class_weight=class_weight,
        seed=config.seed,
        report=report,
        should_stop=should_stop,
        max_epochs=config.max_epochs,
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


def run_trials(
    prepared: PreparedData,
    config: SearchConfig,
    *,
    study: optuna.Study,
    n_trials: int,
    on_trial: Callable[[TrialRecord], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    timeout_s: float | None = None,
) -> None:
    """Add up to `n_trials` trials to `study` (fewer when `timeout_s` passes, or when the study
    already holds config.n_trials finished trials: that cap lets several workers share one
    study without overshooting). `on_trial` gets each finished trial's record.

    A trial that raises is recorded as failed (its error text in the user attribute "error")
    and the search goes on. Raises `Cancelled` once `should_stop()` is true, whether noticed
    inside a trial (per MLP epoch) or between trials.
    """
    cancelled = False

    # The pruner ranks intermediate values in the study's direction, but what trials report
    # is a validation LOSS: a maximised study gets the negated loss, or the median pruner
    # would cut the best trials instead of the worst.
    sign = 1.0 if study.direction == StudyDirection.MINIMIZE else -1.0

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", config.families)
        imbalance = trial.suggest_categorical("imbalance", config.imbalance)
        params = suggest_params(trial, family, prepared.n_features_out)
        curve: list[float] = []  # the losses as reported, kept for pruned and failed trials
        cpu_start = time.process_time()

        def report(epoch: int, val_loss: float) -> None:
            curve.append(float(val_loss))
            trial.report(sign * val_loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(
                    f"Pruned at epoch {epoch} (validation loss {val_loss:.4f})."
                )

        try:
            estimator = fit_candidate(
                prepared,
                config,
                family=family,
                imbalance=imbalance,
                params=params,
                report=report,
                should_stop=should_stop,
            )
            curve = [float(v) for v in estimator.curve]
            proba = estimator.predict_proba(prepared.X_val)
            value = validation_score(prepared.metric, prepared.y_val, proba)
            if not np.isfinite(value):
                raise FloatingPointError(f"The validation {prepared.metric} is not finite.")
        except optuna.TrialPruned:
            raise
        except Cancelled:
            trial.set_user_attr("error", "Cancelled")
            raise
        except Exception as exc:
            trial.set_user_attr("error", _describe(exc))
            raise _TrialFailed(_describe(exc)) from exc
        finally:
            trial.set_user_attr("curve", json_safe(curve))
            trial.set_user_attr("cpu_seconds", time.process_time() - cpu_start)
        return value

    def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        nonlocal cancelled
        if on_trial is not None:
            on_trial(trial_record(trial))
        if should_stop():
            cancelled = True
            study.stop()

    if should_stop():
        raise Cancelled("The search was cancelled before it started.")
    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    if len(study.get_trials(deepcopy=False, states=finished)) >= config.n_trials:
        return  # other workers (or an earlier run of this job) already did them all
    study.optimize(
        objective,
        n_trials=n_trials,
        timeout=timeout_s,
        catch=(_TrialFailed,),
        callbacks=[after_trial, MaxTrialsCallback(config.n_trials, states=finished)],
    )
    if cancelled:
        raise Cancelled("The search was cancelled.")


# -- result --------------------------------------------------------------------------------


def _failure_reason(records: list[TrialRecord]) -> str:
    if not records:
        return "No trial ran."
    failed = [r for r in records if r.state == "failed"]
    pruned = sum(r.state == "pruned" for r in records)
    reason = f"No trial completed ({len(failed)} failed, {pruned} pruned)."
    errors = Counter(r.error or "unknown error" for r in failed)
    if errors:
        listed = "; ".join(
            f"{error} ({n} trial{'s' if n != 1 else ''})" for error, n in errors.most_common()
        )
        reason += f" Errors: {listed}"
    return reason


def finalize(prepared: PreparedData, config: SearchConfig, *, study: optuna.Study) -> SearchResult:
    """1. Pick the best COMPLETE trial (NoSuccessfulTrials listing the errors if none).
    2. Refit its family, imbalance strategy and parameters on the training rows with the same
       seed, so the refit reproduces the trial's model.
    3. Fit the calibrator on the validation rows (engine.calibration), then choose the
       threshold (binary) on the calibrated validation probabilities and score the config
       metric there.
    4. Evaluate once on the test rows, calibrated; the ECE before calibration is kept too.
    5. Permutation importance of every input feature on the validation rows.
    6. Mean |SHAP| of every input feature on the reference sample (engine.explain).
    7. Bootstrap intervals of the test metrics and metrics per slice of every categorical
       feature (engine.card), for the model card.
    """
    # 1.
    records = [trial_record(t) for t in study.get_trials(deepcopy=False)]
    complete = [r for r in records if r.state == "complete"]
    if not complete:
        raise NoSuccessfulTrials(_failure_reason(records))
    best = trial_record(study.best_trial)
    # 2.
    started = time.monotonic()
    estimator = fit_candidate(
        prepared, config, family=best.family, imbalance=best.imbalance, params=best.params
    )
    # 3.
    raw_val = estimator.predict_proba(prepared.X_val)
    calibrator = fit_calibrator(prepared.y_val, raw_val, seed=config.seed)
    p_val = calibrator.apply(raw_val)
    threshold = choose_threshold(prepared.y_val, p_val) if prepared.n_classes == 2 else None
    # Scored as the trials were, on the model's own probabilities: the refit reproduces the
    # winning trial's value.
    score = validation_score(prepared.metric, prepared.y_val, raw_val)
    model = FittedModel(
        preprocessor=prepared.preprocessor,
        estimator=estimator,
        class_labels=list(prepared.class_labels),
        threshold=threshold,
        family=best.family,
        params=dict(best.params),
        signature=prepared.signature,
        calibrator=calibrator,
    )
    # 4.
    raw_test = estimator.predict_proba(prepared.X_test)
    test_metrics = evaluate(
        prepared.y_test,
        calibrator.apply(raw_test),
        class_labels=prepared.class_labels,
        threshold=threshold,
    )
    uncalibrated = evaluate(
        prepared.y_test, raw_test, class_labels=prepared.class_labels, threshold=threshold
    )
    test_metrics["ece_uncalibrated"] = uncalibrated["ece"]
    test_metrics["log_loss_uncalibrated"] = uncalibrated["log_loss"]
    test_metrics["calibration"] = {
        "method": calibrator.method,
        "validation_log_loss": calibrator.scores,
    }
    test_metrics["curves"]["calibration_uncalibrated"] = uncalibrated["curves"]["calibration"]
    # 5.
    importance = permutation_importances(
        lambda encoded: calibrator.apply(
            estimator.predict_proba(prepared.preprocessor.expand(encoded))
        ),
        prepared.X_val_encoded,
        prepared.y_val,
        prepared.preprocessor.feature_names,
        seed=config.seed,
    )
    # 6. An explanation that fails must not cost the search its model: the reason is kept.
    from engine.explain import global_importance

    try:
        test_metrics["shap_importance"] = global_importance(
            model, prepared.reference_sample, seed=config.seed
        )
    except Exception as exc:  # noqa: BLE001 - any explainer error is reported, not raised
        test_metrics["shap_importance"] = {"error": f"{type(exc).__name__}: {exc}"}
    # 7. The model card's intervals and slices, from the test rows.
    if prepared.test_features is not None:
        from engine.card import card_evaluation

        test_metrics["card"] = card_evaluation(
            model, prepared.test_features, prepared.y_test, seed=config.seed
        )
    test_metrics["refit_seconds"] = round(time.monotonic() - started, 3)
    return SearchResult(
        best=best,
        model=model,
        test_metrics=test_metrics,
        validation_score=float(score),
        metric=prepared.metric,
        signature=prepared.signature,
        reference_sample=prepared.reference_sample,
        input_example=prepared.input_example,
        feature_importance=importance,
        n_complete=len(complete),
        n_pruned=sum(r.state == "pruned" for r in records),
        n_failed=sum(r.state == "failed" for r in records),
    )


def run_search(
    frame: pd.DataFrame,
    config: SearchConfig,
    *,
    columns: list[dict],
    on_trial: Callable[[TrialRecord], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    storage: str | optuna.storages.BaseStorage | None = None,
    study_name: str | None = None,
) -> SearchResult:
    """prepare_data + create_study + run_trials + finalize, in this process."""
    prepared = prepare_data(frame, config, columns=columns)
    study = create_study(config, storage=storage, study_name=study_name)
    run_trials(
        prepared,
        config,
        study=study,
        n_trials=config.n_trials,
        on_trial=on_trial,
        should_stop=should_stop,
        timeout_s=config.timeout_s,
    )
    return finalize(prepared, config, study=study)
