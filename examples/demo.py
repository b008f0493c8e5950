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
    for k, (n_in, n_out) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes, sizes[1:])):
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
            loss, grads = jax.value_and_grad(loss_fn)(params, x_tr[batch_idx], y_tr[batch_idx])
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


def methods():
    """The optimizers compared: sgd under a constant rate and the three seed decays."""
    eta = 0.1
    return {
        "sgd constant 0.1": lrjax.sgd(eta),
        "sgd time-based d=2e-6": lrjax.sgd(lrjax.time_based_decay(eta, 2e-6)),
        "sgd step-based 0.5/300": lrjax.sgd(lrjax.step_decay(eta, drop=0.5, drop_every=300)),
        "sgd exponential d=1e-3": lrjax.sgd(lrjax.exponential_decay(eta, 1e-3)),
    }


def report(results, out: pathlib.Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_lr, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, (losses, lrs, _acc, _t) in results.items():
        ax_lr.plot(np.arange(len(lrs)), lrs, label=name)
        ax_loss.plot(np.arange(len(losses)), losses, label=name)
    ax_lr.set(title="learning rate", xlabel="update", yscale="log")
    ax_loss.set(title="train loss (full batch)", xlabel="update", yscale="log")
    ax_loss.axhline(TARGET, color="grey", lw=0.8, ls="--")
    ax_lr.legend(fontsize=8)
    fig.tight_layout()
    path = out / "lrjax_demo.png"
    fig.savefig(path, dpi=110)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the PNG report")
    parser.add_argument("--steps", type=int, default=STEPS)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from tqdm import tqdm

    data = load_digits()
    results = {}
    for name, opt in tqdm(methods().items(), desc="training", unit="run"):
        t0 = time.perf_counter()
        losses, lrs, acc = train(opt, data, steps=args.steps)
        results[name] = (losses, lrs, acc, time.perf_counter() - t0)

    header = f"{'method':<28}{'steps to ' + str(TARGET):>14}{'final loss':>12}{'test acc':>10}"
    print(header)
    print("-" * len(header))
    for name, (losses, _lrs, acc, _t) in results.items():
        reached = steps_to(losses)
        print(
            f"{name:<28}{(str(reached) if reached else 'not reached'):>14}"
            f"{losses[-1]:>12.4f}{acc:>10.3f}"
        )
    path = report(results, out)
    print(f"\nreport written to {path}")
    return results


if __name__ == "__main__":
    main()
