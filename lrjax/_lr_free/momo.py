"""MoMo and MoMo-Adam: model-based momentum step sizes (Schaipp et al. 2024)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._learning_rate.records import records_learning_rate
from .._shared import validate
from .._shared.base import GradientTransformationExtraArgs, ScalarOrSchedule
from .._shared.numerics import evaluate, safe_increment, scalar_like
from .._shared.tree import canonical_inputs, check_like
from .numerics import decay_active, reject_complex, scalar_dtype, tree_sum


@records_learning_rate("step_size")
class MomoState(NamedTuple):
    """State of [`lrjax.momo`][].

    Attributes:
      count: updates so far (`int32`, saturating).
      loss_avg: $\\bar f$, the average of the losses.
      grad_avg: $d$, the average of the gradients.
      grad_dot_w: $\\gamma$, the average of $\\langle g, x\\rangle$.
      lower_bound: the loss bound in use (adapted with `use_fstar`).
      step_size: $\\tau$, the step the last update applied.
    """

    count: jax.Array
    loss_avg: jax.Array
    grad_avg: Any
    grad_dot_w: jax.Array
    lower_bound: jax.Array
    step_size: jax.Array


@records_learning_rate("step_size")
class MomoAdamState(NamedTuple):
    """State of [`lrjax.momo_adam`][]: as [`lrjax.MomoState`][] with `grad_avg_sq`, the
    average of $g^2$; `step_size` is $\\tau(1-\\beta_1^k)$, the rate of Adam's
    bias-corrected direction."""

    count: jax.Array
    loss_avg: jax.Array
    grad_avg: Any
    grad_avg_sq: Any
    grad_dot_w: jax.Array
    lower_bound: jax.Array
    step_size: jax.Array


def _one_minus_power(b: Any, k: jax.Array, dt: Any) -> jax.Array:
    """$1 - b^k$ as $-\\operatorname{expm1}(k \\log b)$: in float32, $1 - 0.999^k$ by
    subtraction is off by 1e-5 relative (0.999 itself rounds), which the step inherits."""
    if validate.is_traced(b):
        log_b = jnp.log(jnp.asarray(b, dt))
    else:
        log_b = np.asarray(math.log(b) if b > 0 else -math.inf, dt)
    return -jnp.expm1(k * log_b)


def _dot(a: Any, b: Any, dt: Any) -> jax.Array:
    return tree_sum(
        [
            jnp.sum(x.astype(dt) * y.astype(dt))
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
        ],
        dt,
    )


def _tau(lr, decay, loss_avg, dot, gamma, norm, rho, lb, lb0, use_fstar, always_scaled):
    """The step size and the next lower bound (momo.py L154-176, momo_adam.py L168-184)."""
    s = 1 + lr * decay
    if use_fstar:
        cap = s * loss_avg + dot - s * gamma
        lb = jnp.where(cap < s * rho * lb, jnp.maximum(cap / (2 * s * rho), lb0), lb)
    if always_scaled:
        nom = s * (loss_avg - rho * lb) + dot - s * gamma
    else:
        nom = loss_avg - rho * lb + dot - gamma
    t1 = jnp.maximum(nom, 0) / jnp.where(norm > 0, norm, 1)
    # A zero norm makes the reference's t1 0/0 or x/0, so that min() picks lr/rho; the
    # step tau * d is then 0.
    tau = jnp.where(norm > 0, jnp.minimum(lr / rho, t1), lr / rho)
    if use_fstar:
        h = loss_avg + dot - gamma
        lb = jnp.maximum((h - 0.5 * tau * norm) / rho, lb0)
    return tau, lb


def _check(learning_rate, weight_decay, lower_bound, use_fstar):
    validate.learning_rate("learning_rate", learning_rate)
    validate.nonnegative("weight_decay", weight_decay)
    validate.real("lower_bound", lower_bound)
    validate.boolean("use_fstar", use_fstar)


def _loss(value, dt):
    if jnp.ndim(value) != 0:
        raise ValueError(f"value must be a scalar (the loss), got shape {jnp.shape(value)}")
    return jnp.asarray(value).astype(dt)


def momo(
    learning_rate: ScalarOrSchedule = 1.0,
    *,
    beta: float = 0.9,
    weight_decay: float = 0.0,
    lower_bound: float = 0.0,
    bias_correction: bool = False,
    use_fstar: bool = False,
) -> GradientTransformationExtraArgs:
    r"""MoMo: SGD with momentum whose step is capped by a model of the loss.

    With $f_n$ the loss (`value=`), averages $\bar f \leftarrow \beta\bar f +
    (1-\beta)f_n$, $d \leftarrow \beta d + (1-\beta)g_n$, $\gamma \leftarrow
    \beta\gamma + (1-\beta)\langle g_n, x_n\rangle$ (from $f_0$, $g_0$,
    $\langle g_0, x_0\rangle$; from 0 with `bias_correction`, $\rho = 1 - \beta^{n+1}$,
    else $\rho = 1$), learning rate $\alpha$ and weight decay $\lambda$:

    $$
    \tau_n = \min\Big(\frac{\alpha}{\rho}, \frac{\big[(1+\alpha\lambda)(\bar f -
    \rho\, f^\star - \gamma) + \langle d, x_n\rangle\big]_+}{\lVert d\rVert^2}\Big),
    \qquad x_{n+1} = \frac{x_n - \tau_n d}{1 + \alpha\lambda},
    $$

    as the authors' `Momo` does: the weight decay divides the whole step. optax.contrib's
    `momo` computes $x/(1+\alpha\lambda) - \tau d$ instead; the two agree at
    $\lambda = 0$ (`optax.contrib.momo(lr, beta, lower_bound, adapt_lower_bound=u)` is
    `lrjax.momo(lr, beta=beta, lower_bound=lower_bound, use_fstar=u)` there). A
    learning rate of 0 takes a zero step. `update` needs `params` and the loss,
    `value=`.

    Args:
      learning_rate: $\alpha$, the cap of the step, a number $\ge 0$ or a schedule.
      beta: $\beta \in [0, 1)$.
      weight_decay: $\lambda \ge 0$.
      lower_bound: $f^\star$, a lower bound of the loss (0 is often good).
      bias_correction: average from 0 with $\rho = 1-\beta^{n+1}$.
      use_fstar: estimate the lower bound online (momo.py L154-176).

    Returns:
      An optax `GradientTransformationExtraArgs` with a [`lrjax.MomoState`][];
        [`lrjax.current_learning_rate`][] reports $\tau_n$.

    Examples:
      >>> import jax, jax.numpy as jnp, optax, lrjax
      >>> f = lambda x: jnp.sum((x - 3.0) ** 2)
      >>> x = jnp.array([1.0, 2.0])
      >>> opt = lrjax.momo()
      >>> state = opt.init(x)
      >>> for _ in range(100):
      ...     loss, g = jax.value_and_grad(f)(x)
      ...     u, state = opt.update(g, state, x, value=loss)
      ...     x = optax.apply_updates(x, u)
      >>> print(f"{float(f(x)):.4f}")
      0.0016

    References:
      Schaipp, Ohana, Eickenberg, Defazio & Gower, MoMo: Momentum Models for Adaptive
      Learning Rates, 2024, https://arxiv.org/abs/2305.07583; the authors' repository
      https://github.com/fabian-sp/MoMo, `momo/momo.py`.
    """
    _check(learning_rate, weight_decay, lower_bound, use_fstar)
    validate.decay_rate("beta", beta)
    validate.boolean("bias_correction", bias_correction)
    wd, decays = weight_decay, decay_active(weight_decay)

    def init_fn(params):
        reject_complex(params, "momo")
        dt = scalar_dtype(params)
        return MomoState(
            jnp.zeros([], jnp.int32),
            jnp.zeros([], dt),
            jax.tree.map(jnp.zeros_like, params),
            jnp.zeros([], dt),
            jnp.asarray(lower_bound, dt),
            jnp.zeros([], dt),
        )

    def update_fn(updates, state, params=None, *, value, **extra_args):
        del extra_args
        if params is None:
            raise ValueError("momo needs params: call update(grads, state, params, value=)")
        check_like(updates, params, dtypes=False)
        check_like(updates, state.grad_avg)
        dt = state.loss_avg.dtype
        loss = _loss(value, dt)
        gx = _dot(updates, params, dt)
        loss_avg, grad_avg, gamma = state.loss_avg, state.grad_avg, state.grad_dot_w
        if not bias_correction:  # start the averages at the first values (L102-137)
            first = state.count == 0
            loss_avg = jnp.where(first, loss, loss_avg)
            gamma = jnp.where(first, gx, gamma)
            grad_avg = jax.tree.map(lambda m, g: jnp.where(first, g, m), grad_avg, updates)
        loss_avg = beta * loss_avg + (1 - beta) * loss
        grad_avg = jax.tree.map(
            lambda m, g: scalar_like(beta, m) * m + scalar_like(1 - beta, g) * g,
            grad_avg,
            updates,
        )
        gamma = beta * gamma + (1 - beta) * gx
        if bias_correction:
            k = safe_increment(state.count).astype(dt)
            rho = _one_minus_power(beta, k, dt)
        else:
            rho = jnp.ones([], dt)
        dot = _dot(params, grad_avg, dt)
        norm = _dot(grad_avg, grad_avg, dt)
        lr = evaluate(learning_rate, state.count).astype(dt)
        tau, lb = _tau(
            lr,
            wd,
            loss_avg,
            dot,
            gamma,
            norm,
            rho,
            state.lower_bound,
            lower_bound,
            use_fstar,
            decays,
        )
        if decays:
            div = 1 + lr * wd
            out = jax.tree.map(
                lambda x, m: (x - scalar_like(tau, m) * m) / scalar_like(div, x) - x,
                params,
                grad_avg,
            )
        else:
            out = jax.tree.map(lambda m: -(scalar_like(tau, m) * m), grad_avg)
        return out, MomoState(
            safe_increment(state.count), loss_avg, grad_avg, gamma, lb, tau.astype(dt)
        )

    return GradientTransformationExtraArgs(*canonical_inputs(init_fn, update_fn))


def momo_adam(
    learning_rate: ScalarOrSchedule = 1e-2,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    lower_bound: float = 0.0,
    divide: bool = True,
    use_fstar: bool = False,
) -> GradientTransformationExtraArgs:
    r"""MoMo-Adam: Adam's direction with MoMo's model-capped step size.

    With $k = n + 1$, $d \leftarrow \beta_1 d + (1-\beta_1)g$, $v \leftarrow \beta_2 v +
    (1-\beta_2)g^2$, $\gamma \leftarrow \beta_1\gamma + (1-\beta_1)\langle g, x\rangle$,
    $\bar f \leftarrow \beta_1 \bar f + (1-\beta_1) f$ (all from 0),
    $D = \sqrt{v/(1-\beta_2^k)} + \epsilon$ and $\rho = 1 - \beta_1^k$:

    $$
    \tau = \min\Big(\frac{\alpha}{\rho}, \frac{\big[(1+\alpha\lambda)(\bar f -
    \rho f^\star - \gamma) + \langle d, x\rangle\big]_+}{\langle d, d/D\rangle}\Big),
    \qquad x \leftarrow \frac{x - \tau\, d/D}{1 + \alpha\lambda},
    $$

    as the authors' `MomoAdam` (the whole step divided, `divide=True`; with
    `divide=False`, AdamW's $x \leftarrow (1-\alpha\lambda)x - \tau d/D$).
    optax.contrib's `momo_adam` divides only $x$; at $\lambda = 0$ it is
    `lrjax.momo_adam(lr, b1=b1, b2=b2, eps=eps, lower_bound=lb, use_fstar=u)`.

    Args:
      learning_rate: $\alpha$, a number $\ge 0$ or a schedule (the authors' 1e-2).
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, added to $D$.
      weight_decay: $\lambda \ge 0$.
      lower_bound: $f^\star$.
      divide: divide the whole step (the proximal form) or decay first (AdamW's).
      use_fstar: estimate the lower bound online.

    Returns:
      An optax `GradientTransformationExtraArgs` with a [`lrjax.MomoAdamState`][];
        [`lrjax.current_learning_rate`][] reports $\tau\rho$, the rate that multiplies
        Adam's bias-corrected direction $\hat m/(\sqrt{\hat v} + \epsilon)$ (the
        update is $-\tau\, d/D$, and $d/D = \rho\,\hat m/(\sqrt{\hat v}+\epsilon)$):
        at most $\alpha$, and equal to it while the cap is active.

    Examples:
      >>> import jax, jax.numpy as jnp, optax, lrjax
      >>> f = lambda x: jnp.sum((x - 3.0) ** 2)
      >>> x = jnp.array([1.0, 2.0])
      >>> opt = lrjax.momo_adam(0.5)
      >>> state = opt.init(x)
      >>> for _ in range(100):
      ...     loss, g = jax.value_and_grad(f)(x)
      ...     u, state = opt.update(g, state, x, value=loss)
      ...     x = optax.apply_updates(x, u)
      >>> print(f"{float(f(x)) < 1e-3}")
      True

    References:
      Schaipp, Ohana, Eickenberg, Defazio & Gower, MoMo: Momentum Models for Adaptive
      Learning Rates, 2024, https://arxiv.org/abs/2305.07583; the authors' repository
      https://github.com/fabian-sp/MoMo, `momo/momo_adam.py`.
    """
    _check(learning_rate, weight_decay, lower_bound, use_fstar)
    validate.decay_rate("b1", b1)
    validate.decay_rate("b2", b2)
    validate.nonnegative("eps", eps)
    validate.boolean("divide", divide)
    wd, decays = weight_decay, decay_active(weight_decay)

    def init_fn(params):
        reject_complex(params, "momo_adam")
        dt = scalar_dtype(params)
        zeros = lambda: jax.tree.map(jnp.zeros_like, params)
        return MomoAdamState(
            jnp.zeros([], jnp.int32),
            jnp.zeros([], dt),
            zeros(),
            zeros(),
            jnp.zeros([], dt),
            jnp.asarray(lower_bound, dt),
            jnp.zeros([], dt),
        )

    def update_fn(updates, state, params=None, *, value, **extra_args):
        del extra_args
        if params is None:
            raise ValueError(
                "momo_adam needs params: call update(grads, state, params, value=)"
            )
        check_like(updates, params, dtypes=False)
        check_like(updates, state.grad_avg)
        dt = state.loss_avg.dtype
        loss = _loss(value, dt)
        k = safe_increment(state.count).astype(dt)
        bc1 = _one_minus_power(b1, k, dt)
        bc2 = _one_minus_power(b2, k, dt)
        grad_avg = jax.tree.map(
            lambda m, g: scalar_like(b1, m) * m + scalar_like(1 - b1, g) * g,
            state.grad_avg,
            updates,
        )
        grad_sq = jax.tree.map(
            lambda v, g: scalar_like(b2, v) * v + scalar_like(1 - b2, g) * g * g,
            state.grad_avg_sq,
            updates,
        )
        gamma = b1 * state.grad_dot_w + (1 - b1) * _dot(params, updates, dt)
        denom = jax.tree.map(
            lambda v: jnp.sqrt(v / scalar_like(bc2, v)) + scalar_like(eps, v), grad_sq
        )
        dot = _dot(params, grad_avg, dt)
        norm = tree_sum(
            [
                jnp.sum((m * (m / D)).astype(dt))
                for m, D in zip(jax.tree.leaves(grad_avg), jax.tree.leaves(denom))
            ],
            dt,
        )
        loss_avg = (1 - b1) * loss + b1 * state.loss_avg
        lr = evaluate(learning_rate, state.count).astype(dt)
        tau, lb = _tau(
            lr,
            wd,
            loss_avg,
            dot,
            gamma,
            norm,
            bc1,
            state.lower_bound,
            lower_bound,
            use_fstar,
            True,
        )

        def step(x, m, D):
            y = x * scalar_like(1 - wd * lr, x) if (decays and not divide) else x
            y = y - scalar_like(tau, m) * (m / D)
            if decays and divide:
                y = y / scalar_like(1 + wd * lr, x)
            return y - x

        if decays:
            out = jax.tree.map(step, params, grad_avg, denom)
        else:
            out = jax.tree.map(
                lambda m, D: -(scalar_like(tau, m) * (m / D)), grad_avg, denom
            )
        # Recorded: the rate of Adam's bias-corrected direction m_hat / (sqrt(v_hat) + eps),
        # which tau d / D is: tau (1 - b1^k), at most the learning rate.
        return out, MomoAdamState(
            safe_increment(state.count),
            loss_avg,
            grad_avg,
            grad_sq,
            gamma,
            lb,
            (tau * bc1).astype(dt),
        )

    return GradientTransformationExtraArgs(*canonical_inputs(init_fn, update_fn))
