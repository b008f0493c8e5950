"""Step time and compile time of the optimizer part of a train step, lrjax vs optax.

For every (tree, optimizer): both steps are compiled in alternation (lrjax, optax, ...)
and then timed in alternation; the table reports medians and the ratio lrjax/optax.
Rows marked ``grouped`` compare ``lrjax.grouped(lrjax.<opt>)`` with plain optax.
"""

from __future__ import annotations

import time

import jax
import optax
from _common import Runner, describe, fresh_copy, interleave, make_tree, med, tree_specs

import lrjax

LR = 1e-3

PAIRS = {
    "sgd": (lambda: lrjax.sgd(LR), lambda: optax.sgd(LR)),
    "momentum": (lambda: lrjax.sgd(LR, momentum=0.9), lambda: optax.sgd(LR, momentum=0.9)),
    "adagrad": (lambda: lrjax.adagrad(LR), lambda: optax.adagrad(LR)),
    "adadelta": (lambda: lrjax.adadelta(LR), lambda: optax.adadelta(LR)),
    "rmsprop": (lambda: lrjax.rmsprop(LR), lambda: optax.rmsprop(LR)),
    "adam": (lambda: lrjax.adam(LR), lambda: optax.adam(LR)),
    "adamw": (lambda: lrjax.adamw(LR), lambda: optax.adamw(LR)),
}
GROUPED = ("adam", "sgd")


def compare(make_a, make_b, params, grads, compile_repeats: int, step_repeats: int):
    """Interleaved compile times (fresh jit each time) and step times of two transforms."""
    runners: dict[str, Runner] = {}
    compile_s = {"a": [], "b": []}
    lower_s = {"a": [], "b": []}
    for r in range(compile_repeats):
        for key, make in (("a", make_a), ("b", make_b)):
            runner = Runner(make(), params, grads)
            compile_s[key].append(runner.compile_s)
            lower_s[key].append(runner.lower_s)
            if r == compile_repeats - 1:
                runners[key] = runner
            else:
                runner.release()
    steps = interleave({k: v.run for k, v in runners.items()}, step_repeats)
    for v in runners.values():
        v.release()
    return {
        "step_a": med(steps["a"]),
        "step_b": med(steps["b"]),
        "compile_a": med(compile_s["a"]),
        "compile_b": med(compile_s["b"]),
        "lower_a": med(lower_s["a"]),
        "lower_b": med(lower_s["b"]),
    }


def call_overhead(params, grads, repeats: int) -> float:
    """Median seconds of a jitted step that hands the params back untouched.

    What the runtime charges any step on this tree for passing its params and gradients
    in and the params out (about 7 us an array here), before any arithmetic: no
    optimizer can go below it.
    """
    passthrough = jax.jit(lambda p, g: p, donate_argnums=0)
    p = passthrough(fresh_copy(params), grads)
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        p = passthrough(p, grads)
        jax.block_until_ready(p)
        times.append(time.perf_counter() - t)
    return med(times[1:])


def run(quick: bool = False, every: bool = False, log=print) -> dict:
    specs = tree_specs(quick)
    many = list(specs)[-1]
    rows = []
    for tree_name, shapes in specs.items():
        params = make_tree(shapes, seed=0)
        grads = make_tree(shapes, seed=1, scale=1e-2)
        names = list(PAIRS)
        if tree_name == many and not (quick or every):
            # Each optax compile of this tree takes tens of seconds here; the full list
            # runs with --all.
            names = ["sgd", "momentum", "adam"]
        heavy = len(shapes) >= 1000
        c_rep = 1 if heavy else (3 if quick else 2)
        s_rep = 7 if heavy else 21
        overhead = call_overhead(params, grads, s_rep)
        log(f"  {tree_name:18s} call overhead {overhead * 1e3:.2f} ms")
        jobs = [(n, None) for n in names] + [(n, {}) for n in GROUPED]
        if len(shapes) >= 300:  # also force every leaf into the groups
            jobs.append(("adam", {"max_leaf_size": 1 << 30}))
        for name, group in jobs:
            make_l, make_o = PAIRS[name]
            make_a = make_l
            label = name
            if group is not None:
                make_a = lambda m=make_l, kw=group: lrjax.grouped(m(), **kw)  # noqa: E731
                label = f"grouped({name}{', all leaves' if group else ''})"
            res = compare(make_a, make_o, params, grads, c_rep, s_rep)
            row = {
                "tree": f"{tree_name} ({describe(shapes)})",
                "optimizer": label,
                "lrjax step ms": res["step_a"] * 1e3,
                "optax step ms": res["step_b"] * 1e3,
                "step ratio": res["step_a"] / res["step_b"],
                "lrjax compile s": res["compile_a"],
                "optax compile s": res["compile_b"],
                "compile ratio": res["compile_a"] / res["compile_b"],
                "lrjax trace+lower s": res["lower_a"],
                "optax trace+lower s": res["lower_b"],
                "call overhead ms": overhead * 1e3,
            }
            rows.append(row)
            log(
                f"  {tree_name:18s} {label:18s} step {row['lrjax step ms']:8.2f} / "
                f"{row['optax step ms']:8.2f} ms = {row['step ratio']:.2f}   compile "
                f"{row['lrjax compile s']:6.2f} / {row['optax compile s']:6.2f} s = "
                f"{row['compile ratio']:.2f}"
            )
    return {
        "title": "Step and compile time: lrjax / optax",
        "rows": rows,
        "notes": (
            "Optimizer part of a train step (update + apply_updates), jitted with donated "
            "params and state, float32. Medians of interleaved runs (lrjax, optax, lrjax, "
            "...); compile = `jax.jit(step).lower(...).compile()` with a fresh jit each "
            "time (trace+lower reported separately). `grouped(x)` is "
            "`lrjax.grouped(lrjax.x(...))` (default: leaves of <= 8192 elements grouped; "
            "'all leaves': max_leaf_size unbounded) against plain `optax.x`. 'call "
            "overhead': the median of a jitted step on the same params and gradients that "
            "returns the params untouched, what the runtime charges per call for the "
            "tree's arrays before any arithmetic (the same for both libraries)."
        ),
    }
