"""The learning-rate range test, compiled as one XLA program.

The sweep (forward, backward, optimizer update, smoothing and the divergence test of
every step) runs inside one ``lax.while_loop``; only the suggestion rules, which look at
the whole recorded curve, run afterwards in NumPy, in float64, exactly as fastai's
``lr_find`` applies them to its recorded curve.
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

from . import _validate
from ._base import GradientTransformation, apply_updates
from ._learning_rate import lr_dtype

SWEEPS = ("exp", "linear")
SUGGESTIONS = ("steep", "minimum", "valley", "slide")


# ---------------------------------------------------------------------------------------
# Suggestion rules. Each takes the curve that fastai's ``lr_find`` hands its suggestion
# functions (learning rates and *smoothed* losses, trimmed by ``_curve``) and returns a
# learning rate, or NaN when the curve is too short for the rule.


def _steep(lrs: np.ndarray, losses: np.ndarray) -> float:
    # fastai: forward differences of the loss against log lr; the left end of the
    # steepest descending segment.
    if lrs.size < 2:
        return math.nan
    slopes = np.diff(losses) / np.diff(np.log(lrs))
    return float(lrs[int(np.argmin(slopes))])


def _minimum(lrs: np.ndarray, losses: np.ndarray) -> float:
    if lrs.size < 1:
        return math.nan
    return float(lrs[int(np.argmin(losses))]) / 10.0


def _valley(lrs: np.ndarray, losses: np.ndarray) -> float:
    # fastai's "valley". lds[i] is the length of the longest strictly decreasing
    # subsequence of the losses ending at i, built by fastai's O(n^2) double loop:
    # over j < i, lds[i] is a running maximum of lds[j] + 1 (losses[j] > losses[i]).
    # Inside that loop fastai moves the valley's end to i, with start i - lds[i], the
    # first time lds[i] exceeds the longest length so far, and does not update the start
    # when lds[i] grows further for later j. That quirk is kept (vectorised over j with
    # a cumulative maximum) so that the index equals fastai's on every curve.
    n = losses.size
    if n < 1:
        return math.nan
    lds = np.ones(n, dtype=np.int64)
    max_start, max_end = 0, 0
    for i in range(1, n):
        candidates = np.where(losses[:i] > losses[i], lds[:i] + 1, 1)
        running = np.maximum.accumulate(candidates)
        lds[i] = running[-1]
        if lds[i] > lds[max_end]:
            first = int(running[int(np.argmax(running > lds[max_end]))])
            max_end, max_start = i, i - first
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    # fastai's index is -1 when its valley is the first two points (start 1 - 2), which
    # Python wraps to the *largest* learning rate tried; use the first one instead.
    return float(lrs[max(idx, 0)])


def _slide(
    lrs: np.ndarray,
    losses: np.ndarray,
    lr_diff: int = 15,
    thresh: float = 0.005,
    adjust_value: float = 1.0,
) -> float:
    # fastai's "slide" rule: walk a window of ``lr_diff`` points leftwards from the end
    # of the curve while the loss gradient (per index, np.gradient) differs across the
    # window by more than ``thresh``; suggest the window's left end.
    n = losses.size
    if n <= lr_diff:
        return math.nan
    grad = np.gradient(losses)
    r_idx = -1
    l_idx = r_idx - lr_diff
    local_min_lr = lrs[l_idx]
    while l_idx >= -n and abs(grad[r_idx] - grad[l_idx]) > thresh:
        local_min_lr = lrs[l_idx]
        r_idx -= 1
        l_idx -= 1
    return float(local_min_lr) * adjust_value


_RULES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "steep": _steep,
    "minimum": _minimum,
    "valley": _valley,
    "slide": _slide,
}


def _curve(
    lrs: np.ndarray, smoothed: np.ndarray, stop: int, skip_start: int, skip_end: int
) -> tuple[np.ndarray, np.ndarray]:
    """The part of the curve the suggestion rules see, as fastai's ``lr_find`` cuts it.

    ``recorded[skip_start:-skip_end]``, then cut at the first non-finite loss.
    """
    end = max(stop - skip_end, 0)
    lrs = np.asarray(lrs[:stop][skip_start:end], np.float64)
    losses = np.asarray(smoothed[:stop][skip_start:end], np.float64)
    bad = ~np.isfinite(losses)
    if bad.any():
        first = int(np.argmax(bad))
        lrs, losses = lrs[:first], losses[:first]
    return lrs, losses


@dataclasses.dataclass(frozen=True, eq=False)
class LRFinderResult:
    """What :func:`find_learning_rate` measured, and the learning rate it suggests.

    Attributes:
      learning_rates: the sweep, ``(num_steps,)``; step ``i`` trained with
        ``learning_rates[i]``.
      losses: the raw loss at each step, evaluated *before* that step's update (NaN
        after ``stop``).
      smoothed_losses: the bias-corrected exponential average of ``losses`` (NaN after
        ``stop``). The suggestion rules read this curve, as fastai's do.
      stop: the number of steps that ran; ``losses[:stop]`` are valid.
      diverged: whether the sweep stopped early because the smoothed loss diverged (or
        became NaN or infinite).
      suggestion: the suggested learning rate (NaN when the recorded curve is too short
        for the rule, e.g. ``slide`` on fewer than 16 points).
      method: the rule that gave ``suggestion``.
      skip_start, skip_end: points left out at each end of the curve before the rules
        look at it.
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

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """The learning rates and smoothed losses the suggestion rules look at."""
        return _curve(
            self.learning_rates, self.smoothed_losses, self.stop, self.skip_start,
            self.skip_end,
        )

    def suggest(self, method: str) -> float:
        """Recompute the suggestion from the same curve with another rule.

        Args:
          method: ``"steep"``, ``"minimum"``, ``"valley"`` or ``"slide"``.

        Returns:
          The suggested learning rate, a float (NaN if the curve is too short).
        """
        _validate.choice("method", method, SUGGESTIONS)
        return _RULES[method](*self.curve())

    def plot(self, ax: Any = None) -> Any:
        """Draw the loss against the learning rate (log x axis), suggestion marked.

        Needs matplotlib. Returns the matplotlib ``Axes``.
        """
        from ._plot import plot_lr_finder

        return plot_lr_finder(self, ax=ax)


