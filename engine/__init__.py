"""Modelyard's engine: training and model code with no Django (pandas, numpy, scikit-learn,
PyTorch, Optuna).

The apps call into it and store what comes back: `training` runs `search` (`prepare_data`,
`create_study`, `run_trials`, `finalize`) on workers, `registry` writes and verifies version
directories with `artifacts`, `inference` builds its serving form from a loaded `model`.
It imports no Django and no app (`.importlinter`), and PyTorch and Optuna only where they
are used (`engine.families.mlp_torch`, `engine.search`), so a web worker that serves no MLP
never loads them (tests/engine/test_import_boundaries.py).
"""

from engine.errors import Cancelled, NoSuccessfulTrials

__all__ = ["Cancelled", "NoSuccessfulTrials"]
