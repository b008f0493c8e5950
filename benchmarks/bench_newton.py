"""Newton's method in lrjax beside optax.lbfgs and SciPy: iterations, time, memory.

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/bench_newton.py          # writes docs/newton_benchmarks.md
    .venv/bin/python benchmarks/bench_newton.py --quick  # smaller sizes, prints only

Three parts, all float64 on the CPU:

1. Iterations and wall time to ‖g‖ < 1e-8 on L2-regularised logistic regression
   (2000×50, L2 1e-3) and on 2-D Rosenbrock from (−1.2, 1), for lrjax.newton,
   lrjax.newton_cg (alone and with optax's backtracking line search), optax.lbfgs and
   SciPy's trust-exact and Newton-CG. The lrjax and optax loops run compiled inside one
   ``jax.lax.while_loop``; SciPy calls jitted JAX functions for f, ∇f and ∇²f / Hv.
2. Dense step time against N (100 … 2000), split into building H with jax.hessian and
   solving with Cholesky, LU and eigh.
3. Newton-CG step time at N = 1e4, 1e5, 1e6 on the chained Rosenbrock function, with the
   compiled program's memory (XLA's memory_analysis) and the process's peak RSS, beside
   the N×N×8 bytes that a Hessian would need.
"""

from __future__ import annotations

import argparse
import datetime
import os

# One thread for XLA, Eigen and LAPACK, for every method alike: on a shared 2-core
# machine multithreaded kernels measure the scheduler (a descheduled worker thread
# stalls a whole Cholesky), and single-threaded figures compare like with like.
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pathlib  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import scipy  # noqa: E402
import scipy.optimize  # noqa: E402

import lrjax  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOL = 1e-8
MAX_ITER = 500


# ----------------------------------------------------------------------------------
# Problems
# ----------------------------------------------------------------------------------


