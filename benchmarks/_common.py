"""Shared helpers of the benchmark suite: trees, jitted steps, interleaved timing.

Every comparison runs its contestants interleaved in one process (A B A B ...), so that a
slow period on a shared machine hits both alike, and reports medians and ratios.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

# ----------------------------------------------------------------------------- trees


def _resnet50_shapes() -> list[tuple[int, ...]]:
    """Parameter shapes of ResNet-50 (HWIO convs, BatchNorm scale and bias, the head)."""
    shapes: list[tuple[int, ...]] = [(7, 7, 3, 64), (64,), (64,)]
    cin = 64
    for width, blocks in zip((64, 128, 256, 512), (3, 4, 6, 3)):
        for b in range(blocks):
            for kshape in (
                (1, 1, cin, width),
                (3, 3, width, width),
                (1, 1, width, 4 * width),
            ):
                shapes += [kshape, (kshape[-1],), (kshape[-1],)]
            if b == 0:
                shapes += [(1, 1, cin, 4 * width), (4 * width,), (4 * width,)]
            cin = 4 * width
    return shapes + [(2048, 1000), (1000,)]


def _transformer_shapes(layers: int, d: int, vocab: int, seq: int) -> list[tuple[int, ...]]:
    """A GPT-like tree: embeddings, per layer attention + MLP + two LayerNorms, head."""
    shapes: list[tuple[int, ...]] = [(vocab, d), (seq, d)]
    for _ in range(layers):
        shapes += [(d, d), (d,)] * 4  # q, k, v, o with biases
        shapes += [(d,), (d,), (d,), (d,)]  # two LayerNorms: scale, bias
        shapes += [(d, 4 * d), (4 * d,), (4 * d, d), (d,)]  # MLP
    return shapes + [(d,), (d,)]  # final LayerNorm (the head is tied to the embedding)


def tree_specs(quick: bool) -> dict[str, list[tuple[int, ...]]]:
    """Shapes of the benchmark trees; ``quick`` shrinks them for a smoke run."""
    if quick:
        return {
            "one leaf 1M": [(1_000_000,)],
            "resnet50-like": [
                tuple(max(1, s // 4) for s in sh) for sh in _resnet50_shapes()
            ],
            "transformer-like": _transformer_shapes(6, 64, 2048, 128),
            "300 x 500": [(500,)] * 300,
        }
    return {
        "one leaf 10M": [(10_000_000,)],
        "resnet50-like": _resnet50_shapes(),
        "transformer-like": _transformer_shapes(18, 256, 8192, 512),
        "2000 x 5000": [(5000,)] * 2000,
    }


def make_tree(shapes: list[tuple[int, ...]], seed: int = 0, scale: float = 1.0) -> dict:
    """A dict of float32 arrays with the given shapes, filled with small random values."""
    rng = np.random.default_rng(seed)
    return {
        f"p{i:04d}": jnp.asarray(rng.standard_normal(s, dtype=np.float32) * scale)
        for i, s in enumerate(shapes)
    }


def describe(shapes: list[tuple[int, ...]]) -> str:
    n = sum(math.prod(s) for s in shapes)
    return f"{len(shapes)} leaves, {n / 1e6:.1f}M floats"


# ----------------------------------------------------------------------------- steps


def make_step(tx: optax.GradientTransformation) -> Callable:
    """The optimizer part of a train step (update + apply_updates), not yet jitted."""

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return step


def compile_step(tx, params, grads) -> tuple[Any, float, float]:
    """(executable, seconds to trace+lower, seconds to compile) of a donated step."""
    state = jax.eval_shape(tx.init, params)
    fn = jax.jit(make_step(tx), donate_argnums=(0, 1))
    t0 = time.perf_counter()
    lowered = fn.lower(params, state, grads)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    return compiled, t1 - t0, t2 - t1


def fresh_copy(tree):
    return jax.tree.map(lambda x: x.copy(), tree)


class Runner:
    """Holds a compiled step and its own params/state, advanced in place (donated)."""

    def __init__(self, tx, params, grads):
        self.compiled, self.lower_s, self.compile_s = compile_step(tx, params, grads)
        self.params = fresh_copy(params)
        self.state = jax.jit(tx.init)(self.params)
        self.grads = grads
        self.run()  # warm up

    def run(self) -> float:
        t = time.perf_counter()
        self.params, self.state = self.compiled(self.params, self.state, self.grads)
        jax.block_until_ready((self.params, self.state))
        return time.perf_counter() - t

    def release(self):
        self.params = self.state = self.compiled = None
        gc.collect()


def interleave(fns: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Call each timing function in turn, ``repeats`` rounds: A B A B ..."""
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            out[k].append(f())
    return out


def med(xs: list[float]) -> float:
    return statistics.median(xs)


# ----------------------------------------------------------------------------- machine


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "load average (1, 5, 15 min) at start": load,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else "",
        "optax": optax.__version__,
        "backend": jax.default_backend(),
        "devices": str(jax.devices()),
        "x64": str(jax.config.jax_enable_x64),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def f32(x) -> jnp.ndarray:
    return jnp.asarray(x, jnp.float32)
