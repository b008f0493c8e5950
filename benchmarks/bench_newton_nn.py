"""Where Newton pays off and where it does not: a small transformer, and a convex problem.

    .venv/bin/python benchmarks/bench_newton_nn.py          # writes docs/newton.md's table
    .venv/bin/python benchmarks/bench_newton_nn.py --quick  # 1 seed, 10 steps: prints only

Two measurements, both on the CPU with one thread (as ``bench_newton.py``):

1. **A character-level transformer language model** (Flax linen: 2 pre-LayerNorm
   blocks, d_model 64, 4 heads, MLP 256, context 64, vocabulary from the text) trained
   for 40 steps of 32 sequences on the project's own guides (``TEXT_FILES`` below,
   concatenated in that order: a fresh clone has them, nothing is downloaded), the
   first 90% for training and the last 10% for validation. Per seed (initialisation and
   batch order) every method gets the same initial params and the same batches:
   ``lrjax.newton_cg()`` with its defaults, ``lrjax.newton_cg(adaptive_damping=True)``,
   and ``lrjax.adamw`` at 1e-3, 3e-3 and 1e-2. Newton-CG gets the minibatch loss as
   ``value_fn`` (with the batch as keyword arguments). Reported: the validation loss
   after 40 steps (mean over every non-overlapping window of the validation text), the
   rejected steps and CG statistics from Newton-CG's state, and the median warm step
   time (one jitted step, compile excluded) with its ratio to adamw's.
2. **Multinomial logistic regression with N = 10^4 parameters** (2000 samples, 500
   features with scales spread over two decades, 20 classes, L2 1e-3; float64, full
   batch): ``lrjax.newton_cg()``, ``optax.lbfgs()`` and ``lrjax.adam`` (best of 1e-3,
   1e-2, 1e-1) to ‖∇f‖ < 1e-6, each one compiled ``lax.while_loop``. Dense
   ``lrjax.newton`` is not run: its Hessian would be 10^4 × 10^4 (0.75 GiB) and take
   10^4 Hessian-vector products to build.

About 3 minutes of CPU time (the wall time is longer when the machine is shared).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pathlib  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import lrjax  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Hand-written guides only: no page that a benchmark rewrites (this script rewrites
# newton.md), so the text does not change when the figures do.
TEXT_FILES = (
    "conventions.md",
    "schedules.md",
    "plateau.md",
    "hypergradient.md",
    "reliability.md",
    "frameworks.md",
)
STEPS, BATCH, CONTEXT = 40, 32, 64
D_MODEL, HEADS, LAYERS = 64, 4, 2
ADAMW_RATES = (1e-3, 3e-3, 1e-2)
MARK = "newton-nn"


# ---------------------------------------------------------------------- the model


def corpus() -> tuple[np.ndarray, np.ndarray, int, int]:
    text = "\n".join((ROOT / "docs" / name).read_text() for name in TEXT_FILES)
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    data = np.array([index[c] for c in text], np.int32)
    cut = int(0.9 * len(data))
    return data[:cut], data[cut:], len(vocab), len(text)


def transformer(vocab: int):
    import flax.linen as nn

    class Block(nn.Module):
        @nn.compact
        def __call__(self, x):
            mask = nn.make_causal_mask(jnp.ones(x.shape[:2], jnp.int32))
            h = nn.LayerNorm()(x)
            x = x + nn.MultiHeadDotProductAttention(num_heads=HEADS)(h, h, mask=mask)
            h = nn.LayerNorm()(x)
            return x + nn.Dense(D_MODEL)(nn.gelu(nn.Dense(4 * D_MODEL)(h)))

    class CharLM(nn.Module):
        @nn.compact
        def __call__(self, tokens):
            x = nn.Embed(vocab, D_MODEL)(tokens)
            x = x + self.param("pos", nn.initializers.normal(0.02), (CONTEXT, D_MODEL))
            for _ in range(LAYERS):
                x = Block()(x)
            return nn.Dense(vocab)(nn.LayerNorm()(x))

    return CharLM()


def lm_problem():
    """(loss(params, x, y), init(seed), batches(seed, steps), val_loss(params), info)."""
    train, val, vocab, n_chars = corpus()
    net = transformer(vocab)

    def loss(p, x, y):
        logits = net.apply(p, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def init(seed):
        return net.init(jax.random.PRNGKey(seed), jnp.zeros((1, CONTEXT), jnp.int32))

    def batches(seed, steps):
        rng = np.random.default_rng(1000 + seed)
        starts = rng.integers(0, len(train) - CONTEXT - 1, size=(steps, BATCH))
        return jnp.asarray(train[starts[..., None] + np.arange(CONTEXT + 1)])

    n_val = (len(val) - 1) // CONTEXT
    vx = jnp.asarray(val[: n_val * CONTEXT].reshape(n_val, CONTEXT))
    vy = jnp.asarray(val[1 : n_val * CONTEXT + 1].reshape(n_val, CONTEXT))
    val_loss = jax.jit(lambda p: loss(p, vx, vy))
    info = {
        "vocab": vocab,
        "chars": n_chars,
        "val_windows": n_val,
        "params": sum(x.size for x in jax.tree.leaves(init(0))),
    }
    return loss, init, batches, val_loss, info


def compiled_step(opt, loss, params, xy, needs_loss: bool):
    def step(p, s, xy):
        x, y = xy[:, :-1], xy[:, 1:]
        value, grad = jax.value_and_grad(loss)(p, x, y)
        if needs_loss:
            u, s = opt.update(grad, s, p, value=value, value_fn=loss, x=x, y=y)
        else:
            u, s = opt.update(grad, s, p)
        return optax.apply_updates(p, u), s, (value, optax.tree.norm(u))

    return jax.jit(step).lower(params, opt.init(params), xy).compile()


def part_transformer(seeds: int, steps: int) -> tuple[list[dict], dict]:
    methods = [
        ("`newton_cg()`", lrjax.newton_cg(), True),
        (
            "`newton_cg(adaptive_damping=True)`",
            lrjax.newton_cg(adaptive_damping=True),
            True,
        ),
    ] + [(f"`adamw({r:g})`", lrjax.adamw(r), False) for r in ADAMW_RATES]
    loss, init, make_batches, val_loss, info = lm_problem()
    p0, b0 = init(0), make_batches(0, 1)[0]
    steps_fn = [compiled_step(opt, loss, p0, b0, nl) for _, opt, nl in methods]
    info["val_init"] = []
    runs = []
    for seed in range(seeds):
        params, batches = init(seed), make_batches(seed, steps)
        info["val_init"].append(float(val_loss(params)))
        live = [[params, opt.init(params)] for _, opt, _ in methods]
        log = [{"times": [], "cg": [], "negative": [], "norm": []} for _ in methods]
        # The methods step in lockstep (A B C … A B C …), so that a slow period of this
        # shared machine hits every method alike.
        for xy in batches:
            for (_name, _opt, needs_loss), fn, cur, rec in zip(
                methods, steps_fn, live, log
            ):
                t0 = time.perf_counter()
                p, s, (value, norm) = jax.block_until_ready(fn(cur[0], cur[1], xy))
                rec["times"].append(time.perf_counter() - t0)
                cur[0], cur[1], rec["train_last"] = p, s, float(value)
                rec["norm"].append(float(norm))
                if needs_loss:  # newton_cg = chain(scale_by_newton_cg, learning rate)
                    rec["cg"].append(int(s[0].cg_iterations))
                    rec["negative"].append(bool(s[0].negative_curvature))
        for (name, _, needs_loss), cur, rec in zip(methods, live, log):
            r = {
                "method": name,
                "seed": seed,
                "val": float(val_loss(cur[0])),
                "train_last": rec["train_last"],
                "step_norm": float(np.median(rec["norm"])),
                "step_ms": statistics.median(rec["times"]) * 1e3,
            }
            if needs_loss:
                r.update(
                    rejected=int(cur[1][0].num_rejected),
                    cg_mean=float(np.mean(rec["cg"])),
                    negative=int(np.sum(rec["negative"])),
                    damping=float(cur[1][0].damping),
                )
            runs.append(r)
            print(r, flush=True)
    info["val_init"] = float(np.mean(info["val_init"]))
    return runs, info


# ------------------------------------------------------------- the convex problem


def softmax_problem(n=2000, features=500, classes=20, l2=1e-3, seed=0):
    rng = np.random.default_rng(seed)
    scales = np.logspace(0, -2, features)
    X = rng.standard_normal((n, features)) * scales
    W_true = rng.standard_normal((features, classes)) / scales[:, None] / np.sqrt(features)
    logits = X @ W_true
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(classes, p=row) for row in p])
    X, y = jnp.asarray(X), jnp.asarray(y)

    def loss(W):
        ce = optax.softmax_cross_entropy_with_integer_labels(X @ W, y).mean()
        return ce + 0.5 * l2 * jnp.sum(W * W)

    return loss, jnp.zeros((features, classes))


def solve(opt, loss, w0, tol, max_iter, linesearch, repeat=1):
    """One compiled loop to ‖∇f‖ < tol: (iterations, products, ‖g‖, f, best run s)."""
    if linesearch:
        vg = optax.value_and_grad_from_state(loss)
    else:
        vg = jax.value_and_grad(loss)

    def body(c):
        w, s, k, _, hvps = c
        value, grad = vg(w, state=s) if linesearch else vg(w)
        gnorm = optax.tree.norm(grad)
        u, s2 = opt.update(grad, s, w, value=value, grad=grad, value_fn=loss)
        done = gnorm < tol

        def keep(a, b):
            return jax.tree.map(lambda x, y: jnp.where(done, x, y), a, b)

        cg = s2[0].cg_iterations if hasattr(s2[0], "cg_iterations") else 0
        return (
            keep(w, optax.apply_updates(w, u)),
            keep(s, s2),
            k + jnp.where(done, 0, 1),
            gnorm,
            hvps + jnp.where(done, 0, cg),
        )

    def cond(c):
        return (c[3] >= tol) & (c[2] < max_iter)

    def run(w0):
        zero = jnp.zeros([], jnp.int32)
        return jax.lax.while_loop(cond, body, (w0, opt.init(w0), zero, jnp.inf, zero))

    compiled = jax.jit(run).lower(w0).compile()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        w, _, k, _, hvps = jax.block_until_ready(compiled(w0))
        times.append(time.perf_counter() - t0)
    seconds = min(times)
    gnorm = float(optax.tree.norm(jax.grad(loss)(w)))
    return int(k), int(hvps), gnorm, float(loss(w)), seconds


def part_convex() -> list[tuple]:
    tol = 1e-6
    rows = []
    with jax.enable_x64(True):
        loss, w0 = softmax_problem()
        for name, opt, iters, ls in [
            ("`lrjax.newton_cg()`", lrjax.newton_cg(), 100, False),
            ("`optax.lbfgs()`", optax.lbfgs(), 3000, True),
        ]:
            rows.append((name,) + solve(opt, loss, w0, tol, iters, ls, repeat=3))
            print(rows[-1], flush=True)
        adam = {}
        for lr in (1e-3, 1e-2, 1e-1):
            adam[lr] = solve(lrjax.adam(lr), loss, w0, tol, 1000, False)
            print(lr, adam[lr], flush=True)
        # Fewest iterations to the tolerance within 1000 (else the smallest ‖∇f‖),
        # timed again.
        lr = min(adam, key=lambda r: (adam[r][2] >= tol, adam[r][0], adam[r][2]))
        rows.append(
            (f"`lrjax.adam({lr:g})` (best of 1e-3, 1e-2, 1e-1)",)
            + solve(lrjax.adam(lr), loss, w0, tol, 1000, False, repeat=3)
        )
    return rows


# ------------------------------------------------------------------------ report


def _num(x: float) -> str:
    return f"{x:.2f}" if abs(x) < 1e3 else f"{x:.1e}"


def render(runs, info, convex, seeds, steps, seconds) -> str:
    names = list(dict.fromkeys(r["method"] for r in runs))
    adam_ms = statistics.median(
        r["step_ms"] for r in runs if r["method"].startswith("`adamw")
    )
    best_adamw = min(
        (n for n in names if n.startswith("`adamw")),
        key=lambda n: np.median([r["val"] for r in runs if r["method"] == n]),
    )
    lines = [
        f"<!-- {MARK}:start (written by benchmarks/bench_newton_nn.py) -->",
        f"A character-level transformer (2 layers, d_model {D_MODEL}, {HEADS} heads, "
        f"context {CONTEXT}, {info['params']:,} parameters, vocabulary {info['vocab']}) "
        f"on {info['chars']:,} characters of this site's guides, {steps} steps of "
        f"{BATCH} sequences, {seeds} seeds (same init and batches for every method); "
        f"validation loss at init {info['val_init']:.2f} nats/char. Validation loss: "
        "median over seeds (min–max); step counts and CG figures: mean over seeds; "
        "‖update‖: the median over steps and seeds of the update's Euclidean norm; step "
        "time: the median warm jitted step (compile excluded, the methods stepping in "
        f"lockstep) on this shared 2-core CPU, one thread. {seconds / 60:.1f} min. "
        "Reproduce with `python benchmarks/bench_newton_nn.py`.",
        "",
        f"| method | validation loss after {steps} steps | rejected steps | "
        "CG products per step | negative-curvature exits | median ‖update‖ | step (ms) "
        "| × adamw step |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in names:
        mine = [r for r in runs if r["method"] == n]
        val = [r["val"] for r in mine]
        ms = statistics.median(r["step_ms"] for r in mine)
        if "rejected" in mine[0]:
            rej = f"{np.mean([r['rejected'] for r in mine]):.1f} of {steps}"
            cg = f"{np.mean([r['cg_mean'] for r in mine]):.1f}"
            neg = f"{np.mean([r['negative'] for r in mine]):.1f} of {steps}"
        else:
            rej = cg = neg = "—"
        label = n + (" (best rate)" if n == best_adamw else "")
        norm = np.median([r["step_norm"] for r in mine])
        lines.append(
            f"| {label} | {_num(np.median(val))} ({_num(min(val))}–{_num(max(val))}) "
            f"| {rej} | {cg} | {neg} | {_num(norm)} | {ms:.0f} | {ms / adam_ms:.1f} |"
        )
    lines += [
        "",
        "A convex problem of $10^4$ parameters: multinomial logistic regression, 2000 "
        "samples × 500 features (scales spread over two decades) × 20 classes, L2 1e-3, "
        "float64, full batch, to ‖∇f‖ < 1e-6 (one compiled loop, best of 3 warm runs; "
        "*CG products* are Newton-CG's Hessian-vector products, each about two "
        "gradients).",
        "",
        "| method | iterations | CG products | final ‖∇f‖ | final loss | wall (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, k, hvps, g, f, s in convex:
        lines.append(f"| {name} | {k} | {hvps or '—'} | {g:.1e} | {f:.6f} | {s:.2f} |")
    lines.append(f"<!-- {MARK}:end -->")
    return "\n".join(lines)


def write_docs(body: str) -> None:
    path = ROOT / "docs" / "newton.md"
    text, n = re.subn(
        rf"<!-- {MARK}:start.*?<!-- {MARK}:end -->",
        lambda m: body,
        path.read_text(),
        flags=re.S,
    )
    if n != 1:
        raise SystemExit(f"docs/newton.md has no {MARK}:start/end markers")
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="the transformer: 1 seed, 10 steps; print only"
    )
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    seeds, steps = (1, 10) if args.quick else (args.seeds, STEPS)
    t0 = time.perf_counter()
    runs, info = part_transformer(seeds, steps)
    convex = part_convex()
    body = render(runs, info, convex, seeds, steps, time.perf_counter() - t0)
    print(body)
    if not args.quick:
        write_docs(body)
        print("wrote docs/newton.md")


if __name__ == "__main__":
    main()
