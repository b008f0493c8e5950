"""AMSGrad: Adam whose second moment is a running maximum.

`scale_by_amsgrad` is the direction; `amsgrad` chains it with
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
from .._shared.base import GradientTransformation, ScalarOrSchedule, chain
from .._shared.numerics import bias_correction, safe_increment, scalar_like
from .._shared.tree import canonical_dtype_or_none, canonical_inputs, check_like
from .adam import check_betas, check_dtype, divide, eps_hat, moments


class ScaleByAmsgradState(NamedTuple):
    """State of [`lrjax.scale_by_amsgrad`][]: Adam's, plus the running maximum `nu_max`."""

    count: jax.Array
    mu: Any
    nu: Any
    nu_max: Any


def scale_by_amsgrad(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    max_before_correction: bool = False,
    epsilon_hat: bool = False,
) -> GradientTransformation:
    r"""AMSGrad: Adam with a non-increasing effective step, via a running max of v.

    $$
    \hat v^{\max}_n = \max(\hat v^{\max}_{n-1}, \hat v_n), \qquad
    d_n = \frac{\hat m_n}{\sqrt{\hat v^{\max}_n + \bar\epsilon} + \epsilon}
    $$

    with $m, v, \hat m, \hat v$ as in [`lrjax.scale_by_adam`][]; this is optax's
    form (the maximum of the bias-corrected $\hat v$). PyTorch's
    `Adam(amsgrad=True)` and Keras's take the maximum of the raw $v$ and
    correct it afterwards, $\max_{k\le n} v_k / (1-\beta_2^t)$:
    `max_before_correction=True`. Keras also uses the ε-hat form
    (`epsilon_hat=True`, see [`lrjax.scale_by_adam`][]).

    Args:
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\bar\epsilon \ge 0$, inside the root.
      mu_dtype: dtype of the first moment (complex for complex params); `None` keeps
        each parameter's dtype.
      bias_correction_mu: divide $m$ by $1-\beta_1^t$ (Reddi et al. do
        not).
      bias_correction_nu: divide $v$ by $1-\beta_2^t$ (Reddi et al. do
        not).
      max_before_correction: take the maximum of the raw $v$ and correct it
        afterwards (PyTorch, Keras); no effect without `bias_correction_nu`.
      epsilon_hat: Keras's ε̂ (`eps` scaled by $1/\sqrt{1-\beta_2^t}$).

    Returns:
      An optax `GradientTransformation` with a [`lrjax.ScaleByAmsgradState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_amsgrad(eps=0.0)
      >>> state = tx.init(jnp.zeros(1))
      >>> _, state = tx.update(jnp.full(1, 10.0), state)
      >>> d, state = tx.update(jnp.full(1, 0.1), state)
      >>> print(f"{float(d[0]):.4f}")  # sqrt of the max v-hat (100) of step 1, not 49.98
      0.4789

    References:
      Reddi, Kale & Kumar, On the convergence of Adam and beyond, ICLR 2018,
      https://openreview.net/forum?id=ryQu7f-RZ. optax `scale_by_amsgrad`; PyTorch
      `torch.optim.Adam(amsgrad=True)`; Keras `Adam(amsgrad=True)`.
    """
    check_betas(b1, b2, eps, eps_root)
    mu_dt = check_dtype("mu_dtype", mu_dtype)

    def init_fn(params):
        mu = jax.tree.map(
            lambda p: jnp.zeros_like(p, dtype=canonical_dtype_or_none(mu_dt)), params
        )
        nu = jax.tree.map(jnp.zeros_like, params)
        nu_max = jax.tree.map(jnp.zeros_like, params)  # its own buffer, for donation
        return ScaleByAmsgradState(jnp.zeros([], jnp.int32), mu, nu, nu_max)

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.nu)
        mu, nu = moments(updates, state.mu, state.nu, b1, b2)
        count = safe_increment(state.count)
        bc1 = bias_correction(b1, count)
        bc2 = bias_correction(b2, count)
        mu_hat = jax.tree.map(lambda m: divide(m, bc1), mu) if bias_correction_mu else mu
        if max_before_correction or not bias_correction_nu:
            nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu)
            v_eff = (
                jax.tree.map(lambda v: divide(v, bc2), nu_max)
                if bias_correction_nu
                else nu_max
            )
        else:
            nu_max = jax.tree.map(
                lambda old, v: jnp.maximum(old, divide(v, bc2)), state.nu_max, nu
            )
            v_eff = nu_max
        e = eps_hat(eps, b2, count, epsilon_hat)

        def direction(g, m, v):
            d = m.astype(v.dtype) / (
                jnp.sqrt(v + scalar_like(eps_root, v)) + scalar_like(e, v)
            )
            return d.astype(g.dtype)

        out = jax.tree.map(direction, updates, mu_hat, v_eff)
        mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)
        return out, ScaleByAmsgradState(count, mu, nu, nu_max)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    max_before_correction: bool = False,
    epsilon_hat: bool = False,
) -> GradientTransformation:
    r"""AMSGrad: Adam whose second moment is a running maximum.

    See [`lrjax.scale_by_amsgrad`][]. PyTorch `Adam(amsgrad=True)` is
    `amsgrad(lr, max_before_correction=True)`; Keras `Adam(amsgrad=True)` adds
    `eps=1e-7, epsilon_hat=True`.

    Args:
      learning_rate: a non-negative number or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\bar\epsilon \ge 0$, inside the root.
      mu_dtype: dtype of the first moment (complex for complex params); `None` keeps
        each parameter's dtype.
      bias_correction_mu: bias-correct the first moment.
      bias_correction_nu: bias-correct the second moment.
      max_before_correction: maximum of the raw second moment (PyTorch, Keras).
      epsilon_hat: Keras's ε̂ form.

    Returns:
      An optax `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> f = lambda x: jnp.sum(x ** 2)
      >>> opt = lrjax.amsgrad(0.1)
      >>> x = jnp.asarray([1.0, 2.0, 3.0]); state = opt.init(x)
      >>> for _ in range(100):
      ...     u, state = opt.update(jax.grad(f)(x), state)
      ...     x = lrjax.apply_updates(x, u)
      >>> print(f"{float(f(x)) < 0.1}")
      True

    References:
      Reddi, Kale & Kumar, On the convergence of Adam and beyond, ICLR 2018,
      https://openreview.net/forum?id=ryQu7f-RZ. optax `amsgrad`.
    """
    return chain(
        scale_by_amsgrad(
            b1,
            b2,
            eps,
            eps_root,
            mu_dtype,
            bias_correction_mu,
            bias_correction_nu,
            max_before_correction=max_before_correction,
            epsilon_hat=epsilon_hat,
        ),
        scale_by_learning_rate(learning_rate),
    )
