"""Schedules: 10^6 steps evaluated vectorised, and a 10^4-step loop compiling once.

Each lrjax schedule is compared with optax's schedule of the same shape, both jitted over
``jnp.arange(10**6)`` and timed interleaved. The loop part runs a jitted Adam step whose
learning rate is a schedule, 10^4 times from Python, and counts the compilations.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import optax
from _common import interleave, med

import lrjax

T = 10_000

PAIRS = {
    "cosine_decay": (lrjax.cosine_decay(0.1, T), optax.cosine_decay_schedule(0.1, T)),
    "exponential (rate 1e-4/step)": (
        lrjax.exponential_decay(0.1, decay=1e-4),
        optax.exponential_decay(0.1, 1, float(jnp.exp(-1e-4))),
    ),
    "multistep / piecewise": (
        lrjax.multistep_decay(0.1, [3000, 6000, 9000], 0.1),
        optax.piecewise_constant_schedule(0.1, {3000: 0.1, 6000: 0.1, 9000: 0.1}),
    ),
    "linear": (
        lrjax.linear_schedule(0.1, end_value=0.0, transition_steps=T),
        optax.linear_schedule(0.1, 0.0, T),
    ),
    "warmup + cosine": (
        lrjax.warmup(lrjax.cosine_decay(0.1, T - 500), warmup_steps=500),
        optax.warmup_cosine_decay_schedule(0.0, 0.1, 500, T),
    ),
    "one_cycle": (
        lrjax.one_cycle(0.1, total_steps=T),
        optax.cosine_onecycle_schedule(T, 0.1),
    ),
}


def _timer(fn, x):
    def go() -> float:
        t = time.perf_counter()
        fn(x).block_until_ready()
        return time.perf_counter() - t

    go()
    return go


def _loop(make_opt, steps: int):
    """A Python loop of jitted steps; returns (seconds per step, number of compiles)."""
    opt = make_opt()
    params = jnp.zeros(1000, jnp.float32)
    state = opt.init(params)

    @jax.jit
    def step(p, s):
        g = 2 * p - 1
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    t = time.perf_counter()
    for _ in range(steps):
        params, state = step(params, state)
    params.block_until_ready()
    return (time.perf_counter() - t) / steps, step._cache_size()


def run(quick: bool = False, log=print) -> dict:
    n = 10**5 if quick else 10**6
    x = jnp.arange(n, dtype=jnp.int32)
    rows = []
    for name, (ls, os_) in PAIRS.items():
        fns = {
            "lrjax": _timer(jax.jit(jax.vmap(ls)), x),
            "optax": _timer(jax.jit(jax.vmap(os_)), x),
        }
        t = interleave(fns, 41)
        a, b = med(t["lrjax"]), med(t["optax"])
        rows.append(
            {
                "schedule": name,
                f"lrjax ms / {n:.0e} steps": a * 1e3,
                f"optax ms / {n:.0e} steps": b * 1e3,
                "ratio": a / b,
            }
        )
        log(f"  {name:30s} {a * 1e3:8.3f} / {b * 1e3:8.3f} ms = {a / b:.2f}")
    steps = 2000 if quick else T
    loop = {}
    for lib, make in (
        (
            "lrjax",
            lambda: lrjax.adam(lrjax.warmup(lrjax.cosine_decay(1e-2, T), warmup_steps=100)),
        ),
        (
            "optax",
            lambda: optax.adam(optax.warmup_cosine_decay_schedule(0.0, 1e-2, 100, T + 100)),
        ),
    ):
        loop[lib] = _loop(make, steps)
        log(
            f"  {lib} loop of {steps} steps: {loop[lib][0] * 1e6:.1f} us/step, "
            f"{loop[lib][1]} compilation(s)"
        )
    return {
        "title": "Schedules",
        "rows": rows,
        "notes": (
            f"Vectorised evaluation of {n:.0e} steps (jit(vmap(schedule))), medians of 41 "
            f"interleaved runs. Training loop: {steps} Python-driven jitted Adam steps with "
            f"a warmup+cosine schedule: lrjax {loop['lrjax'][0] * 1e6:.1f} us/step, "
            f"{loop['lrjax'][1]} compilation(s); optax {loop['optax'][0] * 1e6:.1f} us/step, "
            f"{loop['optax'][1]} compilation(s)."
        ),
        "loop": loop,
    }
