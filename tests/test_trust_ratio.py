"""LARS and LAMB against optax, Keras 3 and pytorch_optimizer; masks; the recorded rate.

Every run is 100 steps on a small two-layer tree (a 4x3 kernel, a bias, a 3x3 "norm"
matrix) under the loss sum(sin(W)^2) + sum((b - 1)^2) + ..., whose gradient is
computed once in float64 NumPy and cast to the run's dtype for every library, so the
comparison is of the optimizers. Errors are max over steps and leaves of
||x - r|| / ||r||. Run ``python -m pytest -s -n 0 tests/test_trust_ratio.py`` to print
them.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrjax

STEPS = 100
RNG = np.random.default_rng(19)
P0 = {
    "kernel": RNG.standard_normal((4, 3)),
    "bias": RNG.standard_normal(3),
    "norm": 1.0 + 0.1 * RNG.standard_normal((3, 3)),
}
NAMES = sorted(P0)  # the leaf order of a dict: bias, kernel, norm


def grad64(p: dict) -> dict:
    """The gradient in float64, of any float params."""
    w = {k: np.asarray(v, np.float64) for k, v in p.items()}
    return {
        "kernel": np.sin(2 * w["kernel"]),
        "bias": 2 * (w["bias"] - 1.0),
        "norm": 0.5 * w["norm"] ** 3,
    }


def run_lrjax(opt, dtype) -> list[dict]:
    p = {k: jnp.asarray(v, dtype) for k, v in P0.items()}
    state = opt.init(p)
    update = jax.jit(opt.update)
    out = []
    for _ in range(STEPS):
        g = {k: jnp.asarray(v, dtype) for k, v in grad64(p).items()}
        u, state = update(g, state, p)
        p = optax.apply_updates(p, u)
        out.append({k: np.asarray(v, np.float64) for k, v in p.items()})
    return out, state


def rel(ours: list[dict], theirs: list[dict]) -> float:
    return max(
        float(np.linalg.norm(a[k] - b[k]) / np.linalg.norm(b[k]))
        for a, b in zip(ours, theirs)
        for k in NAMES
    )


def moved(traj):
    assert rel(traj[-1:], [dict(P0)]) > 1e-3  # the runs actually go somewhere


# ------------------------------------------------------------------ optax


@pytest.mark.x64
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_lamb_equals_optax_lamb(wd, standard_promotion):
    mask = {"kernel": True, "bias": False, "norm": True}
    ours, _ = run_lrjax(lrjax.lamb(1e-2, 0.9, 0.99, 1e-6, 0.0, wd, mask), jnp.float64)
    theirs, _ = run_lrjax(optax.lamb(1e-2, 0.9, 0.99, 1e-6, 0.0, wd, mask), jnp.float64)
    moved(ours)
    err = rel(ours, theirs)
    print(f"\nlamb vs optax.lamb (wd={wd}): {err:.2e}")
    assert err <= 1e-12


@pytest.mark.x64
@pytest.mark.parametrize("wd,nesterov", [(0.0, False), (0.01, True)])
def test_lars_equals_optax_lars(wd, nesterov, standard_promotion):
    mask = {"kernel": True, "bias": False, "norm": True}
    ours, _ = run_lrjax(
        lrjax.lars(0.5, wd, mask, 0.01, 1e-9, True, 0.9, nesterov), jnp.float64
    )
    theirs, _ = run_lrjax(
        optax.lars(0.5, wd, mask, 0.01, 1e-9, True, 0.9, nesterov), jnp.float64
    )
    moved(ours)
    err = rel(ours, theirs)
    print(f"\nlars vs optax.lars (wd={wd}): {err:.2e}")
    assert err <= 1e-12


def test_scale_by_trust_ratio_equals_optax(standard_promotion):
    p = {k: jnp.asarray(v, jnp.float32) for k, v in P0.items()}
    g = {k: jnp.asarray(v, jnp.float32) for k, v in grad64(p).items()}
    g["bias"] = jnp.zeros(3)  # a zero norm: ratio 1
    for kwargs in ({}, {"min_norm": 0.5, "trust_coefficient": 0.3, "eps": 1e-3}):
        tx = lrjax.scale_by_trust_ratio(**kwargs)
        ours, _ = tx.update(g, tx.init(p), p)
        theirs, _ = optax.scale_by_trust_ratio(**kwargs).update(g, None, p)
        for k in NAMES:
            np.testing.assert_allclose(ours[k], theirs[k], rtol=2e-7)


# ------------------------------------------------------------------ Keras


def keras_run(make, steps=STEPS) -> list[dict]:
    """Keras 3 on its JAX backend through stateless_apply, in float32."""
    keras = pytest.importorskip("keras")
    vs = [keras.Variable(np.asarray(P0[k], np.float32), name=k) for k in NAMES]
    opt = make(keras)
    opt.build(vs)
    opt_vars = [w.value for w in opt.variables]
    step = jax.jit(opt.stateless_apply)
    x = [v.value for v in vs]
    out = []
    with jax.numpy_dtype_promotion("standard"):
        for _ in range(steps):
            g = grad64(dict(zip(NAMES, x)))
            x, opt_vars = step(opt_vars, [jnp.asarray(g[k], jnp.float32) for k in NAMES], x)
            out.append({k: np.asarray(v, np.float64) for k, v in zip(NAMES, x)})
    return out


@pytest.mark.parametrize("eps", [1e-6, 1e-7])
def test_lamb_equals_keras_without_decay(eps):
    theirs = keras_run(lambda k: k.optimizers.Lamb(1e-2, 0.9, 0.999, eps))
    with jax.enable_x64(False):
        ours, _ = run_lrjax(lrjax.lamb(1e-2, eps=eps), jnp.float32)
    moved(ours)
    err = rel(ours, theirs)
    print(f"\nlamb vs keras Lamb (eps={eps}): {err:.2e}")
    assert err <= 1e-6


def test_lamb_keras_placement_equals_keras_with_decay():
    theirs = keras_run(
        lambda k: k.optimizers.Lamb(1e-2, 0.9, 0.999, 1e-6, weight_decay=0.05)
    )
    with jax.enable_x64(False):
        ours, _ = run_lrjax(
            lrjax.lamb(1e-2, weight_decay=0.05, weight_decay_placement="keras"), jnp.float32
        )
        optax_placement, _ = run_lrjax(lrjax.lamb(1e-2, weight_decay=0.05), jnp.float32)
    err = rel(ours, theirs)
    apart = rel(optax_placement, theirs)
    print(
        f"\nlamb(keras placement) vs keras Lamb(weight_decay): {err:.2e}; "
        f"optax placement: {apart:.2e}"
    )
    assert err <= 1e-6
    assert apart > 100 * err  # the two placements are different algorithms


def test_lamb_keras_placement_with_a_schedule_and_exclusions():
    keras = pytest.importorskip("keras")
    sched = keras.optimizers.schedules.ExponentialDecay(
        2e-2, decay_steps=1, decay_rate=0.97
    )

    def make(k):
        opt = k.optimizers.Lamb(sched, 0.9, 0.999, 1e-6, weight_decay=0.1)
        opt.exclude_from_weight_decay(var_names=["bias"])
        return opt

    theirs = keras_run(make)
    with jax.enable_x64(False):
        ours, state = run_lrjax(
            lrjax.lamb(
                lrjax.exponential_decay(2e-2, decay=-math.log(0.97)),
                weight_decay=0.1,
                mask=lrjax.leaf_mask(exclude="bias"),
                weight_decay_placement="keras",
            ),
            jnp.float32,
        )
    err = rel(ours, theirs)
    print(f"\nlamb(keras placement, schedule, bias excluded) vs keras: {err:.2e}")
    assert err <= 1e-6
    # The recorded rate is the base rate of the last update, not a per-layer rate.
    np.testing.assert_allclose(
        float(lrjax.current_learning_rate(state)), 2e-2 * 0.97 ** (STEPS - 1), rtol=1e-6
    )


# ------------------------------------------------------------------ pytorch_optimizer


def torch_run(make, steps=STEPS) -> list[dict]:
    torch = pytest.importorskip("torch")
    ps = [torch.nn.Parameter(torch.tensor(P0[k], dtype=torch.float64)) for k in NAMES]
    opt = make(ps)
    out = []
    for _ in range(steps):
        g = grad64({k: p.detach().numpy() for k, p in zip(NAMES, ps)})
        for k, p in zip(NAMES, ps):
            p.grad = torch.tensor(g[k], dtype=torch.float64)
        opt.step()
        out.append(
            {k: p.detach().numpy().astype(np.float64).copy() for k, p in zip(NAMES, ps)}
        )
    return out


@pytest.mark.x64
@pytest.mark.parametrize(
    "wd,nesterov,foreach", [(0.0, False, False), (0.01, False, True), (0.05, True, False)]
)
def test_lars_equals_pytorch_optimizer(wd, nesterov, foreach):
    po = pytest.importorskip("pytorch_optimizer")
    theirs = torch_run(
        lambda ps: po.LARS(
            ps,
            lr=0.5,
            weight_decay=wd,
            momentum=0.9,
            trust_coefficient=0.01,
            nesterov=nesterov,
            foreach=foreach,
        )
    )
    big = lrjax.leaf_mask(min_rank=2)
    ours, state = run_lrjax(
        lrjax.lars(
            0.5,
            wd,
            big,
            0.01,
            0.0,
            big,
            0.9,
            nesterov,
            denominator="sum",
            lr_in_momentum=False,
        ),
        jnp.float64,
    )
    moved(ours)
    err = rel(ours, theirs)
    print(f"\nlars(sum) vs pytorch_optimizer LARS (wd={wd}): {err:.2e}")
    assert err <= 1e-10
    assert float(lrjax.current_learning_rate(state)) == 0.5
    # optax's form (the ratio on every leaf, ||g + λw||) is a different algorithm.
    optax_form, _ = run_lrjax(
        lrjax.lars(0.5, wd, True, 0.01, 0.0, True, 0.9, nesterov), jnp.float64
    )
    assert rel(optax_form, theirs) > 1e-3


@pytest.mark.x64
def test_lars_paper_and_optax_denominators_differ_only_with_decay():
    big = lrjax.leaf_mask(min_rank=2)
    runs = {
        (d, wd): run_lrjax(
            lrjax.lars(0.5, wd, big, 0.01, 0.0, big, denominator=d), jnp.float64
        )[0]
        for d in ("update", "sum")
        for wd in (0.0, 0.01)
    }
    assert rel(runs["update", 0.0], runs["sum", 0.0]) <= 1e-14
    assert rel(runs["update", 0.01], runs["sum", 0.01]) > 1e-4


# ------------------------------------------------------------------ masks and the rate


def test_leaf_mask_by_rank_and_path():
    p = {
        "Dense_0": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)},
        "LayerNorm_0": {"scale": jnp.ones(3)},
        "step": jnp.ones(()),
        "empty": None,
    }
    assert lrjax.leaf_mask(min_rank=2)(p) == {
        "Dense_0": {"kernel": True, "bias": False},
        "LayerNorm_0": {"scale": False},
        "step": False,
        "empty": None,
    }
    assert lrjax.leaf_mask(exclude="bias|Norm")(p)["Dense_0"] == {
        "kernel": True,
        "bias": False,
    }
    assert lrjax.leaf_mask()(p)["step"] is True


def test_masked_leaves_are_plain_momentum_sgd():
    p = {"w": jnp.full((2, 2), 3.0, jnp.float32), "b": jnp.ones(2, jnp.float32)}
    g = {"w": jnp.full((2, 2), 0.5, jnp.float32), "b": jnp.ones(2, jnp.float32)}
    opt = lrjax.lars(
        0.1, 0.1, lrjax.leaf_mask(min_rank=2), 1.0, 0.0, lrjax.leaf_mask(min_rank=2), None
    )
    u, _ = opt.update(g, opt.init(p), p)
    np.testing.assert_allclose(u["b"], -0.1 * np.ones(2), rtol=1e-7)
    # ||w|| / ||g + λw|| = 6 / 1.6 on the kernel.
    np.testing.assert_allclose(u["w"], -0.1 * (6 / 1.6) * 0.8 * np.ones((2, 2)), rtol=1e-6)


def test_prefix_masks_and_bad_masks():
    p = {"enc": {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}, "head": jnp.ones((2, 2))}
    g = jax.tree.map(jnp.ones_like, p)
    tx = lrjax.scale_by_trust_ratio(mask={"enc": False, "head": True})
    u, _ = tx.update(g, tx.init(p), p)
    np.testing.assert_array_equal(u["enc"]["w"], 1.0)
    with pytest.raises(TypeError, match="mask"):
        bad = lrjax.scale_by_trust_ratio(mask={"enc": "yes", "head": True})
        bad.update(g, bad.init(p), p)


def test_scheduled_weight_decay_and_jit_compiles_once():
    p = {"w": jnp.ones((3, 3), jnp.float32)}
    opt = lrjax.lars(
        lrjax.warmup_cosine(0.1, warmup_steps=2, total_steps=10),
        weight_decay=lambda n: 1e-2 * jnp.asarray(n, jnp.float32),
        denominator="sum",
    )
    state = opt.init(p)
    step = jax.jit(opt.update)
    for _n in range(5):
        _, state = step({"w": jnp.full((3, 3), 0.1, jnp.float32)}, state, p)
    assert step._cache_size() == 1
    assert float(lrjax.current_learning_rate(state)) == pytest.approx(
        float(lrjax.warmup_cosine(0.1, warmup_steps=2, total_steps=10)(4)), rel=1e-6
    )
