"""lrjax.grouped: the same updates as the wrapped transform, on stacked leaves.

The reference here is the wrapped transform itself, run leaf by leaf: ``grouped`` claims
no new mathematics, only the same element-wise arithmetic on stacked arrays.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrjax


def _tree(dtypes=(jnp.float32,), seed=0):
    """Many same-shape leaves (blocked: 20 > 16), a few odd shapes, one large leaf."""
    rng = np.random.default_rng(seed)
    tree = {}
    for d, dt in enumerate(dtypes):
        tree[f"w{d}"] = [jnp.asarray(rng.standard_normal(3), dt) for _ in range(20)]
        tree[f"m{d}"] = [jnp.asarray(rng.standard_normal((2, 4)), dt) for _ in range(3)]
        tree[f"odd{d}"] = jnp.asarray(rng.standard_normal(5), dt)
        tree[f"big{d}"] = jnp.asarray(rng.standard_normal(40), dt)  # > max_leaf_size
    return tree


def _run(txs, params, grads_seq):
    """Several steps of each transform through lax.scan, all in one jitted program.

    Returns, per transform, the updates of every step (stacked) and the final params.
    """

    def run(tx, gs):
        def body(carry, g):
            p, s = carry
            u, s = tx.update(g, s, p)
            return (optax.apply_updates(p, u), s), u

        (p, _), us = jax.lax.scan(body, (params, tx.init(params)), gs)
        return us, p

    return jax.jit(lambda gs: [run(tx, gs) for tx in txs])(grads_seq)


def _check_close(got, want, lr):
    """First step bitwise; later steps within a few ulps of the update scale ``lr``.

    Each step performs the same IEEE operations on each coordinate with the same
    per-step scalars, so the first step (from identical states) is bitwise equal. XLA
    may contract ``b * m + (1 - b) * g`` into one FMA (one rounding instead of two) in
    one program and not in the other, because the moments are fused into different
    kernels; a moment may then differ by 1 ulp, and from the second step on the
    update by a few ulps of its scale (Adam: ``|u| <= lr``). Measured: at most 2 ulps of
    ``lr``; allowed: 4 ulps of ``lr`` absolute, 4 ulps relative.
    """
    (us, p), (us_ref, p_ref) = got, want
    assert jax.tree.structure(us) == jax.tree.structure(us_ref)
    for a, b in zip(jax.tree.leaves(us), jax.tree.leaves(us_ref)):
        assert a.dtype == b.dtype
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        np.testing.assert_array_equal(a[0], b[0])
    for a, b in zip(jax.tree.leaves((us, p)), jax.tree.leaves((us_ref, p_ref))):
        eps = float(jnp.finfo(a.dtype).eps)
        np.testing.assert_allclose(
            np.asarray(a, np.float64),
            np.asarray(b, np.float64),
            rtol=4 * eps,
            atol=4 * eps * lr,
        )


def _grads(params, steps=3, seed=1):
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda x: jnp.asarray(rng.standard_normal((steps, *x.shape)), x.dtype), params
    )


LR = {"sgd_nesterov": 0.1}
LR = {
    k: LR.get(k, 1e-2)
    for k in (
        "adam",
        "adamw",
        "sgd_nesterov",
        "rmsprop_centered",
        "optax_adam",
        "clip_adam",
    )
}

TRANSFORMS = {
    "adam": lambda: lrjax.adam(1e-2),
    "adamw": lambda: lrjax.adamw(1e-2, weight_decay=0.1),
    "sgd_nesterov": lambda: lrjax.sgd(
        lrjax.cosine_decay(0.1, 10), momentum=0.9, nesterov=True
    ),
    "rmsprop_centered": lambda: lrjax.rmsprop(1e-2, centered=True, momentum=0.5),
    "optax_adam": lambda: optax.adam(1e-2),
    "clip_adam": lambda: optax.chain(optax.clip(0.5), lrjax.adam(1e-2)),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_same_updates_as_ungrouped(name, standard_promotion):
    params = _tree()
    got, want = _run(
        [
            lrjax.grouped(TRANSFORMS[name](), max_leaf_size=32, min_group_size=2),
            TRANSFORMS[name](),
        ],
        params,
        _grads(params),
    )
    _check_close(got, want, LR[name])


@pytest.mark.x64  # a float64 leaf beside float32 and bfloat16 ones needs x64
def test_mixed_dtypes_preserved_and_equal():
    dtypes = (jnp.float32, jnp.bfloat16, jnp.float64)
    params = _tree(dtypes)
    grads = _grads(params, steps=2)
    got, want = _run(
        [
            lrjax.grouped(lrjax.adam(1e-2), max_leaf_size=32, min_group_size=2),
            lrjax.adam(1e-2),
        ],
        params,
        grads,
    )
    _check_close(got, want, 1e-2)
    for a, x in zip(jax.tree.leaves(got), jax.tree.leaves((grads, params))):
        assert a.dtype == x.dtype
    # The state holds one stack per (shape, dtype) block, in the parameters' dtypes.
    state = lrjax.grouped(lrjax.adam(1e-2), max_leaf_size=32, min_group_size=2).init(params)
    mu_dtypes = {x.dtype for x in jax.tree.leaves(state.inner[0].mu)}
    assert mu_dtypes == {jnp.dtype(d) for d in dtypes}


def test_state_is_stacked_and_same_size():
    params = _tree()
    tx = lrjax.grouped(lrjax.adam(1e-2), max_leaf_size=32, min_group_size=2)
    state = tx.init(params)
    mu = state.inner[0].mu
    # (dict keys sort as m0, odd0, w0) 3 leaves (2, 4) in one stack, 20 leaves of shape
    # (3,) in blocks of 5, then the singles.
    assert [x.shape for x in mu[:5]] == [(3, 2, 4)] + [(5, 3)] * 4
    size = lambda t: sum(x.size for x in jax.tree.leaves(t))  # noqa: E731
    assert size(state) == size(lrjax.adam(1e-2).init(params))


def test_none_leaves_and_current_learning_rate():
    params = {"a": [jnp.ones(2, jnp.float32)] * 3, "frozen": None}
    tx = lrjax.grouped(
        lrjax.sgd(lrjax.exponential_decay(0.1, decay=0.5), momentum=0.9), min_group_size=2
    )
    state = tx.init(params)
    grads = {"a": [jnp.full(2, 2.0, jnp.float32)] * 3, "frozen": None}
    u, state = jax.jit(tx.update)(grads, state, params)
    assert u["frozen"] is None
    np.testing.assert_array_equal(np.asarray(u["a"][1]), np.full(2, -0.2, np.float32))
    assert float(lrjax.current_learning_rate(state)) == pytest.approx(0.1)


def test_extra_args_are_passed_on():
    seen = {}

    def update(updates, state, params=None, *, value=None):
        seen["value"] = value
        return updates, state

    inner = optax.GradientTransformationExtraArgs(lambda p: optax.EmptyState(), update)
    tx = lrjax.grouped(inner, min_group_size=2)
    p = [jnp.zeros(2)] * 2
    tx.update(p, tx.init(p), p, value=3.0)
    assert seen["value"] == 3.0


def test_rejects_non_elementwise_state():
    params = [jnp.zeros((130, 130), jnp.float32)] * 2
    with pytest.raises(ValueError, match="element-wise"):
        lrjax.grouped(optax.adafactor(1e-2)).init(params)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(max_leaf_size=0), ValueError),
        (dict(min_group_size=-1), ValueError),
        (dict(min_group_size=1.5), ValueError),
        (dict(min_group_size="2"), TypeError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        lrjax.grouped(lrjax.adam(1e-3), **kwargs)


def _fusions(tx, params):
    def step(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    text = jax.jit(step).lower(params, tx.init(params), params).compile().as_text()
    entry = text[text.index("ENTRY") :]
    kernels = re.findall(r"^\s*%\S+ = \S+ (?:fusion|concatenate)\(", entry, re.M)
    computations = set(re.findall(r"^%(fused_computation\S*) ", text, re.M))
    return len(kernels), len(computations)


def test_fewer_kernels_than_per_leaf():
    # The point of grouping: one kernel per leaf (params + update) plus a few per block,
    # instead of about three per leaf; and ~2 sqrt(N) distinct kernels to compile.
    params = [jnp.zeros(8, jnp.float32)] * 64
    per_leaf, _ = _fusions(lrjax.adam(1e-3), params)
    kernels, _ = _fusions(lrjax.grouped(lrjax.adam(1e-3), min_group_size=2), params)
    assert per_leaf >= 2.5 * 64
    assert kernels <= 64 + 4 * 8 + 8


def test_stateless_inner_is_not_stacked():
    # sgd without momentum keeps nothing per parameter: stacking would only add copies.
    params = {f"b{i}": jnp.full(3, float(i)) for i in range(6)}
    grads = {k: 0.5 * v for k, v in params.items()}
    tx = lrjax.grouped(lrjax.sgd(0.1), min_group_size=2)
    state = tx.init(params)

    def step(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    hlo = jax.jit(step).lower(params, state, grads).as_text()
    assert "concatenate" not in hlo
    got, _ = step(params, state, grads)
    want = optax.apply_updates(
        params, lrjax.sgd(0.1).update(grads, lrjax.sgd(0.1).init(params))[0]
    )
    for k in params:
        np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(want[k]))
    # With momentum there is a per-parameter trace, and the leaves are stacked.
    tx = lrjax.grouped(lrjax.sgd(0.1, momentum=0.9), min_group_size=2)
    state = tx.init(params)
    assert any(jnp.shape(x) == (6, 3) for x in jax.tree.leaves(state))


def test_default_stacks_only_large_groups():
    # Below min_group_size (128) stacking costs more compile time than it saves
    # (benchmarks/bench_grouped_limits.py): such a tree is left as it is.
    few = {f"b{i}": jnp.zeros(4, jnp.float32) for i in range(127)}
    state = lrjax.grouped(lrjax.adam(1e-3)).init(few)
    assert {x.shape for x in jax.tree.leaves(state.inner[0].mu)} == {(4,)}
    many = {f"b{i}": jnp.zeros(4, jnp.float32) for i in range(128)}
    state = lrjax.grouped(lrjax.adam(1e-3)).init(many)
    assert all(x.ndim == 2 for x in jax.tree.leaves(state.inner[0].mu))
