"""Cyclical schedules: PyTorch's `CyclicLR` and `OneCycleLR`, and their momenta.

`cyclic_momentum` and `one_cycle_momentum` are the momentum (or Adam's `b1`) schedules
that PyTorch cycles against the learning rate (`cycle_momentum=True`).
"""

from __future__ import annotations

import jax.numpy as jnp

from .._shared import validate
from .._shared.base import Schedule
from .arithmetic import as_float, cast, concrete, cos_weights, float_dtype, fractions, power

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
            height = height * power(gamma, n, g)
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
        raise ValueError(
            f"max_value must be >= base_value={base_value!r}, got {max_value!r}"
        )
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
