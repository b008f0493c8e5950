"""Where grouped() stops paying, and why 2x over optax is out of reach on 2,000 leaves.

Prints (one process, medians of interleaved runs, float32, donated buffers):

- grouped(adam) against plain lrjax.adam for 2,000 x 5,000, 600 x 16,384 and
  300 x 32,768 floats: the step- and compile-time crossover behind grouped's default
  ``max_leaf_size`` of 8,192;
- grouped(adam) against plain lrjax.adam for 16 to 256 same-shape leaves of 256 and
  1,024 floats: the crossover behind grouped's default ``min_group_size`` of 128;
- a jitted step that hands 2,000 leaves of 5,000 floats back untouched (what the runtime
  charges per call for 4,000 arrays in and 2,000 out), ``optax.apply_updates`` alone
  over the same leaves (one kernel per leaf, outside any optimizer), and Adam on one
  10M-float leaf: together the floor of the benchmarked "update + apply_updates" step
  on that tree;
- where the transformer-like tree's compile time goes: optax's Adam on its large and on
  its small leaves alone, and grouped(adam) with the default and with every leaf stacked;
- Adam's direction as written (m/bc1 / (sqrt(v/bc2) + eps)) against Kingma & Ba's
  folded form (one division per element instead of three) on one 10M-float leaf.

    .venv/bin/python benchmarks/bench_grouped_limits.py
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import optax
from _common import _transformer_shapes, interleave, make_step, make_tree, med

import lrjax


def _timed(fn, *args):
    state = {"args": args}

    def go() -> float:
        t = time.perf_counter()
        out = fn(*state["args"])
        jax.block_until_ready(out)
        state["args"] = (*out, *state["args"][len(out) :])
        return time.perf_counter() - t

    go()
    return go


def _optimizer_step(opt, params, grads):
    t = time.perf_counter()
    compiled = (
        jax.jit(make_step(opt), donate_argnums=(0, 1))
        .lower(params, opt.init(params), grads)
        .compile()
    )
    compile_s = time.perf_counter() - t
    p = jax.tree.map(jnp.copy, params)
    return _timed(compiled, p, opt.init(p), grads), compile_s


def _compare(cases, compile_repeats: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Median step and compile seconds of each ``name: (opt, params, grads)``.

    Each case is compiled ``compile_repeats`` times, interleaved; the steps of the last
    compilations are then timed interleaved over ``rounds`` rounds.
    """
    compiles: dict[str, list[float]] = {name: [] for name in cases}
    runs = {}
    for _ in range(compile_repeats):
        for name, (opt, params, grads) in cases.items():
            runs[name], c = _optimizer_step(opt, params, grads)
            compiles[name].append(c)
    t = interleave(runs, rounds)
    return {name: (med(t[name]), med(compiles[name])) for name in cases}


def crossover(log=print) -> None:
    for n, size in [(2000, 5000), (600, 16384), (300, 32768)]:
        params = {f"l{i:04d}": jnp.zeros(size, jnp.float32) for i in range(n)}
        grads = {k: jnp.full(size, 1e-2, jnp.float32) for k in params}
        r = _compare(
            {
                "grouped": (
                    lrjax.grouped(lrjax.adam(1e-3), max_leaf_size=1 << 30),
                    params,
                    grads,
                ),
                "plain": (lrjax.adam(1e-3), params, grads),
            },
            1,
            9,
        )
        log(
            f"  {n} x {size}: grouped {r['grouped'][0] * 1e3:.1f} ms, plain "
            f"{r['plain'][0] * 1e3:.1f} ms; compile {r['grouped'][1]:.1f} s vs "
            f"{r['plain'][1]:.1f} s"
        )


def group_size(log=print) -> None:
    """Grouped vs plain Adam on k same-shape leaves: the crossover behind min_group_size.

    Stacking saves per-leaf kernels at run time, but each leaf's final kernel slices a
    different row of its block, so XLA compiles it as a kernel of its own, where the
    plain per-leaf kernels are all alike and compiled once.
    """
    for size in (256, 1024):
        for k in (16, 32, 64, 128, 256):
            params = {f"l{i:04d}": jnp.zeros(size, jnp.float32) for i in range(k)}
            grads = {key: jnp.full(size, 1e-2, jnp.float32) for key in params}
            r = _compare(
                {
                    "grouped": (
                        lrjax.grouped(lrjax.adam(1e-3), min_group_size=1),
                        params,
                        grads,
                    ),
                    "plain": (lrjax.adam(1e-3), params, grads),
                },
                3,
                21,
            )
            log(
                f"  {k} x {size}: grouped {r['grouped'][0] * 1e3:.2f} ms, plain "
                f"{r['plain'][0] * 1e3:.2f} ms; compile {r['grouped'][1]:.2f} s "
                f"vs {r['plain'][1]:.2f} s"
            )


