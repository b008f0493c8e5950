"""The problem and the reference runs for the Prodigy and D-Adaptation parity tests.

The references are the authors' torch packages, pinned in the ``parity`` extra:
``prodigyopt`` 1.1.2 (``prodigyopt/prodigy.py``, identical to konstmish/prodigy@3efb213)
and ``dadaptation`` 3.2 (``dadaptation/dadapt_{adam,sgd,adagrad}.py``). They run in
float64 on a fixed least-squares problem over three tensors of different shapes; the
second starts at zero, which Prodigy's reference stores as a scalar ``x0 = 0``.
"""

from __future__ import annotations

import warnings

import numpy as np

SHAPES = {"a": (4, 3), "b": (3,), "c": (2, 5)}
STEPS = 100
WARMUP = 10


def problem(seed: int = 0):
    """``(A, y, x0)``: loss ``0.5 ||A x - y||^2`` of the flattened tree, and the start."""
    rng = np.random.default_rng(seed)
    n = sum(int(np.prod(s)) for s in SHAPES.values())
    a = rng.normal(size=(2 * n, n)) / np.sqrt(n)
    y = rng.normal(size=2 * n)
    x0 = {k: rng.normal(size=s) for k, s in SHAPES.items()}
    x0["b"] = np.zeros(SHAPES["b"])
    return a, y, x0


def flatten(tree) -> np.ndarray:
    return np.concatenate([np.reshape(np.asarray(tree[k]), -1) for k in SHAPES])


def unflatten(vec, xp=np):
    out, i = {}, 0
    for k, s in SHAPES.items():
        size = int(np.prod(s))
        out[k] = xp.reshape(vec[i : i + size], s)
        i += size
    return out


def warmup_factor(k: int) -> float:
    """The warm-up from 0 used by the parity tests: ``min(1, k / WARMUP)``."""
    return min(1.0, k / WARMUP)


def run_torch(
    make_optimizer,
    *,
    warmup: bool,
    steps: int = STEPS,
    seed: int = 0,
    perturb: bool = False,
    skip_zero_lr: bool = False,
):
    """The reference trajectory: ``(steps + 1, n)`` float64, the start included.

    ``make_optimizer(params)`` builds the torch optimizer. With ``warmup`` a
    ``LambdaLR`` scales its rate by :func:`warmup_factor` (or by ``warmup`` itself
    where it is a function of the step). ``perturb`` moves every
    gradient entry up by one ulp (the reference's own 1-ulp spread). ``skip_zero_lr``
    does not call ``step`` where the rate is 0 (D-Adaptation SGD divides by a zero norm
    there), the schedule still advancing.
    """
    import torch

    a, y, x0 = problem(seed)
    at, yt = torch.tensor(a), torch.tensor(y)
    params = [torch.nn.Parameter(torch.tensor(x0[k])) for k in SHAPES]
    opt = make_optimizer(params)
    factor = warmup if callable(warmup) else warmup_factor
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor) if warmup else None
    traj = [flatten({k: p.detach().numpy() for k, p in zip(SHAPES, params)})]
    for _ in range(steps):
        with torch.no_grad():
            x = torch.cat([p.reshape(-1) for p in params])
            g = at.T @ (at @ x - yt)
            if perturb:  # every entry moved by one ulp, up
                g = torch.nextafter(g, torch.full_like(g, float("inf")))
            grads = unflatten(g, torch)
            for k, p in zip(SHAPES, params):
                p.grad = grads[k].clone()
        if not (skip_zero_lr and opt.param_groups[0]["lr"] == 0):
            opt.step()
        if sched is not None:
            with warnings.catch_warnings():  # the skipped steps of ``skip_zero_lr``
                warnings.simplefilter("ignore", UserWarning)
                sched.step()
        traj.append(flatten({k: p.detach().numpy().copy() for k, p in zip(SHAPES, params)}))
    return np.stack(traj)


