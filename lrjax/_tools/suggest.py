"""The range test's suggestion rules, and the part of the curve they may look at.

fastai's four rules (`fastai/callback/schedule.py`) are transcribed exactly. What
lrjax changes is the curve it hands them: by default only the part of the sweep before
the smoothed loss is lowest, so that no rule can answer with a rate from the diverging
part, and only when that part holds a descent larger than the curve's own noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

SUGGESTIONS = ("steep", "minimum", "valley", "slide")

# How many standard deviations of the smoothed curve's noise the descent must exceed
# (see ``descent_is_significant``), and the relative floor below which a drop does not
# count even on a noiseless curve. Measured on 100-point flat curves (3,000 seeds each),
# the largest ratio of drop to noise was 3.8 with Gaussian noise, 3.9 with exponential
# or Student-t(3) noise and 5.2 with log-normal noise; the default range tests of the
# three digits models (tests/digits.py, 5 seeds each) measured 10 to 47.
NOISE_SIGMAS = 6.0
RELATIVE_FLOOR = 1e-3


def steep(lrs: np.ndarray, losses: np.ndarray) -> float:
    # fastai: forward differences of the loss against log lr; the left end of the
    # steepest descending segment.
    if lrs.size < 2:
        return math.nan
    slopes = np.diff(losses) / np.diff(np.log(lrs))
    return float(lrs[int(np.argmin(slopes))])


def minimum(lrs: np.ndarray, losses: np.ndarray) -> float:
    if lrs.size < 1:
        return math.nan
    return float(lrs[int(np.argmin(losses))]) / 10.0


def valley(lrs: np.ndarray, losses: np.ndarray) -> float:
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


def slide(
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


RULES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "steep": steep,
    "minimum": minimum,
    "valley": valley,
    "slide": slide,
}

# The fewest points each rule needs to answer at all.
MIN_POINTS = {"steep": 2, "minimum": 1, "valley": 1, "slide": 16}


def _finite_prefix(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every array cut at the first non-finite value of the last one."""
    bad = ~np.isfinite(arrays[-1])
    if not bad.any():
        return arrays
    first = int(np.argmax(bad))
    return tuple(a[:first] for a in arrays)


def fastai_curve(
    lrs: np.ndarray, smoothed: np.ndarray, stop: int, skip_start: int, skip_end: int
) -> tuple[np.ndarray, np.ndarray]:
    """fastai's `lr_find` curve: `recorded[skip_start:-skip_end]`, cut at the first
    non-finite loss."""
    end = max(stop - skip_end, 0)
    lrs = np.asarray(lrs[:stop][skip_start:end], np.float64)
    losses = np.asarray(smoothed[:stop][skip_start:end], np.float64)
    return _finite_prefix(lrs, losses)


def before_minimum(
    lrs: np.ndarray, raw: np.ndarray, smoothed: np.ndarray, stop: int, skip_start: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(lrs, raw, smoothed)` of the recorded sweep from `skip_start` up to and
    including the point where the smoothed loss is lowest."""
    lrs = np.asarray(lrs[skip_start:stop], np.float64)
    raw = np.asarray(raw[skip_start:stop], np.float64)
    smoothed = np.asarray(smoothed[skip_start:stop], np.float64)
    lrs, raw, smoothed = _finite_prefix(lrs, raw, smoothed)
    if smoothed.size == 0:
        return lrs, raw, smoothed
    end = int(np.argmin(smoothed)) + 1
    return lrs[:end], raw[:end], smoothed[:end]


def smoothing_variance(i: np.ndarray | int, beta: float) -> np.ndarray:
    """Var(s_i) / sigma^2 for the bias-corrected average s of i.i.d. losses of variance
    sigma^2: (1-b)^2 (1 - b^(2(i+1))) / ((1 - b^2) (1 - b^(i+1))^2)."""
    i = np.asarray(i, np.float64)
    if beta == 0.0:
        return np.ones_like(i)
    return (
        (1 - beta) ** 2
        * (1 - beta ** (2 * (i + 1)))
        / ((1 - beta**2) * (1 - beta ** (i + 1)) ** 2)
    )


def raw_noise(raw: np.ndarray) -> float:
    """The raw losses' noise: the standard deviation of their first differences over
    sqrt(2). A smooth trend adds to it only at second order, and a skewed noise (as
    minibatch losses have) is not underestimated, as a median-based estimate would be."""
    if raw.size < 3:
        return 0.0
    return float(np.std(np.diff(raw))) / math.sqrt(2.0)


def descent_is_significant(
    raw: np.ndarray, smoothed: np.ndarray, skip_start: int, beta: float
) -> tuple[bool, str]:
    """Whether the curve before its minimum descends by more than its noise.

    `smoothed` is the curve from `skip_start` to its minimum; `raw` holds the raw
    losses from the first step to that minimum, from which the noise is estimated (the
    early steps at tiny rates are a clean sample of it).
    The drop `smoothed[0] - smoothed[-1]` must exceed `NOISE_SIGMAS` standard
    deviations of the difference of two smoothed values, and `RELATIVE_FLOOR` of the
    starting loss. Returns the verdict and, when it is no, the reason.
    """
    if smoothed.size < 2:
        return False, (
            "no descent: the smoothed loss is lowest at the first point the rules look "
            "at (lower min_lr, or lower skip_start)"
        )
    drop = float(smoothed[0] - smoothed[-1])
    sigma = raw_noise(raw)
    last = skip_start + smoothed.size - 1
    spread = sigma * math.sqrt(
        float(smoothing_variance(skip_start, beta) + smoothing_variance(last, beta))
    )
    needed = max(NOISE_SIGMAS * spread, RELATIVE_FLOOR * abs(float(smoothed[0])))
    if drop > needed:
        return True, ""
    return False, (
        f"no descent: before its minimum the smoothed loss falls by {drop:.3g}, which is "
        f"within its noise (a drop must exceed {needed:.3g}); the loss never clearly "
        "decreased, so there is no rate to suggest (widen the sweep: lower min_lr)"
    )
