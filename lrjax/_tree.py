"""The check that an update's gradient tree is shaped like the params given to `init`.

A gradient tree that differs from the parameters (a renamed layer, a transposed kernel,
bfloat16 gradients for float32 statistics) otherwise fails deep inside `jax.tree.map`
with a message about tree definitions, or, worse, broadcasts silently. The check runs
in Python on shapes and dtypes only, so under `jit` it costs nothing after tracing.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_GRAD = "the gradient tree passed to update()"


def scalar_like(x: Any, like: Any) -> Any:
    """The hyperparameter `x` in the dtype of the leaf `like` that it multiplies.

    A Python number becomes a NumPy scalar, which jit embeds as a literal: `jnp.asarray`
    would place an array on the device for every leaf and hyperparameter, a third of
    the trace of a 300-leaf Adam. A traced `x` (`inject_hyperparams`) is cast.
    Write `scalar_like(1 - b, t)`, never `1 - scalar_like(b, t)`: in bfloat16 0.999
    rounds to 1.
    """
    if isinstance(x, (int, float, np.number)):
        return np.asarray(x, like.dtype)
    return jnp.asarray(x, like.dtype)


def _describe(leaf: Any) -> str:
    dtype = getattr(leaf, "dtype", None)
    shape = tuple(jnp.shape(leaf))
    return f"shape {shape}" + ("" if dtype is None else f" and dtype {jnp.dtype(dtype)}")


def _structure_error(updates: Any, reference: Any, against: str) -> ValueError:
    got = jax.tree_util.tree_flatten_with_path(updates)[0]
    want = jax.tree_util.tree_flatten_with_path(reference)[0]
    got_paths = [p for p, _ in got]
    want_paths = [p for p, _ in want]
    got_set, want_set = set(got_paths), set(want_paths)
    for path in want_paths:
        if path not in got_set:
            where = f"has no leaf at {jax.tree_util.keystr(path) or '<root>'}"
            return ValueError(f"{_GRAD} {where}, where {against} have one")
    for path in got_paths:
        if path not in want_set:
            where = f"has a leaf at {jax.tree_util.keystr(path) or '<root>'}"
            return ValueError(f"{_GRAD} {where}, where {against} have none")
    return ValueError(
        f"{_GRAD} has the same leaf paths as {against} but different container types: "
        f"{jax.tree.structure(updates)} vs {jax.tree.structure(reference)}"
    )


def check_like(
    updates: Any,
    reference: Any,
    *,
    against: str = "the params given to init",
    dtypes: bool = True,
) -> None:
    """Raise if `updates` differs from `reference` in structure, shapes or dtypes.

    Args:
      updates: the gradient (or update) tree passed to `update`.
      reference: a tree with the structure, shapes and (if `dtypes`) dtypes that the
        transform's state recorded at `init`: a statistic built with `zeros_like`
        of the params, or the params themselves.
      against: how the error message names `reference`.
      dtypes: also compare dtypes. Leaves without a dtype (Python scalars) are not
        compared.

    Raises:
      ValueError: the structure or a shape differs; the message names the first path.
      TypeError: a dtype differs; the message names the first path.
    """
    got, got_def = jax.tree.flatten(updates)
    want, want_def = jax.tree.flatten(reference)
    if got_def != want_def:
        raise _structure_error(updates, reference, against)
    for i, (g, w) in enumerate(zip(got, want)):
        shape_ok = jnp.shape(g) == jnp.shape(w)
        g_dtype = getattr(g, "dtype", None)
        dtype_ok = not dtypes or g_dtype is None or jnp.dtype(g_dtype) == jnp.dtype(w.dtype)
        if shape_ok and dtype_ok:
            continue
        path, _ = jax.tree_util.tree_flatten_with_path(reference)[0][i]
        where = jax.tree_util.keystr(path) or "<root>"
        message = (
            f"{_GRAD} has {_describe(g)} at {where}, where {against} have "
            f"{_describe(w) if dtypes else 'shape ' + str(tuple(jnp.shape(w)))}"
        )
        raise (ValueError if not shape_ok else TypeError)(message)
