"""Sharded and multi-process training runs, started by tests/test_sharding.py.

Run as a script in a fresh process: the device count is fixed when JAX starts, so the
simulated CPU devices (XLA_FLAGS) must be set before ``import jax``.

    python sharded.py mesh               # 8 simulated devices in one process
    python sharded.py dist PID PORT      # one of two processes, 4 devices each

Each prints one JSON line of results; the asserting happens in the test.
"""

from __future__ import annotations

import json
import os
import sys


def _setup(devices: int) -> None:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def _problem():
    import jax
    import jax.numpy as jnp
    import numpy as np

    kx, kw, kp = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(kx, (256, 32), jnp.float64)
    y = jnp.argmax(x @ jax.random.normal(kw, (32, 8), jnp.float64), axis=-1)
    k1, k2 = jax.random.split(kp)
    params = {
        "w1": jax.random.normal(k1, (32, 64), jnp.float64) * 0.2,
        "b1": jnp.zeros(64, jnp.float64),
        "w2": jax.random.normal(k2, (64, 8), jnp.float64) * 0.2,
        "b2": jnp.zeros(8, jnp.float64),
    }
    # Host copies: every run puts its own device arrays, since a step donates them.
    return jax.tree.map(np.asarray, (params, x, y))


def _loss(params, x, y):
    import jax
    import jax.numpy as jnp

    h = jnp.tanh(x @ params["w1"] + params["b1"])
    logits = h @ params["w2"] + params["b2"]
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def _optimizer():
    import lrjax

    return lrjax.adam(lrjax.warmup(lrjax.cosine_decay(0.05, 40), warmup_steps=5), b1=0.9)


def _train(opt, params, x, y, steps, replicated=None):
    """``steps`` jitted updates with donated buffers.

    ``opt.init`` runs eagerly, as in Flax's ``TrainState.create``, so the moment buffers
    inherit each param's sharding. Scalar leaves (step counters, the recorded learning
    rate) are then placed replicated on the mesh, so that the step's input shardings
    equal its output shardings and it compiles once.
    """
    import jax
    import numpy as np

    import lrjax

    def step(params, state, x, y):
        g = jax.grad(_loss)(params, x, y)
        u, state = opt.update(g, state, params)
        return lrjax.apply_updates(params, u), state

    step = jax.jit(step, donate_argnums=(0, 1))
    state = opt.init(params)
    init_like_params = _same_sharding_as_params(state, params)
    if replicated is not None:
        state = jax.tree.map(
            lambda a: a if a.ndim else jax.device_put(np.asarray(a), replicated), state
        )
    for _ in range(steps):
        params, state = step(params, state, x, y)
    return params, state, step._cache_size(), init_like_params


def _same_sharding_as_params(state, params) -> bool:
    """Every state leaf shaped like a param carries that param's sharding."""
    import jax

    by_shape = {}
    for p in jax.tree.leaves(params):
        by_shape.setdefault(p.shape, []).append(p.sharding)
    ok = True
    for leaf in jax.tree.leaves(state):
        if leaf.shape in by_shape and leaf.ndim > 0:
            ok &= any(
                leaf.sharding.is_equivalent_to(s, leaf.ndim) for s in by_shape[leaf.shape]
            )
    return bool(ok)


def mesh_run() -> dict:
    _setup(8)
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    import lrjax

    params, x, y = _problem()
    steps = 30
    reference, ref_state, _, _ = _train(
        _optimizer(), jax.device_put(params), jax.device_put(x), jax.device_put(y), steps
    )
    out = {"devices": jax.device_count()}

    mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("data", "model"))
    layouts = {
        # Params and optimizer state split over all eight devices.
        "fully_sharded": {
            "w1": P(None, ("data", "model")),
            "b1": P(("data", "model")),
            "w2": P(("data", "model")),  # trailing None dropped, as jit writes it
            "b2": P(("data", "model")),
        },
        # Params replicated; only the batch is split.
        "data_parallel": {k: P() for k in params},
    }
    for name, specs in layouts.items():
        shard = {k: NamedSharding(mesh, s) for k, s in specs.items()}
        p = jax.device_put(params, shard)
        xs = jax.device_put(x, NamedSharding(mesh, P(("data", "model"))))
        ys = jax.device_put(y, NamedSharding(mesh, P(("data", "model"))))
        final, state, compiles, init_like_params = _train(
            _optimizer(), p, xs, ys, steps, NamedSharding(mesh, P())
        )
        err = max(
            float(
                np.max(np.abs(np.asarray(a) - np.asarray(b)))
                / np.max(np.abs(np.asarray(b)))
            )
            for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(reference))
        )
        out[name] = {
            "compiles": compiles,
            "max_rel_err": err,
            "init_state_sharded_like_params": init_like_params,
            "state_sharded_like_params": _same_sharding_as_params(state, final),
            "param_shardings_kept": all(
                final[k].sharding.is_equivalent_to(shard[k], final[k].ndim) for k in final
            ),
            "lr": float(lrjax.current_learning_rate(state)),
        }
    out["reference_lr"] = float(lrjax.current_learning_rate(ref_state))

    # Newton-CG on sharded logistic-regression weights: HVPs run on the sharded pytree.
    if hasattr(lrjax, "newton_cg"):
        out["newton_cg"] = _newton_cg_sharded(mesh)
    return out


