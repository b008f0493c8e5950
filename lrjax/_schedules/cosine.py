"""Cosine annealing: one decay (`cosine_decay`) and warm restarts (`cosine_restarts`).

Both compute the cosine as squared sines and cosines of half-angles
(`arithmetic.cos_weights`), so that float32 values keep their relative accuracy where
they approach the floor.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .._shared import validate
from .._shared.base import Schedule
from .arithmetic import as_float, cast, concrete, cos_weights, float_dtype, fractions, power

_INF = float("inf")


def cosine_decay(init_value: float, decay_steps: int, *, alpha: float = 0.0) -> Schedule:
    r"""Cosine annealing from $\eta_0$ to $\alpha\eta_0$ over $T$ steps.

    $$
    \eta(n) = \eta_0\Big((1 - \alpha)\tfrac12\big(1 + \cos(\pi \min(n,T)/T)\big)
              + \alpha\Big)
    $$

    then constant at $\alpha\eta_0$. Computed through half-angle squares, so the
    rate keeps its float32 relative accuracy as it approaches $\alpha\eta_0 = 0$.

    Args:
      init_value: $\eta_0 \ge 0$.
      decay_steps: $T \ge 1$.
      alpha: the final rate as a fraction of $\eta_0$, in $[0, 1]$.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.cosine_decay(1.0, decay_steps=10, alpha=0.1)
      >>> print(" ".join(f"{float(s(n)):.3f}" for n in [0, 5, 10, 15]))
      1.000 0.550 0.100 0.100

    References:
      Loshchilov & Hutter, SGDR: Stochastic Gradient Descent with Warm Restarts, 2017,
      https://arxiv.org/abs/1608.03983. Keras `CosineDecay(η0, T, alpha)` (no
      warm-up) and optax `cosine_decay_schedule`: identical at every step. PyTorch
      `CosineAnnealingLR(T_max=T, eta_min=α η0)`: identical for $n \le T$; after
      $T$ PyTorch keeps following the cosine back up, this stays at the floor.
    """
    validate.nonnegative("init_value", init_value)
    steps = validate.positive_int("decay_steps", decay_steps)
    validate.in_range("alpha", alpha, 0.0, 1.0)

    def schedule(count):
        dtype = float_dtype()
        n = jnp.clip(as_float(count, dtype), 0.0, float(steps))
        c, s = cos_weights(*fractions(n, float(steps) - n, float(steps)))
        return cast(init_value, dtype) * (c + cast(alpha, dtype) * s)

    return schedule


def _restart_starts(first: int, t_mul: float) -> np.ndarray | None:
    """Cycle start steps `T (t^i - 1)/(t - 1)` in float64, up to past 2**63."""
    starts, length = [0.0], float(first)
    while starts[-1] <= 2.0**63:
        if len(starts) > 2**15:
            return None  # t_mul so close to 1 that a table is too long
        starts.append(starts[-1] + length)
        length *= t_mul
    return np.asarray(starts)


def cosine_restarts(
    init_value: float,
    *,
    first_decay_steps: int,
    t_mul: float = 2.0,
    m_mul: float = 1.0,
    alpha: float = 0.0,
) -> Schedule:
    r"""Cosine annealing with warm restarts (SGDR).

    Cycle $i = 0, 1, \dots$ starts at $S_i = T (t^i - 1)/(t - 1)$ ($iT$
    if $t = 1$) and lasts $T_i = T t^i$ steps; with $f = (n - S_i)/T_i$

    $$
    \eta(n) = \eta_0\Big((1 - \alpha)\, m^i\, \tfrac12\big(1 + \cos \pi f\big)
              + \alpha\Big)
    $$

    The floor $\alpha\eta_0$ is not multiplied by $m^i$ (as in Keras). Cycle
    boundaries are found exactly (from a float64 table built once), so a restart lands
    on its step even in float32.

    Args:
      init_value: $\eta_0 \ge 0$.
      first_decay_steps: $T \ge 1$, the length of the first cycle.
      t_mul: $t \ge 1$, each cycle is $t$ times longer than the last.
      m_mul: $m \ge 0$, each cycle starts $m$ times lower.
      alpha: the floor as a fraction of $\eta_0$, in $[0, 1]$.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.cosine_restarts(1.0, first_decay_steps=4, t_mul=2.0, m_mul=0.5)
      >>> print(" ".join(f"{float(s(n)):.3f}" for n in [0, 2, 4, 8, 12]))
      1.000 0.500 0.500 0.250 0.250

    References:
      Loshchilov & Hutter, SGDR: Stochastic Gradient Descent with Warm Restarts, 2017,
      https://arxiv.org/abs/1608.03983. Keras `CosineDecayRestarts(η0, T, t_mul,
      m_mul, alpha)`: identical at every step. PyTorch
      `CosineAnnealingWarmRestarts(T_0=T, T_mult=t, eta_min=α η0)` (integer
      $t$, $m = 1$): identical at every step.
    """
    validate.nonnegative("init_value", init_value)
    first = validate.positive_int("first_decay_steps", first_decay_steps)
    t = concrete("t_mul", validate.in_range("t_mul", t_mul, 1.0, _INF), t_mul)
    m_checked = validate.nonnegative("m_mul", m_mul)
    validate.in_range("alpha", alpha, 0.0, 1.0)
    table = None if t == 1.0 else _restart_starts(first, t)

    def locate(n):
        """Restart index `i`, steps into the cycle, steps left, and cycle length."""
        if t == 1.0:
            # The remainder is exact in floating point (IEEE fmod), so the phase stays
            # in its cycle for any step, even where n - floor(n/T) T would round to
            # outside it (a float32 step past 2**24 is a multiple of its ulp).
            length = jnp.asarray(float(first), n.dtype)
            done = jax.lax.rem(n, length)
            i = jnp.round((n - done) / length)
            return i, done, length - done, length
        if table is not None:
            starts = jnp.asarray(table, n.dtype)
            # Tables hold <= 33 starts for t_mul >= 2: comparing against all of them
            # compiles and runs faster than a binary search there.
            method = "compare_all" if len(table) <= 64 else "scan"
            j = jnp.searchsorted(starts, n, side="right", method=method) - 1
            j = jnp.clip(j, 0, len(table) - 2)
            start, end = starts[j], starts[j + 1]
            return j.astype(n.dtype), n - start, end - n, end - start
        # t_mul within ~3e-4 of 1: invert S_i and correct the estimate by one cycle.
        log_t = math.log(t)

        def start_of(i):
            return float(first) * jnp.expm1(i * log_t) / (t - 1.0)

        i = jnp.floor(jnp.log1p(n * (t - 1.0) / float(first)) / log_t)
        i = jnp.where(n < start_of(i), i - 1.0, i)
        i = jnp.where(n >= start_of(i + 1.0), i + 1.0, i)
        start, end = start_of(i), start_of(i + 1.0)
        return i, n - start, end - n, end - start

    def schedule(count):
        dtype = float_dtype()
        n = jnp.maximum(as_float(count, dtype), 0.0)
        i, done, left, length = locate(n)
        c, _ = cos_weights(*fractions(done, left, length))
        a = cast(alpha, dtype)
        peak = power(m_mul, i, m_checked)
        return cast(init_value, dtype) * ((1.0 - a) * peak * c + a)

    return schedule