def run_jax(opt, *, steps: int = STEPS, seed: int = 0, dtype=None, with_state=False):
    """The lrjax trajectory on the same problem, in ``dtype`` (default float64)."""
    import jax
    import jax.numpy as jnp

    import lrjax

    dtype = dtype or jnp.float64
    a, y, x0 = problem(seed)
    aj, yj = jnp.asarray(a, dtype), jnp.asarray(y, dtype)

    def grad(p):
        x = jnp.concatenate([jnp.reshape(p[k], (-1,)) for k in SHAPES])
        return unflatten(aj.T @ (aj @ x - yj), jnp)

    @jax.jit
    def step(p, s):
        u, s = opt.update(grad(p), s, p)
        return lrjax.apply_updates(p, u), s

    p = {k: jnp.asarray(x0[k], dtype) for k in SHAPES}
    s = opt.init(p)
    traj, states = [flatten(jax.tree.map(np.asarray, p))], [s]
    for _ in range(steps):
        p, s = step(p, s)
        traj.append(flatten(jax.tree.map(lambda v: np.asarray(v, np.float64), p)))
        states.append(s)
    return (np.stack(traj), states) if with_state else np.stack(traj)


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest distance between the trajectories relative to the reference's point,
    ``max_k ||x_k - y_k|| / ||y_k||`` (the issue's measure)."""
    return float(np.max(np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)))


def warmup_schedule(n):
    """:func:`warmup_factor` as a JAX schedule, in the default float dtype (an int32
    count divided by an int is float32 even with x64, 1e-8 off the reference's rate)."""
    import jax.numpy as jnp

    return jnp.minimum(1.0, jnp.asarray(n, float) / WARMUP)


# --- checks shared by the Prodigy and D-Adaptation test modules ----------------------


def float32_error(make) -> float:
    """Relative error of the float32 trajectory (x64 off, as users run it) against the
    same method's float64 trajectory, 100 steps from the same start."""
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        f64 = run_jax(make())
    with jax.enable_x64(False):
        f32 = run_jax(make(), dtype=jnp.float32)
    return relative_error(f32, f64)


def _tree():
    import jax.numpy as jnp

    return {"w": jnp.asarray([[0.5, -1.0], [2.0, 0.1]]), "b": jnp.asarray([0.3, -0.2])}


def _loss(p):
    import jax.numpy as jnp

    return jnp.sum((p["w"] - 1.0) ** 2) + 0.5 * jnp.sum((p["b"] + 2.0) ** 2)


def run_steps(opt, n, p=None, state=None, jit=True):
    """``n`` steps on a small quadratic; returns (params, state, updates per step)."""
    import jax

    import lrjax

    p = _tree() if p is None else p
    state = opt.init(p) if state is None else state

    def step(p, s):
        u, s = opt.update(jax.grad(_loss)(p), s, p)
        return lrjax.apply_updates(p, u), s, u

    step = jax.jit(step) if jit else step
    us = []
    for _ in range(n):
        p, state, u = step(p, state)
        us.append(u)
    return p, state, us


def assert_finite_with_warmup_from_zero(make):
    """A warm-up from 0: every step finite, and the step with rate 0 a zero update."""
    import jax
    import jax.numpy as jnp

    p, state, us = run_steps(
        make(lambda n: jnp.minimum(1.0, jnp.asarray(n, float) / 5)), 30
    )
    for leaf in jax.tree.leaves((p, state, us)):
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            assert bool(jnp.all(jnp.isfinite(leaf))), leaf
    assert all(not bool(jnp.any(u)) for u in jax.tree.leaves(us[0]))
    assert any(bool(jnp.any(u)) for u in jax.tree.leaves(us[-1]))


def assert_jit_matches_eager(make):
    import jax
    import numpy as np

    a = run_steps(make(), 5, jit=True)
    b = run_steps(make(), 5, jit=False)
    for x, y in zip(jax.tree.leaves(a[:2]), jax.tree.leaves(b[:2])):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-7)


