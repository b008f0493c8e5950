"""Schedules that jump at given steps: PyTorch's `MultiStepLR` and Keras's
`PiecewiseConstantDecay`.

Both switch at `n >= boundary`, as PyTorch and optax do; `docs/schedules.md` gives the
step offsets against Keras.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp

from .._shared import validate
from .._shared.base import Schedule
from .arithmetic import as_float, below, cast, float_dtype, power


def multistep_decay(
    init_value: float, milestones: Sequence[int], factor: float
) -> Schedule:
    r"""Multiply by $\gamma$ at each milestone, $\eta_0\gamma^{\#\{m_i \le n\}}$.

    Args:
      init_value: $\eta_0 \ge 0$.
      milestones: non-decreasing steps $m_i \ge 0$; a repeated milestone applies
        $\gamma$ once per repetition (as PyTorch does).
      factor: $\gamma \ge 0$.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.multistep_decay(1.0, milestones=[3, 6], factor=0.1)
      >>> print(" ".join(f"{float(s(n)):.2f}" for n in [0, 2, 3, 5, 6]))
      1.00 1.00 0.10 0.10 0.01

    References:
      PyTorch `MultiStepLR(milestones, gamma)`: identical at every step (it switches at
      $n \ge m_i$ as here). optax `piecewise_constant_schedule` with scales
      $\gamma$ at the milestones.
    """
    init_checked = validate.nonnegative("init_value", init_value)
    marks = validate.increasing_ints("milestones", milestones, strict=False)
    checked = validate.nonnegative("factor", factor)

    def schedule(count):
        dtype = float_dtype()
        n = as_float(count, dtype)
        if checked is None:  # a traced factor (inject_hyperparams): the exact power
            passed = jnp.zeros_like(n)
            for mark in marks:
                passed = passed + (~below(count, mark, dtype)).astype(dtype)
            return cast(init_value, dtype) * power(factor, passed, checked)
        # The M + 1 possible values, eta_0 gamma^k, in float64 (correctly rounded once
        # to dtype), and one select per milestone: as cheap as optax's piecewise
        # constant schedule, and no N x M intermediate when vmapped over steps.
        scale = 1.0 if init_checked is None else init_checked
        values = [scale * checked**k for k in range(len(marks) + 1)]
        out = jnp.full_like(n, values[0])
        for k, mark in enumerate(marks, start=1):
            out = jnp.where(below(count, mark, dtype), out, jnp.asarray(values[k], dtype))
        return out if init_checked is not None else cast(init_value, dtype) * out

    return schedule


def piecewise_constant(boundaries: Sequence[int], values: Sequence[float]) -> Schedule:
    r"""Piecewise-constant rates, $\eta(n) = v_i$ for $b_i \le n < b_{i+1}$.

    With $b_0 = 0$ and $b_{k+1} = \infty$: the value switches at
    $n \ge b_i$.

    Args:
      boundaries: `k` strictly increasing steps $b_i \ge 0$.
      values: `k + 1` rates $v_i \ge 0$.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.piecewise_constant([2, 4], [0.1, 0.01, 0.001])
      >>> print(" ".join(f"{float(s(n)):.3f}" for n in range(6)))
      0.100 0.100 0.010 0.010 0.001 0.001

    References:
      optax `piecewise_constant_schedule` and PyTorch `MultiStepLR` switch at the
      same steps. Keras `PiecewiseConstantDecay(boundaries, values)` keeps
      $v_i$ while $n \le b_{i+1}$, switching one step later: its value at
      step $n$ is this schedule's at $n - 1$ (equivalently, Keras with
      boundaries $b_i - 1$ equals this one).
    """
    bounds = validate.increasing_ints("boundaries", boundaries)
    if hasattr(values, "__iter__") and not isinstance(values, (str, bytes)):
        values = list(values)  # a generator is read once
    validate.real_sequence("values", values, validate.nonnegative)
    vals = list(values)
    if len(vals) != len(bounds) + 1:
        raise ValueError(
            "piecewise_constant needs len(values) == len(boundaries) + 1, got "
            f"boundaries={list(boundaries)!r} and values={list(vals)!r}"
        )

    def schedule(count):
        dtype = float_dtype()
        table = jnp.stack([cast(v, dtype) for v in vals])
        index = sum(
            ((~below(count, b, dtype)).astype(jnp.int32) for b in bounds),
            jnp.zeros(jnp.shape(count), jnp.int32),
        )
        return jnp.take(table, index)

    return schedule
