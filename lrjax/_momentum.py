"""Momentum: heavy-ball and Nesterov traces of the gradient."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import _validate
from ._base import GradientTransformation, ScalarOrSchedule
from ._learning_rate import evaluate, safe_increment


class TraceState(NamedTuple):
    """State of :func:`trace`: the update count and the momentum buffer."""

    count: jax.Array
    trace: Any


def trace(decay: ScalarOrSchedule, nesterov: bool = False) -> GradientTransformation:
    r"""Heavy-ball or Nesterov momentum, in optax's and PyTorch's form.

    .. math::

        t_n = g_n + \mu(n)\, t_{n-1}, \quad t_{-1} = 0, \qquad
        d_n = \begin{cases} t_n & \text{heavy ball} \\
                            g_n + \mu(n)\, t_n & \text{Nesterov} \end{cases}

    The learning rate is applied afterwards (``sgd`` chains
    :func:`scale_by_learning_rate`), so it sits outside the buffer as in optax and
    PyTorch. ``decay`` may be a schedule, which is how one-cycle and cyclic momentum
    are expressed.

    Args:
      decay: the momentum :math:`\mu \in [0, 1)`, or a schedule of it.
      nesterov: use Nesterov's look-ahead form.

    Returns:
      An optax ``GradientTransformation`` with a :class:`TraceState`.

    Example:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.trace(0.9)
      >>> state = tx.init(jnp.zeros(1))
      >>> d, state = tx.update(jnp.ones(1), state)
      >>> d, state = tx.update(jnp.ones(1), state)
      >>> print(f"{float(d[0]):.4f}")
      1.9000

    References:
      Polyak, Some methods of speeding up the convergence of iteration methods, 1964.
      Sutskever et al., On the importance of initialization and momentum in deep
      learning, 2013, http://proceedings.mlr.press/v28/sutskever13.html.
      PyTorch ``torch.optim.SGD``; optax ``trace``.
    """
    if not callable(decay):
        _validate.decay_rate("decay", decay)

    def init_fn(params):
        return TraceState(
            jnp.zeros([], jnp.int32), jax.tree.map(jnp.zeros_like, params)
        )

    def update_fn(updates, state, params=None):
        del params
        mu = evaluate(decay, state.count)

        def step(g, t):
            return g + jnp.asarray(mu, t.dtype) * t

        new_trace = jax.tree.map(step, updates, state.trace)
        out = jax.tree.map(step, updates, new_trace) if nesterov else new_trace
        return out, TraceState(safe_increment(state.count), new_trace)

    return GradientTransformation(init_fn, update_fn)