def floor(log=print) -> None:
    params = {f"l{i:04d}": jnp.zeros(5000, jnp.float32) for i in range(2000)}
    updates = {k: jnp.ones(5000, jnp.float32) for k in params}
    apply = jax.jit(lambda p, u: (optax.apply_updates(p, u),), donate_argnums=0)
    # The same call with no arithmetic: what the runtime charges for passing 2,000
    # params and 2,000 gradients in and 2,000 params out, whatever the optimizer does.
    passthrough = jax.jit(lambda p, u: (p,), donate_argnums=0)
    one = {"w": jnp.zeros(10_000_000, jnp.float32)}
    one_g = {"w": jnp.full(10_000_000, 1e-2, jnp.float32)}
    adam_one, _ = _optimizer_step(optax.adam(1e-3), one, one_g)
    t = interleave(
        {
            "apply": _timed(apply, jax.tree.map(jnp.copy, params), updates),
            "passthrough": _timed(passthrough, jax.tree.map(jnp.copy, params), updates),
            "adam": adam_one,
        },
        9,
    )
    log(
        f"  2,000 x 5,000: a jitted step that returns the params untouched "
        f"{med(t['passthrough']) * 1e3:.1f} ms (per-array call overhead); apply_updates "
        f"alone {med(t['apply']) * 1e3:.1f} ms; optax adam on one 10M leaf "
        f"{med(t['adam']) * 1e3:.1f} ms"
    )


def transformer_compile(log=print) -> None:
    """Where the transformer-like tree's compile time goes: its large leaves or its small.

    grouped() stacks only leaves of <= 8,192 elements, the 182 biases and LayerNorm
    vectors here; the 110 weight matrices (65,536 to 2.1M elements) stay per leaf. If
    those alone take most of optax's compile, no grouping of small leaves reaches 2x;
    stacking the matrices too ('all leaves') is shown beside it, with its step time.
    """
    shapes = _transformer_shapes(18, 256, 8192, 512)
    params = make_tree(shapes, seed=0)
    grads = make_tree(shapes, seed=1, scale=1e-2)
    large = {k: v for k, v in params.items() if v.size > 8192}
    small = {k: v for k, v in params.items() if v.size <= 8192}
    cases = {
        "optax adam, all 292 leaves": (optax.adam(1e-3), params, grads),
        f"optax adam, the {len(large)} large leaves only": (
            optax.adam(1e-3),
            large,
            {k: grads[k] for k in large},
        ),
        f"optax adam, the {len(small)} small leaves only": (
            optax.adam(1e-3),
            small,
            {k: grads[k] for k in small},
        ),
        "grouped(lrjax adam), default": (lrjax.grouped(lrjax.adam(1e-3)), params, grads),
        "grouped(lrjax adam), all leaves": (
            lrjax.grouped(lrjax.adam(1e-3), max_leaf_size=1 << 30),
            params,
            grads,
        ),
    }
    for name, (step_s, compile_s) in _compare(cases, 3, 9).items():
        log(
            f"  transformer-like, {name}: compile {compile_s:.2f} s, step "
            f"{step_s * 1e3:.1f} ms"
        )


def folded(log=print) -> None:
    n, b1, b2, eps, lr = 10_000_000, 0.9, 0.999, 1e-8, 1e-3

    def moments(m, v, g):
        return (1 - b1) * g + b1 * m, (1 - b2) * g * g + b2 * v

    def written(p, m, v, g, t):
        m, v = moments(m, v, g)
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        return p - lr * (m / bc1) / (jnp.sqrt(v / bc2) + eps), m, v

    def kingma(p, m, v, g, t):
        m, v = moments(m, v, g)
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        s = jnp.sqrt(bc2)
        return p - lr * m * (s / bc1) / (jnp.sqrt(v) + eps * s), m, v

    g = jnp.full(n, 1e-2, jnp.float32)
    runs = {}
    for name, fn in (("as written", written), ("folded", kingma)):
        z = [jnp.zeros(n, jnp.float32) for _ in range(3)]
        runs[name] = _timed(jax.jit(fn, donate_argnums=(0, 1, 2)), *z, g, jnp.float32(3))
    t = interleave(runs, 15)
    log(
        "  adam direction on one 10M leaf: "
        + ", ".join(f"{k} {med(v) * 1e3:.1f} ms" for k, v in t.items())
    )


if __name__ == "__main__":
    crossover()
    group_size()
    floor()
    transformer_compile()
    folded()
