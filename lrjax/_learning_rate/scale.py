"""Applying the learning rate: `scale_by_learning_rate`, which records the rate it used.

[`lrjax.current_learning_rate`][] (`observe.py`) reads the record back.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._shared import validate
from .._shared.base import GradientTransformation, ScalarOrSchedule
from .._shared.numerics import evaluate, initial_count, safe_increment, scalar_like
from .._shared.tree import canonical_inputs, check_like
from .records import records_learning_rate


@records_learning_rate()
class ScaleByLearningRateState(NamedTuple):
    """State of [`lrjax.scale_by_learning_rate`][].

    Attributes:
      count: number of updates applied so far (`int32`, saturating), the position of
        the schedule; an empty tuple `()` when the learning rate is a constant, which
        needs no position (one leaf, 4 bytes and one kernel fewer per step).
      learning_rate: the learning rate the last update used, a scalar array; `η(0)`
        before the first. A constant rate is an array too, so the state's tree
        structure never depends on the rate's value (a checkpoint restores into an
        optimizer built with another rate). The field is not called `value`: optax's
        line searches find the loss by that name.
    """

    count: jax.Array | tuple
    learning_rate: jax.Array


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> GradientTransformation:
    r"""Multiply updates by $-\eta(n)$ and remember $\eta(n)$.

    $$
    u_n = -\eta(n)\, d_n
    $$

    where $d_n$ is the incoming direction (a gradient, or the output of a
    `scale_by_*` transform) and $n$ the 0-based update count. The learning rate
    is cast to each update's dtype, so float32, bfloat16 and float64 updates keep theirs.
    The value used is stored in the state, where [`lrjax.current_learning_rate`][] finds it.

    Args:
      learning_rate: a non-negative number, or a schedule `n -> η(n)`.
      flip_sign: multiply by `-η` (descent, the default) or by `+η`. With
        `flip_sign=False` it is a recorded factor: use it instead of
        `optax.scale(c)` or `optax.scale_by_schedule(s)`, whose factor
        `current_learning_rate` cannot read from their states.

    Returns:
      An optax `GradientTransformation` whose state is a
        [`lrjax.ScaleByLearningRateState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_learning_rate(lrjax.exponential_decay(0.1, decay=0.5))
      >>> state = tx.init(jnp.zeros(2))
      >>> u, state = tx.update(jnp.ones(2), state)
      >>> u, state = tx.update(jnp.ones(2), state)
      >>> print(f"{float(u[0]):.4f} {float(lrjax.current_learning_rate(state)):.4f}")
      -0.0607 0.0607

    References:
      optax `scale_by_learning_rate`, https://github.com/google-deepmind/optax
    """
    validate.learning_rate("learning_rate", learning_rate)
    sign = -1.0 if validate.boolean("flip_sign", flip_sign) else 1.0

    scheduled = callable(learning_rate)

    def init_fn(params: Any) -> ScaleByLearningRateState:
        del params
        return ScaleByLearningRateState(
            initial_count(scheduled), evaluate(learning_rate, jnp.zeros([], jnp.int32))
        )

    def update_fn(updates, state, params=None):
        if params is not None:
            check_like(updates, params, dtypes=False)
        # A constant ignores the count. ``sign * lr`` is one traced scalar that every
        # leaf shares; a Python number used per leaf would put a constant of its own in
        # each leaf's HLO, one operation per leaf more. The record is this transform's
        # own rate, not the one in ``state``: a state restored from a checkpoint of
        # another rate reports the rate actually applied.
        lr = evaluate(learning_rate, state.count)
        step = sign * lr
        updates = jax.tree.map(lambda u: scalar_like(step, u) * u, updates)
        return updates, ScaleByLearningRateState(safe_increment(state.count), lr)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))
