"""Learning-rate schedules: the seed's three decays and the Keras/PyTorch parity set.

A schedule maps the 0-based update count `n` (the `count` optax passes; the first
update uses `n = 0`) to a learning rate. Each is pure `jnp` arithmetic of `n`: it
accepts int or float steps, scalars or arrays (element-wise), traced or concrete, and
returns the default float dtype (float32, or float64 under x64). Hyperparameters are
checked when the schedule is built. `docs/schedules.md` maps every schedule onto its
Keras and PyTorch counterparts, with their step offsets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
import jax
import jax.numpy as jnp
import numpy as np

from ._combine import (
    as_float,
    below,
    cast,
    concrete,
    cos_weights,
    exp_times,
    float_dtype,
    floor_div,
    fractions,
    power as _power,
)
from ._shared import validate
from ._shared.base import Schedule

_INF = float("inf")


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
        return cast(init_value, dtype) * _power(drop, k, checked)

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


# ---------------------------------------------------------------- parity schedules


def multistep_decay(init_value: float, milestones: Sequence[int], factor: float) -> Schedule:
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
            return cast(init_value, dtype) * _power(factor, passed, checked)
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
        p, q = n / length, (length - n) / length
        if p_checked == 1.0:
            kept, lost = q, p
        else:
            e = cast(exponent, dtype)
            kept = q**e
            lost = -jnp.expm1(e * jnp.log1p(-p))  # 1 - q^e without cancellation
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


def cosine_decay(init_value: float, decay_steps: int, *, alpha: float = 0.0) -> Schedule:
    r"""Cosine annealing from $\eta_0$ to $\alpha\eta_0$ over $T$ steps.

    $$
    \eta(n) = \eta_0\Big((1 - \alpha)\tfrac12\big(1 + \cos(\pi \min(n,T)/T)\big)
              + \alpha\Big)
    $$

    then constant at $\alpha\eta_0$. Computed through half-angle squares, so the
    rate keeps its float32 relative accuracy as it approaches $\alpha\eta_0 = 0$.

    Args:
      init_value: $\eta_0 \ge 0$.
      decay_steps: $T \ge 1$.
      alpha: the final rate as a fraction of $\eta_0$, in $[0, 1]$.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.cosine_decay(1.0, decay_steps=10, alpha=0.1)
      >>> print(" ".join(f"{float(s(n)):.3f}" for n in [0, 5, 10, 15]))
      1.000 0.550 0.100 0.100

    References:
      Loshchilov & Hutter, SGDR: Stochastic Gradient Descent with Warm Restarts, 2017,
      https://arxiv.org/abs/1608.03983. Keras `CosineDecay(η0, T, alpha)` (no
      warm-up) and optax `cosine_decay_schedule`: identical at every step. PyTorch
      `CosineAnnealingLR(T_max=T, eta_min=α η0)`: identical for $n \le T$; after
      $T$ PyTorch keeps following the cosine back up, this stays at the floor.
    """
    validate.nonnegative("init_value", init_value)
    steps = validate.positive_int("decay_steps", decay_steps)
    validate.in_range("alpha", alpha, 0.0, 1.0)

    def schedule(count):
        dtype = float_dtype()
        n = jnp.clip(as_float(count, dtype), 0.0, float(steps))
        c, s = cos_weights(*fractions(n, float(steps) - n, float(steps)))
        return cast(init_value, dtype) * (c + cast(alpha, dtype) * s)

    return schedule


def _restart_starts(first: int, t_mul: float) -> np.ndarray | None:
    """Cycle start steps `T (t^i - 1)/(t - 1)` in float64, up to past 2**63."""
    starts, length = [0.0], float(first)
    while starts[-1] <= 2.0**63:
        if len(starts) > 2**15:
            return None  # t_mul so close to 1 that a table is too long
        starts.append(starts[-1] + length)
        length *= t_mul
    return np.asarray(starts)


def cosine_restarts(
    init_value: float,
    *,
    first_decay_steps: int,
    t_mul: float = 2.0,
    m_mul: float = 1.0,
    alpha: float = 0.0,
) -> Schedule:
    r"""Cosine annealing with warm restarts (SGDR).

    Cycle $i = 0, 1, \dots$ starts at $S_i = T (t^i - 1)/(t - 1)$ ($iT$
    if $t = 1$) and lasts $T_i = T t^i$ steps; with $f = (n - S_i)/T_i$

    $$
    \eta(n) = \eta_0\Big((1 - \alpha)\, m^i\, \tfrac12\big(1 + \cos \pi f\big)
              + \alpha\Big)
    $$

    The floor $\alpha\eta_0$ is not multiplied by $m^i$ (as in Keras). Cycle
    boundaries are found exactly (from a float64 table built once), so a restart lands
    on its step even in float32.

    Args:
      init_value: $\eta_0 \ge 0$.
      first_decay_steps: $T \ge 1$, the length of the first cycle.
      t_mul: $t \ge 1$, each cycle is $t$ times longer than the last.
      m_mul: $m \ge 0$, each cycle starts $m$ times lower.
      alpha: the floor as a fraction of $\eta_0$, in $[0, 1]$.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.cosine_restarts(1.0, first_decay_steps=4, t_mul=2.0, m_mul=0.5)
      >>> print(" ".join(f"{float(s(n)):.3f}" for n in [0, 2, 4, 8, 12]))
      1.000 0.500 0.500 0.250 0.250

    References:
      Loshchilov & Hutter, SGDR: Stochastic Gradient Descent with Warm Restarts, 2017,
      https://arxiv.org/abs/1608.03983. Keras `CosineDecayRestarts(η0, T, t_mul,
      m_mul, alpha)`: identical at every step. PyTorch
      `CosineAnnealingWarmRestarts(T_0=T, T_mult=t, eta_min=α η0)` (integer
      $t$, $m = 1$): identical at every step.
    """
    validate.nonnegative("init_value", init_value)
    first = validate.positive_int("first_decay_steps", first_decay_steps)
    t = concrete("t_mul", validate.in_range("t_mul", t_mul, 1.0, _INF), t_mul)
    m_checked = validate.nonnegative("m_mul", m_mul)
    validate.in_range("alpha", alpha, 0.0, 1.0)
    table = None if t == 1.0 else _restart_starts(first, t)

    def locate(n):
        """Restart index `i`, steps into the cycle, steps left, and cycle length."""
        if t == 1.0:
            # The remainder is exact in floating point (IEEE fmod), so the phase stays
            # in its cycle for any step, even where n - floor(n/T) T would round to
            # outside it (a float32 step past 2**24 is a multiple of its ulp).
            length = jnp.asarray(float(first), n.dtype)
            done = jax.lax.rem(n, length)
            i = jnp.round((n - done) / length)
            return i, done, length - done, length
        if table is not None:
            starts = jnp.asarray(table, n.dtype)
            # Tables hold <= 33 starts for t_mul >= 2: comparing against all of them
            # compiles and runs faster than a binary search there.
            method = "compare_all" if len(table) <= 64 else "scan"
            j = jnp.searchsorted(starts, n, side="right", method=method) - 1
            j = jnp.clip(j, 0, len(table) - 2)
            start, end = starts[j], starts[j + 1]
            return j.astype(n.dtype), n - start, end - n, end - start
        # t_mul within ~3e-4 of 1: invert S_i and correct the estimate by one cycle.
        log_t = math.log(t)

        def start_of(i):
            return float(first) * jnp.expm1(i * log_t) / (t - 1.0)

        i = jnp.floor(jnp.log1p(n * (t - 1.0) / float(first)) / log_t)
        i = jnp.where(n < start_of(i), i - 1.0, i)
        i = jnp.where(n >= start_of(i + 1.0), i + 1.0, i)
        start, end = start_of(i), start_of(i + 1.0)
        return i, n - start, end - n, end - start

    def schedule(count):
        dtype = float_dtype()
        n = jnp.maximum(as_float(count, dtype), 0.0)
        i, done, left, length = locate(n)
        c, _ = cos_weights(*fractions(done, left, length))
        a = cast(alpha, dtype)
        peak = _power(m_mul, i, m_checked)
        return cast(init_value, dtype) * ((1.0 - a) * peak * c + a)

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
        index = sum(((~below(count, b, dtype)).astype(jnp.int32) for b in bounds),
                    jnp.zeros(jnp.shape(count), jnp.int32))
        return jnp.take(table, index)

    return schedule


# ---------------------------------------------------------------- cyclical schedules

_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def _cyclic_weight(step_size_up, step_size_down, mode, gamma):
    """The height $w(n) \\in [0, 1]$ of PyTorch `CyclicLR`'s triangle wave."""
    up = validate.positive_int("step_size_up", step_size_up)
    down = up if step_size_down is None else step_size_down
    down = validate.positive_int("step_size_down", down)
    validate.choice("mode", mode, _CYCLIC_MODES)
    g = validate.in_range("gamma", gamma, 0.0, 1.0, low_open=True)
    # Floats: Python ints past 2**31 would overflow as int32 operands.
    total, up, down = float(up + down), float(up), float(down)

    def weight(count):
        dtype = float_dtype()
        n = as_float(count, dtype)
        # The remainder is exact in floating point (IEEE fmod) for any step n >= 0, so a
        # float32 step past 2**24 stays inside its cycle (n - floor(n/T) T need not).
        into = jnp.remainder(n, jnp.asarray(total, dtype))
        cycle = jnp.round((n - into) / total)
        height = jnp.where(into <= up, into / up, (total - into) / down)
        if mode == "triangular2":
            # 2^-c is 0 in any float format once c > 1100; clip before the int cast.
            height = jnp.ldexp(height, -jnp.clip(cycle, 0.0, 2048.0).astype(jnp.int32))
        elif mode == "exp_range":
            height = height * _power(gamma, n, g)
        return height

    return weight


def cyclic(
    base_value: float,
    *,
    max_value: float,
    step_size_up: int,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
) -> Schedule:
    r"""Cyclical learning rate: a triangle wave between `base_value` and `max_value`.

    With $U$ = `step_size_up`, $D$ = `step_size_down`, cycle
    $c = \lfloor n/(U+D) \rfloor$ and $r = n - c(U + D)$:

    $$
    \eta(n) = \eta_b + (\eta_m - \eta_b)\, h(r)\, f, \qquad
    h(r) = \begin{cases} r/U & r \le U \\ (U + D - r)/D & r > U \end{cases}
    $$

    with $f = 1$ (`"triangular"`), $2^{-c}$ (`"triangular2"`) or
    $\gamma^n$ (`"exp_range"`).

    Args:
      base_value: $\eta_b \ge 0$, the lower bound.
      max_value: $\eta_m \ge \eta_b$, the upper bound.
      step_size_up: $U \ge 1$ steps rising.
      step_size_down: $D \ge 1$ steps falling; `None` means $U$.
      mode: `"triangular"`, `"triangular2"` or `"exp_range"`.
      gamma: $\gamma \in (0, 1]$ for `"exp_range"`.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.cyclic(0.1, max_value=1.0, step_size_up=2, mode="triangular2")
      >>> print(" ".join(f"{float(s(n)):.3f}" for n in range(7)))
      0.100 0.550 1.000 0.550 0.100 0.325 0.550

    References:
      Smith, Cyclical Learning Rates for Training Neural Networks, 2017,
      https://arxiv.org/abs/1506.01186. PyTorch `CyclicLR(base_lr, max_lr, step_size_up,
      step_size_down, mode, gamma)`: identical at every step. [`lrjax.cyclic_momentum`][]
      gives its `cycle_momentum`.
    """
    b = validate.nonnegative("base_value", base_value)
    m = validate.nonnegative("max_value", max_value)
    if b is not None and m is not None and m < b:
        raise ValueError(f"max_value must be >= base_value={base_value!r}, got {max_value!r}")
    weight = _cyclic_weight(step_size_up, step_size_down, mode, gamma)

    def schedule(count):
        dtype = float_dtype()
        low, high = cast(base_value, dtype), cast(max_value, dtype)
        return low + (high - low) * weight(count)

    return schedule


def _momenta(base_momentum, max_momentum):
    b = validate.decay_rate("base_momentum", base_momentum)
    m = validate.decay_rate("max_momentum", max_momentum)
    if b is not None and m is not None and m < b:
        raise ValueError(
            f"max_momentum must be >= base_momentum={base_momentum!r}, got {max_momentum!r}"
        )


def cyclic_momentum(
    step_size_up: int,
    *,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    base_momentum: float = 0.8,
    max_momentum: float = 0.9,
) -> Schedule:
    r"""The momentum that PyTorch's `CyclicLR` cycles opposite to the learning rate.

    $$
    \mu(n) = \mu_m - (\mu_m - \mu_b)\, h(r)\, f
    $$

    with $h$ and $f$ as in [`lrjax.cyclic`][]: momentum is $\mu_m$ when the
    rate is lowest and $\mu_b$ when it peaks. Pass it as `trace`'s `decay` (or a
    later `b1`) to reproduce `CyclicLR(cycle_momentum=True)`.

    Args:
      step_size_up: $U \ge 1$.
      step_size_down: $D \ge 1$; `None` means $U$.
      mode: `"triangular"`, `"triangular2"` or `"exp_range"`.
      gamma: $\gamma \in (0, 1]$ for `"exp_range"`.
      base_momentum: $\mu_b \in [0, 1)$.
      max_momentum: $\mu_m \in [\mu_b, 1)$.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.cyclic_momentum(2)
      >>> print(" ".join(f"{float(s(n)):.3f}" for n in range(5)))
      0.900 0.850 0.800 0.850 0.900

    References:
      Smith, A disciplined approach to neural network hyper-parameters, 2018,
      https://arxiv.org/abs/1803.09820. PyTorch `CyclicLR(..., base_momentum,
      max_momentum)`: identical to the `momentum` it writes at every step.
    """
    _momenta(base_momentum, max_momentum)
    weight = _cyclic_weight(step_size_up, step_size_down, mode, gamma)

    def schedule(count):
        dtype = float_dtype()
        low, high = cast(base_momentum, dtype), cast(max_momentum, dtype)
        return high - (high - low) * weight(count)

    return schedule


def _one_cycle_ends(total_steps, pct_start, three_phase) -> list[float]:
    validate.boolean("three_phase", three_phase)
    """PyTorch `OneCycleLR`'s phase end steps, computed as it does in float64."""
    total = validate.positive_int("total_steps", total_steps)
    pct = validate.in_range("pct_start", pct_start, 0.0, 1.0, low_open=True, high_open=True)
    pct = concrete("pct_start", pct, pct_start)
    first = float(pct * total) - 1
    if first <= 0:
        raise ValueError(
            f"pct_start * total_steps must be > 1, got pct_start={pct_start!r} and "
            f"total_steps={total_steps!r}"
        )
    if not three_phase:
        return [first, total - 1.0]
    second = float(2 * pct * total) - 2
    if second >= total - 1:
        raise ValueError(
            "three_phase needs 2 * pct_start * total_steps - 2 < total_steps - 1, got "
            f"pct_start={pct_start!r} and total_steps={total_steps!r}"
        )
    return [first, second, total - 1.0]


def _anneal(n, ends, pairs, anneal):
    """Piecewise annealing between `pairs[k] = (start, end)` up to `ends[k]`."""
    values, start = [], 0.0
    for end, (a, b) in zip(ends, pairs):
        p, q = fractions(n - start, end - n, end - start)
        if anneal == "cos":
            c, s = cos_weights(p, q)
            values.append(a * c + b * s)
        else:
            values.append(a * q + b * p)
        start = end
    out = values[-1]
    for end, value in zip(ends[-2::-1], values[-2::-1]):
        out = jnp.where(n <= end, value, out)  # the first phase with n <= end wins
    return out


def one_cycle(
    max_value: float,
    *,
    total_steps: int,
    pct_start: float = 0.3,
    anneal: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> Schedule:
    r"""The 1cycle policy: warm up to `max_value`, then anneal far below the start.

    With $\eta_i = \eta_m/\text{div}$, $\eta_f = \eta_i/\text{final\_div}$
    and $e_1 = \text{pct} \cdot N - 1$, the rate anneals (cosine or linear)
    $\eta_i \to \eta_m$ over $[0, e_1]$ and $\eta_m \to \eta_f$ over
    $[e_1, N - 1]$. With `three_phase`: $\eta_i \to \eta_m$ over
    $[0, e_1]$, $\eta_m \to \eta_i$ over $[e_1, 2\,\text{pct}\,N - 2]$,
    then $\eta_i \to \eta_f$ until $N - 1$. Cosine annealing from $a$
    to $b$ over a fraction $p$ is $b + (a - b)(1 + \cos\pi p)/2$.
    After $N - 1$ the rate stays at $\eta_f$.

    Args:
      max_value: $\eta_m \ge 0$, the peak.
      total_steps: $N \ge 2$, the length of the cycle.
      pct_start: the fraction of $N$ spent rising, in $(0, 1)$, with
        $\text{pct}\,N > 1$.
      anneal: `"cos"` or `"linear"`.
      div_factor: $\text{div} > 0$.
      final_div_factor: $\text{final\_div} > 0$.
      three_phase: add the symmetric descent back to $\eta_i$ (fastai's variant).

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.one_cycle(1.0, total_steps=10, pct_start=0.5, anneal="linear")
      >>> print(" ".join(f"{float(s(n)):.3f}" for n in [0, 2, 4, 5, 9]))
      0.040 0.520 1.000 0.800 0.000

    References:
      Smith & Topin, Super-Convergence: Very Fast Training of Neural Networks Using Large
      Learning Rates, 2018, https://arxiv.org/abs/1708.07120. PyTorch
      `OneCycleLR(max_lr, total_steps, pct_start, anneal_strategy, div_factor,
      final_div_factor, three_phase)`: identical for $n \le N - 1$ (PyTorch
      raises after $N$). optax `cosine_onecycle_schedule` peaks one step later.
      [`lrjax.one_cycle_momentum`][] gives its `cycle_momentum`.
    """
    validate.nonnegative("max_value", max_value)
    validate.positive("div_factor", div_factor)
    validate.positive("final_div_factor", final_div_factor)
    validate.choice("anneal", anneal, ("cos", "linear"))
    ends = _one_cycle_ends(total_steps, pct_start, three_phase)

    def schedule(count):
        dtype = float_dtype()
        peak = cast(max_value, dtype)
        start = peak / cast(div_factor, dtype)
        low = start / cast(final_div_factor, dtype)
        pairs = [(start, peak), (peak, start), (start, low)]
        pairs = pairs if three_phase else [(start, peak), (peak, low)]
        return _anneal(as_float(count, dtype), ends, pairs, anneal)

    return schedule


def one_cycle_momentum(
    total_steps: int,
    *,
    pct_start: float = 0.3,
    anneal: str = "cos",
    three_phase: bool = False,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
) -> Schedule:
    r"""The momentum that PyTorch's `OneCycleLR` cycles opposite to the learning rate.

    Anneals $\mu_m \to \mu_b$ while the rate rises and $\mu_b \to \mu_m$ while
    it falls (with `three_phase`, then holds $\mu_m$), over the phases of
    [`lrjax.one_cycle`][] with the same arguments.

    Args:
      total_steps: $N \ge 2$.
      pct_start: as in [`lrjax.one_cycle`][].
      anneal: `"cos"` or `"linear"`.
      three_phase: as in [`lrjax.one_cycle`][].
      base_momentum: $\mu_b \in [0, 1)$, reached at the peak rate.
      max_momentum: $\mu_m \in [\mu_b, 1)$.

    Returns:
      A schedule.

    Examples:
      >>> import lrjax
      >>> s = lrjax.one_cycle_momentum(10, pct_start=0.5, anneal="linear")
      >>> print(" ".join(f"{float(s(n)):.3f}" for n in [0, 2, 4, 9]))
      0.950 0.900 0.850 0.950

    References:
      Smith, A disciplined approach to neural network hyper-parameters, 2018,
      https://arxiv.org/abs/1803.09820. PyTorch `OneCycleLR(..., base_momentum,
      max_momentum)`: identical to the `momentum` it writes at every step.
    """
    _momenta(base_momentum, max_momentum)
    validate.choice("anneal", anneal, ("cos", "linear"))
    ends = _one_cycle_ends(total_steps, pct_start, three_phase)

    def schedule(count):
        dtype = float_dtype()
        low, high = cast(base_momentum, dtype), cast(max_momentum, dtype)
        pairs = [(high, low), (low, high), (high, high)]
        pairs = pairs if three_phase else [(high, low), (low, high)]
        return _anneal(as_float(count, dtype), ends, pairs, anneal)

    return schedule


__all__ = [
    "constant",
    "cosine_decay",
    "cosine_restarts",
    "cyclic",
    "cyclic_momentum",
    "exponential_decay",
    "inverse_time_decay",
    "linear_schedule",
    "multistep_decay",
    "one_cycle",
    "one_cycle_momentum",
    "piecewise_constant",
    "polynomial_decay",
    "step_decay",
    "time_based_decay",
]

