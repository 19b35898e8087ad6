"""The three model families re-expressed for serving: plain arrays in, probabilities out.

The registry's loader rebuilds the training objects (a torch module, scikit-learn
estimators). Their predict paths are built for big batches and pay per call: scikit-learn's
input checks cost 0.3 ms, and HistGradientBoosting calls one Cython function per tree, about
2 ms for a single row of a 100-tree Adult model (measured, see bench/serving/README.md). Here
each family becomes a few arrays:

- logreg: coefficients and intercepts, one matrix product;
- mlp: float32 weight matrices, ReLU between them (dropout is off at inference);
- hgb: every tree's nodes flattened into one set of arrays and walked by a numba kernel,
  row by row, tree by tree, adding leaf values in the order scikit-learn adds them, so the raw
  scores are bit-for-bit scikit-learn's.

The tests check each against the loader's `predict_proba` on the same rows.
"""

from __future__ import annotations

import numpy as np

from engine.families import FittedEstimator, SklearnEstimator


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _expit(z: np.ndarray) -> np.ndarray:
    # Split by sign so neither branch overflows.
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def _binary_or_softmax(raw: np.ndarray) -> np.ndarray:
    if raw.shape[1] == 1:
        p1 = _expit(raw[:, 0])
        return np.column_stack([1.0 - p1, p1])
    return _softmax(raw)


