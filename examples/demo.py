"""lrjax demonstration: train a small MLP on scikit-learn's digits under several
learning-rate schedules and optimizers, print one table and write one PNG report.

Run with ``python examples/demo.py [--out DIR]``; everything runs on the CPU in well
under two minutes on two cores, and the data ships with scikit-learn (no download).
"""

from __future__ import annotations

import argparse
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import lrjax

STEPS = 1500
BATCH = 64
TARGET = 0.1  # train loss that counts as "reached"


def load_digits(seed: int = 0):
    """Standardised digits, split 75/25 into train and test."""
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    x, y = _load(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=y
    )
    mean, std = x_tr.mean(0), x_tr.std(0) + 1e-3
    return (x_tr - mean) / std, y_tr, (x_te - mean) / std, y_te


def init_mlp(key, sizes=(64, 64, 10)):
    params = []
    for k, (n_in, n_out) in zip(
        jax.random.split(key, len(sizes) - 1), zip(sizes, sizes[1:])
    ):
        w = jax.random.normal(k, (n_in, n_out), jnp.float32) * jnp.sqrt(2.0 / n_in)
        params.append({"w": w, "b": jnp.zeros(n_out, jnp.float32)})
    return params


def predict(params, x):
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def loss_fn(params, x, y):
    logits = predict(params, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def batches(x, y, steps, key):
    """Index arrays of shuffled mini-batches for ``steps`` updates."""
    n = x.shape[0]
    per_epoch = n // BATCH
    epochs = -(-steps // per_epoch)
    keys = jax.random.split(key, epochs)
    idx = jnp.concatenate([jax.random.permutation(k, n)[: per_epoch * BATCH] for k in keys])
    return idx[: steps * BATCH].reshape(steps, BATCH)


def train(opt, data, steps=STEPS, seed=0):
    """Train with ``opt`` in one compiled ``lax.scan``; returns per-step records."""
    x_tr, y_tr, x_te, y_te = (jnp.asarray(a) for a in data)
    params = init_mlp(jax.random.PRNGKey(seed))
    idx = batches(x_tr, y_tr, steps, jax.random.PRNGKey(seed + 1))

    @jax.jit
    def run(params, idx):
        def step(carry, batch_idx):
            params, state = carry
            loss, grads = jax.value_and_grad(loss_fn)(
                params, x_tr[batch_idx], y_tr[batch_idx]
            )
            updates, state = opt.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            full = loss_fn(params, x_tr, y_tr)
            return (params, state), (full, lrjax.current_learning_rate(state))

        (params, _), (losses, lrs) = jax.lax.scan(step, (params, opt.init(params)), idx)
        accuracy = jnp.mean(jnp.argmax(predict(params, x_te), -1) == y_te)
        return losses, lrs, accuracy

    losses, lrs, acc = run(params, idx)
    return np.asarray(losses), np.asarray(lrs), float(acc)


def steps_to(losses, target=TARGET):
    hit = np.nonzero(losses <= target)[0]
    return int(hit[0]) + 1 if hit.size else None


def range_test(data, seed=0):
    """The learning-rate range test for Adam on the MLP, as one compiled sweep."""
    x_tr, y_tr = jnp.asarray(data[0]), jnp.asarray(data[1])
    idx = batches(x_tr, y_tr, 120, jax.random.PRNGKey(seed + 2))
    return lrjax.find_learning_rate(
        lambda p, b: loss_fn(p, x_tr[b], y_tr[b]),
        init_mlp(jax.random.PRNGKey(seed)),
        idx,
        optimizer=lrjax.adam,
        min_lr=1e-6,
        max_lr=1.0,
        num_steps=120,
    )


def methods(suggested: float, steps: int):
    """The optimizers compared on the MLP."""
    eta = 0.1
    return {
        "sgd constant 0.1": lrjax.sgd(eta),
        "sgd time-based d=2e-6": lrjax.sgd(lrjax.time_based_decay(eta, 2e-6)),
        "sgd step-based 0.5/300": lrjax.sgd(
            lrjax.step_decay(eta, drop=0.5, drop_every=300)
        ),
        "sgd exponential d=1e-3": lrjax.sgd(lrjax.exponential_decay(eta, decay=1e-3)),
        "adam 1e-3": lrjax.adam(1e-3),
        "adam_hd from 1e-3": lrjax.adam_hd(1e-3),
        f"adam at suggestion {suggested:.1e}": lrjax.adam(suggested),
        f"adam one-cycle max {suggested:.1e}": lrjax.adam(
            lrjax.one_cycle(suggested, total_steps=steps)
        ),
    }


def logistic_problem(data, l2=1e-3):
    """Multinomial logistic regression on the digits, L2-regularised: strictly convex."""
    x_tr, y_tr = jnp.asarray(data[0], jnp.float64), jnp.asarray(data[1])
    params = {"w": jnp.zeros((64, 10), jnp.float64), "b": jnp.zeros(10, jnp.float64)}

    def loss(p):
        logits = x_tr @ p["w"] + p["b"]
        xent = optax.softmax_cross_entropy_with_integer_labels(logits, y_tr).mean()
        return xent + 0.5 * l2 * jnp.sum(p["w"] ** 2)

    return params, loss


def newton_vs_gd(data, iterations=(12, 3000)):
    """Newton's method against gradient descent on the convex logistic problem.

    Returns the loss curves and the number of iterations each needs to bring the loss
    within 1e-6 (relative) of the optimum, which Newton itself pins down.
    """
    with jax.enable_x64(True):
        params, loss = logistic_problem(data)
        curves = {}
        for name, opt, n in (
            ("newton", lrjax.newton(), iterations[0]),
            ("sgd 0.5 (full batch)", lrjax.sgd(0.5), iterations[1]),
        ):

            @jax.jit
            def run(p, opt=opt, n=n):
                def step(carry, _):
                    p, state = carry
                    value, g = jax.value_and_grad(loss)(p)
                    u, state = opt.update(g, state, p, value=value, grad=g, value_fn=loss)
                    p = optax.apply_updates(p, u)
                    return (p, state), loss(p)

                return jax.lax.scan(step, (p, opt.init(p)), length=n)[1]

            curves[name] = np.asarray(run(params))
        best = min(float(c.min()) for c in curves.values())
        reached = {name: steps_to(c, best * (1 + 1e-6)) for name, c in curves.items()}
    return curves, best, reached


def report(results, finder, newton, out: pathlib.Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    ax_lr, ax_loss, ax_find, ax_newton = axes.ravel()
    for name, (losses, lrs, _acc, _t) in results.items():
        ax_lr.plot(np.arange(len(lrs)), lrs, label=name)
        ax_loss.plot(np.arange(len(losses)), losses, label=name)
    ax_lr.set(title="learning rate per update", xlabel="update", yscale="log")
    ax_loss.set(
        title="train loss (full batch), MLP on digits", xlabel="update", yscale="log"
    )
    ax_loss.axhline(TARGET, color="grey", lw=0.8, ls="--")
    ax_lr.legend(fontsize=7)
    finder.plot(ax=ax_find)
    ax_find.set_title(f"range test (Adam): suggestion {finder.suggestion:.2e}")
    # The raw loss explodes at the end of the sweep; keep the informative part in view.
    ax_find.set_ylim(0.0, 1.5 * float(finder.smoothed_losses[0]))
    curves, best, _ = newton
    for name, curve in curves.items():
        ax_newton.plot(np.arange(1, len(curve) + 1), curve - best + 1e-16, label=name)
    ax_newton.set(
        title="logistic regression: loss - optimum",
        xlabel="iteration",
        xscale="log",
        yscale="log",
    )
    ax_newton.legend(fontsize=8)
    fig.tight_layout()
    path = out / "lrjax_demo.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the PNG report")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: fewer gradient-descent iterations",
    )
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from tqdm import tqdm

    data = load_digits()
    t0 = time.perf_counter()
    finder = range_test(data)
    print(
        f"range test (Adam, 120 steps, one compiled sweep): suggested learning rate "
        f"{finder.suggestion:.2e} ({finder.method})"
    )

    results = {}
    runs = methods(float(finder.suggestion), args.steps)
    for name, opt in tqdm(runs.items(), desc="training", unit="run"):
        losses, lrs, acc = train(opt, data, steps=args.steps)
        results[name] = (losses, lrs, acc, None)
    newton = newton_vs_gd(data, (12, 300) if args.quick else (12, 3000))

    header = (
        f"{'method (MLP 64-64-10, batch 64)':<36}{'steps to ' + str(TARGET):>14}"
        f"{'final loss':>12}{'test acc':>10}"
    )
    print()
    print(header)
    print("-" * len(header))
    for name, (losses, _lrs, acc, _t) in results.items():
        reached = steps_to(losses)
        print(
            f"{name:<36}{(str(reached) if reached else 'not reached'):>14}"
            f"{losses[-1]:>12.4f}{acc:>10.3f}"
        )
    curves, best, reached = newton
    print()
    print(
        f"{'logistic regression, L2 1e-3':<36}{'iters to 1e-6 gap':>20}{'final loss':>14}"
    )
    for name, curve in curves.items():
        hit = reached[name]
        print(f"{name:<36}{(str(hit) if hit else 'not reached'):>20}{curve[-1]:>14.8f}")
    path = report(results, finder, newton, out)
    print(f"\nreport written to {path} ({time.perf_counter() - t0:.0f} s in all)")
    return results, finder, newton


if __name__ == "__main__":
    main()
