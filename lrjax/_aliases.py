"""User-facing optimizers: chains of a direction and [`lrjax.scale_by_learning_rate`][].

Every optimizer here is `chain(direction..., scale_by_learning_rate(learning_rate))`,
so the learning rate is a float or a schedule and [`lrjax.current_learning_rate`][] reads
it back. The one ordering choice is where a momentum buffer sits relative to the
learning rate (`lr_in_momentum`): after it, the buffer accumulates
$-\\eta(n) g_n$ (optax's RMSprop, Keras); before it, the buffer accumulates
$g_n$ and is scaled by $\\eta(n)$ (optax's and PyTorch's SGD, PyTorch's
RMSprop). The two agree for a constant learning rate.
"""

from __future__ import annotations

from typing import Any, Optional

from ._adam import scale_by_adam, scale_by_adamax, scale_by_amsgrad, scale_by_nadam
from ._adaptive import (
    scale_by_adadelta,
    scale_by_adagrad,
    scale_by_adagrad_norm,
    scale_by_rmsprop,
)
from ._learning_rate import scale_by_learning_rate
from ._momentum import Mask, add_decayed_weights, trace
from ._shared import validate
from ._shared.base import GradientTransformation, ScalarOrSchedule, chain


def _lr(learning_rate: Any) -> GradientTransformation:
    validate.learning_rate("learning_rate", learning_rate)
    return scale_by_learning_rate(learning_rate)


def _momentum_chain(
    direction: Optional[GradientTransformation],
    learning_rate: ScalarOrSchedule,
    momentum: Optional[ScalarOrSchedule],
    nesterov: bool,
    lr_in_momentum: bool,
    accumulator_dtype: Optional[Any] = None,
) -> GradientTransformation:
    lr = _lr(learning_rate)
    head = [] if direction is None else [direction]
    if momentum is None:
        return chain(*head, lr)
    tr = trace(momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype)
    if lr_in_momentum:
        return chain(*head, lr, tr)
    return chain(*head, tr, lr)


def _uses_decay(weight_decay: Any) -> bool:
    if callable(weight_decay) or validate.is_traced(weight_decay):
        return True
    validate.nonnegative("weight_decay", weight_decay)
    return float(weight_decay) != 0.0


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: Optional[ScalarOrSchedule] = None,
    nesterov: bool = False,
    *,
    accumulator_dtype: Optional[Any] = None,
    lr_in_momentum: bool = False,
) -> GradientTransformation:
    r"""Stochastic gradient descent, with optional heavy-ball or Nesterov momentum.

    $$
    t_n = g_n + \mu\, t_{n-1}, \qquad \theta_{n+1} = \theta_n - \eta(n)\, t_n
    $$

    (Nesterov: $\theta_{n+1} = \theta_n - \eta(n)(g_n + \mu\, t_n)$); without
    momentum $\theta_{n+1} = \theta_n - \eta(n) g_n$. With `lr_in_momentum` the
    buffer holds the learning rate, as in Keras:
    $m_n = \mu m_{n-1} - \eta(n) g_n$, $\theta_{n+1} = \theta_n + m_n$
    (Nesterov: $\theta_n + \mu m_n - \eta(n) g_n$). The two forms agree for a
    constant learning rate; with a schedule, a change of $\eta$ acts at once on
    the whole buffer in the default form, and only on new gradients in Keras's.

    Args:
      learning_rate: a non-negative number or a schedule.
      momentum: $\mu \in [0, 1)$, a schedule of it, or `None` for plain SGD.
      nesterov: Nesterov momentum (needs `momentum`).
      accumulator_dtype: dtype of the momentum buffer; `None` keeps the params'.
      lr_in_momentum: put the learning rate inside the buffer (Keras `SGD`).

    Returns:
      An optax `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> loss = lambda w: jnp.sum((w - 3.0) ** 2)
      >>> opt = lrjax.sgd(lrjax.exponential_decay(0.4, decay=0.01), momentum=0.5)
      >>> w = jnp.zeros(2); state = opt.init(w)
      >>> for _ in range(50):
      ...     u, state = opt.update(jax.grad(loss)(w), state)
      ...     w = lrjax.apply_updates(w, u)
      >>> print(f"{float(w[0]):.4f}")
      3.0000

    References:
      Robbins & Monro, A stochastic approximation method, 1951. Matches optax `sgd`
      and PyTorch `torch.optim.SGD` (dampening 0) step for step; with
      `lr_in_momentum=True`, Keras `SGD`.
    """
    if validate.boolean("nesterov", nesterov) and momentum is None:
        raise ValueError("nesterov=True needs a momentum, got momentum=None")
    if momentum is not None and not callable(momentum):
        validate.decay_rate("momentum", momentum)
    return _momentum_chain(
        None, learning_rate, momentum, nesterov, lr_in_momentum, accumulator_dtype
    )


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
        _lr(learning_rate),
    )


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
    return chain(*parts, scale_by_adadelta(rho, eps), _lr(learning_rate))


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
            scale_by_rmsprop(decay, eps, initial_scale, eps_in_sqrt, centered,
                             momentum, nesterov, bias_correction),
            _lr(learning_rate),
        )
    direction = scale_by_rmsprop(decay, eps, initial_scale, eps_in_sqrt, centered,
                                 None, False, bias_correction)
    return _momentum_chain(direction, learning_rate, momentum, nesterov, True)


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
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov,
                      epsilon_hat=epsilon_hat),
        _lr(learning_rate),
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
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov,
                      epsilon_hat=epsilon_hat),
        add_decayed_weights(weight_decay, mask),
        _lr(learning_rate),
    )


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
        scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype, bias_correction_mu,
                         bias_correction_nu, max_before_correction=max_before_correction,
                         epsilon_hat=epsilon_hat),
        _lr(learning_rate),
    )


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
        _lr(learning_rate),
    )


