"""Every public transform and optimizer meets the same contract.

Cases come from ``tests/cases_*.py`` (one file per lrjax module). See
``tests/conformance.py`` for the fields of a case.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conformance import Case, all_cases, complex_verdict, loss, params

import lrjax

CASES = all_cases()
# The suite runs with x64 off, as users do. float64 is covered by the x64 variant of
# test_jit_matches_eager, which turns x64 on and checks that float64 is preserved.
DTYPES = [jnp.float32, jnp.bfloat16]
# Two float32 runs of the same arithmetic in two compiled programs: XLA may fuse and
# reorder differently, a few ulps (float32 eps is 1.2e-7) per operation at most, on
# O(1) values after one step.
RTOL_F32 = 1e-6


def _extra(case: Case, p, **more):
    if not case.needs_loss:
        return more
    return dict(value=loss(p), grad=jax.grad(loss)(p), value_fn=loss, **more)


def _step(case: Case, tx):
    """One training step closing over the loss (a function is not a jit argument)."""

    def step(p, state):
        g = jax.grad(loss)(p)
        u, state = tx.update(g, state, p, **_extra(case, p))
        return optax.apply_updates(p, u), state, u

    return step


_PLAIN: dict = {}


def _plain_step(case: Case, dtype=jnp.float32):
    """One jitted step of the plain transform, computed once per case and dtype."""
    key = (case.name, jnp.dtype(dtype).name)
    if key not in _PLAIN:
        tx = case.make(case.lr)
        p = params(dtype)
        _PLAIN[key] = jax.jit(_step(case, tx))(p, tx.init(p))
    return _PLAIN[key]


def _schedule(lr):
    return lambda n: lr * 0.5 ** jnp.asarray(n, jnp.float32)


def test_cases_exist():
    assert CASES, "no tests/cases_*.py defines conformance cases"


def test_every_public_transform_is_covered():
    # Schedules, and the range test, grid sweep and plots: not transforms.
    not_transforms = {"lrjax._tools.finder", "lrjax._tools.sweep", "lrjax._tools.plot"}
    utilities = {"current_learning_rate"}
    public = {
        name
        for name in dir(lrjax)
        if not name.startswith("_")
        and inspect.isfunction(getattr(lrjax, name))
        and getattr(lrjax, name).__module__.startswith("lrjax.")
        and getattr(lrjax, name).__module__ not in not_transforms
        and not getattr(lrjax, name).__module__.startswith("lrjax._schedules.")
        and name not in utilities
    }
    covered = {name for case in CASES for name in case.covers}
    assert not public - covered, f"no conformance case covers {sorted(public - covered)}"


def _assert_donatable(state) -> None:
    """No array object appears twice: a donated step would reject it (the soak run
    found adamax, adadelta, skip_nonfinite, Newton and the plateau initialising two
    fields with one array)."""
    leaves = [x for x in jax.tree.leaves(state) if isinstance(x, jax.Array)]
    assert len({id(x) for x in leaves}) == len(leaves), jax.tree.map(id, state)


@pytest.mark.parametrize(
    "dtype",
    [jnp.float32, pytest.param(jnp.float64, marks=pytest.mark.x64)],
    ids=["float32", "float64"],
)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_jit_matches_eager(case, dtype):
    tx = case.make(case.lr)
    p = params(dtype)
    step = _step(case, tx)
    state = tx.init(p)
    _assert_donatable(state)
    eager = step(p, state)
    _assert_donatable(eager[1])
    jitted = _plain_step(case, dtype)
    # jit may fuse and reorder arithmetic: a few ulps at most, of float32 or float64.
    rtol, atol = (RTOL_F32, 1e-7) if dtype == jnp.float32 else (1e-12, 1e-14)
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)
    new_p, _, u = jitted
    for leaf in jax.tree.leaves((new_p, u)):
        assert leaf.dtype == jnp.dtype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_dtypes_preserved(case, dtype):
    tx = case.make(case.lr)
    p = params(dtype)
    state = tx.init(p)
    step = jax.jit(_step(case, tx))
    new_p, new_state, u = step(p, state)
    for leaf_u, leaf_p in zip(jax.tree.leaves(u), jax.tree.leaves(p)):
        assert leaf_u.dtype == leaf_p.dtype
        assert bool(jnp.all(jnp.isfinite(leaf_u)))
    for a, b in zip(jax.tree.leaves(new_p), jax.tree.leaves(p)):
        assert a.dtype == b.dtype
    shapes = lambda s: jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), s)
    assert shapes(new_state) == shapes(state)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_state_stable_through_scan_and_cond(case):
    tx = case.make(case.lr)
    p = params(jnp.float32)
    step = _step(case, tx)

    def body(carry, _):
        p, s = carry
        p, s, _ = step(p, s)
        return (p, s), None

    (p_scan, s_scan), _ = jax.jit(lambda c: jax.lax.scan(body, c, length=3))(
        (p, tx.init(p))
    )

    def cond_step(pred, p, s):
        return jax.lax.cond(pred, lambda: step(p, s)[:2], lambda: (p, s))

    p_c, s_c = jax.jit(cond_step)(True, p, tx.init(p))
    p_c, s_c = jax.jit(cond_step)(False, p_c, s_c)
    for leaf in jax.tree.leaves((p_scan, s_scan, p_c, s_c)):
        if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
            assert bool(jnp.all(jnp.isfinite(leaf)))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_schedule_is_recorded_and_compiles_once(case):
    """A scheduled rate is the one recorded at every step, with one compilation."""
    sched = _schedule(case.lr)
    tx = case.make(sched if case.takes_schedule else case.lr)
    p = params(jnp.float32)
    state = tx.init(p)
    step = jax.jit(_step(case, tx))
    for n in range(4):
        p, state, _ = step(p, state)
        if case.takes_schedule and case.records_lr and not case.adapts_lr:
            np.testing.assert_allclose(
                float(lrjax.current_learning_rate(state)), float(sched(n)), rtol=1e-6
            )
    assert step._cache_size() == 1


@pytest.mark.parametrize("case", CASES, ids=str)
def test_inside_inject_hyperparams(case):
    if not case.takes_schedule:
        pytest.skip("this transform has no learning-rate argument")
    tx = optax.inject_hyperparams(lambda learning_rate: case.make(learning_rate))(
        learning_rate=_schedule(case.lr)
    )
    p = params(jnp.float32)
    state = tx.init(p)
    step = jax.jit(_step(case, tx))
    for _n in range(2):
        p, state, _ = step(p, state)
    if case.records_lr and not case.adapts_lr:
        np.testing.assert_allclose(
            float(lrjax.current_learning_rate(state)),
            float(_schedule(case.lr)(1)),
            rtol=1e-6,
        )


@pytest.mark.parametrize("case", CASES, ids=str)
def test_inside_multisteps(case):
    tx = optax.MultiSteps(case.make(case.lr), every_k_schedule=2)
    p = params(jnp.float32)
    state = tx.init(p)
    step = jax.jit(_step(case, tx))
    # optax's own averaging (Welford's update) mixes its float32 mean with a weakly
    # typed float64 count; under the suite's strict promotion that is optax's error,
    # not lrjax's, so MultiSteps runs with JAX's standard promotion.
    with jax.numpy_dtype_promotion("standard"):
        p1, state, u = step(p, state)
    # The first of every two calls only accumulates: no update is applied.
    for leaf in jax.tree.leaves(u):
        assert not bool(jnp.any(leaf))
    with jax.numpy_dtype_promotion("standard"):
        p2, state, u = step(p1, state)
    assert any(bool(jnp.any(leaf)) for leaf in jax.tree.leaves(u))
    if case.records_lr and not case.adapts_lr:
        np.testing.assert_allclose(
            float(lrjax.current_learning_rate(state)), case.lr, rtol=1e-6
        )


@pytest.mark.parametrize("case", CASES, ids=str)
def test_chains_with_optax_on_either_side(case):
    p = params(jnp.float32)
    # A clip that never clips and a unit scale: the chains must equal the plain one,
    # up to the reordering of float32 arithmetic between two compiled programs.
    before = optax.chain(optax.clip_by_global_norm(1e6), case.make(case.lr))
    after = optax.chain(case.make(case.lr), optax.scale(1.0))
    plain = _plain_step(case)[0]
    for tx in (before, after):
        other = jax.jit(_step(case, tx))(p, tx.init(p))[0]
        for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(other)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL_F32)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_ignores_unknown_extra_args(case):
    tx = optax.with_extra_args_support(case.make(case.lr))
    p = params(jnp.float32)
    g = jax.grad(loss)(p)
    state = tx.init(p)
    if case.needs_loss:
        # Data keywords are routed to value_fn, as optax's line searches do.
        value_fn = lambda q, unrelated=None: loss(q)  # noqa: E731
        extra = dict(value=loss(p), grad=g, value_fn=value_fn, unrelated=3.0)
    else:
        extra = dict(unrelated=3.0, value=jnp.asarray(1.0))
    u, _ = tx.update(g, state, p, **extra)
    u_ref, _ = case.make(case.lr).update(g, tx.init(p), p, **_extra(case, p))
    # The same eager float32 arithmetic on both sides; RTOL_F32 allows for a wrapper
    # that changes how an operation is dispatched.
    for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(u_ref)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL_F32)


def _has_statistics_in_param_dtype(state, p) -> bool:
    """Whether the state keeps a per-parameter array in the params' dtype."""
    want = {(jnp.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(p)}
    return any(
        (jnp.shape(x), jnp.result_type(x)) in want and jnp.ndim(x) > 0
        for x in jax.tree.leaves(state)
    )


# (how the gradient tree is damaged, the error, the path the message must name)
_DAMAGE = {
    "missing_leaf": (lambda g: {"a": g["a"]}, ValueError, "['b']"),
    "extra_leaf": (lambda g: {**g, "c": g["a"]}, ValueError, "['c']"),
    "shape": (lambda g: {"a": g["a"], "b": g["b"].reshape(4)}, ValueError, "['b']"),
    "dtype": (
        lambda g: {"a": g["a"], "b": g["b"].astype(jnp.bfloat16)},
        TypeError,
        "['b']",
    ),
}


@pytest.mark.parametrize("damage", sorted(_DAMAGE))
@pytest.mark.parametrize("case", CASES, ids=str)
def test_mismatched_gradient_tree_names_the_path(case, damage):
    tx = case.make(case.lr)
    p = params(jnp.float32)
    state = tx.init(p)
    breaks, error, path = _DAMAGE[damage]
    g = breaks(jax.grad(loss)(p))
    # grouped() stacks leaves by dtype, so a changed dtype no longer fits its state.
    dtype_matters = _has_statistics_in_param_dtype(state, p) or "grouped" in case.covers
    if damage == "dtype" and not dtype_matters:
        # Without per-parameter statistics a transform may accept another dtype (the
        # update keeps it and apply_updates casts), or refuse it with the same message.
        try:
            u, _ = tx.update(g, state, p, **_extra(case, p))
        except TypeError as err:
            assert path in str(err) and "params given to init" in str(err), str(err)
        else:
            assert jax.tree.structure(u) == jax.tree.structure(p)
        return
    with pytest.raises(error) as info:
        tx.update(g, state, p, **_extra(case, p))
    assert path in str(info.value), str(info.value)
    assert "params given to init" in str(info.value)
    if damage == "dtype":  # the message names the dtype that was passed, and the one wanted
        assert "bfloat16" in str(info.value) and "float32" in str(info.value)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_numpy_float64_inputs_are_float32_as_in_optax(case):
    """With x64 off, NumPy float64 params, gradients and losses are float32 to JAX and
    to optax: the step equals the float32 one, and no error or warning names a float64
    that the user's JAX cannot compute in."""
    to_numpy = lambda t: jax.tree.map(lambda x: np.asarray(x, np.float64), t)  # noqa: E731
    p32 = params(jnp.float32)
    g32 = jax.grad(loss)(p32)
    p64, g64 = to_numpy(p32), to_numpy(g32)
    extra = {}
    if case.needs_loss:
        extra = dict(value=np.float64(loss(p32)), grad=g64, value_fn=loss)
    tx = case.make(case.lr)
    u, state = tx.update(g64, tx.init(p64), p64, **extra)
    u_ref, state_ref = tx.update(g32, tx.init(p32), p32, **_extra(case, p32))
    assert jax.tree.structure(state) == jax.tree.structure(state_ref)
    for a, b in zip(jax.tree.leaves((u, state)), jax.tree.leaves((u_ref, state_ref))):
        assert jnp.result_type(a) == jnp.result_type(b)
        # The same float32 arithmetic, eager, on both sides.
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL_F32)


