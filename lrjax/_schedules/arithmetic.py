"""The step arithmetic that every schedule shares.

Every schedule evaluates in the default float dtype at call time (float32, or float64
when `jax_enable_x64` is on), so the same schedule serves a float32 model and a
float64 reference. The helpers below keep float32 results within a few units in the
last place of the exact value: powers with an integer exponent are split so that no
rounding of `k * log(base)` is amplified by `exp`, and cosine annealing is computed
as squared sines and cosines of half-angles so that it keeps its relative accuracy where
it approaches zero. Steps may be Python ints up to 2**63 - 1, NumPy or JAX integers,
traced or concrete (`as_float`, `below`, `shift`).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def float_dtype() -> jnp.dtype:
    """The default float dtype now: float64 when x64 is enabled, else float32."""
    return jnp.dtype(jnp.result_type(float))


def _is_host(step: Any) -> bool:
    """A Python number or NumPy value: converted on the host, in float64."""
    return isinstance(step, (int, float, np.ndarray, np.generic)) and not isinstance(
        step, jax.Array
    )


def as_float(step: Any, dtype: jnp.dtype) -> jax.Array:
    """A step (int or float, traced or not) as a float array; exact below 2**mantissa.

    Python ints (to 2**63 - 1) and NumPy int64 arrays go through NumPy float64, so a step
    past 2**31 is rounded to `dtype` instead of overflowing (or wrapping: with x64 off
    `jnp.asarray` reads an int64 array as int32).
    """
    if _is_host(step):
        return jnp.asarray(np.asarray(step, np.float64).astype(dtype))
    return jnp.asarray(step).astype(dtype)


def _int_array(step: Any) -> bool:
    """A JAX integer array (or tracer), whose dtype holds its values exactly."""
    return not _is_host(step) and jnp.issubdtype(jnp.result_type(step), jnp.integer)


def below(step: Any, bound: int, dtype: jnp.dtype) -> jax.Array:
    """`step < bound` for an integer `bound >= 0`, as a boolean array.

    Exact for JAX integer steps (an int32 count is compared as an int32, and a bound past
    its range is never reached); other steps compare as `dtype` floats, like the rest
    of the schedule's arithmetic.
    """
    if _int_array(step):
        if bound > jnp.iinfo(jnp.result_type(step)).max:
            return jnp.ones(jnp.shape(step), bool)
        return step < np.asarray(bound, jnp.result_type(step))
    return as_float(step, dtype) < float(bound)


def shift(step: Any, offset: int) -> Any:
    """`step - offset` for an integer `offset >= 0`, without integer overflow.

    Python and NumPy ints subtract exactly on the host; a JAX integer step subtracts in
    its own dtype when `offset` fits it, else (the result is then unused by `join`
    and `warmup`, whose `below` holds) as a float.
    """
    if isinstance(step, (int, np.integer)) and not isinstance(step, bool):
        return int(step) - offset
    if isinstance(step, float):
        return step - offset
    if isinstance(step, np.ndarray) and np.issubdtype(step.dtype, np.integer):
        return step.astype(np.int64) - offset
    if _int_array(step):
        if offset > jnp.iinfo(jnp.result_type(step)).max:
            return as_float(step, float_dtype()) - float(offset)
        return step - np.asarray(offset, jnp.result_type(step))
    if _is_host(step):
        return np.asarray(step, np.float64) - float(offset)
    return step - float(offset)


def cast(value: Any, dtype: jnp.dtype) -> jax.Array:
    """A hyperparameter (Python number or array, possibly traced) in `dtype`."""
    return jnp.asarray(value, dtype)


def concrete(name: str, checked: float | None, raw: Any) -> float:
    """The Python value of a hyperparameter that shapes the schedule's structure."""
    if checked is None:
        raise TypeError(f"{name} must be a concrete number, not a traced value: {raw!r}")
    return checked


def _split(x: float, dtype: jnp.dtype) -> tuple[float, float]:
    """`x = hi + lo` with `hi` holding at most `p - p // 2` significant bits.

    Then `k * hi` is exact in `dtype` for integers `|k| < 2 ** (p // 2)`, where
    `p` is the precision of `dtype`.
    """
    p = jnp.finfo(dtype).nmant + 1
    keep = p - p // 2
    if x == 0.0:
        return 0.0, 0.0
    m, e = math.frexp(x)
    hi = math.ldexp(round(math.ldexp(m, keep)), e - keep)
    return hi, x - hi


def _exp2_int(i: jax.Array) -> jax.Array:
    """Exactly `2 ** i` for integer-valued float `i`: 0 below the normal range."""
    dtype = i.dtype
    bits = jnp.finfo(dtype).nmant
    bias = int(jnp.finfo(dtype).maxexp) - 1
    itype = jnp.int32 if dtype.itemsize == 4 else jnp.int64
    biased = (jnp.clip(i, -bias, bias + 1) + bias).astype(itype)
    return jax.lax.bitcast_convert_type(jnp.left_shift(biased, bits), dtype)


