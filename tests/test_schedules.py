"""Every lrjax schedule against its float64 NumPy transcription, plus the JAX contract.

Accuracy criteria, in units of float32's half-ulp ``u = 2**-24`` (6e-8):

* float32 (x64 off, the default dtype): relative error <= 12 u. Each schedule is a
  handful of correctly rounded operations (<= 1/2 ulp each) and XLA transcendentals
  (measured <= 2.1 u for exp2/cos/sin/log1p on this platform), arranged so that no
  step cancels: the worst case measured over these cases is ~6 u. 12 u leaves a factor
  of two, far below what a formula error (a wrong offset, a lost term) produces.
* time_based_decay: relative error <= 8 u (1 + S) with S = log(η0/η(n)), the
  conditioning of ``exp`` (measured <= 5.3 u (1 + S) for n up to 10^7).
* float64 (x64 on): relative error <= 1e-12. The references themselves lose up to
  ~1e-13 (e.g. 0.5 (1 + cos) near zero, exp(-d n) for large d n).

Values below the smallest normal float (1e-30 here for float32) are compared only for
being that small: XLA flushes subnormals to zero.
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import references_schedules as ref

import lrjax

U = 2.0**-24
F32_RTOL = 12 * U
F64_RTOL = 1e-12

# (id, lrjax schedule, reference of an int array of steps, number of steps >= 3 periods)
CASES = [
    ("constant", lambda: lrjax.constant(0.3), lambda n: ref.constant(n, 0.3), 50),
    # Decays exact in float32 (2^-7, 2^-13), so float32 and the reference share them.
    (
        "time_based_2^-7",
        lambda: lrjax.time_based_decay(0.1, 2.0**-7),
        lambda n: ref.time_based_decay(n, 0.1, 2.0**-7),
        200,
    ),
    (
        "time_based_2^-13",
        lambda: lrjax.time_based_decay(2.0, 2.0**-13),
        lambda n: ref.time_based_decay(n, 2.0, 2.0**-13),
        512,
    ),
    (
        "time_based_0",
        lambda: lrjax.time_based_decay(0.1, 0.0),
        lambda n: ref.time_based_decay(n, 0.1, 0.0),
        50,
    ),
    (
        "inverse_time",
        lambda: lrjax.inverse_time_decay(0.1, decay_rate=0.5, decay_steps=7),
        lambda n: ref.inverse_time_decay(n, 0.1, 0.5, 7),
        60,
    ),
    (
        "inverse_time_staircase",
        lambda: lrjax.inverse_time_decay(
            0.1, decay_rate=2.0, decay_steps=3.5, staircase=True
        ),
        lambda n: ref.inverse_time_decay(n, 0.1, 2.0, 3.5, True),
        60,
    ),
    (
        "step_0.5",
        lambda: lrjax.step_decay(0.1, drop=0.5, drop_every=10),
        lambda n: ref.step_decay(n, 0.1, 0.5, 10),
        60,
    ),
    (
        "step_0.1_every_7",
        lambda: lrjax.step_decay(0.3, drop=0.1, drop_every=7),
        lambda n: ref.step_decay(n, 0.3, 0.1, 7),
        300,
    ),
    (
        "step_every_1",
        lambda: lrjax.step_decay(1.0, drop=0.9, drop_every=1),
        lambda n: ref.step_decay(n, 1.0, 0.9, 1),
        400,
    ),
    (
        "step_drop_0",
        lambda: lrjax.step_decay(0.1, drop=0.0, drop_every=5),
        lambda n: ref.step_decay(n, 0.1, 0.0, 5),
        20,
    ),
    (
        "exponential_0.05",
        lambda: lrjax.exponential_decay(0.1, decay=0.05),
        lambda n: ref.exponential_decay(n, 0.1, 0.05),
        400,
    ),
    (
        "exponential_0.3",
        lambda: lrjax.exponential_decay(0.7, decay=0.3),
        lambda n: ref.exponential_decay(n, 0.7, 0.3),
        400,
    ),
    (
        "multistep",
        lambda: lrjax.multistep_decay(0.1, [10, 50, 50, 200], 0.3),
        lambda n: ref.multistep_decay(n, 0.1, [10, 50, 50, 200], 0.3),
        300,
    ),
    (
        "multistep_none",
        lambda: lrjax.multistep_decay(0.1, [], 0.3),
        lambda n: ref.multistep_decay(n, 0.1, [], 0.3),
        10,
    ),
    (
        "polynomial_2",
        lambda: lrjax.polynomial_decay(0.1, end_value=0.001, decay_steps=100, power=2.0),
        lambda n: ref.polynomial_decay(n, 0.1, 0.001, 100, 2.0),
        300,
    ),
    (
        "polynomial_3.7_to_0",
        lambda: lrjax.polynomial_decay(0.1, end_value=0.0, decay_steps=100, power=3.7),
        lambda n: ref.polynomial_decay(n, 0.1, 0.0, 100, 3.7),
        300,
    ),
    (
        "polynomial_cycle",
        lambda: lrjax.polynomial_decay(
            0.1, end_value=0.001, decay_steps=30, power=0.5, cycle=True
        ),
        lambda n: ref.polynomial_decay(n, 0.1, 0.001, 30, 0.5, True),
        200,
    ),
    (
        "polynomial_rising_cycle",
        lambda: lrjax.polynomial_decay(
            0.0, end_value=0.1, decay_steps=30, power=1.0, cycle=True
        ),
        lambda n: ref.polynomial_decay(n, 0.0, 0.1, 30, 1.0, True),
        200,
    ),
    (
        "linear_down",
        lambda: lrjax.linear_schedule(0.1, end_value=0.001, transition_steps=100),
        lambda n: ref.linear_schedule(n, 0.1, 0.001, 100),
        300,
    ),
    (
        "linear_up",
        lambda: lrjax.linear_schedule(0.0, end_value=0.1, transition_steps=33),
        lambda n: ref.linear_schedule(n, 0.0, 0.1, 33),
        100,
    ),
    (
        "cosine",
        lambda: lrjax.cosine_decay(0.1, 100),
        lambda n: ref.cosine_decay(n, 0.1, 100),
        300,
    ),
    (
        "cosine_alpha",
        lambda: lrjax.cosine_decay(0.1, 77, alpha=0.01),
        lambda n: ref.cosine_decay(n, 0.1, 77, 0.01),
        240,
    ),
    (
        "restarts_t2_m0.7",
        lambda: lrjax.cosine_restarts(
            0.1, first_decay_steps=10, t_mul=2.0, m_mul=0.7, alpha=0.0
        ),
        lambda n: ref.cosine_restarts(n, 0.1, 10, 2.0, 0.7, 0.0),
        400,
    ),
    (
        "restarts_t1",
        lambda: lrjax.cosine_restarts(
            0.1, first_decay_steps=13, t_mul=1.0, m_mul=1.0, alpha=0.1
        ),
        lambda n: ref.cosine_restarts(n, 0.1, 13, 1.0, 1.0, 0.1),
        200,
    ),
    (
        "restarts_t1.5",
        lambda: lrjax.cosine_restarts(
            0.1, first_decay_steps=4, t_mul=1.5, m_mul=0.9, alpha=0.05
        ),
        lambda n: ref.cosine_restarts(n, 0.1, 4, 1.5, 0.9, 0.05),
        400,
    ),
    (
        "restarts_m0",
        lambda: lrjax.cosine_restarts(
            0.1, first_decay_steps=5, t_mul=3.0, m_mul=0.0, alpha=0.2
        ),
        lambda n: ref.cosine_restarts(n, 0.1, 5, 3.0, 0.0, 0.2),
        100,
    ),
    (
        "cyclic",
        lambda: lrjax.cyclic(0.01, max_value=0.1, step_size_up=20, step_size_down=30),
        lambda n: ref.cyclic(n, 0.01, 0.1, 20, 30),
        200,
    ),
    (
        "cyclic_triangular2",
        lambda: lrjax.cyclic(
            0.01, max_value=0.1, step_size_up=20, step_size_down=None, mode="triangular2"
        ),
        lambda n: ref.cyclic(n, 0.01, 0.1, 20, None, "triangular2"),
        200,
    ),
    (
        "cyclic_exp_range",
        lambda: lrjax.cyclic(
            0.0,
            max_value=0.1,
            step_size_up=20,
            step_size_down=10,
            mode="exp_range",
            gamma=0.99,
        ),
        lambda n: ref.cyclic(n, 0.0, 0.1, 20, 10, "exp_range", 0.99),
        400,
    ),
    (
        "cyclic_momentum",
        lambda: lrjax.cyclic_momentum(20, step_size_down=10, mode="exp_range", gamma=0.99),
        lambda n: ref.cyclic_momentum(n, 20, 10, "exp_range", 0.99),
        400,
    ),
    (
        "cyclic_momentum_2",
        lambda: lrjax.cyclic_momentum(
            5, step_size_down=3, mode="triangular2", base_momentum=0.5, max_momentum=0.99
        ),
        lambda n: ref.cyclic_momentum(n, 5, 3, "triangular2", 1.0, 0.5, 0.99),
        40,
    ),
    (
        "one_cycle",
        lambda: lrjax.one_cycle(0.1, total_steps=400),
        lambda n: ref.one_cycle(n, 0.1, 400),
        450,
    ),
    (
        "one_cycle_linear_3",
        lambda: lrjax.one_cycle(
            0.1,
            total_steps=333,
            pct_start=0.25,
            anneal="linear",
            div_factor=10.0,
            final_div_factor=100.0,
            three_phase=True,
        ),
        lambda n: ref.one_cycle(n, 0.1, 333, 0.25, "linear", 10.0, 100.0, True),
        333,
    ),
    (
        "one_cycle_cos_3",
        lambda: lrjax.one_cycle(
            0.1,
            total_steps=333,
            pct_start=0.25,
            anneal="cos",
            div_factor=10.0,
            final_div_factor=1e4,
            three_phase=True,
        ),
        lambda n: ref.one_cycle(n, 0.1, 333, 0.25, "cos", 10.0, 1e4, True),
        333,
    ),
    (
        "one_cycle_momentum",
        lambda: lrjax.one_cycle_momentum(
            333, pct_start=0.25, anneal="cos", three_phase=True
        ),
        lambda n: ref.one_cycle_momentum(n, 333, 0.25, "cos", True),
        333,
    ),
    (
        "one_cycle_momentum_lin",
        lambda: lrjax.one_cycle_momentum(
            50, pct_start=0.4, anneal="linear", base_momentum=0.8, max_momentum=0.9
        ),
        lambda n: ref.one_cycle_momentum(n, 50, 0.4, "linear", False, 0.8, 0.9),
        60,
    ),
    (
        "piecewise",
        lambda: lrjax.piecewise_constant([10, 100], [0.1, 0.03, 0.001]),
        lambda n: ref.piecewise_constant(n, [10, 100], [0.1, 0.03, 0.001]),
        300,
    ),
    (
        "warmup_cosine",
        lambda: lrjax.warmup(
            lrjax.cosine_decay(0.1, 100), warmup_steps=30, init_value=0.001
        ),
        lambda n: ref.warmup(n, lambda m: ref.cosine_decay(m, 0.1, 100), 30, 0.001),
        400,
    ),
    (
        "warmup_step",
        lambda: lrjax.warmup(
            lrjax.step_decay(0.2, drop=0.5, drop_every=10), warmup_steps=7
        ),
        lambda n: ref.warmup(n, lambda m: ref.step_decay(m, 0.2, 0.5, 10), 7),
        60,
    ),
    (
        "join",
        lambda: lrjax.join(
            [
                lrjax.linear_schedule(0.0, end_value=0.1, transition_steps=10),
                lrjax.cosine_decay(0.1, 40),
                lrjax.constant(0.002),
            ],
            [10, 50],
        ),
        lambda n: ref.join(
            n,
            [
                lambda m: ref.linear_schedule(m, 0.0, 0.1, 10),
                lambda m: ref.cosine_decay(m, 0.1, 40),
                lambda m: ref.constant(m, 0.002),
            ],
            [10, 50],
        ),
        150,
    ),
]
IDS = [c[0] for c in CASES]


BLOCK = 512  # every case is evaluated on 0..511


@pytest.fixture(scope="module")
def reference_block():
    """Every case on ``0..BLOCK-1``, per dtype, from one jitted program.

    One compilation for all 41 cases costs a fraction of 41 separate ones.
    """
    cache = {}

    def values(x64: bool) -> list[np.ndarray]:
        if x64 not in cache:
            schedules = [make() for _, make, _, _ in CASES]
            with jax.enable_x64(x64):
                outs = jax.jit(lambda n: [jax.vmap(s)(n) for s in schedules])(
                    jnp.arange(BLOCK, dtype=jnp.int32)
                )
                assert {o.dtype for o in outs} == {
                    jnp.dtype("float64" if x64 else "float32")
                }
            cache[x64] = [np.asarray(o, np.float64) for o in outs]
        return cache[x64]

    return values


def assert_close(ours, expected, rtol, tiny):
    """Relative error <= rtol above ``tiny``; returns the largest relative error."""
    big = np.abs(expected) > tiny
    assert np.all(np.isfinite(ours))
    assert np.all(np.abs(ours[~big]) <= tiny), "values that should underflow"
    np.testing.assert_array_equal(ours[expected == 0], 0.0)
    err = np.abs(ours[big] - expected[big]) / np.abs(expected[big])
    rtol = np.broadcast_to(rtol, expected.shape)[big]
    assert err.size == 0 or np.all(err <= rtol), (err.max(), int(np.argmax(err / rtol)))
    return float(err.max()) if err.size else 0.0


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_against_reference(case, x64, reference_block):
    name, _, reference, steps = case
    ours = reference_block(x64)[CASES.index(case)][:steps]
    expected = reference(np.arange(steps))
    rtol, tiny = (F64_RTOL, 1e-300) if x64 else (F32_RTOL, 1e-30)
    if name.startswith("time_based") and not x64:
        log_ratio = np.log(expected[0] / np.maximum(expected, 1e-300))  # S
        rtol = 8 * U * (1.0 + log_ratio)
    worst = assert_close(ours, expected, rtol, tiny)
    print(f"\n{name} {'float64' if x64 else 'float32'}: max relative error {worst:.2e}")


# ------------------------------------------------------------ time-based decay


# The decay is traced, so all decays share one compiled program.
_time_based_f32 = jax.jit(
    jax.vmap(lambda d, n: lrjax.time_based_decay(1.0, d)(n), in_axes=(None, 0))
)


@pytest.mark.parametrize("decay", [1e-12, 1e-9, 1e-6, 1e-4, 1e-2, 1.0, 10.0])
def test_time_based_decay_float32_to_ten_million(decay):
    # The float32 hyperparameter is what the schedule sees: the reference uses it too.
    d = float(np.float32(decay))
    top = 10**7 if decay < 1e-5 else 3000
    rng = np.random.default_rng(0)
    n = np.unique(
        np.concatenate(
            [
                np.arange(100),
                np.geomspace(1, top, 1500).astype(np.int64),
                rng.integers(0, top, 500),
                [top],
            ]
        )
    )
    n = np.concatenate([n, np.full(4096 - n.size, top)])  # one shape: one compilation
    expected = ref.time_based_decay(n, 1.0, d)
    with jax.enable_x64(False):
        ours = np.asarray(
            _time_based_f32(jnp.float32(decay), jnp.asarray(n, jnp.int32)), np.float64
        )
    assert np.all(np.isfinite(ours)) and np.all(ours >= 0)
    big = expected > 1e-30
    conditioning = 1.0 - np.log(expected[big])  # 1 + S
    err = np.abs(ours[big] - expected[big]) / expected[big]
    assert np.max(err / conditioning) <= 8 * U
    assert np.all(ours[~big] <= 1e-30)


def test_time_based_decay_underflows_to_zero_not_nan():
    s = lrjax.time_based_decay(0.1, 0.01)
    # 2.4e-18 at n = 100; exactly zero from n = 157 (float32) and n = 572 (float64).
    n = jnp.asarray([1000, 10**5, 10**7, 2**31 - 1], jnp.int32)
    for x64 in (False, True):
        with jax.enable_x64(x64):
            out = np.asarray(jax.jit(s)(n))
        assert np.all(out == 0.0)  # 0, not NaN
    with jax.enable_x64(False):
        far, two, half, three = jax.jit(s)(jnp.asarray([3e9, 2.0, 2.5, 3.0], jnp.float32))
    assert float(far) == 0.0
    # A float step interpolates geometrically within its step.
    assert float(half) == pytest.approx(math.sqrt(float(two) * float(three)), rel=4 * U)


def test_time_based_decay_first_values():
    s = lrjax.time_based_decay(0.1, 0.01)
    with jax.enable_x64(True):
        values = np.asarray(jax.jit(jax.vmap(s))(jnp.asarray([0, 1, 2, 3, 50, 100])))
    expected = [0.1, 0.1, 0.1 / 1.01, 0.1 / 1.01 / 1.02]
    np.testing.assert_allclose(values[:4], expected, rtol=1e-15)
    # The figures quoted in REFERENCES.md, to the digits it quotes.
    assert values[4] == pytest.approx(2.45e-6, rel=3e-3)
    assert values[5] == pytest.approx(2.4e-18, rel=3e-2)


# ------------------------------------------------------------ the JAX contract

CONTRACT = [
    (c[0], c[1])
    for c in CASES
    if c[0]
    in {
        "constant",
        "time_based_2^-7",
        "inverse_time_staircase",
        "step_0.5",
        "exponential_0.05",
        "multistep",
        "polynomial_cycle",
        "linear_down",
        "cosine_alpha",
        "restarts_t2_m0.7",
        "restarts_t1",
        "cyclic_exp_range",
        "cyclic_momentum",
        "one_cycle_cos_3",
        "one_cycle_momentum",
        "piecewise",
        "warmup_cosine",
        "join",
    }
]
CONTRACT.append(
    (
        "restarts_t_near_1",
        lambda: lrjax.cosine_restarts(0.1, first_decay_steps=4, t_mul=1.0001),
    )
)


N_CONTRACT = np.arange(0, 120, 7)


@pytest.fixture(scope="module")
def call_patterns():
    """Every contract schedule under five call patterns, from one jitted program."""
    schedules = [make() for _, make in CONTRACT]

    @jax.jit
    def patterns(ints, floats, matrix, one):
        return [
            (
                jax.vmap(s)(ints),  # vmap over int steps
                jax.vmap(s)(floats),  # ... and float steps
                s(matrix),  # an array of steps, element-wise, whatever its shape
                s(one),  # one traced scalar step
                jax.vmap(jax.grad(lambda x, s=s: s(x)))(floats + 0.25),  # d/dn in a step
            )
            for s in schedules
        ]

    n = N_CONTRACT
    with jax.enable_x64(False):
        outs = patterns(
            jnp.asarray(n, jnp.int32),
            jnp.asarray(n, jnp.float32),
            jnp.asarray(n[:6], jnp.int32).reshape(2, 3),
            jnp.int32(n[2]),
        )
        return schedules, jax.tree.map(np.asarray, outs)


@pytest.mark.parametrize("case", CONTRACT, ids=[c[0] for c in CONTRACT])
def test_jit_vmap_steps_grad_and_dtype(case, call_patterns):
    schedules, outs = call_patterns
    i = CONTRACT.index(case)
    s = schedules[i]
    batched, floats, matrix, one, grads = outs[i]
    with jax.enable_x64(False):
        eager = float(s(int(N_CONTRACT[2])))  # op by op, no jit, a Python int
        for step in (3, 3.0, jnp.int32(3), jnp.float32(3)):
            assert jax.eval_shape(s, step).dtype == jnp.float32
    with jax.enable_x64(True):
        for step in (3, 3.0, jnp.int32(3), jnp.int64(3)):
            assert jax.eval_shape(s, step).dtype == jnp.float64
    assert matrix.shape == (2, 3) and batched.dtype == np.float32
    assert np.all(np.isfinite(grads))
    # Each call pattern is its own computation, and XLA may round differently by an
    # ulp or two (e.g. a division by a constant becomes a multiplication under jit):
    # the values agree to a few half-ulps.
    rtol, atol = 6 * U, 0.0
    if case[0] == "restarts_t_near_1":
        # Cycle ends at non-integer steps (4 * 1.0001^i): near one the rate is tiny and
        # as sensitive as (ulp of the boundary) / (distance to it); only its absolute
        # accuracy, relative to the peak, is meaningful there.
        atol = 6 * U * 0.1
    close = dict(rtol=rtol, atol=atol)
    np.testing.assert_allclose(one, batched[2], **close)
    np.testing.assert_allclose(eager, batched[2], **close)
    np.testing.assert_allclose(floats, batched, **close)
    np.testing.assert_allclose(matrix.ravel(), batched[:6], **close)


def test_compiled_once_for_all_steps():
    schedules = [make() for _, make in CONTRACT]
    f = jax.jit(lambda n: jnp.stack([s(n) for s in schedules]))
    with jax.enable_x64(False):
        for k in range(1000):
            f(jnp.int32(k))
    assert f._cache_size() == 1


def test_traced_hyperparameters():
    # A sweep over the initial rate and decay under jit and vmap: the traced path.
    def value(init, decay):
        return lrjax.exponential_decay(init, decay=decay)(40)

    # In float32 (x64 off): a traced rate falls back to exp(k L), whose argument (|kL|
    # <= 1.2) is rounded once: within F32_RTOL, the bound of the untraced schedules.
    init = jnp.asarray([0.1, 0.2, 0.4])
    out = jax.jit(jax.vmap(value))(init, jnp.asarray([0.01, 0.02, 0.03]))
    np.testing.assert_allclose(
        out,
        np.asarray(init, np.float64) * np.exp(-40 * np.array([0.01, 0.02, 0.03])),
        rtol=F32_RTOL,
    )
    traced = jax.jit(lambda g: lrjax.step_decay(1.0, drop=g, drop_every=3)(10))(0.5)
    assert float(traced) == pytest.approx(0.5**3, rel=F32_RTOL)
    many = jax.jit(lambda d: lrjax.time_based_decay(0.1, d)(30))(0.01)
    want = ref.time_based_decay(np.array([30]), 0.1, 0.01)[0]
    # time_based_decay's documented float32 bound, (1 + S) 3e-7 with S = log(eta0/eta).
    assert float(many) == pytest.approx(want, rel=(1 + np.log(0.1 / want)) * 3e-7)


# ------------------------------------------------------------ against optax


def test_same_values_as_optax():
    optax = pytest.importorskip("optax")
    n = jnp.arange(300)  # int32, the dtype of optax's own step count
    pairs = [
        (lrjax.constant(0.3), optax.constant_schedule(0.3)),
        (
            lrjax.linear_schedule(0.1, end_value=0.001, transition_steps=100),
            optax.linear_schedule(0.1, 0.001, 100),
        ),
        (
            lrjax.polynomial_decay(0.1, end_value=0.001, decay_steps=100, power=2.0),
            optax.polynomial_schedule(0.1, 0.001, 2.0, 100),
        ),
        (
            lrjax.cosine_decay(0.1, 100, alpha=0.1),
            optax.cosine_decay_schedule(0.1, 100, 0.1),
        ),
        (
            lrjax.exponential_decay(0.1, decay=0.02),
            optax.exponential_decay(0.1, 1, math.exp(-0.02)),
        ),
        (
            lrjax.piecewise_constant([10, 50], [0.1, 0.05, 0.005]),
            optax.piecewise_constant_schedule(0.1, {10: 0.5, 50: 0.1}),
        ),
        (
            lrjax.join([lrjax.constant(0.1), lrjax.cosine_decay(0.1, 50)], [20]),
            optax.join_schedules(
                [optax.constant_schedule(0.1), optax.cosine_decay_schedule(0.1, 50)], [20]
            ),
        ),
        (
            lrjax.warmup(lrjax.cosine_decay(0.1, 80), warmup_steps=20),
            optax.warmup_cosine_decay_schedule(0.0, 0.1, 20, 100),
        ),
    ]
    # optax mixes integer and float dtypes internally, which strict promotion rejects.
    with jax.numpy_dtype_promotion("standard"):
        values = jax.jit(lambda n: [(jax.vmap(a)(n), jax.vmap(b)(n)) for a, b in pairs])(n)
    for ours, theirs in values:
        # float32 on both sides (x64 off, as users run optax): the same formulas in a
        # different order, and optax's own cancellation (1 + cos near 0), differ by an ulp
        # or two of the peak rate 0.1 (ulp 7.5e-9): checked in absolute terms against it.
        assert ours.dtype == theirs.dtype == jnp.float32
        np.testing.assert_allclose(ours, theirs, rtol=F32_RTOL, atol=4 * 7.5e-9)


# ------------------------------------------------------------ warmup and join


def test_warmup_zero_steps_is_the_schedule():
    s = lrjax.cosine_decay(0.1, 10)
    assert lrjax.warmup(s, warmup_steps=0) is s


def test_warmup_is_continuous_at_its_end_and_join_jumps_at_boundaries():
    inner = lrjax.exponential_decay(0.1, decay=0.1)
    w = lrjax.warmup(inner, warmup_steps=10, init_value=0.02)
    with jax.enable_x64(True):
        assert float(w(0)) == 0.02
        assert float(w(10)) == float(inner(0))
        assert float(w(9)) == pytest.approx(0.02 + (0.1 - 0.02) * 0.9, rel=1e-15)
        assert float(w(15)) == float(inner(5))
    j = lrjax.join([lrjax.constant(0.1), lrjax.constant(0.01)], [5])
    assert [float(j(k)) for k in (4, 5)] == [
        float(np.float32(0.1)),
        float(np.float32(0.01)),
    ]


# ------------------------------------------------------------ validation

BAD = [
    (lambda: lrjax.constant(-0.1), "value"),
    (lambda: lrjax.constant(float("nan")), "value"),
    (lambda: lrjax.time_based_decay(0.1, -0.01), "decay"),
    (lambda: lrjax.time_based_decay(float("inf"), 0.01), "init_value"),
    (lambda: lrjax.inverse_time_decay(0.1, decay_rate=0.5, decay_steps=0), "decay_steps"),
    (lambda: lrjax.inverse_time_decay(0.1, decay_rate=-0.5), "decay_rate"),
    (lambda: lrjax.step_decay(0.1, drop=0.5, drop_every=0), "drop_every"),
    (lambda: lrjax.step_decay(0.1, drop=1.5, drop_every=10), "drop"),
    (lambda: lrjax.step_decay(0.1, drop=0.5, drop_every=2.5), "drop_every"),
    (lambda: lrjax.exponential_decay(0.1, decay=float("nan")), "decay"),
    (lambda: lrjax.exponential_decay(-1.0, decay=0.1), "init_value"),
    (lambda: lrjax.multistep_decay(0.1, [30, 10], 0.1), "milestones"),
    (lambda: lrjax.multistep_decay(0.1, [-1], 0.1), "milestones[0]"),
    (lambda: lrjax.multistep_decay(0.1, [10], -0.1), "factor"),
    (lambda: lrjax.polynomial_decay(0.1, end_value=0.0, decay_steps=0), "decay_steps"),
    (
        lambda: lrjax.polynomial_decay(0.1, end_value=0.0, decay_steps=10, power=0.0),
        "power",
    ),
    (lambda: lrjax.polynomial_decay(0.1, end_value=-0.1, decay_steps=10), "end_value"),
    (
        lambda: lrjax.linear_schedule(0.1, end_value=0.0, transition_steps=-5),
        "transition_steps",
    ),
    (lambda: lrjax.cosine_decay(0.1, 0), "decay_steps"),
    (lambda: lrjax.cosine_decay(0.1, 10, alpha=1.5), "alpha"),
    (lambda: lrjax.cosine_restarts(0.1, first_decay_steps=0), "first_decay_steps"),
    (lambda: lrjax.cosine_restarts(0.1, first_decay_steps=10, t_mul=0.5), "t_mul"),
    (lambda: lrjax.cosine_restarts(0.1, first_decay_steps=10, m_mul=-1.0), "m_mul"),
    (lambda: lrjax.cosine_restarts(0.1, first_decay_steps=10, alpha=-0.1), "alpha"),
    (lambda: lrjax.cyclic(0.1, max_value=0.01, step_size_up=10), "max_value"),
    (lambda: lrjax.cyclic(0.01, max_value=0.1, step_size_up=0), "step_size_up"),
    (
        lambda: lrjax.cyclic(0.01, max_value=0.1, step_size_up=10, step_size_down=0),
        "step_size_down",
    ),
    (lambda: lrjax.cyclic(0.01, max_value=0.1, step_size_up=10, mode="triangle"), "mode"),
    (
        lambda: lrjax.cyclic(
            0.01, max_value=0.1, step_size_up=10, mode="exp_range", gamma=0.0
        ),
        "gamma",
    ),
    (
        lambda: lrjax.cyclic(
            0.01, max_value=0.1, step_size_up=10, mode="exp_range", gamma=1.5
        ),
        "gamma",
    ),
    (
        lambda: lrjax.cyclic_momentum(10, base_momentum=0.95, max_momentum=0.9),
        "max_momentum",
    ),
    (lambda: lrjax.cyclic_momentum(10, max_momentum=1.0), "max_momentum"),
    (lambda: lrjax.one_cycle(0.1, total_steps=100, pct_start=0.0), "pct_start"),
    (lambda: lrjax.one_cycle(0.1, total_steps=100, pct_start=1.0), "pct_start"),
    (lambda: lrjax.one_cycle(0.1, total_steps=0), "total_steps"),
    (lambda: lrjax.one_cycle(0.1, total_steps=3, pct_start=0.3), "pct_start"),
    (lambda: lrjax.one_cycle(0.1, total_steps=100, anneal="cosine"), "anneal"),
    (lambda: lrjax.one_cycle(0.1, total_steps=100, div_factor=0.0), "div_factor"),
    (
        lambda: lrjax.one_cycle(0.1, total_steps=100, final_div_factor=-1.0),
        "final_div_factor",
    ),
    (
        lambda: lrjax.one_cycle(0.1, total_steps=100, pct_start=0.6, three_phase=True),
        "pct_start",
    ),
    (lambda: lrjax.one_cycle_momentum(100, base_momentum=-0.1), "base_momentum"),
    (lambda: lrjax.piecewise_constant([10, 10], [1.0, 0.5, 0.1]), "boundaries"),
    (lambda: lrjax.piecewise_constant([10, 20], [1.0, 0.5]), "len(values)"),
    (lambda: lrjax.piecewise_constant([10], [1.0, float("inf")]), "values[1]"),
    (lambda: lrjax.piecewise_constant([10], [1.0, -0.5]), "values[1]"),
    (lambda: lrjax.warmup(lrjax.constant(0.1), warmup_steps=-1), "warmup_steps"),
    (
        lambda: lrjax.warmup(lrjax.constant(0.1), warmup_steps=5, init_value=-0.1),
        "init_value",
    ),
    (lambda: lrjax.join([lrjax.constant(0.1)], [5]), "len(schedules)"),
    (lambda: lrjax.join([lrjax.constant(0.1)] * 3, [20, 10]), "boundaries"),
]


@pytest.mark.parametrize("make,name", BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)])
def test_bad_hyperparameters_raise_naming_the_argument(make, name):
    with pytest.raises(ValueError, match=re.escape(name)):
        make()


@pytest.mark.parametrize(
    "make,name",
    [
        (lambda: lrjax.warmup(0.1, warmup_steps=5), "schedule"),
        (lambda: lrjax.join([lrjax.constant(0.1), 0.2], [5]), "schedules[1]"),
        (lambda: lrjax.cyclic(0.01, max_value=0.1, step_size_up=10, mode=3), "mode"),
        (lambda: lrjax.constant("0.1"), "value"),
    ],
)
def test_wrong_kinds_raise_type_error(make, name):
    with pytest.raises(TypeError, match=re.escape(name)):
        make()


def test_structural_hyperparameters_must_be_concrete():
    with pytest.raises(TypeError, match="t_mul"):
        jax.jit(lambda t: lrjax.cosine_restarts(0.1, first_decay_steps=10, t_mul=t)(3))(2.0)
    with pytest.raises(TypeError, match="pct_start"):
        jax.jit(lambda p: lrjax.one_cycle(0.1, total_steps=100, pct_start=p)(3))(0.3)
