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
        out[k] = xp.reshape(vec[i:i + size], s)
        i += size
    return out


def warmup_factor(k: int) -> float:
    """The warm-up from 0 used by the parity tests: ``min(1, k / WARMUP)``."""
    return min(1.0, k / WARMUP)


def run_torch(make_optimizer, *, warmup: bool, steps: int = STEPS, seed: int = 0,
              perturb: bool = False, skip_zero_lr: bool = False):
    """The reference trajectory: ``(steps + 1, n)`` float64, the start included.

    ``make_optimizer(params)`` builds the torch optimizer. With ``warmup`` a
    ``LambdaLR`` scales its rate by :func:`warmup_factor`. ``perturb`` moves every
    gradient entry up by one ulp (the reference's own 1-ulp spread). ``skip_zero_lr``
    does not call ``step`` where the rate is 0 (D-Adaptation SGD divides by a zero norm
    there), the schedule still advancing.
    """
    import torch

    a, y, x0 = problem(seed)
    at, yt = torch.tensor(a), torch.tensor(y)
    params = [torch.nn.Parameter(torch.tensor(x0[k])) for k in SHAPES]
    opt = make_optimizer(params)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_factor) if warmup else None
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
