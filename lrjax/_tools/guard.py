"""Skipping non-finite steps without ever applying one."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from .._shared import validate
from .._shared.base import GradientTransformation, GradientTransformationExtraArgs
from .._shared.numerics import safe_increment
from .._shared.tree import canonical_inputs


class SkipNonfiniteState(NamedTuple):
    """State of [`lrjax.skip_nonfinite`][].

    Attributes:
      inner_state: the wrapped optimizer's state, untouched by skipped steps.
      consecutive: non-finite steps in a row, reset by a finite one (int32).
      total: non-finite steps skipped so far (int32, saturating).
      last_finite: whether the last step was applied.
    """

    inner_state: Any
    consecutive: jax.Array
    total: jax.Array
    last_finite: jax.Array


def _all_finite(tree: Any) -> jax.Array:
    leaves = [
        jnp.all(jnp.isfinite(x))
        for x in jax.tree.leaves(tree)
        if jnp.issubdtype(jnp.result_type(x), jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def skip_nonfinite(inner: GradientTransformation) -> GradientTransformationExtraArgs:
    r"""Skip every step whose gradient, update or new state is not finite.

    $$
    (u_n, s_{n+1}) = \begin{cases}
        \text{inner}(g_n, s_n) & \text{if } g_n, u_n, s_{n+1}, \text{value}
                                 \text{ are all finite} \\
        (0, s_n) & \text{otherwise}
    \end{cases}
    $$

    A skipped step returns zero updates and leaves the inner state exactly as it was:
    the step counter, the schedule position and the recorded learning rate included,
    so a run with skipped batches ends where a run without those batches ends.

    This differs from `optax.apply_if_finite` in three ways, each a way a long run is
    lost: optax gives up after `max_consecutive_errors` bad steps and applies the
    non-finite update, which poisons the params for good; optax checks only the incoming
    gradient, so a finite gradient that overflows inside the optimizer (`g**2` is
    `inf` in float32 for `|g| > 1.8e19`) leaves `inf` in the moments; and optax
    ignores a non-finite `value=` (loss). The counters in the state let the training
    loop decide when to stop.

    Args:
      inner: the optimizer to guard.

    Returns:
      An optax `GradientTransformationExtraArgs` with a [`lrjax.SkipNonfiniteState`][];
        extra arguments are forwarded to `inner`.

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> opt = lrjax.skip_nonfinite(lrjax.sgd(0.1))
      >>> state = opt.init(jnp.zeros(2))
      >>> u, state = opt.update(jnp.array([1.0, jnp.nan]), state)
      >>> print(u, int(state.total))
      [0. 0.] 1

    References:
      optax `apply_if_finite`; the loss-scaling skip in mixed-precision training
      (Micikevicius et al., Mixed Precision Training, 2018,
      https://arxiv.org/abs/1710.03740).
    """
    validate.transform("inner", inner)
    inner = optax.with_extra_args_support(inner)

    def init_fn(params):
        # Separate buffers for each field: one array held twice cannot be donated.
        return SkipNonfiniteState(
            inner.init(params),
            jnp.zeros([], jnp.int32),
            jnp.zeros([], jnp.int32),
            jnp.asarray(True),
        )

    def update_fn(updates, state, params=None, **extra_args):
        new_updates, new_inner = inner.update(
            updates, state.inner_state, params, **extra_args
        )
        checks = [_all_finite(updates), _all_finite(new_updates), _all_finite(new_inner)]
        if extra_args.get("value") is not None:
            # A value marked absent (reduce_on_plateau's has_value=False) is not a
            # measurement: whatever stands in for it is not checked.
            value_ok = _all_finite(extra_args["value"])
            if "has_value" in extra_args:
                value_ok = value_ok | ~jnp.asarray(extra_args["has_value"], jnp.bool_)
            checks.append(value_ok)
        ok = jnp.all(jnp.stack(checks))
        # select, not cond: both branches are already computed, and select keeps the
        # skipped state bit-identical.
        out = jax.tree.map(lambda u: jnp.where(ok, u, jnp.zeros_like(u)), new_updates)
        kept = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new_inner, state.inner_state)
        consecutive = jnp.where(ok, 0, safe_increment(state.consecutive)).astype(jnp.int32)
        total = jnp.where(ok, state.total, safe_increment(state.total)).astype(jnp.int32)
        return out, SkipNonfiniteState(kept, consecutive, total, ok)

    return GradientTransformationExtraArgs(*canonical_inputs(init_fn, update_fn))
