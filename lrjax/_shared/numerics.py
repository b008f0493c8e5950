"""Numerics that many families share: counters, the learning-rate dtype, casts.

* counters: `int32` update counts that saturate instead of overflowing
  (`safe_increment`), or are absent when nothing reads them (`initial_count`);
* the learning-rate dtype (`lr_dtype`: float32, or float64 with x64) and the value of
  a float-or-schedule hyperparameter at a count (`evaluate`, `value_at`);
* per-leaf arithmetic: a hyperparameter in the dtype of the leaf it multiplies
  (`scalar_like`), `|x|^2` of real and complex leaves (`abs_sq`), and the accurate
  `1 - decay**count` of bias corrections (`bias_correction`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .base import ScalarOrSchedule

_INT32_MAX = jnp.iinfo(jnp.int32).max


def safe_increment(count: jax.Array | tuple) -> jax.Array | tuple:
    """`count + 1` for an `int32` counter, saturating at the int32 maximum.

    The absent counter `()` of `initial_count` stays absent.
    """
    if isinstance(count, tuple):
        return count
    return jnp.where(count < _INT32_MAX, count + 1, _INT32_MAX).astype(jnp.int32)


def initial_count(needed: bool = True) -> jax.Array | tuple:
    """A zero `int32` counter, or `()` (no state leaf, no kernel) when nothing
    scheduled will read it."""
    return jnp.zeros([], jnp.int32) if needed else ()


def lr_dtype() -> jnp.dtype:
    """dtype of a recorded learning rate: float64 when x64 is enabled, else float32."""
    return jnp.dtype(jnp.result_type(float))


def evaluate(learning_rate: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """The value of a float-or-schedule learning rate at update `count`, as an array."""
    value = learning_rate(count) if callable(learning_rate) else learning_rate
    return jnp.asarray(value, dtype=lr_dtype())


def value_at(hyperparameter: ScalarOrSchedule, count: Any) -> Any:
    """A scheduled hyperparameter's value at `count`; anything else unchanged.

    For per-leaf arithmetic through `scalar_like`: a constant stays a Python
    number, which jit embeds in each leaf's kernel without an array.
    """
    if callable(hyperparameter):
        return evaluate(hyperparameter, count)
    return hyperparameter


def scalar_like(x: Any, like: Any) -> Any:
    """The hyperparameter `x` in the dtype of the leaf `like` that it multiplies.

    A Python number becomes a NumPy scalar, which jit embeds as a literal: `jnp.asarray`
    would place an array on the device for every leaf and hyperparameter, a third of
    the trace of a 300-leaf Adam. A traced `x` (`inject_hyperparams`) is cast.
    Write `scalar_like(1 - b, t)`, never `1 - scalar_like(b, t)`: in bfloat16 0.999
    rounds to 1.
    """
    if isinstance(x, (int, float, np.number)):
        return np.asarray(x, like.dtype)
    return jnp.asarray(x, like.dtype)


def abs_sq(x: jax.Array) -> jax.Array:
    """`|x|^2` in `x`'s dtype: `x * x` for real `x`, and `Re(conj(x) x)` (real
    part only, imaginary part 0) for complex `x`, as optax's `abs_sq`.

    Where the real formula squares a gradient, a complex gradient needs its squared
    magnitude: `g * g` is complex and its root is not a scale.
    """
    if jnp.iscomplexobj(x):
        return (x.real * x.real + x.imag * x.imag).astype(x.dtype)
    return jnp.square(x)


def bias_correction(decay: Any, count: jax.Array) -> jax.Array:
    """`1 - decay**count` in the learning-rate dtype (float32 or float64), accurately.

    Computed as `-expm1(count * log1p(-(1 - decay)))` from `1 - decay` taken before
    any rounding. The direct form loses most digits in float32: 0.999 rounds to
    0.99900001, so `1 - 0.999**1` comes out 1.3e-5 (relative) too small and
    `v / (1 - b2**n)` too large by as much (optax, Keras's Adam). bfloat16 moments get
    the float32 value cast at the end; in bfloat16 itself `0.999**n` is 1.
    """
    dt = lr_dtype()
    one_minus = jnp.asarray(1 - decay, dt)
    return -jnp.expm1(count.astype(dt) * jnp.log1p(-one_minus))
