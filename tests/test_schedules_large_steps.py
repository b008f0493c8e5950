"""Every schedule at step counts past 2^31: Python ints to 2^63 - 1, int32 and int64 arrays.

A schedule computes in the default float dtype, so it sees a step ``n`` as that float:
float32 (x64 off) rounds a step past 2^24 to a multiple of its ulp, 2^(e - 23). The
claim checked here is float32 (or float64) accuracy in that sense: the value at ``n``
lies within the range of the float64 NumPy reference over the integer steps within
4 ulps of ``n`` (which covers the rounding of the step and of the hyperparameters it
meets, such as ``n - T`` or ``n / T``), widened by 16 ulps of the value for the
rounding of the result (``tests/test_schedules.py`` proves 12 for small steps; in float64
its relative bound, 1e-12). Across a
drop or a restart inside that window the range spans both sides, as it must: float32
cannot tell those steps apart.

Steps are evaluated as one array per example (vectorised with ``jax.vmap`` for JAX
integer arrays), as Python ints one by one, and as NumPy int64 arrays, in float32 and,
with the ``x64`` marker, in float64.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import references_schedules as ref
from hypothesis import given, settings
from hypothesis import strategies as st

import lrjax

U32 = 2.0**-24
# float64's bound is relative, not in ulps: a power d^k is exp2(k log2 d), and log2 d
# carries one float64 rounding that the exponent amplifies |k log2 d| <= 1075 times
# before the result underflows (8e-14); tests/test_schedules.py documents 1e-12.
F64_RTOL = 1e-12
INT64_MAX = 2**63 - 1
# Up to 2^62, so that the window of integer steps around each stays inside int64 (the
# references compute in int64); 2^63 - 1 has its own test below.
FIXED = [2**31 - 1, 2**31, 2**32 + 1, 10**10, 2**50, 2**53 + 1, 2**62 - 1, 2**62]
SETTINGS = settings(max_examples=6, deadline=None, derandomize=True)

big_steps = st.lists(st.integers(2**31, 2**62), min_size=8, max_size=8)
periods = st.integers(1, 2**40)
rates = st.floats(1e-3, 10.0)


def _restarts_t1(n, init_value, first_decay_steps, alpha=0.0):
    """cosine_restarts with t_mul = 1 (and m_mul = 1) by exact integer arithmetic: the
    reference's cycle-by-cycle walk would take 2^63 / T iterations."""
    n = np.asarray(n, np.int64)
    frac = (n % first_decay_steps) / float(first_decay_steps)
    return init_value * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * frac)) + alpha)


def _cyclic_height(n, up, down, mode):
    """PyTorch CyclicLR's height by exact integer arithmetic for the phase: the
    reference's k / total in float64 has an ulp of 512 at 2^62, and its
    1 / 2**(cycle - 1) overflows a Python float past cycle 1024 (this underflows)."""
    out = []
    for k in np.asarray(n, np.int64).ravel().tolist():
        cycle, into = divmod(k, up + down)
        height = into / up if into <= up else (up + down - into) / down
        out.append(math.ldexp(height, -cycle) if mode == "triangular2" else height)
    return np.array(out).reshape(np.shape(n))


