"""Schedule combinators: a linear warm-up before a schedule (`warmup`), and schedules
run one after the other (`join`).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp

from .._shared import validate
from .._shared.base import Schedule
from .arithmetic import as_float, below, cast, float_dtype, fractions, shift


def warmup(schedule: Schedule, *, warmup_steps: int, init_value: float = 0.0) -> Schedule:
    r"""Prepend a linear warm-up to a schedule.

    $$
    \eta(n) = \begin{cases}
      \eta_i + (\sigma(0) - \eta_i)\, n / W & n < W \\
      \sigma(n - W) & n \ge W
    \end{cases}
    $$

    where $\sigma$ is `schedule`, $W$ = `warmup_steps` and
    $\eta_i$ = `init_value`. The result is continuous at $n = W$: the ramp
    ends exactly on $\sigma(0)$, which is also the first value after it. The
    wrapped schedule starts its own count at the end of the warm-up, so its decay is not
    shortened (unlike optax's `warmup_cosine_decay_schedule`, whose `decay_steps`
    includes the warm-up).

    Args:
      schedule: the schedule to run after the warm-up.
      warmup_steps: $W \ge 0$; `0` returns `schedule` unchanged.
      init_value: the rate at `n = 0`, `>= 0`.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.warmup(lrjax.cosine_decay(1.0, decay_steps=10), warmup_steps=4)
      >>> print(" ".join(f"{float(s(n)):.2f}" for n in [0, 2, 4, 9, 14]))
      0.00 0.50 1.00 0.50 0.00

    References:
      Goyal et al., Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour, 2017,
      https://arxiv.org/abs/1706.02677. Keras
      `CosineDecay(initial_learning_rate=a, decay_steps=T, alpha=α, warmup_target=b,
      warmup_steps=W)` equals
      `warmup(cosine_decay(b, T, alpha=α), warmup_steps=W, init_value=a)` at every
      step, with no offset.
    """
    validate.callable_("schedule", schedule)
    steps = validate.nonnegative_int("warmup_steps", warmup_steps)
    validate.nonnegative("init_value", init_value)
    if steps == 0:
        return schedule

    def warmed(count):
        dtype = float_dtype()
        n = as_float(count, dtype)
        start = cast(schedule(jnp.zeros(jnp.shape(count), jnp.int32)), dtype)
        after = cast(schedule(shift(count, steps)), dtype)
        p, q = fractions(n, float(steps) - n, float(steps))
        ramp = cast(init_value, dtype) * q + start * p
        return jnp.where(below(count, steps, dtype), ramp, after)

    return warmed


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    r"""Run schedules one after the other, each restarting its count at its boundary.

    $$
    \eta(n) = \sigma_i(n - b_i) \quad\text{for } b_i \le n < b_{i+1},
    \qquad b_0 = 0,\ b_{k+1} = \infty
    $$

    Switching happens at $n \ge b_i$, and the rate may jump there: `join` is
    continuous exactly where $\sigma_{i-1}(b_i - b_{i-1}) = \sigma_i(0)$.

    Args:
      schedules: `k + 1` schedules.
      boundaries: `k` strictly increasing step counts `>= 0`.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.join([lrjax.constant(0.1), lrjax.exponential_decay(0.05, decay=0.5)], [3])
      >>> print(" ".join(f"{float(s(n)):.4f}" for n in range(5)))
      0.1000 0.1000 0.1000 0.0500 0.0303

    References:
      optax `join_schedules` (identical values); PyTorch `SequentialLR(optimizer,
      schedulers, milestones=boundaries)`, whose later schedulers restart at their
      milestone in the same way.
    """
    schedules = list(schedules)
    for i, s in enumerate(schedules):
        validate.callable_(f"schedules[{i}]", s)
    bounds = validate.increasing_ints("boundaries", boundaries)
    if len(schedules) != len(bounds) + 1:
        raise ValueError(
            "join needs one more schedule than boundaries, got "
            f"len(schedules)={len(schedules)} and boundaries={list(boundaries)!r}"
        )

    def joined(count):
        dtype = float_dtype()
        out = cast(schedules[0](count), dtype)
        for b, s in zip(bounds, schedules[1:]):
            out = jnp.where(below(count, b, dtype), out, cast(s(shift(count, b)), dtype))
        return out

    return joined
