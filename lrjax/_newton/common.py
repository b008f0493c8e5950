"""What dense Newton and Newton-CG share.

Routing the extra keyword arguments to the loss the way optax's line searches do
(`loss_kwargs`, `bind_loss`), the dtypes they solve in and the raveled parameter vector
(`compute_dtype`, `ravel`), the loss at the start and at the trial point (`scalar_loss`,
`start_loss`, `step_back`), and the Levenberg–Marquardt damping: the verdict on a step
(`assess_step`, `count_rejected`) and the damping of the next one (`next_damping`,
`restart_damping`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._shared import validate
from .._shared.numerics import safe_increment
from .._shared.tree import check_like

# Levenberg–Marquardt thresholds on the ratio of actual to predicted decrease
# (Nocedal & Wright, Numerical Optimization, 2nd ed., Algorithm 4.1).
_RATIO_LOW = 0.25
_RATIO_HIGH = 0.75


def loss_kwargs(value_fn: Callable[..., Any], extra_args: dict[str, Any]) -> dict:
    """The extra keyword arguments that `value_fn` accepts.

    Mirrors optax's line searches (`_extract_fns_kwargs`): a keyword is passed to
    `value_fn` when its signature names it. Unlike them, keywords that `value_fn`
    does not take are ignored rather than an error, because `optax.chain` forwards
    every extra argument to every member and another member may be their consumer.
    A `value_fn` with `**kwargs` receives them all.
    """
    validate.callable_("value_fn", value_fn)
    try:
        parameters = inspect.signature(value_fn).parameters
    except (TypeError, ValueError):  # a callable without an introspectable signature
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(extra_args)
    return {k: v for k, v in extra_args.items() if k in parameters}


def bind_loss(
    name: str, updates: Any, params: Any, value_fn: Callable[..., Any], extra_args: dict
) -> Callable[[Any], Any]:
    """`value_fn` with its data keywords bound, after checking `params` and the
    gradient tree: the common start of both Newton updates."""
    if params is None:
        raise ValueError(f"{name} needs params, got params=None")
    check_like(updates, params)
    return functools.partial(value_fn, **loss_kwargs(value_fn, extra_args))


def compute_dtype(tree: Any) -> jnp.dtype:
    """float64 if any leaf is float64, else float32 (bfloat16/float16 solve in float32)."""
    wide = False
    for leaf in jax.tree.leaves(tree):
        dtype = jnp.dtype(jnp.result_type(leaf))
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"Newton's method needs real floating-point params, got a leaf of dtype "
                f"{dtype}"
            )
        wide = wide or dtype.itemsize > 4
    return jnp.dtype(jnp.float64 if wide else jnp.float32)


def leaf_compute_dtype(x: Any) -> jnp.dtype:
    """A leaf's own dtype, widened to at least float32."""
    dtype = jnp.dtype(jnp.result_type(x))
    return dtype if dtype.itemsize >= 4 else jnp.dtype(jnp.float32)


def ravel(tree: Any, dtype: jnp.dtype) -> tuple[jax.Array, Callable[[jax.Array], Any]]:
    """Flatten `tree` into one `dtype` vector; the inverse restores leaf dtypes.

    `jax.flatten_util.ravel_pytree` refuses mixed float32/float64 trees under strict
    dtype promotion, hence this explicit version.
    """
    leaves, treedef = jax.tree.flatten(tree)
    shapes = [jnp.shape(x) for x in leaves]
    dtypes = [jnp.result_type(x) for x in leaves]
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    if leaves:
        flat = jnp.concatenate([jnp.ravel(x).astype(dtype) for x in leaves])
    else:
        flat = jnp.zeros((0,), dtype)

    def unravel(vector: jax.Array) -> Any:
        parts, offset = [], 0
        for shape, leaf_dtype, size in zip(shapes, dtypes, sizes):
            parts.append(vector[offset : offset + size].reshape(shape).astype(leaf_dtype))
            offset += size
        return jax.tree.unflatten(treedef, parts)

    return flat, unravel


def scalar_loss(f: Callable[[Any], Any], params: Any, dtype: jnp.dtype) -> jax.Array:
    """`f(params)` as a scalar of `dtype` (optax allows a shape-(1,) loss)."""
    return jnp.reshape(f(params), ()).astype(dtype)


def start_loss(
    f: Callable[[Any], Any], params: Any, value: Any, dtype: jnp.dtype
) -> jax.Array:
    """The loss at `params` as a scalar of `dtype`: the caller's `value` when given
    (one evaluation saved), else `f(params)`."""
    if value is None:
        return scalar_loss(f, params, dtype)
    return jnp.reshape(jnp.asarray(value), ()).astype(dtype)


def step_back(params: Any, direction: Any) -> Any:
    """The trial point `params - direction`, leaf by leaf in the params' dtypes."""
    return jax.tree.map(lambda p, d: p - d.astype(jnp.result_type(p)), params, direction)