def _cases(draw):
    """name -> (lrjax schedule, float64 reference of an int64 array)."""
    t, t2 = draw(periods), draw(periods)
    lo, hi = sorted([draw(rates), draw(rates)])
    marks = sorted(draw(st.lists(st.integers(0, INT64_MAX), min_size=1, max_size=4)))
    frac = draw(st.floats(0.0, 1.0))
    decay = draw(st.floats(1e-20, 1.0))
    t_mul = draw(st.floats(1.5, 3.0))
    cos = lambda T: lrjax.cosine_decay(hi, decay_steps=T, alpha=frac)  # noqa: E731
    cos_ref = lambda T: lambda n: ref.cosine_decay(n, hi, T, frac)  # noqa: E731
    return {
        "constant": (lrjax.constant(hi), lambda n: ref.constant(n, hi)),
        "inverse_time_decay": (
            lrjax.inverse_time_decay(hi, decay_rate=frac, decay_steps=t),
            lambda n: ref.inverse_time_decay(n, hi, frac, t),
        ),
        "inverse_time_decay_staircase": (
            lrjax.inverse_time_decay(hi, decay_rate=frac, decay_steps=t, staircase=True),
            lambda n: ref.inverse_time_decay(n, hi, frac, t, staircase=True),
        ),
        "step_decay": (
            lrjax.step_decay(hi, drop=frac, drop_every=t),
            lambda n: ref.step_decay(n, hi, frac, t),
        ),
        "exponential_decay": (
            lrjax.exponential_decay(hi, decay=decay),
            lambda n: ref.exponential_decay(n, hi, decay),
        ),
        "multistep_decay": (
            lrjax.multistep_decay(hi, marks, frac),
            lambda n: ref.multistep_decay(n, hi, marks, frac),
        ),
        "polynomial_decay": (
            lrjax.polynomial_decay(hi, end_value=lo, decay_steps=t, power=2.0),
            lambda n: ref.polynomial_decay(n, hi, lo, t, 2.0),
        ),
        "polynomial_decay_cycle": (
            lrjax.polynomial_decay(hi, end_value=lo, decay_steps=t, power=1.0, cycle=True),
            lambda n: ref.polynomial_decay(n, hi, lo, t, 1.0, cycle=True),
        ),
        "linear_schedule": (
            lrjax.linear_schedule(hi, end_value=lo, transition_steps=t),
            lambda n: ref.linear_schedule(n, hi, lo, t),
        ),
        "cosine_decay": (cos(t), cos_ref(t)),
        "cosine_restarts": (
            lrjax.cosine_restarts(hi, first_decay_steps=t, t_mul=t_mul, m_mul=frac),
            lambda n: ref.cosine_restarts(n, hi, t, t_mul, frac),
        ),
        "cosine_restarts_t1": (
            lrjax.cosine_restarts(hi, first_decay_steps=t, t_mul=1.0, alpha=frac),
            lambda n: _restarts_t1(n, hi, t, frac),
        ),
        "cyclic_triangular": (
            lrjax.cyclic(lo, max_value=hi, step_size_up=t, step_size_down=t2),
            lambda n: lo + (hi - lo) * _cyclic_height(n, t, t2, "triangular"),
        ),
        "cyclic_triangular2": (
            lrjax.cyclic(
                lo, max_value=hi, step_size_up=t, step_size_down=t2, mode="triangular2"
            ),
            lambda n: lo + (hi - lo) * _cyclic_height(n, t, t2, "triangular2"),
        ),
        "cyclic_momentum": (
            lrjax.cyclic_momentum(t, step_size_down=t2),
            lambda n: 0.9 - (0.9 - 0.8) * _cyclic_height(n, t, t2, "triangular"),
        ),
        "one_cycle": (
            lrjax.one_cycle(hi, total_steps=t + 4),
            lambda n: ref.one_cycle(n, hi, t + 4),
        ),
        "one_cycle_momentum": (
            lrjax.one_cycle_momentum(t + 4, three_phase=False),
            lambda n: ref.one_cycle_momentum(n, t + 4),
        ),
        "piecewise_constant": (
            lrjax.piecewise_constant(sorted(set(marks)), [hi] + [lo] * len(set(marks))),
            lambda n: ref.piecewise_constant(
                n, sorted(set(marks)), [hi] + [lo] * len(set(marks))
            ),
        ),
        "warmup": (
            lrjax.warmup(cos(t), warmup_steps=t2, init_value=lo),
            lambda n: ref.warmup(n, cos_ref(t), t2, lo),
        ),
        "join": (
            lrjax.join([lrjax.constant(lo), cos(t)], [t2]),
            lambda n: ref.join(n, [lambda m: ref.constant(m, lo), cos_ref(t)], [t2]),
        ),
    }


NAMES = [
    "constant",
    "inverse_time_decay",
    "inverse_time_decay_staircase",
    "step_decay",
    "exponential_decay",
    "multistep_decay",
    "polynomial_decay",
    "polynomial_decay_cycle",
    "linear_schedule",
    "cosine_decay",
    "cosine_restarts",
    "cosine_restarts_t1",
    "cyclic_triangular",
    "cyclic_triangular2",
    "cyclic_momentum",
    "one_cycle",
    "one_cycle_momentum",
    "piecewise_constant",
    "warmup",
    "join",
]


def _window(steps: list[int], dtype) -> np.ndarray:
    """The integer steps within 4 ulps (of ``dtype``) of each step, one row per step."""
    rounded = np.asarray(steps, np.float64).astype(dtype)
    ulp = np.spacing(rounded).astype(np.float64)
    offsets = np.arange(-8, 9) / 2.0
    cand = rounded.astype(np.float64)[:, None] + offsets * ulp[:, None]
    exact = np.asarray(steps, np.float64)[:, None]
    cand = np.clip(np.round(np.concatenate([cand, exact], 1)), 0.0, None)
    return cand.astype(np.int64)


def _check(name, draw_case, steps, x64):
    schedule, reference = draw_case[name]
    dtype = np.float64 if x64 else np.float32
    rtol = F64_RTOL if x64 else 16 * U32
    cand = _window(steps, dtype)
    want = reference(cand.ravel()).reshape(cand.shape)
    lo, hi = want.min(1), want.max(1)
    tol = rtol * np.maximum(np.abs(lo), np.abs(hi)) + 1e-300
    if not x64:
        tol = tol + 1.2e-38  # float32 flushes subnormals to zero
    results = {
        "python ints": np.asarray([float(schedule(n)) for n in steps]),
        "numpy int64": np.asarray(schedule(np.asarray(steps, np.int64)), np.float64),
    }
    if x64:
        results["jax int64, vmapped"] = np.asarray(
            jax.vmap(schedule)(jnp.asarray(steps, jnp.int64)), np.float64
        )
    for kind, got in results.items():
        assert got.shape == (len(steps),), (kind, got.shape)
        bad = ~((got >= lo - tol) & (got <= hi + tol))
        assert not bad.any(), (
            name,
            kind,
            np.asarray(steps)[bad],
            got[bad],
            lo[bad],
            hi[bad],
        )


