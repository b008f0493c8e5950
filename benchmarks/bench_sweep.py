"""The grid sweep: lrjax.sweep_learning_rates (one program) vs K runs in a Python loop.

    .venv/bin/python benchmarks/bench_sweep.py          # or: benchmarks/run.py --only sweep

K = 13 rates (quarter decades 1e-4 .. 1e-1), 200 steps each, Adam, batch 64, on the digits
logistic regression (overhead-bound) and the digits MLP (compute-bound). The loop is what
one writes without lrjax: one jitted step that takes the rate as an argument (compiled
once for all rates), called from Python for every step of every rate, batches sliced in
advance. Both are timed warm (compiled; median of interleaved rounds) and cold (first
call, compile included).
"""

from __future__ import annotations

import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import digits  # noqa: E402
from _common import interleave, med  # noqa: E402

import lrjax  # noqa: E402

GRID = list(10.0 ** np.linspace(-4, -1, 13))
STEPS = 200


def _loop(loss_fn, params, batches, grid):
    @jax.jit
    def init(p, lr):
        return lrjax.adam(lr).init(p)

    @jax.jit
    def step(p, s, b, lr):
        loss, g = jax.value_and_grad(loss_fn)(p, b)
        u, s = lrjax.adam(lr).update(g, s, p)
        return lrjax.apply_updates(p, u), s, loss

    sliced = [jax.tree.map(lambda a, i=i: a[i], batches) for i in range(STEPS)]
    rates = [np.float32(lr) for lr in grid]

    def run() -> float:
        t = time.perf_counter()
        out = []
        for lr in rates:
            p, s = params, init(params, lr)
            losses = []
            for b in sliced:
                p, s, loss = step(p, s, b, lr)
                losses.append(loss)
            out.append(losses)
        jax.block_until_ready(out)
        return time.perf_counter() - t

    return run


def _sweep(loss_fn, params, batches, grid):
    def run() -> float:
        t = time.perf_counter()
        lrjax.sweep_learning_rates(loss_fn, params, batches, grid)  # returns host arrays
        return time.perf_counter() - t

    return run


def compare(model: str, repeats: int, log=print) -> dict:
    loss_fn, params, batches = digits.problem(model, 0, steps=STEPS)
    loop, sweep = (
        _loop(loss_fn, params, batches, GRID),
        _sweep(loss_fn, params, batches, GRID),
    )
    cold = {"loop": loop(), "sweep": sweep()}  # first calls: trace + compile + run
    warm = interleave({"loop": loop, "sweep": sweep}, repeats)
    row = {
        "model": model,
        "rates x steps": f"{len(GRID)} x {STEPS}",
        "loop warm (s)": med(warm["loop"]),
        "sweep warm (s)": med(warm["sweep"]),
        "speed-up warm": med(warm["loop"]) / med(warm["sweep"]),
        "loop cold (s)": cold["loop"],
        "sweep cold (s)": cold["sweep"],
        "speed-up cold": cold["loop"] / cold["sweep"],
    }
    log(row)
    return row


def run(quick: bool = False, log=print) -> dict:
    repeats = 3 if quick else 7
    rows = [compare(m, repeats, log) for m in ("logistic", "mlp")]
    return {
        "title": "Grid sweep: one compiled program vs K runs in a Python loop",
        "rows": rows,
        "notes": (
            f"{len(GRID)} Adam rates 1e-4 .. 1e-1, {STEPS} steps each, batch 64 "
            "(tests/digits.py). Target: the warm speed-up is at least 3 on the "
            "overhead-bound logistic regression; the MLP's is reported."
        ),
    }


if __name__ == "__main__":
    out = run(quick="--quick" in sys.argv)
    for r in out["rows"]:
        print(
            " | ".join(
                f"{k}: {v:.3g}" if isinstance(v, float) else f"{k}: {v}"
                for k, v in r.items()
            )
        )