def check_damping_options(
    damping: Any,
    damping_factor: Any,
    min_relative_damping: Any,
    accept_ratio: Any,
) -> None:
    """Checks shared by both Newton transforms."""
    validate.nonnegative("damping", damping)
    x = validate.real("damping_factor", damping_factor)
    if x is not None and x <= 1.0:
        raise ValueError(f"damping_factor must be > 1, got {damping_factor!r}")
    validate.positive("min_relative_damping", min_relative_damping)
    validate.in_range("accept_ratio", accept_ratio, 0.0, _RATIO_LOW, high_open=True)


class Assessment(NamedTuple):
    """The verdict on a proposed step `d`: keep it, and what the ratio was."""

    accepted: jax.Array
    ratio: jax.Array
    null_step: jax.Array


def assess_step(
    f0: jax.Array,
    f1: jax.Array,
    predicted: jax.Array,
    step_sq: jax.Array,
    step_finite: jax.Array,
    *,
    adaptive: bool,
    accept_ratio: Any,
) -> Assessment:
    r"""Ratio $\rho = (f(x) - f(x-d)) / (m(0) - m(-d))$ and acceptance.

    A step is always refused when it or the loss at the trial point is not finite, so a
    NaN or an overflow never reaches the parameters. With adaptive damping a step must
    also decrease the loss by at least `accept_ratio` of the predicted decrease.
    """
    dtype = f0.dtype
    null_step = step_finite & (step_sq == 0)
    actual = f0 - f1
    safe_pred = jnp.where(predicted > 0, predicted, 1)
    ratio = jnp.where(predicted > 0, actual / safe_pred, 0)
    ratio = jnp.where(null_step, 1, ratio)
    trial_finite = jnp.isfinite(f1)
    ratio = jnp.where(trial_finite & step_finite & ~jnp.isnan(ratio), ratio, -jnp.inf)
    accepted = step_finite & trial_finite
    if adaptive:
        good = (predicted > 0) & (ratio > jnp.asarray(accept_ratio, dtype))
        accepted = accepted & (null_step | good)
    return Assessment(accepted, ratio.astype(dtype), null_step)


def next_damping(
    damping_now: jax.Array,
    verdict: Assessment,
    restart: jax.Array,
    *,
    adaptive: bool,
    damping: Any,
    damping_factor: Any,
) -> jax.Array:
    r"""The damping $\lambda$ for the next update.

    Adaptive (Levenberg–Marquardt from the ratio): multiply by `damping_factor` when
    the step was refused or $\rho < 1/4$, divide when $\rho > 3/4$ (down to
    0 once below `restart`), keep otherwise; a raise starts from at least
    `restart`. Fixed: back to `damping` after an accepted step, raised as above
    after a refused one, so the next call tries a shorter step instead of repeating.
    """
    dtype = damping_now.dtype
    factor = jnp.asarray(damping_factor, dtype)
    raised = jnp.maximum(damping_now * factor, restart)
    if adaptive:
        lowered = damping_now / factor
        lowered = jnp.where(lowered < restart, 0, lowered)
        new = jnp.where(
            ~verdict.accepted | (verdict.ratio < _RATIO_LOW),
            raised,
            jnp.where(verdict.ratio > _RATIO_HIGH, lowered, damping_now),
        )
    else:
        new = jnp.where(verdict.accepted, jnp.asarray(damping, dtype), raised)
    new = jnp.where(verdict.null_step, damping_now, new)
    # Repeated refusals (a loss that is NaN everywhere nearby) must not overflow λ.
    ceiling = jnp.asarray(np.sqrt(np.finfo(dtype).max), dtype)
    return jnp.clip(new, 0, ceiling).astype(dtype)


def restart_damping(
    curvature: jax.Array, grad_sq: jax.Array, min_relative_damping: Any
) -> jax.Array:
    r"""The smallest non-zero damping: `min_relative_damping` times the curvature scale.

    The scale is $|g^\top H g| / \|g\|^2$ (the curvature along the gradient), or
    $\|g\|$ when that is zero, so the damping follows the loss's units.
    """
    dtype = curvature.dtype
    tiny = jnp.asarray(np.finfo(dtype).tiny, dtype)
    scale = jnp.abs(curvature) / jnp.maximum(grad_sq, tiny)
    scale = jnp.where(jnp.isfinite(scale) & (scale > 0), scale, jnp.sqrt(grad_sq))
    return (jnp.asarray(min_relative_damping, dtype) * jnp.maximum(scale, tiny)).astype(
        dtype
    )


def count_rejected(num_rejected: jax.Array, accepted: jax.Array) -> jax.Array:
    """The count of refused steps, one more unless this step was `accepted`."""
    return jnp.where(accepted, num_rejected, safe_increment(num_rejected)).astype(jnp.int32)
