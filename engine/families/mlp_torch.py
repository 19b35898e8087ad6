"""The MLP family's PyTorch side: network, fitted estimator and its training loop.

Imported only by the MLP adapter's methods (`engine.families.mlp`) when an MLP is fitted or
loaded, so processes that never touch an MLP never import torch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from engine.errors import Cancelled
from engine.families.base import (
    PATIENCE,
    PREDICT_CHUNK,
    FittedEstimator,
    log_loss_of,
    thread_budget,
)

_torch_threads: int | None = None


def _configure_torch_threads() -> None:
    """torch.set_num_threads is process-wide and not free: call it only when the budget changes."""
    global _torch_threads
    threads = thread_budget()
    if _torch_threads != threads:
        torch.set_num_threads(threads)
        _torch_threads = threads


class MLPNet(nn.Module):
    """Linear → ReLU → Dropout blocks, then a linear layer to class logits. No BatchNorm, so a
    one-row batch trains like any other."""

    def __init__(self, *, in_features: int, hidden: list[int], dropout: float, n_classes: int):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class MLPEstimator(FittedEstimator):
    family = "mlp"

    def __init__(self, *, network: MLPNet, architecture: dict, params: dict, curve: list[float]):
        self.network = network
        self.architecture = architecture
        self.params = params
        self.curve = curve

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        _configure_torch_threads()
        self.network.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(X), PREDICT_CHUNK):
                chunk = torch.as_tensor(np.asarray(X[start : start + PREDICT_CHUNK], np.float32))
                out.append(torch.softmax(self.network(chunk), dim=1).double().numpy())
        proba = np.concatenate(out) if out else np.zeros((0, self.architecture["n_classes"]))
        return proba / proba.sum(axis=1, keepdims=True)

    def weights(self) -> dict[str, torch.Tensor]:
        """The state dict as contiguous CPU tensors, ready for `safetensors.torch.save_file`."""
        return {
            k: v.detach().cpu().contiguous().clone() for k, v in self.network.state_dict().items()
        }

    @classmethod
    def from_weights(
        cls, *, architecture: dict, weights: dict[str, torch.Tensor], params: dict
    ) -> MLPEstimator:
        network = _build_network(architecture)
        network.load_state_dict(weights, strict=True)
        network.eval()
        return cls(network=network, architecture=architecture, params=params, curve=[])


def _build_network(architecture: dict) -> MLPNet:
    return MLPNet(
        in_features=int(architecture["in_features"]),
        hidden=[int(h) for h in architecture["hidden"]],
        dropout=float(architecture["dropout"]),
        n_classes=int(architecture["n_classes"]),
    )


def fit_mlp(
    params: dict,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    n_classes: int,
    class_weight: dict | None,
    seed: int,
    report: Callable[[int, float], None] | None,
    should_stop: Callable[[], bool],
    max_epochs: int,
) -> MLPEstimator:
    """Adam on cross-entropy (class-weighted when asked), early stopping on the unweighted
    validation log loss with patience PATIENCE, best weights restored at the end."""
    _configure_torch_threads()
    torch.manual_seed(seed)  # weight initialisation and dropout masks
    shuffle = torch.Generator().manual_seed(seed)
    architecture = {
        "in_features": int(X_train.shape[1]),
        "hidden": [int(params["width"])] * int(params["depth"]),
        "dropout": float(params["dropout"]),
        "n_classes": n_classes,
    }
    network = _build_network(architecture)
    optimizer = torch.optim.Adam(
        network.parameters(), lr=params["lr"], weight_decay=params["weight_decay"]
    )
    weight = None
    if class_weight:
        weight = torch.tensor([class_weight[c] for c in range(n_classes)], dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    xt = torch.as_tensor(np.asarray(X_train, dtype=np.float32))
    yt = torch.as_tensor(y_train)
    estimator = MLPEstimator(
        network=network, architecture=architecture, params=dict(params), curve=[]
    )
    batch_size = int(params["batch_size"])

    best_loss, best_state, stale = np.inf, None, 0
    for epoch in range(1, max_epochs + 1):
        if should_stop():
            raise Cancelled("Training was cancelled.")
        network.train()
        order = torch.randperm(len(xt), generator=shuffle)
        for start in range(0, len(xt), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(network(xt[batch]), yt[batch])
            loss.backward()
            optimizer.step()
        val_loss = log_loss_of(y_val, estimator.predict_proba(X_val))
        estimator.curve.append(val_loss)
        if report is not None:
            report(epoch, val_loss)
        if np.isfinite(val_loss) and val_loss < best_loss - 1e-6:
            best_loss, stale = val_loss, 0
            best_state = copy.deepcopy(network.state_dict())
        else:
            stale += 1
            if stale >= PATIENCE:
                break
    if best_state is None:
        raise FloatingPointError("The MLP's validation loss was never finite (training diverged).")
    network.load_state_dict(best_state)
    network.eval()
    return estimator
