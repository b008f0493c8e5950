"""Mechanic: parity with the authors' `mechanic-pytorch` 0.0.1, float32 accuracy, zero
rates, the observable rate, checkpoints, MultiSteps, complex parameters.

Parity: float64 (torch's default dtype set to float64, so that the reference's tuner
state is float64 too), 100 steps of the least-squares problem of ``lr_free_problem``
(tensors 4x3, 3, 2x5), with Mechanic's decay on and off, with and without the base's
weight decay, a constant rate and a warm-up from 0. Tolerance 1e-5 relative on the
whole trajectory (the issue's): the reference's own spread under a 1-ulp change of the
gradients is measured in ``test_reference_rounding_floor``.
"""

from __future__ import annotations

import flax.serialization
import jax
import jax.numpy as jnp
import lr_free_problem as lp
import numpy as np
import optax
import pytest

import lrjax

STEPS = 100
TOL = 1e-5


def _perturb(g, rng, perturb):
    """No change (None); one ulp up in every entry ("ulp"); or float32-sized relative
    noise, x (1 ± 2^-24) with random signs drawn from ``rng`` (an int ``perturb``)."""
    if perturb is None:
        return g
    if perturb == "ulp":
        return {n: np.nextafter(np.asarray(v), np.inf) for n, v in g.items()}
    return {
        n: np.asarray(v) * (1 + 2.0**-24 * rng.choice([-1.0, 1.0], size=np.shape(v)))
        for n, v in g.items()
    }


def _run_lrjax(opt, steps=STEPS, dtype=jnp.float64, perturb=None):
    """lrjax's trajectory; with an int ``perturb``, float32-sized noise on the
    gradients and on the params at every step (what float32 storage does to them)."""
    rng = np.random.default_rng(perturb if isinstance(perturb, int) else 0)
    params = jax.tree.map(lambda x: jnp.asarray(x, dtype), lp.start())
    state = opt.init(params)
    update = jax.jit(opt.update)
    ys = []
    for _ in range(steps):
        g = _perturb(lp.grad(jax.tree.map(np.asarray, params)), rng, perturb)
        g = jax.tree.map(lambda x: jnp.asarray(x, dtype), g)
        u, state = update(g, state, params)
        params = optax.apply_updates(params, u)
        if isinstance(perturb, int):
            params = jax.tree.map(
                lambda x: jnp.asarray(x, dtype), _perturb(params, rng, perturb)
            )
        ys.append(lp.flat(params))
    return ys, state


def _run_torch(make, schedule=None, steps=STEPS, perturb=None):
    torch = pytest.importorskip("torch")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        tensors = {k: torch.tensor(v, dtype=torch.float64) for k, v in lp.start().items()}
        ref = make(list(tensors.values()))
        ys = []
        for k in range(steps):
            if schedule is not None:
                for group in ref.param_groups:
                    group["lr"] = schedule(k)
            g = lp.grad({n: t.detach().numpy() for n, t in tensors.items()})
            g = _perturb(g, None, perturb)
            for n, t in tensors.items():
                t.grad = torch.tensor(g[n])
            ref.step()
            ys.append(lp.flat({n: t.detach().numpy() for n, t in tensors.items()}))
    finally:
        torch.set_default_dtype(previous)
    return ys


def _ramp(eta, w):
    return lambda k: eta * jnp.minimum(jnp.asarray(k, jnp.float64) / w, 1.0)


def _ramp_py(eta, w):
    return lambda k: eta * min(k / w, 1.0)


def _bases(base, lr, base_wd):
    """(lrjax base, torch optimizer factory) for the same rule."""
    torch = pytest.importorskip("torch")
    if base == "sgd":
        ours = lrjax.sgd(lr)
        theirs = lambda cls: lambda ps: cls(ps, lr=0.0, weight_decay=base_wd)
        cls = torch.optim.SGD
    else:
        ours = lrjax.adam(lr)
        theirs = lambda cls: lambda ps: cls(ps, lr=0.0, weight_decay=base_wd)
        cls = torch.optim.Adam
    if base_wd:
        ours = lrjax.chain(lrjax.add_decayed_weights(base_wd), ours)
    return ours, theirs, cls


SETTINGS = [
    # (name, base, Mechanic's decay, base weight decay, warm-up from 0)
    ("sgd", "sgd", 0.01, 0.0, False),
    ("sgd_no_decay", "sgd", 0.0, 0.0, False),
    ("sgd_base_decay", "sgd", 0.01, 0.05, False),
    ("sgd_warmup", "sgd", 0.01, 0.0, True),
    ("adam", "adam", 0.01, 0.0, False),
    ("adam_base_decay_warmup", "adam", 0.01, 0.05, True),
]


