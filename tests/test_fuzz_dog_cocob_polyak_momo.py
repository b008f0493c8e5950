"""Hypothesis fuzzing of DoG, L-DoG, DoWG, COCOB, Polyak and MoMo: 100 steps each.

The shared fuzzer (``test_fuzz_optimizers.py``) checks that the recorded rate is the
schedule's value and calls ``update`` without the loss; these methods choose their own
step size and two of them need ``value=``, so they are fuzzed here the same way: a
random tree (1-3 leaves of assorted shapes) and dtype (float32, bfloat16, float64),
``LANES`` sets of hyperparameters entering as traced values (one compilation runs all
lanes under ``jax.vmap``), 100 steps of a noisy quadratic whose curvatures span 1e-3
to 1e3, and an exponentially decaying rate. Checked for every lane and step: params,
updates and state stay finite and keep their dtypes, and the recorded step size is
finite and non-negative.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lrjax

STEPS, LANES = 100, 8
SHAPES = [(), (3,), (2, 3)]
DTYPES = [jnp.float32, jnp.bfloat16] + ([jnp.float64] if jax.config.jax_enable_x64 else [])
SETTINGS = settings(max_examples=2, deadline=None, derandomize=True)

# name: (make(lr, hp), hyperparameter strategies, needs the loss, records a rate)
METHODS = {
    "dog": (
        lambda lr, hp: lrjax.dog(lr, reps_rel=hp["r"], weight_decay=hp["wd"]),
        {"r": st.floats(1e-8, 1e-2), "wd": st.floats(0.0, 0.1)},
        False,
        True,
    ),
    "l_dog": (
        lambda lr, hp: lrjax.l_dog(lr, reps_rel=hp["r"], weight_decay=hp["wd"]),
        {"r": st.floats(1e-8, 1e-2), "wd": st.floats(0.0, 0.1)},
        False,
        False,
    ),
    "dowg": (
        lambda lr, hp: lrjax.dowg(lr, eps=hp["eps"], weight_decay=hp["wd"]),
        {"eps": st.floats(1e-8, 1e-2), "wd": st.floats(0.0, 0.1)},
        False,
        True,
    ),
    "cocob": (
        lambda lr, hp: lrjax.cocob(alpha=hp["alpha"], weight_decay=hp["wd"]),
        {"alpha": st.floats(1.0, 1e3), "wd": st.floats(0.0, 0.1)},
        False,
        False,
    ),
    "polyak_sgd": (
        lambda lr, hp: lrjax.polyak_sgd(lr, variant="sps_max", c=hp["c"]),
        {"c": st.floats(0.1, 2.0)},
        True,
        True,
    ),
    "polyak_sgd_smooth": (
        lambda lr, hp: lrjax.polyak_sgd(c=hp["c"]),
        {"c": st.floats(0.1, 2.0)},
        True,
        True,
    ),
    "momo": (
        lambda lr, hp: lrjax.momo(lr, beta=hp["b"], weight_decay=hp["wd"], use_fstar=True),
        {"b": st.floats(0.0, 0.99), "wd": st.floats(0.0, 0.1)},
        True,
        True,
    ),
    "momo_adam": (
        lambda lr, hp: lrjax.momo_adam(lr, b1=hp["b"], weight_decay=hp["wd"]),
        {"b": st.floats(0.0, 0.99), "wd": st.floats(0.0, 0.1)},
        True,
        True,
    ),
}


def _finite(tree) -> jax.Array:
    leaves = [
        jnp.all(jnp.isfinite(x))
        for x in jax.tree.leaves(tree)
        if jnp.issubdtype(x.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


@functools.partial(jax.jit, static_argnums=0)
def _run(name, hp, lr0, problem):
    make, _, needs_loss, records = METHODS[name]

    def lane(hp, lr0, problem):
        start, curv, noise = problem
        tx = make(lrjax.exponential_decay(lr0, decay=0.01), hp)
        state = tx.init(start)

        def step(carry, noise_n):
            p, state = carry
            f = sum(
                jnp.sum(0.5 * c.astype(jnp.float32) * q.astype(jnp.float32) ** 2)
                for c, q in zip(curv, p)
            )
            g = [(c * q + e).astype(q.dtype) for c, q, e in zip(curv, p, noise_n)]
            u, state = tx.update(g, state, p, **({"value": f} if needs_loss else {}))
            eta = lrjax.current_learning_rate(state) if records else jnp.zeros([])
            p = [a + b for a, b in zip(p, u)]
            ok = _finite(u) & _finite(p) & _finite(state) & (eta >= 0)
            return (p, state), ok

        (p, _), ok = jax.lax.scan(step, (start, state), noise)
        return ok, p

    return jax.vmap(lane)(hp, lr0, problem)


def _problem(shapes, dtype, seeds):
    lanes = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        lanes.append(
            (
                [rng.standard_normal(s) for s in shapes],
                [10.0 ** rng.uniform(-3, 3, s) for s in shapes],
                [0.1 * rng.standard_normal((STEPS, *s)) for s in shapes],
            )
        )
    return tuple(
        [
            jnp.asarray(np.stack([lane[part][i] for lane in lanes]), dtype)
            for i in range(len(shapes))
        ]
        for part in range(3)
    )


@st.composite
def _example(draw, name):
    shapes = draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3))
    dtype = draw(st.sampled_from(DTYPES))
    hp = {
        k: draw(st.lists(s, min_size=LANES, max_size=LANES))
        for k, s in METHODS[name][1].items()
    }
    lr0 = draw(st.lists(st.floats(1e-3, 1.0), min_size=LANES, max_size=LANES))
    seeds = draw(st.lists(st.integers(0, 2**32 - 1), min_size=LANES, max_size=LANES))
    return shapes, dtype, hp, lr0, seeds


@pytest.mark.parametrize("name", sorted(METHODS))
def test_fuzz(name):
    @SETTINGS
    @given(_example(name))
    def run(example):
        shapes, dtype, hp, lr0, seeds = example
        hp = {k: jnp.asarray(v, jnp.float32) for k, v in hp.items()}
        ok, p = _run(
            name, hp, jnp.asarray(lr0, jnp.float32), _problem(shapes, dtype, seeds)
        )
        assert bool(np.all(np.asarray(ok))), (name, dtype, shapes)
        for leaf in p:
            assert leaf.dtype == jnp.dtype(dtype)

    run()
