"""plot_schedule: the drawn data are the schedule's values, with labels and scales."""

from __future__ import annotations

import sys

import jax
import numpy as np
import pytest

import lrjax

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture
def close_figures():
    yield
    plt.close("all")


def _step_by_step(schedule, num_steps):
    """The schedule evaluated one call per step (jitted, not vmapped), as float64."""
    one = jax.jit(schedule)
    return np.array([float(one(np.int32(n))) for n in range(num_steps)])


def test_one_schedule(close_figures):
    sched = lrjax.one_cycle(0.5, total_steps=40)
    ax = lrjax.plot_schedule(sched, 40)
    (line,) = ax.lines
    np.testing.assert_array_equal(line.get_xdata(), np.arange(40))
    np.testing.assert_allclose(line.get_ydata(), _step_by_step(sched, 40), rtol=1e-15)
    assert ax.get_yscale() == "linear" and ax.get_legend() is None
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "learning rate"
    assert isinstance(ax.figure, matplotlib.figure.Figure)


def test_several_schedules_with_labels_and_log_scale(close_figures):
    scheds = [
        lrjax.cyclic(0.01, max_value=0.1, step_size_up=5),
        lambda n: 0.05,
        lrjax.one_cycle(0.2, total_steps=30),
    ]
    ax = lrjax.plot_schedule(
        scheds, 30, labels=["cyclic", "flat", "1cycle"], log_scale=True, title="three"
    )
    assert ax.get_yscale() == "log" and ax.get_title() == "three"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["cyclic", "flat", "1cycle"]
    for line, sched in zip(ax.lines, scheds):
        # float32 schedules (x64 off) evaluated at once and step by step: a few ulps.
        np.testing.assert_allclose(line.get_ydata(), _step_by_step(sched, 30), rtol=1e-6)
    # A schedule that ignores the step is drawn at its value on every step.
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), np.full(30, np.float32(0.05)))


def test_dict_of_schedules_on_given_axes(close_figures):
    fig, (left, right) = plt.subplots(1, 2)
    scheds = {
        "lr": lrjax.one_cycle(0.5, total_steps=25),
        "momentum": lrjax.one_cycle_momentum(25),
    }
    out = lrjax.plot_schedule(scheds, 25, ax=right, ylabel="value")
    assert out is right and not left.lines and out.figure is fig
    assert [ln.get_label() for ln in right.lines] == ["lr", "momentum"]
    np.testing.assert_allclose(
        right.lines[1].get_ydata(), _step_by_step(scheds["momentum"], 25), rtol=1e-15
    )
    assert right.get_ylabel() == "value"


@pytest.mark.parametrize(
    "args, kwargs, name",
    [
        ((lambda n: 0.1, 0), {}, "num_steps"),
        ((lambda n: 0.1, 2.5), {}, "num_steps"),
        (({"a": lambda n: 0.1}, 5), {"labels": ["a"]}, "labels"),
        (([lambda n: 0.1, lambda n: 0.2], 5), {"labels": ["a"]}, "labels"),
        (([], 5), {}, "schedules"),
        ((0.1, 5), {}, "schedules"),
        (([lambda n: 0.1, "x"], 5), {}, r"schedules\[1\]"),
    ],
)
def test_bad_inputs(args, kwargs, name, close_figures):
    with pytest.raises((ValueError, TypeError), match=name):
        lrjax.plot_schedule(*args, **kwargs)


def test_missing_matplotlib_gives_a_clear_import_error(monkeypatch):
    # None in sys.modules makes "import matplotlib.pyplot" raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="optional dependency"):
        lrjax.plot_schedule(lambda n: 0.1, 5)