def _placed(proba: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Columns placed by the estimator's classes_ (always (n, K)), rows normalised, as the
    training-side `SklearnEstimator.predict_proba` does."""
    if proba.shape[1] == n_classes and np.array_equal(classes, np.arange(n_classes)):
        full = proba
    else:
        full = np.zeros((proba.shape[0], n_classes))
        full[:, classes] = proba
    return full / full.sum(axis=1, keepdims=True)


_blas_limited = False


def _single_threaded_blas() -> None:
    """One BLAS thread in a serving process, set once.

    OpenBLAS splits even a 1x108 by 108x512 product across its threads, which then spin:
    measured here, a single-row MLP request cost 8 ms of CPU with the default pool and
    about 3 ms with one thread. Serving processes parallelise by process (gunicorn workers),
    and training sets its own limit around each fit (`limited_threads`).
    """
    global _blas_limited
    if not _blas_limited:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
        _blas_limited = True


class LinearServing:
    def __init__(self, estimator: SklearnEstimator):
        _single_threaded_blas()
        sk = estimator.estimator
        self.coef_t = np.ascontiguousarray(sk.coef_.T, dtype=np.float64)
        self.intercept = np.asarray(sk.intercept_, dtype=np.float64)
        self.classes = np.asarray(sk.classes_, dtype=np.int64)
        self.n_classes = estimator.n_classes

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raw = X.astype(np.float64) @ self.coef_t + self.intercept
        return _placed(_binary_or_softmax(raw), self.classes, self.n_classes)


class MLPServing:
    def __init__(self, estimator):  # engine.mlp.MLPEstimator; torch is not imported here
        _single_threaded_blas()
        linears = [m for m in estimator.network.layers if hasattr(m, "weight")]
        self.layers = [
            (
                np.ascontiguousarray(m.weight.detach().cpu().numpy().T, dtype=np.float32),
                m.bias.detach().cpu().numpy().astype(np.float32),
            )
            for m in linears
        ]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        h = np.asarray(X, dtype=np.float32)
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < last:
                np.maximum(h, 0.0, out=h)
        proba = _softmax(h.astype(np.float64))
        return proba / proba.sum(axis=1, keepdims=True)


def _forest_kernel():
    """Compile (or load from numba's on-disk cache) the tree walker on first use."""
    import numba

    @numba.njit(cache=True, nogil=True)
    def forest_raw(
        X, feature, threshold, missing_right, children, value, roots, depths, out_col, raw
    ):
        # Leaves loop to themselves (threshold +inf, both children the leaf), so a walk may
        # take more steps than its path without changing where it ends. children[2 * node +
        # 1] is the right child: the comparison picks the child without a branch. X may be
        # float32: widening to float64 is exact, so the comparisons are scikit-learn's. Each
        # row adds its trees in scikit-learn's order.
        n = X.shape[0]
        width = 8
        nodes = np.empty(width, dtype=np.int64)
        for t in range(roots.shape[0]):
            col = out_col[t]
            root = roots[t]
            if n < width:
                # A few rows: each walks until its leaf.
                for i in range(n):
                    node = root
                    while True:
                        x = np.float64(X[i, feature[node]])
                        step = missing_right[node] if x != x else x > threshold[node]
                        nxt = children[2 * node + step]
                        if nxt == node:
                            break
                        node = nxt
                    raw[i, col] += value[node]
                continue
            # Many rows: eight walks in step for the tree's full depth. They are independent,
            # so the CPU overlaps their memory loads (about 1.5x faster on 100 rows here).
            for start in range(0, n, width):
                m = min(width, n - start)
                for k in range(m):
                    nodes[k] = root
                for _ in range(depths[t]):
                    for k in range(m):
                        node = nodes[k]
                        x = np.float64(X[start + k, feature[node]])
                        step = missing_right[node] if x != x else x > threshold[node]
                        nodes[k] = children[2 * node + step]
                for k in range(m):
                    raw[start + k, col] += value[nodes[k]]

    return forest_raw


_kernel = None


def _depth(tree: np.ndarray) -> int:
    """Edges on the longest root-to-leaf path of one scikit-learn predictor's node array."""
    deepest = 0
    stack = [(0, 0)]
    while stack:
        node, depth = stack.pop()
        if tree["is_leaf"][node]:
            deepest = max(deepest, depth)
        else:
            stack.append((int(tree["left"][node]), depth + 1))
            stack.append((int(tree["right"][node]), depth + 1))
    return deepest


class ForestServing:
    """HistGradientBoostingClassifier without scikit-learn's per-tree calls.

    The trees are flattened into a few arrays with global child indices; leaves loop to
    themselves, and each tree's depth bounds a walk (see the kernel).
    """

    def __init__(self, estimator: SklearnEstimator):
        sk = estimator.estimator
        nodes, roots, out_col = [], [], []
        offset = 0
        for iteration in sk._predictors:
            for k, predictor in enumerate(iteration):
                tree = predictor.nodes
                if tree["is_categorical"].any():
                    raise ValueError("Native categorical splits are not supported for serving.")
                nodes.append(tree)
                roots.append(offset)
                out_col.append(k)
                offset += len(tree)
        flat = np.concatenate(nodes)
        # Child indices are per tree; make them global.
        shift = np.repeat(np.asarray(roots, dtype=np.int64), [len(t) for t in nodes])
        leaf = flat["is_leaf"].astype(bool)
        n_nodes = len(flat)
        index = np.arange(n_nodes, dtype=np.int64)
        left = np.where(leaf, index, flat["left"].astype(np.int64) + shift)
        right = np.where(leaf, index, flat["right"].astype(np.int64) + shift)
        self.feature = np.where(leaf, 0, flat["feature_idx"]).astype(np.int32)
        self.threshold = np.where(leaf, np.inf, flat["num_threshold"]).astype(np.float64)
        self.missing_right = ((flat["missing_go_to_left"] == 0) & ~leaf).astype(np.uint8)
        self.children = np.empty(2 * n_nodes, dtype=np.int32)
        self.children[0::2] = left
        self.children[1::2] = right
        self.value = np.where(leaf, flat["value"], 0.0).astype(np.float64)
        self.depths = np.asarray([_depth(tree) for tree in nodes], dtype=np.int32)
        self.roots = np.asarray(roots, dtype=np.int32)
        self.out_col = np.asarray(out_col, dtype=np.int32)
        self.baseline = np.asarray(sk._baseline_prediction, dtype=np.float64).reshape(1, -1)
        self.classes = np.asarray(sk.classes_, dtype=np.int64)
        self.n_classes = estimator.n_classes
        global _kernel
        if _kernel is None:
            _kernel = _forest_kernel()
        self._kernel = _kernel

    def raw_scores(self, X: np.ndarray) -> np.ndarray:
        if X.dtype != np.float32:
            X = np.asarray(X, dtype=np.float64)
        X = np.ascontiguousarray(X)
        raw = np.repeat(self.baseline, X.shape[0], axis=0)
        self._kernel(
            X,
            self.feature,
            self.threshold,
            self.missing_right,
            self.children,
            self.value,
            self.roots,
            self.depths,
            self.out_col,
            raw,
        )
        return raw

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _placed(_binary_or_softmax(self.raw_scores(X)), self.classes, self.n_classes)


def serving_estimator(estimator: FittedEstimator):
    """The serving form of a loaded estimator (raises ValueError for an unknown family)."""
    if estimator.family == "mlp":
        return MLPServing(estimator)
    if estimator.family == "logreg":
        return LinearServing(estimator)
    if estimator.family == "hgb":
        return ForestServing(estimator)
    raise ValueError(f"No serving path for model family {estimator.family!r}.")
