"""float64 NumPy transcriptions of the schedules of large-model training.

Each follows its source formula term by term (no rewriting for accuracy): Vaswani et
al. 2017 §5.3 (Noam), Hugging Face transformers 5.24.0 `optimization.py`
(`_get_inverse_sqrt_schedule_lr_lambda`, `_get_wsd_scheduler_lambda`,
`_get_cosine_schedule_with_warmup_lr_lambda`,
`_get_cosine_with_hard_restarts_schedule_with_warmup_lr_lambda`,
`_get_cosine_with_min_lr_schedule_with_warmup_lr_rate_lambda`), vectorised over an
integer array of steps ``n``.
"""

from __future__ import annotations

import numpy as np


def inverse_sqrt(n, peak, warmup, timescale=None):
    n = np.asarray(n, np.float64)
    tau = timescale if timescale is not None else (warmup or 10_000)
    ramp = n / max(1, warmup)
    decay = 1.0 / np.sqrt((np.maximum(n, warmup) + tau - warmup) / tau)
    return peak * np.where(n < warmup, ramp, decay)


def noam(n, d_model, warmup, factor=1.0):
    s = np.asarray(n, np.float64) + 1.0
    return factor * d_model**-0.5 * np.minimum(s**-0.5, s * warmup**-1.5)


def wsd(n, peak, warmup, stable, decay, warmup_type, decay_type, min_ratio, cycles=0.5):
    n = np.asarray(n, np.float64)
    q = n / max(1, warmup)
    q = np.minimum(q, 1.0)
    up = {
        "linear": q,
        "cosine": 0.5 * (1.0 - np.cos(np.pi * q)),
        "1-sqrt": 1.0 - np.sqrt(1.0 - q),
    }[warmup_type]
    p = np.clip((n - warmup - stable) / max(1, decay), 0.0, None)
    down = {
        "linear": 1.0 - p,
        "cosine": 0.5 * (1.0 + np.cos(np.pi * cycles * 2.0 * p)),
        "1-sqrt": 1.0 - np.sqrt(p),
    }[decay_type]
    out = np.where(n < warmup, up * (1 - min_ratio) + min_ratio, 1.0)
    out = np.where(n >= warmup + stable, down * (1 - min_ratio) + min_ratio, out)
    out = np.where(n >= warmup + stable + decay, min_ratio, out)
    return peak * out


def cosine(
    n,
    peak,
    warmup,
    total,
    cycles=0.5,
    min_ratio=0.0,
    restarts=False,
    after="hold",
    ahead=False,
    start_ratio=None,
):
    n = np.asarray(n, np.float64)
    p = (n - warmup + (1.0 if ahead else 0.0)) / (total - warmup)
    if restarts:
        factor = np.where(p < 1.0, 0.5 * (1.0 + np.cos(np.pi * ((cycles * p) % 1.0))), 0.0)
    else:
        if after == "hold":
            p = np.minimum(p, 1.0)
        factor = 0.5 * (1.0 + np.cos(np.pi * cycles * 2.0 * p))
    out = factor * (1 - min_ratio) + min_ratio
    if ahead and start_ratio is None:
        ramp = (n + 1.0) / max(1, warmup)
    elif ahead:
        ramp = start_ratio + (1.0 - start_ratio) * n / max(1, warmup - 1)
    else:
        r = start_ratio or 0.0
        ramp = r + (1.0 - r) * n / max(1, warmup)
    return peak * np.where(n < warmup, ramp, out)
