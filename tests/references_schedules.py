"""Float64 NumPy transcriptions of every lrjax schedule, written from the formulas.

They share no code with lrjax and favour the plainest reading of each formula (loops
where the definition is recursive) over speed or accuracy tricks; float64 leaves them
far more accurate than the float32 results they check. Each takes an integer array of
steps ``n >= 0`` and returns a float64 array.
"""

from __future__ import annotations

import math

import numpy as np


def constant(n, value):
    return np.full(np.shape(n), float(value))


def time_based_decay(n, init_value, decay):
    """eta_{n+1} = eta_n / (1 + d n), multiplied out as a running sum of logs."""
    n = np.asarray(n, np.int64)
    top = int(n.max()) if n.size else 0
    # log_prod[m] = sum_{k<m} log1p(d k), accumulated in float64 (relative error of the
    # sum at most ~m * 1.1e-16, i.e. 1e-9 at m = 1e7).
    log_prod = np.concatenate([[0.0], np.cumsum(np.log1p(decay * np.arange(top)))])
    return init_value * np.exp(-log_prod[n])


def inverse_time_decay(n, init_value, decay_rate, decay_steps=1.0, staircase=False):
    p = np.asarray(n, np.float64) / decay_steps
    if staircase:
        p = np.floor(p)
    return init_value / (1.0 + decay_rate * p)


def step_decay(n, init_value, drop, drop_every):
    k = np.floor_divide(1 + np.asarray(n, np.int64), drop_every)
    return init_value * np.power(float(drop), k.astype(np.float64))


def exponential_decay(n, init_value, decay):
    return init_value * np.exp(-decay * np.asarray(n, np.float64))


def multistep_decay(n, init_value, milestones, factor):
    n = np.asarray(n, np.int64)
    count = np.array([sum(1 for m in milestones if k >= m) for k in n.ravel()])
    return init_value * float(factor) ** count.reshape(n.shape).astype(np.float64)


def polynomial_decay(n, init_value, end_value, decay_steps, power=1.0, cycle=False):
    """Keras PolynomialDecay, transcribed from its documentation."""
    n = np.asarray(n, np.float64)
    if cycle:
        length = decay_steps * np.where(n == 0, 1.0, np.ceil(n / decay_steps))
    else:
        length = np.full_like(n, float(decay_steps))
        n = np.minimum(n, decay_steps)
    return (init_value - end_value) * (1.0 - n / length) ** power + end_value


def linear_schedule(n, init_value, end_value, transition_steps):
    frac = np.minimum(np.asarray(n, np.float64), transition_steps) / transition_steps
    return init_value + (end_value - init_value) * frac


def cosine_decay(n, init_value, decay_steps, alpha=0.0):
    frac = np.minimum(np.asarray(n, np.float64), decay_steps) / decay_steps
    return init_value * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * frac)) + alpha)


def cosine_restarts(n, init_value, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0):
    """Walk the cycles one by one: start S, length L, index i."""
    out = []
    for k in np.asarray(n, np.int64).ravel():
        start, length, i = 0.0, float(first_decay_steps), 0
        while k >= start + length:
            start += length
            length *= t_mul
            i += 1
        frac = (k - start) / length
        cos = 0.5 * (1 + math.cos(math.pi * frac))
        out.append(init_value * ((1 - alpha) * m_mul**i * cos + alpha))
    return np.array(out).reshape(np.shape(n))


def _cyclic_height(n, step_size_up, step_size_down, mode, gamma):
    """PyTorch CyclicLR's scale_factor * scale_fn, with its own variable names."""
    down = step_size_up if step_size_down is None else step_size_down
    total = float(step_size_up + down)
    ratio = step_size_up / total
    out = []
    for k in np.asarray(n, np.int64).ravel():
        cycle = math.floor(1 + k / total)
        x = 1.0 + k / total - cycle
        scale = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        if mode == "triangular":
            f = 1.0
        elif mode == "triangular2":
            f = 1 / 2.0 ** (cycle - 1)
        else:
            f = gamma**k
        out.append(scale * f)
    return np.array(out).reshape(np.shape(n))


def cyclic(
    n,
    base_value,
    max_value,
    step_size_up,
    step_size_down=None,
    mode="triangular",
    gamma=1.0,
):
    h = _cyclic_height(n, step_size_up, step_size_down, mode, gamma)
    return base_value + (max_value - base_value) * h


def cyclic_momentum(
    n,
    step_size_up,
    step_size_down=None,
    mode="triangular",
    gamma=1.0,
    base_momentum=0.8,
    max_momentum=0.9,
):
    h = _cyclic_height(n, step_size_up, step_size_down, mode, gamma)
    return max_momentum - (max_momentum - base_momentum) * h


def _one_cycle(n, total_steps, pct_start, anneal, three_phase, pairs):
    if three_phase:
        ends = [
            pct_start * total_steps - 1,
            2 * pct_start * total_steps - 2,
            total_steps - 1,
        ]
    else:
        ends = [pct_start * total_steps - 1, total_steps - 1]
    out = []
    for k in np.asarray(n, np.int64).ravel():
        k = min(int(k), total_steps - 1)
        start = 0.0
        for i, end in enumerate(ends):
            if k <= end or i == len(ends) - 1:
                pct = (k - start) / (end - start)
                a, b = pairs[i]
                if anneal == "cos":
                    out.append(b + (a - b) / 2.0 * (math.cos(math.pi * pct) + 1))
                else:
                    out.append((b - a) * pct + a)
                break
            start = end
    return np.array(out).reshape(np.shape(n))


def one_cycle(
    n,
    max_value,
    total_steps,
    pct_start=0.3,
    anneal="cos",
    div_factor=25.0,
    final_div_factor=1e4,
    three_phase=False,
):
    init = max_value / div_factor
    low = init / final_div_factor
    pairs = (
        [(init, max_value), (max_value, init), (init, low)]
        if three_phase
        else [(init, max_value), (max_value, low)]
    )
    return _one_cycle(n, total_steps, pct_start, anneal, three_phase, pairs)


def one_cycle_momentum(
    n,
    total_steps,
    pct_start=0.3,
    anneal="cos",
    three_phase=False,
    base_momentum=0.85,
    max_momentum=0.95,
):
    b, m = base_momentum, max_momentum
    pairs = [(m, b), (b, m), (m, m)] if three_phase else [(m, b), (b, m)]
    return _one_cycle(n, total_steps, pct_start, anneal, three_phase, pairs)


def piecewise_constant(n, boundaries, values):
    out = []
    for k in np.asarray(n, np.int64).ravel():
        i = 0
        while i < len(boundaries) and k >= boundaries[i]:
            i += 1
        out.append(float(values[i]))
    return np.array(out).reshape(np.shape(n))


def warmup(n, schedule, warmup_steps, init_value=0.0):
    """``schedule`` is a reference: a function of an integer array of steps."""
    n = np.asarray(n, np.int64)
    if warmup_steps == 0:
        return schedule(n)
    target = schedule(np.zeros(1, np.int64))[0]
    ramp = init_value + (target - init_value) * n / warmup_steps
    return np.where(n < warmup_steps, ramp, schedule(np.maximum(n - warmup_steps, 0)))


def join(n, schedules, boundaries):
    n = np.asarray(n, np.int64)
    out = schedules[0](n)
    for b, s in zip(boundaries, schedules[1:]):
        out = np.where(n < b, out, s(np.maximum(n - b, 0)))
    return out
