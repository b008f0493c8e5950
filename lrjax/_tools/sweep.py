"""The grid search over learning rates, compiled as one program.

Every rate trains its own copy of the parameters for the same steps on the same
batches: `jax.vmap` over the rates (or `lax.map` in chunks, to bound memory), `lax.scan`
over the steps. One compile serves every call with the same shapes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._directions.adam import adam
from .._shared import validate
from .._shared.base import GradientTransformation, apply_updates
from .._shared.numerics import lr_dtype
from .batches import batch_getter, cached, check_optimizer_factory, get_batch
from .plot import plot_sweep


@dataclasses.dataclass(frozen=True, eq=False)
class SweepResult:
    """What [`lrjax.sweep_learning_rates`][] measured: one training run per rate.

    Attributes:
      learning_rates: the rates tried, shape `(K,)`, in the order given.
      losses: the training loss of every step of every run, shape `(K, num_steps)`;
        `losses[k, i]` is evaluated before update `i` of run `k`.
      scores: the score of each run, shape `(K,)`, lower is better: the mean of the
        last `tail` training losses, or `eval_fn` of the final params. A run whose
        score is NaN or infinite (it diverged) scores `+inf`.
      diverged: shape `(K,)`: whether a run's losses or score became non-finite.
      best_index: the index of the lowest score (the first one on a tie); -1 when every
        run diverged.
      best_learning_rate: `learning_rates[best_index]`, NaN when every run diverged.
      score: what `scores` holds, in words.
      tail: the number of final losses averaged (0 with `eval_fn`).
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    scores: np.ndarray
    diverged: np.ndarray
    best_index: int
    best_learning_rate: float
    score: str
    tail: int

    def plot(self, finder: Any = None, ax: Any = None) -> Any:
        """Draw the score against the learning rate, the best rate marked.

        Args:
          finder: an [`LRFinderResult`][lrjax.LRFinderResult] whose suggestion (and
            smoothed minimum) are marked as vertical lines, or `None`.
          ax: the matplotlib `Axes` to draw on; a new figure when `None`.

        Returns:
          The matplotlib `Axes`.
        """
        return plot_sweep(self, finder=finder, ax=ax)


def _sweep_program(
    loss_fn: Callable[[Any, Any], jax.Array],
    optimizer: Callable[[Any], GradientTransformation],
    num_steps: int,
    batch_kind: tuple,
    tail: int,
    eval_fn: Callable[[Any], jax.Array] | None,
    chunk_size: int | None,
) -> Callable[[Any, Any, jax.Array], tuple]:
    """The jitted grid `(params, data, rates) -> (losses (K, T), scores (K,))`."""

    def train(params, data, lr):
        try:
            opt = optimizer(lr)
        except jax.errors.ConcretizationTypeError as err:
            raise TypeError(
                "optimizer(learning_rate) receives each rate of the grid as a traced "
                "scalar, and this factory needs a concrete Python number (it branches "
                "on the rate, as optax.warmup_cosine_decay_schedule does). Write the "
                "schedule as rate * unit_schedule(step), for example lambda lr: "
                "lrjax.adam(lambda n: lr * shape(n)), or use lrjax's schedules, which "
                "accept a traced peak"
            ) from err

        def step(carry, i):
            p, s = carry
            loss, grads = jax.value_and_grad(loss_fn)(p, get_batch(batch_kind, data, i))
            updates, s = opt.update(grads, s, p)
            return (apply_updates(p, updates), s), jnp.asarray(loss, lr.dtype)

        steps = jnp.arange(num_steps, dtype=jnp.int32)
        (p, _), losses = jax.lax.scan(step, (params, opt.init(params)), steps)
        if eval_fn is None:
            score = jnp.mean(losses[num_steps - tail :])
        else:
            score = jnp.asarray(eval_fn(p), lr.dtype)
        return losses, score

    def run(params, data, rates):
        one = functools.partial(train, params, data)
        if chunk_size is None:
            return jax.vmap(one)(rates)
        return jax.lax.map(one, rates, batch_size=chunk_size)

    return jax.jit(run)


_cached_sweep_program = functools.lru_cache(maxsize=8)(_sweep_program)