def assert_checkpoint_resumes_bit_identically(make):
    """A flax.serialization round trip of params and state midway changes nothing."""
    import jax
    import numpy as np
    from flax import serialization

    opt = make()
    full_p, full_s, _ = run_steps(opt, 20)
    p, s, _ = run_steps(opt, 9)
    template = (_tree(), opt.init(_tree()))
    p2, s2 = serialization.from_bytes(template, serialization.to_bytes((p, s)))
    got_p, got_s, _ = run_steps(opt, 11, p2, s2)
    for x, y in zip(jax.tree.leaves((full_p, full_s)), jax.tree.leaves((got_p, got_s))):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def assert_multisteps_keeps_state_dtypes(make):
    """Inside optax.MultiSteps the state keeps its dtypes and shapes (optax#1038)."""
    import jax
    import jax.numpy as jnp
    import optax

    opt = optax.MultiSteps(make(), every_k_schedule=2)
    with jax.enable_x64(False), jax.numpy_dtype_promotion("standard"):
        p = jax.tree.map(lambda x: x.astype(jnp.float32), _tree())
        s0 = opt.init(p)
        _, s, _ = run_steps(opt, 5, p, s0)
    kind = lambda t: jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), t)
    assert kind(s) == kind(s0)


def assert_complex_is_refused(make):
    import jax.numpy as jnp
    import pytest

    p = {"real": jnp.ones(2), "z": jnp.ones(2, jnp.complex64)}
    with pytest.raises(TypeError, match=r"dtype complex64 at \['z'\]"):
        make().init(p)


def _report() -> None:
    """``python tests/references_prodigy_dadapt.py``: the largest parity error of each
    method over the parity tests' configurations, and its float32-vs-float64 error next
    to optax.contrib's (measured the same way)."""
    import dadaptation
    import jax
    import optax
    import prodigyopt
    import test_dadapt_adam
    import test_dadapt_sgd
    import test_prodigy

    import lrjax

    def lr(base, warmup):
        return (lambda n: base * warmup_schedule(n)) if warmup else base

    groups = {
        "prodigy": (
            {
                **test_prodigy.DEFAULT_CASES,
                **test_prodigy.OPTION_CASES,
                "beta1_zero": dict(betas=(0.0, 0.99), weight_decay=0.1, decouple=False),
            },
            prodigyopt.Prodigy,
            lrjax.prodigy,
            1.0,
            False,
        ),
        "dadapt_adam": (
            test_dadapt_adam.CASES,
            dadaptation.DAdaptAdam,
            lrjax.dadapt_adam,
            1.0,
            False,
        ),
        "dadapt_sgd": (
            test_dadapt_sgd.SGD_CASES,
            dadaptation.DAdaptSGD,
            lrjax.dadapt_sgd,
            test_dadapt_sgd.SGD_LR,
            True,
        ),
        "dadapt_adagrad": (
            test_dadapt_sgd.ADAGRAD_CASES,
            dadaptation.DAdaptAdaGrad,
            lrjax.dadapt_adagrad,
            1.0,
            False,
        ),
    }
    with jax.enable_x64(True):
        for name, (cases, torch_cls, mine, base, skip) in groups.items():
            worst = (0.0, "")
            for case, kw in cases.items():
                for warmup in (False, True):

                    def make(p, c=torch_cls, b=base, k=kw):
                        return c(p, lr=b, **k)

                    want = run_torch(make, warmup=warmup, skip_zero_lr=skip)
                    err = relative_error(run_jax(mine(lr(base, warmup), **kw)), want)
                    how = "warm-up" if warmup else "constant"
                    worst = max(worst, (err, f"{case}, {how}"))
            print(f"parity {name:15s} {worst[0]:.1e} ({worst[1]})", flush=True)
    pairs = {
        "prodigy": (lambda: lrjax.prodigy(), lambda: optax.contrib.prodigy()),
        "dadapt_adam": (lambda: lrjax.dadapt_adam(), None),
        "dadapt_adamw": (
            lambda: lrjax.dadapt_adamw(),
            lambda: optax.contrib.dadapt_adamw(),
        ),
        "dadapt_sgd": (lambda: lrjax.dadapt_sgd(0.5), None),
        "dadapt_adagrad": (lambda: lrjax.dadapt_adagrad(), None),
    }
    with jax.numpy_dtype_promotion("standard"):
        for name, (mine, theirs) in pairs.items():
            ours = float32_error(mine)
            other = f"{float32_error(theirs):.1e}" if theirs else "none in optax"
            print(f"float32 {name:15s} lrjax {ours:.1e}  optax.contrib {other}", flush=True)


if __name__ == "__main__":
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    sys.path.insert(0, str(pathlib.Path(__file__).parent.parent))
    _report()
