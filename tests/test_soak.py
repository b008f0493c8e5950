"""Soak run: 10^5 jitted steps of a scheduled, guarded Adam with injected faults.

What a run of weeks would show first at this scale: live device buffers that pile up,
host memory that grows, a step that recompiles as the counter grows, or a fault that
leaves a trace in the state. Marked ``slow`` (deselect with ``-m "not slow"``); it fits
in ``.ci/run``'s time budget, so CI runs it.
"""

from __future__ import annotations

import resource

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrjax

STEPS = 100_000
FAULT_EVERY = 997  # a prime, so faults fall at every phase of the schedule's cycle
BATCHES = 64


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


@pytest.mark.slow
def test_soak_100k_steps_with_faults_memory_flat_no_recompile():
    rng = np.random.default_rng(0)
    w_true = rng.standard_normal((8, 1))
    xs = rng.standard_normal((BATCHES, 32, 8)).astype(np.float32)
    ys = (np.tanh(xs @ w_true) + 0.05 * rng.standard_normal((BATCHES, 32, 1))).astype(
        np.float32
    )
    xs, ys = jnp.asarray(xs), jnp.asarray(ys)
    params = {
        "w1": jnp.asarray(0.3 * rng.standard_normal((8, 16)), jnp.float32),
        "b1": jnp.zeros(16, jnp.float32),
        "w2": jnp.asarray(0.3 * rng.standard_normal((16, 1)), jnp.float32),
    }

    def loss_fn(p, x, y):
        return jnp.mean((jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] - y) ** 2)

    # Restarts every 10^4 steps, so the schedule is exercised far into the run.
    schedule = lrjax.warmup(
        lrjax.cosine_restarts(3e-3, first_decay_steps=10_000, t_mul=1.0, alpha=0.1),
        warmup_steps=100,
    )
    opt = lrjax.skip_nonfinite(lrjax.adam(schedule))

    def step(p, state, n, poison):
        i = n % BATCHES
        value, g = jax.value_and_grad(loss_fn)(p, xs[i], ys[i])
        g = dict(g, w2=g["w2"] + poison)
        u, state = opt.update(g, state, p, value=value)
        return optax.apply_updates(p, u), state, n + 1

    # The batch counter lives on the device and the poisons are made once, so the loop
    # measures the step, not host-to-device copies of Python scalars.
    step = jax.jit(step, donate_argnums=(0, 1, 2))

    compiles: list[str] = []

    def listener(event: str, *args, **kwargs) -> None:
        if "backend_compile" in event:
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        p, state = params, opt.init(params)
        first_loss = float(loss_fn(p, xs[0], ys[0]))
        poisons = [jnp.float32(x) for x in (np.nan, np.inf, -np.inf)]
        zero = jnp.float32(0.0)
        counter = jnp.int32(0)
        faults = 0
        live0 = rss0 = None
        for n in range(STEPS):
            fault = n % FAULT_EVERY == FAULT_EVERY - 1
            poison = poisons[faults % 3] if fault else zero
            faults += fault
            p, state, counter = step(p, state, counter, poison)
            if n == 1000:
                jax.block_until_ready(p)
                compiled_after_first = len(compiles)
                live0, rss0 = len(jax.live_arrays()), _rss_mib()
        jax.block_until_ready(p)
        live1, rss1 = len(jax.live_arrays()), _rss_mib()
    finally:
        jax.monitoring.clear_event_listeners()

    assert faults == STEPS // FAULT_EVERY == 100
    assert int(state.total) == faults  # every fault was skipped, none missed
    assert int(state.inner_state[0].count) == STEPS - faults  # counter untouched by faults
    assert lrjax.current_learning_rate(state) == pytest.approx(
        float(schedule(STEPS - faults - 1)), rel=1e-6
    )
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves((p, state)))
    assert float(loss_fn(p, xs[0], ys[0])) < 0.2 * first_loss
    # No compilation after the first step, and the step compiled exactly once.
    assert len(compiles) == compiled_after_first
    assert step._cache_size() == 1
    # Donated buffers are reused: the live-array count is the same after 10^3 and 10^5
    # steps; host memory grows by less than 32 MiB over the last 99,000 steps.
    assert live1 == live0, (live0, live1)
    assert rss1 - rss0 < 32, (rss0, rss1)
