"""Which range-test rule to use, for which schedule: measured in steps to a target loss.

    .venv/bin/python benchmarks/bench_lr_choice.py            # writes docs/range_test.md's table
    .venv/bin/python benchmarks/bench_lr_choice.py --seeds 2  # a quicker look, no write

For each model (tests/digits.py: logistic regression, MLP, CNN on scikit-learn's digits)
and seed (initialisation and minibatch order), the range test runs at its defaults
(Adam, 1e-7 -> 10 over 100 steps) and each of its four rules suggests a rate. Adam then
trains for 300 steps with that rate as a constant, as the peak of `one_cycle`, and as the
peak of a 10% linear warm-up + cosine decay; and with every rate of a quarter-decade
grid 1e-4 .. 1, the oracle. All runs of one schedule are one `sweep_learning_rates` call.

A run's "steps to target" is the first step at which the mean of its last 20 minibatch
losses is at or below the model's target; a run that never gets there counts as 300.
The table gives, per schedule and rule, the median over seeds of those steps and of the
rate's ratio to the grid's fastest rate.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

import digits  # noqa: E402

import lrjax  # noqa: E402

STEPS = 300
WINDOW = 20
RULES = ("steep", "minimum", "valley", "slide")
GRID = 10.0 ** np.linspace(-4, 0, 17)
# Training-loss targets: what the grid's best constant rate reaches in about half of
# the run, so that a rate too low or too high shows as many more steps.
TARGETS = {"logistic": 0.05, "mlp": 0.01, "cnn": 0.01}


def schedules(steps: int):
    warm = steps // 10
    return {
        "constant": lambda lr: lrjax.adam(lr),
        "one_cycle": lambda lr: lrjax.adam(lrjax.one_cycle(lr, total_steps=steps)),
        "warmup_cosine": lambda lr: lrjax.adam(
            lrjax.warmup(
                lrjax.cosine_decay(lr, decay_steps=steps - warm), warmup_steps=warm
            )
        ),
    }


def steps_to_target(losses: np.ndarray, target: float) -> np.ndarray:
    """Per run, the first step whose trailing mean over WINDOW losses is <= target."""
    k, t = losses.shape
    c = np.cumsum(np.where(np.isfinite(losses), losses, np.inf), axis=1)
    means = (
        c[:, WINDOW - 1 :] - np.concatenate([np.zeros((k, 1)), c[:, :-WINDOW]], 1)
    ) / WINDOW
    hit = means <= target
    first = np.where(hit.any(1), hit.argmax(1) + WINDOW, t)
    return first


def measure(model: str, seed: int, scheds: dict) -> dict:
    loss_fn, params, (x, y) = digits.problem(model, seed, steps=STEPS)
    finder = lrjax.find_learning_rate(loss_fn, params, (x[:100], y[:100]))
    suggestions = {r: finder.suggest(r) for r in RULES}
    rates = list(GRID) + [v for v in suggestions.values() if np.isfinite(v)]
    out = {
        "model": model,
        "seed": seed,
        "stop_reason": finder.stop_reason,
        "minimum_lr": finder.minimum_learning_rate,
        "suggestions": suggestions,
        "schedules": {},
    }
    for name, factory in scheds.items():
        res = lrjax.sweep_learning_rates(loss_fn, params, (x, y), rates, factory)
        steps = steps_to_target(res.losses, TARGETS[model])
        grid_steps = steps[: len(GRID)]
        best = int(np.argmin(grid_steps))
        row = {"grid_best_lr": float(GRID[best]), "grid_best_steps": int(grid_steps[best])}
        j = len(GRID)
        for rule in RULES:
            if np.isfinite(suggestions[rule]):
                row[rule] = {
                    "lr": suggestions[rule],
                    "steps": int(steps[j]),
                    "final": float(res.scores[j]),
                }
                j += 1
            else:
                row[rule] = {"lr": float("nan"), "steps": STEPS, "final": float("inf")}
        out["schedules"][name] = row
    return out


def summarise(runs: list[dict]) -> tuple[str, dict]:
    names = list(runs[0]["schedules"])
    lines = [
        "| model | schedule | grid's fastest rate: steps (rate) | "
        + " | ".join(f"`{r}`: steps (× fastest rate)" for r in RULES)
        + " |",
        "|---|---|---|" + "---|" * len(RULES),
    ]
    # Score per (schedule, rule): median over models of (median steps / grid-best steps).
    score = {s: {r: [] for r in RULES} for s in names}
    for model in digits.MODELS:
        mine = [r for r in runs if r["model"] == model]
        if not mine:
            continue
        for s in names:
            rows = [r["schedules"][s] for r in mine]
            gsteps = np.median([row["grid_best_steps"] for row in rows])
            glr = np.exp(np.median([np.log(row["grid_best_lr"]) for row in rows]))
            cells = [f"{gsteps:.0f} ({glr:.2g})"]
            for rule in RULES:
                st = np.median([row[rule]["steps"] for row in rows])
                ratio = np.exp(
                    np.median(
                        [
                            np.log(row[rule]["lr"] / row["grid_best_lr"])
                            for row in rows
                            if np.isfinite(row[rule]["lr"])
                        ]
                        or [np.nan]
                    )
                )
                missed = sum(row[rule]["steps"] >= STEPS for row in rows)
                miss = f", {missed} missed" if missed else ""
                cells.append(f"{st:.0f} (×{ratio:.2g}{miss})")
                score[s][rule].append(st / gsteps)
            lines.append(f"| {model} | {s} | " + " | ".join(cells) + " |")
    # The rule to use: the smallest worst case over models, then the smallest geometric
    # mean (a rule must not fail badly on any model to be recommended).
    geo = {
        s: {r: float(np.exp(np.mean(np.log(v)))) for r, v in d.items()}
        for s, d in score.items()
    }
    worst = {s: {r: float(np.max(v)) for r, v in d.items()} for s, d in score.items()}
    best = {s: min(RULES, key=lambda r: (worst[s][r], geo[s][r])) for s in names}
    return "\n".join(lines) + "\n", {"best_rule": best, "geomean": geo, "worst": worst}


def write_docs(table: str, verdict: dict, seeds: int, seconds: float) -> None:
    path = os.path.join(HERE, "..", "docs", "range_test.md")
    text = open(path).read()
    body = (
        f"<!-- lr-choice:start (written by benchmarks/bench_lr_choice.py) -->\n"
        f"Median over {seeds} seeds of the steps to the target training loss "
        f"(logistic {TARGETS['logistic']}, MLP {TARGETS['mlp']}, CNN {TARGETS['cnn']}; "
        f"{STEPS} steps at most, batch 64, Adam), and of the suggested rate over the "
        f"grid's fastest rate. {seconds / 60:.0f} min on this machine.\n\n"
        + table
        + "\nPer model, (median steps with the rule) / (median steps with the grid's "
        "fastest rate): the worst of the three models and their geometric mean, lower is "
        "better; the recommended rule has the smallest worst case.\n\n| rule | "
        + " | ".join(f"{s}: worst, mean" for s in verdict["worst"])
        + " |\n|---|"
        + "---|" * len(verdict["worst"])
        + "\n"
        + "\n".join(
            f"| `{r}` | "
            + " | ".join(
                f"{verdict['worst'][s][r]:.2f}, {verdict['geomean'][s][r]:.2f}"
                + (" (recommended)" if verdict["best_rule"][s] == r else "")
                for s in verdict["worst"]
            )
            + " |"
            for r in RULES
        )
        + "\n<!-- lr-choice:end -->"
    )
    text, n = re.subn(
        r"<!-- lr-choice:start.*?<!-- lr-choice:end -->", lambda m: body, text, flags=re.S
    )
    if n != 1:
        raise SystemExit("docs/range_test.md has no lr-choice:start/end markers")
    open(path, "w").write(text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--models", default=",".join(digits.MODELS))
    ap.add_argument("--json", default=os.path.join(HERE, "..", "out", "lr_choice.json"))
    ap.add_argument(
        "--from-json",
        action="store_true",
        help="rewrite the table from a saved run instead of measuring",
    )
    args = ap.parse_args()
    if args.from_json:
        saved = json.load(open(args.json))
        table, verdict = summarise(saved["runs"])
        print(table)
        write_docs(table, verdict, args.seeds, saved["seconds"])
        return
    t0 = time.time()
    scheds = schedules(STEPS)
    runs = []
    for model in args.models.split(","):
        for seed in range(args.seeds):
            runs.append(measure(model, seed, scheds))
            print(f"{model} seed {seed}: {time.time() - t0:.0f} s", flush=True)
    table, verdict = summarise(runs)
    print(table)
    print(json.dumps(verdict, indent=1))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(
            {"runs": runs, "verdict": verdict, "seconds": time.time() - t0},
            f,
            indent=1,
            default=float,
        )
    if args.seeds == 5 and args.models == ",".join(digits.MODELS):
        write_docs(table, verdict, args.seeds, time.time() - t0)


if __name__ == "__main__":
    main()
