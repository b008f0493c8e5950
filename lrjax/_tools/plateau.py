"""Plateau reduction: cut the learning rate when a monitored value stops improving."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._learning_rate.records import records_learning_rate
from .._shared import validate
from .._shared.base import GradientTransformationExtraArgs, ScalarOrSchedule
from .._shared.numerics import evaluate, lr_dtype, safe_increment
from .._shared.tree import canonical_inputs, check_like


@records_learning_rate("scale", kind="factor")
class ReduceOnPlateauState(NamedTuple):
    """State of [`lrjax.reduce_on_plateau`][].

    Attributes:
      scale: the factor the last update was multiplied by (1 until the first cut);
        [`lrjax.current_learning_rate`][] multiplies the optimizer's rate by it.
      best: the best monitored value so far; before the first decision the largest
        finite float (its negation in `"max"` mode), which every finite value beats
        and which keeps the state finite.
      num_bad: decisions without improvement since the last improvement or cut.
      cooldown_counter: decisions left in the cooldown after a cut.
      count: number of updates so far (`int32`, saturating); it indexes a
        `learning_rate` schedule.
      accumulated: sum of the values seen since the last decision.
      accumulated_count: number of those values.
    """

    scale: jax.Array
    best: jax.Array
    num_bad: jax.Array
    cooldown_counter: jax.Array
    count: jax.Array
    accumulated: jax.Array
    accumulated_count: jax.Array


def _check_int(name: str, value: Any, minimum: int) -> None:
    # inject_hyperparams may trace an integer hyperparameter; it was checked when the
    # user built the optimizer, and here it only enters jnp comparisons.
    if validate.is_traced(value):
        return
    if minimum == 0:
        validate.nonnegative_int(name, value)
    else:
        validate.positive_int(name, value)


def reduce_on_plateau(
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: str = "rel",
    cooldown: int = 0,
    min_lr: float = 0.0,
    *,
    mode: str = "min",
    convention: str = "pytorch",
    learning_rate: ScalarOrSchedule | None = None,
    min_scale: float = 0.0,
    eps: float = 1e-8,
    accumulation_size: int = 1,
) -> GradientTransformationExtraArgs:
    r"""Multiply updates by a factor that is cut when the monitored value plateaus.

    Each call receives the monitored value $a$ (a loss, a validation metric) as
    the keyword argument `value=`. In `"min"` mode $a$ improves on the best
    value $b$ when

    $$
    a < b - \tau |b| \quad (\text{rel}), \qquad a < b - \tau \quad (\text{abs}),
    $$

    and in `"max"` mode when $a > b + \tau |b|$ or $a > b + \tau$. After
    `patience` values without improvement the scale $s$ (initially 1) becomes

    $$
    s \leftarrow \min\bigl(s,\ \max(\gamma s,\ s_\text{min})\bigr), \qquad
    s_\text{min} = \max\bigl(\text{min\_scale},\ \text{min\_lr}/\eta(n)\bigr),
    $$

    and the next `cooldown` values are not counted. Updates leave multiplied by
    $s$; placed after an optimizer whose learning rate is $\eta(n)$, the
    applied rate is $\eta(n)\,s$, which [`lrjax.current_learning_rate`][] reports.

    **Counting.** `convention="pytorch"` follows `torch.optim.lr_scheduler.
    ReduceLROnPlateau`: a cut happens when the number of bad values *exceeds*
    `patience`; a value seen during the cooldown is not counted; the cooldown and the
    count restart after a cut even when `min_lr` blocks it; a cut smaller than `eps`
    (on $\eta s$, or on $s$ when `learning_rate` is not given) is skipped.
    `convention="keras"` follows `keras.callbacks.ReduceLROnPlateau`: a cut happens
    when the count *reaches* `patience`; the cooldown counter is decremented before
    the comparison, so the value that ends the cooldown already counts; at the floor no
    cut happens and the count keeps growing. Keras uses an absolute threshold
    (`min_delta`, default `1e-4`): `threshold_mode="abs", convention="keras"`
    reproduces it. With flat values, `patience=2` cuts at the 4th, 7th, ... value
    (PyTorch) or the 3rd, 5th, ... (Keras); `patience=1, cooldown=2` cuts at the 3rd
    and 7th (PyTorch) or the 2nd, 4th, 6th and 8th (Keras).

    **Where lrjax departs from PyTorch.** PyTorch's relative test is
    $a < b(1-\tau)$, which for a negative best $b$ accepts values *worse*
    than $b$ as improvements (a flat negative loss is never cut). lrjax uses
    $b - \tau|b|$, which equals PyTorch's formula for $b \ge 0$ and still
    means "better by the fraction $\tau$" for $b < 0$; with $b = 0$
    any strict improvement counts. A NaN value never improves: it counts as bad.

    **The floor.** The transform only sees updates, not the learning rate, so the
    absolute floor `min_lr` needs the base rate `learning_rate` (a number, or the
    same schedule the optimizer uses; it is evaluated at this transform's own update
    count, which equals the optimizer's when both sit in one chain). `min_scale` is a
    floor on $s$ itself (optax contrib's `min_scale`). The floor applies when a
    cut is made: it stops cuts but never raises the scale.

    **Evaluations.** To drive the cuts by a validation loss measured every few steps,
    pass `has_value=` too: a scalar bool, traced or not, that says whether `value`
    was measured at this call. A call with `has_value=False` makes no decision and
    leaves every decision field as it was (its `value` may be anything, NaN
    included, and never enters the state); the scale still multiplies its updates.
    `patience` and `cooldown` then count evaluations, as PyTorch's and Keras's
    classes stepped once per evaluation do, inside one jitted training step, and
    everything a decision needs is in the state, so a run resumed between two
    evaluations continues bit-identically. `skip_nonfinite` does not check a value
    marked absent.

    **Accumulation.** With `accumulation_size = k` the values of `k` calls are
    averaged and the decision is made on the `k`-th call (useful when `value` is a
    noisy minibatch loss); `patience` and `cooldown` then count decisions. The
    scale decided at a call already applies to that call's updates.

    Args:
      factor: the cut $\gamma \in (0, 1)$.
      patience: number of decisions without improvement tolerated (see *Counting*).
      threshold: $\tau \ge 0$, the improvement that counts.
      threshold_mode: `"rel"` or `"abs"`.
      cooldown: decisions to wait after a cut before counting again.
      min_lr: absolute floor on the learning rate; needs `learning_rate` when > 0.
      mode: `"min"` (a loss) or `"max"` (an accuracy).
      convention: `"pytorch"` or `"keras"` counting (see above).
      learning_rate: the optimizer's base learning rate, a number or a schedule; used
        for `min_lr` and `eps` only.
      min_scale: floor on the scale, in $[0, 1]$.
      eps: PyTorch's minimum change (`convention="pytorch"` only).
      accumulation_size: number of calls whose values are averaged per decision.

    Returns:
      An optax `GradientTransformationExtraArgs` with a [`lrjax.ReduceOnPlateauState`][];
        its `update` needs the keyword argument `value` and takes `has_value`
        (default `True`).

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> opt = lrjax.chain(lrjax.sgd(0.1), lrjax.reduce_on_plateau(patience=1))
      >>> state = opt.init(jnp.zeros(1))
      >>> for loss in [1.0, 0.5, 0.5, 0.5]:
      ...     _, state = opt.update(jnp.ones(1), state, value=jnp.asarray(loss))
      >>> print(f"{float(lrjax.current_learning_rate(state)):.4f}")
      0.0100

    References:
      PyTorch `torch.optim.lr_scheduler.ReduceLROnPlateau`,
      https://pytorch.org/docs/stable/generated/
      torch.optim.lr_scheduler.ReduceLROnPlateau.html;
      Keras `keras.callbacks.ReduceLROnPlateau`,
      https://keras.io/api/callbacks/reduce_lr_on_plateau/;
      optax `contrib.reduce_on_plateau` (its `accumulation_size` and `min_scale`).
    """
    _check_options(
        factor,
        patience,
        threshold,
        threshold_mode,
        cooldown,
        min_lr,
        mode,
        convention,
        learning_rate,
        min_scale,
        eps,
        accumulation_size,
    )
    sign = 1.0 if mode == "min" else -1.0
    rule = _Rule(
        sign,
        factor,
        patience,
        threshold,
        threshold_mode,
        cooldown,
        min_lr,
        convention,
        learning_rate,
        min_scale,
        eps,
    )

    def init_fn(params: Any) -> ReduceOnPlateauState:
        del params
        return _initial_state(sign)

    def update_fn(updates, state, params=None, *, value, has_value=True, **extra_args):
        del extra_args
        if params is not None:
            check_like(updates, params, dtypes=False)
        _check_monitored(value, has_value)
        total, n_values, ready = _accumulate(state, value, has_value, accumulation_size)
        dtype = state.scale.dtype
        mean = total / jnp.maximum(n_values, 1).astype(dtype)
        decided = _decide(rule, state, mean)
        kept = jax.tree.map(lambda new, old: jnp.where(ready, new, old), decided, state)
        new_state = kept._replace(
            count=safe_increment(state.count),
            accumulated=jnp.where(ready, jnp.zeros([], dtype), total),
            accumulated_count=jnp.where(ready, jnp.zeros([], jnp.int32), n_values),
        )
        scale = new_state.scale
        updates = jax.tree.map(lambda u: jnp.asarray(scale, u.dtype) * u, updates)
        return updates, new_state

    return GradientTransformationExtraArgs(*canonical_inputs(init_fn, update_fn))


# The steps of reduce_on_plateau, in the order an update takes them.


def _check_options(
    factor,
    patience,
    threshold,
    threshold_mode,
    cooldown,
    min_lr,
    mode,
    convention,
    learning_rate,
    min_scale,
    eps,
    accumulation_size,
) -> None:
    """The hyperparameter checks of `reduce_on_plateau`, when it is built."""
    validate.in_range("factor", factor, 0.0, 1.0, low_open=True, high_open=True)
    _check_int("patience", patience, 0)
    validate.nonnegative("threshold", threshold)
    validate.choice("threshold_mode", threshold_mode, ("rel", "abs"))
    _check_int("cooldown", cooldown, 0)
    floor_lr = validate.nonnegative("min_lr", min_lr)
    validate.choice("mode", mode, ("min", "max"))
    validate.choice("convention", convention, ("pytorch", "keras"))
    if learning_rate is not None:
        validate.learning_rate("learning_rate", learning_rate)
    elif floor_lr is not None and floor_lr > 0:
        raise ValueError(
            f"min_lr={min_lr!r} needs the base learning_rate (the rate this factor "
            "multiplies); pass learning_rate=..., or use min_scale for a floor on the "
            "factor itself"
        )
    validate.in_range("min_scale", min_scale, 0.0, 1.0)
    validate.nonnegative("eps", eps)
    _check_int("accumulation_size", accumulation_size, 1)


class _Rule(NamedTuple):
    """The hyperparameters a decision reads (`sign` is +1 in "min" mode, -1 in "max")."""

    sign: float
    factor: Any
    patience: Any
    threshold: Any
    threshold_mode: str
    cooldown: Any
    min_lr: Any
    convention: str
    learning_rate: ScalarOrSchedule | None
    min_scale: Any
    eps: Any


def _initial_state(sign: float) -> ReduceOnPlateauState:
    """Scale 1, no best value yet (the largest finite float), every counter at zero."""
    dtype = lr_dtype()
    # A fresh buffer per field: one array held twice cannot be donated.
    zero = lambda: jnp.zeros([], jnp.int32)  # noqa: E731
    return ReduceOnPlateauState(
        scale=jnp.ones([], dtype),
        best=jnp.asarray(sign * jnp.finfo(dtype).max, dtype),
        num_bad=zero(),
        cooldown_counter=zero(),
        count=zero(),
        accumulated=jnp.zeros([], dtype),
        accumulated_count=zero(),
    )


def _check_monitored(value: Any, has_value: Any) -> None:
    """`value` and `has_value` must be scalars."""
    if jnp.ndim(value) != 0:
        raise ValueError(
            f"value must be a scalar (the monitored loss), got shape {jnp.shape(value)}"
        )
    if jnp.ndim(has_value) != 0:
        raise ValueError(
            "has_value must be a scalar bool (whether value was measured at this "
            f"call), got shape {jnp.shape(has_value)}"
        )


def _accumulate(
    state: ReduceOnPlateauState, value: Any, has_value: Any, accumulation_size: Any
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`(total, n_values, ready)`: the values summed since the last decision, how many
    they are, and whether this call decides."""
    dtype = state.scale.dtype
    if has_value is True:  # every call is a measurement: no select to trace
        total = state.accumulated + jnp.asarray(value, dtype)
        n_values = safe_increment(state.accumulated_count)
        ready = n_values >= jnp.asarray(accumulation_size, jnp.int32)
        return total, n_values, ready
    # A call without a measurement leaves every decision field as it was; its
    # value (NaN, a stale loss, anything) never enters the state.
    measured = jnp.asarray(has_value, jnp.bool_)
    total = jnp.where(
        measured, state.accumulated + jnp.asarray(value, dtype), state.accumulated
    )
    n_values = jnp.where(
        measured, safe_increment(state.accumulated_count), state.accumulated_count
    )
    ready = measured & (n_values >= jnp.asarray(accumulation_size, jnp.int32))
    return total, n_values, ready


def _improves(rule: _Rule, a: jax.Array, best: jax.Array) -> jax.Array:
    """Whether the monitored value `a` improves on `best` by the threshold."""
    # Work on sign * value so that "max" is "min" of the negation; the relative
    # margin uses |best| so that it tightens the test for negative values too.
    x, b = rule.sign * a, rule.sign * best
    tau = jnp.asarray(rule.threshold, b.dtype)
    margin = tau * jnp.abs(b) if rule.threshold_mode == "rel" else tau
    # An infinite best (an infinite value was fed): inf - inf would be NaN.
    bar = jnp.where(jnp.isinf(b), b, b - margin)
    return x < bar


def _decide(rule: _Rule, state: ReduceOnPlateauState, a: jax.Array) -> ReduceOnPlateauState:
    """The decision on the (mean) monitored value `a`: the new best, the count of bad
    values, the cooldown, and the scale, cut when the count says so."""
    dtype = state.scale.dtype
    if rule.learning_rate is None:
        eta = jnp.ones([], dtype)
    else:
        eta = evaluate(rule.learning_rate, state.count).astype(dtype)
    # A zero rate (a warmup's first step) makes the absolute floor meaningless.
    lr_floor = jnp.where(
        eta > 0, jnp.asarray(rule.min_lr, dtype) / jnp.where(eta > 0, eta, 1), 0
    )
    floor = jnp.maximum(jnp.asarray(rule.min_scale, dtype), lr_floor)
    s = state.scale
    cut = jnp.minimum(s, jnp.maximum(jnp.asarray(rule.factor, dtype) * s, floor))
    cooldown_n = jnp.asarray(rule.cooldown, jnp.int32)
    patience_n = jnp.asarray(rule.patience, jnp.int32)
    zero = jnp.zeros([], jnp.int32)
    good = _improves(rule, a, state.best)
    best = jnp.where(good, a, state.best)
    if rule.convention == "pytorch":
        bad, counter, applied, reset = _count_pytorch(
            rule, state, good, patience_n, (s, cut, eta)
        )
    else:
        bad, counter, applied, reset = _count_keras(state, good, patience_n, s, floor)
    return state._replace(
        scale=jnp.where(applied, cut, s),
        best=best,
        num_bad=jnp.where(reset, zero, bad),
        cooldown_counter=jnp.where(reset, cooldown_n, counter),
    )


def _count_pytorch(
    rule: _Rule,
    state: ReduceOnPlateauState,
    good: jax.Array,
    patience_n: jax.Array,
    scales: tuple[jax.Array, jax.Array, jax.Array],
) -> tuple[jax.Array, ...]:
    """PyTorch's counting: `(num_bad, cooldown_counter, cut applied, counters reset)`.

    A cut happens when the bad values exceed `patience`, and only when it changes the
    rate by more than `eps` (`scales` is the scale, its cut and the base rate); the
    count and the cooldown restart after every trigger.
    """
    zero = jnp.zeros([], jnp.int32)
    bad = jnp.where(good, zero, safe_increment(state.num_bad))
    cooling = state.cooldown_counter > 0
    counter = jnp.where(cooling, state.cooldown_counter - 1, state.cooldown_counter)
    bad = jnp.where(cooling, zero, bad)
    trigger = bad > patience_n
    s, cut, eta = scales
    applied = trigger & ((s - cut) * eta > jnp.asarray(rule.eps, s.dtype))
    return bad, counter, applied, trigger


def _count_keras(
    state: ReduceOnPlateauState,
    good: jax.Array,
    patience_n: jax.Array,
    s: jax.Array,
    floor: jax.Array,
) -> tuple[jax.Array, ...]:
    """Keras's counting: `(num_bad, cooldown_counter, cut applied, counters reset)`.

    The cooldown counter is decremented before the comparison; a cut happens when the
    count reaches `patience` and the scale `s` is above its `floor`, and only a cut
    restarts the count.
    """
    zero = jnp.zeros([], jnp.int32)
    cooling = state.cooldown_counter > 0
    counter = jnp.where(cooling, state.cooldown_counter - 1, state.cooldown_counter)
    bad = jnp.where(cooling, zero, state.num_bad)
    still_cooling = counter > 0
    bad = jnp.where(good, zero, jnp.where(still_cooling, bad, safe_increment(bad)))
    trigger = ~good & ~still_cooling & (bad >= patience_n)
    applied = trigger & (s > floor)
    return bad, counter, applied, applied
