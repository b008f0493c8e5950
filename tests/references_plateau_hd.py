"""Float64 NumPy transcriptions of plateau reduction and hypergradient descent.

Written as plain loops from the sources, in the learning-rate space the libraries use
(not lrjax's scale factor), so that they check lrjax's formulation rather than repeat it.
"""

from __future__ import annotations

import math

import numpy as np


class AmbiguousDecision(AssertionError):
    """A plateau decision closer to a tie than the resolution asked for."""


def plateau_learning_rates(
    values,
    lr: float,
    *,
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: str = "rel",
    cooldown: int = 0,
    min_lr: float = 0.0,
    mode: str = "min",
    convention: str = "pytorch",
    eps: float = 1e-8,
    min_scale: float = 0.0,
    accumulation_size: int = 1,
    resolution: float = 0.0,
) -> np.ndarray:
    """The learning rate in force after each value, for a constant base rate ``lr``.

    ``convention="pytorch"`` transcribes ``ReduceLROnPlateau.step`` and ``_reduce_lr``
    (torch/optim/lr_scheduler.py); ``"keras"`` transcribes ``on_epoch_end`` and
    ``_reduce_optimizer_lr`` (keras/src/callbacks/reduce_lr_on_plateau.py). The
    improvement test is lrjax's: the relative margin is ``threshold * |best|``.
    Values are averaged over ``accumulation_size`` calls before each decision.

    ``resolution > 0`` raises :class:`AmbiguousDecision` unless every decision is
    unambiguous at that relative resolution: the two sides of each improvement test,
    and of PyTorch's minimum-change test ``old - new > eps``, differ by at least
    ``resolution`` times the magnitude of the numbers compared (for a mean, of the
    values averaged). A computation whose rounding of those numbers stays below that,
    float32 for one, then makes this loop's decisions on the same values.
    """
    sign = 1.0 if mode == "min" else -1.0
    best = math.inf * sign
    best_scale = 0.0  # the magnitude of the values that made ``best``
    floor = max(min_lr, min_scale * lr)
    bad = 0
    cooldown_counter = 0
    current = lr
    out = []
    window: list[float] = []

    def is_better(a: float, scale: float, b: float) -> bool:
        x, y = sign * a, sign * b
        if math.isinf(y):
            return x < y
        margin = threshold * abs(y) if threshold_mode == "rel" else threshold
        bar = y - margin
        if abs(x - bar) < resolution * max(scale, best_scale, abs(bar)):
            raise AmbiguousDecision(f"{x!r} against {bar!r} (best {y!r})")
        return x < bar

    def reduces(old: float, new: float) -> bool:
        # A cut the floor blocks (new == old) is exact in any precision: not ambiguous.
        if new != old and abs((old - new) - eps) < resolution * old:
            raise AmbiguousDecision(f"{old!r} - {new!r} against eps {eps!r}")
        return old - new > eps

    def above_floor(old: float) -> bool:
        # Keras cuts only above the floor; a rate already at the floor equals it exactly.
        if old != floor and abs(old - floor) < resolution * old:
            raise AmbiguousDecision(f"{old!r} against the floor {floor!r}")
        return old > floor

    for v in values:
        window.append(float(v))
        if len(window) < accumulation_size:
            out.append(current)
            continue
        a = sum(window) / len(window)
        scale = max(abs(w) for w in window)
        window = []
        if convention == "pytorch":
            if is_better(a, scale, best):
                best, best_scale, bad = a, scale, 0
            else:
                bad += 1
            if cooldown_counter > 0:
                cooldown_counter -= 1
                bad = 0
            if bad > patience:
                new = max(current * factor, floor)
                if reduces(current, new):
                    current = new
                cooldown_counter = cooldown
                bad = 0
        else:
            if cooldown_counter > 0:
                cooldown_counter -= 1
                bad = 0
            if is_better(a, scale, best):
                best, best_scale, bad = a, scale, 0
            elif cooldown_counter == 0:
                bad += 1
                if bad >= patience and above_floor(current):
                    current = max(current * factor, floor)
                    cooldown_counter = cooldown
                    bad = 0
        out.append(current)
    return np.asarray(out, np.float64)


def _flat(tree) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in tree])


def sgd_hd(
    grad_fn, theta0, alpha0: float, beta: float, steps: int, *, momentum=0.0, nesterov=False
):
    """SGD-HD (Baydin et al., 2018, Algorithm 2; with momentum as in their code).

    ``g_t = ∇f(θ_{t-1})``, ``α_t = α_{t-1} + β g_t·d_{t-1}``,
    ``θ_t = θ_{t-1} − α_t d_t``
    with ``d = g`` (plain), the heavy-ball buffer, or Nesterov's look-ahead, and
    ``d_0 = 0``. Returns the parameters and learning rates after each step.
    """
    theta = np.asarray(theta0, np.float64).copy()
    alpha = float(alpha0)
    prev = np.zeros_like(theta)
    buf = np.zeros_like(theta)
    thetas, alphas = [], []
    for _ in range(steps):
        g = np.asarray(grad_fn(theta), np.float64)
        alpha = alpha + beta * float(g @ prev)
        if momentum:
            buf = momentum * buf + g
            d = g + momentum * buf if nesterov else buf
        else:
            d = g
        theta = theta - alpha * d
        prev = d
        thetas.append(theta.copy())
        alphas.append(alpha)
    return np.asarray(thetas), np.asarray(alphas)


def adam_hd(
    grad_fn, theta0, alpha0: float, beta: float, steps: int, *, b1=0.9, b2=0.999, eps=1e-8
):
    """Adam-HD (Baydin et al., 2018, Algorithm 6), in the form stated in the paper.

    ``α_t = α_{t-1} + β g_t·u_{t-1}`` with ``u = m̂/(√v̂ + ε)`` and ``u_0 = 0``;
    ``θ_t = θ_{t-1} − α_t u_t``.
    """
    theta = np.asarray(theta0, np.float64).copy()
    alpha = float(alpha0)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    prev = np.zeros_like(theta)
    thetas, alphas = [], []
    for t in range(1, steps + 1):
        g = np.asarray(grad_fn(theta), np.float64)
        alpha = alpha + beta * float(g @ prev)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        u = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        theta = theta - alpha * u
        prev = u
        thetas.append(theta.copy())
        alphas.append(alpha)
    return np.asarray(thetas), np.asarray(alphas)


def multiplicative_hd(
    grad_fn,
    theta0,
    alpha0: float,
    beta: float,
    steps: int,
    direction="sgd",
    *,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    min_lr=0.0,
    max_lr=math.inf,
):
    """lrjax's scale-free rule ``α_t = α_{t-1}(1 + β cos(g_t, d_{t-1}))``, clipped.

    ``cos`` is 0 when either vector is zero (the first step). ``direction`` is
    ``"sgd"`` (``d = g``) or ``"adam"`` (``d = m̂/(√v̂ + ε)``).
    """
    theta = np.asarray(theta0, np.float64).copy()
    alpha = float(alpha0)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    prev = np.zeros_like(theta)
    thetas, alphas = [], []
    for t in range(1, steps + 1):
        g = np.asarray(grad_fn(theta), np.float64)
        norms = np.linalg.norm(g) * np.linalg.norm(prev)
        cos = float(g @ prev) / norms if norms > 0 else 0.0
        alpha = min(max(alpha * (1 + beta * cos), min_lr), max_lr)
        if direction == "sgd":
            d = g
        else:
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            d = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        theta = theta - alpha * d
        prev = d
        thetas.append(theta.copy())
        alphas.append(alpha)
    return np.asarray(thetas), np.asarray(alphas)
