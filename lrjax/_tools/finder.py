"""The learning-rate range test, compiled as one XLA program.

The sweep (forward, backward, optimizer update, smoothing and the divergence tests of
every step) runs inside one `lax.while_loop`; only the suggestion rules, which look at
the whole recorded curve, run afterwards in NumPy, in float64.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._directions.adam import adam
from .._shared import validate
from .._shared.base import GradientTransformation, apply_updates
from .._shared.numerics import lr_dtype
from . import suggest
from .batches import batch_getter, cached, check_optimizer_factory, get_batch
from .plot import plot_lr_finder

SWEEPS = ("exp", "linear")
SUGGESTIONS = suggest.SUGGESTIONS
# Why a sweep stopped, indexed by the code the compiled loop returns.
STOP_REASONS = ("completed", "nonfinite", "spike", "smoothed")


@dataclasses.dataclass(frozen=True, eq=False)
class LRFinderResult:
    """What [`lrjax.find_learning_rate`][] measured, and the learning rate it suggests.

    Attributes:
      learning_rates: the sweep, shape `(num_steps,)`; step `i` trained with
        `learning_rates[i]`.
      losses: the raw loss at each step, evaluated *before* that step's update (NaN
        after `stop`).
      smoothed_losses: the bias-corrected exponential average of `losses` (NaN after
        `stop`). The suggestion rules read this curve.
      stop: the number of steps that ran; `losses[:stop]` are valid.
      diverged: whether the sweep stopped early (`stop_reason != "completed"`).
      suggestion: the suggested learning rate, or NaN when there is none; `reason`
        then says why.
      method: the rule that gave `suggestion`.
      skip_start: points left out at the start of the curve before the rules look at it.
      skip_end: points left out at its end (fastai-compatible mode only; 0 otherwise).
      stop_reason: `"completed"` (all steps ran), `"nonfinite"` (a NaN or infinite
        loss), `"spike"` (a raw loss above `spike_factor` times the best smoothed loss)
        or `"smoothed"` (the smoothed loss above `diverge_factor` times its best).
      reason: why `suggestion` is NaN (no descent before divergence, or too few points
        for the rule); `""` when there is a suggestion.
      fastai_compatible: whether the rules read fastai's curve (trimmed by `skip_start`
        and `skip_end`, including the diverging part) instead of the part before the
        smoothed minimum.
      beta: the smoothing factor, which the noise test of the descent needs.
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    stop: int
    diverged: bool
    suggestion: float
    method: str
    skip_start: int
    skip_end: int
    stop_reason: str = "completed"
    reason: str = ""
    fastai_compatible: bool = False
    beta: float = 0.98

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """The learning rates and smoothed losses the suggestion rules look at.

        Returns:
          `(learning_rates, smoothed_losses)`, float64 NumPy arrays: by default from
            `skip_start` up to and including the lowest smoothed loss; with
            `fastai_compatible`, fastai's `[skip_start:stop - skip_end]` cut at the first
            non-finite value.
        """
        if self.fastai_compatible:
            return suggest.fastai_curve(
                self.learning_rates,
                self.smoothed_losses,
                self.stop,
                self.skip_start,
                self.skip_end,
            )
        lrs, _, smoothed = self._before_minimum()
        return lrs, smoothed

    def _before_minimum(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return suggest.before_minimum(
            self.learning_rates,
            self.losses,
            self.smoothed_losses,
            self.stop,
            self.skip_start,
        )

    @property
    def minimum_learning_rate(self) -> float:
        """The rate at which the smoothed loss was lowest (after `skip_start`); every
        suggestion lies below it, except in fastai-compatible mode. NaN if none."""
        lrs, _, _ = self._before_minimum()
        return float(lrs[-1]) if lrs.size else math.nan

    def suggest_with_reason(self, method: str) -> tuple[float, str]:
        """The suggestion of rule `method` and, when there is none, why.

        Args:
          method: `"steep"`, `"minimum"`, `"valley"` or `"slide"`.

        Returns:
          `(learning_rate, reason)`: a float and `""`, or NaN and a sentence.
        """
        validate.choice("method", method, SUGGESTIONS)
        rule = suggest.RULES[method]
        if self.fastai_compatible:
            lrs, losses = self.curve()
            value = rule(lrs, losses)
            return value, "" if math.isfinite(value) else _too_short(method, lrs.size)
        lrs, _, smoothed = self._before_minimum()
        raw = np.asarray(self.losses[: self.skip_start + smoothed.size], np.float64)
        ok, why = suggest.descent_is_significant(raw, smoothed, self.skip_start, self.beta)
        if not ok:
            return math.nan, why
        if lrs.size < suggest.MIN_POINTS[method]:
            return math.nan, _too_short(method, lrs.size)
        value = rule(lrs, smoothed)
        # Every rule answers with a point before the last one (the minimum) or a tenth of
        # it; the guard keeps that promise even for a rule added later.
        if not value < lrs[-1]:
            return math.nan, f"{method} found no rate below the smoothed minimum"
        return value, ""

    def suggest(self, method: str) -> float:
        """Recompute the suggestion from the same curve with another rule.

        Args:
          method: `"steep"`, `"minimum"`, `"valley"` or `"slide"`.

        Returns:
          The suggested learning rate, a float; NaN when there is none
            (`suggest_with_reason` says why).
        """
        return self.suggest_with_reason(method)[0]

    def plot(self, ax: Any = None) -> Any:
        """Draw the loss against the learning rate (log x axis), suggestion marked.

        Needs matplotlib.

        Args:
          ax: the matplotlib `Axes` to draw on; a new figure when `None`.

        Returns:
          The matplotlib `Axes`.
        """
        return plot_lr_finder(self, ax=ax)


def _too_short(method: str, points: int) -> str:
    return (
        f"too few points for {method}: the curve it reads has {points}, it needs "
        f"{suggest.MIN_POINTS[method]} (raise num_steps or lower skip_start)"
    )


def sweep_schedule(min_lr: float, max_lr: float, num_steps: int, sweep: str):
    """`i -> lr_i`: geometric or arithmetic from `min_lr` (i = 0) to `max_lr`."""
    log_min, log_max = math.log(min_lr), math.log(max_lr)

    def schedule(count):
        t = jnp.asarray(count, lr_dtype()) / (num_steps - 1)
        if sweep == "exp":
            return jnp.exp(log_min + t * (log_max - log_min))
        return min_lr + t * (max_lr - min_lr)

    return schedule


def _exceeds(value: jax.Array, best: jax.Array, grow: float | None) -> jax.Array:
    """`value > best + grow |best|`: "(grow + 1) times worse", also for a negative best."""
    if grow is None:
        return jnp.zeros([], bool)
    return value > best + jnp.asarray(grow, best.dtype) * jnp.abs(best)


def _sweep_program(
    loss_fn: Callable[[Any, Any], jax.Array],
    optimizer: Callable[[Any], GradientTransformation],
    min_lr: float,
    max_lr: float,
    num_steps: int,
    sweep: str,
    beta: float,
    grow: float | None,
    spike_grow: float | None,
    batch_kind: tuple,
) -> Callable[[Any, Any], tuple]:
    """The jitted sweep `(params, data) -> (stop, reason code, losses, smoothed, lrs)`."""
    schedule = sweep_schedule(min_lr, max_lr, num_steps, sweep)
    opt = optimizer(schedule)

    def run(params, data):
        dtype = lr_dtype()
        nan = jnp.full((num_steps,), jnp.nan, dtype)

        def cond(carry):
            i, code = carry[0], carry[5]
            return (i < num_steps) & (code == 0)

        def body(carry):
            i, params, opt_state, avg, best, _, losses, smoothed = carry
            batch = get_batch(batch_kind, data, i)
            loss, grads = jax.value_and_grad(loss_fn)(params, batch)
            loss = jnp.asarray(loss, dtype)
            avg = jnp.asarray(beta, dtype) * avg + jnp.asarray(1.0 - beta, dtype) * loss
            s = avg / (1 - jnp.asarray(beta, dtype) ** jnp.asarray(i + 1, dtype))
            # fastai: "if smooth < best: best = smooth"; a NaN never becomes the best.
            best = jnp.where(s < best, s, best)
            # The first test that fires names the stop: a NaN outranks a spike, a spike
            # the slower smoothed rule.
            code = jnp.select(
                [
                    ~jnp.isfinite(s),
                    _exceeds(loss, best, spike_grow),
                    _exceeds(s, best, grow),
                ],
                [1, 2, 3],
                0,
            ).astype(jnp.int32)
            updates, opt_state = opt.update(grads, opt_state, params)
            params = apply_updates(params, updates)
            return (
                i + 1,
                params,
                opt_state,
                avg,
                best,
                code,
                losses.at[i].set(loss),
                smoothed.at[i].set(s),
            )

        carry = (
            jnp.zeros([], jnp.int32),
            params,
            opt.init(params),
            jnp.zeros([], dtype),
            jnp.full([], jnp.inf, dtype),
            jnp.zeros([], jnp.int32),
            nan,
            nan,
        )
        i, _, _, _, _, code, losses, smoothed = jax.lax.while_loop(cond, body, carry)
        # The same function the optimizer evaluates at its update count (== i).
        lrs = schedule(jnp.arange(num_steps, dtype=jnp.int32))
        return i, code, losses, smoothed, lrs

    return jax.jit(run)


# A second call with the same loss, optimizer and settings (new params or batches of
# the same shapes) reuses the compiled sweep instead of tracing and compiling again.
# Small, because each entry keeps its loss function (and what it closes over) alive.
_cached_sweep_program = functools.lru_cache(maxsize=8)(_sweep_program)


def find_learning_rate(
    loss_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    batches: Any = None,
    optimizer: Callable[[Any], GradientTransformation] | None = None,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    sweep: str = "exp",
    beta: float = 0.98,
    diverge_factor: float | None = 4.0,
    spike_factor: float | None = 10.0,
    suggestion: str = "steep",
    skip_start: int | None = None,
    skip_end: int | None = None,
    fastai_compatible: bool = False,
) -> LRFinderResult:
    r"""The learning-rate range test: train briefly with a growing learning rate.

    Step $i = 0, \dots, N-1$ evaluates the loss $\ell_i$ and its gradient at the current
    params on batch $i$, then updates them with the learning rate

    $$
    \eta_i = \eta_{\min} (\eta_{\max}/\eta_{\min})^{i/(N-1)} \ \text{(exp)}, \qquad
    \eta_i = \eta_{\min} + (\eta_{\max} - \eta_{\min})\, i/(N-1) \ \text{(linear)}.
    $$

    The loss is smoothed with fastai's bias-corrected exponential average,

    $$
    a_i = \beta a_{i-1} + (1-\beta)\ell_i, \quad a_{-1} = 0, \qquad
    s_i = a_i / (1 - \beta^{i+1}),
    $$

    and with $b_i = \min_{k \le i} s_k$ the sweep stops after the first step where

    - $s_i$ is NaN or infinite (`stop_reason="nonfinite"`);
    - the raw loss spikes: $\ell_i > b_i + (f_\text{spike} - 1)|b_i|$ with
      $f_\text{spike}$ = `spike_factor` (`"spike"`). One minibatch loss far above the
      best smoothed loss means the rate is past divergence, even when the smoothed
      average has not caught up yet;
    - or $s_i > b_i + (f - 1)|b_i|$ with $f$ = `diverge_factor` (`"smoothed"`; for a
      positive best this is fastai's $s_i > 4 b_i$).

    The whole sweep is one compiled XLA program (a `lax.while_loop`); the params you pass
    are not modified and the trained ones are discarded. The compiled program is cached:
    calling again with the same `loss_fn`, `optimizer` and settings, and params and
    batches of the same shapes, does not recompile.

    **Which part of the curve the rules read.** By default the rules see the smoothed
    losses from `skip_start` (default $N/10$) up to and including the point where $s$ is
    lowest, so no rule can answer with a rate from the diverging part, and every
    suggestion lies below [`LRFinderResult.minimum_learning_rate`][lrjax.LRFinderResult].
    If that part holds no descent larger than its noise (the drop from its first point to
    the minimum must exceed 4 standard deviations of the smoothed curve's noise, estimated
    from the raw losses, and 0.1% of the starting loss), there is no suggestion: it is
    NaN, and `reason` says why. fastai instead hands its rules the whole recorded curve
    less its last 5 points, so a spike followed by recovery past the minimum fooled its
    `steep` into rates far beyond divergence; `fastai_compatible=True` reproduces fastai
    exactly (its curve, no spike test, no noise test).

    The rules are fastai's `lr_find` rules:

    - `"steep"` (default): the left end of the steepest descending segment of $s$
      against $\log\eta$ (forward differences).
    - `"minimum"`: the learning rate of the lowest $s$, divided by 10.
    - `"valley"`: fastai's default: along the longest decreasing subsequence of $s$,
      ending at index $e$ with length $L$, the point
      $e - L + \lfloor L/3 \rfloor + \lfloor L/6 \rfloor$.
    - `"slide"`: fastai's interval slide rule on `np.gradient` of $s$ (window 15,
      threshold 0.005).

    `docs/range_test.md` measures which rule to use for a constant rate and for the peak
    of `one_cycle` or warm-up + cosine.

    Args:
      loss_fn: `loss_fn(params, batch) -> scalar`, differentiable in `params`.
      params: the initial parameters (any pytree).
      batches: a pytree of arrays whose leading axis is the step (cycled when shorter
        than `num_steps`), a function `step -> batch` (traced, so it must be pure
        `jnp`), or `None` to call `loss_fn(params, None)`.
      optimizer: a factory `learning_rate -> GradientTransformation`, called once with
        the sweep as a schedule (so the optimizer must evaluate its learning rate at its
        update count, as every lrjax and optax optimizer does). Default `lrjax.adam`.
      min_lr: the first learning rate, `> 0`.
      max_lr: the last learning rate, `> min_lr`.
      num_steps: the number of steps $N \ge 2$.
      sweep: `"exp"` (geometric, default) or `"linear"`.
      beta: the smoothing factor in `[0, 1)`.
      diverge_factor: stop when the smoothed loss exceeds this factor (`> 1`) of the
        best; `None` turns the test off.
      spike_factor: stop when one raw loss exceeds this factor (`> 1`) of the best
        smoothed loss; `None` turns the test off. Ignored with `fastai_compatible`.
      suggestion: `"steep"`, `"minimum"`, `"valley"` or `"slide"`.
      skip_start: points left out at the start of the curve (default `num_steps // 10`).
      skip_end: points left out at the end of the curve in fastai-compatible mode
        (default 5); the default mode cuts at the minimum instead and refuses it.
      fastai_compatible: apply fastai's stop rule and curve exactly (see above).

    Returns:
      An [`LRFinderResult`][lrjax.LRFinderResult] (NumPy arrays, on the host).

    Raises:
      TypeError: `optimizer` is an optimizer rather than a factory of one, or
        `loss_fn` is not callable.
      ValueError: a setting out of range, named with its value.

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> curv = jnp.array([1.0, 0.5, 0.1])        # f(w) = sum(c w^2) / 2, L = 1
      >>> loss = lambda w, batch: 0.5 * jnp.sum(curv * w**2)
      >>> res = lrjax.find_learning_rate(loss, jnp.ones(3), optimizer=lrjax.sgd,
      ...                                min_lr=1e-3, max_lr=100.0, num_steps=100)
      >>> print(res.diverged, res.stop_reason, 0 < res.suggestion < 2.0)
      True spike True
      >>> print(res.suggestion < res.minimum_learning_rate)
      True

    References:
      Smith, Cyclical Learning Rates for Training Neural Networks, 2017,
      https://arxiv.org/abs/1506.01186. fastai `Learner.lr_find` and its suggestion
      functions (`fastai/callback/schedule.py`),
      https://docs.fast.ai/callback.schedule.html.
    """
    validate.callable_("loss_fn", loss_fn)
    if optimizer is not None:
        check_optimizer_factory("optimizer", optimizer)
    min_lr = validate.positive("min_lr", min_lr)
    max_lr = validate.positive("max_lr", max_lr)
    if min_lr is None or max_lr is None:
        raise TypeError("min_lr and max_lr must be concrete numbers, not traced values")
    if not min_lr < max_lr:
        raise ValueError(
            f"min_lr must be < max_lr, got min_lr={min_lr!r}, max_lr={max_lr!r}"
        )
    num_steps = validate.positive_int("num_steps", num_steps)
    if num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2, got {num_steps!r}")
    validate.choice("sweep", sweep, SWEEPS)
    beta = validate.decay_rate("beta", beta)
    for name, factor in (
        ("diverge_factor", diverge_factor),
        ("spike_factor", spike_factor),
    ):
        if factor is not None:
            validate.in_range(name, factor, 1.0, math.inf, low_open=True)
    validate.choice("suggestion", suggestion, SUGGESTIONS)
    fastai_compatible = validate.boolean("fastai_compatible", fastai_compatible)
    skip_start = num_steps // 10 if skip_start is None else skip_start
    skip_start = validate.nonnegative_int("skip_start", skip_start)
    if skip_end is None:
        skip_end = 5 if fastai_compatible else 0
    skip_end = validate.nonnegative_int("skip_end", skip_end)
    if skip_end and not fastai_compatible:
        raise ValueError(
            f"skip_end applies to fastai_compatible=True only (the default curve ends "
            f"at the smoothed minimum), got skip_end={skip_end!r}"
        )
    data, batch_kind = batch_getter(batches)

    if optimizer is None:
        optimizer = adam
    grow = None if diverge_factor is None else float(diverge_factor) - 1.0
    spike_grow = None
    if spike_factor is not None and not fastai_compatible:
        spike_grow = float(spike_factor) - 1.0
    key = (
        loss_fn,
        optimizer,
        min_lr,
        max_lr,
        num_steps,
        sweep,
        beta,
        grow,
        spike_grow,
        batch_kind,
    )
    program = cached(_cached_sweep_program, key)
    stop, code, losses, smoothed, lrs = jax.device_get(program(params, data))
    result = LRFinderResult(
        learning_rates=np.asarray(lrs),
        losses=np.asarray(losses),
        smoothed_losses=np.asarray(smoothed),
        stop=int(stop),
        diverged=int(code) != 0,
        suggestion=math.nan,
        method=suggestion,
        skip_start=skip_start,
        skip_end=skip_end,
        stop_reason=STOP_REASONS[int(code)],
        fastai_compatible=fastai_compatible,
        beta=beta,
    )
    value, reason = result.suggest_with_reason(suggestion)
    return dataclasses.replace(result, suggestion=value, reason=reason)
