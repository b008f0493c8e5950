"""Base types shared by every lrjax module.

lrjax reuses optax's base types, so an lrjax transform is an optax transform and the
two mix freely in `optax.chain` in either order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Union

import chex
import jax
import optax

GradientTransformation = optax.GradientTransformation
GradientTransformationExtraArgs = optax.GradientTransformationExtraArgs
chain = optax.chain
apply_updates = optax.apply_updates

#: A schedule maps the 0-based update count ``n`` to a learning rate.
Schedule = Callable[[chex.Numeric], chex.Numeric]

#: A learning rate given either as a number or as a `Schedule`.
ScalarOrSchedule = Union[float, jax.Array, Schedule]

__all__ = [
    "GradientTransformation",
    "GradientTransformationExtraArgs",
    "Schedule",
    "ScalarOrSchedule",
    "apply_updates",
    "chain",
]
