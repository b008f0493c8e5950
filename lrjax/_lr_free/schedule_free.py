"""Schedule-Free learning (Defazio et al., 2024): a wrapper of any base transform, its
SGD and AdamW aliases, and the evaluation parameters read from the state."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from .._directions.momentum import add_decayed_weights
from .._directions.rmsprop import scale_by_rmsprop
from .._learning_rate.scale import scale_by_learning_rate
from .._shared import validate
from .._shared.base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    ScalarOrSchedule,
)
from .._shared.numerics import evaluate, lr_dtype, safe_increment
from .._shared.tree import canonical_inputs, check_like, refuse_complex


class ScheduleFreeState(NamedTuple):
    """State of [`lrjax.schedule_free`][].

    Attributes:
      count: the 0-based step $k$ of the next update (`int32`, saturating).
      b1: the interpolation $\\beta$, kept so that [`lrjax.schedule_free_eval_params`][]
        needs the state alone.
      max_lr: $\\gamma_{\\max}$, the largest rate seen so far (0 before the first step).
      weight_sum: $\\sum_i w_i$, the sum of the averaging weights so far.
      z: the base optimizer's iterate $z$ (the params are $y$).
      base_state: the base transform's state.
    """

    count: jax.Array
    b1: jax.Array
    max_lr: jax.Array
    weight_sum: jax.Array
    z: Any
    base_state: Any


def _check_rate_or_schedule(name: str, value: Any) -> None:
    if not callable(value):
        validate.nonnegative(name, value)


def schedule_free(
    base: GradientTransformation,
    learning_rate: ScalarOrSchedule,
    *,
    b1: float = 0.9,
    weight_lr_power: float = 2.0,
    r: float = 0.0,
    state_dtype: Any = None,
) -> GradientTransformationExtraArgs:
    r"""Make any base transform Schedule-Free: interpolation and averaging for momentum.

    The base transform (with its learning rate $\gamma_k$ and *no momentum of its own*)
    gives an update $u_k$ at the gradient point $y_k$ (the params); its iterate is
    $z_{k+1} = z_k + u_k$. The evaluation point $x$ averages the $z$ with weights
    $w_k = (k+1)^r\,\gamma_{\max,k}^{p}$, and the params interpolate:

    $$c_k = \frac{w_k}{\sum_{i \le k} w_i}, \qquad
      x_{k+1} = (1-c_k)\,x_k + c_k\,z_{k+1}, \qquad
      y_{k+1} = \beta\,x_{k+1} + (1-\beta)\,z_{k+1}.$$

    $x$ is not stored: the update is computed as the reference does it, in place on
    $y$: $y_{k+1} = y_k + c_k(z_k - y_k) + (1-\beta(1-c_k))\,u_k$. Evaluate (and
    checkpoint for deployment) at $x$, which [`lrjax.schedule_free_eval_params`][]
    computes from the state and the params.

    `learning_rate` is the base transform's rate, read here at the **same** 0-based
    count $k$ as the base reads it: pass the same float or schedule to both. With
    $\gamma_k = 0$ (a warm-up from 0) the weight is 0 and, while every weight so far is
    0, $c_k = 0$: the step is a zero step, as the reference's `ZeroDivisionError`
    branch makes it.

    optax.contrib's `schedule_free` reads its schedule at $k+1$ while the base reads
    $k$ (the warm-up off-by-one); to reproduce it, pass
    `learning_rate=lambda n: schedule(n + 1)` with the base built on `schedule`. Its
    $r$ is 0.

    Args:
      base: the base transform, ending in its learning rate (e.g.
        `lrjax.sgd(schedule)`); extra arguments (`value=`, …) are passed to it.
      learning_rate: the base's rate $\gamma_k$, a float $\ge 0$ or a schedule.
      b1: the interpolation $\beta \in (0, 1)$ (the reference's `momentum`).
      weight_lr_power: $p \ge 0$, the power of $\gamma_{\max}$ in the weights.
      r: $r \ge 0$, the power of $k+1$ in the weights.
      state_dtype: dtype of $z$ (default: the params' dtype).

    Returns:
      An optax `GradientTransformationExtraArgs` whose state is a
        [`lrjax.ScheduleFreeState`][]; its `update` needs `params`.

    Examples:
      >>> import jax, jax.numpy as jnp, optax, lrjax
      >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
      >>> opt = lrjax.schedule_free(lrjax.sgd(0.1), 0.1)
      >>> params = jnp.zeros(2)
      >>> state = opt.init(params)
      >>> for _ in range(20):
      ...     u, state = opt.update(jax.grad(f)(params), state, params)
      ...     params = optax.apply_updates(params, u)
      >>> x = lrjax.schedule_free_eval_params(state, params)
      >>> print(f"{float(f(params)):.4f} {float(f(x)):.4f}")
      0.0013 0.0000

    References:
      Defazio et al., The Road Less Scheduled, 2024, https://arxiv.org/abs/2405.15682.
      The authors' package `schedulefree` 1.4.1 (facebookresearch/schedule_free),
      `ScheduleFreeWrapper` and `SGDScheduleFree`.
    """
    validate.transform("base", base)
    _check_rate_or_schedule("learning_rate", learning_rate)
    validate.in_range("b1", b1, 0.0, 1.0, low_open=True, high_open=True)
    validate.nonnegative("weight_lr_power", weight_lr_power)
    validate.nonnegative("r", r)
    if state_dtype is not None:
        state_dtype = jnp.dtype(state_dtype)
    inner = optax.with_extra_args_support(base)

    def init_fn(params):
        dtype = lr_dtype()
        z = jax.tree.map(
            lambda p: jnp.array(p, dtype=state_dtype or jnp.result_type(p), copy=True),
            params,
        )
        return ScheduleFreeState(
            count=jnp.zeros([], jnp.int32),
            b1=jnp.asarray(b1, dtype),
            max_lr=jnp.zeros([], dtype),
            weight_sum=jnp.zeros([], dtype),
            z=z,
            base_state=inner.init(params),
        )

    def update_fn(updates, state, params=None, **extra):
        if params is None:
            raise ValueError("schedule_free needs params: call update(g, state, params)")
        check_like(updates, state.z, dtypes=state_dtype is None)
        gamma = evaluate(learning_rate, state.count)
        max_lr = jnp.maximum(state.max_lr, gamma)
        weight = max_lr ** jnp.asarray(weight_lr_power, max_lr.dtype)
        if not (isinstance(r, (int, float)) and r == 0):
            k1 = state.count.astype(max_lr.dtype) + jnp.ones([], max_lr.dtype)
            weight = k1 ** jnp.asarray(r, max_lr.dtype) * weight
        weight_sum = state.weight_sum + weight
        positive = weight_sum > 0
        c = jnp.where(positive, weight / jnp.where(positive, weight_sum, 1), 0)
        beta = state.b1
        keep = 1 - beta * (1 - c)
        base_updates, base_state = inner.update(updates, state.base_state, params, **extra)

        def step(y, z, u):
            dt = jnp.result_type(y)
            zc = z.astype(dt)
            uc = u.astype(dt)
            return (c.astype(dt) * (zc - y) + keep.astype(dt) * uc).astype(dt)

        out = jax.tree.map(step, params, state.z, base_updates)
        z = jax.tree.map(
            lambda z, u: (z + u.astype(z.dtype)).astype(z.dtype), state.z, base_updates
        )
        return out, ScheduleFreeState(
            count=safe_increment(state.count),
            b1=state.b1,
            max_lr=max_lr,
            weight_sum=weight_sum,
            z=z,
            base_state=base_state,
        )

    return GradientTransformationExtraArgs(*canonical_inputs(init_fn, update_fn))


def _find_state(state: Any) -> ScheduleFreeState:
    found = [
        node
        for node in jax.tree_util.tree_leaves(
            state, is_leaf=lambda n: isinstance(n, ScheduleFreeState)
        )
        if isinstance(node, ScheduleFreeState)
    ]
    if len(found) != 1:
        raise ValueError(
            "schedule_free_eval_params needs an optimizer state that holds exactly one "
            f"ScheduleFreeState (the state of lrjax.schedule_free or its aliases); found "
            f"{len(found)}"
        )
    return found[0]


def _is_variable(x: Any) -> bool:
    return hasattr(x, "get_value") and hasattr(x, "replace")


def _value(x: Any) -> jax.Array:
    # An NNX optimizer wraps each array of its state in a Variable.
    if hasattr(x, "get_value"):
        x = x.get_value()
    elif hasattr(x, "value") and not isinstance(x, jax.Array):
        x = x.value
    return jnp.asarray(x)


def schedule_free_eval_params(state: Any, params: Any) -> Any:
    r"""The evaluation parameters $x$ of a Schedule-Free optimizer.

    The params that training holds are the gradient points $y = (1-\beta)z + \beta x$;
    evaluation, and the checkpoint you deploy, should use $x$:

    $$x = y + \left(1 - \tfrac{1}{\beta}\right)(z - y),$$

    which is the reference's `optimizer.eval()` (a `lerp` towards $z$ with weight
    $1 - 1/\beta$). Training continues from the unchanged $y$, so there is nothing to
    switch back (the reference's `train()`).

    Args:
      state: the state of [`lrjax.schedule_free`][], [`lrjax.schedule_free_sgd`][] or
        [`lrjax.schedule_free_adamw`][], or any state that holds exactly one of them
        (a chain, `optax.MultiSteps`, `optax.inject_hyperparams`, an NNX optimizer's
        `opt_state`).
      params: the params being trained ($y$).

    Returns:
      The tree $x$, in the dtypes of `params`.

    Raises:
      ValueError: the state holds no `ScheduleFreeState`, or more than one.

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> opt = lrjax.schedule_free_sgd(1.0)
      >>> params = jnp.array([1.0, 2.0])
      >>> state = opt.init(params)
      >>> u, state = opt.update(2 * params, state, params)
      >>> x = lrjax.schedule_free_eval_params(state, params + u)
      >>> print(" ".join(f"{float(v):.4f}" for v in x))
      -1.0000 -2.0000

    References:
      Defazio et al., The Road Less Scheduled, 2024, https://arxiv.org/abs/2405.15682;
      `schedulefree` 1.4.1, `SGDScheduleFree.eval`.
    """
    sf = _find_state(state)
    beta = _value(sf.b1)
    w = 1 - 1 / beta

    def x_of(y, z):
        yv, zv = _value(y), _value(z)
        dt = jnp.result_type(yv)
        x = (yv + w.astype(dt) * (zv.astype(dt) - yv)).astype(dt)
        # An NNX parameter (a Variable) gives back a Variable of its kind.
        return y.replace(x) if _is_variable(y) else x

    return jax.tree.map(x_of, params, sf.z, is_leaf=_is_variable)


def _warmed(learning_rate: ScalarOrSchedule, warmup_steps: int) -> ScalarOrSchedule:
    """The reference's warm-up: $\\gamma_k = \\eta(k)\\min((k+1)/W, 1)$."""
    traced = validate.is_traced(warmup_steps)  # optax.inject_hyperparams
    if not traced and warmup_steps == 0:
        return learning_rate

    def schedule(count):
        k = jnp.asarray(count)
        base = evaluate(learning_rate, k)
        w = jnp.asarray(warmup_steps).astype(base.dtype)
        ramp = jnp.minimum((k.astype(base.dtype) + 1) / jnp.maximum(w, 1), 1)
        return base * jnp.where(w > 0, ramp, 1).astype(base.dtype)

    return schedule


def _alias_checks(learning_rate, b1, weight_decay, warmup_steps, weight_lr_power, r):
    _check_rate_or_schedule("learning_rate", learning_rate)
    validate.in_range("b1", b1, 0.0, 1.0, low_open=True, high_open=True)
    _check_rate_or_schedule("weight_decay", weight_decay)
    validate.nonnegative("weight_lr_power", weight_lr_power)
    validate.nonnegative("r", r)
    if validate.is_traced(warmup_steps):  # optax.inject_hyperparams injects it too
        return warmup_steps
    return validate.nonnegative_int("warmup_steps", warmup_steps)


def schedule_free_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    *,
    b1: float = 0.9,
    weight_decay: ScalarOrSchedule = 0.0,
    warmup_steps: int = 0,
    weight_lr_power: float = 2.0,
    r: float = 0.0,
    state_dtype: Any = None,
) -> GradientTransformationExtraArgs:
    r"""Schedule-Free SGD, as the authors' `SGDScheduleFree`.

    [`lrjax.schedule_free`][] around the step $u_k = -\gamma_k(g_k + \lambda y_k)$
    (weight decay at the gradient point $y$), with the reference's warm-up

    $$\gamma_k = \eta_k \min\!\left(\tfrac{k+1}{W}, 1\right)$$

    read at the same step $k$ by the base step and the averaging weight. The
    defaults are the authors' (`lr=1`, `momentum=0.9`, no warm-up, $r = 0$,
    `weight_lr_power=2`).

    optax.contrib's `schedule_free_sgd` agrees without warm-up (its default
    `weight_decay=None` is 0 here); with `warmup_steps=W` it ramps $\eta k/W$ from 0
    in the base and $\eta(k+1)/W$ in the weight. To reproduce it, build
    `lrjax.schedule_free(lrjax.chain(lrjax.add_decayed_weights(wd), lrjax.sgd(s)),
    lambda n: s(n + 1))` with `s = optax.warmup_constant_schedule(0, lr, W)`.

    Args:
      learning_rate: $\eta \ge 0$ or a schedule of it.
      b1: the interpolation $\beta \in (0, 1)$ (the reference's `momentum`).
      weight_decay: $\lambda \ge 0$ (or a schedule), taken at $y$ and multiplied by
        $\gamma_k$.
      warmup_steps: $W \ge 0$; 0 for none.
      weight_lr_power: $p \ge 0$.
      r: $r \ge 0$.
      state_dtype: dtype of $z$ (default: the params').

    Returns:
      An optax `GradientTransformationExtraArgs`; evaluate at
        [`lrjax.schedule_free_eval_params`][].

    Examples:
      >>> import jax, jax.numpy as jnp, optax, lrjax
      >>> f = lambda x: jnp.sum(x ** 2)
      >>> opt = lrjax.schedule_free_sgd(0.5, warmup_steps=5)
      >>> params = jnp.array([1.0, 2.0, 3.0])
      >>> state = opt.init(params)
      >>> for _ in range(10):
      ...     u, state = opt.update(jax.grad(f)(params), state, params)
      ...     params = optax.apply_updates(params, u)
      >>> print(f"{float(f(lrjax.schedule_free_eval_params(state, params))):.4f}")
      0.0063

    References:
      Defazio et al., The Road Less Scheduled, 2024, https://arxiv.org/abs/2405.15682;
      `schedulefree` 1.4.1, `sgd_schedulefree.py` (facebookresearch/schedule_free).
    """
    warmup_steps = _alias_checks(
        learning_rate, b1, weight_decay, warmup_steps, weight_lr_power, r
    )
    gamma = _warmed(learning_rate, warmup_steps)
    base = optax.chain(add_decayed_weights(weight_decay), scale_by_learning_rate(gamma))
    return schedule_free(
        base, gamma, b1=b1, weight_lr_power=weight_lr_power, r=r, state_dtype=state_dtype
    )


def schedule_free_adamw(
    learning_rate: ScalarOrSchedule = 0.0025,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    warmup_steps: int = 0,
    weight_lr_power: float = 2.0,
    r: float = 0.0,
    state_dtype: Any = None,
) -> GradientTransformationExtraArgs:
    r"""Schedule-Free AdamW, as the authors' `AdamWScheduleFree`.

    [`lrjax.schedule_free`][] around an Adam step without momentum, with weight decay
    at $y$:

    $$v_k = \beta_2 v_{k-1} + (1-\beta_2) g_k^2, \qquad
      u_k = -\gamma_k\left(\frac{g_k}{\sqrt{v_k/(1-\beta_2^{k+1})} + \epsilon}
      + \lambda y_k\right),$$

    with the reference's warm-up $\gamma_k = \eta_k\min((k+1)/W, 1)$, read at the same
    $k$ by the base step and the averaging weight. The defaults are the authors'
    (`lr=0.0025`, `betas=(0.9, 0.999)`, `eps=1e-8`, no warm-up).

    optax.contrib's `schedule_free_adamw` agrees without warm-up; with
    `warmup_steps=W` it reads the schedule one step later in the weight than in the
    base (see [`lrjax.schedule_free_sgd`][] for the arguments that reproduce it).

    Complex parameters are refused at `init` (`TypeError`).

    Args:
      learning_rate: $\eta \ge 0$ or a schedule of it.
      b1: the interpolation $\beta \in (0, 1)$ (the reference's `betas[0]`).
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      weight_decay: $\lambda \ge 0$ (or a schedule), taken at $y$.
      warmup_steps: $W \ge 0$; 0 for none.
      weight_lr_power: $p \ge 0$.
      r: $r \ge 0$.
      state_dtype: dtype of $z$ (default: the params').

    Returns:
      An optax `GradientTransformationExtraArgs`; evaluate at
        [`lrjax.schedule_free_eval_params`][].

    Examples:
      >>> import jax, jax.numpy as jnp, optax, lrjax
      >>> f = lambda x: jnp.sum(x ** 2)
      >>> opt = lrjax.schedule_free_adamw(0.1)
      >>> params = jnp.array([1.0, 2.0, 3.0])
      >>> state = opt.init(params)
      >>> for _ in range(50):
      ...     u, state = opt.update(jax.grad(f)(params), state, params)
      ...     params = optax.apply_updates(params, u)
      >>> print(f"{float(f(lrjax.schedule_free_eval_params(state, params))):.4f}")
      0.8492

    References:
      Defazio et al., The Road Less Scheduled, 2024, https://arxiv.org/abs/2405.15682;
      `schedulefree` 1.4.1, `adamw_schedulefree.py` (facebookresearch/schedule_free).
    """
    warmup_steps = _alias_checks(
        learning_rate, b1, weight_decay, warmup_steps, weight_lr_power, r
    )
    validate.decay_rate("b2", b2)
    validate.nonnegative("eps", eps)
    gamma = _warmed(learning_rate, warmup_steps)
    base = optax.chain(
        scale_by_rmsprop(b2, eps, eps_in_sqrt=False, bias_correction=True),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(gamma),
    )
    inner = schedule_free(
        base, gamma, b1=b1, weight_lr_power=weight_lr_power, r=r, state_dtype=state_dtype
    )

    def init_fn(params):
        refuse_complex(
            params, "schedule_free_adamw", "its squared-gradient statistic would need |g|^2"
        )
        return inner.init(params)

    return GradientTransformationExtraArgs(*canonical_inputs(init_fn, inner.update))
