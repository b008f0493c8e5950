"""Run the whole benchmark suite, print one table per benchmark, write docs/benchmarks.md.

    .venv/bin/python benchmarks/run.py            # full run (several minutes)
    .venv/bin/python benchmarks/run.py --quick    # smaller trees, a smoke run
    .venv/bin/python benchmarks/run.py --only step,memory --all

Every comparison interleaves lrjax and optax in this process (A B A B ...) and reports
medians and the ratio lrjax/optax; the machine (CPU, cores, load, versions) is recorded.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import _common  # noqa: E402

SUITE = ("step", "bandwidth", "memory", "schedules", "range_test", "sweep", "quality")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def _fmt(v) -> str:
    if isinstance(v, float):
        if v != v:
            return "nan"
        if abs(v) >= 100:
            return f"{v:.0f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3g}"
    return str(v)


def table(rows: list[dict]) -> str:
    if not rows:
        return "(no rows)\n"
    heads = list(rows[0])
    for r in rows[1:]:
        heads += [h for h in r if h not in heads]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(h, "")) for h in heads) + " |")
    return "\n".join(lines) + "\n"


def targets(results: dict) -> list[str]:
    """The issue's ratio targets, each marked met or not, from this run's numbers."""
    out = []
    step = results.get("step", {}).get("rows", [])
    plain = [r for r in step if not r["optimizer"].startswith("grouped")]
    if plain:
        worst_s = max(plain, key=lambda r: r["step ratio"])
        worst_c = max(plain, key=lambda r: r["compile ratio"])
        n_s = sum(r["step ratio"] <= 1.0 for r in plain)
        n_c = sum(r["compile ratio"] <= 1.0 for r in plain)
        out.append(
            f"lrjax/optax <= 1.00: step time {n_s}/{len(plain)} rows, compile time "
            f"{n_c}/{len(plain)} rows; worst step {worst_s['step ratio']:.2f} "
            f"({worst_s['optimizer']}, {worst_s['tree']}), worst compile "
            f"{worst_c['compile ratio']:.2f} ({worst_c['optimizer']}, {worst_c['tree']})."
        )
    for r in step:
        if r["optimizer"].startswith("grouped(adam") and (
            "transformer" in r["tree"] or "x" in r["tree"].split("(")[0]
        ):
            ok = r["step ratio"] <= 0.5 and r["compile ratio"] <= 0.5
            oh = r["call overhead ms"]
            own = (r["optax step ms"] - oh) / max(r["lrjax step ms"] - oh, 1e-9)
            out.append(
                f"{'MET' if ok else 'NOT MET'}: >= 2x vs optax for {r['optimizer']} on "
                f"{r['tree']}: step x{1 / r['step ratio']:.2f}, compile "
                f"x{1 / r['compile ratio']:.2f} (step beyond the {oh:.1f} ms call overhead "
                f"that any step on this tree pays: x{own:.2f})."
            )
    bw = {r["update"]: r for r in results.get("bandwidth", {}).get("rows", [])}
    if "lrjax adam" in bw:
        f = bw["lrjax adam"]["of plain"]
        out.append(
            f"{'MET' if f >= 0.9 else 'NOT MET'}: lrjax adam at {f:.2f} of the plain "
            "update's bandwidth (target 0.90)."
        )
    mem = results.get("memory", {}).get("rows", [])
    if mem:
        import jax.numpy as jnp

        extra = {r["optimizer"]: r["lrjax - optax bytes"] for r in mem}
        # scale_by_learning_rate records the rate it applied as one scalar array (a
        # float32 unless x64 is on), so that current_learning_rate can read it and the
        # state's tree structure never depends on the rate's value: one scalar more
        # than optax, for a constant rate and a schedule alike.
        scalar = jnp.dtype(jnp.result_type(float)).itemsize
        bad = {k: v for k, v in extra.items() if v > scalar}
        out.append(
            ("MET" if not bad else "NOT MET") + ": lrjax state bytes <= optax's "
            f"+ one scalar ({scalar} bytes: the recorded learning rate) "
            + ("for every optimizer." if not bad else f"except: {bad}.")
        )
    rt = results.get("range_test", {}).get("rows", [])
    for r in rt:
        model = r.get("model", "digits MLP")
        if r["run"].startswith("sweep only"):
            out.append(
                f"{'MET' if r['speed-up'] >= 10 else 'NOT MET'}: range test compiled "
                f"sweep x{r['speed-up']:.1f} faster than the Python loop on the "
                f"{model} (target 10; {r['lrjax ms/step']:.3f} against "
                f"{r['loop ms/step']:.3f} ms per step; the bare steps in a scan take "
                f"{r['bare scan ms/step']:.3f} ms, so no compiled sweep can exceed "
                f"x{r['ceiling']:.1f} here)."
            )
        elif r["run"].startswith("second"):
            out.append(
                f"(end to end, second call, {model}: x{r['speed-up']:.2f}; the "
                "compiled sweep is cached)"
            )
    for r in results.get("sweep", {}).get("rows", []):
        if r["model"] == "logistic":
            ok = r["speed-up warm"] >= 3
            out.append(
                f"{'MET' if ok else 'NOT MET'}: grid sweep x{r['speed-up warm']:.1f} "
                "faster than K jitted runs in a Python loop on the logistic "
                "regression (target 3)."
            )
    sch = results.get("schedules", {})
    if sch.get("rows"):
        worst = max(sch["rows"], key=lambda r: r["ratio"])
        out.append(
            f"{'MET' if worst['ratio'] <= 1.0 else 'NOT MET'}: vectorised schedules "
            f"worst ratio {worst['ratio']:.2f} ({worst['schedule']})."
        )
        n = sch["loop"]["lrjax"][1]
        out.append(
            f"{'MET' if n == 1 else 'NOT MET'}: the training loop compiled {n} time(s)."
        )
    return out


def _num(cell: str):
    """A table cell back as the number ``table`` wrote, or the text."""
    if re.fullmatch(r"[-+]?\d+", cell):
        return int(cell)
    try:
        return float(cell) if any(c.isdigit() for c in cell) and " " not in cell else cell
    except ValueError:
        return cell


def read_doc(path: str) -> tuple[dict, dict, str]:
    """``(machine, results, command)`` back from a page that ``write_doc`` wrote, so that
    the page can be laid out again without rerunning (``--from-doc``)."""
    text = open(path).read()
    command = re.search(r"Generated by `([^`]*)`( in [0-9.]+ min)?", text)
    machine = {}
    m = re.search(r"^## (The machine|Machine)\n\n(.*?)\n\n", text, re.S | re.M)
    if m:
        machine = dict(re.findall(r"^- ([^:\n]+): (.*)$", m.group(2), re.M))
    results = {}
    titles = {
        "step": "Step and compile time",
        "bandwidth": "Bandwidth on one",
        "memory": "Optimizer-state memory",
        "schedules": "Schedules",
        "range_test": "Range test",
        "sweep": "Grid sweep",
        "quality": "Training quality",
    }
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        title, _, body = block.partition("\n")
        lines = [ln for ln in body.strip().split("\n")]
        rows_at = [i for i, ln in enumerate(lines) if ln.startswith("|")]
        if not rows_at or title in ("Machine", "The machine", "Targets"):
            continue
        notes = "\n".join(lines[: rows_at[0]]).strip()
        table_lines = [lines[i] for i in rows_at]
        heads = [h.strip() for h in table_lines[0].strip("|").split("|")]
        rows = []
        for ln in table_lines[2:]:
            cells = [c.strip() for c in ln.strip("|").split("|")]
            rows.append({h: _num(c) for h, c in zip(heads, cells) if c != ""})
        key = next((k for k, t in titles.items() if t and title.startswith(t)), title)
        results[key] = {"title": title, "notes": notes, "rows": rows}
    t = re.search(r"^## Targets\n\n(?:The project.*?\n\n)?(.*?)\n\n", text, re.S | re.M)
    results["_targets"] = re.findall(r"^- (.*)$", t.group(1), re.M) if t else []
    return machine, results, (command.group(0) if command else "")


def takeaways(results: dict) -> list[str]:
    """What a user should take from the figures, first: one sentence per benchmark."""
    out = []
    step = [
        r
        for r in results.get("step", {}).get("rows", [])
        if not str(r.get("optimizer", "")).startswith("grouped")
    ]
    if step:
        ratios = sorted(float(r["step ratio"]) for r in step)
        comp = sorted(float(r["compile ratio"]) for r in step)
        out.append(
            f"**An lrjax optimizer step costs what optax's does.** Over {len(step)} "
            f"optimizer × parameter-tree rows the step-time ratio lrjax/optax has median "
            f"{statistics.median(ratios):.2f} (range {ratios[0]:.2f}–{ratios[-1]:.2f}), "
            f"the compile-time ratio median {statistics.median(comp):.2f}. Both libraries "
            "compile to the same kernels ([kernel counts](kernel_counts.md)); a ratio "
            "a few percent either side of 1 is the noise of a shared machine."
        )
    mem = results.get("memory", {}).get("rows", [])
    if mem:
        extra = max(int(float(r["lrjax - optax bytes"])) for r in mem)
        out.append(
            f"**State memory is optax's, plus at most {extra} bytes**: the learning rate "
            "that `scale_by_learning_rate` records so that `current_learning_rate` can "
            "read it back."
        )
    for r in results.get("range_test", {}).get("rows", []):
        if str(r.get("run", "")).startswith("sweep only"):
            out.append(
                f"**The range test is one compiled program**: {float(r['speed-up']):.1f}× "
                f"faster than the same sweep as a Python loop on the {r.get('model')}."
            )
    for r in results.get("sweep", {}).get("rows", []):
        out.append(
            f"**A grid of rates trains as one program**: `sweep_learning_rates` ran "
            f"{r['rates x steps']} (rates × steps) {float(r['speed-up warm']):.1f}× faster "
            f"than the same runs from a Python loop on the {r['model']} "
            f"({float(r['speed-up cold']):.2f}× counting the first call's compile)."
        )
    quality = {r.get("method"): r for r in results.get("quality", {}).get("rows", [])}
    chosen, default = quality.get("lrjax adam @ range test"), quality.get("lrjax adam")
    if chosen and default:
        col = next((k for k in chosen if k.startswith("digits MLP")), None)
        if col:
            out.append(
                f"**A range-test rate trains faster than a default one**: on the {col} "
                f"target Adam took {chosen[col]} steps at the range test's rate against "
                f"{default[col]} at 1e-3."
            )
    return out


READING = (
    "Every comparison runs lrjax and optax interleaved in one process (A B A B …) and "
    "reports medians of warm runs, so a slow moment of the machine hits both alike. Read "
    "the **ratios**: below 1 lrjax is faster. Absolute times depend on this 2-core "
    "machine and are noisy; `docs/kernel_counts.md` gives the deterministic side "
    "(kernels and bytes of each compiled step), and [what it means](performance.md) "
    "puts the figures in the terms of a training loop."
)


def write_doc(machine: dict, results: dict, args, wall: float, command: str = "") -> str:
    if not command:
        command = (
            "Generated by `benchmarks/run.py"
            + (" --quick" if args.quick else "")
            + (" --all" if args.all else "")
            + (f" --only {args.only}" if args.only else "")
            + f"` in {wall / 60:.1f} min"
        )
    parts = [
        "# Benchmarks\n",
        command + "; do not edit by hand.\n",
        "## What to take from these figures\n",
        "\n".join(f"- {t}" for t in takeaways(results)) + "\n",
        "## How to read them\n",
        READING + "\n",
    ]
    for name in SUITE:
        if name not in results:
            continue
        r = results[name]
        parts += [f"## {r['title']}\n", r.get("notes", "") + "\n", table(r["rows"])]
    parts += [
        "## Targets\n",
        "The project's own targets, each met or not on this run:\n",
        "\n".join(f"- {t}" for t in results.get("_targets") or targets(results)) + "\n",
        "## The machine\n",
        "\n".join(f"- {k}: {v}" for k, v in machine.items()) + "\n",
    ]
    text = "\n".join(parts)
    path = (
        os.path.join(ROOT, "benchmarks", "last_quick.md")
        if args.quick
        else os.path.join(ROOT, "docs", "benchmarks.md")
    )
    if args.output:
        path = args.output
    with open(path, "w") as f:
        f.write(text)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller trees (smoke run)")
    ap.add_argument(
        "--all",
        action="store_true",
        help="every optimizer on the many-leaf tree (adds minutes of compiles)",
    )
    ap.add_argument("--only", default="", help=f"comma list from {','.join(SUITE)}")
    ap.add_argument(
        "--output", default="", help="markdown path (default docs/benchmarks.md)"
    )
    ap.add_argument(
        "--from-doc",
        default="",
        help="lay out again a page this script wrote, without measuring",
    )
    args = ap.parse_args(argv)
    chosen = [s for s in SUITE if not args.only or s in args.only.split(",")]
    if args.from_doc:
        machine, results, command = read_doc(args.from_doc)
        if args.only:  # measure these again, keep the rest of the page
            for name in chosen:
                results[name] = __import__(f"bench_{name}").run(
                    quick=args.quick, log=lambda s: print(s, flush=True)
                )
            fresh = targets({name: results[name] for name in chosen})
            results["_targets"] = [t for t in results["_targets"] if t not in fresh] + fresh
            now = _common.machine().get("date", "")
            command += (
                f"; `{','.join(chosen)}` measured again on {now} by "
                f"`benchmarks/run.py --from-doc docs/benchmarks.md --only "
                f"{args.only}`"
            )
        print(f"wrote {write_doc(machine, results, args, 0.0, command)}")
        return 0
    machine = _common.machine()
    print("machine: " + "; ".join(f"{k}={v}" for k, v in machine.items()), flush=True)
    t0 = time.perf_counter()
    results = {}
    for name in chosen:
        print(f"\n== {name}", flush=True)
        mod = __import__(f"bench_{name}")
        try:
            kw = {"every": args.all} if name == "step" else {}
            results[name] = mod.run(
                quick=args.quick, log=lambda s: print(s, flush=True), **kw
            )
        except Exception:  # noqa: BLE001  (one broken benchmark must not hide the rest)
            traceback.print_exc()
            results[name] = {
                "title": name,
                "rows": [],
                "notes": "FAILED: " + traceback.format_exc().splitlines()[-1],
            }
        print(table(results[name]["rows"]), flush=True)
    wall = time.perf_counter() - t0
    print("\nTargets:\n" + "\n".join("- " + t for t in targets(results)))
    print(f"\nwrote {write_doc(machine, results, args, wall)} ({wall:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
