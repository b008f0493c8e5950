"""Train, checkpoint midway, resume in a fresh process: started by test_checkpoint.py.

    python checkpoint.py save STEPS SAVE_AT DIR     # save at SAVE_AT, finish the run
    python checkpoint.py resume STEPS SAVE_AT DIR   # in a fresh process: restore, finish

Every optimizer in ``_optimizers()`` is saved with orbax-checkpoint and with
flax.serialization bytes. Each process prints ``RESULT`` and a JSON line with the exact
bytes of the final params and optimizer state, so the test can demand bit-identical
resumption.
"""

from __future__ import annotations

import json
import pathlib
import sys


def _optimizers():
    import optax

    import lrjax

    opts = {
        "adam_scheduled": (
            lrjax.adam(lrjax.warmup(lrjax.cosine_decay(3e-2, 40), warmup_steps=5)),
            False,
        ),
        "sgd_step_decay": (
            lrjax.sgd(lrjax.step_decay(0.1, drop=0.5, drop_every=7), momentum=0.9),
            False,
        ),
    }
    if hasattr(lrjax, "reduce_on_plateau"):
        opts["reduce_on_plateau"] = (
            optax.chain(
                lrjax.adam(3e-2),
                lrjax.reduce_on_plateau(patience=2, factor=0.5, cooldown=1),
            ),
            True,
        )
    if hasattr(lrjax, "adam_hd"):
        opts["adam_hd"] = (lrjax.adam_hd(1e-2), False)
    if hasattr(lrjax, "newton_cg"):
        opts["newton_cg"] = (lrjax.newton_cg(), True)
    return opts


def _data(step):
    import jax
    import jax.numpy as jnp

    key = jax.random.fold_in(jax.random.PRNGKey(7), step)
    x = jax.random.normal(key, (64, 8), jnp.float32)
    y = jnp.tanh(x @ jnp.linspace(-1.0, 1.0, 8, dtype=jnp.float32))
    return x, y


def _params():
    import jax.numpy as jnp

    return {"w": jnp.zeros(8, jnp.float32), "b": jnp.zeros((), jnp.float32)}


def _loss(params, x, y):
    import jax.numpy as jnp

    return jnp.mean((jnp.tanh(x @ params["w"] + params["b"]) - y) ** 2) + 1e-3 * jnp.sum(
        params["w"] ** 2
    )


def _run(name, start, stop, params, state):
    import functools

    import jax

    import lrjax

    opt, needs_loss = _optimizers()[name]

    @jax.jit
    def step(params, state, x, y):
        loss = functools.partial(_loss, x=x, y=y)
        value, grads = jax.value_and_grad(loss)(params)
        extra = dict(value=value, grad=grads, value_fn=loss) if needs_loss else {}
        updates, state = opt.update(grads, state, params, **extra)
        return lrjax.apply_updates(params, updates), state

    for n in range(start, stop):
        params, state = step(params, state, *_data(n))
    return params, state


def _fingerprint(tree):
    import jax
    import numpy as np

    return [np.asarray(leaf).tobytes().hex() for leaf in jax.tree.leaves(tree)]


def _save(path: pathlib.Path, tree, fmt: str) -> None:
    if fmt == "flax":
        from flax import serialization

        path.write_bytes(serialization.to_bytes(tree))
        return
    import orbax.checkpoint as ocp

    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(path.absolute(), tree)


def _restore(path: pathlib.Path, like, fmt: str):
    import jax

    if fmt == "flax":
        from flax import serialization

        return serialization.from_bytes(like, path.read_bytes())
    import orbax.checkpoint as ocp

    with ocp.StandardCheckpointer() as ckpt:
        return ckpt.restore(
            path.absolute(), jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        )


FORMATS = ("orbax", "flax")


def main(argv):
    mode, steps, save_at, where = argv[0], int(argv[1]), int(argv[2]), pathlib.Path(argv[3])
    where.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, (opt, _) in _optimizers().items():
        params = _params()
        state = opt.init(params)
        if mode == "save":
            # Save at SAVE_AT in every format, then finish the uninterrupted run.
            params, state = _run(name, 0, save_at, params, state)
            for fmt in FORMATS:
                _save(where / f"{name}.{fmt}", {"params": params, "opt_state": state}, fmt)
            params, state = _run(name, save_at, steps, params, state)
            results[name] = {"params": _fingerprint(params), "state": _fingerprint(state)}
        elif mode == "resume":
            for fmt in FORMATS:
                like = {"params": params, "opt_state": state}
                restored = _restore(where / f"{name}.{fmt}", like, fmt)
                p, s = _run(name, save_at, steps, restored["params"], restored["opt_state"])
                results[f"{name}.{fmt}"] = {
                    "params": _fingerprint(p),
                    "state": _fingerprint(s),
                }
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    print("RESULT " + json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
