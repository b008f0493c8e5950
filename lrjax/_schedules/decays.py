"""Decays: the seed's three, and the decays of Keras and PyTorch beside them.

`constant`; the seed's `time_based_decay`, `step_decay` and `exponential_decay`;
Keras's `InverseTimeDecay` and `PolynomialDecay`, PyTorch's `LinearLR`.

A schedule maps the 0-based update count `n` (the `count` optax passes; the first
update uses `n = 0`) to a learning rate. Each is pure `jnp` arithmetic of `n`: it
accepts int or float steps, scalars or arrays (element-wise), traced or concrete, and
returns the default float dtype (float32, or float64 under x64). Hyperparameters are
checked when the schedule is built. `docs/schedules.md` maps every schedule onto its
Keras and PyTorch counterparts, with their step offsets.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._shared import validate
from .._shared.base import Schedule
from .arithmetic import as_float, cast, exp_times, float_dtype, floor_div, fractions, power


def constant(value: float) -> Schedule:
    r"""A constant learning rate, $\eta(n) = \eta$.

    Args:
      value: $\eta \ge 0$.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> print(f"{float(lrjax.constant(0.1)(1000)):.4f}")
      0.1000

    References:
      optax `constant_schedule`; PyTorch `ConstantLR` with `factor=1`.
    """
    validate.nonnegative("value", value)

    def schedule(count):
        dtype = float_dtype()
        return jnp.full(jnp.shape(count), cast(value, dtype), dtype)

    return schedule


# ---------------------------------------------------------------- the seed's decays

_HEAD = 16  # terms summed directly before Stirling's series takes over (z >= 16)
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188)  # < 1e-17 at z >= 16


def _stirling_remainder(z: jax.Array) -> jax.Array:
    """`lgamma(z) - ((z - 1/2) log z - z + log(2π)/2)` for `z >= 16`."""
    inv = 1.0 / z
    inv2 = inv * inv
    acc = jnp.zeros_like(z)
    for c in reversed(_STIRLING):
        acc = acc * inv2 + c
    return acc * inv


def _xlog1p_minus(y: jax.Array) -> jax.Array:
    """`(1 + y) log1p(y) - y >= 0` without cancellation for small `y`.

    With `u = y / (2 + y)` it equals `u^2 (2 + y) Σ_j u^j / (2⌈j/2⌉ + 1)`, a series
    of positive terms (from `log1p(y) = 2 atanh(u)`); used for `y <= 2` (`u <= 1/2`).
    """
    terms = 24 if y.dtype == jnp.float32 else 56  # u^terms < 1e-8 (1e-17) of the sum
    u = y / (2.0 + y)
    # Horner with positive terms and u <= 1/2: rounding errors shrink as they propagate.
    acc = jnp.zeros_like(y)
    for j in reversed(range(terms)):
        acc = acc * u + 1.0 / (2 * ((j + 1) // 2) + 1)
    series = u * u * (2.0 + y) * acc
    direct = (1.0 + y) * jnp.log1p(y) - y
    return jnp.where(y <= 2.0, series, direct)


def _log_rising_product(whole: jax.Array, d: jax.Array) -> jax.Array:
    r"""$S(N) = \sum_{k<N} \log(1 + d k)$ for integer-valued `N >= 0`, `d >= 0`.

    The first 16 terms are summed directly. The rest is
    $\log\Gamma(b + m) - \log\Gamma(b) + m \log d$ with $b = 1/d + 16$,
    $m = N - 16$, rewritten with Stirling's series as
    $m \log(1 + 16 d) + b\, g(m/b) - \tfrac12 \log(1 + m/b) + \epsilon(b + m) -
    \epsilon(b)$, $g(y) = (1+y)\log(1+y) - y$: the huge $\log\Gamma$ terms
    cancel analytically, every large term is positive, and float32 keeps a relative
    error of a few ulps in $S$ for any `d` and `N` up to 2^24.
    """
    tiny = d < 1e-30  # 1/d would overflow; S = d N (N - 1) / 2 to relative O(d N)
    ds = jnp.where(tiny, 1.0, d)
    k = jnp.arange(_HEAD, dtype=whole.dtype)
    head = jnp.sum(jnp.where(k < whole[..., None], jnp.log1p(ds[..., None] * k), 0.0), -1)
    m = jnp.maximum(whole - _HEAD, 0.0)
    b = (1.0 + _HEAD * ds) / ds
    y = m * ds / (1.0 + _HEAD * ds)
    tail = (
        m * jnp.log1p(_HEAD * ds)
        + b * _xlog1p_minus(y)
        - 0.5 * jnp.log1p(y)
        + (_stirling_remainder(b + m) - _stirling_remainder(b))
    )
    exact = head + jnp.where(whole > _HEAD, tail, 0.0)
    small = d * jnp.maximum(whole, 0.0) * jnp.maximum(whole - 1.0, 0.0) * 0.5
    return jnp.where(tiny, small, exact)


def time_based_decay(init_value: float, decay: float) -> Schedule:
    r"""Time-based decay, the seed formula $\eta_{n+1} = \eta_n / (1 + d\,n)$.

    $$
    \eta(n) = \frac{\eta_0}{\prod_{k=0}^{n-1} (1 + d\,k)}
            = \eta_0 \exp\Big(-\sum_{k<n} \log(1 + d\,k)\Big)
    $$

    so $\eta(0) = \eta(1) = \eta_0$ and the decay is faster than exponential
    ($\eta_0 = 0.1$, $d = 0.01$: 2.45e-6 at $n = 50$). It is computed
    in closed form, with no loop over $n$: the sum is
    $n \log d + \log\Gamma(n + 1/d) - \log\Gamma(1/d)$, evaluated without the
    cancellation of its two huge log-gamma terms (see `docs/schedules.md`). In float32
    the relative error is at most about $(1 + S)\,$ 3e-7 where $S =
    \log(\eta_0 / \eta(n))$, for every $d$ and $n$ up to 10^7: the
    conditioning of `exp`. The rate underflows to exactly 0 (never NaN) once it falls
    below the smallest normal float, and stays finite up to $n = 2^{31} - 1$.
    A float step $n = N + f$ interpolates geometrically inside step $N$:
    $\eta(N + f) = \eta(N) (1 + d N)^{-f}$.

    Args:
      init_value: $\eta_0 \ge 0$.
      decay: $d \ge 0$ (`0` gives a constant).

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.time_based_decay(0.1, decay=0.01)
      >>> print(" ".join(f"{float(s(n)):.4g}" for n in [0, 1, 2, 50, 10**7]))
      0.1 0.1 0.09901 2.45e-06 0

    References:
      The seed formula; not the same as Keras's `InverseTimeDecay` or legacy
      `decay=` argument, $\eta_0/(1 + d\,n)$ (that is
      [`lrjax.inverse_time_decay`][]). No Keras or PyTorch class computes this product.
    """
    validate.nonnegative("init_value", init_value)
    validate.nonnegative("decay", decay)

    def schedule(count):
        dtype = float_dtype()
        n = jnp.maximum(as_float(count, dtype), 0.0)
        d = cast(decay, dtype)
        whole = jnp.floor(n)
        log_product = _log_rising_product(whole, d) + (n - whole) * jnp.log1p(d * whole)
        return cast(init_value, dtype) * jnp.exp(-log_product)

    return schedule


def inverse_time_decay(
    init_value: float, *, decay_rate: float, decay_steps: float = 1, staircase: bool = False
) -> Schedule:
    r"""Inverse-time decay, $\eta(n) = \eta_0 / (1 + r\, n / T)$.

    With `staircase` the exponent uses $\lfloor n / T \rfloor$.

    Args:
      init_value: $\eta_0 \ge 0$.
      decay_rate: $r \ge 0$.
      decay_steps: $T > 0$ (real).
      staircase: decay in whole periods of $T$ steps.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.inverse_time_decay(0.1, decay_rate=0.5, decay_steps=10)
      >>> print(f"{float(s(20)):.4f}")
      0.0500

    References:
      Keras `InverseTimeDecay(initial_learning_rate, decay_steps, decay_rate,
      staircase)`: identical at every step. Keras 2's legacy optimizer argument
      `decay=r` is `decay_steps=1`.
    """
    validate.nonnegative("init_value", init_value)
    validate.nonnegative("decay_rate", decay_rate)
    validate.positive("decay_steps", decay_steps)
    validate.boolean("staircase", staircase)

    def schedule(count):
        dtype = float_dtype()
        p = as_float(count, dtype) / cast(decay_steps, dtype)
        if staircase:
            p = floor_div(as_float(count, dtype), cast(decay_steps, dtype))
        return cast(init_value, dtype) / (1.0 + cast(decay_rate, dtype) * p)

    return schedule


def step_decay(init_value: float, *, drop: float, drop_every: int) -> Schedule:
    r"""Step decay, the seed formula $\eta(n) = \eta_0\, d^{\lfloor (1+n)/r \rfloor}$.

    The first drop happens at $n = r - 1$, one step before PyTorch's `StepLR`
    and Keras's `ExponentialDecay(staircase=True)`, which both compute
    $\eta_0 d^{\lfloor n/r \rfloor}$: their value at step $n$ is this
    schedule's at $n - 1$ (so `join` or `s(n - 1)` reproduces them).

    Args:
      init_value: $\eta_0 \ge 0$.
      drop: the factor $d \in [0, 1]$ applied at each drop.
      drop_every: $r \ge 1$ steps between drops.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.step_decay(0.1, drop=0.5, drop_every=10)
      >>> print(" ".join(f"{float(s(n)):.3f}" for n in [0, 8, 9, 19, 29]))
      0.100 0.100 0.050 0.025 0.013

    References:
      The seed formula; PyTorch `StepLR(step_size=r, gamma=d)` and Keras
      `ExponentialDecay(η0, r, d, staircase=True)` at step `n` equal this at `n - 1`.
    """
    validate.nonnegative("init_value", init_value)
    checked = validate.in_range("drop", drop, 0.0, 1.0)
    every = validate.positive_int("drop_every", drop_every)

    def schedule(count):
        dtype = float_dtype()
        k = floor_div(1.0 + as_float(count, dtype), every)
        return cast(init_value, dtype) * power(drop, k, checked)

    return schedule


def exponential_decay(init_value: float, *, decay: float) -> Schedule:
    r"""Exponential decay, the seed formula $\eta(n) = \eta_0\, e^{-d\,n}$.

    Computed as $e^{-d\,n}$ with the integer part of $n$ split so that float32
    keeps a few ulps of relative error at any $d\,n$ (a naive `exp(-d * n)` loses
    $d\,n$ ulps).

    Args:
      init_value: $\eta_0 \ge 0$.
      decay: $d \ge 0$.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.exponential_decay(0.1, decay=0.05)
      >>> print(f"{float(s(20)):.5f}")
      0.03679

    References:
      The seed formula. PyTorch `ExponentialLR(gamma=γ)` is `decay = -log γ`; Keras
      `ExponentialDecay(η0, T, ρ)` (`staircase=False`) is `decay = -log(ρ) / T`;
      both identical at every step.
    """
    validate.nonnegative("init_value", init_value)
    d = validate.nonnegative("decay", decay)

    def schedule(count):
        dtype = float_dtype()
        n = as_float(count, dtype)
        log_factor = -d if d is not None else -cast(decay, dtype)
        return cast(init_value, dtype) * exp_times(n, log_factor)

    return schedule


# ----------------------------------------------------- Keras's and PyTorch's decays


def polynomial_decay(
    init_value: float,
    *,
    end_value: float,
    decay_steps: int,
    power: float = 1.0,
    cycle: bool = False,
) -> Schedule:
    r"""Polynomial decay from $\eta_0$ to $\eta_T$ over $T$ steps.

    $$
    \eta(n) = (\eta_0 - \eta_T)(1 - \min(n, T)/T)^p + \eta_T
    $$

    With `cycle`, $T$ is replaced by $T \lceil n/T \rceil$ (and $T$ at
    $n = 0$), so the decay restarts from a lower value each period instead of
    staying at $\eta_T$.

    Args:
      init_value: $\eta_0 \ge 0$.
      end_value: $\eta_T \ge 0$ (may exceed $\eta_0$).
      decay_steps: $T \ge 1$.
      power: $p > 0$.
      cycle: restart as Keras does.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.polynomial_decay(1.0, end_value=0.0, decay_steps=10, power=2.0)
      >>> print(" ".join(f"{float(s(n)):.2f}" for n in [0, 5, 10, 20]))
      1.00 0.25 0.00 0.00

    References:
      Keras `PolynomialDecay(initial_learning_rate, decay_steps, end_learning_rate,
      power, cycle)`: identical at every step. PyTorch `PolynomialLR(total_iters=T,
      power=p)` is `polynomial_decay(lr, end_value=0.0, decay_steps=T, power=p)`. optax
      `polynomial_schedule` (no `cycle`).
    """
    validate.nonnegative("init_value", init_value)
    validate.nonnegative("end_value", end_value)
    steps = validate.positive_int("decay_steps", decay_steps)
    p_checked = validate.positive("power", power)
    validate.boolean("cycle", cycle)
    exponent = power

    def schedule(count):
        dtype = float_dtype()
        n = jnp.maximum(as_float(count, dtype), 0.0)
        if cycle:
            length = float(steps) * jnp.maximum(-floor_div(-n, steps), 1.0)  # T ceil(n/T)
        else:
            length = jnp.asarray(float(steps), dtype)
            n = jnp.minimum(n, length)
        # In float32 T ceil(n/T) can round below n far out: keep p in [0, 1].
        p = jnp.minimum(n / length, 1.0)
        q = jnp.maximum((length - n) / length, 0.0)
        if p_checked == 1.0:
            kept, lost = q, p
        else:
            e = cast(exponent, dtype)
            kept = q**e  # q = (L - n)/L is accurate at every step
            # 1 - q^e: from p = n/L near the start, without cancellation; from q^e
            # itself past the middle, where p = n/L has lost the digits of 1 - p
            # (1 - (1 - p)^e beside q^e left their sum 4e-5 off 1 in float32).
            near_start = p < 0.5
            lost = jnp.where(
                near_start,
                -jnp.expm1(e * jnp.log1p(-jnp.where(near_start, p, 0.0))),
                1.0 - kept,
            )
        return cast(init_value, dtype) * kept + cast(end_value, dtype) * lost

    return schedule


def linear_schedule(
    init_value: float, *, end_value: float, transition_steps: int
) -> Schedule:
    r"""Linear interpolation, then constant: $\eta_0 + (\eta_T - \eta_0)\min(n,T)/T$.

    Args:
      init_value: $\eta_0 \ge 0$.
      end_value: $\eta_T \ge 0$.
      transition_steps: $T \ge 1$.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.linear_schedule(0.0, end_value=1.0, transition_steps=4)
      >>> print(" ".join(f"{float(s(n)):.2f}" for n in range(6)))
      0.00 0.25 0.50 0.75 1.00 1.00

    References:
      optax `linear_schedule` (identical). PyTorch `LinearLR(start_factor=a,
      end_factor=b, total_iters=T)` on a base rate $\eta$ is
      `linear_schedule(a * η, end_value=b * η, transition_steps=T)`, identical at
      every step.
    """
    validate.nonnegative("init_value", init_value)
    validate.nonnegative("end_value", end_value)
    steps = validate.positive_int("transition_steps", transition_steps)

    def schedule(count):
        dtype = float_dtype()
        # float(steps): a Python int past 2**31 would overflow as an int32 operand.
        n = jnp.clip(as_float(count, dtype), 0.0, float(steps))
        p, q = fractions(n, float(steps) - n, float(steps))
        return cast(init_value, dtype) * q + cast(end_value, dtype) * p

    return schedule


__all__ = [
    "constant",
    "exponential_decay",
    "inverse_time_decay",
    "linear_schedule",
    "polynomial_decay",
    "step_decay",
    "time_based_decay",
]
