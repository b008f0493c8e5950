"""Checks shared by the tests of DoG, DoWG, COCOB, Polyak and MoMo (not a test module).

Every check takes ``make`` (a function of no arguments, or of the learning rate, that
builds the transform) and ``loss`` (whether ``update`` takes ``value=``).
"""

from __future__ import annotations

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import references_dog_cocob_polyak_momo as R


def float32_error(make, loss: bool) -> float:
    """Largest relative distance, over 100 steps, between the float32 trajectory and the
    float64 one from the same start (each with its own precision's gradients)."""
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        x64, lg64 = R.problem(dtype=np.float64)
        x32, lg32 = R.problem(dtype=np.float32)
        a, _ = R.run_jax(make(), x64, lg64, loss=loss)
        b, _ = R.run_jax(make(), x32, lg32, loss=loss)
    return R.relative_distance(b, a)


def _tree(dtype=jnp.float32):
    return {
        "w": jnp.asarray([[0.5, -1.0, 2.0], [0.1, 0.3, -0.2]], dtype),
        "b": jnp.asarray([1.0, -2.0], dtype),
        "s": jnp.asarray(0.7, dtype),
    }


def _loss(p):
    return (
        0.5 * jnp.sum((p["w"] - 1) ** 2) + jnp.sum(p["b"] ** 2) + 0.25 * p["s"] ** 2 + 0.1
    )


def run_steps(tx, steps: int, loss: bool, p=None, state=None):
    """``steps`` jitted steps on a small tree; returns params, state and the updates."""
    p = _tree() if p is None else p
    state = tx.init(p) if state is None else state

    @jax.jit
    def step(p, state):
        f, g = jax.value_and_grad(_loss)(p)
        u, state = tx.update(g, state, p, **({"value": f} if loss else {}))
        return optax.apply_updates(p, u), state, u

    us = []
    for _ in range(steps):
        p, state, u = step(p, state)
        us.append(u)
    return p, state, us


def check_warmup_from_zero(make_lr, loss: bool, zero_first: bool = True) -> None:
    """A warm-up from 0: finite at every step, and the first step is zero."""
    sched = lambda n: 0.1 * jnp.minimum(1.0, jnp.asarray(n, jnp.float32) / 5)
    _, state, us = run_steps(make_lr(sched), 20, loss)
    for leaf in jax.tree.leaves((us, state)):
        assert bool(jnp.all(jnp.isfinite(leaf))), leaf
    if zero_first:
        for leaf in jax.tree.leaves(us[0]):
            assert not bool(jnp.any(leaf))
    # A rate of 0 throughout never moves and never makes a NaN.
    p, state, us = run_steps(make_lr(0.0), 5, loss)
    for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(_tree())):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for leaf in jax.tree.leaves(state):
        assert bool(jnp.all(jnp.isfinite(leaf)))


def check_checkpoint_resume(make, loss: bool) -> None:
    """A flax.serialization round trip of the state mid-run resumes bit-identically."""
    tx = make()
    p, state, _ = run_steps(tx, 7, loss)
    template = tx.init(_tree())
    restored = flax.serialization.from_bytes(template, flax.serialization.to_bytes(state))
    a, sa, _ = run_steps(tx, 6, loss, p, state)
    b, sb, _ = run_steps(tx, 6, loss, p, restored)
    for x, y in zip(jax.tree.leaves((a, sa)), jax.tree.leaves((b, sb))):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def check_multisteps_dtypes(make, loss: bool) -> None:
    """Inside optax.MultiSteps the state's dtypes never change (optax#1038)."""
    tx = optax.MultiSteps(make(), every_k_schedule=3)
    p = _tree()
    state = tx.init(p)
    want = [x.dtype for x in jax.tree.leaves(state)]
    with jax.numpy_dtype_promotion("standard"):
        _, state, _ = run_steps(tx, 7, loss, p, state)
    assert [x.dtype for x in jax.tree.leaves(state)] == want


def check_complex_refused(make) -> None:
    p = {"real": jnp.ones(2), "z": jnp.ones(3, jnp.complex64)}
    with pytest.raises(TypeError, match=r"dtype complex64 at \['z'\]"):
        make().init(p)


def check_bfloat16(make, loss: bool) -> None:
    """bfloat16 params keep their dtype and stay finite."""
    p = _tree(jnp.bfloat16)
    p, _, us = run_steps(make(), 10, loss, p)
    for leaf in jax.tree.leaves((p, us)):
        assert leaf.dtype == jnp.bfloat16
        assert bool(jnp.all(jnp.isfinite(leaf.astype(jnp.float32))))


def check_state_no_larger(mine, theirs, extra_scalars: int = 4) -> None:
    """The state holds no more numbers than optax.contrib's plus a few scalars."""
    p = _tree()

    def size(tx):
        return sum(int(np.size(x)) for x in jax.tree.leaves(tx.init(p)))

    n_leaves = len(jax.tree.leaves(p))
    assert size(mine) <= size(theirs) + extra_scalars * n_leaves, (size(mine), size(theirs))
