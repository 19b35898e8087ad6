"""scikit-learn families' files: one `model.skops` written and read with skops.io, never
pickle, loaded only with the family's explicit trust list (never trusted=True)."""

from __future__ import annotations

import sys
from abc import abstractmethod
from collections.abc import Mapping

from engine.errors import ArtifactIntegrityError
from engine.families.base import FamilyAdapter, FittedEstimator, SklearnEstimator, required

SKOPS = "model.skops"

_skops_io = None


def skops_io():
    """skops.io, imported on first use without dragging PyTorch in.

    On import, skops builds its default trust list from scikit-learn's `all_estimators()`,
    which walks every scikit-learn package; the walk imports
    `sklearn.externals.array_api_compat.torch`, and that imports torch whenever it is
    installed: about 300 MB and seconds of start-up in a web worker that serves gradient
    boosting (bench/webproc.py). The walk skips a package that fails to import, and that
    module holds no estimator, so it is made unimportable for the duration of this import
    only (tests/engine/test_import_boundaries.py checks the result).
    """
    global _skops_io
    if _skops_io is None:
        blocked = "sklearn.externals.array_api_compat.torch"
        added = blocked not in sys.modules and "skops.io" not in sys.modules
        if added:
            sys.modules[blocked] = None  # an import of it raises ImportError
        try:
            import skops.io
        finally:
            if added and sys.modules.get(blocked, 0) is None:
                del sys.modules[blocked]
        _skops_io = skops.io
    return _skops_io


class SkopsAdapter(FamilyAdapter):
    """A family whose estimator is one scikit-learn object saved as model.skops.

    `trusted_skops_types` lists the types its files hold beyond skops' defaults (scikit-learn
    estimators, numpy arrays and dtypes, builtin containers), found with
    skops.io.get_untrusted_types on files this adapter wrote (tests/engine/test_artifacts.py
    re-checks it for every family and class count)."""

    file_names = (SKOPS,)
    trusted_skops_types: tuple[str, ...] = ()

    @abstractmethod
    def estimator_class(self) -> type:
        """The scikit-learn class a model.skops of this family must hold."""

    def files(self, estimator: FittedEstimator) -> dict[str, bytes]:
        if not isinstance(estimator, SklearnEstimator):
            raise TypeError(f"A {self.name!r} model needs a SklearnEstimator.")
        return {SKOPS: skops_io().dumps(estimator.estimator)}

    def load(
        self, files: Mapping[str, bytes], *, params: dict, class_labels: list[str]
    ) -> FittedEstimator:
        data = required(files, SKOPS, self.name)
        skops = skops_io()
        trusted = list(self.trusted_skops_types)
        untrusted = set(skops.get_untrusted_types(data=data)) - set(trusted)
        if untrusted:
            raise ArtifactIntegrityError(
                f"{SKOPS}: holds types outside the trusted list: {', '.join(sorted(untrusted))}."
            )
        estimator = skops.loads(data, trusted=trusted)
        expected_class = self.estimator_class()
        if type(estimator) is not expected_class:
            raise ArtifactIntegrityError(
                f"{SKOPS}: holds a {type(estimator).__name__}, expected {expected_class.__name__}."
            )
        return SklearnEstimator(
            family=self.name,
            estimator=estimator,
            params=params,
            curve=[],
            n_classes=len(class_labels),
        )
