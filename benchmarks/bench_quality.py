"""Training quality: steps to reach a target train loss, median of 3 seeds.

Problems: a Flax MLP on scikit-learn's digits (minibatch 64, targets 0.1 and 0.02), a
convex quadratic with condition number 1e3, 2-D Rosenbrock, and L2-regularised
multinomial logistic regression on digits (target: relative gap 1e-6 to the optimum).
The convex problems run in float64. A run that never reaches the target within its step
budget counts as not reached (shown as '-'); the median of 3 seeds is '-' when two fail.

Every (method, problem) is one compiled program: ``lax.scan`` over the steps, ``vmap``
over the seeds (and over the learning-rate grid for optax's best-of-grid Adam).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import lrjax

SEEDS = (0, 1, 2)
GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


@dataclass
class Problem:
    name: str
    init: Callable[[int], Any]  # seed -> params
    loss: Callable[[Any, Any], jax.Array]  # (params, batch) -> training loss
    batch: Callable[[jax.Array, jax.Array], Any]  # (seed key, step) -> batch
    full: Callable[[Any], jax.Array]  # params -> the loss the target is measured on
    targets: tuple[float, ...]
    steps: int
    lr_sgd: float
    lr_adam: float
    convex: bool
    dense_ok: bool  # small enough for a dense Hessian


def _mlp_problem(steps: int) -> Problem:
    from _mlp import digits, model

    x, y, _, _ = digits.load(0)
    x, y = jnp.asarray(x), jnp.asarray(y)
    net = model()

    def loss(p, b):
        xb, yb = b
        return optax.softmax_cross_entropy_with_integer_labels(net.apply(p, xb), yb).mean()

    def batch(key, i):
        idx = jax.random.choice(
            jax.random.fold_in(key, i), x.shape[0], (64,), replace=False
        )
        return x[idx], y[idx]

    return Problem(
        "digits MLP",
        lambda s: net.init(jax.random.PRNGKey(s), x[:1]),
        loss,
        batch,
        lambda p: loss(p, (x, y)),
        (0.1, 0.02),
        steps,
        0.1,
        1e-3,
        False,
        False,
    )


def _quadratic(steps: int) -> Problem:
    n = 50
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = jnp.asarray(q @ np.diag(np.logspace(0, 3, n)) @ q.T)
    f = lambda p, b=None: 0.5 * p @ a @ p  # noqa: E731
    f0 = lambda s: jnp.asarray(np.random.default_rng(s).standard_normal(n))  # noqa: E731
    # Target: f <= 1e-6 f(x0) with f(x0) ~ n/2 * mean eigenvalue; a fixed 1e-4 here.
    return Problem(
        "quadratic cond 1e3 (n=50)",
        f0,
        f,
        lambda k, i: None,
        f,
        (1e-4,),
        steps,
        1e-3,
        1e-2,
        True,
        True,
    )


def _rosenbrock(steps: int) -> Problem:
    f = lambda p, b=None: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2  # noqa: E731

    def init(s):
        d = np.random.default_rng(s).standard_normal(2) * 0.1 if s else np.zeros(2)
        return jnp.asarray(np.array([-1.2, 1.0]) + d)

    return Problem(
        "Rosenbrock 2-D",
        init,
        f,
        lambda k, i: None,
        f,
        (1e-6,),
        steps,
        1e-3,
        1e-2,
        False,
        True,
    )


def _logreg(steps: int) -> Problem:
    from _mlp import digits
    from scipy.optimize import minimize

    x, y, _, _ = digits.load(0)
    x = np.concatenate([x, np.ones((x.shape[0], 1), np.float32)], 1).astype(np.float64)
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    lam = 1e-3

    def f(w, b=None):
        logits = xj @ w.reshape(x.shape[1], 10)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, yj).mean()
        return ce + 0.5 * lam * jnp.sum(w**2)

    vg = jax.jit(jax.value_and_grad(f))
    res = minimize(
        lambda w: tuple(np.asarray(v) for v in vg(jnp.asarray(w))),
        np.zeros(x.shape[1] * 10),
        jac=True,
        method="L-BFGS-B",
        options=dict(maxiter=20000, gtol=1e-12, ftol=1e-16),
    )
    w = jnp.asarray(res.x)
    for _ in range(3):  # polish with exact Newton steps: f* to machine precision
        h = jax.hessian(f)(w)
        w = w - jnp.linalg.solve(h, jax.grad(f)(w))
    fstar = float(f(w))
    init = lambda s: jnp.asarray(np.random.default_rng(s).standard_normal(w.size) * 0.01)  # noqa: E731
    gap = lambda p: (f(p) - fstar) / abs(fstar)  # noqa: E731
    return Problem(
        "L2 logistic regression, digits (rel. gap)",
        init,
        f,
        lambda k, i: None,
        gap,
        (1e-6,),
        steps,
        0.5,
        1e-2,
        True,
        True,
    )


# ----------------------------------------------------------------------------- methods


@dataclass
class Method:
    name: str
    make: Callable[[Problem], Any]  # -> tx, or a function lr -> tx for per-seed lrs
    needs_loss: bool = False
    applies: Callable[[Problem], bool] = lambda p: True
    steps: Callable[[Problem], int] | None = None
    lr_source: str | None = None  # "range_test" or "grid"


def methods() -> list[Method]:
    return [
        Method("lrjax sgd (constant)", lambda p: lrjax.sgd(p.lr_sgd)),
        Method(
            "lrjax sgd+momentum, cosine",
            lambda p: lrjax.sgd(lrjax.cosine_decay(p.lr_sgd, p.steps), momentum=0.9),
        ),
        Method(
            "lrjax sgd, step decay",
            lambda p: lrjax.sgd(
                lrjax.step_decay(p.lr_sgd, drop=0.5, drop_every=p.steps // 4)
            ),
        ),
        Method(
            "lrjax sgd+momentum, one-cycle",
            lambda p: lrjax.sgd(
                lrjax.one_cycle(2 * p.lr_sgd, total_steps=p.steps), momentum=0.9
            ),
        ),
        Method("lrjax adagrad", lambda p: lrjax.adagrad(10 * p.lr_adam)),
        Method("lrjax rmsprop", lambda p: lrjax.rmsprop(p.lr_adam)),
        Method("lrjax adam", lambda p: lrjax.adam(p.lr_adam)),
        Method("lrjax adamw", lambda p: lrjax.adamw(p.lr_adam)),
        Method(
            "lrjax adam, one-cycle",
            lambda p: lrjax.adam(lrjax.one_cycle(10 * p.lr_adam, total_steps=p.steps)),
        ),
        Method("lrjax adam_hd", lambda p: lrjax.adam_hd(p.lr_adam)),
        Method(
            "lrjax adam @ range test",
            lambda p: lambda lr: lrjax.adam(lr),
            lr_source="range_test",
        ),
        Method(
            "lrjax newton",
            lambda p: lrjax.newton(1.0, adaptive_damping=True),
            needs_loss=True,
            applies=lambda p: p.dense_ok,
            steps=lambda p: 100,
        ),
        Method(
            "lrjax newton_cg",
            lambda p: lrjax.newton_cg(1.0, adaptive_damping=True),
            needs_loss=True,
            applies=lambda p: p.dense_ok,
            steps=lambda p: 200,
        ),
        Method("optax adam 1e-3", lambda p: optax.adam(1e-3)),
        Method(
            "optax adam, best of grid",
            lambda p: lambda lr: optax.adam(lr),
            lr_source="grid",
        ),
        Method(
            "optax lbfgs",
            lambda p: optax.lbfgs(),
            needs_loss=True,
            steps=lambda p: min(p.steps, 300),
        ),
        Method("optax contrib prodigy", lambda p: optax.contrib.prodigy(1.0)),
    ]


def _curves(problem: Problem, make_tx, needs_loss: bool, steps: int, lrs=None):
    """Loss curves [runs, steps] for each seed (and learning rate when ``lrs`` given)."""
    seeds = jnp.asarray(SEEDS)
    params0 = jax.tree.map(lambda *x: jnp.stack(x), *[problem.init(s) for s in SEEDS])

    def one(p0, seed, lr):
        tx = make_tx(lr) if lr is not None else make_tx
        key = jax.random.PRNGKey(seed + 1000)

        def body(carry, i):
            p, s = carry
            b = problem.batch(key, i)
            value, g = jax.value_and_grad(problem.loss)(p, b)
            extra = {}
            if needs_loss:
                extra = dict(value=value, grad=g, value_fn=lambda q: problem.loss(q, b))
            u, s = tx.update(g, s, p, **extra)
            p = optax.apply_updates(p, u)
            return (p, s), problem.full(p)

        _, curve = jax.lax.scan(body, (p0, tx.init(p0)), jnp.arange(steps))
        return curve

    if lrs is None:
        return jax.jit(jax.vmap(lambda p0, s: one(p0, s, None)))(params0, seeds)[None]
    lrs = jnp.asarray(lrs)
    if lrs.ndim == 1 and lrs.shape[0] == len(SEEDS):  # one lr per seed
        return jax.jit(jax.vmap(one))(params0, seeds, lrs)[None]
    f = jax.vmap(jax.vmap(one, (0, 0, None)), (None, None, 0))  # grid x seeds
    return jax.jit(f)(params0, seeds, lrs)


def _steps_to(curve: np.ndarray, target: float) -> float:
    hit = np.nonzero(np.nan_to_num(curve, nan=np.inf) <= target)[0]
    return float(hit[0] + 1) if hit.size else math.inf


def _median_steps(curves: np.ndarray, target: float) -> float:
    return float(np.median([_steps_to(c, target) for c in curves]))


def _range_test_lrs(problem: Problem) -> list[float]:
    out = []
    for s in SEEDS:
        key = jax.random.PRNGKey(s + 1000)
        batches = jax.vmap(lambda i, key=key: problem.batch(key, i))(jnp.arange(100))
        batches = None if jax.tree.leaves(batches) == [] else batches
        res = lrjax.find_learning_rate(
            problem.loss, problem.init(s), batches, lrjax.adam, num_steps=100
        )
        out.append(float(res.suggestion))
    return out


def run(quick: bool = False, log=print) -> dict:
    jax.config.update("jax_enable_x64", True)
    scale = 0.4 if quick else 1.0
    problems = [
        _mlp_problem(int(1000 * scale)),
        _quadratic(int(2000 * scale)),
        _rosenbrock(int(3000 * scale)),
        _logreg(int(2000 * scale)),
    ]
    rows = []
    t_start = time.perf_counter()
    for method in methods():
        row: dict[str, Any] = {"method": method.name}
        for problem in problems:
            cols = [f"{problem.name}: {t:g}" for t in problem.targets]
            if not method.applies(problem):
                row.update({c: "n/a" for c in cols})
                continue
            steps = method.steps(problem) if method.steps else problem.steps
            t0 = time.perf_counter()
            note = ""
            if method.lr_source == "range_test":
                lrs = _range_test_lrs(problem)
                curves = np.asarray(
                    _curves(problem, method.make(problem), False, steps, lrs)
                )[0]
                note = f" (lr {np.median(lrs):.2g})"
            elif method.lr_source == "grid":
                all_curves = np.asarray(
                    _curves(problem, method.make(problem), False, steps, GRID)
                )
                t = problem.targets[0]
                scores = [(_median_steps(c, t), np.median(c[:, -1])) for c in all_curves]
                best = min(range(len(GRID)), key=lambda k: scores[k])
                curves = all_curves[best]
                note = f" (lr {GRID[best]:g})"
            else:
                curves = np.asarray(
                    _curves(problem, method.make(problem), method.needs_loss, steps)
                )[0]
            for c, t in zip(cols, problem.targets):
                m = _median_steps(curves, t)
                row[c] = ("-" if math.isinf(m) else f"{m:.0f}") + note
            log(
                f"  {method.name:32s} {problem.name:42s} "
                + " ".join(str(row[c]) for c in cols)
                + f"  [{time.perf_counter() - t0:.1f}s]"
            )
        rows.append(row)
    return {
        "title": "Training quality: steps to target (median of 3 seeds)",
        "rows": rows,
        "notes": (
            "'-': not reached within the budget (MLP {} steps, quadratic {}, Rosenbrock {}, "
            "logistic regression {}; Newton 100, Newton-CG 200, L-BFGS min(budget, 300)); "
            "'n/a': not run (dense second-order methods on the MLP). Learning rates: sgd "
            "0.1 / 1e-3 / 1e-3 / 0.5 and adaptive 1e-3 / 1e-2 / 1e-2 / 1e-2 on the four "
            "problems (adagrad 10x); the range test uses lrjax.find_learning_rate(adam, "
            "100 steps, 'steep') per seed; the optax grid is {}. The line-search and "
            "Newton methods get the minibatch loss as value_fn. Wall time {:.0f} s."
        ).format(*(p.steps for p in problems), GRID, time.perf_counter() - t_start),
    }
