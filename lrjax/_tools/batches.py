"""What the range test and the grid sweep share: batches by step, optimizer factories,
and the cache of their compiled programs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def batch_getter(batches: Any) -> tuple[Any, tuple]:
    """`(data, kind)`: the device arrays to pass, and a hashable description of how
    step `i` picks its batch (see `get_batch`)."""
    if batches is None:
        return None, ("none",)
    if callable(batches):
        return None, ("fn", batches)
    leaves = jax.tree.leaves(batches)
    if not leaves:
        raise ValueError(
            f"batches must hold arrays with a leading step axis, got {batches!r}"
        )
    sizes = set()
    for leaf in leaves:
        shape = np.shape(leaf)
        if len(shape) < 1 or shape[0] < 1:
            raise ValueError(
                "batches must be arrays with a leading step axis (or a function of the "
                f"step); got a leaf of shape {shape}"
            )
        sizes.add(shape[0])
    if len(sizes) != 1:
        raise ValueError(
            "every array in batches must have the same leading (step) size, got "
            f"{sorted(sizes)}"
        )
    (size,) = sizes
    return jax.tree.map(jnp.asarray, batches), ("arrays", size)


def get_batch(kind: tuple, data: Any, i: jax.Array) -> Any:
    """The batch of step `i`; arrays are cycled when there are fewer than steps."""
    if kind[0] == "none":
        return None
    if kind[0] == "fn":
        return kind[1](i)
    j = i % kind[1]
    return jax.tree.map(lambda b: jax.lax.dynamic_index_in_dim(b, j, keepdims=False), data)


def check_optimizer_factory(name: str, value: Any) -> None:
    """Check a factory `learning_rate -> GradientTransformation`.

    An optimizer passed where its factory was meant is the common slip; the error says
    how to write the factory instead.
    """
    if callable(getattr(value, "init", None)) and callable(getattr(value, "update", None)):
        raise TypeError(
            f"{name} must be a factory learning_rate -> GradientTransformation, but got "
            "an optimizer that is already built. Pass the factory instead, for example "
            f"{name}=lrjax.adam or {name}=lambda lr: lrjax.adam(lr, b1=0.9); got "
            f"{value!r}"
        )
    if not callable(value):
        raise TypeError(
            f"{name} must be a factory learning_rate -> GradientTransformation (for "
            f"example lambda lr: lrjax.adam(lr)), got {value!r}"
        )


def cached(program_fn: Callable, key: tuple) -> Callable:
    """`program_fn(*key)` from its LRU cache, or built afresh when the key (a loss, an
    optimizer or a batch function) cannot be hashed."""
    try:
        hash(key)
    except TypeError:
        return program_fn.__wrapped__(*key)
    return program_fn(*key)