def _pair(base, lam, base_wd, warm, store_delta=False):
    mechanic_pytorch = pytest.importorskip("mechanic_pytorch")
    eta = 0.01
    lr = _ramp(eta, 10) if warm else eta
    ours_base, theirs, cls = _bases(base, lr, base_wd)
    ours = lrjax.mechanize(ours_base, weight_decay=lam, store_delta=store_delta)
    make = theirs(mechanic_pytorch.mechanize(cls, s_decay=lam, store_delta=store_delta))
    schedule = _ramp_py(eta, 10) if warm else (lambda k: eta)
    return ours, make, schedule


@pytest.mark.x64
@pytest.mark.parametrize(
    ("name", "base", "lam", "base_wd", "warm"), SETTINGS, ids=[s[0] for s in SETTINGS]
)
def test_matches_reference(name, base, lam, base_wd, warm):
    ours, make, schedule = _pair(base, lam, base_wd, warm)
    ys, _ = _run_lrjax(ours)
    ref = _run_torch(make, schedule)
    d = lp.relative_distance(ys, ref)
    # The reference's own spread under a 1-ulp change of the gradients; where it is
    # larger than 1e-6, 10x of it is the tolerance (the rule).
    spread = lp.relative_distance(_run_torch(make, schedule, perturb="ulp"), ref)
    print(f"parity {name}: {d:.2e} (reference spread {spread:.2e})")
    assert d < max(TOL, 10 * spread), (d, spread)
    # The run moved: Mechanic's scale grew from ~1e-6.
    assert np.linalg.norm(ys[-1] - ys[0]) > 1e-2 * np.linalg.norm(ys[0])


@pytest.mark.x64
def test_store_delta_matches_reference():
    ours, make, schedule = _pair("sgd", 0.01, 0.0, False, store_delta=True)
    d = lp.relative_distance(_run_lrjax(ours)[0], _run_torch(make, schedule))
    spread = lp.relative_distance(
        _run_torch(make, schedule, perturb="ulp"), _run_torch(make, schedule)
    )
    print(f"parity store_delta: {d:.2e} (reference spread {spread:.2e})")
    assert d < max(TOL, 10 * spread), (d, spread)


@pytest.mark.x64
def test_reference_rounding_floor():
    """The reference against itself with every gradient entry changed by 1 ulp: its
    spread is the floor any implementation can be held to. Measured 1.1e-9 here (SGD
    at 0.01), far below the 1e-5 tolerance. (With SGD at 0.001 it is 3e-6, and with
    momentum 0.9 at 0.1 it is 1.6e-3: there Mechanic's reward hits its clip at 0 at a
    step that rounding decides.)"""
    _, make, schedule = _pair("sgd", 0.01, 0.0, False)
    a = _run_torch(make, schedule)
    b = _run_torch(make, schedule, perturb="ulp")
    spread = lp.relative_distance(b, a)
    print(f"reference spread: {spread:.2e}")
    assert spread < TOL


# float32 against its own float64 run. The issue: "the authors' own code turns
# float32-sized gradient noise into 9e-5 to 5e-3, so its bound is a small multiple of
# that measured sensitivity". The sensitivity is measured here as the largest spread
# of lrjax's float64 run under three draws of float32-sized noise, x (1 ± 2^-24) with
# random signs, on the gradients and on the params at every step; the float32 run
# must stay within 10x of it. Measured (Adam at 0.01, lambda 0.01 and 0): float32
# 3.3e-2 and 3.2e-2 from float64 (5.1e-2 and 1.0e-2 with JAX's x64 off), sensitivity
# 1.2e-2; the reference's own float32 run is 6.7e-1 and 7.6e-2 from its float64 run,
# optax.contrib's (printed) 5.1e-1 and 7.4e-1 (5.8e-1 and 6.5e-1 with x64 off). (SGD at
# 0.01 crosses a reward reset near step 75, and every implementation's float32 run can
# land on another side of it: 0.15 to 0.8.)
@pytest.mark.parametrize("lam", [0.01, 0.0])
def test_float32_within_its_measured_sensitivity(lam):
    make = lambda: lrjax.mechanize(lrjax.adam(0.01), weight_decay=lam)
    with jax.enable_x64(True):
        ys64, _ = _run_lrjax(make(), dtype=jnp.float64)
        sensitivity = max(
            lp.relative_distance(_run_lrjax(make(), dtype=jnp.float64, perturb=i)[0], ys64)
            for i in range(3)
        )
    ys32, _ = _run_lrjax(make(), dtype=jnp.float32)
    err = lp.relative_distance(ys32, ys64)
    theirs = lambda: optax.contrib.mechanize(optax.adam(0.01), weight_decay=lam)
    with jax.numpy_dtype_promotion("standard"):  # optax's own code
        with jax.enable_x64(True):
            o64, _ = _run_lrjax(theirs(), dtype=jnp.float64)
        o32, _ = _run_lrjax(theirs(), dtype=jnp.float32)
    print(
        f"lambda {lam}: float32 {err:.2e}, sensitivity {sensitivity:.2e}; "
        f"optax.contrib float32 {lp.relative_distance(o32, o64):.2e}"
    )
    assert err < 10 * sensitivity, (err, sensitivity)


