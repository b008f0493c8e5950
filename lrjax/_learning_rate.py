"""Applying the learning rate, and reading back the one that was applied."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import _validate
from ._base import GradientTransformation, ScalarOrSchedule
from ._tree import canonical_inputs, check_like, scalar_like

_INT32_MAX = jnp.iinfo(jnp.int32).max


def safe_increment(count: jax.Array | tuple) -> jax.Array | tuple:
    """``count + 1`` for an ``int32`` counter, saturating at the int32 maximum.

    The absent counter ``()`` of :func:`initial_count` stays absent.
    """
    if isinstance(count, tuple):
        return count
    return jnp.where(count < _INT32_MAX, count + 1, _INT32_MAX).astype(jnp.int32)


def initial_count(needed: bool = True) -> jax.Array | tuple:
    """A zero ``int32`` counter, or ``()`` (no state leaf, no kernel) when nothing
    scheduled will read it."""
    return jnp.zeros([], jnp.int32) if needed else ()


def lr_dtype() -> jnp.dtype:
    """dtype of a recorded learning rate: float64 when x64 is enabled, else float32."""
    return jnp.dtype(jnp.result_type(float))


def evaluate(learning_rate: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """The value of a float-or-schedule learning rate at update ``count``, as an array."""
    value = learning_rate(count) if callable(learning_rate) else learning_rate
    return jnp.asarray(value, dtype=lr_dtype())


def value_at(hyperparameter: ScalarOrSchedule, count: Any) -> Any:
    """A scheduled hyperparameter's value at ``count``; anything else unchanged.

    For per-leaf arithmetic through :func:`scalar_like`: a constant stays a Python
    number, which jit embeds in each leaf's kernel without an array.
    """
    if callable(hyperparameter):
        return evaluate(hyperparameter, count)
    return hyperparameter


# Registry of state types that record the learning rate an update applied.
# kind "rate": the field holds an absolute learning rate.
# kind "factor": the field holds a multiplier on the learning rate (plateau reduction).
_RECORDS: dict[type, tuple[str, str]] = {}


def records_learning_rate(field: str = "learning_rate", kind: str = "rate"):
    """Class decorator: mark a state ``NamedTuple`` as recording the applied LR."""
    _validate.choice("kind", kind, ("rate", "factor"))

    def register(cls: type) -> type:
        _RECORDS[cls] = (field, kind)
        return cls

    return register


class StaticLearningRate(NamedTuple):
    r"""A constant learning rate recorded in a state's tree structure, not in an array.

    .. math::  \eta(n) = \eta_0 \quad \text{for every } n

    :func:`scale_by_learning_rate` records a Python-number rate this way, so the state
    holds no array for it: the state has exactly optax's bytes, and jit treats the value
    as a compile-time constant. It is a pytree node with no children whose value is its
    static (auxiliary) data; ``flax.serialization`` writes it as ``{"rate": η₀}``. The
    field is not called ``value``: optax's line searches find the loss by that name.
    :func:`current_learning_rate` reads it back as an array, like any recorded rate.

    Args:
      rate: the learning rate, a non-negative Python float.

    Returns:
      A pytree node with no leaves.

    Example:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> state = lrjax.sgd(0.1).init(jnp.zeros(3))
      >>> state[-1].learning_rate
      StaticLearningRate(rate=0.1)
      >>> len(jax.tree.leaves(state))
      0
      >>> print(f"{float(lrjax.current_learning_rate(state)):.2f}")
      0.10

    References:
      JAX pytrees, "custom pytree nodes" (auxiliary data),
      https://docs.jax.dev/en/latest/pytrees.html
    """

    rate: float

    def as_array(self) -> jax.Array:
        """The value as a scalar array in the recorded-rate dtype (see ``lr_dtype``)."""
        return jnp.asarray(self.rate, dtype=lr_dtype())


jax.tree_util.register_pytree_node(
    StaticLearningRate,
    lambda node: ((), node.rate),
    lambda rate, children: StaticLearningRate(rate),
)


@records_learning_rate()
class ScaleByLearningRateState(NamedTuple):
    """State of :func:`scale_by_learning_rate`.

    Attributes:
      count: number of updates applied so far (``int32``, saturating), the position of
        the schedule; an empty tuple ``()`` when the learning rate is a constant, which
        needs no position (one leaf, 4 bytes and one kernel fewer per step).
      learning_rate: the learning rate the last update used; ``η(0)`` before the first.
        A Python-number rate is a :class:`StaticLearningRate` (no array, no bytes).
    """

    count: jax.Array | tuple
    learning_rate: jax.Array | StaticLearningRate


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> GradientTransformation:
    r"""Multiply updates by :math:`-\eta(n)` and remember :math:`\eta(n)`.

    .. math::

        u_n = -\eta(n)\, d_n

    where :math:`d_n` is the incoming direction (a gradient, or the output of a
    ``scale_by_*`` transform) and :math:`n` the 0-based update count. The learning rate
    is cast to each update's dtype, so float32, bfloat16 and float64 updates keep theirs.
    The value used is stored in the state, where :func:`current_learning_rate` finds it.

    Args:
      learning_rate: a non-negative number, or a schedule ``n -> η(n)``.
      flip_sign: multiply by ``-η`` (descent, the default) or by ``+η``.

    Returns:
      An optax ``GradientTransformation`` whose state is a
      :class:`ScaleByLearningRateState`.

    Example:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_learning_rate(lrjax.exponential_decay(0.1, 0.5))
      >>> state = tx.init(jnp.zeros(2))
      >>> u, state = tx.update(jnp.ones(2), state)
      >>> u, state = tx.update(jnp.ones(2), state)
      >>> print(f"{float(u[0]):.4f} {float(lrjax.current_learning_rate(state)):.4f}")
      -0.0607 0.0607

    References:
      optax ``scale_by_learning_rate``, https://github.com/google-deepmind/optax
    """
    _validate.learning_rate("learning_rate", learning_rate)
    sign = -1.0 if _validate.boolean("flip_sign", flip_sign) else 1.0

    scheduled = callable(learning_rate)
    # inject_hyperparams passes an array that changes between steps: record it anew.
    fixed = isinstance(learning_rate, (int, float)) and not isinstance(learning_rate, bool)

    # A Python number is recorded in the tree structure: optax's state bytes, and no
    # array for XLA to carry or copy from step to step.
    static = (
        ScaleByLearningRateState((), StaticLearningRate(float(learning_rate)))
        if fixed
        else None
    )

    def init_fn(params: Any) -> ScaleByLearningRateState:
        del params
        if fixed:
            return static
        return ScaleByLearningRateState(
            initial_count(scheduled), evaluate(learning_rate, jnp.zeros([], jnp.int32))
        )

    def update_fn(updates, state, params=None):
        if params is not None:
            check_like(updates, params, dtypes=False)
        # A constant ignores the count. ``sign * lr`` is one traced scalar that every
        # leaf shares; a Python number used per leaf would put a constant of its own in
        # each leaf's HLO, one operation per leaf more.
        lr = evaluate(learning_rate, state.count)
        step = sign * lr
        updates = jax.tree.map(lambda u: scalar_like(step, u) * u, updates)
        if fixed:
            return updates, static
        return updates, ScaleByLearningRateState(safe_increment(state.count), lr)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def _inject_states() -> tuple[type, ...]:
    names = ("InjectHyperparamsState", "InjectStatefulHyperparamsState")
    return tuple(getattr(optax, n) for n in names if hasattr(optax, n))


def _find(opt_state: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Rates, factors and injected ``learning_rate`` hyperparameters, keyed by path."""
    rates: dict[str, Any] = {}
    factors: dict[str, Any] = {}
    injected: dict[str, Any] = {}
    inject_types = _inject_states()

    def is_node(x: Any) -> bool:
        return type(x) in _RECORDS or isinstance(x, inject_types)

    def walk(tree: Any, prefix: str) -> None:
        leaves, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_node)
        for path, leaf in leaves:
            where = prefix + jax.tree_util.keystr(path)
            if type(leaf) in _RECORDS:
                field, kind = _RECORDS[type(leaf)]
                value = getattr(leaf, field)
                if isinstance(value, StaticLearningRate):
                    value = value.as_array()
                (rates if kind == "rate" else factors)[where] = value
            elif isinstance(leaf, inject_types):
                if "learning_rate" in leaf.hyperparams:
                    injected[where] = leaf.hyperparams["learning_rate"]
                walk(leaf.inner_state, where + ".inner_state")

    walk(opt_state, "")
    return rates, factors, injected


