"""The check that an update's gradient tree is shaped like the params given to `init`.

A gradient tree that differs from the parameters (a renamed layer, a transposed kernel,
bfloat16 gradients for float32 statistics) otherwise fails deep inside `jax.tree.map`
with a message about tree definitions, or, worse, broadcasts silently. The check runs
in Python on shapes and dtypes only, so under `jit` it costs nothing after tracing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_GRAD = "the gradient tree passed to update()"


def canonical_dtype(dtype: Any) -> jnp.dtype:
    """The dtype JAX computes in for `dtype`: float32 for float64 when x64 is off.

    A NumPy float64 array in a float32 program is float32 to JAX, as it is to optax.
    """
    return jnp.dtype(jax.dtypes.canonicalize_dtype(dtype))


def canonical_dtype_or_none(dtype: Any) -> jnp.dtype | None:
    """`canonical_dtype` of a state dtype option (`mu_dtype`, `accumulator_dtype`),
    read when `init` runs: a float64 asked for with x64 off is float32, as in optax,
    and JAX warns of nothing. `None` (the params' own dtype) stays `None`."""
    return None if dtype is None else canonical_dtype(dtype)


def canonical(tree: Any) -> Any:
    """`tree` with its NumPy leaves as JAX arrays of the canonical dtype.

    With x64 off a NumPy float64 leaf becomes a float32 array, which is how optax
    (and every `jnp` operation) treats it; JAX arrays, tracers and other leaves are
    returned unchanged, so under `jit` this costs nothing.
    """

    def leaf(x: Any) -> Any:
        return jnp.asarray(x) if isinstance(x, (np.ndarray, np.generic)) else x

    return jax.tree.map(leaf, tree)


def canonical_inputs(
    init_fn: Callable[..., Any], update_fn: Callable[..., Any]
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """`init_fn` and `update_fn` that see NumPy leaves as JAX arrays (`canonical`).

    Every lrjax transform is built from these, so that NumPy float64 params, gradients
    and extra arguments (`value=`, `grad=`) with x64 off are float32, as in optax,
    instead of float64 dtypes that JAX cannot compute in.
    """

    def init(params: Any) -> Any:
        return init_fn(canonical(params))

    def update(updates: Any, state: Any, params: Any = None, **extra_args: Any) -> Any:
        extra_args = {k: canonical(v) for k, v in extra_args.items()}
        return update_fn(canonical(updates), state, canonical(params), **extra_args)

    return init, update


def refuse_complex(params: Any, name: str, why: str = "") -> None:
    """`TypeError` naming the first complex leaf of `params`, for a transform
    that has no complex form (see `docs/conventions.md`); `why` says what has none."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        if jnp.iscomplexobj(leaf):
            where = jax.tree_util.keystr(path) or "<root>"
            because = f" ({why})" if why else ""
            raise TypeError(
                f"{name} does not support complex parameters{because}: the params given "
                f"to init have dtype {jnp.dtype(jnp.result_type(leaf))} at {where}. "
                "Split each complex leaf into its real and imaginary parts to use it."
            )


def _describe(leaf: Any) -> str:
    dtype = getattr(leaf, "dtype", None)
    shape = tuple(jnp.shape(leaf))
    if dtype is None:
        return f"shape {shape}"
    name = jnp.dtype(dtype).name
    canon = canonical_dtype(dtype).name
    # Name the dtype the user passed, and the one JAX computes in if it differs.
    return f"shape {shape} and dtype {name}" + (
        "" if canon == name else f" ({canon} in JAX)"
    )


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
        # Compared as JAX computes them: with x64 off a NumPy float64 leaf is float32.
        dtype_ok = (
            not dtypes
            or g_dtype is None
            or canonical_dtype(g_dtype) == canonical_dtype(w.dtype)
        )
        if shape_ok and dtype_ok:
            continue
        path, _ = jax.tree_util.tree_flatten_with_path(reference)[0][i]
        where = jax.tree_util.keystr(path) or "<root>"
        message = (
            f"{_GRAD} has {_describe(g)} at {where}, where {against} have "
            f"{_describe(w) if dtypes else 'shape ' + str(tuple(jnp.shape(w)))}"
        )
        raise (ValueError if not shape_ok else TypeError)(message)