def floor_div(n: jax.Array, r: Any) -> jax.Array:
    """`floor(n / r)` for `r > 0`, exact while `n` and the products are exact.

    `jnp.floor(n / r)` alone is not: XLA may compile `n / r` as `n * (1/r)`, and
    `90 * float32(1/30)` is just above 3. One correction step each way repairs it.
    """
    if isinstance(r, int):
        r = float(r)  # a Python int past 2**31 would overflow as an int32 operand
    q = jnp.floor(n / r)
    q = jnp.where(q * r > n, q - 1.0, q)
    return jnp.where((q + 1.0) * r <= n, q + 1.0, q)


def exp_times(k: jax.Array, log_base: Any) -> jax.Array:
    """`exp(k * log_base)` for real `k`, with a few ulps of relative error.

    `exp` turns the absolute rounding error of its argument into relative error, so
    `exp(k * L)` loses `|k L|` ulps (1e-6 relative at `|k L| = 16` in float32). With
    `L / log 2 = hi + lo` and the integer part of `k` written `k1 2^h + k0`, the
    products `k1 (2^h hi)` and `k0 hi` are exact; their integer parts become an exact
    power of two and only a fraction of size ~1 passes through `exp2`. (Multiplying
    several `exp` results does not work: XLA rewrites `exp(a) exp(b)` as
    `exp(a + b)`.) The splitting is exact for `|k| < 2^(2h)` (2^24 in float32, 2^52
    in float64) and degrades gently beyond. A traced `log_base` falls back to
    `exp(k * L)`.
    """
    if not isinstance(log_base, float):
        return jnp.exp(k * cast(log_base, k.dtype))
    dtype = k.dtype
    scale = float(2 ** ((jnp.finfo(dtype).nmant + 1) // 2))
    hi, lo = _split(log_base / math.log(2.0), dtype)
    whole = jnp.floor(k)
    k1 = jnp.floor(whole / scale)
    k0 = whole - k1 * scale
    # Clipping at 2^20 changes nothing representable (|log2| of any float < 1100) and
    # keeps huge exponents finite, so that they saturate to 0 or inf instead of NaN.
    parts = (k1 * (hi * scale), k0 * hi, k * lo)  # the first two exact below 2^(2h)
    # |lo| < 2^-h |hi|, so once |k lo| passes 2^10 the hi parts exceed 2^20 - 2^12 in
    # magnitude and decide the sign of the exponent. Clipping the lo part lower keeps
    # the sum on that side: with the same bound the two could cancel, and a float32
    # step of 2^40 gave exp(0) = 1 instead of 0.
    bounds = (2.0**20, 2.0**20, 2.0**10)
    parts = [jnp.clip(x, -b, b) for x, b in zip(parts, bounds)]
    whole_parts = [jnp.round(x) for x in parts]
    # Each difference is exact and at most 1/2: the fraction is ~1 in size, so its
    # rounding costs ~1 ulp whatever the size of k * log_base.
    frac = sum(x - i for x, i in zip(parts, whole_parts)) + (k - whole) * hi
    exponent = jax.lax.stop_gradient(sum(whole_parts))
    return jnp.exp2(frac) * _exp2_int(exponent)


def power(base: Any, k: jax.Array, checked: float | None) -> jax.Array:
    """`base ** k` for `base >= 0` and real `k`, accurate to a few ulps.

    `checked` is the validated Python value of `base` (`None` when traced).
    `0 ** 0 = 1` and `0 ** k = 0` for `k > 0`.
    """
    zero_power = jnp.where(k == 0, 1.0, 0.0).astype(k.dtype)
    if checked is not None:
        if checked == 0.0:
            return zero_power
        return exp_times(k, math.log(checked))
    b = cast(base, k.dtype)
    positive = b > 0
    value = exp_times(k, jnp.log(jnp.where(positive, b, 1.0)))
    return jnp.where(positive, value, zero_power)


def cos_weights(p: jax.Array, q: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""`c = (1 + cos πp)/2` and `s = 1 - c`, each to a few ulps of *relative* error.

    `q = 1 - p` must be computed by the caller without cancellation (from integer step
    counts). Uses $c = \cos^2(\pi p/2) = \sin^2(\pi q/2)$ and
    $s = \sin^2(\pi p/2) = \cos^2(\pi q/2)$ with the half-angle kept in
    $[0, \pi/4]$, so neither weight loses digits near 0: a cosine-annealed rate
    keeps full relative accuracy as it approaches its floor.
    """
    first = p <= 0.5
    angle = jnp.where(first, p, q) * (math.pi / 2)
    # One transcendental: with the angle in [0, pi/4], sin^2 <= 1/2, so 1 - sin^2 >= 1/2
    # loses nothing to cancellation, while sin^2 keeps its relative accuracy near 0.
    sin2 = jnp.sin(angle) ** 2
    cos2 = 1 - sin2
    return jnp.where(first, cos2, sin2), jnp.where(first, sin2, cos2)


def fractions(done: jax.Array, left: jax.Array, length: Any) -> tuple[jax.Array, jax.Array]:
    """`(p, 1 - p)` clipped to [0, 1], from the steps done and the steps left."""
    return jnp.clip(done / length, 0.0, 1.0), jnp.clip(left / length, 0.0, 1.0)
