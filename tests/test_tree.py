"""The gradient-tree check names the first path where update() and init() disagree.

Every public transform runs it: ``test_conformance.py::
test_mismatched_gradient_tree_names_the_path``. Here: the check itself, and the cases
that the conformance tree (two flat leaves) does not reach.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
import pytest

import lrjax
from lrjax._shared.tree import check_like


def _params():
    return {
        "encoder": {"layers": [{"w": jnp.zeros((3, 4)), "b": jnp.zeros(4)}] * 2},
        "head": jnp.zeros((4, 2)),
    }


def test_identical_trees_pass():
    check_like(_params(), _params())


def test_nested_shape_mismatch_names_the_deepest_path():
    g = _params()
    transposed = {"w": jnp.zeros((4, 3)), "b": jnp.zeros(4)}
    g["encoder"]["layers"] = [g["encoder"]["layers"][0], transposed]
    with pytest.raises(ValueError, match=r"\['encoder'\]\['layers'\]\[1\]\['w'\]") as info:
        check_like(g, _params())
    assert "shape (4, 3)" in str(info.value) and "shape (3, 4)" in str(info.value)


def test_missing_and_extra_leaves_are_named():
    g = _params()
    del g["head"]
    with pytest.raises(ValueError, match=r"has no leaf at \['head'\]"):
        check_like(g, _params())
    g = dict(_params(), tail=jnp.zeros(1))
    with pytest.raises(ValueError, match=r"has a leaf at \['tail'\]"):
        check_like(g, _params())


def test_renamed_leaf_names_the_params_path_first():
    g = {"w": jnp.zeros(2), "bias": jnp.zeros(1)}
    with pytest.raises(ValueError, match=r"no leaf at \['b'\]"):
        check_like(g, {"w": jnp.zeros(2), "b": jnp.zeros(1)})


def test_container_type_mismatch_is_reported():
    with pytest.raises(ValueError, match="container types"):
        check_like((jnp.zeros(1), jnp.zeros(2)), [jnp.zeros(1), jnp.zeros(2)])


def test_dtype_mismatch_is_a_type_error_unless_disabled():
    g = dict(_params(), head=jnp.zeros((4, 2), jnp.bfloat16))
    with pytest.raises(TypeError, match=r"bfloat16 at \['head'\].*float32"):
        check_like(g, _params())
    check_like(
        jax.tree.map(lambda x: x.astype(jnp.bfloat16), _params()), _params(), dtypes=False
    )


def test_python_scalars_and_none_leaves():
    # A Python scalar has no dtype to compare; None is an empty subtree on both sides.
    check_like({"x": 1.0, "m": None}, {"x": jnp.zeros(()), "m": None})
    with pytest.raises(ValueError, match=r"no leaf at \['m'\]"):
        check_like({"x": 1.0, "m": None}, {"x": jnp.zeros(()), "m": jnp.zeros(1)})


def test_root_leaf_is_named():
    with pytest.raises(ValueError, match="<root>"):
        check_like(jnp.zeros(3), jnp.zeros(2))


def test_masked_nodes_pass_through_adam():
    params = {"w": jnp.ones(3), "frozen": jnp.ones(2)}
    tx = optax.masked(lrjax.adam(0.1), {"w": True, "frozen": False})
    state = tx.init(params)
    u, _ = tx.update(params, state, params)
    assert u["frozen"].shape == (2,)


def test_check_runs_at_trace_time_only():
    tx = lrjax.adam(0.1)
    p = _params()
    state = tx.init(p)
    bad = dict(p, head=jnp.zeros((2, 4)))
    step = jax.jit(tx.update)
    with pytest.raises(ValueError, match=r"\['head'\]"):
        step(bad, state)
    # Shapes are static, so the check is Python at trace time: once per compilation.
    _, state = step(p, state)
    compiled = step._cache_size()
    for _ in range(3):
        _, state = step(p, state)
    assert step._cache_size() == compiled


def test_message_for_a_transposed_kernel_is_readable():
    tx = lrjax.sgd(0.1, momentum=0.9)
    state = tx.init({"kernel": jnp.zeros((3, 5))})
    with pytest.raises(ValueError) as info:
        tx.update({"kernel": jnp.zeros((5, 3))}, state)
    assert str(info.value) == (
        "the gradient tree passed to update() has shape (5, 3) and dtype float32 at "
        "['kernel'], where the params given to init have shape (3, 5) and dtype float32"
    )
