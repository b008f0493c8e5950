"""Learning-rate-free methods at their defaults: steps to a target loss, and step time.

    .venv/bin/python benchmarks/bench_lr_free.py           # writes docs/lr_free.md's tables
    .venv/bin/python benchmarks/bench_lr_free.py --quick   # a smoke run, no write

Every method of `benchmarks/lr_free_*.py` runs at its defaults, next to optax.contrib's
same method where there is one and next to Adam at the best rate of a half-decade grid
(1e-4 .. 10), on four problems:

- `mlp`: the digits MLP 64-128-128-10 (tests/digits.py), batch 64, 500 steps; the loss
  of a step is the mean of the last 20 minibatch losses (as bench_lr_choice.py);
- `quadratic`: $\\frac12 x^\\top H x$ in 100 dimensions, $H = Q\\,\\mathrm{diag}(\\lambda)Q^\\top$,
  $\\lambda$ log-spaced from 1 to 1e-3 (condition number 1e3), 2000 steps;
- `rosenbrock`: $(1-a)^2 + 100(b-a^2)^2$ from $(-1.2, 1)$ plus noise, 2000 steps;
- `logistic`: multinomial logistic regression on the digits, full batch, with
  $\\frac{10^{-3}}{2}\\lVert W\\rVert^2$, 2000 steps.

A seed picks the initialisation (and the MLP's minibatch order); each (method, problem)
is one jitted `lax.scan` over the steps, `vmap`-ed over 3 seeds. The Polyak step size and
MoMo get the loss at the params, `update(g, state, params, value=loss)` (every method
gets it; the others ignore it). Schedule-Free's loss is taken at its evaluation params
(`lrjax.schedule_free_eval_params`, `optax.contrib.schedule_free_eval_params`).
"Steps" is the first step at which the loss is at or below the problem's target, the
median over seeds ('-' when the median run does not get there); "final" is the median
of the final losses.

Step time: one optimizer step (update + apply_updates, jitted, donated) of each lrjax
method and of optax.contrib's same method on the MLP's parameter tree, interleaved in
one process, warm; the median over 101 rounds of 50 calls each.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import digits
import lr_free_dog_cocob_polyak_momo
import lr_free_prodigy_dadapt
import lr_free_schedule_free_mechanic
from _common import interleave, machine, med

import lrjax

METHODS = {
    **lr_free_prodigy_dadapt.METHODS,
    **lr_free_schedule_free_mechanic.METHODS,
    **lr_free_dog_cocob_polyak_momo.METHODS,
}
SEEDS = 3
ADAM_GRID = tuple(float(r) for r in 10.0 ** np.linspace(-4, 1, 11))
PROBLEMS = ("mlp", "quadratic", "rosenbrock", "logistic")
BUDGET = {"mlp": 500, "quadratic": 2000, "rosenbrock": 2000, "logistic": 2000}
WINDOW = {"mlp": 20, "quadratic": 1, "rosenbrock": 1, "logistic": 1}
# Absolute targets: about what grid-tuned Adam reaches in half the budget (measured with
# this script, then rounded), so that a slower method shows as more steps.
# (The logistic loss's minimum is 0.1008.)
TARGETS = {"mlp": 1e-2, "quadratic": 1e-6, "rosenbrock": 1e-5, "logistic": 0.101}
LOGISTIC_L2 = 1e-3
START = "<!-- lr-free-table:start -->"
END = "<!-- lr-free-table:end -->"


# ----------------------------------------------------------------------------- problems


def _quadratic(dim: int = 100):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    lam = np.logspace(0, -3, dim)
    h = jnp.asarray((q * lam) @ q.T, jnp.float32)

    def loss_fn(p, batch):
        del batch
        x = p["x"]
        return 0.5 * x @ (h @ x)

    def init(seed):
        r = np.random.default_rng(seed)
        return {"x": jnp.asarray(r.standard_normal(dim), jnp.float32)}

    return loss_fn, init


def _rosenbrock():
    def loss_fn(p, batch):
        del batch
        a, b = p["x"][0], p["x"][1]
        return (1.0 - a) ** 2 + 100.0 * (b - a**2) ** 2

    def init(seed):
        r = np.random.default_rng(seed)
        x = np.array([-1.2, 1.0]) + 0.1 * r.standard_normal(2)
        return {"x": jnp.asarray(x, jnp.float32)}

    return loss_fn, init


def _logistic():
    x, y, _, _ = digits.load(0)
    x, y = jnp.asarray(x), jnp.asarray(y)

    def loss_fn(p, batch):
        del batch
        ce = optax.softmax_cross_entropy_with_integer_labels(x @ p["w"] + p["b"], y).mean()
        return ce + 0.5 * LOGISTIC_L2 * jnp.sum(p["w"] ** 2)

    def init(seed):
        r = np.random.default_rng(seed)
        return {
            "w": jnp.asarray(0.01 * r.standard_normal((64, 10)), jnp.float32),
            "b": jnp.zeros(10, jnp.float32),
        }

    return loss_fn, init


def problem(name: str, steps: int, seeds: int):
    """``(loss_fn(params, batch), params stacked over seeds, batches or None)``."""
    if name == "mlp":
        runs = [digits.problem("mlp", s, steps=steps) for s in range(seeds)]
        loss_fn = runs[0][0]
        params = jax.tree.map(lambda *a: jnp.stack(a), *[r[1] for r in runs])
        batches = jax.tree.map(lambda *a: jnp.stack(a), *[r[2] for r in runs])
        return loss_fn, params, batches
    loss_fn, init = {
        "quadratic": _quadratic,
        "rosenbrock": _rosenbrock,
        "logistic": _logistic,
    }[name]()
    params = jax.tree.map(lambda *a: jnp.stack(a), *[init(s) for s in range(seeds)])
    return loss_fn, params, None


# ----------------------------------------------------------------------------- runs


def _eval_fn(name: str, which: str):
    if not name.startswith("schedule_free"):
        return None
    return (
        lrjax.schedule_free_eval_params
        if which == "lrjax"
        else (optax.contrib.schedule_free_eval_params)
    )


def trajectories(make_opt, loss_fn, params, batches, steps, eval_fn=None):
    """Losses, shape (seeds, steps): one jitted scan over steps, vmapped over seeds."""

    def one(p0, bs):
        opt = optax.with_extra_args_support(make_opt())
        state = opt.init(p0)

        def body(carry, batch):
            p, s = carry
            val, g = jax.value_and_grad(loss_fn)(p, batch)
            rec = val if eval_fn is None else loss_fn(eval_fn(s, p), batch)
            u, s = opt.update(g, s, p, value=val)
            return (optax.apply_updates(p, u), s), rec

        _, losses = jax.lax.scan(body, (p0, state), bs, length=steps)
        return losses

    fn = jax.jit(jax.vmap(one, in_axes=(0, None if batches is None else 0)))
    return np.asarray(fn(params, batches), np.float64)


def adam_grid(loss_fn, params, batches, steps):
    """Losses of Adam, shape (rates, seeds, steps): one scan, vmapped over rates, seeds."""

    def one(lr, p0, bs):
        opt = lrjax.adam(lambda n: lr)
        state = opt.init(p0)

        def body(carry, batch):
            p, s = carry
            val, g = jax.value_and_grad(loss_fn)(p, batch)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), val

        _, losses = jax.lax.scan(body, (p0, state), bs, length=steps)
        return losses

    seeds = jax.vmap(one, in_axes=(None, 0, None if batches is None else 0))
    fn = jax.jit(jax.vmap(seeds, in_axes=(0, None, None)))
    return np.asarray(fn(jnp.asarray(ADAM_GRID, jnp.float32), params, batches), np.float64)


def smoothed(losses: np.ndarray, window: int) -> np.ndarray:
    """Trailing means over ``window`` steps (non-finite as +inf), same shape."""
    x = np.where(np.isfinite(losses), losses, np.inf)
    if window == 1:
        return x
    c = np.cumsum(x, axis=-1)
    out = np.full_like(x, np.inf)
    out[..., window - 1 :] = (
        c[..., window - 1 :]
        - np.concatenate([np.zeros(x.shape[:-1] + (1,)), c[..., :-window]], -1)
    ) / window
    return out


def score(losses: np.ndarray, target: float, window: int) -> dict:
    """Median over seeds (the first axis) of steps to target (inf if missed), final."""
    s = smoothed(losses, window)
    hit = s <= target
    steps = np.where(hit.any(-1), hit.argmax(-1) + 1, np.inf)
    return {
        "steps": float(np.median(steps)),
        "missed": int(np.sum(~np.isfinite(steps))),
        "final": float(np.median(s[..., -1])),
        "per_seed": steps.tolist(),
    }


# ----------------------------------------------------------------------------- timing


def step_times(quick: bool) -> dict:
    loss_fn, params, batches = digits.problem("mlp", 0, steps=2)
    batch = jax.tree.map(lambda a: a[0], batches)
    val, grads = jax.value_and_grad(loss_fn)(params, batch)
    calls, rounds = (10, 7) if quick else (50, 101)

    def runner(tx):
        tx = optax.with_extra_args_support(tx)

        def step(p, s, g, v):
            u, s = tx.update(g, s, p, value=v)
            return optax.apply_updates(p, u), s

        fn = jax.jit(step, donate_argnums=(0, 1))
        box = {"p": jax.tree.map(jnp.copy, params)}
        box["s"] = jax.jit(tx.init)(box["p"])
        for _ in range(3):  # compile, then warm
            box["p"], box["s"] = fn(box["p"], box["s"], grads, val)
        jax.block_until_ready(box)

        def timed() -> float:
            t = time.perf_counter()
            for _ in range(calls):
                box["p"], box["s"] = fn(box["p"], box["s"], grads, val)
            jax.block_until_ready((box["p"], box["s"]))
            return (time.perf_counter() - t) / calls

        return timed

    out = {}
    for name, (mine, theirs) in METHODS.items():
        if theirs is None:
            continue
        t = interleave({"lrjax": runner(mine()), "optax": runner(theirs())}, rounds)
        out[name] = {"lrjax_us": med(t["lrjax"]) * 1e6, "optax_us": med(t["optax"]) * 1e6}
        out[name]["ratio"] = out[name]["lrjax_us"] / out[name]["optax_us"]
        print(
            f"  step {name}: {out[name]['lrjax_us']:.0f} us vs {out[name]['optax_us']:.0f}"
            f" us, x{out[name]['ratio']:.2f}",
            flush=True,
        )
    return out


# ----------------------------------------------------------------------------- tables


def _fmt_loss(x: float) -> str:
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else "inf"
    return f"{x:.3g}" if x >= 1e-3 else f"{x:.0e}"


def _cell(r: dict | None, seeds: int) -> str:
    if r is None:
        return "—"
    st = "-" if not math.isfinite(r["steps"]) else f"{r['steps']:.0f}"
    miss = (
        f" ({r['missed']}/{seeds} missed)"
        if 0 < r["missed"] and math.isfinite(r["steps"])
        else ""
    )
    return f"{st}{miss} · {_fmt_loss(r['final'])}"


def tables(res: dict, times: dict, seeds: int, problems: tuple, seconds: float) -> str:
    budget = ", ".join(f"{p} {BUDGET[p]}" for p in problems)
    target = ", ".join(f"{p} {TARGETS[p]:g}" for p in problems)
    head = "| method | " + " | ".join(f"{p}: lrjax | {p}: optax" for p in problems) + " |"
    lines = [
        (
            f"Steps to target · final loss, median of {seeds} seeds, every method at its "
            f"defaults; '-': the target not reached within the budget ({budget} steps); "
            f"targets: {target}. optax: optax.contrib's same method at its defaults (— where "
            "it has none). Adam: the grid's best of 1e-4 .. 10 (half decades) per problem "
            "(the fewest steps among the rates that end below the target), "
            f"its rate in brackets. {seconds / 60:.1f} min on this machine."
        ),
        "",
        head,
        "|---|" + "---|---|" * len(problems),
    ]
    lines.append(
        "| Adam, grid-tuned | "
        + " | ".join(
            f"{_cell(res['adam'][p], seeds)} (lr {res['adam'][p]['lr']:.0e}) | "
            for p in problems
        )
        + " |"
    )
    for name in METHODS:
        cells = []
        for p in problems:
            cells += [
                _cell(res[name][p]["lrjax"], seeds),
                _cell(res[name][p]["optax"], seeds),
            ]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        (
            "Step time on the digits MLP's parameter tree (64-128-128-10, 26k floats): update "
            "+ apply_updates, jitted, donated, interleaved with optax.contrib's same method, "
            "median."
        ),
        "",
        "| method | lrjax (µs) | optax.contrib (µs) | lrjax / optax |",
        "|---|---|---|---|",
    ]
    for name, t in times.items():
        lines.append(
            f"| `{name}` | {t['lrjax_us']:.0f} | {t['optax_us']:.0f} | {t['ratio']:.2f} |"
        )
    if times:
        lines.append(
            f"| **median** | | | **{med([t['ratio'] for t in times.values()]):.2f}** |"
        )
    return "\n".join(lines) + "\n"


def write_docs(body: str) -> None:
    path = os.path.join(HERE, "..", "docs", "lr_free.md")
    with open(path) as f:
        text = f.read()
    new = f"{START}\n<!-- written by benchmarks/bench_lr_free.py -->\n{body}{END}"
    text, n = re.subn(
        re.escape(START) + ".*?" + re.escape(END), lambda m: new, text, flags=re.DOTALL
    )
    if n != 1:
        raise SystemExit(f"docs/lr_free.md has no {START} ... {END} markers")
    with open(path, "w") as f:
        f.write(text)


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--quick",
        action="store_true",
        help="1 seed, a tenth of the budgets, fewer timing rounds; no write",
    )
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--json", default=os.path.join(HERE, "..", "out", "lr_free.json"))
    args = ap.parse_args()
    t0 = time.time()
    seeds = 1 if args.quick else SEEDS
    problems = tuple(args.problems.split(","))
    names = args.methods.split(",")
    curves: dict = {}
    res: dict = {"adam": {}}
    for name in names:
        res[name] = {}
    for prob in problems:
        steps = BUDGET[prob] // 10 if args.quick else BUDGET[prob]
        loss_fn, params, batches = problem(prob, steps, seeds)
        grid = adam_grid(loss_fn, params, batches, steps)
        curves[f"adam/{prob}"] = grid
        scores = [score(g, TARGETS[prob], WINDOW[prob]) for g in grid]
        # The grid's best: the fewest steps among the rates that reach the target and
        # end below it, else the fewest steps, else the lowest final loss.
        best = min(
            range(len(ADAM_GRID)),
            key=lambda i: (
                scores[i]["final"] > TARGETS[prob],
                scores[i]["steps"],
                scores[i]["final"],
            ),
        )
        half = smoothed(grid[best], WINDOW[prob])[:, steps // 2 - 1]
        res["adam"][prob] = {
            **scores[best],
            "lr": ADAM_GRID[best],
            "loss_at_half": float(np.median(half)),
        }
        print(
            f"{prob}: Adam lr {ADAM_GRID[best]:.0e} steps {scores[best]['steps']} final "
            f"{scores[best]['final']:.3g}, at half the budget {np.median(half):.3g} "
            f"({time.time() - t0:.0f} s)",
            flush=True,
        )
        for name in names:
            mine, theirs = METHODS[name]
            row = {}
            for which, make in (("lrjax", mine), ("optax", theirs)):
                if make is None:
                    row[which] = None
                    continue
                losses = trajectories(
                    make, loss_fn, params, batches, steps, _eval_fn(name, which)
                )
                curves[f"{name}/{prob}/{which}"] = losses
                row[which] = score(losses, TARGETS[prob], WINDOW[prob])
            res[name][prob] = row
            print(
                f"  {prob} {name}: {_cell(row['lrjax'], seeds)} | "
                f"{_cell(row['optax'], seeds)} ({time.time() - t0:.0f} s)",
                flush=True,
            )
    times = {} if args.no_timing else step_times(args.quick)
    seconds = time.time() - t0
    if len(names) == len(METHODS):
        body = tables(res, times, seeds, problems, seconds)
        print(body)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(
            {"results": res, "step_times": times, "seconds": seconds, "machine": machine()},
            f,
            indent=1,
        )
    np.savez_compressed(os.path.splitext(args.json)[0] + ".npz", **curves)
    full = (
        not args.quick
        and not args.no_timing
        and len(names) == len(METHODS)
        and problems == PROBLEMS
    )
    if full:
        write_docs(body)
    print(f"{seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