def _int32_check(name, draw_case, steps):
    """int32 arrays (an optimizer's counter), vmapped, up to 2^31 - 1, in float32."""
    schedule, reference = draw_case[name]
    cand = _window(steps, np.float32)
    want = reference(cand.ravel()).reshape(cand.shape)
    lo, hi = want.min(1), want.max(1)
    tol = 16 * U32 * np.maximum(np.abs(lo), np.abs(hi)) + 1.2e-38
    got = np.asarray(jax.vmap(schedule)(jnp.asarray(steps, jnp.int32)), np.float64)
    bad = ~((got >= lo - tol) & (got <= hi + tol))
    assert not bad.any(), (name, np.asarray(steps)[bad], got[bad], lo[bad], hi[bad])


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data(), steps=big_steps)
def test_float32_large_steps_match_float64_numpy(name, data, steps):
    _check(name, _cases(data.draw), FIXED + steps, x64=False)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(
    data=st.data(), steps=st.lists(st.integers(2**24, 2**31 - 1), min_size=8, max_size=8)
)
def test_int32_counts_past_2_24_match_float64_numpy(name, data, steps):
    _int32_check(name, _cases(data.draw), [2**24 + 1, 2**31 - 1] + steps)


@pytest.mark.x64  # the same claim for float64 arithmetic and int64 arrays
@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=3, deadline=None, derandomize=True)
@given(data=st.data(), steps=big_steps)
def test_float64_large_steps_match_float64_numpy(name, data, steps):
    _check(name, _cases(data.draw), FIXED + steps, x64=True)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=3, deadline=None, derandomize=True)
@given(data=st.data())
def test_int64_max_is_the_float_step_it_rounds_to(name, data):
    # 2^63 - 1 rounds to 2^63 in float32 (and float64): the schedule accepts it as a
    # Python int and as a NumPy int64, and gives its value at the float step 2^63.
    schedule, _ = _cases(data.draw)[name]
    want = float(schedule(jnp.float32(2.0**63)))
    assert np.isfinite(want)
    assert float(schedule(INT64_MAX)) == want
    assert float(schedule(np.asarray([INT64_MAX], np.int64))[0]) == want
    assert float(schedule(np.int64(INT64_MAX))) == want


@pytest.mark.parametrize("decay", [1e-12, 1e-3, 1.0])
def test_time_based_decay_underflows_to_zero_past_2_31(decay):
    # eta_0 / prod_{k<n}(1 + d k) <= eta_0 exp(-d n (n - 1) / 2 / (1 + d n)) is below
    # 1e-300 for n >= 2^31 and d >= 1e-12: the value is exactly 0, in both modes.
    s = lrjax.time_based_decay(1.0, decay=decay)
    for n in FIXED + [INT64_MAX]:
        assert float(s(n)) == 0.0
    assert not np.any(np.asarray(s(np.asarray(FIXED, np.int64))))
    assert float(lrjax.time_based_decay(0.5, decay=0.0)(INT64_MAX)) == 0.5


def test_issue_examples():
    # optax's float32 cosine_decay_schedule gives 975.52826 here.
    s = lrjax.cosine_decay(1000.0, decay_steps=int(1e10))
    np.testing.assert_allclose(float(s(int(1e9))), 975.5282581475767, rtol=4 * U32)
    # d n = 1.1e14: e^{-d n} is 0, not the initial value.
    e = lrjax.exponential_decay(1.0, decay=0.1)
    for n in [2.0**40, 2.0**50, 2.0**100, 3e38]:
        assert float(e(jnp.float32(n))) == 0.0
    assert float(e(jnp.float32(2.0**10))) == pytest.approx(np.exp(-102.4), rel=1e-5)


def test_counters_still_saturate_at_int32_max():
    tx = lrjax.sgd(lrjax.cosine_decay(1.0, decay_steps=2**40))
    state = tx.init(jnp.zeros(1))
    state = jax.tree.map(
        lambda x: jnp.asarray(2**31 - 2, x.dtype) if x.dtype == jnp.int32 else x, state
    )
    for _ in range(3):
        _, state = tx.update(jnp.ones(1), state)
    counts = [x for x in jax.tree.leaves(state) if x.dtype == jnp.int32]
    assert counts and all(int(c) == 2**31 - 1 for c in counts)
