"""The digits MLP (Flax, 64-128-128-10) used by the range-test and quality benchmarks."""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import digits  # noqa: E402  (tests/digits.py: scikit-learn's bundled digits)


def model():
    import flax.linen as nn

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(128)(x))
            x = nn.relu(nn.Dense(128)(x))
            return nn.Dense(10)(x)

    return MLP()


def setup(seed: int = 0, batch: int = 64, steps: int = 100):
    """(loss_fn(params, batch), params, batches with a leading step axis, full train set)."""
    x, y, _, _ = digits.load(0)
    x, y = jnp.asarray(x), jnp.asarray(y)
    net = model()
    params = net.init(jax.random.PRNGKey(seed), x[:1])

    def loss_fn(p, b):
        xb, yb = b
        return optax.softmax_cross_entropy_with_integer_labels(net.apply(p, xb), yb).mean()

    n = x.shape[0]
    keys = jax.random.split(jax.random.PRNGKey(1000 + seed), steps)
    idx = jax.vmap(lambda k: jax.random.choice(k, n, (batch,), replace=False))(keys)
    return loss_fn, params, (x[idx], y[idx]), (x, y)
