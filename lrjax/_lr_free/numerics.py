"""What DoG, DoWG, COCOB, Polyak and MoMo share.

Their scalar statistics are float32, or float64 when any parameter is (`scalar_dtype`),
and sums of per-leaf scalars start from a zero of that dtype (`tree_sum`); they are
defined for real parameters only (`reject_complex`), and skip the weight-decay kernels
when the decay is a constant zero (`decay_active`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .._shared import validate
from .._shared.tree import refuse_complex


def scalar_dtype(params: Any) -> jnp.dtype:
    """dtype of a method's scalar statistics: float64 if any leaf is, else float32."""
    leaves = jax.tree.leaves(params)
    if any(jnp.dtype(getattr(x, "dtype", jnp.float32)) == jnp.float64 for x in leaves):
        return jnp.dtype(jnp.float64)
    return jnp.dtype(jnp.float32)


def reject_complex(params: Any, method: str) -> None:
    """`TypeError` naming the first complex leaf: these methods are defined for reals."""
    refuse_complex(
        params,
        method,
        "its distances, norms and inner products have no complex form in the authors' code",
    )


def tree_sum(leaves: Any, dtype: Any) -> jax.Array:
    """The sum of a list of scalars, starting from a zero of `dtype`."""
    total = jnp.zeros([], dtype)
    for x in leaves:
        total = total + x
    return total


def decay_active(weight_decay: Any) -> bool:
    """Whether a weight decay can be non-zero (a traced one, from inject_hyperparams, can)."""
    return validate.is_traced(weight_decay) or float(weight_decay) != 0.0
