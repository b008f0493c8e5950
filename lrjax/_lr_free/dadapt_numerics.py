"""Numerics shared by Prodigy and the D-Adaptation methods.

Their estimates are scalars (`d`, numerators, norms) kept in the learning-rate dtype
(float32, or float64 with x64), while the per-parameter statistics keep each
parameter's dtype. Reductions of the statistics are taken in the wider of the two, so
bfloat16 parameters get float32 sums and float64 parameters float64 ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .._shared import validate
from .._shared.numerics import lr_dtype, safe_increment
from .._shared.tree import refuse_complex


def reject_complex(params: Any, method: str) -> None:
    """`TypeError` naming the first complex leaf: these methods are real-only.

    Their estimates are inner products and norms of real vectors (the authors' torch
    code uses `torch.dot`, which does not conjugate); no complex form is published.
    """
    refuse_complex(
        params, method, "its distance estimate is an inner product of real vectors"
    )


def growth_rate(name: str, value: Any) -> float:
    """Check a growth factor: a real number `> 0`, `inf` (no limit) allowed."""
    if validate.is_traced(value):
        return value
    if isinstance(value, (bool, str, bytes)) or value is None:
        raise TypeError(f"{name} must be a real number or inf, got {value!r}")
    try:
        value_f = float(value)
    except Exception as err:
        raise TypeError(f"{name} must be a real number or inf, got {value!r}") from err
    if math.isnan(value_f) or value_f <= 0:
        raise ValueError(f"{name} must be > 0 (inf for no limit), got {value!r}")
    return value_f


def betas(name: str, value: Any) -> tuple[float, float]:
    """Check a pair `(beta1, beta2)`, each in `[0, 1)`."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{name} must be a pair (beta1, beta2), got {value!r}")
    b1 = validate.decay_rate(f"{name}[0]", value[0])
    b2 = validate.decay_rate(f"{name}[1]", value[1])
    return b1, b2


def needs_params(params: Any, method: str, why: str) -> None:
    if params is None:
        raise ValueError(f"{method} needs params in update() {why}")


def wide(x: jax.Array, dtype: Any) -> jax.Array:
    """`x` in the wider of its dtype and `dtype` (for reductions)."""
    dtype = jnp.dtype(dtype)
    return x if x.dtype.itemsize >= dtype.itemsize else x.astype(dtype)


def tree_reduce(fn: Callable[..., jax.Array], *trees: Any) -> jax.Array:
    """`sum over leaves of fn(*leaves)`, each taken in the scalar dtype or wider.

    `fn` receives the leaves already widened and returns a scalar; the total is in
    the learning-rate dtype.
    """
    dt = lr_dtype()
    total = jnp.zeros([], dt)
    for leaves in zip(*(jax.tree.leaves(t) for t in trees)):
        total = total + fn(*(wide(x, dt) for x in leaves)).astype(dt)
    return total


def one_minus_power(beta: float, n: jax.Array) -> jax.Array:
    """`1 - beta**n` in the learning-rate dtype, accurate where `beta` is near 1.

    Computed as `-expm1(n log1p(-(1 - beta)))` with `1 - beta` taken in Python
    first: in float32, 0.999 rounds to 0.99900001 and `1 - 0.999**1` would be 1e-5
    (relative) off.
    """
    dt = lr_dtype()
    return -jnp.expm1(n.astype(dt) * jnp.log1p(-jnp.asarray(1 - beta, dt)))


def bias_factor(b1: float, b2: float, k: jax.Array, enabled: bool) -> jax.Array:
    """`sqrt(1 - b2^(k+1)) / (1 - b1^(k+1))` if `enabled`, else 1 (the authors')."""
    dt = lr_dtype()
    if not enabled:
        return jnp.ones([], dt)
    n = safe_increment(k)  # k + 1, saturating: no wrap to a negative power
    return jnp.sqrt(one_minus_power(b2, n)) / one_minus_power(b1, n)


def like(c: Any, leaf: jax.Array) -> jax.Array:
    """A scalar in `leaf`'s dtype."""
    return jnp.asarray(c).astype(leaf.dtype)


def select(pred: jax.Array, new: Any, old: Any) -> Any:
    """`new` where `pred` else `old`, leaf by leaf (trees of equal structure)."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)
