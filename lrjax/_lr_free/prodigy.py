"""Prodigy (Mishchenko & Defazio, 2023): Adam with a learned distance-to-solution `d`.

The rule is the authors' `prodigyopt` 1.1.2 (`prodigyopt/prodigy.py`, step L101–272),
with one change of representation: where the reference forms $x_0 - x$, the state keeps
the accumulated displacement $x - x_0$ (the sum of the updates), so that float32 runs
stay close to float64 while the parameters have barely moved.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._learning_rate.records import records_learning_rate
from .._shared import validate
from .._shared.base import GradientTransformation, ScalarOrSchedule
from .._shared.numerics import evaluate, lr_dtype, safe_increment
from .._shared.tree import canonical_inputs, check_like
from . import dadapt_numerics as num


@records_learning_rate()
class ScaleByProdigyState(NamedTuple):
    """State of [`lrjax.scale_by_prodigy`][] and [`lrjax.prodigy`][].

    Attributes:
      count: update calls so far (`int32`, saturating): the schedule's position.
      k: steps taken so far (`int32`, saturating): the bias correction's position. A
        step with a learning rate of 0 is skipped, as the reference skips it, and
        leaves `k` unchanged.
      d: the current estimate $d$ of the distance to the solution.
      d_max: the largest estimate $\\hat d$ so far (with `growth_rate`, $d$ trails it).
      d_numerator: the weighted sum $r$ of the estimate's numerator.
      learning_rate: the rate $d\\,\\eta\\,b$ the last update applied ($b$ the bias
        factor, 1 unless `use_bias_correction`).
      exp_avg: first moment $m$ (it carries the factor $d$).
      exp_avg_sq: second moment $v$ (it carries $d^2$).
      s: the weighted gradient sum of the estimate's denominator, every `slice_p`-th
        entry of each flattened tensor.
      displacement: $x - x_0$ on the same entries: the sum of the updates applied.
    """

    count: jax.Array
    k: jax.Array
    d: jax.Array
    d_max: jax.Array
    d_numerator: jax.Array
    learning_rate: jax.Array
    exp_avg: Any
    exp_avg_sq: Any
    s: Any
    displacement: Any


def _sliced(x: jax.Array, p: int) -> jax.Array:
    return jnp.reshape(x, (-1,))[::p]


def _build(
    learning_rate,
    betas,
    beta3,
    eps,
    weight_decay,
    decouple,
    use_bias_correction,
    safeguard_warmup,
    d0,
    d_coef,
    growth_rate,
    slice_p,
    *,
    descent: bool,
    name: str,
) -> GradientTransformation:
    validate.learning_rate("learning_rate", learning_rate)
    b1, b2 = num.betas("betas", betas)
    b3 = math.sqrt(b2) if beta3 is None else validate.decay_rate("beta3", beta3)
    validate.positive("eps", eps)
    validate.nonnegative("weight_decay", weight_decay)
    decouple = validate.boolean("decouple", decouple)
    use_bias_correction = validate.boolean("use_bias_correction", use_bias_correction)
    safeguard_warmup = validate.boolean("safeguard_warmup", safeguard_warmup)
    validate.positive("d0", d0)
    validate.positive("d_coef", d_coef)
    growth = num.growth_rate("growth_rate", growth_rate)
    slice_p = validate.positive_int("slice_p", slice_p)
    decays = validate.is_traced(weight_decay) or weight_decay != 0

    def init_fn(params: Any) -> ScaleByProdigyState:
        num.reject_complex(params, name)
        dt = lr_dtype()
        zero = jnp.zeros([], jnp.int32)
        lr0 = evaluate(learning_rate, zero)
        bc0 = num.bias_factor(b1, b2, zero, use_bias_correction)
        sliced = lambda x: jnp.zeros_like(_sliced(jnp.asarray(x), slice_p))
        return ScaleByProdigyState(
            count=jnp.zeros([], jnp.int32),
            k=jnp.zeros([], jnp.int32),
            d=jnp.asarray(d0, dt),
            d_max=jnp.asarray(d0, dt),
            d_numerator=jnp.zeros([], dt),
            learning_rate=jnp.asarray(d0, dt) * lr0 * bc0,
            exp_avg=jax.tree.map(jnp.zeros_like, params),
            exp_avg_sq=jax.tree.map(jnp.zeros_like, params),
            s=jax.tree.map(sliced, params),
            displacement=jax.tree.map(sliced, params),
        )

    def update_fn(updates, state: ScaleByProdigyState, params=None):
        check_like(updates, state.exp_avg)
        if decays:
            num.needs_params(params, name, "when weight_decay is not 0")
            check_like(
                params, state.exp_avg, against="the params given to init", dtypes=False
            )
        lr = evaluate(learning_rate, state.count)
        d = state.d
        dlr = d * lr * num.bias_factor(b1, b2, state.k, use_bias_correction)
        g = updates
        if decays and not decouple:  # coupled (L2) decay: L163–164
            g = jax.tree.map(
                lambda g, x: g + num.like(weight_decay, g) * x.astype(g.dtype), g, params
            )
        active = lr > 0
        ratio = d / d0
        gs = jax.tree.map(lambda g: _sliced(g, slice_p), g)
        # <g, x0 - x> = -<g, displacement>: L194.
        delta = (
            ratio
            * dlr
            * num.tree_reduce(lambda g, u: -jnp.sum(g * u), gs, state.displacement)
        )
        c1, c2 = d * (1 - b1), d * d * (1 - b2)
        m = jax.tree.map(
            lambda m, g: m * num.like(b1, m) + num.like(c1, m) * g, state.exp_avg, g
        )
        v = jax.tree.map(
            lambda v, g: v * num.like(b2, v) + num.like(c2, v) * (g * g),
            state.exp_avg_sq,
            g,
        )
        cs = ratio * (d if safeguard_warmup else dlr)
        s = jax.tree.map(
            lambda s, g: s * num.like(b3, s) + num.like(cs, s) * g, state.s, gs
        )
        # With a rate of 0 nothing is accumulated (L191); the moments move otherwise.
        m, v, s = num.select(active, (m, v, s), (state.exp_avg, state.exp_avg_sq, state.s))
        l1 = num.tree_reduce(lambda s: jnp.sum(jnp.abs(s)), s)
        # No progress (a rate of 0, or all-zero gradients): the reference returns with
        # d, the numerator and k unchanged and the parameters untouched (L214–215).
        skip = jnp.logical_not(active) | (l1 == 0)
        numerator = b3 * state.d_numerator + delta
        d_hat = d_coef * numerator / l1
        d_new = jnp.where(d == d0, jnp.maximum(d, d_hat), d)
        d_max = jnp.maximum(state.d_max, d_hat)
        d_new = jnp.minimum(d_max, d_new * growth)  # L229–233

        def step(m, v, g, x):
            denom = jnp.sqrt(v) + num.like(d_new * eps, v)
            if b1 > 0:
                u = -(num.like(dlr, m) * (m / denom))
            else:  # the reference keeps no m and steps with the new d: L268
                u = -(num.like(dlr * d_new, g) * (g / denom))
            if decays and decouple:  # L260–261
                u = u - num.like(weight_decay * dlr, u) * x.astype(u.dtype)
            return jnp.where(skip, jnp.zeros_like(u), u)

        xs = params if decays else m
        u = jax.tree.map(step, m, v, g, xs)
        disp = jax.tree.map(lambda r, u: r + _sliced(u, slice_p), state.displacement, u)
        d_new, d_max, numerator = num.select(
            skip, (d, state.d_max, state.d_numerator), (d_new, d_max, numerator)
        )
        k = jnp.where(skip, state.k, safe_increment(state.k))
        new_state = ScaleByProdigyState(
            count=safe_increment(state.count),
            k=k,
            d=d_new,
            d_max=d_max,
            d_numerator=numerator,
            learning_rate=dlr,
            exp_avg=m,
            exp_avg_sq=v,
            s=s,
            displacement=disp,
        )
        if not descent:
            u = jax.tree.map(jnp.negative, u)
        return u, new_state

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def scale_by_prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[float, float] = (0.9, 0.999),
    beta3: float | None = None,
    eps: float = 1e-8,
    *,
    weight_decay: float = 0.0,
    decouple: bool = True,
    use_bias_correction: bool = False,
    safeguard_warmup: bool = False,
    d0: float = 1e-6,
    d_coef: float = 1.0,
    growth_rate: float = math.inf,
    slice_p: int = 1,
) -> GradientTransformation:
    r"""Prodigy's step with the sign of the gradient.

    The same transform as [`lrjax.prodigy`][], returning the step $-u_k$ instead of
    the update $u_k$: chain it with `lrjax.scale_by_learning_rate(1.0)`, which flips
    the sign back. The rate $\eta$ is an argument here, not of a later transform,
    because it enters the estimate of $d$. The displacement it tracks assumes that
    the update applied is exactly the negated step.

    Args:
      learning_rate: $\eta$, a number $\ge 0$ or a schedule; 1 (the default) lets
        $d$ set the step, a schedule shapes it (a warm-up from 0 is safe: steps with
        $\eta = 0$ are skipped, as the reference skips them).
      betas: $(\beta_1, \beta_2)$, each in $[0, 1)$.
      beta3: $\beta_3$ of the estimate's sums; `None` is $\sqrt{\beta_2}$.
      eps: $\epsilon > 0$, added as $d\,\epsilon$ to the denominator.
      weight_decay: $\lambda \ge 0$.
      decouple: decoupled (AdamW) decay $x \leftarrow x - \lambda d\eta x$ (the
        default), or coupled L2 decay $g \leftarrow g + \lambda x$.
      use_bias_correction: multiply the rate by $b_k$ (off in the reference; on in
        optax.contrib).
      safeguard_warmup: accumulate $s$ with $d$ instead of $d\eta$, so that a warm-up
        does not inflate the estimate.
      d0: the initial estimate $d_0 > 0$.
      d_coef: multiplies every estimate $\hat d$.
      growth_rate: the largest factor by which $d$ may grow in one step ($\infty$: no
        limit).
      slice_p: keep the estimate's statistics ($s$ and the displacement) on every
        `slice_p`-th entry of each tensor only (memory; 1 is exact Prodigy).

    Returns:
      An optax `GradientTransformation` whose state is a
        [`lrjax.ScaleByProdigyState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.chain(lrjax.scale_by_prodigy(), lrjax.scale_by_learning_rate(1.0))
      >>> state = tx.init(jnp.ones(3))
      >>> u, state = tx.update(jnp.ones(3), state)
      >>> print(f"{float(u[0]):.2e}")
      -3.16e-06

    References:
      Mishchenko & Defazio, Prodigy: An Expeditiously Adaptive Parameter-Free Learner,
      2023, https://arxiv.org/abs/2306.06101; the authors' package `prodigyopt` 1.1.2,
      https://github.com/konstmish/prodigy
    """
    return _build(
        learning_rate,
        betas,
        beta3,
        eps,
        weight_decay,
        decouple,
        use_bias_correction,
        safeguard_warmup,
        d0,
        d_coef,
        growth_rate,
        slice_p,
        descent=False,
        name="scale_by_prodigy",
    )


def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[float, float] = (0.9, 0.999),
    beta3: float | None = None,
    eps: float = 1e-8,
    *,
    weight_decay: float = 0.0,
    decouple: bool = True,
    use_bias_correction: bool = False,
    safeguard_warmup: bool = False,
    d0: float = 1e-6,
    d_coef: float = 1.0,
    growth_rate: float = math.inf,
    slice_p: int = 1,
) -> GradientTransformation:
    r"""Prodigy: Adam whose step size is a learned distance to the solution.

    With $\eta_k$ the learning rate, $b_k = \sqrt{1-\beta_2^{k+1}}/(1-\beta_1^{k+1})$
    if `use_bias_correction` (else 1) and $\delta_k = d_k\eta_k b_k$, each step is

    $$
    \begin{aligned}
    r_{k+1} &= \beta_3 r_k + \tfrac{d_k}{d_0}\delta_k\langle g_k, x_0 - x_k\rangle,\qquad
    s_{k+1} = \beta_3 s_k + \tfrac{d_k}{d_0}\delta_k g_k,\\
    m_{k+1} &= \beta_1 m_k + d_k(1-\beta_1) g_k,\qquad
    v_{k+1} = \beta_2 v_k + d_k^2(1-\beta_2) g_k^2,\\
    \hat d_{k+1} &= d_\text{coef}\, r_{k+1}/\lVert s_{k+1}\rVert_1,\qquad
    d_{k+1} = \min\bigl(\max_{j\le k+1}\hat d_j,\ \gamma\, d'_k\bigr),\\
    x_{k+1} &= x_k - \delta_k \frac{m_{k+1}}{\sqrt{v_{k+1}} + d_{k+1}\epsilon}
               - \lambda\delta_k x_k,
    \end{aligned}
    $$

    where $d'_k = \max(d_k, \hat d_{k+1})$ while $d_k = d_0$ and $d_k$ after, and
    $\gamma$ is `growth_rate` (with `safeguard_warmup`, $s$ accumulates
    $\tfrac{d_k}{d_0} d_k g_k$). With `decouple=False` the decay is L2,
    $g_k \leftarrow g_k + \lambda x_k$, and the last term is dropped. A step whose
    $\lVert s_{k+1}\rVert_1 = 0$ (a rate of 0, or zero gradients) is skipped: no
    update, and $d$, $r$ and $k$ keep their values, as in the reference.

    `lrjax.current_learning_rate` reports $\delta_k = d_k\eta_k b_k$, the rate the
    last update applied.

    **optax.contrib.prodigy** is `prodigy(use_bias_correction=True)` (optax always
    bias-corrects, and has neither `growth_rate`, `slice_p`, coupled decay nor the
    skip of a zero rate: it gives NaN from the first step of a warm-up from 0).
    Its `estim_lr0`, `estim_lr_coef` are `d0`, `d_coef` here.

    The state keeps $x_k - x_0$ (the sum of the updates) where the reference keeps
    $x_0$: the same memory, and float32 runs stay within 1e-5 of float64 where
    forming $x_0 - x_k$ loses the digits that the estimate needs.

    Args:
      learning_rate: $\eta$, a number $\ge 0$ or a schedule; 1 (the default) lets
        $d$ set the step, a schedule shapes it (a warm-up from 0 is safe: steps with
        $\eta = 0$ are skipped, as the reference skips them).
      betas: $(\beta_1, \beta_2)$, each in $[0, 1)$.
      beta3: $\beta_3$ of the estimate's sums; `None` is $\sqrt{\beta_2}$.
      eps: $\epsilon > 0$, added as $d\,\epsilon$ to the denominator.
      weight_decay: $\lambda \ge 0$.
      decouple: decoupled (AdamW) decay $x \leftarrow x - \lambda d\eta x$ (the
        default), or coupled L2 decay $g \leftarrow g + \lambda x$.
      use_bias_correction: multiply the rate by $b_k$ (off in the reference; on in
        optax.contrib).
      safeguard_warmup: accumulate $s$ with $d$ instead of $d\eta$, so that a warm-up
        does not inflate the estimate.
      d0: the initial estimate $d_0 > 0$.
      d_coef: multiplies every estimate $\hat d$.
      growth_rate: the largest factor by which $d$ may grow in one step ($\infty$: no
        limit).
      slice_p: keep the estimate's statistics ($s$ and the displacement) on every
        `slice_p`-th entry of each tensor only (memory; 1 is exact Prodigy).

    Returns:
      An optax `GradientTransformation` whose state is a
        [`lrjax.ScaleByProdigyState`][].

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> loss = lambda x: jnp.sum((x - 3.0) ** 2)
      >>> opt = lrjax.prodigy()
      >>> x = jnp.zeros(2)
      >>> state = opt.init(x)
      >>> for _ in range(200):
      ...     u, state = opt.update(jax.grad(loss)(x), state, x)
      ...     x = lrjax.apply_updates(x, u)
      >>> print(f"{float(x[0]):.3f} {float(state.d) > 1.0}")
      3.000 True

    References:
      Mishchenko & Defazio, Prodigy: An Expeditiously Adaptive Parameter-Free Learner,
      2023, https://arxiv.org/abs/2306.06101; the authors' package `prodigyopt` 1.1.2,
      https://github.com/konstmish/prodigy
    """
    return _build(
        learning_rate,
        betas,
        beta3,
        eps,
        weight_decay,
        decouple,
        use_bias_correction,
        safeguard_warmup,
        d0,
        d_coef,
        growth_rate,
        slice_p,
        descent=True,
        name="prodigy",
    )