def test_zero_rate_is_a_zero_step():
    """A warm-up from 0: the first step changes nothing; every step is finite."""
    sched = lambda k: 0.1 * jnp.minimum(jnp.asarray(k, jnp.float32) / 5, 1.0)
    ys, state = _run_lrjax(lrjax.mechanize(lrjax.sgd(sched)), steps=30, dtype=jnp.float32)
    np.testing.assert_array_equal(ys[0], lp.flat(lp.start()).astype(np.float32))
    assert np.all(np.isfinite(np.stack(ys)))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state))
    ys, state = _run_lrjax(lrjax.mechanize(lrjax.adam(0.0)), steps=5, dtype=jnp.float32)
    for y in ys:
        np.testing.assert_array_equal(y, lp.flat(lp.start()).astype(np.float32))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state))


def test_current_learning_rate_is_base_rate_times_scale():
    opt = lrjax.mechanize(lrjax.sgd(lambda k: 0.1 * 0.5 ** jnp.asarray(k, jnp.float32)))
    params = jnp.ones(3, jnp.float32)
    state = opt.init(params)
    for k in range(4):
        u, state = opt.update(params * 2, state, params)
        params = params + u
        scale = max(float(jnp.sum(state.s)), 0.0)
        np.testing.assert_allclose(
            float(lrjax.current_learning_rate(state)), 0.1 * 0.5**k * scale, rtol=1e-6
        )
    # An optax base keeps its rate out of the state: refused, never a wrong number.
    state = lrjax.mechanize(optax.sgd(0.1)).init(params)
    with pytest.raises(ValueError, match="EmptyState"):
        lrjax.current_learning_rate(state)


def test_checkpoint_resume_is_bit_identical():
    opt = lrjax.mechanize(lrjax.adam(0.05))
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), lp.start())
    update = jax.jit(opt.update)

    def run(p, s, n):
        for _ in range(n):
            g = jax.tree.map(
                lambda x: jnp.asarray(x, jnp.float32), lp.grad(jax.tree.map(np.asarray, p))
            )
            u, s = update(g, s, p)
            p = optax.apply_updates(p, u)
        return p, s

    p_mid, s_mid = run(params, opt.init(params), 13)
    p_full, s_full = run(p_mid, s_mid, 17)
    blob = flax.serialization.to_bytes((p_mid, s_mid))
    p_back, s_back = flax.serialization.from_bytes((params, opt.init(params)), blob)
    p_res, s_res = run(p_back, s_back, 17)
    for a, b in zip(jax.tree.leaves((p_full, s_full)), jax.tree.leaves((p_res, s_res))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.usefixtures("standard_promotion")
def test_multisteps_keeps_state_dtypes():
    """optax#1038: inside MultiSteps the state's dtypes never change."""
    opt = optax.MultiSteps(lrjax.mechanize(lrjax.adam(0.01)), 2)
    params = {"a": jnp.ones(3, jnp.float32), "b": jnp.ones((2, 2), jnp.bfloat16)}
    state = opt.init(params)
    kinds = lambda s: jax.tree.map(lambda x: jnp.result_type(x), s)
    before = kinds(state)
    update = jax.jit(opt.update)
    for _ in range(4):
        g = jax.tree.map(jnp.ones_like, params)
        u, state = update(g, state, params)
        params = optax.apply_updates(params, u)
        assert kinds(state) == before


def test_complex_is_refused_naming_the_leaf():
    with pytest.raises(TypeError, match=r"\['c'\]"):
        lrjax.mechanize(lrjax.sgd(0.1)).init(
            {"r": jnp.ones(2), "c": jnp.ones(2, jnp.complex64)}
        )


def test_state_no_larger_than_optax():
    params = {k: jnp.asarray(v, jnp.float32) for k, v in lp.start().items()}
    size = lambda s: sum(np.asarray(x).nbytes for x in jax.tree.leaves(s))
    ours = lrjax.mechanize(lrjax.sgd(0.1)).init(params)
    theirs = optax.contrib.mechanize(optax.sgd(0.1)).init(params)
    # lrjax's sgd records its rate (one scalar, 4 bytes).
    assert size(ours) <= size(theirs) + 16
