"""D-Adaptation Adam (Defazio & Mishchenko, 2023), as the authors' `dadaptation` 3.2.

`dadaptation/dadapt_adam.py`, step L104–253. The estimate of the distance to the
solution $d$ multiplies the rate; the first moment and the sum $s$ carry it.
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
class ScaleByDAdaptAdamState(NamedTuple):
    """State of [`lrjax.scale_by_dadapt_adam`][], [`lrjax.dadapt_adam`][] and
    [`lrjax.dadapt_adamw`][].

    Attributes:
      count: update calls so far (`int32`, saturating): the schedule's position.
      k: steps taken (`int32`, saturating): the bias correction's position; a step
        with a rate of 0 is skipped, as in the reference.
      d: the estimate $d$ of the distance to the solution.
      numerator_weighted: the weighted numerator $r$ of the estimate.
      learning_rate: the rate $d\\,\\eta\\,b$ the last update applied.
      exp_avg: first moment $m$ (it carries $d\\eta$).
      exp_avg_sq: second moment $v$.
      s: the weighted gradient sum of the estimate's denominator.
    """

    count: jax.Array
    k: jax.Array
    d: jax.Array
    numerator_weighted: jax.Array
    learning_rate: jax.Array
    exp_avg: Any
    exp_avg_sq: Any
    s: Any


def _build(
    learning_rate,
    betas,
    eps,
    weight_decay,
    decouple,
    use_bias_correction,
    d0,
    growth_rate,
    *,
    descent: bool,
    name: str,
) -> GradientTransformation:
    validate.learning_rate("learning_rate", learning_rate)
    b1, b2 = num.betas("betas", betas)
    validate.positive("eps", eps)
    validate.nonnegative("weight_decay", weight_decay)
    decouple = validate.boolean("decouple", decouple)
    use_bias_correction = validate.boolean("use_bias_correction", use_bias_correction)
    validate.positive("d0", d0)
    growth = num.growth_rate("growth_rate", growth_rate)
    decays = validate.is_traced(weight_decay) or weight_decay != 0
    sb2 = b2**0.5
    one_minus_sb2 = 1 - sb2

    def init_fn(params: Any) -> ScaleByDAdaptAdamState:
        num.reject_complex(params, name)
        dt = lr_dtype()
        zero = jnp.zeros([], jnp.int32)
        lr0 = evaluate(learning_rate, zero)
        return ScaleByDAdaptAdamState(
            count=jnp.zeros([], jnp.int32),
            k=jnp.zeros([], jnp.int32),
            d=jnp.asarray(d0, dt),
            numerator_weighted=jnp.zeros([], dt),
            learning_rate=jnp.asarray(d0, dt)
            * lr0
            * num.bias_factor(b1, b2, zero, use_bias_correction),
            exp_avg=jax.tree.map(jnp.zeros_like, params),
            exp_avg_sq=jax.tree.map(jnp.zeros_like, params),
            s=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(updates, state: ScaleByDAdaptAdamState, params=None):
        check_like(updates, state.exp_avg)
        if decays:
            num.needs_params(params, name, "when weight_decay is not 0")
            check_like(params, state.exp_avg, dtypes=False)
        lr = evaluate(learning_rate, state.count)
        d = state.d
        dlr = d * lr * num.bias_factor(b1, b2, state.k, use_bias_correction)
        g = updates
        if decays and not decouple:  # coupled (L2) decay, the default: L164–165
            g = jax.tree.map(
                lambda g, x: g + num.like(weight_decay, g) * x.astype(g.dtype), g, params
            )
        active = lr > 0
        # L183–184, with the old s and v.
        acc = dlr * num.tree_reduce(
            lambda g, s, v: jnp.sum(g * (s / (jnp.sqrt(v) + eps))),
            g,
            state.s,
            state.exp_avg_sq,
        )
        c1 = dlr * (1 - b1)
        m = jax.tree.map(
            lambda m, g: m * num.like(b1, m) + num.like(c1, m) * g, state.exp_avg, g
        )
        v = jax.tree.map(
            lambda v, g: v * num.like(b2, v) + num.like(1 - b2, v) * (g * g),
            state.exp_avg_sq,
            g,
        )
        cs = dlr * one_minus_sb2
        s = jax.tree.map(
            lambda s, g: s * num.like(sb2, s) + num.like(cs, s) * g, state.s, g
        )
        m, v, s = num.select(active, (m, v, s), (state.exp_avg, state.exp_avg_sq, state.s))
        l1 = num.tree_reduce(lambda s: jnp.sum(jnp.abs(s)), s)
        numerator = sb2 * state.numerator_weighted + one_minus_sb2 * acc
        # No progress (a rate of 0, or zero gradients): the reference returns (L200).
        skip = jnp.logical_not(active) | (l1 == 0)
        d_hat = numerator / (one_minus_sb2 * l1)
        d_new = jnp.maximum(d, jnp.minimum(d_hat, d * growth))  # L216–217

        def step(m, v, x):
            u = -(m / (jnp.sqrt(v) + eps))
            if decays and decouple:  # L245, then the step L249
                u = u - num.like(weight_decay * dlr, u) * x.astype(u.dtype)
            return jnp.where(skip, jnp.zeros_like(u), u)

        u = jax.tree.map(step, m, v, params if decays else m)
        d_new, numerator = num.select(
            skip, (d, state.numerator_weighted), (d_new, numerator)
        )
        new_state = ScaleByDAdaptAdamState(
            count=safe_increment(state.count),
            k=jnp.where(skip, state.k, safe_increment(state.k)),
            d=d_new,
            numerator_weighted=numerator,
            learning_rate=dlr,
            exp_avg=m,
            exp_avg_sq=v,
            s=s,
        )
        if not descent:
            u = jax.tree.map(jnp.negative, u)
        return u, new_state

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def scale_by_dadapt_adam(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    *,
    weight_decay: float = 0.0,
    decouple: bool = False,
    use_bias_correction: bool = False,
    d0: float = 1e-6,
    growth_rate: float = math.inf,
) -> GradientTransformation:
    r"""D-Adaptation Adam's step with the sign of the gradient.

    The same transform as [`lrjax.dadapt_adam`][], returning $-u_k$: chain it with
    `lrjax.scale_by_learning_rate(1.0)`. The rate is an argument here because it
    enters the estimate of $d$.

    Args:
      learning_rate: $\eta \ge 0$ or a schedule (steps with $\eta = 0$ are skipped).
      betas: $(\beta_1, \beta_2)$, each in $[0, 1)$.
      eps: $\epsilon > 0$.
      weight_decay: $\lambda \ge 0$.
      decouple: decoupled decay $x \leftarrow x - \lambda d\eta x$ instead of the
        reference's default coupled L2 decay $g \leftarrow g + \lambda x$.
      use_bias_correction: multiply the rate by $b_k$ (off in the reference).
      d0: the initial estimate $d_0 > 0$.
      growth_rate: the largest factor by which $d$ may grow per step ($\infty$: none).

    Returns:
      An optax `GradientTransformation` whose state is a
        [`lrjax.ScaleByDAdaptAdamState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_dadapt_adam()
      >>> u, state = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))
      >>> print(f"{float(u[0]):.2e}")
      3.16e-06

    References:
      Defazio & Mishchenko, Learning-Rate-Free Learning by D-Adaptation, 2023,
      https://arxiv.org/abs/2301.07733; the authors' package `dadaptation` 3.2,
      https://github.com/facebookresearch/dadaptation
    """
    return _build(
        learning_rate,
        betas,
        eps,
        weight_decay,
        decouple,
        use_bias_correction,
        d0,
        growth_rate,
        descent=False,
        name="scale_by_dadapt_adam",
    )


def dadapt_adam(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    *,
    weight_decay: float = 0.0,
    decouple: bool = False,
    use_bias_correction: bool = False,
    d0: float = 1e-6,
    growth_rate: float = math.inf,
) -> GradientTransformation:
    r"""D-Adaptation Adam: Adam whose rate is scaled by an estimate of the distance.

    With $\delta_k = d_k\eta_k b_k$ ($b_k = \sqrt{1-\beta_2^{k+1}}/(1-\beta_1^{k+1})$
    with `use_bias_correction`, else 1) and $\sigma = \sqrt{\beta_2}$:

    $$
    \begin{aligned}
    a_k &= \delta_k\Bigl\langle g_k, \frac{s_k}{\sqrt{v_k}+\epsilon}\Bigr\rangle,\qquad
    r_{k+1} = \sigma r_k + (1-\sigma) a_k,\\
    m_{k+1} &= \beta_1 m_k + \delta_k(1-\beta_1) g_k,\qquad
    v_{k+1} = \beta_2 v_k + (1-\beta_2) g_k^2,\qquad
    s_{k+1} = \sigma s_k + \delta_k(1-\sigma) g_k,\\
    d_{k+1} &= \max\Bigl(d_k,\ \min\Bigl(\frac{r_{k+1}}{(1-\sigma)\lVert s_{k+1}\rVert_1},
               \ \gamma d_k\Bigr)\Bigr),\qquad
    x_{k+1} = x_k - \frac{m_{k+1}}{\sqrt{v_{k+1}}+\epsilon},
    \end{aligned}
    $$

    with the reference's default **coupled** decay $g_k \leftarrow g_k + \lambda x_k$;
    `decouple=True` (or [`lrjax.dadapt_adamw`][]) subtracts $\lambda\delta_k x_k$
    instead. A step with $\lVert s_{k+1}\rVert_1 = 0$ (a rate of 0, or zero gradients)
    is skipped, $d$, $r$ and $k$ unchanged, as in the reference.
    `lrjax.current_learning_rate` reports $\delta_k$.

    **optax.contrib.dadapt_adamw** is
    `dadapt_adam(decouple=True, use_bias_correction=True)` (its `estim_lr0` is `d0`);
    it has no `growth_rate`, no coupled decay, and a warm-up from 0 gives NaN.

    Args:
      learning_rate: $\eta \ge 0$ or a schedule; 1 lets $d$ set the step.
      betas: $(\beta_1, \beta_2)$, each in $[0, 1)$.
      eps: $\epsilon > 0$.
      weight_decay: $\lambda \ge 0$.
      decouple: decoupled (AdamW) decay instead of coupled L2 decay.
      use_bias_correction: multiply the rate by $b_k$ (off in the reference).
      d0: the initial estimate $d_0 > 0$.
      growth_rate: the largest factor $\gamma$ by which $d$ may grow per step.

    Returns:
      An optax `GradientTransformation` whose state is a
        [`lrjax.ScaleByDAdaptAdamState`][].

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> loss = lambda x: jnp.sum((x - 3.0) ** 2)
      >>> opt, x = lrjax.dadapt_adam(), jnp.zeros(2)
      >>> state = opt.init(x)
      >>> for _ in range(300):
      ...     u, state = opt.update(jax.grad(loss)(x), state, x)
      ...     x = lrjax.apply_updates(x, u)
      >>> print(f"{float(x[0]):.1f}")
      3.0

    References:
      Defazio & Mishchenko, Learning-Rate-Free Learning by D-Adaptation, 2023,
      https://arxiv.org/abs/2301.07733; the authors' package `dadaptation` 3.2,
      https://github.com/facebookresearch/dadaptation
    """
    return _build(
        learning_rate,
        betas,
        eps,
        weight_decay,
        decouple,
        use_bias_correction,
        d0,
        growth_rate,
        descent=True,
        name="dadapt_adam",
    )


def dadapt_adamw(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    *,
    weight_decay: float = 0.0,
    use_bias_correction: bool = False,
    d0: float = 1e-6,
    growth_rate: float = math.inf,
) -> GradientTransformation:
    r"""D-Adaptation AdamW: [`lrjax.dadapt_adam`][] with decoupled weight decay.

    $x \leftarrow x - \lambda d_k\eta_k b_k x$ besides the Adam step, the reference's
    `DAdaptAdam(decouple=True)`. **optax.contrib.dadapt_adamw** is
    `dadapt_adamw(use_bias_correction=True)`.

    Args:
      learning_rate: $\eta \ge 0$ or a schedule; 1 lets $d$ set the step.
      betas: $(\beta_1, \beta_2)$, each in $[0, 1)$.
      eps: $\epsilon > 0$.
      weight_decay: $\lambda \ge 0$.
      use_bias_correction: multiply the rate by $b_k$ (off in the reference).
      d0: the initial estimate $d_0 > 0$.
      growth_rate: the largest factor by which $d$ may grow per step.

    Returns:
      An optax `GradientTransformation` whose state is a
        [`lrjax.ScaleByDAdaptAdamState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> opt = lrjax.dadapt_adamw(weight_decay=1e-2)
      >>> u, state = opt.update(jnp.ones(2), opt.init(jnp.ones(2)), jnp.ones(2))
      >>> print(f"{float(lrjax.current_learning_rate(state)):.1e}")
      1.0e-06

    References:
      Defazio & Mishchenko, Learning-Rate-Free Learning by D-Adaptation, 2023,
      https://arxiv.org/abs/2301.07733; `dadaptation` 3.2,
      https://github.com/facebookresearch/dadaptation
    """
    return _build(
        learning_rate,
        betas,
        eps,
        weight_decay,
        True,
        use_bias_correction,
        d0,
        growth_rate,
        descent=True,
        name="dadapt_adamw",
    )
