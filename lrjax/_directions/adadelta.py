"""AdaDelta: the ratio of two running RMS values sets each coordinate's step.

`scale_by_adadelta` is the direction; `adadelta` chains it, after an optional coupled
weight decay, with [`lrjax.scale_by_learning_rate`][]. Statistics keep each parameter's
dtype; every hyperparameter is cast to the dtype of the leaf it multiplies
(`scalar_like`), so bfloat16 trees stay bfloat16 under JAX's strict dtype promotion.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from .._learning_rate.scale import scale_by_learning_rate
from .._shared import validate
from .._shared.base import GradientTransformation, ScalarOrSchedule, chain
from .._shared.numerics import abs_sq, scalar_like
from .._shared.tree import canonical_inputs, check_like
from .momentum import Mask, add_decayed_weights


class ScaleByAdadeltaState(NamedTuple):
    """State of [`lrjax.scale_by_adadelta`][]: running means of g² and of the update²."""

    e_g: Any
    e_x: Any


def scale_by_adadelta(rho: float = 0.9, eps: float = 1e-6) -> GradientTransformation:
    r"""AdaDelta: the ratio of two running RMS values sets each coordinate's step.

    $$
    \begin{aligned}
    E[g^2]_n &= \rho E[g^2]_{n-1} + (1-\rho) g_n^2 \\
    d_n &= \frac{\sqrt{E[\Delta^2]_{n-1} + \epsilon}}{\sqrt{E[g^2]_n + \epsilon}}\, g_n
    \\
    E[\Delta^2]_n &= \rho E[\Delta^2]_{n-1} + (1-\rho) d_n^2
    \end{aligned}
    $$

    with both averages starting at zero. Zeiler's method has no learning rate
    ($\eta = 1$); [`lrjax.adadelta`][] applies one after the direction, as optax,
    Keras and PyTorch do, so $E[\Delta^2]$ tracks the direction, not
    $\eta d$.

    Args:
      rho: the decay $\rho \in [0, 1)$ of both running averages.
      eps: $\epsilon > 0$, inside both roots; it also sets the size of the first
        steps ($\sqrt{\epsilon}$ over the gradient's RMS).

    Returns:
      An optax `GradientTransformation` with a [`lrjax.ScaleByAdadeltaState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_adadelta(rho=0.9, eps=1e-6)
      >>> state = tx.init(jnp.zeros(1))
      >>> d, state = tx.update(jnp.ones(1), state)
      >>> print(f"{float(d[0]) / 1e-3:.4f}")
      3.1623

    References:
      Zeiler, ADADELTA: an adaptive learning rate method, 2012,
      https://arxiv.org/abs/1212.5701. optax `scale_by_adadelta`.
    """
    validate.decay_rate("rho", rho)
    validate.positive("eps", eps)

    def init_fn(params):
        # Two separate buffers: a state that holds one array twice cannot be donated.
        return ScaleByAdadeltaState(
            jax.tree.map(jnp.zeros_like, params), jax.tree.map(jnp.zeros_like, params)
        )

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.e_g)
        e_g = jax.tree.map(
            lambda g, t: scalar_like(1 - rho, t) * abs_sq(g) + scalar_like(rho, t) * t,
            updates,
            state.e_g,
        )
        out = jax.tree.map(
            lambda g, eg, ex: (
                jnp.sqrt(ex + scalar_like(eps, ex))
                / jnp.sqrt(eg + scalar_like(eps, eg))
                * g
            ),
            updates,
            e_g,
            state.e_x,
        )
        e_x = jax.tree.map(
            lambda d, t: scalar_like(1 - rho, t) * abs_sq(d) + scalar_like(rho, t) * t,
            out,
            state.e_x,
        )
        return out, ScaleByAdadeltaState(e_g, e_x)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def _uses_decay(weight_decay: Any) -> bool:
    if callable(weight_decay) or validate.is_traced(weight_decay):
        return True
    validate.nonnegative("weight_decay", weight_decay)
    return float(weight_decay) != 0.0


def adadelta(
    learning_rate: ScalarOrSchedule = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Optional[Mask] = None,
) -> GradientTransformation:
    r"""AdaDelta, with an optional learning rate and coupled weight decay.

    $$
    \theta_{n+1} = \theta_n - \eta(n)\, d_n, \qquad
    d_n = \frac{\sqrt{E[\Delta^2]_{n-1} + \epsilon}}{\sqrt{E[g^2]_n + \epsilon}}
    (g_n + \lambda\theta_n)
    $$

    (see [`lrjax.scale_by_adadelta`][]). The default learning rate is 1.0, Zeiler's
    method and PyTorch's default. optax's `adadelta()` defaults to
    `learning_rate=None`, which skips the sign flip and *ascends*; lrjax's default
    descends.

    Args:
      learning_rate: a non-negative number or a schedule (default 1.0).
      rho: $\rho \in [0, 1)$ (Keras's default is 0.95).
      eps: $\epsilon > 0$ (Keras's default is 1e-7).
      weight_decay: $\lambda \ge 0$, added to the gradient before the direction
        (PyTorch's coupled `weight_decay`), or a schedule of it.
      weight_decay_mask: which leaves decay, see [`lrjax.add_decayed_weights`][].

    Returns:
      An optax `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> f = lambda x: jnp.sum(x ** 2)
      >>> opt = lrjax.adadelta()
      >>> x = jnp.asarray([1.0, 2.0, 3.0]); state = opt.init(x)
      >>> for _ in range(3):
      ...     u, state = opt.update(jax.grad(f)(x), state)
      ...     x = lrjax.apply_updates(x, u)
      >>> print(f"{float(f(x)):.4f}")  # 14.0 at the start; optax.adadelta() ascends
      13.8839

    References:
      Zeiler, ADADELTA: an adaptive learning rate method, 2012,
      https://arxiv.org/abs/1212.5701. optax `adadelta`; PyTorch
      `torch.optim.Adadelta`.
    """
    parts = []
    if _uses_decay(weight_decay) or weight_decay_mask is not None:
        parts.append(add_decayed_weights(weight_decay, weight_decay_mask))
    return chain(*parts, scale_by_adadelta(rho, eps), scale_by_learning_rate(learning_rate))
