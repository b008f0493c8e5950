"""Momentum (heavy-ball and Nesterov traces of the gradient), weight decay, and SGD.

`sgd` is `chain(trace, scale_by_learning_rate)`; `momentum_chain` builds that chain
for `sgd` and [`lrjax.rmsprop`][]. The one ordering choice is where a momentum buffer
sits relative to the learning rate (`lr_in_momentum`): after it, the buffer accumulates
$-\\eta(n) g_n$ (optax's RMSprop, Keras); before it, the buffer accumulates
$g_n$ and is scaled by $\\eta(n)$ (optax's and PyTorch's SGD, PyTorch's
RMSprop). The two agree for a constant learning rate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from .._learning_rate.scale import scale_by_learning_rate
from .._shared import validate
from .._shared.base import GradientTransformation, ScalarOrSchedule, chain
from .._shared.numerics import initial_count, safe_increment, scalar_like, value_at
from .._shared.tree import canonical_dtype_or_none, canonical_inputs, check_like


class TraceState(NamedTuple):
    """State of [`lrjax.trace`][].

    Attributes:
      count: number of updates so far (`int32`, saturating), the position of a
        scheduled `decay`; `()` when nothing is scheduled (no leaf, no kernel).
      trace: the momentum buffer.
    """

    count: jax.Array
    trace: Any


def _decay_or_schedule(name: str, value: Any) -> None:
    if callable(value):
        return
    validate.decay_rate(name, value)


def trace(
    decay: ScalarOrSchedule,
    nesterov: bool = False,
    *,
    accumulator_dtype: Optional[Any] = None,
) -> GradientTransformation:
    r"""Heavy-ball or Nesterov momentum, in optax's and PyTorch's form.

    $$
    t_n = g_n + \mu(n)\, t_{n-1}, \quad t_{-1} = 0, \qquad
    d_n = \begin{cases} t_n & \text{heavy ball} \\
                        g_n + \mu(n)\, t_n & \text{Nesterov} \end{cases}
    $$

    The learning rate is applied afterwards (`sgd` chains
    [`lrjax.scale_by_learning_rate`][]), so it sits outside the buffer as in optax and
    PyTorch. Placed *after* [`lrjax.scale_by_learning_rate`][] instead, the buffer holds
    $m_n = \mu m_{n-1} - \eta(n) g_n$, the Keras form (`sgd(...,
    lr_in_momentum=True)`). `decay` may be a schedule, which is how one-cycle and
    cyclic momentum are expressed.

    Args:
      decay: the momentum $\mu \in [0, 1)$, or a schedule of it.
      nesterov: use Nesterov's look-ahead form.
      accumulator_dtype: dtype of the buffer; `None` keeps each parameter's dtype.

    Returns:
      An optax `GradientTransformation` with a [`lrjax.TraceState`][].

    Examples:
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
      PyTorch `torch.optim.SGD`; optax `trace`.
    """
    _decay_or_schedule("decay", decay)
    validate.boolean("nesterov", nesterov)
    acc_dtype = None if accumulator_dtype is None else jnp.dtype(accumulator_dtype)

    scheduled = callable(decay)

    def init_fn(params):
        return TraceState(
            initial_count(scheduled),
            jax.tree.map(
                lambda p: jnp.zeros_like(p, dtype=canonical_dtype_or_none(acc_dtype)),
                params,
            ),
        )

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.trace, dtypes=acc_dtype is None)
        mu = value_at(decay, state.count)

        def step(g, t):
            return g.astype(t.dtype) + scalar_like(mu, t) * t

        new_trace = jax.tree.map(step, updates, state.trace)
        if nesterov:
            out = jax.tree.map(
                lambda g, t: (g.astype(t.dtype) + scalar_like(mu, t) * t).astype(g.dtype),
                updates,
                new_trace,
            )
        else:
            out = jax.tree.map(lambda g, t: t.astype(g.dtype), updates, new_trace)
        return out, TraceState(safe_increment(state.count), new_trace)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


class AddDecayedWeightsState(NamedTuple):
    """State of [`lrjax.add_decayed_weights`][].

    Attributes:
      count: number of updates so far (`int32`, saturating), the position of a
        scheduled `weight_decay`; `()` when nothing is scheduled.
    """

    count: jax.Array


Mask = Union[Any, Callable[[Any], Any]]


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0, mask: Optional[Mask] = None
) -> GradientTransformation:
    r"""Add the parameters, scaled by the weight decay, to the updates.

    $$
    d_n = g_n + \lambda(n)\, \theta_n
    $$

    Where it sits in a chain decides which weight decay it is:

    * before the direction (`chain(add_decayed_weights(λ), scale_by_adam(), …)`) it
      is the L2 penalty $\tfrac{\lambda}{2}\lVert\theta\rVert^2$ added to the
      loss, "coupled" weight decay, as in PyTorch's `weight_decay=` for `SGD`,
      `Adam`, `RMSprop`, `Adagrad`, `Adadelta`, `NAdam` and `Adamax`;
    * after the direction and before [`lrjax.scale_by_learning_rate`][] it is decoupled
      weight decay $\theta \leftarrow \theta - \eta(n)(d_n + \lambda\theta_n)$
      (Loshchilov & Hutter), as in [`lrjax.adamw`][], PyTorch `AdamW` and every Keras
      optimizer's `weight_decay=`.

    Args:
      weight_decay: $\lambda \ge 0$, or a schedule of it.
      mask: a tree of booleans with the structure of the params (or a prefix of it),
        or a function `params -> such tree`; leaves marked `False` pass through
        unchanged (biases and normalisation scales are usually excluded).

    Returns:
      An optax `GradientTransformation`; its `update` needs `params`.

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.add_decayed_weights(0.1, mask={"w": True, "b": False})
      >>> p = {"w": jnp.ones(2), "b": jnp.ones(2)}
      >>> d, _ = tx.update({"w": jnp.zeros(2), "b": jnp.zeros(2)}, tx.init(p), p)
      >>> print(f"{float(d['w'][0]):.4f} {float(d['b'][0]):.4f}")
      0.1000 0.0000

    References:
      Loshchilov & Hutter, Decoupled weight decay regularization, 2019,
      https://arxiv.org/abs/1711.05101. optax `add_decayed_weights`.
    """
    if not callable(weight_decay):
        validate.nonnegative("weight_decay", weight_decay)

    scheduled = callable(weight_decay)

    def init_fn(params):
        del params
        return AddDecayedWeightsState(initial_count(scheduled))

    def decay_leaf(wd, g, p):
        if g is None:
            return None
        return g + scalar_like(wd, g) * p.astype(g.dtype)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                "add_decayed_weights needs params: call update(g, state, params)"
            )
        check_like(updates, params, dtypes=False)
        wd = value_at(weight_decay, state.count)
        new_state = AddDecayedWeightsState(safe_increment(state.count))
        if mask is None:
            out = jax.tree.map(
                lambda g, p: decay_leaf(wd, g, p),
                updates,
                params,
                is_leaf=lambda x: x is None,
            )
            return out, new_state
        mask_tree = mask(params) if callable(mask) else mask

        def apply_sub(m, g_sub, p_sub):
            decayed = jax.tree.map(
                lambda g, p: decay_leaf(wd, g, p),
                g_sub,
                p_sub,
                is_leaf=lambda x: x is None,
            )
            if isinstance(m, bool):
                return decayed if m else g_sub
            # An array-valued mask leaf: select element-wise.
            return jax.tree.map(lambda d, g: jnp.where(m, d, g), decayed, g_sub)

        out = jax.tree.map(apply_sub, mask_tree, updates, params)
        return out, new_state

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def momentum_chain(
    direction: Optional[GradientTransformation],
    learning_rate: ScalarOrSchedule,
    momentum: Optional[ScalarOrSchedule],
    nesterov: bool,
    lr_in_momentum: bool,
    accumulator_dtype: Optional[Any] = None,
) -> GradientTransformation:
    """`chain(direction, trace, lr)`, or `chain(direction, lr, trace)` with
    `lr_in_momentum`; `chain(direction, lr)` without a momentum."""
    lr = scale_by_learning_rate(learning_rate)
    head = [] if direction is None else [direction]
    if momentum is None:
        return chain(*head, lr)
    tr = trace(momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype)
    if lr_in_momentum:
        return chain(*head, lr, tr)
    return chain(*head, tr, lr)


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
    return momentum_chain(
        None, learning_rate, momentum, nesterov, lr_in_momentum, accumulator_dtype
    )