def _sweep_fn(min_lr: float, max_lr: float, num_steps: int, sweep: str):
    """``i -> lr_i``: geometric or arithmetic from ``min_lr`` (i = 0) to ``max_lr``."""
    log_min, log_max = math.log(min_lr), math.log(max_lr)

    def schedule(count):
        t = jnp.asarray(count, lr_dtype()) / (num_steps - 1)
        if sweep == "exp":
            return jnp.exp(log_min + t * (log_max - log_min))
        return min_lr + t * (max_lr - min_lr)

    return schedule


def _batch_getter(batches: Any) -> tuple[Any, tuple]:
    """``(data, kind)``: the device arrays to pass, and a hashable description of how
    step ``i`` picks its batch (see :func:`_get_batch`)."""
    if batches is None:
        return None, ("none",)
    if callable(batches):
        return None, ("fn", batches)
    leaves = jax.tree.leaves(batches)
    if not leaves:
        raise ValueError(
            f"batches must hold arrays with a leading step axis, got {batches!r}"
        )
    sizes = set()
    for leaf in leaves:
        shape = np.shape(leaf)
        if len(shape) < 1 or shape[0] < 1:
            raise ValueError(
                "batches must be arrays with a leading step axis (or a function of the "
                f"step); got a leaf of shape {shape}"
            )
        sizes.add(shape[0])
    if len(sizes) != 1:
        raise ValueError(
            "every array in batches must have the same leading (step) size, got "
            f"{sorted(sizes)}"
        )
    (size,) = sizes
    return jax.tree.map(jnp.asarray, batches), ("arrays", size)


def _get_batch(kind: tuple, data: Any, i: jax.Array) -> Any:
    """The batch of step ``i``."""
    if kind[0] == "none":
        return None
    if kind[0] == "fn":
        return kind[1](i)
    # Fewer batches than steps: cycle through them, as fastai runs more epochs.
    j = i % kind[1]
    return jax.tree.map(lambda b: jax.lax.dynamic_index_in_dim(b, j, keepdims=False), data)


