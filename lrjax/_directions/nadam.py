"""NAdam: Adam with Nesterov momentum, in optax's, PyTorch's and Keras's forms.

`scale_by_nadam` is the direction; `nadam` chains it with
[`lrjax.scale_by_learning_rate`][]. Moments keep the parameters' dtype (the first moment
may use `mu_dtype`); bias corrections are computed in float32 or wider and cast, because
`1 - 0.999**n` rounds to 0 in bfloat16. The moment arithmetic shared with Adam lives in
`adam.py`.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from .._learning_rate.scale import scale_by_learning_rate
from .._shared import validate
from .._shared.base import GradientTransformation, ScalarOrSchedule, chain
from .._shared.numerics import bias_correction, lr_dtype, safe_increment, scalar_like
from .._shared.tree import canonical_dtype_or_none, canonical_inputs, check_like
from .adam import check_betas, check_dtype, divide, moments


class ScaleByNadamState(NamedTuple):
    """State of [`lrjax.scale_by_nadam`][]: Adam's, plus `mu_product` = ∏ μ_k so far."""

    count: jax.Array
    mu: Any
    nu: Any
    mu_product: jax.Array


def scale_by_nadam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    momentum_decay: Optional[float] = None,
) -> GradientTransformation:
    r"""NAdam: Adam with Nesterov momentum and, optionally, a momentum schedule.

    $$
    \begin{aligned}
    \mu_t &= \beta_1 \quad (\texttt{momentum\_decay=None}), \qquad
    \mu_t = \beta_1\left(1 - \tfrac12\, 0.96^{\,t\psi}\right) \quad
    (\texttt{momentum\_decay} = \psi) \\
    \hat m_n &= \frac{\mu_{t+1} m_n}{1 - \prod_{k\le t+1}\mu_k}
             + \frac{(1-\mu_t) g_n}{1 - \prod_{k\le t}\mu_k}, \qquad
    d_n = \frac{\hat m_n}{\sqrt{v_n/(1-\beta_2^t) + \bar\epsilon} + \epsilon}
    \end{aligned}
    $$

    where $t = n + 1$ and $m, v$ are Adam's moments. With the default
    constant $\mu_t = \beta_1$ this is optax's `nadam` (`scale_by_adam(
    nesterov=True)`). Dozat's schedule with $\psi = 0.004$ is PyTorch's
    `NAdam(momentum_decay=4e-3)`; Keras 3's `Nadam` uses $0.96^{t}$, that is
    $\psi = 1$.

    Args:
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\bar\epsilon \ge 0$, inside the root.
      mu_dtype: dtype of the first moment (complex for complex params); `None` keeps
        each parameter's dtype.
      momentum_decay: $\psi \ge 0$ of the momentum schedule, or `None` for a
        constant $\beta_1$.

    Returns:
      An optax `GradientTransformation` with a [`lrjax.ScaleByNadamState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_nadam(momentum_decay=4e-3)
      >>> state = tx.init(jnp.zeros(1))
      >>> d, state = tx.update(jnp.ones(1), state)
      >>> print(f"{float(d[0]):.4f}")  # Adam's first step is 1; mu_1 ~ 0.45 lifts it
      1.0565

    References:
      Dozat, Incorporating Nesterov momentum into Adam, ICLR workshop 2016,
      https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ. optax `nadam`; PyTorch
      `torch.optim.NAdam`; Keras `Nadam`.
    """
    check_betas(b1, b2, eps, eps_root)
    mu_dt = check_dtype("mu_dtype", mu_dtype)
    if momentum_decay is not None:
        validate.nonnegative("momentum_decay", momentum_decay)

    def schedule(t: jax.Array) -> jax.Array:
        """μ_t in the learning-rate dtype, for the 1-based step t."""
        dt = lr_dtype()
        beta = jnp.asarray(b1, dt)
        if momentum_decay is None:
            return beta
        psi = jnp.asarray(momentum_decay, dt)
        return beta * (1 - 0.5 * jnp.asarray(0.96, dt) ** (t.astype(dt) * psi))

    def init_fn(params):
        mu = jax.tree.map(
            lambda p: jnp.zeros_like(p, dtype=canonical_dtype_or_none(mu_dt)), params
        )
        nu = jax.tree.map(jnp.zeros_like, params)
        return ScaleByNadamState(jnp.zeros([], jnp.int32), mu, nu, jnp.ones([], lr_dtype()))

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.nu)
        mu, nu = moments(updates, state.mu, state.nu, b1, b2)
        count = safe_increment(state.count)
        mu_t, mu_next = schedule(count), schedule(safe_increment(count))
        if momentum_decay is None:
            # The constant schedule: 1 - ∏μ_k = 1 - β1ⁿ, in the accurate form.
            one_minus_prod = bias_correction(b1, count)
            one_minus_next = bias_correction(b1, safe_increment(count))
            prod = 1 - one_minus_prod
            one_minus_mu = jnp.asarray(1 - b1, lr_dtype())
        else:
            prod = state.mu_product * mu_t
            one_minus_prod, one_minus_next = 1 - prod, 1 - prod * mu_next
            one_minus_mu = 1 - mu_t
        coef_m = mu_next / one_minus_next
        coef_g = one_minus_mu / one_minus_prod
        bc2 = bias_correction(b2, count)

        def direction(g, m, v):
            m_hat = scalar_like(coef_m, m) * m + scalar_like(coef_g, m) * g.astype(m.dtype)
            v_hat = divide(v, bc2)
            d = m_hat.astype(v.dtype) / (
                jnp.sqrt(v_hat + scalar_like(eps_root, v)) + scalar_like(eps, v)
            )
            return d.astype(g.dtype)

        out = jax.tree.map(direction, updates, mu, nu)
        mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)
        return out, ScaleByNadamState(count, mu, nu, prod.astype(state.mu_product.dtype))

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def nadam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    momentum_decay: Optional[float] = None,
) -> GradientTransformation:
    r"""NAdam: Adam with Nesterov momentum.

    See [`lrjax.scale_by_nadam`][]: the default is optax's `nadam`; PyTorch `NAdam` is
    `nadam(lr, momentum_decay=4e-3)` and Keras `Nadam` is `nadam(lr, eps=1e-7,
    momentum_decay=1.0)`.

    Args:
      learning_rate: a non-negative number or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\bar\epsilon \ge 0$, inside the root.
      mu_dtype: dtype of the first moment (complex for complex params); `None` keeps
        each parameter's dtype.
      momentum_decay: $\psi$ of Dozat's momentum schedule, or `None`.

    Returns:
      An optax `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> f = lambda x: jnp.sum(x ** 2)
      >>> opt = lrjax.nadam(0.1, momentum_decay=4e-3)
      >>> x = jnp.asarray([1.0, 2.0, 3.0]); state = opt.init(x)
      >>> for _ in range(100):
      ...     u, state = opt.update(jax.grad(f)(x), state)
      ...     x = lrjax.apply_updates(x, u)
      >>> print(f"{float(f(x)) < 0.1}")
      True

    References:
      Dozat, Incorporating Nesterov momentum into Adam, 2016,
      https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ. optax `nadam`.
    """
    return chain(
        scale_by_nadam(b1, b2, eps, eps_root, mu_dtype, momentum_decay=momentum_decay),
        scale_by_learning_rate(learning_rate),
    )
