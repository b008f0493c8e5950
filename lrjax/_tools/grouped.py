"""Run an element-wise transform on a few stacked arrays instead of many small leaves.

Why this exists (measured on XLA:CPU, jax 0.10, see `docs/benchmarks.md`): a jitted
optimizer step over a tree of `N` leaves compiles to about three fused kernels per leaf
(first moment, second moment, update + apply), so its run time is `~3N` kernel launches
and its compile time grows with `N`. Stacking same-shape leaves makes the arithmetic one
kernel per group; only the final `params + update` stays one kernel per leaf, because
the caller's parameters are separate buffers.

The catch, and the trick: XLA compiles each *distinct* fused kernel separately (0.03-0.1 s
each on this 2-core machine) and shares identical ones. Slicing leaf `i` back out of one
stack at the static offset `i` gives `N` distinct kernels, which is why a plain
`ravel`/`concatenate` (`optax.flatten`) compiles far slower than the per-leaf
optimizer (measured: 300 leaves, 30 s against 5 s). `optimization_barrier` does not
help (XLA:CPU removes it before fusion and folds slice-of-slice). So each group is kept
as about `sqrt(k)` separate stacks ("blocks") of `sqrt(k)` leaves, in the state too:
a leaf is row `r` of its block, the per-leaf kernels differ only by `r`, and about
`2 sqrt(k)` distinct kernels are compiled instead of `k`; the arithmetic runs on
`sqrt(k)` identical block kernels.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from .._shared import validate
from .._shared.base import GradientTransformationExtraArgs
from .._shared.tree import canonical_inputs, check_like

# A group of at most this many leaves is one stack: at most this many distinct kernels.
_DIRECT_UNSTACK = 16


class GroupedState(NamedTuple):
    """State of [`lrjax.grouped`][].

    Attributes:
      inner: the wrapped transform's state, built on the grouped arrays: a tuple whose
        first entries are stacks `[k, *shape]` of the `k` same-shape, same-dtype
        small leaves, followed by the leaves left as they are.
    """

    inner: Any


class _Layout(NamedTuple):
    """How the leaves of a tree are grouped; a pure function of shapes and dtypes."""

    groups: tuple[tuple[int, ...], ...]  # leaf indices of each stacked group
    singles: tuple[int, ...]  # leaf indices passed through unchanged
    num_leaves: int


def _blocks(idx: list[int]) -> list[tuple[int, ...]]:
    """Cut a group of `k` leaf indices into about `sqrt(k)` blocks of equal size."""
    k = len(idx)
    if k <= _DIRECT_UNSTACK:
        return [tuple(idx)]
    b = math.isqrt(k - 1) + 1
    return [tuple(idx[s : s + b]) for s in range(0, k, b)]


def _layout(leaves: list[Any], max_leaf_size: int, min_group_size: int) -> _Layout:
    by_key: dict[tuple[tuple[int, ...], Any], list[int]] = {}
    singles = []
    for i, leaf in enumerate(leaves):
        shape, dtype = jnp.shape(leaf), jnp.result_type(leaf)
        if math.prod(shape) > max_leaf_size:
            singles.append(i)
        else:
            by_key.setdefault((tuple(shape), jnp.dtype(dtype)), []).append(i)
    groups: list[tuple[int, ...]] = []
    for idx in by_key.values():
        if len(idx) >= min_group_size:
            groups.extend(_blocks(idx))
        else:
            singles.extend(idx)
    return _Layout(tuple(groups), tuple(sorted(singles)), len(leaves))


def _group(leaves: list[Any], layout: _Layout) -> tuple[Any, ...]:
    stacks = tuple(jnp.stack([leaves[i] for i in idx]) for idx in layout.groups)
    return stacks + tuple(leaves[i] for i in layout.singles)


def _ungroup(grouped: tuple[Any, ...], layout: _Layout) -> list[Any]:
    out: list[Any] = [None] * layout.num_leaves
    for idx, stack in zip(layout.groups, grouped):
        for r, i in enumerate(idx):
            out[i] = stack[r]
    for i, leaf in zip(layout.singles, grouped[len(layout.groups) :]):
        out[i] = leaf
    return out


def _check_elementwise(state: Any, grouped: tuple[Any, ...]) -> None:
    """Reject inner states with arrays shaped unlike the grouped arrays (factored etc.)."""
    shapes = {jnp.shape(g) for g in grouped}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        shape = jnp.shape(leaf)
        if shape and shape not in shapes:
            raise ValueError(
                "grouped() needs an element-wise transform, but the wrapped transform's "
                f"state has an array of shape {shape} at {jax.tree_util.keystr(path)}, "
                "which is not the shape of any grouped parameter array (a factored or "
                "per-leaf statistic); use the transform without grouped()"
            )


def _keeps_stacked_statistics(inner: Any, leaves: list[Any], layout: _Layout) -> bool:
    """Whether `inner`'s state holds an array shaped like one of the stacks."""
    if not layout.groups:
        return False
    structs = [jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)) for x in leaves]
    stacks = tuple(
        jax.ShapeDtypeStruct((len(idx), *structs[idx[0]].shape), structs[idx[0]].dtype)
        for idx in layout.groups
    )
    grouped_structs = stacks + tuple(structs[i] for i in layout.singles)
    state = jax.eval_shape(inner.init, grouped_structs)
    stack_shapes = {s.shape for s in stacks}
    return any(jnp.shape(x) in stack_shapes for x in jax.tree.leaves(state))


