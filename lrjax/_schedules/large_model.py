"""Schedules of large-model training: inverse square root, Noam, WSD, warm-up + cosine.

Each is pure `jnp` arithmetic of the 0-based update count `n` (optax's `count`),
valid under `jit`, `vmap` and `grad`, and returns the default float dtype. Steps may
be Python ints up to 2**63 - 1 (converted through a float, so they never overflow an
int32 with x64 off), NumPy or JAX integer arrays of any width, or floats.

Every schedule matches a Hugging Face `transformers.get_scheduler` type read off a
real optimizer under `LambdaLR` (`docs/large_model_schedules.md` has the mapping, the
offsets, and where the libraries disagree). Phase positions are computed from integer
step differences, and the cosine and square-root shapes are rewritten so that they
keep their float32 relative accuracy where they approach zero.
"""

from __future__ import annotations

import numbers
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .._shared import validate
from .._shared.base import Schedule
from .arithmetic import cast, concrete, cos_weights, float_dtype, floor_div, fractions

_SHAPES = ("linear", "cosine", "1-sqrt")


def _step(count: Any, dtype: jnp.dtype) -> jax.Array:
    """A step as a float array in `dtype`, never overflowing an integer type.

    A Python or NumPy integer goes through a float64 first: `jnp.asarray(2**63 - 1)`
    overflows with x64 off, `float(2**63 - 1)` does not.
    """
    if isinstance(count, (numbers.Integral, np.integer)) and not isinstance(count, bool):
        return jnp.asarray(float(count), dtype)
    if isinstance(count, np.ndarray) and np.issubdtype(count.dtype, np.integer):
        return jnp.asarray(count.astype(np.float64), dtype)
    return jnp.asarray(count).astype(dtype)


