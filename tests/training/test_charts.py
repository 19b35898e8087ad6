"""The training job's figures from trial rows (no page): families keep their colours, the
best-so-far line follows the direction, and figures without enough trials explain why."""

import pytest

from core import charts as palette
from training import charts
from training.models import TrainingJob, Trial


def _trials(values, family="hgb", state="complete"):
    return [
        Trial(number=i, family=family, state=state, value=v, params={"lr": 0.1 * (i + 1)})
        for i, v in enumerate(values)
    ]


def _figures(trials, metric="roc_auc"):
    job = TrainingJob(config={"metric": metric}, n_trials=len(trials))
    return {c["id"]: c for c in charts.training_job_charts(job, trials)}


@pytest.mark.parametrize(
    "metric, best", [("roc_auc", [0.7, 0.8, 0.8]), ("log_loss", [0.7, 0.7, 0.6])]
)
def test_history_tracks_the_best_in_the_search_direction(metric, best):
    figures = _figures(_trials([0.7, 0.8, 0.6]), metric)
    history = figures["chart-history"]["figure"]["data"]
    hgb = next(t for t in history if t["name"] == "hgb")
    assert hgb["marker"]["color"] == palette.family_colour("hgb")
    assert next(t for t in history if t["name"] == "best so far")["y"] == best


def test_importance_needs_four_complete_trials_and_says_so():
    figures = _figures(_trials([0.7, 0.8, 0.6]))
    assert figures["chart-importance"]["figure"] is None
    assert "at least 4 complete trials (3 so far)" in figures["chart-importance"]["note"]


def test_learning_curves_only_for_trials_with_curves():
    trials = _trials([0.7, 0.8], family="mlp")
    trials[0].curve = [0.6, 0.5, 0.45]
    figures = _figures(trials)
    curves = figures["chart-curves"]["figure"]["data"]
    assert len(curves) == 1 and curves[0]["y"] == [0.6, 0.5, 0.45]
    assert curves[0]["line"]["color"] == palette.family_colour("mlp")
    assert "chart-curves" not in _figures(_trials([0.7, 0.8]))


def test_family_colours_follow_the_vocabulary():
    assert [palette.family_colour(f) for f in ("mlp", "hgb", "logreg")] == [
        palette.BLUE,
        palette.GREEN,
        palette.ORANGE,
    ]
    assert palette.family_colour("unknown") == palette.VIOLET
