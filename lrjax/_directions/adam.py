"""Adam and AdamW, and the moment arithmetic of the Adam family.

`scale_by_adam` is the direction (with Keras's epsilon-hat and Dozat's Nesterov forms);
`adam` and `adamw` chain it with [`lrjax.scale_by_learning_rate`][]. Moments keep the
parameters' dtype (the first moment may use `mu_dtype`); bias corrections are computed
in float32 or wider and cast, because `1 - 0.999**n` rounds to 0 in bfloat16. The
helpers `check_betas`, `check_dtype`, `moments`, `divide` and `eps_hat` are shared with
AMSGrad, NAdam and AdaMax (`amsgrad.py`, `nadam.py`, `adamax.py`).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from .._learning_rate.scale import scale_by_learning_rate
from .._shared import validate
from .._shared.base import GradientTransformation, ScalarOrSchedule, chain
from .._shared.numerics import (
    abs_sq,
    bias_correction,
    lr_dtype,
    safe_increment,
    scalar_like,
    value_at,
)
from .._shared.tree import canonical_dtype_or_none, canonical_inputs, check_like
from .momentum import Mask, add_decayed_weights


class ScaleByAdamState(NamedTuple):
    """State of [`lrjax.scale_by_adam`][] and [`lrjax.scale_by_adamax`][] (optax's fields)."""

    count: jax.Array
    mu: Any
    nu: Any


def check_betas(b1: Any, b2: Any, eps: Any, eps_root: Any = 0.0) -> None:
    validate.decay_rate("b1", b1)
    validate.decay_rate("b2", b2)
    validate.nonnegative("eps", eps)
    validate.nonnegative("eps_root", eps_root)


def check_dtype(name: str, dtype: Any) -> Optional[jnp.dtype]:
    if dtype is None:
        return None
    try:
        dt = jnp.dtype(dtype)
    except TypeError as err:
        raise TypeError(
            f"{name} must be a floating or complex dtype or None, got {dtype!r}"
        ) from err
    # Complex, as optax allows, for complex params (a complex first moment of real
    # params would be refused by the update's dtype check).
    if not jnp.issubdtype(dt, jnp.inexact):
        raise ValueError(
            f"{name} must be a floating or complex dtype or None, got {dtype!r}"
        )
    return dt


def wider(a: jnp.dtype, b: jnp.dtype) -> jnp.dtype:
    """The wider of two float dtypes (explicit, since promotion is strict)."""
    a, b = jnp.dtype(a), jnp.dtype(b)
    if a == b:
        return a
    if jnp.issubdtype(a, jnp.complexfloating) or jnp.issubdtype(b, jnp.complexfloating):
        return jnp.dtype(jnp.promote_types(a, b))
    if a.itemsize != b.itemsize:
        return a if a.itemsize > b.itemsize else b
    return jnp.dtype(jnp.float32)  # float16 with bfloat16


def moments(updates, mu, nu, b1, b2):
    """First and second moments; the first in the wider of the grad and mu dtypes."""

    def first(g, m):
        dt = wider(g.dtype, m.dtype)
        g, m = g.astype(dt), m.astype(dt)
        return scalar_like(1 - b1, m) * g + scalar_like(b1, m) * m

    def second(g, v):
        return scalar_like(1 - b2, v) * abs_sq(g.astype(v.dtype)) + scalar_like(b2, v) * v

    return jax.tree.map(first, updates, mu), jax.tree.map(second, updates, nu)


def divide(t: jax.Array, bc: jax.Array) -> jax.Array:
    return t / bc.astype(t.dtype)


def eps_hat(eps: Any, b2: Any, count: jax.Array, epsilon_hat: bool) -> jax.Array:
    """`eps`, or Keras's ε̂ = ε/√(1−β2ⁿ) in terms of the bias-corrected moments."""
    eps = jnp.asarray(eps, lr_dtype())
    if not epsilon_hat:
        return eps
    return eps / jnp.sqrt(bias_correction(b2, count))


def scale_by_adam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    epsilon_hat: bool = False,
) -> GradientTransformation:
    r"""Adam's direction: bias-corrected first moment over the root of the second.

    $$
    \begin{aligned}
    m_n &= \beta_1 m_{n-1} + (1-\beta_1) g_n, \quad
    v_n = \beta_2 v_{n-1} + (1-\beta_2) g_n^2, \quad t = n + 1 \\
    \hat m_n &= \frac{m_n}{1-\beta_1^t}, \quad \hat v_n = \frac{v_n}{1-\beta_2^t},
    \qquad d_n = \frac{\hat m_n}{\sqrt{\hat v_n + \bar\epsilon} + \epsilon_n}
    \end{aligned}
    $$

    with $\epsilon_n = \epsilon$ (Algorithm 1 of the paper; optax, PyTorch), or
    with `epsilon_hat` $\epsilon_n = \hat\epsilon/\sqrt{1-\beta_2^t}$, which is
    the "ε-hat" form of Keras and TensorFlow,
    $\eta\sqrt{1-\beta_2^t}/(1-\beta_1^t)\cdot m_n/(\sqrt{v_n}+\hat\epsilon)$
    (the formula just before §2.1 of the paper). `nesterov` replaces
    $\hat m_n$ by
    $\beta_1 m_n/(1-\beta_1^{t+1}) + (1-\beta_1) g_n/(1-\beta_1^t)$, optax's
    NAdam; [`lrjax.scale_by_nadam`][] also has PyTorch's and Keras's momentum schedules.

    Args:
      b1: $\beta_1 \in [0, 1)$, or a schedule of it (one-cycle momentum).
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\bar\epsilon \ge 0$, inside the root (for meta-gradients).
      mu_dtype: dtype of the first moment (complex for complex params); `None` keeps
        each parameter's dtype.
      nesterov: Dozat's Nesterov form, as optax's `nesterov=True`.
      epsilon_hat: scale `eps` by $1/\sqrt{1-\beta_2^t}$ (Keras `Adam`).

    Returns:
      An optax `GradientTransformation` with a [`lrjax.ScaleByAdamState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_adam()
      >>> state = tx.init(jnp.zeros(2))
      >>> d, state = tx.update(jnp.asarray([0.5, -2.0]), state)
      >>> print(f"{float(d[0]):.4f} {float(d[1]):.4f}")
      1.0000 -1.0000

    References:
      Kingma & Ba, Adam: a method for stochastic optimization, 2015,
      https://arxiv.org/abs/1412.6980. Dozat, Incorporating Nesterov momentum into
      Adam, 2016, https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ. optax
      `scale_by_adam`; Keras `Adam`; PyTorch `torch.optim.Adam`.
    """
    check_betas(0.0 if callable(b1) else b1, b2, eps, eps_root)
    mu_dt = check_dtype("mu_dtype", mu_dtype)

    def init_fn(params):
        mu = jax.tree.map(
            lambda p: jnp.zeros_like(p, dtype=canonical_dtype_or_none(mu_dt)), params
        )
        nu = jax.tree.map(jnp.zeros_like, params)
        return ScaleByAdamState(jnp.zeros([], jnp.int32), mu, nu)

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.nu)
        # A scheduled beta1 (one-cycle momentum) enters both the moment and its bias
        # correction at its current value, as PyTorch's Adam does with OneCycleLR.
        beta = value_at(b1, state.count)
        mu, nu = moments(updates, state.mu, state.nu, beta, b2)
        count = safe_increment(state.count)
        bc1 = bias_correction(beta, count)
        if nesterov:
            bc1_next = bias_correction(beta, safe_increment(count))
            mu_hat = jax.tree.map(
                lambda m, g: (
                    scalar_like(beta, m) * divide(m, bc1_next)
                    + scalar_like(1 - beta, m) * divide(g.astype(m.dtype), bc1)
                ),
                mu,
                updates,
            )
        else:
            mu_hat = jax.tree.map(lambda m: divide(m, bc1), mu)
        bc2 = bias_correction(b2, count)
        e = eps_hat(eps, b2, count, epsilon_hat)

        def direction(g, m, v):
            v_hat = divide(v, bc2)
            d = m.astype(v.dtype) / (
                jnp.sqrt(v_hat + scalar_like(eps_root, v)) + scalar_like(e, v)
            )
            return d.astype(g.dtype)

        out = jax.tree.map(direction, updates, mu_hat, nu)
        mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)
        return out, ScaleByAdamState(count, mu, nu)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def adam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    epsilon_hat: bool = False,
) -> GradientTransformation:
    r"""Adam: $\theta_{n+1} = \theta_n - \eta(n)\,\hat m_n/(\sqrt{\hat v_n +
    \bar\epsilon} + \epsilon)$.

    See [`lrjax.scale_by_adam`][] for the moments, `nesterov` and Keras's
    `epsilon_hat` form (`adam(lr, eps=1e-7, epsilon_hat=True)` is Keras `Adam`).

    Args:
      learning_rate: a non-negative number or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\bar\epsilon \ge 0$, inside the root.
      mu_dtype: dtype of the first moment (complex for complex params); `None` keeps
        each parameter's dtype.
      nesterov: optax's NAdam form.
      epsilon_hat: Keras's ε̂ form.

    Returns:
      An optax `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> f = lambda x: jnp.sum(x ** 2)
      >>> opt = lrjax.adam(0.1)
      >>> x = jnp.asarray([1.0, 2.0, 3.0]); state = opt.init(x)
      >>> for _ in range(100):
      ...     u, state = opt.update(jax.grad(f)(x), state)
      ...     x = lrjax.apply_updates(x, u)
      >>> print(f"{float(f(x)):.4f}")
      0.0...

    References:
      Kingma & Ba, Adam: a method for stochastic optimization, 2015,
      https://arxiv.org/abs/1412.6980. optax `adam`.
    """
    return chain(
        scale_by_adam(
            b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, epsilon_hat=epsilon_hat
        ),
        scale_by_learning_rate(learning_rate),
    )


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Optional[Mask] = None,
    *,
    nesterov: bool = False,
    epsilon_hat: bool = False,
) -> GradientTransformation:
    r"""Adam with decoupled weight decay.

    $$
    \theta_{n+1} = \theta_n - \eta(n)\left(\frac{\hat m_n}{\sqrt{\hat v_n +
    \bar\epsilon} + \epsilon} + \lambda\,\theta_n\right)
    $$

    The decay is multiplied by the learning rate, as in optax, PyTorch `AdamW`
    (`weight_decay=1e-2`) and Keras `AdamW` (`weight_decay=0.004`, with
    `eps=1e-7, epsilon_hat=True`); Loshchilov & Hutter multiply it by the schedule
    multiplier only.

    Args:
      learning_rate: a non-negative number or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\bar\epsilon \ge 0$, inside the root.
      mu_dtype: dtype of the first moment (complex for complex params); `None` keeps
        each parameter's dtype.
      weight_decay: $\lambda \ge 0$ (optax's default 1e-4), or a schedule.
      mask: which leaves decay, see [`lrjax.add_decayed_weights`][].
      nesterov: optax's NAdamW form.
      epsilon_hat: Keras's ε̂ form.

    Returns:
      An optax `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> opt = lrjax.adamw(0.1, weight_decay=0.5)
      >>> x = jnp.ones(2); state = opt.init(x)
      >>> u, state = opt.update(jnp.zeros(2), state, x)
      >>> print(f"{float(u[0]):.4f}")
      -0.0500

    References:
      Loshchilov & Hutter, Decoupled weight decay regularization, ICLR 2019,
      https://arxiv.org/abs/1711.05101. optax `adamw`.
    """
    return chain(
        scale_by_adam(
            b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, epsilon_hat=epsilon_hat
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