def logistic_problem(n_samples=2000, n_features=50, l2=1e-3, seed=0):
    """The test suite's problem: noisy labels from a random logistic model."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    w_true = rng.standard_normal(n_features)
    y = np.where(rng.random(n_samples) < 1 / (1 + np.exp(-X @ w_true)), 1.0, -1.0)
    X, y = jnp.asarray(X), jnp.asarray(y)

    def loss(w):
        return jnp.mean(jnp.logaddexp(0.0, -y * (X @ w))) + 0.5 * l2 * (w @ w)

    return loss, jnp.zeros(n_features)


def rosenbrock(w):
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


def chained_rosenbrock(w):
    """Σ 100 (x_{i+1} − x_i²)² + (1 − x_i)²: a tridiagonal Hessian, O(N) per product."""
    return jnp.sum(100 * (w[1:] - w[:-1] ** 2) ** 2 + (1 - w[:-1]) ** 2)


# ----------------------------------------------------------------------------------
# Timing helpers
# ----------------------------------------------------------------------------------


def timed(fn, *args, repeat=5):
    """Best wall time of ``repeat`` calls after a warm-up; returns (s, output).

    The minimum, as ``timeit`` recommends: on a shared machine the other runs measure
    the other jobs' load, not this code.
    """
    out = jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times), out


def solve_with(opt, loss, x0, linesearch=False):
    """Compiled loop until ‖∇f‖ < TOL; returns (iterations, final ‖g‖, run s, compile s)."""
    value_and_grad = (
        optax.value_and_grad_from_state(loss) if linesearch else jax.value_and_grad(loss)
    )

    def body(carry):
        x, state, k, _ = carry
        if linesearch:
            value, grad = value_and_grad(x, state=state)
        else:
            value, grad = value_and_grad(x)
        gnorm = optax.tree.norm(grad)
        u, new_state = opt.update(grad, state, x, value=value, grad=grad, value_fn=loss)
        # The norm is of the gradient at x: stop before stepping once it is small.
        done = gnorm < TOL
        x = jax.tree.map(lambda a, b: jnp.where(done, a, b), x, optax.apply_updates(x, u))
        state = jax.tree.map(lambda a, b: jnp.where(done, a, b), state, new_state)
        return x, state, k + jnp.where(done, 0, 1), gnorm

    def cond(carry):
        _, _, k, gnorm = carry
        return (gnorm >= TOL) & (k < MAX_ITER)

    @jax.jit
    def run(x0):
        start = (x0, opt.init(x0), jnp.zeros([], jnp.int32), jnp.asarray(jnp.inf))
        return jax.lax.while_loop(cond, body, start)

    t0 = time.perf_counter()
    jax.block_until_ready(run(x0))
    compile_s = time.perf_counter() - t0
    seconds, (x, _, k, gnorm) = timed(run, x0)
    final = float(optax.tree.norm(jax.grad(loss)(x)))
    return int(k), final, seconds, compile_s


def scipy_solve(loss, x0, method):
    fun = jax.jit(loss)
    jac = jax.jit(jax.grad(loss))
    hess = jax.jit(jax.hessian(loss))
    hessp = jax.jit(lambda x, v: jax.jvp(jax.grad(loss), (x,), (v,))[1])
    x0 = np.asarray(x0)
    kwargs = dict(
        fun=lambda x: float(fun(x)),
        x0=x0,
        jac=lambda x: np.asarray(jac(x)),
        method=method,
    )
    if method == "trust-exact":
        kwargs.update(hess=lambda x: np.asarray(hess(x)), options={"gtol": TOL})
    else:
        # SciPy's Newton-CG stops on the step size (xtol), not on ‖g‖; 1e-12 takes it
        # below ‖g‖ = 1e-8 on both problems (the final norm is reported).
        kwargs.update(hessp=lambda x, v: np.asarray(hessp(x, v)), options={"xtol": 1e-12})
    scipy.optimize.minimize(**kwargs)  # warm-up: compiles the jitted callbacks
    start = time.perf_counter()
    res = scipy.optimize.minimize(**kwargs)
    seconds = time.perf_counter() - start
    return res.nit, float(np.linalg.norm(jac(res.x))), seconds


# ----------------------------------------------------------------------------------
# Parts
# ----------------------------------------------------------------------------------


def part_convergence():
    backtracking = lambda: optax.scale_by_backtracking_linesearch(  # noqa: E731
        max_backtracking_steps=30, store_grad=True
    )
    methods = [
        ("lrjax.newton()", lambda: lrjax.newton(), False),
        (
            "lrjax.newton() + backtracking",
            lambda: optax.chain(lrjax.newton(), backtracking()),
            True,
        ),
        (
            "lrjax.newton(adaptive_damping=True)",
            lambda: lrjax.newton(adaptive_damping=True),
            False,
        ),
        ("lrjax.newton_cg()", lambda: lrjax.newton_cg(), False),
        (
            "lrjax.newton_cg() + backtracking",
            lambda: optax.chain(lrjax.newton_cg(), backtracking()),
            True,
        ),
        ("optax.lbfgs()", lambda: optax.lbfgs(), True),
    ]
    logistic, w0 = logistic_problem()
    problems = [
        ("logistic 2000×50", logistic, w0),
        ("Rosenbrock 2-D", rosenbrock, jnp.array([-1.2, 1.0])),
    ]
    rows = []
    for pname, loss, x0 in problems:
        for mname, make, linesearch in methods:
            k, g, seconds, compile_s = solve_with(make(), loss, x0, linesearch)
            rows.append((pname, mname, k, g, seconds * 1e3, compile_s))
            print(rows[-1], flush=True)
        for method in ("trust-exact", "Newton-CG"):
            k, g, seconds = scipy_solve(loss, x0, method)
            rows.append((pname, f"scipy {method}", k, g, seconds * 1e3, float("nan")))
            print(rows[-1], flush=True)
    return rows


def _cholesky_solve(h, g):
    return jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(h), True), g)


def _eigh_solve(h, g):
    w, q = jnp.linalg.eigh(h)
    return q @ ((q.T @ g) / jnp.abs(w))


def part_dense(sizes, n_samples=2000):
    rows = []
    for n in sizes:
        loss, w0 = logistic_problem(n_samples=n_samples, n_features=n, seed=1)
        w = w0 + 0.01
        g = jax.grad(loss)(w)
        build, h = timed(jax.jit(jax.hessian(loss)), w)
        chol, _ = timed(jax.jit(_cholesky_solve), h, g)
        lu, _ = timed(jax.jit(jnp.linalg.solve), h, g)
        eig, _ = timed(jax.jit(_eigh_solve), h, g)
        tx = lrjax.scale_by_newton()
        step = jax.jit(
            lambda w, s, tx=tx, loss=loss: tx.update(jax.grad(loss)(w), s, w, value_fn=loss)
        )
        full, _ = timed(step, w, tx.init(w))
        rows.append((n, build * 1e3, chol * 1e3, lu * 1e3, eig * 1e3, full * 1e3))
        print(rows[-1], flush=True)
    return rows


def part_cg(sizes, maxiter=10):
    rows = []
    for n in sizes:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rng = np.random.default_rng(2)
        # Near the minimiser (1, …, 1) the Hessian is positive definite, so CG runs its
        # full `maxiter` products (the forcing term is tiny) and the time is per 10 HVPs.
        w = jnp.asarray(1.0 + 0.02 * rng.standard_normal(n))
        tx = lrjax.scale_by_newton_cg(maxiter=maxiter, forcing=1e-12)
        state = tx.init(w)

        def step(w, s, tx=tx):
            g = jax.grad(chained_rosenbrock)(w)
            return tx.update(g, s, w, value_fn=chained_rosenbrock)

        compiled = jax.jit(step).lower(w, state).compile()
        mem = compiled.memory_analysis()
        temp = getattr(mem, "temp_size_in_bytes", float("nan"))
        args = getattr(mem, "argument_size_in_bytes", float("nan"))
        outs = getattr(mem, "output_size_in_bytes", float("nan"))
        seconds, (_, new_state) = timed(compiled, w, state)
        grad_s, _ = timed(jax.jit(jax.grad(chained_rosenbrock)), w)
        # ru_maxrss is the peak so far (KiB on Linux): its growth over this size bounds
        # what this size's step needed beyond the previous peak.
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss_mb = (rss_after - rss_before) / 1024
        rows.append(
            (
                n,
                int(new_state.cg_iterations),
                seconds * 1e3,
                grad_s * 1e3,
                temp / 2**20,
                (args + outs) / 2**20,
                rss_mb,
                n * n * 8 / 2**30,
            )
        )
        print(rows[-1], flush=True)
    return rows


# ----------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------


def render(conv, dense, cg, started, elapsed):
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    lines = [
        "# Newton benchmarks",
        "",
        "Generated by `benchmarks/bench_newton.py` "
        f"on {started:%Y-%m-%d %H:%M} in {elapsed / 60:.1f} min; do not edit by hand.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        "(the machine is shared: wall times are inflated by the other jobs' load, "
        "iteration counts are not). jax "
        f"{jax.__version__}, optax {optax.__version__}, scipy {scipy.__version__}, "
        "float64, CPU, one thread (`XLA_FLAGS`, `OPENBLAS_NUM_THREADS`).",
        "",
        "## Iterations and wall time to ‖∇f‖ < 1e-8",
        "",
        "lrjax and optax: one compiled `lax.while_loop`, best of 5 warm runs; SciPy: "
        "`scipy.optimize.minimize` with jitted JAX callbacks, one warm run.",
        "",
        "| problem | method | iterations | final ‖∇f‖ | wall (ms) | compile (s) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for pname, mname, k, g, ms, cs in conv:
        cs_txt = "—" if np.isnan(cs) else f"{cs:.1f}"
        lines.append(f"| {pname} | {mname} | {k} | {g:.1e} | {ms:.1f} | {cs_txt} |")
    lines += [
        "",
        "## Dense step time against N (logistic regression, 2000 samples)",
        "",
        "Building H with `jax.hessian` (forward-over-reverse) against the solves; the "
        "full step is one jitted `scale_by_newton` update (Hessian, Cholesky ladder, "
        "loss at the trial point). Best of 5, ms.",
        "",
        "| N | jax.hessian | Cholesky solve | LU solve | eigh solve | full update |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n, build, chol, lu, eig, full in dense:
        lines.append(
            f"| {n} | {build:.1f} | {chol:.1f} | {lu:.1f} | {eig:.1f} | {full:.1f} |"
        )
    lines += [
        "",
        "## Newton-CG step time and memory (chained Rosenbrock)",
        "",
        "One jitted `scale_by_newton_cg(maxiter=10)` update: 10 Hessian-vector products "
        "forward-over-reverse on the params, plus the trial-point loss. *XLA temp* is "
        "the compiled program's scratch memory (`memory_analysis().temp_size_in_bytes`); "
        "*args+outputs* its inputs and outputs; *peak RSS growth* how much the process's "
        "peak resident memory rose while compiling and running this size (this part "
        "runs before the dense one, so the peak is not masked by it). An N×N float64 "
        "Hessian would need the last column.",
        "",
        "| N | CG iterations | step (ms) | one gradient (ms) | XLA temp (MiB) "
        "| args+outputs (MiB) | peak RSS growth (MiB) | N×N Hessian (GiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, iters, ms, gms, temp, io, rss, dense_gib in cg:
        lines.append(
            f"| {n:.0e} | {iters} | {ms:.1f} | {gms:.2f} | {temp:.1f} | {io:.1f} "
            f"| {rss:.0f} | {dense_gib:,.1f} |"
        )
    lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, print only")
    args = parser.parse_args()
    started = datetime.datetime.now()
    t0 = time.perf_counter()
    conv = part_convergence()
    cg = part_cg([10_000] if args.quick else [10_000, 100_000, 1_000_000])
    dense = part_dense([100, 200] if args.quick else [100, 250, 500, 1000, 2000])
    text = render(conv, dense, cg, started, time.perf_counter() - t0)
    if args.quick:
        print(text)
    else:
        out = ROOT / "docs" / "newton_benchmarks.md"
        out.write_text(text)
        print(text)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