def _sqrt(x: jax.Array) -> jax.Array:
    """`sqrt(x)` for `x >= 0` whose gradient is finite (0) at `x = 0`."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def _cosine(done: jax.Array, length: float, half_waves: float) -> jax.Array:
    r"""$\tfrac12(1 + \cos(\pi h\, k / L))$ for $k$ = `done` and $h$ = `half_waves`.

    The angle is reduced to $[0, \pi]$ in units of steps ($h k$ modulo $2L$, folded),
    so the half-angle form of `cos_weights` keeps its relative accuracy near every
    zero of the cosine; exact for integer $k$ and dyadic $h$ (½, 1, 1.5, 2, …).
    """
    m = done * half_waves
    period = 2.0 * length
    m = m - period * floor_div(m, period)
    m = jnp.clip(jnp.minimum(m, period - m), 0.0, length)
    c, _ = cos_weights(*fractions(m, length - m, length))
    return c


def _floored(factor: jax.Array, min_ratio: Any, dtype: jnp.dtype) -> jax.Array:
    """`factor (1 - m) + m`, exactly `factor` when `m == 0`."""
    m = cast(min_ratio, dtype)
    return factor * (1.0 - m) + m


def _ratio(name: str, value: Any) -> Any:
    validate.in_range(name, value, 0.0, 1.0)
    return value


def inverse_sqrt_decay(
    peak_value: float, *, warmup_steps: int = 0, timescale: Optional[float] = None
) -> Schedule:
    r"""Linear warm-up, then decay with the inverse square root of the step.

    $$
    \eta(n) = \begin{cases}
      \eta\, n / W & n < W \\
      \eta \sqrt{\tau / (n - W + \tau)} & n \ge W
    \end{cases}
    $$

    with $\tau$ = `timescale`, by default $W$ (or $10^4$ when $W = 0$), as Hugging
    Face does. The rate is $\eta$ at $n = W$ and halves every time $n - W + \tau$
    quadruples.

    Args:
      peak_value: $\eta \ge 0$, the rate at the end of the warm-up.
      warmup_steps: $W \ge 0$.
      timescale: $\tau > 0$; `None` means $W$, or $10^4$ when $W = 0$.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.inverse_sqrt_decay(1.0, warmup_steps=4)
      >>> print(" ".join(f"{float(s(n)):.4f}" for n in [0, 2, 4, 16, 1000]))
      0.0000 0.5000 1.0000 0.5000 0.0632

    References:
      Vaswani et al., Attention Is All You Need, 2017,
      https://arxiv.org/abs/1706.03762 (§5.3); big_vision's `rsqrt` schedule.
      Hugging Face `get_scheduler("inverse_sqrt", num_warmup_steps=W,
      scheduler_specific_kwargs={"timescale": τ})` (`get_inverse_sqrt_schedule`):
      identical at every step, no offset.
    """
    validate.nonnegative("peak_value", peak_value)
    warm = validate.nonnegative_int("warmup_steps", warmup_steps)
    if timescale is None:
        tau = float(warm or 10_000)
    else:
        tau = concrete("timescale", validate.positive("timescale", timescale), timescale)

    def schedule(count):
        dtype = float_dtype()
        n = jnp.maximum(_step(count, dtype), 0.0)
        peak = cast(peak_value, dtype)
        after = peak * jnp.sqrt(tau / (jnp.maximum(n - warm, 0.0) + tau))
        if warm == 0:
            return after
        return jnp.where(n < warm, peak * (n / warm), after)

    return schedule


def noam(d_model: float, *, warmup_steps: int, factor: float = 1.0) -> Schedule:
    r"""The Transformer's schedule, $f\, d^{-1/2} \min(s^{-1/2}, s\, W^{-3/2})$, $s = n+1$.

    A linear rise to $f / \sqrt{d W}$ at $n = W - 1$, then the inverse square root of
    the step. The count is shifted by one ($s = n + 1$) as in the paper, whose step
    numbers start at 1, so the first update uses $f\, d^{-1/2} W^{-3/2}$, not 0.

    Args:
      d_model: $d > 0$, the model width.
      warmup_steps: $W \ge 1$.
      factor: $f \ge 0$, a multiplier (the paper uses 1; The Annotated Transformer 2).

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.noam(512, warmup_steps=4000)
      >>> print(" ".join(f"{float(s(n)):.4e}" for n in [0, 3999, 15999]))
      1.7469e-07 6.9877e-04 3.4939e-04

    References:
      Vaswani et al., Attention Is All You Need, 2017,
      https://arxiv.org/abs/1706.03762, §5.3. Equals
      `lrjax.inverse_sqrt_decay(f / sqrt(d W), warmup_steps=W)` at `n + 1`, so
      Hugging Face's `inverse_sqrt` (timescale $W$) on a base rate $f/\sqrt{dW}$
      gives, at step $n + 1$, this schedule's value at $n$: an offset of one step.
    """
    validate.positive("d_model", d_model)
    warm = validate.positive_int("warmup_steps", warmup_steps)
    validate.nonnegative("factor", factor)
    slope = float(warm) ** -1.5

    def schedule(count):
        dtype = float_dtype()
        s = jnp.maximum(_step(count, dtype), 0.0) + 1.0
        scale = cast(factor, dtype) / jnp.sqrt(cast(d_model, dtype))
        return scale * jnp.where(s < warm, s * slope, jax.lax.rsqrt(s))

    return schedule


def _warmup_shape(kind: str, done: jax.Array, left: jax.Array, length: float):
    """f(q), q = done / length, for the three warm-up shapes (no cancellation)."""
    q, rest = fractions(done, left, length)
    if kind == "linear":
        return q
    if kind == "cosine":  # (1 - cos πq) / 2
        return cos_weights(q, rest)[1]
    return q / (1.0 + _sqrt(rest))  # 1 - sqrt(1 - q)


def _decay_shape(kind: str, done, left, length: float, half_waves: float):
    """g(q), q = done / length, for the three decay shapes (no cancellation)."""
    q, rest = fractions(done, left, length)
    if kind == "linear":
        return rest
    if kind == "cosine":
        return _cosine(jnp.clip(done, 0.0, length), length, half_waves)
    return rest / (1.0 + _sqrt(q))  # 1 - sqrt(q)


def warmup_stable_decay(
    peak_value: float,
    *,
    warmup_steps: int,
    stable_steps: int,
    decay_steps: int,
    warmup_type: str = "linear",
    decay_type: str = "linear",
    min_ratio: float = 0.0,
    num_cycles: float = 0.5,
) -> Schedule:
    r"""Warm-up, stable, decay (WSD): a constant rate with a short cooldown at the end.

    With $m$ = `min_ratio`, $W, S, D$ the three lengths and $q$ the fraction of the
    current phase done,

    $$
    \eta(n) = \eta \cdot \begin{cases}
      f(n / W)(1 - m) + m & n < W \\
      1 & W \le n < W + S \\
      g\big((n - W - S) / D\big)(1 - m) + m & W + S \le n < W + S + D \\
      m & \text{after}
    \end{cases}
    $$

    with warm-ups $f(q) = q$ (`"linear"`), $\tfrac12(1 - \cos\pi q)$ (`"cosine"`),
    $1 - \sqrt{1 - q}$ (`"1-sqrt"`) and decays $g(q) = 1 - q$, $\tfrac12(1 + \cos
    2\pi c q)$ ($c$ = `num_cycles`), $1 - \sqrt q$ (Hägele et al.'s cooldown). The
    warm-up starts from the floor $m\eta$, as in Hugging Face. Because the stable phase
    is constant, a run can be continued from any stable-phase checkpoint and cooled
    down later: the schedule depends on $n$ alone (see the guide).

    Args:
      peak_value: $\eta \ge 0$.
      warmup_steps: $W \ge 0$.
      stable_steps: $S \ge 0$.
      decay_steps: $D \ge 1$.
      warmup_type: `"linear"`, `"cosine"` or `"1-sqrt"`.
      decay_type: `"linear"` (the default here; Hugging Face's default is
        `"cosine"`), `"cosine"` or `"1-sqrt"`.
      min_ratio: $m \in [0, 1]$, the floor as a fraction of $\eta$.
      num_cycles: $c > 0$ for the cosine decay (½: one half-wave down to the floor).

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.warmup_stable_decay(1.0, warmup_steps=2, stable_steps=4,
      ...                               decay_steps=4, decay_type="1-sqrt")
      >>> print(" ".join(f"{float(s(n)):.4f}" for n in range(11)))
      0.0000 0.5000 1.0000 1.0000 1.0000 1.0000 1.0000 0.5000 0.2929 0.1340 0.0000

    References:
      Hu et al., MiniCPM, 2024, https://arxiv.org/abs/2404.06395; Hägele et al.,
      Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations, 2024,
      https://arxiv.org/abs/2405.18392 (the $1 - \sqrt{\cdot}$ cooldown). Hugging Face
      `get_scheduler("warmup_stable_decay", num_warmup_steps=W,
      scheduler_specific_kwargs={"num_stable_steps": S, "num_decay_steps": D,
      "warmup_type": …, "decay_type": …, "min_lr_ratio": m, "num_cycles": c})`
      (`get_wsd_schedule`): identical at every step, no offset. pytorch_optimizer's
      `get_wsd_schedule` differs (its warm-up starts at 0 and its `1-sqrt` cooldown
      ignores `min_lr_ratio`); lrjax follows Hugging Face.
    """
    validate.nonnegative("peak_value", peak_value)
    warm = validate.nonnegative_int("warmup_steps", warmup_steps)
    stable = validate.nonnegative_int("stable_steps", stable_steps)
    decay = validate.positive_int("decay_steps", decay_steps)
    validate.choice("warmup_type", warmup_type, _SHAPES)
    validate.choice("decay_type", decay_type, _SHAPES)
    _ratio("min_ratio", min_ratio)
    checked_cycles = validate.positive("num_cycles", num_cycles)
    cycles = concrete("num_cycles", checked_cycles, num_cycles)
    start = warm + stable

    def schedule(count):
        dtype = float_dtype()
        n = jnp.maximum(_step(count, dtype), 0.0)
        done = n - start
        down = _decay_shape(decay_type, done, decay - done, float(decay), 2.0 * cycles)
        down = jnp.where(
            done < decay, _floored(down, min_ratio, dtype), cast(min_ratio, dtype)
        )
        out = jnp.where(n < start, 1.0, down)
        if warm:
            up = _floored(
                _warmup_shape(warmup_type, n, warm - n, float(warm)), min_ratio, dtype
            )
            out = jnp.where(n < warm, up, out)
        return cast(peak_value, dtype) * out

    return schedule


def warmup_cosine(
    peak_value: float,
    *,
    warmup_steps: int,
    total_steps: int,
    num_cycles: float = 0.5,
    min_ratio: float = 0.0,
    restarts: bool = False,
    after_total: str = "hold",
    one_step_ahead: bool = False,
    warmup_start_ratio: Optional[float] = None,
) -> Schedule:
    r"""Linear warm-up, then cosine decay to a floor; Hugging Face's cosine family.

    With $W$ warm-up steps, $T$ total steps, $p = (n - W)/(T - W)$, floor $m$ and $c$
    = `num_cycles`:

    $$
    \eta(n) = \eta \cdot \begin{cases}
      r + (1 - r)\, n / W & n < W \\
      \big(\tfrac12(1 + \cos 2\pi c\,p)\big)(1 - m) + m & W \le n
    \end{cases}
    $$

    ($r$ = `warmup_start_ratio`, 0 by default). With `restarts` the cosine is
    $\tfrac12(1 + \cos(\pi \{c\,p\}))$ ($\{\cdot\}$ the fractional part): $c$ hard
    restarts, each a half-wave from $\eta$ to the floor; $c$ must then be a whole
    number (Hugging Face's `cosine_with_restarts` defaults to 1).

    After $T$ (`after_total`): `"hold"` (the default) keeps the value reached at
    $T$, the floor for $c = ½$, as optax and [`lrjax.cosine_decay`][] do;
    `"continue"` follows the cosine past $T$, so the rate rises again, as Hugging
    Face's `cosine`, `cosine_with_min_lr` and `cosine_warmup_with_min_lr` do. With
    `restarts` the rate is the floor from $T$ on (Hugging Face drops to 0) in both.

    `one_step_ahead` is Hugging Face's `cosine_warmup_with_min_lr` convention: the
    warm-up is $(n + 1)/W$ (or, with $r$ given, $r + (1 - r)\, n/\max(1, W - 1)$), and
    the cosine uses $p' = (n - W + 1)/(T - W)$, one step ahead of the others.

    Args:
      peak_value: $\eta \ge 0$.
      warmup_steps: $W \ge 0$.
      total_steps: $T > W$, including the warm-up.
      num_cycles: $c > 0$ (½: one half-wave from $\eta$ down to the floor).
      min_ratio: $m \in [0, 1]$, the floor as a fraction of $\eta$.
      restarts: hard restarts (Hugging Face's `cosine_with_restarts`).
      after_total: `"hold"` or `"continue"`, the rate after $T$.
      one_step_ahead: Hugging Face's `cosine_warmup_with_min_lr` offsets.
      warmup_start_ratio: $r \in [0, 1]$, the warm-up's first value over $\eta$;
        `None` means 0, or $1/W$ with `one_step_ahead`.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.warmup_cosine(1.0, warmup_steps=2, total_steps=10, min_ratio=0.1)
      >>> print(" ".join(f"{float(s(n)):.4f}" for n in [0, 1, 2, 6, 10, 14]))
      0.0000 0.5000 1.0000 0.5500 0.1000 0.1000
      >>> r = lrjax.warmup_cosine(1.0, warmup_steps=0, total_steps=8, num_cycles=2,
      ...                         restarts=True)
      >>> print(" ".join(f"{float(r(n)):.4f}" for n in [0, 2, 3, 4, 8]))
      1.0000 0.5000 0.1464 1.0000 0.0000

    References:
      Loshchilov & Hutter, SGDR, 2017, https://arxiv.org/abs/1608.03983. Hugging Face
      `get_scheduler` with `num_warmup_steps=W, num_training_steps=T`: `cosine`
      (`num_cycles`) is `min_ratio=0`, `cosine_with_min_lr` (`min_lr_rate`) is
      `min_ratio=m`, `cosine_with_restarts` (`num_cycles`) is `restarts=True`,
      `cosine_warmup_with_min_lr` (`min_lr_rate`, `warmup_lr_rate`) is
      `one_step_ahead=True, min_ratio=m, warmup_start_ratio=r`: identical at every
      step up to $T$, and after it with `after_total="continue"`.
    """
    validate.nonnegative("peak_value", peak_value)
    warm = validate.nonnegative_int("warmup_steps", warmup_steps)
    total = validate.positive_int("total_steps", total_steps)
    if total <= warm:
        raise ValueError(
            f"total_steps must be > warmup_steps={warmup_steps!r}, got {total_steps!r}"
        )
    checked_cycles = validate.positive("num_cycles", num_cycles)
    cycles = concrete("num_cycles", checked_cycles, num_cycles)
    _ratio("min_ratio", min_ratio)
    restart = validate.boolean("restarts", restarts)
    if restart and not float(cycles).is_integer():
        raise ValueError(
            f"num_cycles must be a whole number with restarts=True, got {num_cycles!r}"
        )
    validate.choice("after_total", after_total, ("hold", "continue"))
    ahead = validate.boolean("one_step_ahead", one_step_ahead)
    if warmup_start_ratio is not None:
        _ratio("warmup_start_ratio", warmup_start_ratio)
    length = float(total - warm)

    def schedule(count):
        dtype = float_dtype()
        n = jnp.maximum(_step(count, dtype), 0.0)
        done = n - warm + (1.0 if ahead else 0.0)
        if restart:
            k = jnp.clip(done, 0.0, length) * cycles
            k = k - length * floor_div(k, length)  # (c p mod 1) in steps
            factor = cos_weights(*fractions(k, length - k, length))[0]
            factor = jnp.where(done < length, factor, 0.0)
        else:
            k = jnp.maximum(done, 0.0)
            if after_total == "hold":
                k = jnp.minimum(k, length)
            factor = _cosine(k, length, 2.0 * cycles)
        out = _floored(factor, min_ratio, dtype)
        if warm:
            if ahead and warmup_start_ratio is None:
                ramp = (n + 1.0) / warm
            else:
                r = cast(0.0 if warmup_start_ratio is None else warmup_start_ratio, dtype)
                span = float(max(1, warm - 1)) if ahead else float(warm)
                ramp = r + (1.0 - r) * (n / span)
            out = jnp.where(n < warm, ramp, out)
        return cast(peak_value, dtype) * out

    return schedule


__all__ = ["inverse_sqrt_decay", "noam", "warmup_cosine", "warmup_stable_decay"]
