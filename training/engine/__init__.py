"""Modelyard's training engine: plain Python (pandas, numpy, scikit-learn, PyTorch, Optuna).

No Django here: the Django task calls `search.run_search` (or `prepare_data`, `create_study`,
`run_trials` and `finalize` across several workers) and stores what comes back.

Modules are imported on demand so that `from training.engine import Cancelled` stays cheap.
"""

from training.engine.errors import Cancelled, NoSuccessfulTrials

__all__ = ["Cancelled", "NoSuccessfulTrials"]
