"""The fixed least-squares problem of the learning-rate-free parity tests.

Three tensors of shapes 4x3, 3 and 2x5, flattened into one vector theta;
f(theta) = ||A theta - b||^2 / (2m) with a fixed A (40 x 25) and b. Gradients are computed
in float64 NumPy from the current params, for the reference and for lrjax alike, so
that the trajectories differ only by the optimizers' arithmetic.
"""

from __future__ import annotations

import numpy as np

SHAPES = {"w": (4, 3), "b": (3,), "v": (2, 5)}
_SIZE = sum(int(np.prod(s)) for s in SHAPES.values())
_RNG = np.random.default_rng(0)
A = _RNG.normal(size=(40, _SIZE))
B = _RNG.normal(size=40)


def start() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {k: rng.normal(size=s) * 0.5 for k, s in SHAPES.items()}


def flat(params: dict) -> np.ndarray:
    return np.concatenate([np.asarray(params[k], np.float64).ravel() for k in SHAPES])


def unflat(theta: np.ndarray) -> dict[str, np.ndarray]:
    out, i = {}, 0
    for k, s in SHAPES.items():
        n = int(np.prod(s))
        out[k] = theta[i : i + n].reshape(s)
        i += n
    return out


def grad(params: dict) -> dict[str, np.ndarray]:
    theta = flat(params)
    return unflat(A.T @ (A @ theta - B) / len(B))


def loss(params: dict) -> float:
    r = A @ flat(params) - B
    return float(r @ r / (2 * len(B)))


def relative_distance(run: list, ref: list) -> float:
    """Largest relative distance between two trajectories (lists of flat vectors)."""
    return max(
        float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))
        for a, b in zip(run, ref)
    )
