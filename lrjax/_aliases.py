"""User-facing optimizers: chains of a direction and :func:`scale_by_learning_rate`."""

from __future__ import annotations

from . import _validate
from ._base import GradientTransformation, ScalarOrSchedule, chain
from ._learning_rate import scale_by_learning_rate
from ._momentum import trace


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: ScalarOrSchedule | None = None,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""Stochastic gradient descent, with optional heavy-ball or Nesterov momentum.

    .. math::

        t_n = g_n + \mu\, t_{n-1}, \qquad \theta_{n+1} = \theta_n - \eta(n)\, t_n

    (Nesterov: :math:`\theta_{n+1} = \theta_n - \eta(n)(g_n + \mu\, t_n)`); without
    momentum :math:`\theta_{n+1} = \theta_n - \eta(n) g_n`.

    Args:
      learning_rate: a non-negative number or a schedule.
      momentum: :math:`\mu \in [0, 1)`, a schedule of it, or ``None`` for plain SGD.
      nesterov: Nesterov momentum (needs ``momentum``).

    Returns:
      An optax ``GradientTransformation``.

    Example:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> loss = lambda w: jnp.sum((w - 3.0) ** 2)
      >>> opt = lrjax.sgd(lrjax.exponential_decay(0.4, 0.01), momentum=0.5)
      >>> w = jnp.zeros(2); state = opt.init(w)
      >>> for _ in range(50):
      ...     u, state = opt.update(jax.grad(loss)(w), state)
      ...     w = lrjax.apply_updates(w, u)
      >>> print(f"{float(w[0]):.4f}")
      3.0000

    References:
      Robbins & Monro, A stochastic approximation method, 1951. Matches optax ``sgd``
      and PyTorch ``torch.optim.SGD`` (dampening 0) step for step.
    """
    _validate.learning_rate("learning_rate", learning_rate)
    if nesterov and momentum is None:
        raise ValueError("nesterov=True needs a momentum, got momentum=None")
    parts = []
    if momentum is not None:
        parts.append(trace(momentum, nesterov=nesterov))
    parts.append(scale_by_learning_rate(learning_rate))
    return chain(*parts)
