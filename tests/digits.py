"""scikit-learn's bundled digits (8x8 images, 10 classes): no download needed."""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def load(seed: int = 0):
    """Standardised float32 features, split 75/25 into (x_train, y_train, x_test, y_test)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=y
    )
    mean, std = x_tr.mean(0), x_tr.std(0) + 1.0
    return (
        ((x_tr - mean) / std).astype(np.float32),
        y_tr.astype(np.int32),
        ((x_te - mean) / std).astype(np.float32),
        y_te.astype(np.int32),
    )


# ---------------------------------------------------------------------------------------
# Three small problems on the digits, shared by the range-test tests and the learning-rate
# choice benchmark: (loss_fn(params, batch), params, batches with a leading step axis).
# ``seed`` picks the initialisation and the minibatch order.

MODELS = ("logistic", "mlp", "cnn")


def _batches(seed: int, steps: int, batch: int):
    import jax.numpy as jnp

    x, y, _, _ = load(0)
    rng = np.random.default_rng(1000 + seed)
    idx = np.stack([rng.choice(len(x), batch, replace=False) for _ in range(steps)])
    return jnp.asarray(x[idx]), jnp.asarray(y[idx])


def _cross_entropy(logits, labels):
    import optax

    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@functools.cache
def _model(model: str):
    """``(loss_fn, init(key, x), image_shape)``: one loss function per model, so that a
    compiled sweep is reused across seeds."""
    import jax.numpy as jnp

    if model == "logistic":

        def loss_fn(p, b):
            return _cross_entropy(b[0] @ p["w"] + p["b"], b[1])

        def init(key, x):
            del key, x
            return {"w": jnp.zeros((64, 10), jnp.float32), "b": jnp.zeros(10, jnp.float32)}

        return loss_fn, init, (64,)

    import flax.linen as nn

    if model == "mlp":
        shape = (64,)

        class Net(nn.Module):
            @nn.compact
            def __call__(self, h):
                h = nn.relu(nn.Dense(128)(h))
                h = nn.relu(nn.Dense(128)(h))
                return nn.Dense(10)(h)

    elif model == "cnn":
        shape = (8, 8, 1)

        class Net(nn.Module):
            @nn.compact
            def __call__(self, h):
                h = nn.relu(nn.Conv(8, (3, 3))(h))
                h = nn.relu(nn.Conv(16, (3, 3), strides=(2, 2))(h))
                return nn.Dense(10)(h.reshape(h.shape[0], -1))

    else:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    net = Net()

    def loss_fn(p, b):
        return _cross_entropy(net.apply(p, b[0]), b[1])

    return loss_fn, net.init, shape


def problem(model: str, seed: int = 0, steps: int = 300, batch: int = 64):
    """``(loss_fn, params, batches)`` for ``model`` in ``MODELS``:

    - ``logistic``: multinomial logistic regression 64 -> 10, zero initialisation;
    - ``mlp``: Flax MLP 64-128-128-10 with ReLU;
    - ``cnn``: Flax CNN on the 8x8 images: conv 3x3x8, conv 3x3x16 stride 2, dense 10.

    The loss function is the same object for every seed of a model.
    """
    import jax

    loss_fn, init, shape = _model(model)
    xb, yb = _batches(seed, steps, batch)
    xb = xb.reshape(xb.shape[:2] + shape)
    return loss_fn, init(jax.random.key(seed), xb[0, :1]), (xb, yb)