def _newton_cg_sharded(mesh) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import lrjax

    kx, kw = jax.random.split(jax.random.PRNGKey(1))
    x = jax.random.normal(kx, (512, 64), jnp.float64)
    y = (x @ jax.random.normal(kw, (64,), jnp.float64) > 0).astype(jnp.float64)

    def loss(w):
        z = x @ w
        return jnp.mean(jnp.logaddexp(0.0, z) - y * z) + 1e-3 * jnp.sum(w**2)

    opt = lrjax.newton_cg()

    def run(w, replicated=None):
        state = opt.init(w)
        if replicated is not None:
            state = jax.tree.map(
                lambda a: a if a.ndim else jax.device_put(np.asarray(a), replicated), state
            )

        @jax.jit
        def step(w, state):
            g = jax.grad(loss)(w)
            u, state = opt.update(g, state, w, value=loss(w), grad=g, value_fn=loss)
            return lrjax.apply_updates(w, u), state

        for _ in range(8):
            w, state = step(w, state)
        return w, step._cache_size()

    w0 = jnp.zeros(64, jnp.float64)
    single, _ = run(w0)
    sharded, compiles = run(
        jax.device_put(w0, NamedSharding(mesh, P(("data", "model")))),
        NamedSharding(mesh, P()),
    )
    return {
        "compiles": compiles,
        "max_rel_err": float(
            np.max(np.abs(np.asarray(sharded) - np.asarray(single)))
            / np.max(np.abs(np.asarray(single)))
        ),
        "grad_norm": float(jnp.linalg.norm(jax.grad(loss)(sharded))),
        "sharded": not sharded.sharding.is_fully_replicated,
    }


def dist_run(pid: int, port: int) -> dict:
    _setup(4)
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=2,
        process_id=pid,
        initialization_timeout=60,
    )
    try:
        import numpy as np
        from jax.sharding import Mesh, NamedSharding
        from jax.sharding import PartitionSpec as P

        params, x, y = _problem()
        steps = 20
        # The single-process reference, on this process's first device only.
        local = jax.local_devices()[0]
        ref, _, _, _ = _train(
            _optimizer(),
            jax.device_put(params, local),
            jax.device_put(x, local),
            jax.device_put(y, local),
            steps,
        )
        ref = jax.tree.map(np.asarray, ref)

        mesh = Mesh(np.array(jax.devices()), ("data",))
        replicated = NamedSharding(mesh, P())
        batch = NamedSharding(mesh, P("data"))
        half = x.shape[0] // 2
        mine = slice(pid * half, (pid + 1) * half)
        xs = jax.make_array_from_process_local_data(batch, np.asarray(x)[mine], x.shape)
        ys = jax.make_array_from_process_local_data(batch, np.asarray(y)[mine], y.shape)
        p = jax.device_put(params, replicated)
        final, _, compiles, _ = _train(_optimizer(), p, xs, ys, steps, replicated)
        final = jax.tree.map(lambda a: np.asarray(a.addressable_data(0)), final)
        err = max(
            float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
            for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(ref))
        )
        return {
            "pid": pid,
            "processes": jax.process_count(),
            "devices": jax.device_count(),
            "local_devices": jax.local_device_count(),
            "compiles": compiles,
            "max_rel_err": err,
        }
    finally:
        jax.distributed.shutdown()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "mesh":
        result = mesh_run()
    elif mode == "dist":
        result = dist_run(int(sys.argv[2]), int(sys.argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print("RESULT " + json.dumps(result), flush=True)
