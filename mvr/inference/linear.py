"""Softmax (multinomial logistic) regression in numpy: fit, predict, save, load.

Used for the sentiment head and the category head learnt by ``mvr fit``. Both
read L2-normalised sentence embeddings, so no feature scaling is needed.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mvr.errors import InferenceFailed

__all__ = ["LinearHead", "fit_softmax", "load_arrays", "save_arrays", "softmax"]

#: Default Adam step size.
DEFAULT_LEARNING_RATE = 0.05
#: Default number of full-batch Adam steps.
DEFAULT_STEPS = 300
#: Default L2 penalty on the weights (not the bias), per example.
DEFAULT_L2 = 1e-4
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Return row-wise softmax of ``logits`` [n, k]; each row sums to 1."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exps = np.exp(shifted)
    probs: np.ndarray = exps / exps.sum(axis=-1, keepdims=True)
    return probs


@dataclass(frozen=True)
class LinearHead:
    """A fitted linear classifier: ``softmax(x @ weights + bias)``.

    Attributes:
        weights: Array [d, k].
        bias: Array [k].
        classes: The k class names, in column order.
    """

    weights: np.ndarray
    bias: np.ndarray
    classes: tuple[str, ...]

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Return class probabilities [n, k] for ``features`` [n, d]."""
        return softmax(self.logits(features))

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Return the logits [n, k] whose softmax is ``predict_proba``."""
        logits: np.ndarray = features.astype(np.float32) @ self.weights + self.bias
        return logits

    def save(self, path: Path) -> None:
        """Write the head to ``path`` as an ``.npz`` file, byte-identical for identical heads."""
        save_arrays(
            path, {"weights": self.weights, "bias": self.bias, "classes": np.array(self.classes, dtype=str)}
        )

    @classmethod
    def load(cls, path: Path) -> LinearHead:
        """Read a head written by ``save``.

        Raises:
            InferenceFailed: The file is missing or malformed.
        """
        arrays = load_arrays(path, ("weights", "bias", "classes"), "linear head")
        head = cls(
            weights=arrays["weights"].astype(np.float32),
            bias=arrays["bias"].astype(np.float32),
            classes=tuple(str(c) for c in arrays["classes"]),
        )
        if head.weights.shape[1] != len(head.classes) or head.bias.shape != (len(head.classes),):
            raise InferenceFailed(f"linear head {path} has inconsistent shapes")
        return head


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as an ``.npz`` file, byte-identical for identical arrays."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # np.savez stamps the current time into the zip; a fixed date keeps the sha256 reproducible.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE), "w") as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(array), allow_pickle=False)


def load_arrays(path: Path, names: Sequence[str], what: str) -> dict[str, np.ndarray]:
    """Read the arrays ``names`` of an ``.npz`` file written by ``save_arrays``.

    Raises:
        InferenceFailed: The file is missing or lacks one of ``names`` (``what`` names it).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in names}
    except (OSError, KeyError, ValueError) as ex:
        raise InferenceFailed(f"cannot load {what} {path}: {ex}") from ex


def fit_softmax(
    features: np.ndarray,
    labels: Sequence[str],
    *,
    classes: Sequence[str] | None = None,
    l2: float = DEFAULT_L2,
    steps: int = DEFAULT_STEPS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    class_weight: str | None = None,
    sample_weight: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
) -> LinearHead:
    """Fit a softmax regression with full-batch Adam; deterministic.

    Args:
        features: Array [n, d].
        labels: n class names.
        classes: Column order (default: sorted distinct labels).
        l2: L2 penalty on the weights.
        steps: Number of Adam steps.
        learning_rate: Adam step size.
        class_weight: ``"balanced"`` weighs each class by n / (k * count).
        sample_weight: Optional weight [n] of each example, multiplied with the class weight.
        progress: Called with 1 after each step.

    Returns:
        The fitted head.
    """
    names = tuple(classes) if classes is not None else tuple(sorted(set(labels)))
    index = {name: i for i, name in enumerate(names)}
    y = np.array([index[label] for label in labels])
    x = features.astype(np.float64)
    onehot = np.eye(len(names))[y]
    sample_w = _sample_weights(y, len(names), class_weight, sample_weight)
    params = [np.zeros((x.shape[1], len(names))), np.zeros(len(names))]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    for step in range(1, steps + 1):
        residual = (softmax(x @ params[0] + params[1]) - onehot) * sample_w[:, None]
        grads = [x.T @ residual + l2 * params[0], residual.sum(axis=0)]
        for p, g, m in zip(params, grads, moments, strict=True):
            _adam_step(p, g, m, step, learning_rate)
        if progress is not None:
            progress(1)
    return LinearHead(params[0].astype(np.float32), params[1].astype(np.float32), names)


def _sample_weights(
    y: np.ndarray, k: int, class_weight: str | None, sample_weight: np.ndarray | None
) -> np.ndarray:
    counts = np.bincount(y, minlength=k).astype(np.float64)
    if class_weight == "balanced":
        per_class = len(y) / (k * np.maximum(counts, 1.0))
    else:
        per_class = np.ones(k)
    weights = per_class[y]
    if sample_weight is not None:
        weights = weights * np.asarray(sample_weight, dtype=np.float64)
    normalised: np.ndarray = weights / weights.sum()
    return normalised


def _adam_step(param: np.ndarray, grad: np.ndarray, moment: list[np.ndarray], step: int, lr: float) -> None:
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    moment[0] *= beta1
    moment[0] += (1 - beta1) * grad
    moment[1] *= beta2
    moment[1] += (1 - beta2) * grad * grad
    m_hat = moment[0] / (1 - beta1**step)
    v_hat = moment[1] / (1 - beta2**step)
    param -= lr * m_hat / (np.sqrt(v_hat) + eps)
