"""Plots of schedules and of range-test curves; matplotlib is an optional dependency."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._shared import validate

# The results drawn below, `finder.LRFinderResult` and `sweep.SweepResult`, are named in
# annotations only and not imported, even for type checkers: the range test and the
# sweep import this module (their `plot` methods), so it imports neither of them.


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - exercised by monkeypatching
        raise ImportError(
            "lrjax's plots need matplotlib, an optional dependency: "
            "pip install matplotlib (or pip install 'lrjax[demo]')"
        ) from err
    return plt


def _new_axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots()
    return ax


def schedule_values(schedule: Any, num_steps: int) -> np.ndarray:
    """`[schedule(0), ..., schedule(num_steps - 1)]` as a float64 NumPy array."""
    steps = jnp.arange(num_steps, dtype=jnp.int32)
    values = jax.jit(jax.vmap(schedule))(steps)  # one compile, not op-by-op dispatch
    # A schedule that ignores its step (``lambda n: 0.1``) returns a scalar.
    return np.broadcast_to(np.asarray(values, np.float64), (num_steps,)).copy()


def plot_schedule(
    schedules: Any,
    num_steps: int,
    *,
    labels: Sequence[str] | None = None,
    log_scale: bool = False,
    ax: Any = None,
    xlabel: str = "step",
    ylabel: str = "learning rate",
    title: str | None = None,
) -> Any:
    r"""Draw one or several schedules $n \mapsto \eta(n)$ for `n < num_steps`.

    Each schedule is evaluated at every step $n = 0, \dots, N-1$ (vectorised with
    `jax.vmap`) and drawn as one line, with the step on the x axis.

    Args:
      schedules: one schedule, a sequence of schedules, or a `dict` from label to
        schedule.
      num_steps: how many steps $N \ge 1$ to draw.
      labels: one label per schedule (a sequence of them); not allowed with a `dict`,
        whose keys are the labels. With labels, a legend is drawn.
      log_scale: use a logarithmic y axis.
      ax: the matplotlib `Axes` to draw on; a new figure is made when `None`.
      xlabel: the x axis label.
      ylabel: the y axis label.
      title: the title, or `None` for none.

    Returns:
      The matplotlib `Axes` (its figure is `ax.figure`).

    Examples:
      >>> import matplotlib
      >>> matplotlib.use("Agg")
      >>> import lrjax
      >>> sched = lrjax.step_decay(0.1, drop=0.5, drop_every=10)
      >>> ax = lrjax.plot_schedule({"step decay": sched}, 30, log_scale=True)
      >>> print(ax.get_yscale(), len(ax.lines[0].get_ydata()), ax.lines[0].get_label())
      log 30 step decay
      >>> print(f"{ax.lines[0].get_ydata()[-1]:.4f}")
      0.0125
      >>> import matplotlib.pyplot as plt
      >>> plt.close(ax.figure)

    References:
      fastai `Recorder.plot_sched`; PyTorch users plot `scheduler.get_last_lr()`
      step by step.
    """
    num_steps = validate.positive_int("num_steps", num_steps)
    if isinstance(schedules, Mapping):
        if labels is not None:
            raise ValueError(
                "labels must be None when schedules is a dict (its keys label it)"
            )
        names: list[str | None] = [str(k) for k in schedules]
        fns = list(schedules.values())
    else:
        fns = list(schedules) if isinstance(schedules, Sequence) else [schedules]
        if labels is None:
            names = [None] * len(fns)
        else:
            if isinstance(labels, str) or len(labels) != len(fns):
                raise ValueError(
                    f"labels must give one label per schedule ({len(fns)}), got {labels!r}"
                )
            names = [str(label) for label in labels]
    if not fns:
        raise ValueError(f"schedules must hold at least one schedule, got {schedules!r}")
    for i, fn in enumerate(fns):
        validate.callable_(f"schedules[{i}]" if len(fns) > 1 else "schedules", fn)
    ax = _new_axes(ax)
    steps = np.arange(num_steps)
    for fn, name in zip(fns, names):
        ax.plot(steps, schedule_values(fn, num_steps), label=name)
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    if any(name is not None for name in names):
        ax.legend(loc="best")
    return ax


def plot_lr_finder(result: LRFinderResult, ax: Any = None) -> Any:  # noqa: F821
    """Draw a range test's loss curve on a log learning-rate axis, suggestion marked.

    The raw losses are drawn faintly, the smoothed ones (what the suggestion rules read)
    as the main line, and the suggestion as a point on the smoothed curve (interpolated
    in log learning rate).
    """
    ax = _new_axes(ax)
    n = result.stop
    lrs = result.learning_rates[:n]
    line = ax.plot(lrs, result.smoothed_losses[:n], label="smoothed loss")[0]
    ax.plot(lrs, result.losses[:n], color=line.get_color(), alpha=0.3, label="loss")
    value = result.suggestion
    if math.isfinite(value):
        c_lrs, c_losses = result.curve()
        loss_at = float(np.interp(np.log(value), np.log(c_lrs), c_losses))
        ax.plot(
            [value],
            [loss_at],
            marker="o",
            linestyle="none",
            color="C3",
            label=f"{result.method}: {value:.2e}",
        )
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.legend(loc="best")
    return ax


def plot_sweep(
    result: SweepResult,  # noqa: F821
    *,
    finder: LRFinderResult | None = None,  # noqa: F821
    ax: Any = None,
) -> Any:
    r"""Draw a grid sweep's score against the learning rate, the range test beside it.

    The score of each rate $S_k$ (see [`lrjax.sweep_learning_rates`][]) is drawn against
    $\eta_k$ on a log axis, the best rate is marked, and when `finder` is given its
    suggestion and its smoothed minimum are drawn as vertical lines, so one picture shows
    whether the range test landed near the grid's best rate. Diverged runs (score
    $+\infty$) are left out of the line and marked on the x axis.

    Args:
      result: a [`SweepResult`][lrjax.SweepResult].
      finder: an [`LRFinderResult`][lrjax.LRFinderResult] to mark, or `None`.
      ax: the matplotlib `Axes` to draw on; a new figure is made when `None`.

    Returns:
      The matplotlib `Axes`.

    Examples:
      >>> import matplotlib
      >>> matplotlib.use("Agg")
      >>> import jax.numpy as jnp, lrjax
      >>> loss = lambda w, batch: 0.5 * jnp.sum(w**2)
      >>> grid = lrjax.sweep_learning_rates(loss, jnp.ones(2), None, [0.01, 0.1, 0.5, 1e3],
      ...                                   lrjax.sgd, num_steps=60)
      >>> ax = lrjax.plot_sweep(grid)
      >>> print(ax.get_xscale(), ax.get_yscale(), [line.get_label() for line in ax.lines])
      log log ['mean of the last 15 training losses', 'best: 5.00e-01', 'diverged']
      >>> import matplotlib.pyplot as plt
      >>> plt.close(ax.figure)

    References:
      Smith, Cyclical Learning Rates for Training Neural Networks, 2017,
      https://arxiv.org/abs/1506.01186.
    """
    ax = _new_axes(ax)
    ok = ~result.diverged
    lrs = result.learning_rates
    ax.plot(lrs[ok], result.scores[ok], marker="o", label=result.score)
    if result.best_index >= 0:
        best = result.best_index
        ax.plot(
            [lrs[best]],
            [result.scores[best]],
            marker="*",
            markersize=12,
            linestyle="none",
            color="C2",
            label=f"best: {lrs[best]:.2e}",
        )
    if (~ok).any():
        bottom = float(np.min(result.scores[ok])) if ok.any() else 1.0
        ax.plot(
            lrs[~ok],
            np.full(int((~ok).sum()), bottom),
            marker="x",
            linestyle="none",
            color="C3",
            label="diverged",
        )
    if finder is not None:
        if math.isfinite(finder.suggestion):
            ax.axvline(
                finder.suggestion,
                color="C1",
                linestyle="--",
                label=f"range test ({finder.method}): {finder.suggestion:.2e}",
            )
        lowest = finder.minimum_learning_rate
        if math.isfinite(lowest):
            ax.axvline(
                lowest,
                color="C7",
                linestyle=":",
                label=f"smoothed minimum: {lowest:.2e}",
            )
    ax.set_xscale("log")
    if ok.any() and (result.scores[ok] > 0).all():
        ax.set_yscale("log")  # scores of a grid span decades
    ax.set_xlabel("learning rate")
    ax.set_ylabel("score (lower is better)")
    ax.legend(loc="best")
    return ax