def grouped(
    inner: optax.GradientTransformation,
    *,
    max_leaf_size: int = 8192,
    min_group_size: int = 128,
) -> GradientTransformationExtraArgs:
    r"""Apply an element-wise transform to stacks of same-shape leaves: same numbers, faster.

    The leaves of the parameter tree with at most `max_leaf_size` elements are grouped
    by `(shape, dtype)`; each group of `k` leaves is stacked into one `[k, *shape]`
    array. `inner` is initialised and updated on the tuple of these stacks (plus the
    large leaves, unchanged), and its output is cut back into the original tree:

    $$
    u = \mathrm{unstack}\big(T(\mathrm{stack}(g), \mathrm{stack}(p))\big)
    $$

    For an element-wise `T` (every output coordinate depends only on the same
    coordinate of the inputs, with per-step scalars shared by all leaves) this is the
    same computation coordinate by coordinate, so the updates equal those of `inner`
    (bitwise in the tests here; see `tests/test_grouped.py`). Its state holds the
    stacks, so it has the same size as `inner`'s.

    When to use it: trees with many small leaves of the same shape (transformers, MLPs
    with biases and norms, a few hundred leaves or more) on CPU, where per-leaf kernel
    launches and compile time dominate the step; `docs/benchmarks.md` has the
    measurements. On a tree of a few large leaves, or of small leaves in groups of
    fewer than `min_group_size`, it changes nothing.

    A transform without per-parameter state (`sgd` without momentum, clipping, a
    scale) has nothing to batch: stacking would only add copies and compile time, so
    `grouped` passes such a tree through unchanged (decided once per tree layout,
    from the shapes of `inner`'s state).

    Valid only for element-wise transforms: lrjax's `sgd` (with or without momentum),
    `adagrad`, `adadelta`, `rmsprop`, `adam` and its variants, `adamw`,
    schedules, and optax's equivalents. Not for transforms that look at a leaf as a whole
    (per-leaf norms such as `optax.scale_by_trust_ratio`, factored statistics such as
    `optax.adafactor`, shape-dependent rules such as Muon, masks by path): a state
    array whose shape is not that of a grouped array raises `ValueError` at `init`,
    but a per-leaf norm without such state cannot be detected, so do not wrap one.
    Global-norm clipping stays correct up to the summation order of the norm.

    Args:
      inner: an element-wise optax or lrjax transform (extra arguments such as
        `value=` are passed on).
      max_leaf_size: leaves with more elements stay separate. Stacking copies the
        gradient once more, which costs as much as the kernel launches it saves once
        leaves reach ~10,000 elements. Measured on a 2-core CPU, Adam, float32
        (`benchmarks/bench_grouped_limits.py`; grouped vs ungrouped step, compile):
        2,000 leaves of 5,000 floats 80 vs 106 ms, 10 vs 40 s; 600 of 16,384 floats 40
        vs 33 ms, 2.8 vs 6.9 s; 300 of 32,768 floats 41 vs 28 ms. The default, 8,192
        (32 KB of float32), stays below the crossover.
      min_group_size: a (shape, dtype) shared by fewer small leaves is not stacked.
        Stacking always shortens the step, but XLA compiles each leaf's final kernel
        (which slices its own row) separately, where the plain per-leaf kernels are
        alike and compiled once; compile time breaks even at about 64 to 128 leaves.
        Measured on a 2-core CPU, Adam, float32 (`benchmarks/bench_grouped_limits.py`;
        grouped vs ungrouped step, compile): 32 leaves of 1,024 floats 0.39 vs 0.66 ms,
        0.81 vs 0.40 s; 128 of 1,024: 1.94 vs 3.26 ms, 1.44 vs 1.45 s; 256 of 256:
        5.8 vs 13.5 ms, 1.2 vs 3.0 s. The default, 128, is where neither is slower;
        a lower value trades compile time for step time.

    Returns:
      An optax `GradientTransformationExtraArgs` whose state is a
        [`lrjax.GroupedState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> params = {f"b{i}": jnp.full(3, float(i + 1)) for i in range(4)}
      >>> opt = lrjax.grouped(lrjax.adam(0.1), min_group_size=2)  # 4 leaves, one stack
      >>> state = opt.init(params)
      >>> state.inner[0].mu[0].shape
      (4, 3)
      >>> grads = {k: 2 * v for k, v in params.items()}
      >>> updates, state = opt.update(grads, state, params)
      >>> print(f"{float(updates['b1'][0]):.4f} {float(updates['b3'][0]):.4f}")
      -0.1000 -0.1000

    References:
      Horizontal fusion of many small kernels: the same idea as PyTorch's `foreach` /
      `fused` optimizer implementations (`torch.optim.Adam(foreach=True)`) and
      XLA's GPU horizontal loop fusion.
    """
    validate.transform("inner", inner)
    validate.positive_int("max_leaf_size", max_leaf_size)
    validate.positive_int("min_group_size", min_group_size)
    inner = optax.with_extra_args_support(inner)

    layouts: dict[Any, _Layout] = {}

    def layout_of(tree: Any) -> tuple[_Layout, Any, list[Any]]:
        leaves, treedef = jax.tree.flatten(tree)
        key = (treedef, tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves))
        if key not in layouts:
            layout = _layout(leaves, max_leaf_size, min_group_size)
            if not _keeps_stacked_statistics(inner, leaves, layout):
                # Nothing per-parameter to batch (sgd, clipping, a scale): stacking
                # would only add copies and compile time, so leave the tree alone.
                layout = _Layout((), tuple(range(len(leaves))), len(leaves))
            layouts[key] = layout
        return layouts[key], treedef, leaves

    def init_fn(params: Any) -> GroupedState:
        layout, _, leaves = layout_of(params)
        grouped_params = _group(leaves, layout)
        state = inner.init(grouped_params)
        _check_elementwise(state, grouped_params)
        return GroupedState(state)

    def update_fn(updates, state, params=None, **extra_args):
        layout, treedef, leaves = layout_of(updates)
        grouped_params = None
        if params is not None:
            # The stacking is decided by the gradients' shapes and dtypes: one that
            # differs from the params would no longer match the state built at init.
            check_like(updates, params)
            grouped_params = _group(treedef.flatten_up_to(params), layout)
        out, inner_state = inner.update(
            _group(leaves, layout), state.inner, grouped_params, **extra_args
        )
        return jax.tree.unflatten(treedef, _ungroup(out, layout)), GroupedState(inner_state)

    return GradientTransformationExtraArgs(*canonical_inputs(init_fn, update_fn))
