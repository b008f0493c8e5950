"""Hypothesis fuzzing of Prodigy and D-Adaptation: random trees, dtypes, hyperparameters.

``test_fuzz_optimizers.py`` checks that the recorded rate is the schedule's value and
bounds ``|u| / eta``; these methods record $d\\eta$ and bound no ratio, so they are
fuzzed here. Each example: 60 steps on a noisy quadratic (curvatures 1e-2 to 1e2) with a
random warm-up from 0 or a decaying rate; checked at every step: params, updates and
state finite, dtypes kept, and the recorded rate equal to $d\\eta$ (times the bias
factor where enabled) of the step's own $d$.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import lrjax

STEPS = 60
SHAPES = [(), (1,), (3,), (2, 3)]
DTYPES = [jnp.float32, jnp.bfloat16]


def _rate(kind, peak):
    if kind == "warmup":
        return lambda n: peak * jnp.minimum(1.0, jnp.asarray(n, jnp.float32) / 7)
    return lambda n: peak * jnp.exp(-0.02 * jnp.asarray(n, jnp.float32))


METHODS = {
    "prodigy": (
        lambda lr, h: lrjax.prodigy(
            lr,
            (h["b1"], h["b2"]),
            eps=h["eps"],
            weight_decay=h["wd"],
            decouple=h["flag"],
            use_bias_correction=h["flag2"],
            safeguard_warmup=h["flag"],
            d0=h["d0"],
            d_coef=h["coef"],
            growth_rate=h["growth"],
            slice_p=h["slice"],
        )
    ),
    "dadapt_adam": (
        lambda lr, h: lrjax.dadapt_adam(
            lr,
            (h["b1"], h["b2"]),
            h["eps"],
            weight_decay=h["wd"],
            decouple=h["flag"],
            use_bias_correction=h["flag2"],
            d0=h["d0"],
            growth_rate=h["growth"],
        )
    ),
    "dadapt_sgd": (
        lambda lr, h: lrjax.dadapt_sgd(
            lr, h["b1"], weight_decay=h["wd"], d0=h["d0"], growth_rate=h["growth"]
        )
    ),
    "dadapt_adagrad": (
        lambda lr, h: lrjax.dadapt_adagrad(
            lr,
            h["b1"],
            weight_decay=h["wd"],
            eps=h["eps"],
            d0=h["d0"],
            growth_rate=h["growth"],
        )
    ),
}

HYPER = st.fixed_dictionaries(
    {
        "b1": st.floats(0.0, 0.95),
        "b2": st.floats(0.9, 0.9999),
        "eps": st.floats(1e-10, 1e-4),
        "wd": st.sampled_from([0.0, 1e-3, 0.1]),
        "flag": st.booleans(),
        "flag2": st.booleans(),
        "d0": st.floats(1e-8, 1e-2),
        "coef": st.floats(0.1, 2.0),
        "growth": st.sampled_from([1.01, 2.0, float("inf")]),
        "slice": st.integers(1, 3),
    }
)


@st.composite
def _example(draw):
    shapes = draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3))
    return (
        shapes,
        draw(st.sampled_from(DTYPES)),
        draw(HYPER),
        draw(st.sampled_from(["warmup", "decay"])),
        draw(st.floats(0.05, 1.0)),
        draw(st.integers(0, 2**31 - 1)),
    )


def _run(name, shapes, dtype, hyper, kind, peak, seed):
    rng = np.random.default_rng(seed)
    start = {
        f"p{i}": jnp.asarray(rng.standard_normal(s), dtype) for i, s in enumerate(shapes)
    }
    curv = {
        k: jnp.asarray(10.0 ** rng.uniform(-2, 2, v.shape), dtype) for k, v in start.items()
    }
    noise = [
        {
            k: jnp.asarray(0.1 * rng.standard_normal(v.shape), dtype)
            for k, v in start.items()
        }
        for _ in range(STEPS)
    ]
    sched = _rate(kind, peak)
    tx = METHODS[name](sched, hyper)

    @jax.jit
    def step(p, s, e):
        g = jax.tree.map(lambda c, q, z: c * q + z, curv, p, e)
        u, s = tx.update(g, s, p)
        return lrjax.apply_updates(p, u), s, u

    p, s = start, tx.init(start)
    for n in range(STEPS):
        d_before, k_before = s.d, getattr(s, "k", None)
        p, s, u = step(p, s, noise[n])
        for leaf in jax.tree.leaves((p, s, u)):
            if jnp.issubdtype(leaf.dtype, jnp.inexact):
                assert bool(jnp.all(jnp.isfinite(leaf))), (name, n)
        for a, b in zip(jax.tree.leaves((p, u)), jax.tree.leaves((start, start))):
            assert a.dtype == b.dtype
        want = float(d_before) * float(sched(n))
        if name in ("prodigy", "dadapt_adam") and hyper["flag2"]:
            k = int(k_before) + 1
            want *= np.sqrt(1 - hyper["b2"] ** k) / (1 - hyper["b1"] ** k)
        np.testing.assert_allclose(
            float(lrjax.current_learning_rate(s)), want, rtol=1e-5, atol=1e-30
        )


def _make(name):
    @settings(max_examples=4, deadline=None, derandomize=True)
    @given(_example())
    def test(example):
        _run(name, *example)

    test.__name__ = f"test_{name}_fuzz"
    return test


for _name in METHODS:
    globals()[f"test_{_name}_fuzz"] = _make(_name)
