"""D-Adaptation SGD and AdaGrad (Defazio & Mishchenko, 2023), as `dadaptation` 3.2.

Both are dual-averaging methods: the reference keeps $x_0$ and the sum $s$ and sets
$x = x_0 - s$ (SGD) or $x = x_0 - s/(\\sqrt{a}+\\epsilon)$ (AdaGrad). Here the state
keeps the displacement $x - x_0$ instead of $x_0$ (one tensor fewer than the
reference's $x_0$ and $z$ for SGD), and each update moves the parameters to the
reference's point.
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
class ScaleByDAdaptSGDState(NamedTuple):
    """State of [`lrjax.scale_by_dadapt_sgd`][] and [`lrjax.dadapt_sgd`][].

    Attributes:
      count: update calls (`int32`, saturating): the schedule's position.
      k: steps taken (`int32`, saturating); the first takes $\\lVert g_0\\rVert$.
      d: the estimate $d$.
      numerator_weighted: the numerator $r$ of the estimate.
      g0_norm: $\\lVert g_0\\rVert$, the norm of the first gradient (0 before it).
      learning_rate: $d\\eta$ of the last update (the direction is
        $g/\\lVert g_0\\rVert$).
      s: the sum $s = \\sum_j d_j\\eta_j g_j/\\lVert g_0\\rVert$.
      displacement: $x - x_0$, the sum of the updates.
    """

    count: jax.Array
    k: jax.Array
    d: jax.Array
    numerator_weighted: jax.Array
    g0_norm: jax.Array
    learning_rate: jax.Array
    s: Any
    displacement: Any


@records_learning_rate()
class ScaleByDAdaptAdagradState(NamedTuple):
    """State of [`lrjax.scale_by_dadapt_adagrad`][] and [`lrjax.dadapt_adagrad`][].

    Attributes:
      count: update calls (`int32`, saturating): the schedule's position.
      d: the estimate $d$.
      gsq_weighted: $\\sum_j (d_j\\eta_j)^2 \\sum g_j^2/(\\sqrt{a_{j+1}}+\\epsilon)$.
      sksq_weighted: $\\sum s^2/(\\sqrt{a}+\\epsilon)$, kept by increments as the
        reference keeps it.
      skl1: $\\lVert s\\rVert_1$, kept by increments.
      learning_rate: $d\\eta$ of the last update.
      alpha: the AdaGrad sum $a = 10^{-6} + \\sum_j g_j^2$.
      s: the sum $s = \\sum_j d_j\\eta_j g_j$.
      displacement: $x - x_0$, the sum of the updates.
    """

    count: jax.Array
    d: jax.Array
    gsq_weighted: jax.Array
    sksq_weighted: jax.Array
    skl1: jax.Array
    learning_rate: jax.Array
    alpha: Any
    s: Any
    displacement: Any


def _decayed(g, params, weight_decay):
    return jax.tree.map(
        lambda g, x: g + num.like(weight_decay, g) * x.astype(g.dtype), g, params
    )


def _sgd(learning_rate, momentum, weight_decay, d0, growth_rate, *, descent, name):
    validate.learning_rate("learning_rate", learning_rate)
    validate.decay_rate("momentum", momentum)
    validate.nonnegative("weight_decay", weight_decay)
    validate.positive("d0", d0)
    growth = num.growth_rate("growth_rate", growth_rate)
    decays = validate.is_traced(weight_decay) or weight_decay != 0
    ck = 1 - momentum

    def init_fn(params):
        num.reject_complex(params, name)
        dt = lr_dtype()
        lr0 = evaluate(learning_rate, jnp.zeros([], jnp.int32))
        return ScaleByDAdaptSGDState(
            count=jnp.zeros([], jnp.int32),
            k=jnp.zeros([], jnp.int32),
            d=jnp.asarray(d0, dt),
            numerator_weighted=jnp.zeros([], dt),
            g0_norm=jnp.zeros([], dt),
            learning_rate=jnp.asarray(d0, dt) * lr0,
            s=jax.tree.map(jnp.zeros_like, params),
            displacement=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(updates, state, params=None):
        check_like(updates, state.s)
        if decays:
            num.needs_params(params, name, "when weight_decay is not 0")
            check_like(params, state.s, dtypes=False)
        lr = evaluate(learning_rate, state.count)
        d = state.d
        # The first step's norm leaves the decay out (L106 uses `add`, not `add_`).
        g0 = jnp.where(
            state.k == 0,
            jnp.sqrt(num.tree_reduce(lambda g: jnp.sum(g * g), updates)),
            state.g0_norm,
        )
        # The reference divides by a zero norm where the first rate is 0 (a warm-up)
        # and fails; here such steps are skipped, the count still advancing.
        ok = (lr > 0) & (g0 > 0)
        dlr = d * lr / jnp.where(ok, g0, 1)
        g = _decayed(updates, params, weight_decay) if decays else updates
        numerator = state.numerator_weighted + dlr * num.tree_reduce(
            lambda g, s: jnp.sum(g * s), g, state.s
        )  # L149–150
        s = jax.tree.map(lambda s, g: s + num.like(dlr, s) * g, state.s, g)
        s = num.select(ok, s, state.s)
        sk_sq = num.tree_reduce(lambda s: jnp.sum(s * s), s)
        d_hat = 2 * numerator / jnp.sqrt(sk_sq)
        d_new = jnp.maximum(d, jnp.minimum(d_hat, d * growth))  # L169–170
        skip = jnp.logical_not(ok) | (sk_sq == 0)

        def step(r, s):  # x <- (1 - c) x + c (x0 - s), L197–200
            u = -(num.like(ck, r) * (r + s))
            return jnp.where(skip, jnp.zeros_like(u), u)

        u = jax.tree.map(step, state.displacement, s)
        d_new, numerator, g0 = num.select(
            skip, (d, state.numerator_weighted, state.g0_norm), (d_new, numerator, g0)
        )
        new_state = ScaleByDAdaptSGDState(
            count=safe_increment(state.count),
            k=jnp.where(skip, state.k, safe_increment(state.k)),
            d=d_new,
            numerator_weighted=numerator,
            g0_norm=g0,
            learning_rate=d * lr,
            s=s,
            displacement=jax.tree.map(jnp.add, state.displacement, u),
        )
        if not descent:
            u = jax.tree.map(jnp.negative, u)
        return u, new_state

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def _adagrad(learning_rate, momentum, weight_decay, eps, d0, growth_rate, *, descent, name):
    validate.learning_rate("learning_rate", learning_rate)
    validate.decay_rate("momentum", momentum)
    validate.nonnegative("weight_decay", weight_decay)
    validate.positive("eps", eps)
    validate.positive("d0", d0)
    growth = num.growth_rate("growth_rate", growth_rate)
    decays = validate.is_traced(weight_decay) or weight_decay != 0
    ck = 1 - momentum

    def init_fn(params):
        num.reject_complex(params, name)
        dt = lr_dtype()
        lr0 = evaluate(learning_rate, jnp.zeros([], jnp.int32))
        return ScaleByDAdaptAdagradState(
            count=jnp.zeros([], jnp.int32),
            d=jnp.asarray(d0, dt),
            gsq_weighted=jnp.zeros([], dt),
            sksq_weighted=jnp.zeros([], dt),
            skl1=jnp.zeros([], dt),
            learning_rate=jnp.asarray(d0, dt) * lr0,
            alpha=jax.tree.map(lambda x: jnp.full_like(x, 1e-6), params),  # L125
            s=jax.tree.map(jnp.zeros_like, params),
            displacement=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(updates, state, params=None):
        check_like(updates, state.s)
        if decays:
            num.needs_params(params, name, "when weight_decay is not 0")
            check_like(params, state.s, dtypes=False)
        lr = evaluate(learning_rate, state.count)
        d = state.d
        dlr = d * lr
        g = _decayed(updates, params, weight_decay) if decays else updates
        # sum s^2 / (sqrt(a) + eps), as (s / sqrt(sqrt(a) + eps))^2: with gradients near
        # the float32 limit, s^2 and a overflow and s^2 / a would be inf / inf.
        weigh = lambda s, a: jnp.sum(jnp.square(s / jnp.sqrt(jnp.sqrt(a) + eps)))
        # The dense path, L180–197: the sums are kept by per-tensor increments.
        alpha = jax.tree.map(lambda a, g: a + g * g, state.alpha, g)
        s = jax.tree.map(lambda s, g: s + num.like(dlr, s) * g, state.s, g)
        g_sq = num.tree_reduce(weigh, g, alpha)
        sksq_change = num.tree_reduce(
            lambda s_new, a_new, s, a: weigh(s_new, a_new) - weigh(s, a),
            s,
            alpha,
            state.s,
            state.alpha,
        )
        l1_change = num.tree_reduce(
            lambda s_new, s: jnp.sum(jnp.abs(s_new)) - jnp.sum(jnp.abs(s)), s, state.s
        )
        sksq = state.sksq_weighted + sksq_change
        skl1 = state.skl1 + l1_change
        skip = skl1 == 0  # L205: returns, with alpha and s already updated
        gsq = state.gsq_weighted + dlr * dlr * g_sq
        d_hat = (sksq - gsq) / skl1
        d_new = jnp.where(lr > 0, jnp.maximum(d, jnp.minimum(d_hat, d * growth)), d)

        def step(r, s, a):  # x <- (1 - c) x + c (x0 - s / (sqrt(a) + eps)), L254–260
            u = -(num.like(ck, r) * (r + s / (jnp.sqrt(a) + eps)))
            return jnp.where(skip, jnp.zeros_like(u), u)

        u = jax.tree.map(step, state.displacement, s, alpha)
        d_new, gsq, sksq, skl1 = num.select(
            skip,
            (d, state.gsq_weighted, state.sksq_weighted, state.skl1),
            (d_new, gsq, sksq, skl1),
        )
        new_state = ScaleByDAdaptAdagradState(
            count=safe_increment(state.count),
            d=d_new,
            gsq_weighted=gsq,
            sksq_weighted=sksq,
            skl1=skl1,
            learning_rate=dlr,
            alpha=alpha,
            s=s,
            displacement=jax.tree.map(jnp.add, state.displacement, u),
        )
        if not descent:
            u = jax.tree.map(jnp.negative, u)
        return u, new_state

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def scale_by_dadapt_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    momentum: float = 0.0,
    *,
    weight_decay: float = 0.0,
    d0: float = 1e-6,
    growth_rate: float = math.inf,
) -> GradientTransformation:
    r"""D-Adaptation SGD's step with the sign of the gradient.

    [`lrjax.dadapt_sgd`][] returning $-u_k$: chain it with
    `lrjax.scale_by_learning_rate(1.0)`. Its displacement assumes the negated step is
    applied exactly.

    Args:
      learning_rate: $\eta \ge 0$ or a schedule (steps with $\eta = 0$ are skipped).
      momentum: $\mu \in [0, 1)$, the averaging of the reference.
      weight_decay: $\lambda \ge 0$, coupled: $g \leftarrow g + \lambda x$.
      d0: the initial estimate $d_0 > 0$.
      growth_rate: the largest factor by which $d$ may grow per step.

    Returns:
      An optax `GradientTransformation` whose state is a
        [`lrjax.ScaleByDAdaptSGDState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_dadapt_sgd()
      >>> u, state = tx.update(jnp.ones(4), tx.init(jnp.zeros(4)))
      >>> print(f"{float(u[0]):.2e}")
      5.00e-07

    References:
      Defazio & Mishchenko, Learning-Rate-Free Learning by D-Adaptation, 2023,
      https://arxiv.org/abs/2301.07733; the authors' package `dadaptation` 3.2,
      https://github.com/facebookresearch/dadaptation
    """
    return _sgd(
        learning_rate,
        momentum,
        weight_decay,
        d0,
        growth_rate,
        descent=False,
        name="scale_by_dadapt_sgd",
    )


def dadapt_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    momentum: float = 0.0,
    *,
    weight_decay: float = 0.0,
    d0: float = 1e-6,
    growth_rate: float = math.inf,
) -> GradientTransformation:
    r"""D-Adaptation SGD: dual averaging with a learned distance to the solution.

    With $\delta_k = d_k\eta_k/\lVert g_0\rVert$ (the first gradient's norm):

    $$
    \begin{aligned}
    r_{k+1} &= r_k + \delta_k\langle g_k, s_k\rangle,\qquad
    s_{k+1} = s_k + \delta_k g_k,\qquad
    d_{k+1} = \max\Bigl(d_k,\ \min\Bigl(\frac{2 r_{k+1}}{\lVert s_{k+1}\rVert_2},
               \ \gamma d_k\Bigr)\Bigr),\\
    x_{k+1} &= \mu x_k + (1-\mu)(x_0 - s_{k+1}),
    \end{aligned}
    $$

    with coupled decay $g_k \leftarrow g_k + \lambda x_k$ (left out of
    $\lVert g_0\rVert$, as in the reference). `lrjax.current_learning_rate` reports
    $d_k\eta_k$; the direction is $g/\lVert g_0\rVert$. optax has no D-Adaptation SGD.

    **A rate of 0**: the reference divides by a zero norm on the first step of a
    warm-up from 0 (and fails on any step with a rate of 0); here such a step is
    skipped (no update, $d$, $r$, $k$ and $\lVert g_0\rVert$ unchanged), as Prodigy's
    and D-Adaptation Adam's references skip it. The state keeps $x - x_0$ instead of
    the reference's $x_0$ and $z$.

    Args:
      learning_rate: $\eta \ge 0$ or a schedule; 1 lets $d$ set the step.
      momentum: $\mu \in [0, 1)$.
      weight_decay: $\lambda \ge 0$ (coupled).
      d0: the initial estimate $d_0 > 0$.
      growth_rate: the largest factor $\gamma$ by which $d$ may grow per step.

    Returns:
      An optax `GradientTransformation` whose state is a
        [`lrjax.ScaleByDAdaptSGDState`][].

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> loss = lambda x: jnp.sum((x - 3.0) ** 2)
      >>> opt, x = lrjax.dadapt_sgd(), jnp.zeros(2)
      >>> state = opt.init(x)
      >>> for _ in range(100):
      ...     u, state = opt.update(jax.grad(loss)(x), state, x)
      ...     x = lrjax.apply_updates(x, u)
      >>> print(f"{float(x[0]):.2f}")
      3.00

    References:
      Defazio & Mishchenko, Learning-Rate-Free Learning by D-Adaptation, 2023,
      https://arxiv.org/abs/2301.07733; the authors' package `dadaptation` 3.2,
      https://github.com/facebookresearch/dadaptation
    """
    return _sgd(
        learning_rate,
        momentum,
        weight_decay,
        d0,
        growth_rate,
        descent=True,
        name="dadapt_sgd",
    )


def scale_by_dadapt_adagrad(
    learning_rate: ScalarOrSchedule = 1.0,
    momentum: float = 0.0,
    *,
    weight_decay: float = 0.0,
    eps: float = 1e-6,
    d0: float = 1e-6,
    growth_rate: float = math.inf,
) -> GradientTransformation:
    r"""D-Adaptation AdaGrad's step with the sign of the gradient.

    [`lrjax.dadapt_adagrad`][] returning $-u_k$: chain it with
    `lrjax.scale_by_learning_rate(1.0)`.

    Args:
      learning_rate: $\eta \ge 0$ or a schedule.
      momentum: $\mu \in [0, 1)$.
      weight_decay: $\lambda \ge 0$ (coupled).
      eps: $\epsilon > 0$, added to $\sqrt{a}$.
      d0: the initial estimate $d_0 > 0$.
      growth_rate: the largest factor by which $d$ may grow per step.

    Returns:
      An optax `GradientTransformation` whose state is a
        [`lrjax.ScaleByDAdaptAdagradState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_dadapt_adagrad()
      >>> u, state = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))
      >>> print(f"{float(u[0]):.2e}")
      1.00e-06

    References:
      Defazio & Mishchenko, Learning-Rate-Free Learning by D-Adaptation, 2023,
      https://arxiv.org/abs/2301.07733; the authors' package `dadaptation` 3.2,
      https://github.com/facebookresearch/dadaptation
    """
    return _adagrad(
        learning_rate,
        momentum,
        weight_decay,
        eps,
        d0,
        growth_rate,
        descent=False,
        name="scale_by_dadapt_adagrad",
    )


def dadapt_adagrad(
    learning_rate: ScalarOrSchedule = 1.0,
    momentum: float = 0.0,
    *,
    weight_decay: float = 0.0,
    eps: float = 1e-6,
    d0: float = 1e-6,
    growth_rate: float = math.inf,
) -> GradientTransformation:
    r"""D-Adaptation AdaGrad: AdaGrad dual averaging with a learned distance.

    With $\delta_k = d_k\eta_k$ and $a_0 = 10^{-6}$:

    $$
    \begin{aligned}
    a_{k+1} &= a_k + g_k^2,\qquad s_{k+1} = s_k + \delta_k g_k,\qquad
    G_{k+1} = G_k + \delta_k^2 \sum \frac{g_k^2}{\sqrt{a_{k+1}}+\epsilon},\\
    d_{k+1} &= \max\Bigl(d_k,\ \min\Bigl(\frac{\sum s_{k+1}^2/(\sqrt{a_{k+1}}+\epsilon)
               - G_{k+1}}{\lVert s_{k+1}\rVert_1},\ \gamma d_k\Bigr)\Bigr),\\
    x_{k+1} &= \mu x_k + (1-\mu)\Bigl(x_0 - \frac{s_{k+1}}{\sqrt{a_{k+1}}+\epsilon}\Bigr),
    \end{aligned}
    $$

    with coupled decay $g_k \leftarrow g_k + \lambda x_k$; $d$ moves only where
    $\eta_k > 0$. As in the reference, a step with $\eta = 0$ still accumulates $a$
    and moves $x$ to the new dual-averaging point (a zero step only before the first
    step with $\eta > 0$, when $s = 0$). `lrjax.current_learning_rate` reports
    $d_k\eta_k$. optax has no D-Adaptation AdaGrad. The dense path of the reference;
    the state keeps $x - x_0$ instead of $x_0$.

    Args:
      learning_rate: $\eta \ge 0$ or a schedule; 1 lets $d$ set the step.
      momentum: $\mu \in [0, 1)$.
      weight_decay: $\lambda \ge 0$ (coupled).
      eps: $\epsilon > 0$.
      d0: the initial estimate $d_0 > 0$.
      growth_rate: the largest factor $\gamma$ by which $d$ may grow per step.

    Returns:
      An optax `GradientTransformation` whose state is a
        [`lrjax.ScaleByDAdaptAdagradState`][].

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> loss = lambda x: jnp.sum((x - 3.0) ** 2)
      >>> opt, x = lrjax.dadapt_adagrad(), jnp.zeros(2)
      >>> state = opt.init(x)
      >>> for _ in range(300):
      ...     u, state = opt.update(jax.grad(loss)(x), state, x)
      ...     x = lrjax.apply_updates(x, u)
      >>> print(f"{float(x[0]):.2f}")
      3.00

    References:
      Defazio & Mishchenko, Learning-Rate-Free Learning by D-Adaptation, 2023,
      https://arxiv.org/abs/2301.07733; the authors' package `dadaptation` 3.2,
      https://github.com/facebookresearch/dadaptation
    """
    return _adagrad(
        learning_rate,
        momentum,
        weight_decay,
        eps,
        d0,
        growth_rate,
        descent=True,
        name="dadapt_adagrad",
    )
