"""Python work to trace and lower a step, lrjax beside optax: a count, not a timing.

Trace + lower times in ``docs/benchmarks.md`` move by 20-40% between runs on this shared
machine. The number of Python function calls that ``jax.jit(step).lower(...)`` makes
(counted by ``cProfile``, after one warm-up lowering so that caches are filled) does not,
and it is what lrjax's per-leaf code adds or saves. The step is the optimizer part of a
train step (update + apply_updates, donated), on 300 leaves of 100 float32.

    .venv/bin/python benchmarks/bench_trace.py
"""

from __future__ import annotations

import cProfile
import io
import pstats

import jax
import jax.numpy as jnp
from _common import make_step
from bench_step import PAIRS

PARAMS = {f"w{i:03d}": jnp.ones((100,), jnp.float32) for i in range(300)}


def _lower(opt):
    state = opt.init(PARAMS)
    return jax.jit(make_step(opt), donate_argnums=(0, 1)).lower(PARAMS, state, PARAMS)


def python_calls(make) -> int:
    """Function calls made by one trace + lower of a fresh step (after a warm-up)."""
    _lower(make())
    profile = cProfile.Profile()
    profile.enable()
    _lower(make())
    profile.disable()
    return pstats.Stats(profile, stream=io.StringIO()).total_calls


def main() -> None:
    print("optimizer   lrjax calls   optax calls   lrjax/optax")
    for name, (make_l, make_o) in PAIRS.items():
        a, b = python_calls(make_l), python_calls(make_o)
        print(f"{name:10s} {a:12,d} {b:13,d} {a / b:13.2f}", flush=True)


if __name__ == "__main__":
    main()
