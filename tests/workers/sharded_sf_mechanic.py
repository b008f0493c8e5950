"""Schedule-Free and Mechanic on 8 simulated CPU devices, started by
tests/test_schedule_free.py (the device count is fixed when JAX starts).

Prints one JSON line: for each method, whether every per-parameter state array keeps
its param's sharding after init and after the steps, the number of compilations, and
the largest relative difference from the same run on one device.
"""

from __future__ import annotations

import json
import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import lrjax

METHODS = {
    "schedule_free_adamw": lambda: lrjax.schedule_free_adamw(
        0.01, warmup_steps=3, weight_decay=1e-3
    ),
    "mechanize_adam": lambda: lrjax.mechanize(lrjax.adam(0.01)),
}


def loss(p, x):
    return jnp.mean((jnp.tanh(x @ p["w"]) @ p["v"] - 1.0) ** 2)


def train(opt, params, x, steps=6, mesh=None):
    def step(p, s):
        u, s = opt.update(jax.grad(loss)(p, x), s, p)
        return lrjax.apply_updates(p, u), s

    step = jax.jit(step)
    state = opt.init(params)
    first = state
    if mesh is not None:
        # Scalars and the tuner's small vectors: replicated on the mesh, so that the
        # step's input shardings equal its output shardings (one compilation).
        shapes = {x.shape for x in jax.tree.leaves(params)}
        state = jax.tree.map(
            lambda leaf: (
                leaf
                if leaf.shape in shapes
                else jax.device_put(leaf, NamedSharding(mesh, P()))
            ),
            state,
        )
    for _ in range(steps):
        params, state = step(params, state)
    return params, first, state, step._cache_size()


def same_sharding(state, params):
    """Every state leaf shaped like a param is sharded like it."""
    by_shape = {x.shape: x.sharding for x in jax.tree.leaves(params)}
    ok = True
    for leaf in jax.tree.leaves(state):
        if getattr(leaf, "ndim", 0) >= 1 and leaf.shape in by_shape:
            ok &= leaf.sharding.is_equivalent_to(by_shape[leaf.shape], leaf.ndim)
    return bool(ok)


def main():
    rng = np.random.default_rng(0)
    host = {"w": rng.normal(size=(16, 32)) * 0.3, "v": rng.normal(size=(32, 8)) * 0.3}
    x = rng.normal(size=(64, 16))
    mesh = Mesh(np.array(jax.devices()).reshape(8), ("d",))
    shard = {"w": NamedSharding(mesh, P(None, "d")), "v": NamedSharding(mesh, P("d", None))}
    out = {"devices": len(jax.devices())}
    for name, make in METHODS.items():
        ref, _, _, _ = train(make(), jax.tree.map(jnp.asarray, host), jnp.asarray(x))
        params = {k: jax.device_put(v, shard[k]) for k, v in host.items()}
        got, first, state, compiles = train(make(), params, jax.device_put(x), mesh=mesh)
        err = max(
            float(
                np.max(np.abs(np.asarray(got[k]) - np.asarray(ref[k])))
                / np.max(np.abs(np.asarray(ref[k])))
            )
            for k in host
        )
        out[name] = {
            "init_sharded_like_params": same_sharding(first, params),
            "state_sharded_like_params": same_sharding(state, got),
            "params_kept": all(got[k].sharding.is_equivalent_to(shard[k], 2) for k in host),
            "compiles": compiles,
            "max_rel_err": err,
        }
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    # Here, not at import: pytest's doctest collection imports this file, and a global
    # x64 would then hold for every test of that process.
    jax.config.update("jax_enable_x64", True)
    main()