def sweep_learning_rates(
    loss_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    batches: Any,
    learning_rates: Sequence[float] | np.ndarray,
    optimizer: Callable[[Any], GradientTransformation] | None = None,
    *,
    num_steps: int | None = None,
    tail: int | None = None,
    eval_fn: Callable[[Any], jax.Array] | None = None,
    chunk_size: int | None = None,
) -> SweepResult:
    r"""Train once per learning rate, all rates in one compiled program, and score each.

    For every rate $\eta_k$ of the grid, the params start from `params` and take
    `num_steps` updates of `optimizer(eta_k)` on the same batches; step $i$ records the
    loss $\ell_{k,i}$ before its update. The score of run $k$ (lower is better) is

    $$
    S_k = \frac{1}{t} \sum_{i=T-t}^{T-1} \ell_{k,i}
    \quad\text{or}\quad S_k = \texttt{eval\_fn}(\theta_{k,T}),
    $$

    the mean of the last $t$ = `tail` training losses (default $T/4$: less noisy than
    the last minibatch, still late in the run), or a function of the final params such
    as a validation loss. A run that produced a NaN or infinite loss or score scores
    $+\infty$. The runs are one XLA program: `jax.vmap` over the rates (or `lax.map` over
    chunks of `chunk_size` rates, to bound memory) around a `lax.scan` over the steps.
    It is compiled once per shape: a second call with the same `loss_fn`, `optimizer`
    and settings, params and batches of the same shapes and as many rates, reuses it,
    whatever the rates' values.

    The optimizer factory receives each rate as a traced scalar, so it may build a
    schedule from it: `lambda peak: lrjax.adam(lrjax.one_cycle(peak, total_steps=T))`
    sweeps the peak of a one-cycle schedule.

    Args:
      loss_fn: `loss_fn(params, batch) -> scalar`, differentiable in `params`.
      params: the initial parameters (any pytree); not modified.
      batches: a pytree of arrays whose leading axis is the step (cycled when shorter
        than `num_steps`), a function `step -> batch` in `jnp`, or `None` to call
        `loss_fn(params, None)`, as in [`lrjax.find_learning_rate`][].
      learning_rates: the grid, a sequence of $K \ge 1$ finite rates `> 0`.
      optimizer: a factory `learning_rate -> GradientTransformation`. Default
        `lrjax.adam`.
      num_steps: the number of updates of each run; default the leading size of
        `batches` (required when `batches` is a function or `None`).
      tail: how many final losses the score averages, `1 <= tail <= num_steps`
        (default `max(1, num_steps // 4)`); not allowed with `eval_fn`.
      eval_fn: `eval_fn(final_params) -> scalar`: score each run by it instead.
      chunk_size: train this many rates at a time (`lax.map` with a batch size) instead
        of all at once; `None` vectorises over all $K$.

    Returns:
      A [`SweepResult`][lrjax.SweepResult] (NumPy arrays, on the host).

    Raises:
      TypeError: `optimizer` is an optimizer rather than a factory of one.
      ValueError: an empty or non-positive grid, or a setting out of range.

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> loss = lambda w, batch: 0.5 * jnp.sum(jnp.array([1.0, 0.1]) * w**2)
      >>> res = lrjax.sweep_learning_rates(loss, jnp.ones(2), None, [0.1, 1.0, 1e3],
      ...                                  lrjax.sgd, num_steps=60)
      >>> print(res.losses.shape, res.best_learning_rate, res.diverged.tolist())
      (3, 60) 1.0 [False, False, True]
      >>> print(f"{res.scores[0]:.4f} {res.scores[1]:.2e} {res.scores[2]}")
      0.0177 1.28e-06 inf

    References:
      Bergstra & Bengio, Random Search for Hyper-Parameter Optimization, JMLR 2012
      (grid search as the baseline), https://jmlr.org/papers/v13/bergstra12a.html;
      Smith, Cyclical Learning Rates for Training Neural Networks, 2017, §3.3 (checking
      a range test against short runs), https://arxiv.org/abs/1506.01186.
    """
    validate.callable_("loss_fn", loss_fn)
    if optimizer is not None:
        check_optimizer_factory("optimizer", optimizer)
    if isinstance(learning_rates, (int, float)) or callable(learning_rates):
        raise TypeError(
            f"learning_rates must be a sequence of rates (the grid), got {learning_rates!r}"
        )
    rates = [
        validate.positive(f"learning_rates[{i}]", v) for i, v in enumerate(learning_rates)
    ]
    if not rates:
        raise ValueError(
            f"learning_rates must hold at least one rate, got {learning_rates!r}"
        )
    data, batch_kind = batch_getter(batches)
    if num_steps is None:
        if batch_kind[0] != "arrays":
            raise ValueError(
                "num_steps is required when batches is a function or None (there is no "
                "leading step axis to count)"
            )
        num_steps = batch_kind[1]
    num_steps = validate.positive_int("num_steps", num_steps)
    if eval_fn is not None:
        validate.callable_("eval_fn", eval_fn)
        if tail is not None:
            raise ValueError(f"tail must be None with eval_fn, got tail={tail!r}")
        tail = 0
    elif tail is None:
        tail = max(1, num_steps // 4)
    else:
        tail = validate.positive_int("tail", tail)
        if tail > num_steps:
            raise ValueError(f"tail must be <= num_steps ({num_steps}), got tail={tail!r}")
    if chunk_size is not None:
        chunk_size = validate.positive_int("chunk_size", chunk_size)

    if optimizer is None:
        optimizer = adam
    key = (loss_fn, optimizer, num_steps, batch_kind, tail, eval_fn, chunk_size)
    program = cached(_cached_sweep_program, key)
    grid = jnp.asarray(rates, lr_dtype())
    losses, scores = jax.device_get(program(params, data, grid))
    losses = np.asarray(losses)
    scores = np.asarray(scores, np.float64)
    diverged = ~np.isfinite(scores) | ~np.isfinite(losses).all(axis=1)
    scores = np.where(diverged, math.inf, scores)
    best = int(np.argmin(scores)) if not diverged.all() else -1
    if eval_fn is None:
        what = f"mean of the last {tail} training losses"
    else:
        what = f"{getattr(eval_fn, '__name__', 'eval_fn')} of the final params"
    return SweepResult(
        learning_rates=np.asarray(rates, np.float64),
        losses=losses,
        scores=scores,
        diverged=diverged,
        best_index=best,
        best_learning_rate=rates[best] if best >= 0 else math.nan,
        score=what,
        tail=tail,
    )
