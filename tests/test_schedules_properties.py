"""Hypothesis properties of every schedule, over random valid hyperparameters.

Each example evaluates the schedule in float32 (its default dtype) on one block of
steps at once with ``jax.vmap``: every step ``0 .. 10^6 - 1`` and then a sweep up to
2^31 - 1, the int32 range of an optimizer's counter. It runs op by op rather than
jitted, so that all examples share XLA's per-primitive compilations (one fixed shape
and dtype). Checked:
finite everywhere; within the documented bounds (up to float32 rounding); monotone where
the formula is (up to a few ulps of rounding between neighbouring steps); and changing
only at the documented steps (drops, milestones, restarts, ``join`` and ``warmup``
boundaries). float64 values are checked against the references in test_schedules.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import lrjax

N = np.arange(448)
MILLION = 10**6
BIG = np.geomspace(MILLION, 2**31 - 1, 63).astype(np.int64)
STEPS = np.concatenate([np.arange(MILLION), BIG, [2**31 - 1]])
U = 2.0**-24
SLACK = 8 * U  # rounding between neighbouring steps and against the bounds

SETTINGS = settings(max_examples=10, deadline=None, derandomize=True)

rates = st.one_of(st.just(0.0), st.floats(1e-6, 10.0))
positive_rates = st.floats(1e-6, 10.0)
fractions = st.floats(0.0, 1.0)
periods = st.integers(1, 60)


def curve(schedule) -> np.ndarray:
    """float32 values on STEPS, as float64."""
    with jax.enable_x64(False):
        out = jax.vmap(schedule)(jnp.asarray(STEPS, jnp.int32))
        assert out.dtype == jnp.float32
    return np.asarray(out, np.float64)


def check_bounds(schedule, low, high, *, monotone=None, changes_within=None) -> np.ndarray:
    """Finite and in [low, high] at every step; returns the values on ``0..447``.

    ``monotone`` ("down" or "up") and ``changes_within`` (the only steps where the
    value may change) are checked on all of ``0 .. 10^6 - 1``.
    """
    v = curve(schedule)
    assert np.all(np.isfinite(v)), v
    low32, high32 = float(np.float32(low)), float(np.float32(high))
    tiny = 1.2e-38  # float32 flushes subnormals to zero
    assert np.all(v >= low32 * (1 - SLACK) - tiny), (v.min(), low)
    assert np.all(v <= high32 * (1 + SLACK)), (v.max(), high)
    first = v[:MILLION]
    if monotone == "down":
        assert nonincreasing(first)
    elif monotone == "up":
        assert nondecreasing(first)
    if changes_within is not None:
        assert changes(first) <= set(changes_within)
    return v[: N.size]


def nonincreasing(v, where=None):
    ok = v[1:] <= v[:-1] * (1 + SLACK)
    return bool(np.all(ok if where is None else ok[where]))


def nondecreasing(v, where=None):
    ok = v[1:] >= v[:-1] * (1 - SLACK)
    return bool(np.all(ok if where is None else ok[where]))


def changes(v) -> set[int]:
    """Steps n >= 1 where the value differs from the one before."""
    return {int(k) + 1 for k in np.flatnonzero(v[1:] != v[:-1])}


@SETTINGS
@given(rates)
def test_constant(value):
    v = check_bounds(lrjax.constant(value), value, value)
    assert np.all(v == np.float32(value))


@SETTINGS
@given(positive_rates, st.one_of(st.floats(0.0, 1.0), st.floats(1e-12, 1e-6)))
def test_time_based_decay(init, decay):
    v = check_bounds(lrjax.time_based_decay(init, decay), 0.0, init, monotone="down")
    assert v[0] == v[1] == np.float32(init) and nonincreasing(v)
    # The seed recursion, step by step: η_{n+1} (1 + d n) = η_n where both are normal,
    # to the float32 accuracy of the closed form, 8 u (1 + log(η0/η)).
    keep = np.flatnonzero((v[1:] > 1e-30) & (v[:-1] > 1e-30))
    after, before, n = v[1:][keep], v[:-1][keep], N[:-1][keep]
    d = float(np.float32(decay))
    conditioning = 1 + np.log(v[0] / after)
    np.testing.assert_array_less(
        np.abs(after * (1 + d * n) / before - 1), 2 * 8 * U * conditioning
    )


@SETTINGS
@given(positive_rates, st.floats(0.0, 5.0), st.floats(0.5, 50.0), st.booleans())
def test_inverse_time_decay(init, rate, steps, staircase):
    s = lrjax.inverse_time_decay(
        init, decay_rate=rate, decay_steps=steps, staircase=staircase
    )
    v = check_bounds(s, 0.0, init, monotone="down")
    assert v[0] == np.float32(init) and nonincreasing(v)
    if staircase and rate > 0:
        assert changes(v) <= {
            n for n in N if np.floor(n / steps) != np.floor((n - 1) / steps)
        }


@SETTINGS
@given(positive_rates, fractions, periods)
def test_step_decay_drops_exactly_at_n_equal_r_minus_1_mod_r(init, drop, every):
    v = check_bounds(
        lrjax.step_decay(init, drop=drop, drop_every=every),
        0.0,
        init,
        monotone="down",
        changes_within=range(every - 1, MILLION, every),
    )
    assert nonincreasing(v)
    drops = {n for n in N[1:] if (n + 1) % every == 0}
    assert changes(v) <= drops
    if 0 < drop < 1:
        assert changes(v) == {n for n in drops if v[n - 1] > 0}  # until it underflows


@SETTINGS
@given(positive_rates, st.floats(0.0, 3.0))
def test_exponential_decay(init, decay):
    v = check_bounds(lrjax.exponential_decay(init, decay=decay), 0.0, init, monotone="down")
    assert v[0] == np.float32(init) and nonincreasing(v)


@SETTINGS
@given(positive_rates, st.lists(st.integers(0, 300), max_size=5), fractions)
def test_multistep_decay(init, milestones, factor):
    milestones = sorted(milestones)
    v = check_bounds(
        lrjax.multistep_decay(init, milestones, factor),
        0.0,
        init,
        monotone="down",
        changes_within=milestones,
    )
    assert nonincreasing(v)
    assert changes(v) <= set(milestones)


@SETTINGS
@given(rates, rates, periods, st.floats(0.1, 5.0), st.booleans())
def test_polynomial_decay(init, end, steps, power, cycle):
    s = lrjax.polynomial_decay(
        init, end_value=end, decay_steps=steps, power=power, cycle=cycle
    )
    v = check_bounds(s, min(init, end), max(init, end))
    assert v[0] == np.float32(init)
    if not cycle:
        assert nonincreasing(v) if init >= end else nondecreasing(v)
        assert np.all(v[steps:] == v[steps])
    else:
        # Within each period (T j, T (j + 1)] the decay runs one way; the step n -> n + 1
        # restarts it only where n = T j, j >= 1.
        inside = (N[:-1] % steps != 0) | (N[:-1] == 0)
        assert nonincreasing(v, inside) if init >= end else nondecreasing(v, inside)
        restarts = {n + 1 for n in N[1:-1] if n % steps == 0}
        backwards = {n for n in changes(v) if (v[n] > v[n - 1]) == (init >= end)}
        assert backwards <= restarts


@SETTINGS
@given(rates, rates, periods)
def test_linear_schedule(init, end, steps):
    v = check_bounds(
        lrjax.linear_schedule(init, end_value=end, transition_steps=steps),
        min(init, end),
        max(init, end),
        monotone="down" if init >= end else "up",
    )
    assert v[0] == np.float32(init) and np.all(v[steps:] == np.float32(end))
    assert nonincreasing(v) if init >= end else nondecreasing(v)


@SETTINGS
@given(positive_rates, periods, fractions)
def test_cosine_decay(init, steps, alpha):
    v = check_bounds(
        lrjax.cosine_decay(init, steps, alpha=alpha), alpha * init, init, monotone="down"
    )
    assert v[0] == np.float32(init) and nonincreasing(v)
    # alpha * init may be below float32's normal range (it flushes to 0 there).
    np.testing.assert_allclose(v[steps:], alpha * init, rtol=4 * U, atol=1.2e-38)


def _restart_steps(first, t_mul):
    starts, length = [0.0], float(first)
    while starts[-1] < N[-1]:
        starts.append(starts[-1] + length)
        length *= t_mul
    return starts


@SETTINGS
@given(positive_rates, periods, st.sampled_from([1.0, 1.5, 2.0, 3.0]), fractions, fractions)
def test_cosine_restarts_jump_only_at_restarts(init, first, t_mul, m_mul, alpha):
    v = check_bounds(
        lrjax.cosine_restarts(
            init, first_decay_steps=first, t_mul=t_mul, m_mul=m_mul, alpha=alpha
        ),
        alpha * init,
        init,
    )
    assert v[0] == np.float32(init)
    starts = _restart_steps(first, t_mul)
    # A rise can only happen at the first integer step of a new cycle.
    restart_steps = {int(np.ceil(s)) for s in starts[1:]}
    rises = {n for n in range(1, N.size) if v[n] > v[n - 1] * (1 + SLACK)}
    assert rises <= restart_steps
    if m_mul == 1.0:  # back to the peak exactly at every integer restart
        integral = {int(s) for s in starts[1:] if float(s).is_integer() and s < N.size}
        np.testing.assert_allclose(v[sorted(integral)], init, rtol=4 * U)


@SETTINGS
@given(
    rates,
    positive_rates,
    periods,
    st.one_of(st.none(), periods),
    st.sampled_from(["triangular", "triangular2", "exp_range"]),
    st.floats(0.9, 1.0),
)
def test_cyclic_and_its_momentum_mirror_each_other(base, top, up, down, mode, gamma):
    high = base + top
    lr = check_bounds(
        lrjax.cyclic(
            base,
            max_value=high,
            step_size_up=up,
            step_size_down=down,
            mode=mode,
            gamma=gamma,
        ),
        base,
        high,
    )
    mom = check_bounds(
        lrjax.cyclic_momentum(up, step_size_down=down, mode=mode, gamma=gamma), 0.8, 0.9
    )
    assert lr[0] == np.float32(base) and mom[0] == np.float32(0.9)
    # Momentum is the learning rate's triangle wave upside down (float32 differences of
    # numbers ~1 and ~high: absolute error a few u relative to the range).
    np.testing.assert_allclose(
        (lr - base) / (high - base),
        (0.9 - mom) / (0.9 - 0.8),
        atol=64 * U * (1 + base / (high - base)),
    )
    total = up + (up if down is None else down)
    peaks = lr[up::total]
    assert nonincreasing(peaks) if mode != "triangular" else np.allclose(peaks, high)


@SETTINGS
@given(
    positive_rates,
    st.integers(30, 256),
    st.floats(0.1, 0.45),
    st.booleans(),
    st.sampled_from(["cos", "linear"]),
)
def test_one_cycle_rises_then_falls_and_momentum_mirrors(peak, total, pct, three, anneal):
    s = lrjax.one_cycle(
        peak, total_steps=total, pct_start=pct, anneal=anneal, three_phase=three
    )
    low = peak / 25.0 / 1e4
    lr = check_bounds(s, low, peak)
    mom = check_bounds(
        lrjax.one_cycle_momentum(total, pct_start=pct, anneal=anneal, three_phase=three),
        0.85,
        0.95,
    )
    top = int(np.argmax(lr))
    assert abs(top - (pct * total - 1)) <= 1
    assert nondecreasing(lr[: top + 1]) and nonincreasing(lr[top:])
    np.testing.assert_allclose(lr[total - 1 :], low, rtol=8 * U)
    rising = N < pct * total - 1
    # While the rate rises the momentum falls in proportion (same annealing fraction).
    np.testing.assert_allclose(
        ((lr - peak / 25.0) / (peak - peak / 25.0))[rising],
        ((0.95 - mom) / 0.1)[rising],
        atol=64 * U,
    )


@SETTINGS
@given(st.lists(st.integers(0, 300), max_size=5, unique=True).map(sorted), st.data())
def test_piecewise_constant_switches_exactly_at_boundaries(boundaries, data):
    values = data.draw(
        st.lists(rates, min_size=len(boundaries) + 1, max_size=len(boundaries) + 1)
    )
    v = check_bounds(
        lrjax.piecewise_constant(boundaries, values),
        min(values),
        max(values),
        changes_within=boundaries,
    )
    assert set(v.tolist()) <= {float(np.float32(x)) for x in values}
    assert changes(v) <= set(boundaries)
    for b, before, after in zip(boundaries, values, values[1:]):
        if 0 < b < N.size and before != after:
            assert b in changes(v)


@SETTINGS
@given(positive_rates, st.integers(0, 100), rates, periods)
def test_warmup_is_linear_then_continuous(target, steps, init, decay_steps):
    inner = lrjax.cosine_decay(target, decay_steps)
    v = check_bounds(
        lrjax.warmup(inner, warmup_steps=steps, init_value=init), 0.0, max(init, target)
    )
    after = curve(inner)
    np.testing.assert_allclose(v[steps:], after[: N.size - steps], rtol=2 * U)
    if steps:
        ramp = v[: steps + 1]  # ends exactly on inner(0): continuous at the boundary
        assert ramp[-1] == after[0]
        np.testing.assert_allclose(ramp, np.linspace(init, target, steps + 1), rtol=4 * U)


@SETTINGS
@given(
    st.lists(st.integers(1, 100), min_size=1, max_size=3, unique=True).map(sorted),
    st.data(),
)
def test_join_jumps_only_at_its_boundaries(boundaries, data):
    pieces = [
        lrjax.exponential_decay(data.draw(positive_rates), decay=0.05)
        for _ in range(len(boundaries) + 1)
    ]
    v = check_bounds(lrjax.join(pieces, boundaries), 0.0, 10.0)
    starts = [0, *boundaries]
    ends = [*boundaries, N.size]
    for piece, start, end in zip(pieces, starts, ends):
        np.testing.assert_allclose(v[start:end], curve(piece)[: end - start], rtol=2 * U)
    # Everywhere else the joined curve is as smooth as its pieces: no jump.
    rises = {n for n in range(1, N.size) if v[n] > v[n - 1]}
    assert rises <= set(boundaries)


# ---------------------------------------------------------------- large-model training

lengths = st.integers(0, 300)


def _first_million(schedule) -> np.ndarray:
    return curve(schedule)[:MILLION]


@SETTINGS
@given(positive_rates, lengths, st.one_of(st.none(), st.floats(0.5, 1e4)))
def test_inverse_sqrt_decay_rises_then_falls(peak, warm, tau):
    s = lrjax.inverse_sqrt_decay(peak, warmup_steps=warm, timescale=tau)
    check_bounds(s, 0.0, peak)
    v = _first_million(s)
    assert nondecreasing(v[: warm + 1]) and nonincreasing(v[warm:])
    np.testing.assert_allclose(v[warm], peak, rtol=4 * U)


@SETTINGS
@given(st.integers(1, 8192), st.integers(1, 20000), st.floats(0.1, 10.0))
def test_noam_peaks_at_the_end_of_its_warmup(d_model, warm, factor):
    peak = factor / np.sqrt(d_model * warm)
    s = lrjax.noam(d_model, warmup_steps=warm, factor=factor)
    check_bounds(s, 0.0, peak)
    v = _first_million(s)
    assert nondecreasing(v[:warm]) and nonincreasing(v[warm - 1 :])
    np.testing.assert_allclose(v[warm - 1], peak, rtol=8 * U)


@SETTINGS
@given(
    positive_rates,
    lengths,
    lengths,
    st.integers(1, 300),
    st.sampled_from(["linear", "cosine", "1-sqrt"]),
    st.sampled_from(["linear", "cosine", "1-sqrt"]),
    fractions,
)
def test_warmup_stable_decay_phases(peak, warm, stable, decay, up, down, m):
    s = lrjax.warmup_stable_decay(
        peak,
        warmup_steps=warm,
        stable_steps=stable,
        decay_steps=decay,
        warmup_type=up,
        decay_type=down,
        min_ratio=m,
    )
    end = warm + stable + decay
    check_bounds(
        s,
        m * peak,
        peak,
        changes_within=[*range(1, warm + 1), *range(warm + stable, end + 1)],
    )
    v = _first_million(s)
    assert nondecreasing(v[: warm + 1]) and nonincreasing(v[warm:])
    assert np.all(v[warm : warm + stable] == np.float32(peak))
    np.testing.assert_allclose(v[end:], m * peak, rtol=4 * U, atol=1.2e-38)


@SETTINGS
@given(
    positive_rates,
    lengths,
    st.integers(1, 300),
    st.sampled_from([0.5, 1.0, 1.5]),
    fractions,
    st.booleans(),
    st.booleans(),
)
def test_warmup_cosine_holds_after_total(peak, warm, span, cycles, m, restarts, ahead):
    total = warm + span
    cycles = float(int(2 * cycles)) if restarts else cycles  # whole numbers of restarts
    s = lrjax.warmup_cosine(
        peak,
        warmup_steps=warm,
        total_steps=total,
        num_cycles=cycles,
        min_ratio=m,
        restarts=restarts,
        one_step_ahead=ahead,
    )
    check_bounds(s, 0.0, peak, changes_within=range(1, total + 1))
    v = _first_million(s)
    assert nondecreasing(v[:warm])
    if cycles == 0.5 and not restarts:
        assert nonincreasing(v[warm:])
    assert np.all(v[total:] == v[total])
    if restarts or cycles == 0.5:
        np.testing.assert_allclose(v[total:], m * peak, rtol=4 * U, atol=1.2e-38)
