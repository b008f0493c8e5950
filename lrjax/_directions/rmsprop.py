"""RMSprop: divide by the root of a running mean of squared gradients.

`scale_by_rmsprop` is the direction, plain or centered, with an optional momentum
buffer; `rmsprop` chains it with [`lrjax.scale_by_learning_rate`][], by default with the
learning rate inside the momentum buffer (`momentum.momentum_chain`). Statistics keep
each parameter's dtype; every hyperparameter is cast to the dtype of the leaf it
multiplies (`scalar_like`), so bfloat16 trees stay bfloat16 under JAX's strict dtype
promotion.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from .._learning_rate.scale import scale_by_learning_rate
from .._shared import numerics, validate
from .._shared.base import GradientTransformation, ScalarOrSchedule, chain
from .._shared.numerics import abs_sq, initial_count, safe_increment, scalar_like, value_at
from .._shared.tree import canonical_inputs, check_like
from .momentum import momentum_chain


class ScaleByRmspropState(NamedTuple):
    """State of [`lrjax.scale_by_rmsprop`][].

    Attributes:
      count: number of updates so far (`int32`, saturating), for the bias correction
        or a scheduled momentum; `()` when neither (no leaf, no kernel).
      nu: running mean of the squared gradients.
      mu: running mean of the gradients (`centered`), else `None`.
      trace: momentum buffer (`momentum` given), else `None`.
    """

    count: jax.Array
    nu: Any
    mu: Any
    trace: Any


def _centered_variance(nu: jax.Array, mu: jax.Array) -> jax.Array:
    """ν − μ², clipped at 0; `inf` where the moments overflowed.

    Gradients near the top of the float range overflow both ν and μ² to inf, and
    inf − inf would be NaN; the variance of such gradients is (at least) huge, so the
    direction g/√r goes to 0 there, as it does in the uncentered form.
    """
    mu2 = abs_sq(mu)
    overflow = jnp.isinf(nu) | jnp.isinf(mu2)
    return jnp.where(overflow, jnp.asarray(jnp.inf, nu.dtype), jnp.maximum(nu - mu2, 0))


def scale_by_rmsprop(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: Optional[ScalarOrSchedule] = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    r"""RMSprop: divide by the root of a running mean of squared gradients.

    $$
    \begin{aligned}
    \nu_n &= \rho\,\nu_{n-1} + (1-\rho) g_n^2, \qquad \nu_{-1} = s_0 \\
    \mu_n &= \rho\,\mu_{n-1} + (1-\rho) g_n \quad (\texttt{centered}) \\
    r_n &= \nu_n - \mu_n^2 \;\; (\texttt{centered}), \quad r_n = \nu_n \;\; \text{else}
    \\
    q_n &= \frac{g_n}{\sqrt{r_n + \epsilon}} \;\; (\texttt{eps\_in\_sqrt}), \quad
    q_n = \frac{g_n}{\sqrt{r_n} + \epsilon} \;\; \text{else}
    \end{aligned}
    $$

    With `bias_correction` the means are divided by $1-\rho^{n+1}$ first. With
    `momentum` $\beta$ the direction is the buffer
    $t_n = \beta t_{n-1} + q_n$ (Nesterov: $q_n + \beta t_n$), and the
    learning rate chained after it multiplies the buffer: that is PyTorch's
    `RMSprop(momentum=β)`. optax and Keras put the learning rate *inside* the buffer
    instead; [`lrjax.rmsprop`][] does that by default (`lr_in_momentum=True`) by chaining
    [`lrjax.trace`][] after [`lrjax.scale_by_learning_rate`][]. The two agree for a constant
    learning rate.

    $r_n$ of the centered form is clipped at 0 before the root: it is a variance,
    non-negative in exact arithmetic, and rounding must not turn it into a NaN.

    Args:
      decay: $\rho \in [0, 1)$ (PyTorch calls it `alpha`, Keras `rho`).
      eps: $\epsilon \ge 0$.
      initial_scale: $s_0 \ge 0$, the initial $\nu$ (TF1 used 1).
      eps_in_sqrt: `eps` inside the root (optax, Keras) or outside (PyTorch).
      centered: divide by the running standard deviation instead of the RMS.
      momentum: $\beta \in [0, 1)$, a schedule of it, or `None`.
      nesterov: Nesterov form of the momentum.
      bias_correction: divide the running means by $1-\rho^{n+1}$.

    Returns:
      An optax `GradientTransformation` with a [`lrjax.ScaleByRmspropState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_rmsprop(decay=0.99, eps=0.0)
      >>> state = tx.init(jnp.zeros(1))
      >>> d, state = tx.update(jnp.full(1, 2.0), state)
      >>> print(f"{float(d[0]):.4f}")
      10.0000

    References:
      Hinton, Neural networks for machine learning, lecture 6e, 2012.
      Graves, Generating sequences with recurrent neural networks, 2013,
      https://arxiv.org/abs/1308.0850 (centered form). optax `scale_by_rms` and
      `scale_by_stddev`; PyTorch `torch.optim.RMSprop`; Keras `RMSprop`.
    """
    validate.decay_rate("decay", decay)
    validate.nonnegative("eps", eps)
    validate.nonnegative("initial_scale", initial_scale)
    if momentum is not None and not callable(momentum):
        validate.decay_rate("momentum", momentum)
    if nesterov and momentum is None:
        raise ValueError("nesterov=True needs a momentum, got momentum=None")
    counts = bool(bias_correction) or callable(momentum)

    def init_fn(params):
        nu = jax.tree.map(lambda p: jnp.full_like(p, initial_scale), params)
        mu = jax.tree.map(jnp.zeros_like, params) if centered else None
        tr = jax.tree.map(jnp.zeros_like, params) if momentum is not None else None
        return ScaleByRmspropState(initial_count(counts), nu, mu, tr)

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.nu)
        count = safe_increment(state.count)
        nu = jax.tree.map(
            lambda g, t: scalar_like(1 - decay, t) * abs_sq(g) + scalar_like(decay, t) * t,
            updates,
            state.nu,
        )
        nu_hat = nu
        bc = numerics.bias_correction(decay, count) if bias_correction else None
        if bias_correction:
            nu_hat = jax.tree.map(lambda t: t / bc.astype(t.dtype), nu)
        mu = None
        if centered:
            mu = jax.tree.map(
                lambda g, t: scalar_like(1 - decay, t) * g + scalar_like(decay, t) * t,
                updates,
                state.mu,
            )
            mu_hat = mu
            if bias_correction:
                mu_hat = jax.tree.map(lambda t: t / bc.astype(t.dtype), mu)
            r = jax.tree.map(_centered_variance, nu_hat, mu_hat)
        else:
            r = nu_hat

        def direction(g, r):
            if eps_in_sqrt:
                return jax.lax.rsqrt(r + scalar_like(eps, r)) * g
            return g / (jnp.sqrt(r) + scalar_like(eps, r))

        out = jax.tree.map(direction, updates, r)
        tr = None
        if momentum is not None:
            beta = value_at(momentum, state.count)
            tr = jax.tree.map(lambda q, t: q + scalar_like(beta, t) * t, out, state.trace)
            if nesterov:
                out = jax.tree.map(lambda q, t: q + scalar_like(beta, t) * t, out, tr)
            else:
                out = tr
        return out, ScaleByRmspropState(count, nu, mu, tr)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: Optional[ScalarOrSchedule] = None,
    nesterov: bool = False,
    bias_correction: bool = False,
    *,
    lr_in_momentum: bool = True,
) -> GradientTransformation:
    r"""RMSprop, plain or centered, with optional momentum.

    $$
    q_n = \frac{g_n}{\sqrt{r_n + \epsilon}}, \qquad
    m_n = \beta m_{n-1} + \eta(n)\, q_n, \qquad \theta_{n+1} = \theta_n - m_n
    $$

    where $r_n$ is the running mean of $g^2$ (centered: minus the squared
    running mean of $g$), see [`lrjax.scale_by_rmsprop`][]. The learning rate sits
    inside the momentum buffer by default, as in optax and Keras; PyTorch's
    `RMSprop(momentum=β)` scales the buffer afterwards,
    $m_n = \beta m_{n-1} + q_n$, $\theta_{n+1} = \theta_n - \eta(n) m_n$:
    `lr_in_momentum=False`. Without momentum the two are the same.

    Args:
      learning_rate: a non-negative number or a schedule.
      decay: $\rho \in [0, 1)$ of the running means (PyTorch: `alpha=0.99`).
      eps: $\epsilon \ge 0$.
      initial_scale: initial value of the running mean of $g^2$.
      eps_in_sqrt: `eps` inside the root (optax, Keras) or outside (PyTorch).
      centered: divide by the running standard deviation of the gradient.
      momentum: $\beta \in [0, 1)$, a schedule of it, or `None`.
      nesterov: Nesterov form of the momentum.
      bias_correction: bias-correct the running means.
      lr_in_momentum: the learning rate enters the buffer (optax, Keras) or scales it
        afterwards (PyTorch).

    Returns:
      An optax `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> f = lambda x: jnp.sum(x ** 2)
      >>> opt = lrjax.rmsprop(0.1, momentum=0.5)
      >>> x = jnp.asarray([1.0, 2.0, 3.0]); state = opt.init(x)
      >>> for _ in range(30):
      ...     u, state = opt.update(jax.grad(f)(x), state)
      ...     x = lrjax.apply_updates(x, u)
      >>> print(f"{float(f(x)):.1e}")
      7.5e-08

    References:
      Hinton, Neural networks for machine learning, lecture 6e, 2012. Graves,
      Generating sequences with recurrent neural networks, 2013,
      https://arxiv.org/abs/1308.0850. optax `rmsprop`; PyTorch
      `torch.optim.RMSprop`; Keras `RMSprop`.
    """
    if nesterov and momentum is None:
        raise ValueError("nesterov=True needs a momentum, got momentum=None")
    if momentum is not None and not callable(momentum):
        validate.decay_rate("momentum", momentum)
    if not lr_in_momentum:
        return chain(
            scale_by_rmsprop(
                decay,
                eps,
                initial_scale,
                eps_in_sqrt,
                centered,
                momentum,
                nesterov,
                bias_correction,
            ),
            scale_by_learning_rate(learning_rate),
        )
    direction = scale_by_rmsprop(
        decay, eps, initial_scale, eps_in_sqrt, centered, None, False, bias_correction
    )
    return momentum_chain(direction, learning_rate, momentum, nesterov, True)
