"""Every optimizer reaches a documented loss within a documented number of steps.

Two deterministic problems, in float32 (x64 off, what users run):

* a convex quadratic ½(x − x*)ᵀH(x − x*) in 20 dimensions, H = Q diag(λ) Qᵀ with λ
  log-spaced over [1, 1e3] (condition number 1e3) and Q a random rotation (so the
  per-coordinate methods get no free diagonal preconditioning), from x = 0, where
  f = 600.48; target f ≤ 1e-6·f(x0);
* 2-D Rosenbrock (1 − x)² + 100(y − x²)² from (−1.2, 1), f = 24.2; target f ≤ 1e-6
  (AdaDelta: 1e-5).

AdaDelta needs a decaying rate here: with its default η = 1 it does not converge on
either problem (its per-coordinate step RMS[Δ]/RMS[g] feeds back on itself in the
stiff directions; the loss after 20,000 steps is higher than after 1,000). Plain
RMSprop with a constant rate reached the Rosenbrock target only at isolated rates of the
grid (η = 1 in 5,333 steps, none of its neighbours), so there it runs with η0·0.999ⁿ.

``STEPS`` records the step at which each optimizer first reached the target on the
machine that wrote this file (jax 0.10, CPU); the test allows 20% more, for platform
differences in floating-point reductions. The learning rates are the best round values
of a grid search for each optimizer, chosen where neighbouring rates (×0.8 … ×1.25)
need a similar number of steps, so the counts are not a lucky edge of chaos. They are
quoted in ``docs/conventions.md``; ``python tests/test_convergence.py`` reprints them.
"""

from __future__ import annotations

import math
import os
import sys

import jax

if __name__ == "__main__":  # as conftest.py does, before any array is built
    jax.config.update("jax_numpy_dtype_promotion", "strict")

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import lrjax  # noqa: E402

D = 20
_rng = np.random.default_rng(0)
_Q, _ = np.linalg.qr(_rng.normal(size=(D, D)))
H = jnp.asarray(_Q @ np.diag(np.logspace(0, 3, D)) @ _Q.T, jnp.float32)
X_STAR = jnp.asarray(_rng.normal(size=D), jnp.float32)


def quadratic(x):
    r = x - X_STAR
    return 0.5 * r @ H @ r


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def inv_time(lr0, steps=1000.0):
    """η0/(1 + n/1000): RMSprop/Adam-type steps do not settle with a constant rate."""
    return lambda n: lr0 / (1 + jnp.asarray(n, jnp.float32) / steps)


def exp_decay(lr0, rate):
    return lambda n: lr0 * rate ** jnp.asarray(n, jnp.float32)


PROBLEMS = {
    "quadratic": (quadratic, jnp.zeros(D), 1e-6 * float(quadratic(jnp.zeros(D)))),
    "rosenbrock": (rosenbrock, jnp.asarray([-1.2, 1.0]), 1e-6),
}

# name -> (optimizer for the quadratic, for Rosenbrock)
OPTIMIZERS = {
    "sgd": (lambda: lrjax.sgd(1.5e-3), lambda: lrjax.sgd(1.5e-3)),
    "sgd_momentum": (lambda: lrjax.sgd(2e-3, 0.9), lambda: lrjax.sgd(1e-3, 0.9)),
    "sgd_nesterov": (
        lambda: lrjax.sgd(1e-3, 0.9, nesterov=True),
        lambda: lrjax.sgd(1e-3, 0.9, nesterov=True),
    ),
    "adagrad": (lambda: lrjax.adagrad(0.3), lambda: lrjax.adagrad(0.3)),
    "adadelta": (
        lambda: lrjax.adadelta(inv_time(0.1)),
        lambda: lrjax.adadelta(inv_time(0.1)),
    ),
    "rmsprop": (lambda: lrjax.rmsprop(5e-4), lambda: lrjax.rmsprop(exp_decay(1e-2, 0.999))),
    "rmsprop_momentum": (
        lambda: lrjax.rmsprop(1e-3, momentum=0.9),
        lambda: lrjax.rmsprop(1e-3, momentum=0.9),
    ),
    "adam": (lambda: lrjax.adam(0.1), lambda: lrjax.adam(0.1)),
    "adamw": (lambda: lrjax.adamw(0.1), lambda: lrjax.adamw(0.1)),
    "amsgrad": (lambda: lrjax.amsgrad(0.1), lambda: lrjax.amsgrad(0.1)),
    "nadam": (lambda: lrjax.nadam(inv_time(0.1)), lambda: lrjax.nadam(inv_time(0.1))),
    "adamax": (lambda: lrjax.adamax(0.1), lambda: lrjax.adamax(0.3)),
    "adagrad_norm": (lambda: lrjax.adagrad_norm(30.0), lambda: lrjax.adagrad_norm(1.0)),
}

TARGET = {("adadelta", "rosenbrock"): 1e-5}

# Measured first step at the target in float32: (quadratic, Rosenbrock). float64 runs
# agree except nadam on the quadratic (372: its loss oscillates from step ~150 on and
# float32 rounding changes which oscillation first dips below the target; optax's nadam
# in float32 takes 432) and the Rosenbrock runs, which are chaotic in the valley.
STEPS = {
    "sgd": (1445, 10036),
    "sgd_momentum": (125, 1386),
    "sgd_nesterov": (184, 1426),
    "adagrad": (1642, 8752),
    "adadelta": (17888, 11653),
    "rmsprop": (6662, 5569),
    "rmsprop_momentum": (378, 509),
    "adam": (350, 1139),
    "adamw": (353, 1274),
    "amsgrad": (2444, 18080),
    "nadam": (430, 1180),
    "adamax": (1220, 1959),
    "adagrad_norm": (1510, 9823),
}
# In float64, perturbing x0 by 1e-9 moves these counts by at most 2%. In float32 the
# Rosenbrock count of adagrad_norm is the most sensitive: perturbing x0 by 1e-6 gives
# 7979..9823 (the largest is the one recorded). 20% more steps absorbs platform rounding.
MARGIN = 1.2


def loss_curve(opt, problem: str, steps: int) -> np.ndarray:
    """f(x_1) .. f(x_steps) of ``opt`` on ``problem``, as one compiled scan."""
    f, x0, _ = PROBLEMS[problem]

    def body(carry, _):
        x, s = carry
        u, s = opt.update(jax.grad(f)(x), s, x)
        x = x + u
        return (x, s), f(x)

    run = jax.jit(lambda x: jax.lax.scan(body, (x, opt.init(x)), length=steps)[1])
    return np.asarray(run(x0))


def steps_to_target(name: str, problem: str, budget: int) -> int:
    """The first step n (1-based) with f(x_n) ≤ target, or −1 within ``budget``."""
    target = TARGET.get((name, problem), PROBLEMS[problem][2])
    opt = OPTIMIZERS[name][0 if problem == "quadratic" else 1]()
    hit = np.flatnonzero(loss_curve(opt, problem, budget) <= target)
    return int(hit[0]) + 1 if hit.size else -1


@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_reaches_the_documented_loss(name, problem):
    measured = STEPS[name][0 if problem == "quadratic" else 1]
    budget = math.ceil(MARGIN * measured)
    n = steps_to_target(name, problem, budget)
    assert 0 < n <= budget, (name, problem, n, budget)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    for name in OPTIMIZERS:
        print(name, [steps_to_target(name, p, 30000) for p in PROBLEMS])
