"""COCOB-Backprop: coin betting, with no learning rate (Orabona & Tommasi 2017)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._shared import validate
from .._shared.base import GradientTransformation
from .._shared.numerics import scalar_like
from .._shared.tree import canonical_inputs, check_like
from .numerics import decay_active, reject_complex


class COCOBState(NamedTuple):
    """State of [`lrjax.cocob`][], one value of each per coordinate.

    Attributes:
      max_grad: $L$, the largest $|g|$ seen (from `eps`).
      neg_grad_sum: $\\theta$, the sum of the negative gradients.
      abs_grad_sum: $G$, the sum of $|g|$.
      reward: $R$, the wealth won by betting.
      displacement: $x - x_0$, the bet placed.
    """

    max_grad: Any
    neg_grad_sum: Any
    abs_grad_sum: Any
    reward: Any
    displacement: Any


def cocob(
    *, alpha: float = 100.0, eps: float = 1e-8, weight_decay: float = 0.0
) -> GradientTransformation:
    r"""COCOB-Backprop: each coordinate bets a fraction of its wealth on the gradient.

    Per coordinate, with $g \leftarrow g + \lambda x$ (coupled weight decay):

    $$
    L \leftarrow \max(L, |g|), \quad \theta \leftarrow \theta - g, \quad
    G \leftarrow G + |g|, \quad R \leftarrow \max\big(R - g\,(x - x_0), 0\big),
    $$

    $$
    x = x_0 + \frac{\theta\,(L + R)}{L \max(G + L, \alpha L)},
    $$

    from $L = \epsilon$ and $\theta = G = R = 0$, as `parameterfree`'s `COCOB`. It has
    no learning rate: the update is invariant to the scale of the gradients, so
    optax.contrib's `cocob(learning_rate)` (which scales $g$ first) gives the same
    trajectory at every `learning_rate`; `optax.contrib.cocob(alpha=a, eps=e,
    weight_decay=w)` is `lrjax.cocob(alpha=a, eps=e, weight_decay=w)`. The bet
    $x - x_0$ is kept as the state in place of $x_0$ (the same memory).

    There is no scalar step size, so [`lrjax.current_learning_rate`][] refuses a
    COCOB state with an error saying so: each coordinate's step is its own fraction
    $(L+R)/(L\max(G+L, \alpha L))$ of its wealth, readable from the state.

    Args:
      alpha: $\alpha > 0$, which caps the bet early on (the authors' 100).
      eps: $\epsilon > 0$, the first $L$.
      weight_decay: $\lambda \ge 0$, coupled (added to the gradient).

    Returns:
      An optax `GradientTransformation` with a [`lrjax.COCOBState`][].

    Examples:
      >>> import jax, jax.numpy as jnp, optax, lrjax
      >>> f = lambda x: jnp.sum((x - 3.0) ** 2)
      >>> x = jnp.array([1.0, 2.0])
      >>> opt = lrjax.cocob()
      >>> state = opt.init(x)
      >>> for _ in range(200):
      ...     u, state = opt.update(jax.grad(f)(x), state, x)
      ...     x = optax.apply_updates(x, u)
      >>> print(f"{float(f(x)) < 1e-2}")
      True

    References:
      Orabona & Tommasi, Training Deep Networks without Learning Rates Through Coin
      Betting, 2017, https://arxiv.org/abs/1705.07795; `parameterfree`
      (https://github.com/bremen79/parameterfree), `parameterfree/cocob.py`.
    """
    validate.positive("alpha", alpha)
    validate.positive("eps", eps)
    validate.nonnegative("weight_decay", weight_decay)
    wd, decays = weight_decay, decay_active(weight_decay)

    def init_fn(params):
        reject_complex(params, "cocob")
        zeros = lambda: jax.tree.map(jnp.zeros_like, params)
        return COCOBState(
            jax.tree.map(lambda x: jnp.full_like(x, eps), params),
            zeros(),
            zeros(),
            zeros(),
            zeros(),
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("cocob needs params: call update(grads, state, params)")
        check_like(updates, params, dtypes=False)
        check_like(updates, state.displacement)

        def leaf(g, x, L, theta, G, R, d):
            if decays:
                g = g + scalar_like(wd, g) * x
            L = jnp.maximum(L, jnp.abs(g))
            theta = theta - g
            G = G + jnp.abs(g)
            R = jnp.maximum(R - g * d, 0)
            # theta (L + R) / (L max(G + L, alpha L)) as (theta / L) ((L + R) / max(...)):
            # the reference's order overflows in float32 for gradients of 1e30.
            new = (theta / L) * ((R + L) / jnp.maximum(G + L, scalar_like(alpha, L) * L))
            return new - d, L, theta, G, R, new

        out = jax.tree.map(leaf, updates, params, *state)
        treedef = jax.tree.structure(updates)
        parts = [
            jax.tree.unflatten(treedef, [o[i] for o in treedef.flatten_up_to(out)])
            for i in range(6)
        ]
        return parts[0], COCOBState(*parts[1:])

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))