def adamax(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    eps_in_max: bool = True,
) -> GradientTransformation:
    r"""AdaMax: $\theta_{n+1} = \theta_n - \eta(n)\,\hat m_n / u_n$.

    See [`lrjax.scale_by_adamax`][]; Keras `Adamax` is `adamax(lr, eps=1e-7,
    eps_in_max=False)`.

    Args:
      learning_rate: a non-negative number or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$.
      eps_in_max: `eps` inside the maximum (optax, PyTorch) or added after (Keras).

    Returns:
      An optax `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> f = lambda x: jnp.sum(x ** 2)
      >>> opt = lrjax.adamax(0.1)
      >>> x = jnp.asarray([1.0, 2.0, 3.0]); state = opt.init(x)
      >>> for _ in range(100):
      ...     u, state = opt.update(jax.grad(f)(x), state)
      ...     x = lrjax.apply_updates(x, u)
      >>> print(f"{float(f(x)) < 0.1}")
      True

    References:
      Kingma & Ba, Adam: a method for stochastic optimization, 2015, §7.1,
      https://arxiv.org/abs/1412.6980. optax `adamax`.
    """
    return chain(scale_by_adamax(b1, b2, eps, eps_in_max=eps_in_max), _lr(learning_rate))


def adagrad_norm(
    learning_rate: ScalarOrSchedule, b0: float = 0.1, eps: float = 0.0
) -> GradientTransformation:
    r"""AdaGrad-Norm: $\theta_{n+1} = \theta_n - \eta(n)\, g_n / b_n$.

    One scalar $b_n^2 = b_0^2 + \sum_{k\le n}\lVert g_k\rVert^2$ for the whole
    tree (see [`lrjax.scale_by_adagrad_norm`][]). Ward, Wu & Bottou prove convergence for
    any $\eta, b_0 > 0$ on smooth non-convex problems, at the rate of tuned SGD
    in the batch setting.

    Args:
      learning_rate: $\eta$, a non-negative number or a schedule.
      b0: $b_0 \ge 0$.
      eps: $\epsilon \ge 0$ added to $b_n$ (a guard for `b0=0`).

    Returns:
      An optax `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> f = lambda x: jnp.sum(x ** 2)
      >>> opt = lrjax.adagrad_norm(1.0)
      >>> x = jnp.asarray([1.0, 2.0, 3.0]); state = opt.init(x)
      >>> for _ in range(50):
      ...     u, state = opt.update(jax.grad(f)(x), state)
      ...     x = lrjax.apply_updates(x, u)
      >>> print(f"{float(f(x)) < 1e-6}")
      True

    References:
      Ward, Wu & Bottou, AdaGrad stepsizes: sharp convergence over nonconvex
      landscapes, JMLR 2020, https://arxiv.org/abs/1806.01811.
    """
    return chain(scale_by_adagrad_norm(b0, eps), _lr(learning_rate))