def _sweep_program(
    loss_fn: Callable[[Any, Any], jax.Array],
    optimizer: Callable[[Any], GradientTransformation],
    min_lr: float,
    max_lr: float,
    num_steps: int,
    sweep: str,
    beta: float,
    grow: float | None,
    batch_kind: tuple,
) -> Callable[[Any, Any], tuple]:
    """The jitted sweep ``(params, data) -> (stop, stopped, losses, smoothed, lrs)``."""
    schedule = _sweep_fn(min_lr, max_lr, num_steps, sweep)
    opt = optimizer(schedule)

    def run(params, data):
        dtype = lr_dtype()
        nan = jnp.full((num_steps,), jnp.nan, dtype)

        def cond(carry):
            i, stopped = carry[0], carry[5]
            return (i < num_steps) & ~stopped

        def body(carry):
            i, params, opt_state, avg, best, _, losses, smoothed = carry
            batch = _get_batch(batch_kind, data, i)
            loss, grads = jax.value_and_grad(loss_fn)(params, batch)
            loss = jnp.asarray(loss, dtype)
            avg = jnp.asarray(beta, dtype) * avg + jnp.asarray(1.0 - beta, dtype) * loss
            s = avg / (1 - jnp.asarray(beta, dtype) ** jnp.asarray(i + 1, dtype))
            # fastai: "if smooth < best: best = smooth"; a NaN never becomes the best.
            best = jnp.where(s < best, s, best)
            stopped = ~jnp.isfinite(s)
            if grow is not None:
                stopped = stopped | (s > best + jnp.asarray(grow, dtype) * jnp.abs(best))
            updates, opt_state = opt.update(grads, opt_state, params)
            params = apply_updates(params, updates)
            return (
                i + 1, params, opt_state, avg, best, stopped,
                losses.at[i].set(loss), smoothed.at[i].set(s),
            )

        carry = (
            jnp.zeros([], jnp.int32), params, opt.init(params), jnp.zeros([], dtype),
            jnp.full([], jnp.inf, dtype), jnp.zeros([], bool), nan, nan,
        )
        i, _, _, _, _, stopped, losses, smoothed = jax.lax.while_loop(cond, body, carry)
        # The same function the optimizer evaluates at its update count (== i).
        lrs = schedule(jnp.arange(num_steps, dtype=jnp.int32))
        return i, stopped, losses, smoothed, lrs

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
    suggestion: str = "steep",
    skip_start: int | None = None,
    skip_end: int = 5,
) -> LRFinderResult:
    r"""The learning-rate range test: train briefly with a growing learning rate.

    Step :math:`i = 0, \dots, N-1` evaluates the loss :math:`\ell_i` and its gradient at
    the current params on batch :math:`i`, then updates them with learning rate

    .. math::

        \eta_i = \eta_\min (\eta_\max/\eta_\min)^{i/(N-1)} \ \text{(exp)}, \qquad
        \eta_i = \eta_\min + (\eta_\max - \eta_\min)\, i/(N-1) \ \text{(linear)}.

    The loss is smoothed with a bias-corrected exponential average,

    .. math::

        a_i = \beta a_{i-1} + (1-\beta)\ell_i, \quad a_{-1} = 0, \qquad
        s_i = a_i / (1 - \beta^{i+1}),

    and the sweep stops after the first step whose :math:`s_i` is NaN or infinite, or
    exceeds ``diverge_factor`` times the best :math:`b_i = \min_{k \le i} s_k` (for a
    negative best, :math:`s_i > b_i + (f-1)|b_i|`, which keeps "4 times worse" meaning
    worse). The whole sweep is one compiled XLA program (a ``lax.while_loop``); the
    params you pass are not modified and the trained ones are discarded. The compiled
    program is cached: calling again with the same ``loss_fn``, ``optimizer`` and
    settings, and params and batches of the same shapes, does not recompile.

    The suggestion rules are fastai's ``lr_find`` rules applied to the same curve as
    fastai: the recorded smoothed losses ``[skip_start:stop - skip_end]`` (defaults
    ``num_steps // 10`` and 5), cut at the first non-finite value:

    - ``"steep"`` (default): the learning rate at the left end of the steepest
      descending segment of :math:`s` against :math:`\log\eta` (forward differences).
    - ``"minimum"``: the learning rate of the lowest :math:`s`, divided by 10.
    - ``"valley"``: fastai's default: along the longest decreasing subsequence of
      :math:`s`, ending at index :math:`e` with length :math:`L`, the point
      :math:`e - L + \lfloor L/3 \rfloor + \lfloor L/6 \rfloor`.
    - ``"slide"``: fastai's interval slide rule on ``np.gradient`` of :math:`s`
      (window 15, threshold 0.005).

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``, differentiable in ``params``.
      params: the initial parameters (any pytree).
      batches: a pytree of arrays whose leading axis is the step (cycled when shorter
        than ``num_steps``), a function ``step -> batch`` (traced, so it must be pure
        ``jnp``), or ``None`` to call ``loss_fn(params, None)``.
      optimizer: a factory ``learning_rate -> GradientTransformation``, called once with
        the sweep as a schedule (so the optimizer must evaluate its learning rate at its
        update count, as every lrjax and optax optimizer does). Default ``lrjax.adam``.
      min_lr: the first learning rate, ``> 0``.
      max_lr: the last learning rate, ``> min_lr``.
      num_steps: the number of steps :math:`N \ge 2`.
      sweep: ``"exp"`` (geometric, default) or ``"linear"``.
      beta: the smoothing factor in ``[0, 1)``.
      diverge_factor: stop when the smoothed loss exceeds this factor (``> 1``) of the
        best; ``None`` stops only on NaN or infinity.
      suggestion: ``"steep"``, ``"minimum"``, ``"valley"`` or ``"slide"``.
      skip_start: points left out at the start of the curve (default ``num_steps // 10``).
      skip_end: points left out at the end of the curve (default 5).

    Returns:
      An :class:`LRFinderResult` (NumPy arrays, on the host).

    Example:
      >>> import jax.numpy as jnp, lrjax
      >>> curv = jnp.array([1.0, 0.5, 0.1])        # f(w) = sum(c w^2) / 2, L = 1
      >>> loss = lambda w, batch: 0.5 * jnp.sum(curv * w**2)
      >>> res = lrjax.find_learning_rate(loss, jnp.ones(3), optimizer=lrjax.sgd,
      ...                                min_lr=1e-3, max_lr=100.0, num_steps=100)
      >>> print(res.diverged, 0 < res.suggestion < 2.0)
      True True

    References:
      Smith, Cyclical Learning Rates for Training Neural Networks, 2017,
      https://arxiv.org/abs/1506.01186. fastai ``Learner.lr_find`` and its suggestion
      functions (``fastai/callback/schedule.py``),
      https://docs.fast.ai/callback.schedule.html.
    """
    _validate.callable_("loss_fn", loss_fn)
    if optimizer is not None:
        _validate.callable_("optimizer", optimizer)
    min_lr = _validate.positive("min_lr", min_lr)
    max_lr = _validate.positive("max_lr", max_lr)
    if min_lr is None or max_lr is None:
        raise TypeError("min_lr and max_lr must be concrete numbers, not traced values")
    if not min_lr < max_lr:
        raise ValueError(
            f"min_lr must be < max_lr, got min_lr={min_lr!r}, max_lr={max_lr!r}"
        )
    num_steps = _validate.positive_int("num_steps", num_steps)
    if num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2, got {num_steps!r}")
    _validate.choice("sweep", sweep, SWEEPS)
    beta = _validate.decay_rate("beta", beta)
    if diverge_factor is not None:
        _validate.in_range("diverge_factor", diverge_factor, 1.0, math.inf, low_open=True)
    _validate.choice("suggestion", suggestion, SUGGESTIONS)
    skip_start = num_steps // 10 if skip_start is None else skip_start
    skip_start = _validate.nonnegative_int("skip_start", skip_start)
    skip_end = _validate.nonnegative_int("skip_end", skip_end)
    data, batch_kind = _batch_getter(batches)

    if optimizer is None:
        # Imported here so that this module does not depend on the adaptive module.
        from ._aliases import adam as optimizer
    grow = None if diverge_factor is None else float(diverge_factor) - 1.0
    key = (loss_fn, optimizer, min_lr, max_lr, num_steps, sweep, beta, grow, batch_kind)
    try:
        hash(key)
    except TypeError:  # an unhashable loss, optimizer or batch function: no cache
        program = _sweep_program(*key)
    else:
        program = _cached_sweep_program(*key)
    stop, stopped, losses, smoothed, lrs = jax.device_get(program(params, data))
    stop = int(stop)
    lrs = np.asarray(lrs)
    smoothed = np.asarray(smoothed)
    value = _RULES[suggestion](*_curve(lrs, smoothed, stop, skip_start, skip_end))
    return LRFinderResult(
        learning_rates=lrs,
        losses=np.asarray(losses),
        smoothed_losses=smoothed,
        stop=stop,
        diverged=bool(stopped),
        suggestion=value,
        method=suggestion,
        skip_start=skip_start,
        skip_end=skip_end,
    )