def _complex_loss(p):
    """The conformance loss of complex params, through |z|² (a real number)."""
    a, b = p["a"], p["b"]
    c = jnp.arange(1, 4).astype(jnp.real(a).dtype)
    sq = lambda z: jnp.real(z * jnp.conj(z))  # noqa: E731
    return 0.5 * jnp.sum(c * sq(a - 1)) + 0.25 * jnp.sum(sq(b)) + 0.5 * sq(jnp.sum(b))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_complex_params(case):
    """complex64 params: a supported transform steps under jit in complex64 with a
    stable state and descends; a refused one raises a TypeError at init naming the
    first complex leaf (see conformance.COMPLEX_VERDICTS)."""
    p = jax.tree.map(lambda x: jax.lax.complex(x, 0.5 * x), params(jnp.float32))
    tx = case.make(case.lr)
    if complex_verdict(case) == "refused":
        with pytest.raises(TypeError, match=r"complex64 at \['a'\]"):
            tx.init(p)
        return

    def step(p, state):
        # The descent direction of a real loss of complex params: conj(jax.grad).
        g = jax.tree.map(jnp.conj, jax.grad(_complex_loss)(p))
        extra = {}
        if case.needs_loss:
            extra = dict(value=_complex_loss(p), grad=g, value_fn=_complex_loss)
        u, state = tx.update(g, state, p, **extra)
        return optax.apply_updates(p, u), state, u

    state = tx.init(p)
    new_p, new_state, u = jax.jit(step)(p, state)
    for leaf_u, _leaf_p in zip(jax.tree.leaves(u), jax.tree.leaves(p)):
        assert leaf_u.dtype == jnp.complex64
        assert bool(jnp.all(jnp.isfinite(leaf_u)))
    shapes = lambda s: jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), s)  # noqa: E731
    assert shapes(new_state) == shapes(state)
    assert float(_complex_loss(new_p)) < float(_complex_loss(p))