def current_learning_rate(opt_state: Any, *, by_path: bool = False) -> Any:
    r"""The learning rate that the last update applied, read from an optimizer state.

    Finds every :func:`scale_by_learning_rate` record in ``opt_state``, however deeply it
    sits in ``optax.chain``, ``optax.inject_hyperparams`` (including a schedule passed as
    a hyperparameter), ``optax.MultiSteps`` or a Flax ``TrainState.opt_state``. Factors
    recorded by lrjax's learning-rate modifiers (plateau reduction) multiply the rate:

    .. math::  \eta_\text{applied} = \eta(n) \prod_j f_j

    A plain optax optimizer wrapped in ``optax.inject_hyperparams`` reports its
    ``learning_rate`` hyperparameter.

    Args:
      opt_state: the state returned by ``init`` or ``update``.
      by_path: return a dict from each record's path to its rate, for states that hold
        several learning rates (``optax.multi_transform``).

    Returns:
      A scalar array, or with ``by_path`` a ``dict[str, Array]``.

    Raises:
      ValueError: no learning rate is recorded in ``opt_state``, or several are and
        ``by_path`` is false.

    Example:
      >>> import jax.numpy as jnp, lrjax
      >>> opt = lrjax.sgd(lrjax.step_decay(0.1, drop=0.5, drop_every=2), momentum=0.9)
      >>> state = opt.init(jnp.zeros(3))
      >>> for _ in range(3):
      ...     _, state = opt.update(jnp.ones(3), state)
      >>> print(f"{float(lrjax.current_learning_rate(state)):.4f}")
      0.0500

    References:
      Keras ``optimizer.learning_rate`` and PyTorch ``scheduler.get_last_lr()`` expose the
      same quantity for their stateful optimizers.
    """
    rates, factors, injected = _find(opt_state)
    if not rates:
        rates = injected
    if not rates:
        raise ValueError(
            "no learning rate is recorded in this optimizer state: build the optimizer "
            "with lrjax (its aliases end in scale_by_learning_rate), or wrap an optax "
            "optimizer in optax.inject_hyperparams"
        )
    scale = 1.0
    for f in factors.values():
        scale = scale * f
    if by_path:
        return {k: v * scale for k, v in rates.items()}
    if len(rates) > 1:
        raise ValueError(
            f"this state holds {len(rates)} learning rates, at {sorted(rates)}; pass "
            "by_path=True to get all of them"
        )
    (rate,) = rates.values()
    return rate * scale
