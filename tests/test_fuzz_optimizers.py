"""Hypothesis fuzzing of every optimizer: 100 steps on random problems and trees.

Each hypothesis example draws a parameter tree (1-4 leaves of assorted shapes, nested),
a dtype, the structural options (``nesterov``, ``centered``, ...) and ``LANES`` sets of
numeric hyperparameters with a random problem each. The numeric hyperparameters enter
as traced values, so one compilation runs all lanes at once under ``jax.vmap``: 100
steps of the optimizer with an exponentially decaying learning rate on a noisy
quadratic whose curvatures span 1e-3 to 1e3.

``test_<optimizer>_fuzz`` runs in JAX's default mode (x64 off, what users run) and
draws float32 or bfloat16; ``test_<optimizer>_fuzz_float64``, its ``x64``-marked
variant, draws float64.

Checked for every lane and step:

- params, updates and state stay finite, and keep their dtypes;
- the recorded learning rate is the schedule's value;
- in float32 and float64, the update obeys its documented bound
  ``|u_n| <= eta_n * B_n`` (``docs/reliability.md`` derives each ``B_n``; they hold in
  exact arithmetic for every gradient sequence). bfloat16 rounds the hyperparameters
  themselves (0.999 becomes 1.0), so there only finiteness and dtypes are checked. The
  bounds are evaluated at the hyperparameters as the optimizer receives them: float32
  arrays with x64 off, where 1 - b2 for b2 near 0.9999 is off by up to 3e-4 relative.

The invalid side (every hyperparameter out of its domain raises a clear error, never a
NaN) is ``tests/test_validation.py``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lrjax
from lrjax._tools.guard import _all_finite  # the guard's own traced finiteness test

STEPS = 100
LANES = 16
SHAPES = [(), (1,), (3,), (2, 3), (2, 1, 2)]
# x64 off: the dtypes a float32 program holds. The x64 variants draw float64.
DTYPES = [jnp.float32, jnp.bfloat16]
DTYPES_X64 = [jnp.float64]
# Relative slack on the bounds: each of the STEPS accumulations of a moment rounds once
# (relative u), so the computed ratio can exceed the exact one by about STEPS * u.
RTOL = {
    jnp.dtype(jnp.float32): 4 * STEPS * 2.0**-24,
    jnp.dtype(jnp.float64): 4 * STEPS * 2.0**-53,
}
SETTINGS = settings(max_examples=4, deadline=None, derandomize=True)
# float64 examples, each compiled anew: two per optimizer, where the single fuzzer of
# all three dtypes drew about a third of its four.
SETTINGS_X64 = settings(SETTINGS, max_examples=2)
# Every example's outcome, for the counts in the closing note and docs/reliability.md.
RUNS: dict[str, int] = {}


def _geometric_sum(ratio: np.ndarray) -> np.ndarray:
    """S_t = sum_{k<t} ratio^k for t = 1..STEPS: shape (lanes, STEPS), float64."""
    return np.cumsum(ratio[:, None] ** np.arange(STEPS)[None, :], axis=1)


def _adam_bound(b1, b2, t):
    """|m_hat / sqrt(v_hat)| <= (1-b1) sqrt(S_t / (1-b2)) sqrt(1-b2^t) / (1-b1^t)."""
    s = _geometric_sum(b1**2 / b2)
    b1, b2 = b1[:, None], b2[:, None]
    return (1 - b1) * np.sqrt(s / (1 - b2)) * np.sqrt(1 - b2**t) / (1 - b1**t)


def _nadam_bound(b1, b2, t):
    """b1 * (the Adam bound) + (1-b1)/(1-b1^t) * sqrt(1-b2^t)/sqrt(1-b2)."""
    lead = b1[:, None] * _adam_bound(b1, b2, t)
    b1, b2 = b1[:, None], b2[:, None]
    return lead + (1 - b1) / (1 - b1**t) * np.sqrt(1 - b2**t) / np.sqrt(1 - b2)


def _adamax_bound(b1, b2, t):
    """(1-b1) sum_{k<t} (b1/b2)^k / (1-b1^t)."""
    s = _geometric_sum(b1 / b2)
    b1 = b1[:, None]
    return (1 - b1) * s / (1 - b1**t)


@dataclasses.dataclass(frozen=True)
class Family:
    """One optimizer: how to build it and what bounds its updates.

    ``make(lr_schedule, hp, options)`` builds it from traced hyperparameters ``hp`` (a
    dict of scalars); ``bound(hp, t, gmax)`` gives ``B_n`` for float64 numpy ``hp``
    arrays over lanes, steps ``t = 1..STEPS`` and the running max ``gmax`` of ``|g|``,
    or ``None`` where no bound is documented.
    """

    make: Callable[..., Any]
    hyper: dict[str, st.SearchStrategy]
    options: dict[str, st.SearchStrategy] = dataclasses.field(default_factory=dict)
    bound: Callable[..., Any] | None = None
    momentum_lr: bool = False  # the rate enters a momentum buffer: bound with max eta


decays = st.floats(0.0, 0.99)
eps = st.floats(1e-10, 1e-3)
b1s = st.floats(0.0, 0.99)
b2s = st.floats(0.5, 0.9999)

FAMILIES = {
    "sgd": Family(
        # Nesterov needs a momentum (sgd refuses nesterov=True without one).
        lambda lr, hp, o: lrjax.sgd(
            lr, hp["mu"] if o["momentum"] else None, o["nesterov"] and o["momentum"]
        ),
        {"mu": decays},
        {"momentum": st.booleans(), "nesterov": st.booleans()},
        lambda hp, t, g, o: g / (1 - (hp["mu"][:, None] if o["momentum"] else 0.0)),
    ),
    "adagrad": Family(
        lambda lr, hp, o: lrjax.adagrad(lr, hp["init"], hp["eps"], eps_in_sqrt=o["in"]),
        {"init": st.floats(0.0, 1.0), "eps": eps},
        {"in": st.booleans()},
        lambda hp, t, g, o: np.ones_like(g),
    ),
    "adadelta": Family(
        lambda lr, hp, o: lrjax.adadelta(lr, hp["rho"], hp["eps"]),
        {"rho": decays, "eps": st.floats(1e-8, 1e-3)},
    ),
    "rmsprop": Family(
        lambda lr, hp, o: lrjax.rmsprop(
            lr,
            hp["decay"],
            hp["eps"],
            hp["init"],
            centered=o["centered"],
            momentum=hp["mu"] if o["momentum"] else None,
            bias_correction=o["bc"],
        ),
        {"decay": decays, "eps": eps, "init": st.floats(0.0, 1.0), "mu": decays},
        {"centered": st.booleans(), "momentum": st.booleans(), "bc": st.booleans()},
        # v >= (1-rho) g^2; the centered variance has no such floor.
        lambda hp, t, g, o: (
            None
            if o["centered"]
            else np.broadcast_to(
                1
                / np.sqrt(1 - hp["decay"][:, None])
                / (1 - (hp["mu"][:, None] if o["momentum"] else 0.0)),
                g.shape,
            )
        ),
        momentum_lr=True,
    ),
    "adam": Family(
        lambda lr, hp, o: lrjax.adam(
            lr,
            hp["b1"],
            hp["b2"],
            hp["eps"],
            hp["eps_root"],
            nesterov=o["nesterov"],
            epsilon_hat=o["hat"],
        ),
        {"b1": b1s, "b2": b2s, "eps": eps, "eps_root": st.floats(0.0, 1e-6)},
        {"nesterov": st.booleans(), "hat": st.booleans()},
        lambda hp, t, g, o: (_nadam_bound if o["nesterov"] else _adam_bound)(
            hp["b1"], hp["b2"], t
        ),
    ),
    "adamw": Family(
        lambda lr, hp, o: lrjax.adamw(
            lr, hp["b1"], hp["b2"], hp["eps"], weight_decay=hp["wd"]
        ),
        {"b1": b1s, "b2": b2s, "eps": eps, "wd": st.floats(0.0, 0.1)},
    ),
    "amsgrad": Family(
        lambda lr, hp, o: lrjax.amsgrad(
            lr, hp["b1"], hp["b2"], hp["eps"], max_before_correction=o["before"]
        ),
        {"b1": b1s, "b2": b2s, "eps": eps},
        {"before": st.booleans()},
        lambda hp, t, g, o: _adam_bound(hp["b1"], hp["b2"], t),
    ),
    "nadam": Family(
        lambda lr, hp, o: lrjax.nadam(lr, hp["b1"], hp["b2"], hp["eps"]),
        {"b1": b1s, "b2": b2s, "eps": eps},
        bound=lambda hp, t, g, o: _nadam_bound(hp["b1"], hp["b2"], t),
    ),
    "adamax": Family(
        lambda lr, hp, o: lrjax.adamax(
            lr, hp["b1"], hp["b2"], hp["eps"], eps_in_max=o["in"]
        ),
        {"b1": b1s, "b2": b2s, "eps": eps},
        {"in": st.booleans()},
        lambda hp, t, g, o: _adamax_bound(hp["b1"], hp["b2"], t),
    ),
    "adagrad_norm": Family(
        lambda lr, hp, o: lrjax.adagrad_norm(lr, hp["b0"], hp["eps"]),
        {"b0": st.floats(1e-3, 1.0), "eps": st.floats(0.0, 1e-3)},
        bound=lambda hp, t, g, o: np.ones_like(g),
    ),
    # Trust ratios: the step of a leaf is bounded by eta times its weights' norm, not by
    # the gradient, so no bound in B_n(|g|) is documented; finiteness, dtypes and the
    # recorded base rate are checked.
    "lars": Family(
        lambda lr, hp, o: lrjax.lars(
            lr,
            hp["wd"],
            lrjax.leaf_mask(min_rank=2) if o["mask"] else True,
            hp["tc"],
            hp["eps"],
            True,
            hp["mu"],
            o["nesterov"],
            denominator="sum" if o["sum"] else "update",
            lr_in_momentum=o["in"],
        ),
        {
            "wd": st.floats(0.0, 0.1),
            "tc": st.floats(1e-3, 0.05),
            "eps": st.floats(0.0, 1e-6),
            "mu": st.floats(0.0, 0.9),
        },
        {
            "mask": st.booleans(),
            "nesterov": st.booleans(),
            "sum": st.booleans(),
            "in": st.booleans(),
        },
    ),
    "lamb": Family(
        lambda lr, hp, o: lrjax.lamb(
            lr,
            hp["b1"],
            hp["b2"],
            hp["eps"],
            0.0,
            hp["wd"],
            trust_ratio_mask=lrjax.leaf_mask(min_rank=1) if o["mask"] else None,
            weight_decay_placement="keras" if o["keras"] else "optax",
        ),
        {"b1": b1s, "b2": b2s, "eps": eps, "wd": st.floats(0.0, 0.1)},
        {"mask": st.booleans(), "keras": st.booleans()},
    ),
}

# Schedule-Free (issue 18): the recorded rate is the base's schedule (no warm-up here:
# warmup_steps is a Python int, not a traced hyperparameter). No bound on |u|/eta is
# documented: the update also moves y towards the average, by an amount that depends on
# the whole past. Mechanic is not fuzzed here: its recorded rate is the base's rate
# times its learned scale, not the schedule (tests/test_mechanic.py checks it).
FAMILIES.update(
    {
        "schedule_free_sgd": Family(
            lambda lr, hp, o: lrjax.schedule_free_sgd(
                lr, b1=hp["b1"], weight_decay=hp["wd"]
            ),
            {"b1": st.floats(0.05, 0.99), "wd": st.floats(0.0, 0.1)},
        ),
        "schedule_free_adamw": Family(
            lambda lr, hp, o: lrjax.schedule_free_adamw(
                lr, b1=hp["b1"], b2=hp["b2"], eps=hp["eps"], weight_decay=hp["wd"]
            ),
            {"b1": st.floats(0.05, 0.99), "b2": b2s, "eps": eps, "wd": st.floats(0.0, 0.1)},
        ),
    }
)


def _problem(shapes, dtype, seeds) -> tuple:
    """Per lane: start, curvatures (1e-3 to 1e3), centre and gradient noise, in dtype.

    Drawn with NumPy outside the compiled program: XLA:CPU takes seconds to compile
    threefry under vmap and scan, and the problem is data, not what is under test.
    """
    out = []
    for lane_seed in seeds:
        rng = np.random.default_rng(lane_seed)
        out.append(
            [
                [rng.standard_normal(s) for s in shapes],
                [10.0 ** rng.uniform(-3, 3, s) for s in shapes],
                [rng.standard_normal(s) for s in shapes],
                [0.1 * rng.standard_normal((STEPS, *s)) for s in shapes],
            ]
        )
    # Stack lanes: four lists of leaves, each leaf with a leading lane axis.
    return tuple(
        [
            jnp.asarray(np.stack([lane[part][i] for lane in out]), dtype)
            for i in range(len(shapes))
        ]
        for part in range(4)
    )


def _tree(leaves: list) -> dict:
    return {"layers": list(leaves[:-1]), "head": {"w": leaves[-1]}}


def _norm_max(tree) -> jax.Array:
    return jnp.max(
        jnp.stack(
            [
                jnp.max(jnp.abs(x.astype(jnp.float32)), initial=0.0)
                for x in jax.tree.leaves(tree)
            ]
        )
    )


@functools.partial(jax.jit, static_argnums=(0, 1))
def _run(name, options, hp, lr0, decay, problem):
    """LANES x STEPS: (max |u|/eta per step, running max |g|, eta, finite flags), params."""
    family = FAMILIES[name]
    opts = dict(options)

    def lane(hp, lr0, decay, problem):
        start, curv, centre, noise = (_tree(part) for part in problem)
        tx = family.make(lrjax.exponential_decay(lr0, decay=decay), hp, opts)
        state = tx.init(start)

        def step(carry, noise_n):
            p, state, gmax = carry
            g = jax.tree.map(lambda c, q, z, e: c * (q - z) + e, curv, p, centre, noise_n)
            u, state = tx.update(g, state, p)
            eta = lrjax.current_learning_rate(state)
            gmax = jnp.maximum(gmax, _norm_max(g))
            scaled = _norm_max(u) / jnp.asarray(eta, jnp.float32)
            p = jax.tree.map(lambda a, b: a + b, p, u)
            ok = _all_finite(u) & _all_finite(p) & _all_finite(state)
            return (p, state, gmax), (scaled, gmax, eta, ok)

        (p, _, _), trace = jax.lax.scan(
            step, (start, state, jnp.zeros([], jnp.float32)), noise
        )
        return trace, p

    return jax.vmap(lane)(hp, lr0, decay, problem)


_COMPILED: dict = {}


def _compiled(name: str, options: tuple, args: tuple):
    """``_run`` compiled once per optimizer, options, tree and dtype.

    LLVM's optimisation passes are skipped (``xla_backend_optimization_level=0``):
    they halve the compile time, which dominates here (a run takes milliseconds),
    and they do not change floating-point semantics.
    """
    key = (
        name,
        options,
        jax.tree.structure(args),
        tuple((x.shape, x.dtype) for x in jax.tree.leaves(args)),
    )
    if key not in _COMPILED:
        _COMPILED[key] = _run.lower(name, options, *args).compile(
            {"xla_backend_optimization_level": 0}
        )
    return _COMPILED[key]


def _check(name: str, options: dict, shapes, dtype, hp: dict, lr0, decay, seeds) -> None:
    family = FAMILIES[name]
    hp_j = {k: jnp.asarray(v) for k, v in hp.items()}
    args = (hp_j, jnp.asarray(lr0), jnp.asarray(decay), _problem(shapes, dtype, seeds))
    program = _compiled(name, tuple(sorted(options.items())), args)
    (scaled, gmax, eta, ok), p = program(*args)
    assert bool(np.all(np.asarray(ok))), f"non-finite {name} {options} {dtype}"
    for leaf in jax.tree.leaves(p):
        assert leaf.dtype == jnp.dtype(dtype)
    # The recorded rate is the schedule's value at each step, in the rate's float32.
    t = np.arange(STEPS, dtype=np.float64)
    want = np.asarray(lr0)[:, None] * np.exp(-np.asarray(decay)[:, None] * t)
    np.testing.assert_allclose(np.asarray(eta, np.float64), want, rtol=1e-5)
    RUNS[name] = RUNS.get(name, 0) + LANES
    if family.bound is None or jnp.dtype(dtype) not in RTOL:
        return
    # The hyperparameters as the optimizer received them (float32 arrays with x64 off),
    # not as drawn: the bound holds in exact arithmetic for those.
    hp64 = {k: np.asarray(v, np.float64) for k, v in hp_j.items()}
    t_all = np.arange(1, STEPS + 1)
    bound = family.bound(hp64, t_all, np.asarray(gmax, np.float64), options)
    if bound is None:
        return
    if family.momentum_lr and options.get("momentum"):
        # The buffer holds past rates, at most eta_0 = eta_n e^{d n}.
        bound = bound * (want[:, :1] / want)
    scaled = np.asarray(scaled, np.float64)
    # float32 rates: eta itself is rounded, relative 2^-24.
    rtol = RTOL[jnp.dtype(dtype)] + 2.0**-23
    excess = scaled / (bound * (1 + rtol))
    assert np.all(excess <= 1), (
        name,
        options,
        float(excess.max()),
        np.unravel_index(int(np.argmax(excess)), excess.shape),
    )


def _lanes(strategy):
    return st.lists(strategy, min_size=LANES, max_size=LANES)


@st.composite
def _example(draw, name: str, dtypes: list):
    family = FAMILIES[name]
    shapes = draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=4))
    dtype = draw(st.sampled_from(dtypes))
    options = {k: draw(s) for k, s in family.options.items()}
    hp = {k: draw(_lanes(s)) for k, s in family.hyper.items()}
    lr0 = draw(_lanes(st.floats(1e-4, 1.0)))
    decay = draw(_lanes(st.floats(0.0, 0.05)))
    seeds = draw(_lanes(st.integers(0, 2**32 - 1)))
    return shapes, dtype, options, hp, lr0, decay, seeds


def _make_test(name: str, dtypes: list, settings_=SETTINGS):
    @settings_
    @given(_example(name, dtypes))
    def test(example):
        shapes, dtype, options, hp, lr0, decay, seeds = example
        if name in ("sgd", "schedule_free_sgd"):
            # Plain gradient descent on curvature up to 1e3 is stable only for
            # eta * L < 2 (1 + mu): scale the rate into that range.
            lr0 = [x * 1e-3 for x in lr0]
        if name == "rmsprop" and options["centered"]:
            # Centered RMSprop has no bound either: its variance estimate can be ~0
            # (rho = 0 makes it exactly 0), and then d = g / sqrt(eps) is gradient
            # descent at the rate eta / sqrt(eps), stable only for
            # eta * L / sqrt(eps) < 2 (1 + mu). Scaled by 1e-3 alone, as for sgd, the
            # lanes with rho = 0 diverged in exact arithmetic wherever that failed:
            # their params reached 1e46 to 1e154 in 100 float64 steps or overflowed,
            # and overflowed in float32.
            lr0 = [x * 1e-3 * e**0.5 for x, e in zip(lr0, hp["eps"])]
        _check(name, options, shapes, dtype, hp, lr0, decay, seeds)

    return test


for _name in FAMILIES:
    _test = _make_test(_name, DTYPES)
    _test.__name__ = f"test_{_name}_fuzz"
    globals()[_test.__name__] = _test
    _test = pytest.mark.x64(_make_test(_name, DTYPES_X64, SETTINGS_X64))
    _test.__name__ = f"test_{_name}_fuzz_float64"
    globals()[_test.__name__] = _test


# The optimizer aliases of the per-coordinate directions (lrjax/_directions/, and
# AdaGrad-Norm in lrjax/_lr_free/): chain(scale_by_x(...), scale_by_learning_rate(lr)).
ALIASES = {
    "sgd",
    "adagrad",
    "adadelta",
    "rmsprop",
    "adam",
    "adamw",
    "amsgrad",
    "nadam",
    "adamax",
    "adagrad_norm",
}


def test_every_optimizer_alias_is_fuzzed():
    assert ALIASES <= set(dir(lrjax))
    assert ALIASES <= set(FAMILIES), sorted(ALIASES - set(FAMILIES))
