"""The Adam family: Adam (and Keras's epsilon-hat form), AMSGrad, NAdam, AdaMax.

Each `scale_by_*` returns a direction with the sign of the gradient; the optimizers in
`_aliases.py` chain it with [`lrjax.scale_by_learning_rate`][]. Moments keep the
parameters' dtype (the first moment may use `mu_dtype`); bias corrections are
computed in float32 or wider and cast, because `1 - 0.999**n` rounds to 0 in
bfloat16.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from ._shared import validate
from ._shared.base import GradientTransformation
from ._shared.numerics import (
    abs_sq,
    bias_correction,
    lr_dtype,
    safe_increment,
    scalar_like,
    value_at,
)
from ._shared.tree import canonical_inputs, check_like


class ScaleByAdamState(NamedTuple):
    """State of [`lrjax.scale_by_adam`][] and [`lrjax.scale_by_adamax`][] (optax's fields)."""

    count: jax.Array
    mu: Any
    nu: Any


class ScaleByAmsgradState(NamedTuple):
    """State of [`lrjax.scale_by_amsgrad`][]: Adam's, plus the running maximum `nu_max`."""

    count: jax.Array
    mu: Any
    nu: Any
    nu_max: Any


class ScaleByNadamState(NamedTuple):
    """State of [`lrjax.scale_by_nadam`][]: Adam's, plus `mu_product` = ∏ μ_k so far."""

    count: jax.Array
    mu: Any
    nu: Any
    mu_product: jax.Array


def _check_betas(b1: Any, b2: Any, eps: Any, eps_root: Any = 0.0) -> None:
    validate.decay_rate("b1", b1)
    validate.decay_rate("b2", b2)
    validate.nonnegative("eps", eps)
    validate.nonnegative("eps_root", eps_root)


def _check_dtype(name: str, dtype: Any) -> Optional[jnp.dtype]:
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
        raise ValueError(f"{name} must be a floating or complex dtype or None, got {dtype!r}")
    return dt


def _wider(a: jnp.dtype, b: jnp.dtype) -> jnp.dtype:
    """The wider of two float dtypes (explicit, since promotion is strict)."""
    a, b = jnp.dtype(a), jnp.dtype(b)
    if a == b:
        return a
    if jnp.issubdtype(a, jnp.complexfloating) or jnp.issubdtype(b, jnp.complexfloating):
        return jnp.dtype(jnp.promote_types(a, b))
    if a.itemsize != b.itemsize:
        return a if a.itemsize > b.itemsize else b
    return jnp.dtype(jnp.float32)  # float16 with bfloat16


def _moments(updates, mu, nu, b1, b2):
    """First and second moments; the first in the wider of the grad and mu dtypes."""

    def first(g, m):
        dt = _wider(g.dtype, m.dtype)
        g, m = g.astype(dt), m.astype(dt)
        return scalar_like(1 - b1, m) * g + scalar_like(b1, m) * m

    def second(g, v):
        return scalar_like(1 - b2, v) * abs_sq(g.astype(v.dtype)) + scalar_like(b2, v) * v

    return jax.tree.map(first, updates, mu), jax.tree.map(second, updates, nu)


def _divide(t: jax.Array, bc: jax.Array) -> jax.Array:
    return t / bc.astype(t.dtype)


def _eps_hat(eps: Any, b2: Any, count: jax.Array, epsilon_hat: bool) -> jax.Array:
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
    _check_betas(0.0 if callable(b1) else b1, b2, eps, eps_root)
    mu_dt = _check_dtype("mu_dtype", mu_dtype)

    def init_fn(params):
        mu = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=mu_dt), params)
        nu = jax.tree.map(jnp.zeros_like, params)
        return ScaleByAdamState(jnp.zeros([], jnp.int32), mu, nu)

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.nu)
        # A scheduled beta1 (one-cycle momentum) enters both the moment and its bias
        # correction at its current value, as PyTorch's Adam does with OneCycleLR.
        beta = value_at(b1, state.count)
        mu, nu = _moments(updates, state.mu, state.nu, beta, b2)
        count = safe_increment(state.count)
        bc1 = bias_correction(beta, count)
        if nesterov:
            bc1_next = bias_correction(beta, safe_increment(count))
            mu_hat = jax.tree.map(
                lambda m, g: scalar_like(beta, m) * _divide(m, bc1_next)
                + scalar_like(1 - beta, m) * _divide(g.astype(m.dtype), bc1),
                mu, updates,
            )
        else:
            mu_hat = jax.tree.map(lambda m: _divide(m, bc1), mu)
        bc2 = bias_correction(b2, count)
        e = _eps_hat(eps, b2, count, epsilon_hat)

        def direction(g, m, v):
            v_hat = _divide(v, bc2)
            root = jnp.sqrt(v_hat + scalar_like(eps_root, v))
            d = m.astype(v.dtype) / (root + scalar_like(e, v))
            return d.astype(g.dtype)

        out = jax.tree.map(direction, updates, mu_hat, nu)
        mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)
        return out, ScaleByAdamState(count, mu, nu)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


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
    _check_betas(b1, b2, eps, eps_root)
    mu_dt = _check_dtype("mu_dtype", mu_dtype)

    def init_fn(params):
        mu = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=mu_dt), params)
        nu = jax.tree.map(jnp.zeros_like, params)
        nu_max = jax.tree.map(jnp.zeros_like, params)  # its own buffer, for donation
        return ScaleByAmsgradState(jnp.zeros([], jnp.int32), mu, nu, nu_max)

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.nu)
        mu, nu = _moments(updates, state.mu, state.nu, b1, b2)
        count = safe_increment(state.count)
        bc1 = bias_correction(b1, count)
        bc2 = bias_correction(b2, count)
        mu_hat = jax.tree.map(lambda m: _divide(m, bc1), mu) if bias_correction_mu else mu
        if max_before_correction or not bias_correction_nu:
            nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu)
            v_eff = jax.tree.map(lambda v: _divide(v, bc2), nu_max) if bias_correction_nu \
                else nu_max
        else:
            nu_max = jax.tree.map(lambda old, v: jnp.maximum(old, _divide(v, bc2)),
                                  state.nu_max, nu)
            v_eff = nu_max
        e = _eps_hat(eps, b2, count, epsilon_hat)

        def direction(g, m, v):
            root = jnp.sqrt(v + scalar_like(eps_root, v))
            d = m.astype(v.dtype) / (root + scalar_like(e, v))
            return d.astype(g.dtype)

        out = jax.tree.map(direction, updates, mu_hat, v_eff)
        mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)
        return out, ScaleByAmsgradState(count, mu, nu, nu_max)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


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
    _check_betas(b1, b2, eps, eps_root)
    mu_dt = _check_dtype("mu_dtype", mu_dtype)
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
        mu = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=mu_dt), params)
        nu = jax.tree.map(jnp.zeros_like, params)
        return ScaleByNadamState(
            jnp.zeros([], jnp.int32), mu, nu, jnp.ones([], lr_dtype())
        )

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.nu)
        mu, nu = _moments(updates, state.mu, state.nu, b1, b2)
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
            v_hat = _divide(v, bc2)
            root = jnp.sqrt(v_hat + scalar_like(eps_root, v))
            d = m_hat.astype(v.dtype) / (root + scalar_like(eps, v))
            return d.astype(g.dtype)

        out = jax.tree.map(direction, updates, mu, nu)
        mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)
        return out, ScaleByNadamState(count, mu, nu, prod.astype(state.mu_product.dtype))

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def scale_by_adamax(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    eps_in_max: bool = True,
) -> GradientTransformation:
    r"""AdaMax: Adam with the infinity norm in place of the second moment.

    $$
    m_n = \beta_1 m_{n-1} + (1-\beta_1) g_n, \qquad
    u_n = \max(\beta_2 u_{n-1},\, |g_n| + \epsilon), \qquad
    d_n = \frac{m_n}{(1-\beta_1^{n+1})\, u_n}
    $$

    with `eps_in_max` (optax, PyTorch); otherwise
    $u_n = \max(\beta_2 u_{n-1}, |g_n|)$ and
    $d_n = m_n / ((1-\beta_1^{n+1})(u_n + \epsilon))$ (Keras).

    Args:
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$, the decay of the running maximum.
      eps: $\epsilon \ge 0$.
      eps_in_max: where `eps` enters, see above.

    Returns:
      An optax `GradientTransformation` with a [`lrjax.ScaleByAdamState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_adamax(eps=0.0)
      >>> state = tx.init(jnp.zeros(1))
      >>> d, state = tx.update(jnp.full(1, -4.0), state)
      >>> print(f"{float(d[0]):.4f}")
      -1.0000

    References:
      Kingma & Ba, Adam: a method for stochastic optimization, 2015, §7.1,
      https://arxiv.org/abs/1412.6980. optax `scale_by_adamax`; PyTorch
      `torch.optim.Adamax`; Keras `Adamax`.
    """
    _check_betas(b1, b2, eps)

    def init_fn(params):
        # Two separate buffers: a state that holds one array twice cannot be donated.
        mu = jax.tree.map(jnp.zeros_like, params)
        nu = jax.tree.map(jnp.zeros_like, params)
        return ScaleByAdamState(jnp.zeros([], jnp.int32), mu, nu)

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.nu)
        count = safe_increment(state.count)
        mu = jax.tree.map(
            lambda g, m: scalar_like(1 - b1, m) * g.astype(m.dtype)
            + scalar_like(b1, m) * m,
            updates, state.mu,
        )
        if eps_in_max:
            nu = jax.tree.map(
                lambda g, u: jnp.maximum(jnp.abs(g).astype(u.dtype) + scalar_like(eps, u),
                                         scalar_like(b2, u) * u),
                updates, state.nu,
            )
            denom = nu
        else:
            nu = jax.tree.map(
                lambda g, u: jnp.maximum(
                    scalar_like(b2, u) * u, jnp.abs(g).astype(u.dtype)
                ),
                updates, state.nu,
            )
            denom = jax.tree.map(lambda u: u + scalar_like(eps, u), nu)
        bc1 = bias_correction(b1, count)
        out = jax.tree.map(
            lambda g, m, u: (_divide(m, bc1) / u).astype(g.dtype), updates, mu, denom
        )
        return out, ScaleByAdamState(count, mu, nu)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))
