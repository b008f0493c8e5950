"""AdaGrad: divide by the root of the sum of all squared gradients so far.

`scale_by_adagrad` is the direction; `adagrad` chains it with
[`lrjax.scale_by_learning_rate`][]. Statistics keep each parameter's dtype; every
hyperparameter is cast to the dtype of the leaf it multiplies (`scalar_like`), so
bfloat16 trees stay bfloat16 under JAX's strict dtype promotion.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._learning_rate.scale import scale_by_learning_rate
from .._shared import validate
from .._shared.base import GradientTransformation, ScalarOrSchedule, chain
from .._shared.numerics import abs_sq, scalar_like
from .._shared.tree import canonical_inputs, check_like


class ScaleByAdagradState(NamedTuple):
    """State of [`lrjax.scale_by_adagrad`][]: the running sum of squared gradients."""

    sum_of_squares: Any


def scale_by_adagrad(
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
    *,
    eps_in_sqrt: bool = True,
) -> GradientTransformation:
    r"""AdaGrad: divide by the root of the sum of all squared gradients so far.

    $$
    s_n = s_0 + \sum_{k \le n} g_k^2, \qquad
    d_n = \frac{g_n}{\sqrt{s_n + \epsilon}} \;\; (\texttt{eps\_in\_sqrt}), \quad
    d_n = \frac{g_n}{\sqrt{s_n} + \epsilon} \;\; \text{otherwise}
    $$

    element-wise, with $d_n = 0$ where $s_n = 0$ (a coordinate that has
    never seen a gradient). The defaults (`s_0 = 0.1`, `eps = 1e-7` inside the
    root) are optax's and Keras's; PyTorch's `Adagrad` is `initial_accumulator_value
    =0.0, eps=1e-10, eps_in_sqrt=False`.

    Args:
      initial_accumulator_value: $s_0 \ge 0$.
      eps: $\epsilon \ge 0$.
      eps_in_sqrt: add `eps` inside the square root (optax, Keras) or outside it
        (PyTorch).

    Returns:
      An optax `GradientTransformation` with a [`lrjax.ScaleByAdagradState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_adagrad(initial_accumulator_value=0.0, eps=0.0)
      >>> state = tx.init(jnp.zeros(1))
      >>> d, state = tx.update(jnp.full(1, 3.0), state)
      >>> d, state = tx.update(jnp.full(1, 4.0), state)
      >>> print(f"{float(d[0]):.4f}")
      0.8000

    References:
      Duchi, Hazan & Singer, Adaptive subgradient methods for online learning and
      stochastic optimization, JMLR 2011, https://jmlr.org/papers/v12/duchi11a.html.
      optax `scale_by_rss`; Keras `Adagrad`; PyTorch `torch.optim.Adagrad`.
    """
    validate.nonnegative("initial_accumulator_value", initial_accumulator_value)
    validate.nonnegative("eps", eps)

    def init_fn(params):
        return ScaleByAdagradState(
            jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params)
        )

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.sum_of_squares)
        sums = jax.tree.map(lambda g, s: s + abs_sq(g), updates, state.sum_of_squares)

        def direction(g, s):
            if eps_in_sqrt:
                scale = jax.lax.rsqrt(s + scalar_like(eps, s))
            else:
                scale = 1 / (jnp.sqrt(s) + scalar_like(eps, s))
            # A coordinate whose gradients were all zero gets no update (optax's guard),
            # rather than 0/0 when eps is 0.
            return jnp.where(s > 0, scale * g, jnp.zeros_like(g))

        return jax.tree.map(direction, updates, sums), ScaleByAdagradState(sums)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
    *,
    eps_in_sqrt: bool = True,
) -> GradientTransformation:
    r"""AdaGrad: $\theta_{n+1} = \theta_n - \eta(n)\, g_n/\sqrt{s_n + \epsilon}$.

    See [`lrjax.scale_by_adagrad`][] for $s_n$ and the PyTorch form
    (`initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False`; PyTorch's
    `lr_decay=d` is the schedule $\eta/(1 + d\,n)$).

    Args:
      learning_rate: a non-negative number or a schedule.
      initial_accumulator_value: $s_0 \ge 0$ (optax and Keras: 0.1).
      eps: $\epsilon \ge 0$.
      eps_in_sqrt: `eps` inside the root (optax, Keras) or outside (PyTorch).

    Returns:
      An optax `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> f = lambda x: jnp.sum(x ** 2)
      >>> opt = lrjax.adagrad(1.0)
      >>> x = jnp.asarray([1.0, 2.0, 3.0]); state = opt.init(x)
      >>> for _ in range(5):
      ...     u, state = opt.update(jax.grad(f)(x), state)
      ...     x = lrjax.apply_updates(x, u)
      >>> print(f"{float(f(x)):.4f}")
      0.3852

    References:
      Duchi, Hazan & Singer, Adaptive subgradient methods for online learning and
      stochastic optimization, JMLR 2011, https://jmlr.org/papers/v12/duchi11a.html.
      optax `adagrad`.
    """
    return chain(
        scale_by_adagrad(initial_accumulator_value, eps, eps_in_sqrt=eps_in_sqrt),
        scale_by_learning_rate(learning_rate),
    )
