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
        if r["optimizer"].startswith("grouped(adam") and ("transformer" in r["tree"] or "x" in r["tree"].split("(")[0]):
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
        out.append(f"{'MET' if f >= 0.9 else 'NOT MET'}: lrjax adam at {f:.2f} of the plain "
                   "update's bandwidth (target 0.90).")
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
        out.append(("MET" if not bad else "NOT MET") + ": lrjax state bytes <= optax's "
                   f"+ one scalar ({scalar} bytes: the recorded learning rate) "
                   + ("for every optimizer." if not bad else f"except: {bad}."))
    rt = results.get("range_test", {}).get("rows", [])
    for r in rt:
        model = r.get("model", "digits MLP")
        if r["run"].startswith("sweep only"):
            out.append(f"{'MET' if r['speed-up'] >= 10 else 'NOT MET'}: range test compiled "
                       f"sweep x{r['speed-up']:.1f} faster than the Python loop on the "
                       f"{model} (target 10; {r['lrjax ms/step']:.3f} against "
                       f"{r['loop ms/step']:.3f} ms per step; the bare steps in a scan take "
                       f"{r['bare scan ms/step']:.3f} ms, so no compiled sweep can exceed "
                       f"x{r['ceiling']:.1f} here).")
        elif r["run"].startswith("second"):
            out.append(f"(end to end, second call, {model}: x{r['speed-up']:.2f}; the "
                       "compiled sweep is cached)")
    sch = results.get("schedules", {})
    if sch.get("rows"):
        worst = max(sch["rows"], key=lambda r: r["ratio"])
        out.append(f"{'MET' if worst['ratio'] <= 1.0 else 'NOT MET'}: vectorised schedules "
                   f"worst ratio {worst['ratio']:.2f} ({worst['schedule']}).")
        n = sch["loop"]["lrjax"][1]
        out.append(f"{'MET' if n == 1 else 'NOT MET'}: the training loop compiled {n} time(s).")
    return out


def write_doc(machine: dict, results: dict, args, wall: float) -> str:
    parts = [
        "# Benchmarks\n",
        "Generated by `benchmarks/run.py"
        + (" --quick" if args.quick else "") + (" --all" if args.all else "")
        + (f" --only {args.only}" if args.only else "")
        + f"` in {wall / 60:.1f} min; do not edit by hand.\n",
        "## Machine\n",
        "\n".join(f"- {k}: {v}" for k, v in machine.items()) + "\n",
        "On a shared 2-core machine absolute times are noisy: ratios of interleaved runs "
        "are the figures to read, and `docs/kernel_counts.md` gives the deterministic "
        "side (kernels and bytes of each compiled step).\n",
        "## Targets\n",
        "\n".join(f"- {t}" for t in targets(results)) + "\n",
    ]
    for name in SUITE:
        if name not in results:
            continue
        r = results[name]
        parts += [f"## {r['title']}\n", r.get("notes", "") + "\n", table(r["rows"])]
    text = "\n".join(parts)
    path = (os.path.join(ROOT, "benchmarks", "last_quick.md") if args.quick
            else os.path.join(ROOT, "docs", "benchmarks.md"))
    if args.output:
        path = args.output
    with open(path, "w") as f:
        f.write(text)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller trees (smoke run)")
    ap.add_argument("--all", action="store_true",
                    help="every optimizer on the many-leaf tree (adds minutes of compiles)")
    ap.add_argument("--only", default="", help=f"comma list from {','.join(SUITE)}")
    ap.add_argument("--output", default="", help="markdown path (default docs/benchmarks.md)")
    args = ap.parse_args(argv)
    chosen = [s for s in SUITE if not args.only or s in args.only.split(",")]
    machine = _common.machine()
    print("machine: " + "; ".join(f"{k}={v}" for k, v in machine.items()), flush=True)
    t0 = time.perf_counter()
    results = {}
    for name in chosen:
        print(f"\n== {name}", flush=True)
        mod = __import__(f"bench_{name}")
        try:
            kw = {"every": args.all} if name == "step" else {}
            results[name] = mod.run(quick=args.quick, log=lambda s: print(s, flush=True), **kw)
        except Exception:  # noqa: BLE001  (one broken benchmark must not hide the rest)
            traceback.print_exc()
            results[name] = {"title": name, "rows": [],
                             "notes": "FAILED: " + traceback.format_exc().splitlines()[-1]}
        print(table(results[name]["rows"]), flush=True)
    wall = time.perf_counter() - t0
    print("\nTargets:\n" + "\n".join("- " + t for t in targets(results)))
    print(f"\nwrote {write_doc(machine, results, args, wall)} ({wall:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
