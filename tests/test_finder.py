"""The learning-rate range test: fastai's rules exactly in fastai-compatible mode, a
float64 NumPy sweep, curves built to fool a naive rule, and suggestions against the best
rate of a grid over several seeds and models."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lrjax
from lrjax._tools.finder import LRFinderResult

METHODS = ("steep", "minimum", "valley", "slide")


# ---------------------------------------------------------------------------------------
# fastai's four suggestion functions and lr_find's trimming, transcribed line by line
# from fastai/callback/schedule.py (torch tensors -> NumPy float64 arrays). They read the
# recorder's *smoothed* losses (Recorder.after_batch appends smooth_loss.value).


def fastai_valley(lrs, losses):
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[idx])


def fastai_slide(lrs, losses, lr_diff=15, thresh=0.005, adjust_value=1.0):
    loss_grad = np.gradient(losses)
    r_idx = -1
    l_idx = r_idx - lr_diff
    local_min_lr = lrs[l_idx]
    while (l_idx >= -len(losses)) and (abs(loss_grad[r_idx] - loss_grad[l_idx]) > thresh):
        local_min_lr = lrs[l_idx]
        r_idx -= 1
        l_idx -= 1
    return float(local_min_lr) * adjust_value


def fastai_minimum(lrs, losses):
    lr_min = lrs[losses.argmin()].item()
    return lr_min / 10


def fastai_steep(lrs, losses):
    grads = (losses[1:] - losses[:-1]) / (np.log(lrs[1:]) - np.log(lrs[:-1]))
    return lrs[grads.argmin()].item()


FASTAI = {
    "steep": fastai_steep,
    "minimum": fastai_minimum,
    "valley": fastai_valley,
    "slide": fastai_slide,
}


def fastai_curve(recorded_lrs, recorded_losses, num_it):
    """lr_find: ``recorder[num_it//10:-5]``, cut at the first NaN."""
    lrs = np.asarray(recorded_lrs[num_it // 10 : -5], np.float64)
    losses = np.asarray(recorded_losses[num_it // 10 : -5], np.float64)
    nan_idxs = np.nonzero(np.isnan(losses))[0]
    if len(nan_idxs) > 0:
        drop_idx = nan_idxs.min()
        lrs, losses = lrs[:drop_idx], losses[:drop_idx]
    return lrs, losses


# ---------------------------------------------------------------------------------------
# A float64 NumPy transcription of the sweep itself: fastai's LRFinder loop (loss before
# the step, AvgSmoothLoss, "smooth > 4 * best" stop) with lrjax's sweep and stop rule.


def reference_sweep(
    loss_and_grad, w0, batches, lrs, beta=0.98, factor=4.0, spike=None, momentum=0.0
):
    """Returns (losses, smoothed, stop, reason); reason as LRFinderResult.stop_reason."""
    w, buf = np.array(w0, np.float64), None
    val, best = 0.0, math.inf
    losses, smoothed = [], []
    for i, lr in enumerate(lrs):
        batch = None if batches is None else batches[i % len(batches)]
        loss, g = loss_and_grad(w, batch)
        val = beta * val + (1 - beta) * loss  # torch.lerp(loss, val, beta)
        s = val / (1 - beta ** (i + 1))
        losses.append(loss)
        smoothed.append(s)
        if s < best:
            best = s
        buf = g if buf is None else momentum * buf + g
        w = w - lr * buf
        if not np.isfinite(s):
            reason = "nonfinite"
        elif spike is not None and loss > best + (spike - 1) * abs(best):
            reason = "spike"
        elif s > best + (factor - 1) * abs(best):
            reason = "smoothed"
        else:
            continue
        return np.array(losses), np.array(smoothed), i + 1, reason
    return np.array(losses), np.array(smoothed), len(lrs), "completed"


def _least_squares(seed=0, n=40, d=5, steps=30, signal=0.0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(steps, n, d))
    b = rng.normal(size=(steps, n)) + signal * a @ rng.normal(size=d)

    def loss_and_grad(w, batch):
        x, y = batch
        r = x @ w - y
        return 0.5 * np.mean(r**2), x.T @ r / len(y)

    def loss_fn(w, batch):
        x, y = batch
        return 0.5 * jnp.mean((x @ w - y) ** 2)

    return loss_fn, loss_and_grad, a, b


def _result(lrs, smoothed, stop=None, skip_start=None, skip_end=5, fastai=True, raw=None):
    n = len(lrs)
    return LRFinderResult(
        learning_rates=np.asarray(lrs, np.float64),
        losses=np.asarray(smoothed if raw is None else raw, np.float64),
        smoothed_losses=np.asarray(smoothed, np.float64),
        stop=n if stop is None else stop,
        diverged=False,
        suggestion=math.nan,
        method="steep",
        skip_start=n // 10 if skip_start is None else skip_start,
        skip_end=skip_end if fastai else 0,
        fastai_compatible=fastai,
    )


def _synthetic_curves():
    """Range-test-like curves: plateau, descent, minimum, blow-up, with noise."""
    rng = np.random.default_rng(7)
    curves = []
    for k in range(12):
        n = int(rng.integers(40, 160))
        lrs = np.geomspace(1e-6, 10.0, n)
        x = np.log10(lrs)
        centre = rng.uniform(-4, -1)
        base = 2.3 - 2.0 / (1 + np.exp(-3 * (x - centre + 1.5)))
        blow = np.exp(np.clip(2.5 * (x - centre - 0.5), -50, 50)) * rng.uniform(0.05, 0.5)
        noisy = base + blow + rng.normal(scale=[0.0, 0.002, 0.02, 0.1][k % 4], size=n)
        curves.append((lrs, noisy))
    # a curve with NaN in the middle (fastai cuts there) and one stopped early.
    lrs = np.geomspace(1e-5, 1.0, 80)
    c = 1.0 + np.cos(np.linspace(0, 3, 80))
    c[55] = np.nan
    curves.append((lrs, c))
    return curves


@pytest.mark.parametrize("method", METHODS)
def test_suggestions_equal_fastai_on_the_same_curves(method):
    for lrs, losses in _synthetic_curves():
        n = len(lrs)
        ours = _result(lrs, losses).suggest(method)
        theirs = FASTAI[method](*fastai_curve(lrs, losses, n))
        assert ours == theirs, (method, n)  # same indices into the same array: exact


def test_suggestions_on_a_stopped_sweep_use_the_recorded_points_only():
    # fastai slices the *recorded* curve ([num_it//10 : -5] of what ran) while num_it is
    # the requested length; lrjax keeps NaN padding after ``stop``.
    lrs = np.geomspace(1e-6, 1.0, 100)
    x = np.log10(lrs)
    losses = 2.0 - np.tanh(x + 3) + np.exp(np.clip(3 * (x + 0.8), -50, 50))
    stop = 70
    padded = np.where(np.arange(100) < stop, losses, np.nan)
    for method in METHODS:
        ours = _result(lrs, padded, stop=stop, skip_start=10).suggest(method)
        theirs = FASTAI[method](*fastai_curve(lrs[:stop], losses[:stop], 100))
        assert ours == theirs, method


def test_valley_equals_fastai_on_noisy_curves_with_ties():
    # Short integer-valued curves: ties and many competing decreasing subsequences
    # exercise fastai's in-loop bookkeeping (its valley start is set when lds[i] first
    # exceeds the longest so far, and not updated when lds[i] grows further).
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(3, 30))
        losses = rng.integers(0, 6, size=n).astype(np.float64)
        lrs = np.geomspace(1e-4, 1.0, n)
        expected = fastai_valley(lrs, losses)
        if expected == lrs[-1] and n > 1 and losses[1] < losses[0]:
            continue  # the wrap-around case, checked below
        ours = _result(lrs, losses, skip_start=0, skip_end=0).suggest("valley")
        assert ours == expected, losses


def test_valley_departs_from_fastai_only_where_fastai_wraps_around():
    # Two decreasing points then a rise: fastai's valley index is 1 - 2 + 0 + 0 = -1,
    # which Python wraps to the largest lr tried (the one that diverged); lrjax returns
    # the first lr of the curve instead.
    lrs = np.geomspace(1e-4, 1.0, 30)
    losses = np.concatenate([[2.0, 1.0], np.linspace(3.0, 5.0, 28)])
    res = _result(lrs, losses, skip_start=0, skip_end=0)
    assert fastai_valley(lrs, losses) == lrs[-1]
    assert res.suggest("valley") == lrs[0]
    # A curve that only rises: fastai's start stays 0, and so does lrjax's.
    rising = np.linspace(1.0, 3.0, 30)
    assert _result(lrs, rising, skip_start=0, skip_end=0).suggest("valley") == lrs[0]
    assert fastai_valley(lrs, rising) == lrs[0]


def test_short_curves_give_nan_rather_than_fastai_errors():
    lrs = np.geomspace(1e-3, 1.0, 20)  # 20 - 2 - 5 = 13 points: too few for slide
    res = _result(lrs, np.linspace(2.0, 1.0, 20))
    assert math.isnan(res.suggest("slide"))
    with pytest.raises(IndexError):
        fastai_slide(*fastai_curve(lrs, np.linspace(2.0, 1.0, 20), 20))
    empty = _result(lrs[:3], np.ones(3))
    assert all(math.isnan(empty.suggest(m)) for m in METHODS)


@pytest.mark.x64  # the reference is float64; both sides then round alike
@pytest.mark.parametrize("fastai", [True, False])
def test_sweep_matches_a_float64_numpy_transcription(fastai):
    loss_fn, loss_and_grad, a, b = _least_squares(signal=2.0, n=160)
    num_steps = 45  # > 30 batches: the batches are cycled
    res = lrjax.find_learning_rate(
        loss_fn,
        jnp.zeros(5),
        (jnp.asarray(a), jnp.asarray(b)),
        lambda lr: lrjax.sgd(lr, momentum=0.5),
        min_lr=1e-3,
        max_lr=50.0,
        num_steps=num_steps,
        fastai_compatible=fastai,
    )
    lrs = 1e-3 * (50.0 / 1e-3) ** (np.arange(num_steps) / (num_steps - 1))
    losses, smoothed, stop, reason = reference_sweep(
        loss_and_grad,
        np.zeros(5),
        list(zip(a, b)),
        lrs,
        momentum=0.5,
        spike=None if fastai else 10.0,
    )
    assert (res.stop, res.stop_reason, res.diverged) == (stop, reason, True)
    assert 20 < stop < num_steps  # the test exercises a stop rule
    # A raw loss 10x the best smoothed one stops the default sweep before fastai's rule.
    assert reason == ("smoothed" if fastai else "spike")
    # float64 both sides, the same operations in a different order: rounding only.
    np.testing.assert_allclose(res.learning_rates, lrs, rtol=1e-13)
    np.testing.assert_allclose(res.losses[:stop], losses, rtol=1e-10)
    np.testing.assert_allclose(res.smoothed_losses[:stop], smoothed, rtol=1e-10)
    assert np.isnan(res.losses[stop:]).all() and np.isnan(res.smoothed_losses[stop:]).all()
    for m in METHODS:
        if fastai:
            expected = FASTAI[m](*fastai_curve(lrs[:stop], smoothed, num_steps))
        else:  # the same rules on the curve up to the smoothed minimum
            lo = num_steps // 10
            end = lo + int(np.argmin(smoothed[lo:stop])) + 1
            assert end - lo > 15  # long enough for every rule, slide too
            expected = FASTAI[m](lrs[lo:end], smoothed[lo:end])
        assert res.suggest(m) == pytest.approx(expected, rel=1e-13), m
    assert res.suggestion == res.suggest("steep")


def test_linear_sweep_and_batch_function_agree_with_pytree_batches():
    loss_fn, _, a, b = _least_squares(seed=1)
    a, b = jnp.asarray(a), jnp.asarray(b)
    kw = dict(min_lr=1e-2, max_lr=1.0, num_steps=30, sweep="linear", diverge_factor=None)
    res1 = lrjax.find_learning_rate(loss_fn, jnp.zeros(5), (a, b), lrjax.sgd, **kw)
    res2 = lrjax.find_learning_rate(
        loss_fn, jnp.zeros(5), lambda i: (a[i], b[i]), lrjax.sgd, **kw
    )
    # float32 (JAX's default): the sweep's rates are rounded once, half an ulp.
    np.testing.assert_allclose(res1.learning_rates, np.linspace(1e-2, 1.0, 30), rtol=1e-7)
    np.testing.assert_array_equal(res1.losses, res2.losses)
    assert res1.stop == 30 and not res1.diverged


def _quadratic(curvatures):
    c = jnp.asarray(curvatures)
    return lambda w, batch: 0.5 * jnp.sum(c * w**2)


QUADRATICS = [[1.0, 0.5, 0.1], [100.0, 3.0, 1.0, 0.01], [4.0] * 3]


@pytest.mark.parametrize("num_steps", [100, 300])
@pytest.mark.parametrize("curvatures", QUADRATICS)
def test_sgd_suggestion_on_a_quadratic_is_below_the_stability_limit(curvatures, num_steps):
    # SGD on sum(c w^2)/2 diverges iff lr > 2/L, L = max c: the suggestion must lie in
    # (0, 2/L). Measured in units of 2/L (100-, 120- and 300-step sweeps): steep
    # 0.03-0.13, valley 0.03-0.05. "minimum" (0.38-1.48) and "slide" (0-2.4) are not
    # held to this (they exceed 2/L on some of these quadratics): the smoothed loss lags the
    # raw one by ~1/(1-beta) = 50 steps, so its minimum sits past the divergence, and
    # slide's threshold (0.005) is absolute, so it depends on the scale of the loss.
    big = max(curvatures)
    res = lrjax.find_learning_rate(
        _quadratic(curvatures),
        jnp.ones(len(curvatures)),
        None,
        lrjax.sgd,
        min_lr=1e-4 / big,
        max_lr=1e3 / big,
        num_steps=num_steps,
    )
    assert res.diverged and res.method == "steep"
    assert 0 < res.suggestion < 2 / big
    assert 0 < res.suggest("valley") < 2 / big


def test_nan_and_negative_losses():
    # A NaN loss at step 10 is a divergence, recorded at the step it appears.
    flags = jnp.where(jnp.arange(50) >= 10, jnp.nan, 1.0)
    res = lrjax.find_learning_rate(
        lambda w, b: b * jnp.sum(w**2),
        jnp.ones(1),
        flags,
        lrjax.sgd,
        min_lr=1e-3,
        max_lr=1.0,
        num_steps=50,
    )
    assert res.diverged and res.stop == 11 and res.stop_reason == "nonfinite"
    assert np.isnan(res.losses[10]) and np.isfinite(res.losses[:10]).all()
    # A loss that is negative and decreasing must not stop at once (fastai's literal
    # "smooth > 4 * best" is true for any negative best), nor spike.
    res = lrjax.find_learning_rate(
        lambda w, b: 0.5 * jnp.sum(w**2) - 10.0,
        jnp.ones(2),
        None,
        lrjax.sgd,
        min_lr=1e-3,
        max_lr=1.0,
        num_steps=40,
    )
    assert res.stop == 40 and not res.diverged and res.stop_reason == "completed"
    assert np.all(res.losses < 0)


def test_one_compiled_program_and_params_untouched():
    calls = []

    def loss(w, batch):
        calls.append(1)  # runs once per trace, not per step
        return 0.5 * jnp.sum(w**2)

    w0 = np.ones(3, np.float32)
    res = lrjax.find_learning_rate(
        loss, w0, None, lrjax.sgd, min_lr=1e-3, max_lr=10.0, num_steps=200
    )
    assert len(calls) == 1 and res.stop > 50
    np.testing.assert_array_equal(w0, np.ones(3, np.float32))
    # Recorded at the learning rate's dtype: float32 in JAX's default mode.
    assert res.losses.dtype == jnp.result_type(float)
    assert not any(isinstance(v, jax.Array) for v in vars(res).values())


def test_second_call_reuses_the_compiled_sweep():
    calls = []

    def loss(w, batch):
        calls.append(1)  # runs once per trace
        return 0.5 * jnp.sum(batch * w**2)

    kwargs = dict(optimizer=lrjax.sgd, min_lr=1e-3, max_lr=10.0, num_steps=60)
    batches = jnp.ones((10, 3))
    first = lrjax.find_learning_rate(loss, jnp.ones(3), batches, **kwargs)
    # New params and new batches of the same shapes: no new trace, the same sweep.
    again = lrjax.find_learning_rate(loss, 2 * jnp.ones(3), 2 * batches, **kwargs)
    assert len(calls) == 1
    assert again.losses[0] == pytest.approx(8 * first.losses[0])
    # Another setting is another program.
    lrjax.find_learning_rate(loss, jnp.ones(3), batches, **dict(kwargs, num_steps=61))
    assert len(calls) == 2
    # An unhashable batch function is not cached, and still works.

    class Batches(list):
        def __call__(self, i):
            return jnp.ones(3)

    lrjax.find_learning_rate(loss, jnp.ones(3), Batches(), **kwargs)
    lrjax.find_learning_rate(loss, jnp.ones(3), Batches(), **kwargs)
    assert len(calls) == 4


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(min_lr=1.0, max_lr=1.0), "min_lr"),
        (dict(min_lr=0.0), "min_lr"),
        (dict(max_lr=-1.0), "max_lr"),
        (dict(num_steps=1), "num_steps"),
        (dict(num_steps=2.5), "num_steps"),
        (dict(sweep="log"), "sweep"),
        (dict(suggestion="fastest"), "suggestion"),
        (dict(beta=1.0), "beta"),
        (dict(diverge_factor=1.0), "diverge_factor"),
        (dict(skip_end=-1), "skip_end"),
        (dict(batches=jnp.float32(1.0)), "batches"),
        (dict(batches=(jnp.ones((3, 2)), jnp.ones((4, 2)))), "batches"),
        (dict(optimizer=0.1), "optimizer"),
        (dict(spike_factor=0.5), "spike_factor"),
        (dict(skip_end=5), "skip_end"),  # only fastai's curve has an end to skip
        (dict(fastai_compatible=1), "fastai_compatible"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(kwargs, name):
    args = dict(min_lr=1e-3, max_lr=1.0, num_steps=10, optimizer=lrjax.sgd)
    args.update(kwargs)
    batches = args.pop("batches", None)
    with pytest.raises((ValueError, TypeError), match=name):
        lrjax.find_learning_rate(lambda w, b: jnp.sum(w**2), jnp.ones(2), batches, **args)
    with pytest.raises(ValueError, match="method"):
        _result(np.geomspace(1e-3, 1, 10), np.ones(10)).suggest("best")


def test_plot_draws_the_curve_and_marks_the_suggestion():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = lrjax.find_learning_rate(
        _quadratic([1.0, 0.1]),
        jnp.ones(2),
        None,
        lrjax.sgd,
        min_lr=1e-3,
        max_lr=100.0,
        num_steps=80,
    )
    ax = res.plot()
    try:
        smooth, raw, mark = ax.lines
        n = res.stop
        assert ax.get_xscale() == "log"
        np.testing.assert_array_equal(smooth.get_xdata(), res.learning_rates[:n])
        np.testing.assert_array_equal(smooth.get_ydata(), res.smoothed_losses[:n])
        np.testing.assert_array_equal(raw.get_ydata(), res.losses[:n])
        assert mark.get_xdata()[0] == res.suggestion
        assert res.method in mark.get_label()
        assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == mark.get_label()
    finally:
        plt.close(ax.figure)


def test_an_optimizer_instead_of_its_factory_says_how_to_fix_it():
    with pytest.raises(TypeError, match=r"factory.*lambda lr: lrjax.adam"):
        lrjax.find_learning_rate(
            lambda w, b: jnp.sum(w**2), jnp.ones(2), optimizer=lrjax.adam(1e-3)
        )


# ---------------------------------------------------------------------------------------
# Curves built to fool a naive rule, run through the whole compiled sweep: the loss is
# the batch itself (plus 0 * params), so the raw losses are exactly the curve.


def _scripted(raw, **kwargs):
    raw = jnp.asarray(raw, jnp.float32)
    kwargs = dict(dict(min_lr=1e-6, max_lr=10.0, num_steps=len(raw)), **kwargs)
    return lrjax.find_learning_rate(
        lambda w, b: b + 0.0 * jnp.sum(w),
        jnp.zeros(1, jnp.float32),
        raw,
        lrjax.sgd,
        **kwargs,
    )


def _x(n=100):
    return np.linspace(0.0, 1.0, n)


def _descent(x):
    return 2.3 - 1.8 / (1 + np.exp(-(x - 0.45) * 20))  # plateau, descent to 0.5


def _spike_then_recovery(n=100):
    raw = _descent(_x(n)) + np.where(_x(n) > 0.6, 4 * (_x(n) - 0.6), 0.0)  # rises to 2.1
    raw[80] = 80.0  # one minibatch at a rate past divergence
    return raw


def test_a_spike_after_the_minimum_fools_fastai_but_not_the_default():
    raw = _spike_then_recovery()
    # fastai's rule (no spike test, 4x smoothed rule): the smoothed loss jumps to ~2.3x
    # its best and decays again afterwards; "steep" picks that decay, past divergence.
    fastai = _scripted(raw, fastai_compatible=True)
    lowest = fastai.learning_rates[int(np.nanargmin(fastai.smoothed_losses))]
    assert fastai.stop == 100 and fastai.suggestion > lowest
    res = _scripted(raw)
    assert (res.stop, res.stop_reason) == (81, "spike")
    assert res.minimum_learning_rate == pytest.approx(lowest)
    for m in METHODS:
        value, reason = res.suggest_with_reason(m)
        assert 0 < value < res.minimum_learning_rate and reason == "", (m, value, reason)
    # steep lands in the raw descent (x in 0.3 .. 0.6, where the sigmoid falls), before
    # the smoothed minimum.
    i = int(np.argmin(np.abs(res.learning_rates - res.suggestion)))
    assert 30 <= i < 60, i


def test_a_nan_tail_stops_the_sweep_and_the_rules_read_what_came_before():
    raw = _descent(_x())
    raw[70:] = np.nan
    res = _scripted(raw)
    assert (res.stop, res.stop_reason) == (71, "nonfinite")
    assert res.minimum_learning_rate < res.learning_rates[70]
    for m in METHODS:
        assert 0 < res.suggest(m) < res.minimum_learning_rate, m


def test_a_long_plateau_then_an_explosion_has_no_suggestion():
    rng = np.random.default_rng(0)
    raw = 2.3 + 0.05 * rng.normal(size=100)
    raw[85:] = 2.3 * np.exp(np.arange(15) * 0.8)  # blows up without ever descending
    res = _scripted(raw)
    assert res.stop_reason in ("spike", "smoothed") and res.stop < 100
    assert math.isnan(res.suggestion) and res.reason.startswith("no descent")
    for m in METHODS:
        assert math.isnan(res.suggest(m)), m
    # The same plateau after a real descent gives a suggestion inside the descent.
    raw[:40] = 2.3 + 1.5 * (1 - np.linspace(0, 1, 40)) + 0.05 * rng.normal(size=40)
    res = _scripted(raw)
    assert 0 < res.suggestion < res.learning_rates[40] and res.reason == ""


def _smoothed(raw, beta=0.98):
    avg, out = 0.0, []
    for i, loss in enumerate(raw):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (i + 1)))
    return np.array(out)


def _numpy_result(raw):
    """The result the sweep would return for these raw losses, smoothed in NumPy."""
    return _result(
        np.geomspace(1e-6, 10.0, len(raw)), _smoothed(raw), raw=raw, fastai=False
    )


@pytest.mark.parametrize("noise", ["gaussian", "exponential"])
def test_a_noisy_flat_curve_has_no_suggestion(noise):
    # 1,000 seeds: the noise test must not see a descent in any of them. Exponential
    # noise is skewed like minibatch losses are.
    for seed in range(1000):
        rng = np.random.default_rng(seed)
        raw = 2.3 + 0.1 * (
            rng.normal(size=100) if noise == "gaussian" else rng.exponential(size=100)
        )
        value, reason = _numpy_result(raw).suggest_with_reason("steep")
        assert math.isnan(value) and "no descent" in reason, (seed, value)
    # Through the compiled sweep too; fastai's rules answer anyway, with any rate.
    res = _scripted(raw)
    assert math.isnan(res.suggestion) and res.reason.startswith("no descent")
    assert math.isfinite(_scripted(raw, fastai_compatible=True).suggestion)
    # A noiseless flat curve: no drop at all.
    assert math.isnan(_scripted(np.full(100, 2.3)).suggestion)


@pytest.mark.parametrize("noise", [0.01, 0.1, 0.3])
def test_a_noisy_descent_is_still_seen(noise):
    for seed in range(50):
        raw = _descent(_x()) + noise * np.random.default_rng(seed).normal(size=100)
        raw[75:] = 2.3 * np.exp(np.arange(25) * 0.5)
        res = _numpy_result(raw)
        assert 0 < res.suggest("steep") < res.minimum_learning_rate, (seed, res.reason)
    res = _scripted(raw)
    assert res.stop_reason in ("spike", "smoothed")
    assert 0 < res.suggestion < res.minimum_learning_rate


def test_synthetic_range_test_curves_never_suggest_past_the_minimum():
    for lrs, losses in _synthetic_curves():
        res = _result(lrs, losses, fastai=False)
        lowest = res.minimum_learning_rate
        for m in METHODS:
            value = res.suggest(m)
            assert math.isnan(value) or value < lowest, (m, value, lowest)


# ---------------------------------------------------------------------------------------
# Range test against the best rate of a grid: several seeds and models, stated margins.
# The trajectory of one seed near divergence is chaotic (rounding on another platform or
# release changes it), so no single run is asserted; the properties hold with room.


def _grid_best(loss_fn, params, batches, grid):
    # Adam at each grid rate for all 200 steps; score: mean of the last 50 losses.
    return lrjax.sweep_learning_rates(loss_fn, params, batches, grid, tail=50)


@pytest.mark.parametrize("model", ["logistic", "mlp"])
def test_steep_is_within_3x_of_the_grid_best_for_4_of_5_seeds_and_below_the_minimum(model):
    pytest.importorskip("flax")
    pytest.importorskip("sklearn")
    import digits

    grid = 10.0 ** np.linspace(-4, 0, 17)  # quarter decades
    ratios = []
    for seed in range(5):
        loss_fn, params, (x, y) = digits.problem(model, seed, steps=200)
        res = lrjax.find_learning_rate(loss_fn, params, (x[:100], y[:100]))  # defaults
        best = _grid_best(loss_fn, params, (x, y), grid).best_learning_rate
        assert res.method == "steep" and res.reason == ""
        for m in METHODS:  # every rule, every seed: below the smoothed minimum
            value = res.suggest(m)
            assert math.isnan(value) or value < res.minimum_learning_rate, (seed, m)
        ratios.append(res.suggestion / best)
    # Measured (this machine, float32): logistic 0.55-1.7, MLP 1.5-3.2.
    within = sum(1 / 3 <= r <= 3 for r in ratios)
    assert within >= 4, ratios
