"""Reading back the learning rate that the last update applied: exact, or an error.

`current_learning_rate` walks an optimizer state by the *type* of each sub-state. Every
type it meets is in one of these classes, or it refuses:

* records: a rate (`scale_by_learning_rate`, hypergradients, an injected
  `learning_rate`) or a scalar factor (lrjax's and optax's plateau scale, the step of
  optax's line searches) — they multiply;
* directions: the state of a transform whose rescaling depends on the data (moments,
  adaptive denominators, momentum, Newton) — not part of the rate;
* containers: `chain` (tuples, `named_chain`'s dicts) and wrappers (`MultiSteps`,
  `skip_nonfinite`, `apply_if_finite`, `masked`, `inject_hyperparams`,
  `grouped`, `multi_transform`) — read through;
* refused: `optax.scale_by_schedule` (its factor is a function of a count, not in the
  state), `optax.EmptyState` (what `optax.scale(c)` leaves, indistinguishable from
  the state of clipping or `optax.identity`) and any type it does not know.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from .._directions.adadelta import ScaleByAdadeltaState
from .._directions.adagrad import ScaleByAdagradState
from .._directions.adam import ScaleByAdamState
from .._directions.amsgrad import ScaleByAmsgradState
from .._directions.momentum import AddDecayedWeightsState, TraceState
from .._directions.nadam import ScaleByNadamState
from .._directions.rmsprop import ScaleByRmspropState
from .._directions.trust_ratio import KerasDecayState, ScaleByTrustRatioState
from .._lr_free.adagrad_norm import ScaleByAdagradNormState
from .._lr_free.cocob import COCOBState
from .._lr_free.dog import LDoGState
from .._lr_free.hypergradient import ScaleByHypergradientState
from .._lr_free.mechanic import MechanizeState
from .._lr_free.schedule_free import ScheduleFreeState
from .._newton.cg import ScaleByNewtonCGState
from .._newton.dense import ScaleByNewtonState
from .._tools.grouped import GroupedState
from .._tools.guard import SkipNonfiniteState
from .records import RECORDS


def _optax_types(*names: str) -> tuple[type, ...]:
    return tuple(getattr(optax, n) for n in names if hasattr(optax, n))


# Data-dependent rescalings of the direction: they do not change the learning rate.
DIRECTIONS: set[type] = {
    ScaleByAdamState,
    ScaleByAmsgradState,
    ScaleByNadamState,
    ScaleByAdadeltaState,
    ScaleByAdagradNormState,
    ScaleByAdagradState,
    ScaleByRmspropState,
    AddDecayedWeightsState,
    TraceState,
    ScaleByNewtonState,
    ScaleByNewtonCGState,
    # A trust ratio rescales each layer by a data-dependent amount, as clipping does:
    # part of the direction, not of the rate (lars and lamb report their base rate).
    ScaleByTrustRatioState,
    KerasDecayState,
    *_optax_types(
        "ScaleByAdamState",
        "ScaleByAmsgradState",
        "ScaleByAdaDeltaState",
        "ScaleByAdanState",
        "ScaleByBeliefState",
        "ScaleByLBFGSState",
        "ScaleByLionState",
        "ScaleByNovogradState",
        "ScaleByRStdDevState",
        "ScaleByRmsState",
        "ScaleByRpropState",
        "ScaleByRssState",
        "ScaleBySM3State",
        "TraceState",
        "EmaState",
        "FactoredState",
        "AddNoiseState",
        "ZeroNansState",
        "MaskedNode",
    ),
}

# Scalar factors that optax records (lrjax's own are in ``RECORDS``).
FACTORS: dict[type, str] = {
    **{
        t: "learning_rate"
        for t in _optax_types(
            "ScaleByBacktrackingLinesearchState", "ScaleByZoomLinesearchState"
        )
    },
    optax.contrib.ReduceLROnPlateauState: "scale",
}

# Wrappers read through: the field that holds the wrapped state.
WRAPPERS: dict[type, str] = {
    SkipNonfiniteState: "inner_state",
    GroupedState: "inner",
    # Schedule-Free: the rate is the base's gamma (its warm-up included).
    ScheduleFreeState: "base_state",
    **{
        t: "inner_state"
        for t in _optax_types(
            "ApplyIfFiniteState",
            "MaskedState",
            "ConditionallyMaskState",
            "ConditionallyTransformState",
        )
    },
    **{t: "inner_opt_state" for t in _optax_types("MultiStepsState")},
}

# Wrappers that apply their inner transform's updates times a factor of their own:
# (the factor, a property or field of the state; the field of the wrapped state).
# Mechanic applies the base's last update times max(sum(s), 0).
SCALED_WRAPPERS: dict[type, tuple[str, str]] = {
    MechanizeState: ("scale", "base_state"),
}

# States of methods with no single learning rate: refused with the reason.
NO_RATE: dict[type, str] = {
    COCOBState: (
        "lrjax.cocob has no learning rate: each coordinate bets its own fraction "
        "(L + R)/(L max(G + L, alpha L)) of its wealth, so no scalar step size exists. "
        "Read the per-coordinate quantities from the COCOBState (max_grad, reward, "
        "abs_grad_sum)"
    ),
    LDoGState: (
        "lrjax.l_dog has one step size per leaf (layer-wise DoG), not one learning "
        "rate: read the tree of per-leaf step sizes from the LDoGState's eta field, "
        "or use lrjax.dog for a single step size"
    ),
}

_INJECT = _optax_types("InjectHyperparamsState", "InjectStatefulHyperparamsState")
_PARTITION = _optax_types("PartitionState", "MultiTransformState")
_SCHEDULE = _optax_types("ScaleByScheduleState")


class _Product:
    """A product of recorded rates and factors along one path of updates."""

    def __init__(self, value: Any = 1.0, rates: int = 0, factors: int = 0):
        self.value, self.rates, self.factors = value, rates, factors

    def times(self, other: _Product) -> _Product:
        return _Product(
            self.value * other.value, self.rates + other.rates, self.factors + other.factors
        )


def _array(x: Any) -> jax.Array:
    # An NNX optimizer wraps each array of its state in a Variable.
    if hasattr(x, "get_value"):
        x = x.get_value()
    return jnp.asarray(x)


def _times(a: Any, b: Any, where: str) -> Any:
    """Sequential composition: a product, or a dict by label times a product."""
    if isinstance(a, dict) and isinstance(b, dict):
        # A refusal like the others (the documented ValueError), not a caller's type error.
        raise ValueError(  # noqa: TRY004
            f"two optax.multi_transform partitions in sequence (the second at {where}): "
            "their labels need not match, so no rate per label follows; read each "
            "partition's state on its own"
        )
    if isinstance(a, dict):
        return {k: v.times(b) for k, v in a.items()}
    if isinstance(b, dict):
        return {k: a.times(v) for k, v in b.items()}
    return a.times(b)


def _refuse_empty(where: str) -> ValueError:
    return ValueError(
        f"an optax.EmptyState at {where}: the state of optax.scale(c) and of an optax "
        "optimizer's constant learning rate, which keep their factor out of the state, "
        "and also of clipping, optax.identity and optax.add_decayed_weights, which do "
        "not change the rate. The state cannot tell them apart. If it is optax.scale(c) "
        "or an optax optimizer, fold c into an lrjax learning rate (lrjax.adam(c * lr), "
        "or lrjax.scale_by_learning_rate(c, flip_sign=False), which records c), or wrap "
        "the optax optimizer in optax.inject_hyperparams; if no stateless transform in "
        "the chain multiplies by a constant, pass neutral=(optax.EmptyState,)"
    )


def _refuse_schedule(where: str) -> ValueError:
    return ValueError(
        f"an optax ScaleByScheduleState at {where}: optax.scale_by_schedule (and an "
        "optax optimizer given a schedule) keeps only a count, not the factor it "
        "applied. Use lrjax.scale_by_learning_rate(schedule, flip_sign=False) for a "
        "scheduled factor, the lrjax optimizer (lrjax.adam(schedule)), or "
        "optax.inject_hyperparams(optax.adam)(learning_rate=schedule)"
    )


def _refuse_unknown(node: Any, where: str) -> ValueError:
    what = type(node)
    name = f"{what.__module__}.{what.__qualname__}"
    return ValueError(
        f"an unknown state {name} at {where}: current_learning_rate cannot know what "
        "its transform does to the learning rate. If it multiplies updates by a "
        "factor, apply that factor with lrjax.scale_by_learning_rate(factor, "
        "flip_sign=False), which records it; if it does not change the rate (a "
        f"data-dependent rescaling), pass neutral=({what.__qualname__},)"
    )


def _read(node: Any, where: str, neutral: tuple[type, ...], in_alias: bool) -> Any:
    kind = type(node)
    if kind in RECORDS:
        field, role = RECORDS[kind]
        value = _array(getattr(node, field))
        out = _Product(value, rates=1) if role == "rate" else _Product(value, factors=1)
        if kind is ScaleByHypergradientState:
            out = _times(
                out, _read(node.direction, where + ".direction", neutral, in_alias), where
            )
        return out
    if kind in FACTORS:
        return _Product(_array(getattr(node, FACTORS[kind])), factors=1)
    if kind in SCALED_WRAPPERS:
        factor, field = SCALED_WRAPPERS[kind]
        inner = _read(getattr(node, field), f"{where}.{field}", neutral, in_alias)
        return _times(_Product(_array(getattr(node, factor)), factors=1), inner, where)
    if kind in WRAPPERS:
        field = WRAPPERS[kind]
        return _read(getattr(node, field), f"{where}.{field}", neutral, in_alias)
    if kind in _INJECT:
        return _read_inject(node, where, neutral)
    if kind in _PARTITION:
        out = {}
        for label, sub in node.inner_states.items():
            got = _read(sub, f"{where}.inner_states[{label!r}]", neutral, in_alias)
            if isinstance(got, dict):
                out.update({f"{label}/{k}": v for k, v in got.items()})
            elif got.rates or got.factors:
                out[label] = got
        return out
    if kind in DIRECTIONS or issubclass(kind, neutral):
        return _Product()
    if kind in _SCHEDULE:
        raise _refuse_schedule(where)
    if kind in NO_RATE:
        raise ValueError(f"a {kind.__qualname__} at {where}: {NO_RATE[kind]}")
    if kind is optax.EmptyState:
        if in_alias:
            return _Product()
        raise _refuse_empty(where)
    if kind in (tuple, list):
        out = _Product()
        for i, sub in enumerate(node):
            out = _times(out, _read(sub, f"{where}[{i}]", neutral, in_alias), where)
        return out
    if kind in (dict, collections.OrderedDict):  # optax.named_chain
        out = _Product()
        for k, sub in node.items():
            out = _times(out, _read(sub, f"{where}[{k!r}]", neutral, in_alias), where)
        return out
    raise _refuse_unknown(node, where)


def _read_inject(node: Any, where: str, neutral: tuple[type, ...]) -> Any:
    """`inject_hyperparams`: an injected `learning_rate` is the inner optimizer's.

    The inner state then belongs to an optimizer built with that rate: an optax alias
    applies it with `optax.scale` (an `EmptyState`), which is accepted here as that
    rate; an lrjax optimizer records it itself, and the record is used instead.
    """
    hyper = node.hyperparams
    inner = _read(
        node.inner_state, where + ".inner_state", neutral, "learning_rate" in hyper
    )
    if "learning_rate" not in hyper:
        return inner
    if isinstance(inner, dict) or inner.rates:
        return inner
    return _Product(_array(hyper["learning_rate"]), rates=1).times(inner)


def _opt_state_of(state: Any) -> Any:
    """The optax state inside a Flax `TrainState` or an NNX `Optimizer`."""
    module = type(state).__module__
    if module.startswith("flax") and type(state).__name__ == "State":
        raise ValueError(
            "an nnx.State keeps neither the types of the optimizer's states nor the "
            "states without arrays (optax.scale's, clipping's): chain(adam, "
            "optax.scale(0.5)) and chain(adam, optax.identity()) give the same "
            "nnx.State, so the rate cannot be read from it exactly. Pass the "
            "nnx.Optimizer itself (or nnx.merge(graphdef, state))"
        )
    if module.startswith("flax") and hasattr(state, "opt_state"):
        return state.opt_state
    return state


def current_learning_rate(
    opt_state: Any, *, neutral: Iterable[type] = ()
) -> jax.Array | dict[str, jax.Array]:
    r"""The learning rate that the last update applied, read from an optimizer state.

    The rate is the product of every rate and scalar factor that the chain records:

    $$\eta_\text{applied} = \prod_i \eta_i(n) \prod_j f_j,$$

    where the $\eta_i$ are the rates that [`lrjax.scale_by_learning_rate`][] (every
    lrjax optimizer ends in one), hypergradient descent, or `optax.inject_hyperparams`
    (its `learning_rate` hyperparameter) applied, and the $f_j$ the factors that
    [`lrjax.reduce_on_plateau`][], `optax.contrib.reduce_on_plateau` (its `scale`) and
    optax's line searches (the accepted step) recorded. Before the first update it is
    the product of the first values.

    It reads through `optax.chain` (and `named_chain`), `optax.MultiSteps`,
    [`lrjax.skip_nonfinite`][], `optax.apply_if_finite`, `optax.masked`,
    `optax.inject_hyperparams`, [`lrjax.grouped`][], a Flax `TrainState` and an NNX
    `Optimizer` (pass the object itself). `optax.multi_transform` gives a dict from each
    label to its rate (labels that record nothing, such as a frozen group, are left
    out). The sign is the descent convention: updates are $-\eta_\text{applied}$ times
    the direction (a chain of factors alone, with no rate, reports the factors).

    **Not part of the rate**: what rescales the direction by an amount that depends on
    the data — clipping, normalisation, the denominators of Adam, RMSprop and AdaGrad,
    momentum, Newton steps, weight decay. The rate is the number the direction is
    multiplied by, as Keras's `optimizer.learning_rate` and PyTorch's
    `scheduler.get_last_lr()` report it.

    **Refused** (a `ValueError` that names the transform, where it sits, and what to use
    instead), never a wrong number:

    - `optax.scale_by_schedule` and an optax optimizer given a schedule: the state keeps
      a count, not the factor;
    - an `optax.EmptyState`: it is what `optax.scale(c)` and an optax optimizer's
      constant rate leave, and also what clipping, `optax.identity` and
      `optax.add_decayed_weights` leave. The state cannot tell them apart, so an
      `EmptyState` is refused unless you vouch that none multiplies by a constant:
      `neutral=(optax.EmptyState,)`. Inside `optax.inject_hyperparams` with a
      `learning_rate`, the inner optimizer's `EmptyState`s are accepted: the injected
      rate is the one it applies;
    - a state of a type it does not know (a transform of your own, an optax
      transform outside the known set): pass its type in `neutral` if it does not
      change the rate, or apply its factor with
      `lrjax.scale_by_learning_rate(factor, flip_sign=False)`, which records it;
    - an `nnx.State`: it keeps neither the state types nor the stateless transforms.

    Args:
      opt_state: the state returned by `init` or `update`, a Flax `TrainState` or an
        NNX `Optimizer`.
      neutral: state types whose transforms you vouch do not change the learning rate.

    Returns:
      A scalar array; for `optax.multi_transform`, a `dict` from label to scalar array.

    Raises:
      ValueError: no rate or factor is recorded, or the state holds a transform whose
        effect on the rate cannot be known (see above).

    Examples:
      >>> import jax.numpy as jnp, optax, lrjax
      >>> opt = lrjax.sgd(lrjax.step_decay(0.1, drop=0.5, drop_every=2), momentum=0.9)
      >>> state = opt.init(jnp.zeros(3))
      >>> for _ in range(3):
      ...     _, state = opt.update(jnp.ones(3), state)
      >>> print(f"{float(lrjax.current_learning_rate(state)):.4f}")
      0.0500

      A plateau factor multiplies the rate:

      >>> opt = lrjax.chain(lrjax.adam(1e-3), lrjax.reduce_on_plateau(patience=0))
      >>> state = opt.init(jnp.zeros(2))
      >>> for loss in (1.0, 2.0):
      ...     _, state = opt.update(jnp.ones(2), state, value=jnp.asarray(loss))
      >>> print(f"{float(lrjax.current_learning_rate(state)):.1e}")
      1.0e-04

      `optax.scale(0.5)` keeps no state, so it is refused:

      >>> state = optax.chain(lrjax.adam(1e-3), optax.scale(0.5)).init(jnp.zeros(2))
      >>> lrjax.current_learning_rate(state)
      Traceback (most recent call last):
      ...
      ValueError: an optax.EmptyState at state[1]: ...

    References:
      Keras `optimizer.learning_rate` and PyTorch `scheduler.get_last_lr()` expose the
      same quantity for their stateful optimizers.
    """
    neutral = tuple(neutral)
    for t in neutral:
        if not isinstance(t, type):
            raise TypeError(f"neutral must hold state types, got {t!r}")
    got = _read(_opt_state_of(opt_state), "state", neutral, False)
    if isinstance(got, dict):
        if not got:
            raise ValueError("no learning rate is recorded in any multi_transform label")
        return {k: jnp.asarray(v.value) for k, v in got.items()}
    if not (got.rates or got.factors):
        raise ValueError(
            "no learning rate is recorded in this optimizer state: build the optimizer "
            "with lrjax (its aliases end in scale_by_learning_rate), or wrap an optax "
            "optimizer in optax.inject_hyperparams"
        )
    return jnp.asarray(got.value)
