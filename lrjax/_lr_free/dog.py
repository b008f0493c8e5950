"""Distance over gradients: DoG, layer-wise L-DoG (Ivgi et al. 2023) and DoWG (Khaled et al.).

The step size is the largest distance travelled from the start divided by a running
norm of the gradients. The references form that distance as `x - x0`; here the
accumulated displacement is the state instead of `x0` (same memory), so a float32
run keeps the distance accurate while the parameters have barely moved.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._learning_rate.records import records_learning_rate
from .._shared import validate
from .._shared.base import GradientTransformation, ScalarOrSchedule
from .._shared.numerics import evaluate, safe_increment, scalar_like
from .._shared.tree import canonical_inputs, check_like
from .numerics import decay_active, reject_complex, scalar_dtype, tree_sum


def _sq(x: jax.Array, dt: Any) -> jax.Array:
    return jnp.sum(jnp.square(x.astype(dt)))


def _needs_params(params: Any, method: str) -> None:
    if params is None:
        raise ValueError(f"{method} needs params: call update(grads, state, params)")


def _decayed(updates: Any, params: Any, weight_decay: float) -> Any:
    if not decay_active(weight_decay):
        return updates
    return jax.tree.map(lambda g, x: g + scalar_like(weight_decay, g) * x, updates, params)


@records_learning_rate("eta")
class DoGState(NamedTuple):
    """State of [`lrjax.dog`][].

    Attributes:
      count: updates so far (`int32`, saturating).
      rbar: $\\bar r$, the largest distance from the start seen so far.
      sum_sq: $G$, the running sum of squared gradient norms (with `eps`).
      eta: the step size $\\eta$ the last update applied (`current_learning_rate`).
      displacement: $x - x_0$, accumulated from the updates.
    """

    count: jax.Array
    rbar: jax.Array
    sum_sq: jax.Array
    eta: jax.Array
    displacement: Any


class LDoGState(NamedTuple):
    """State of [`lrjax.l_dog`][]: as [`lrjax.DoGState`][] with one `rbar`, `sum_sq`
    and `eta` per leaf (trees of scalars)."""

    count: jax.Array
    rbar: Any
    sum_sq: Any
    eta: Any
    displacement: Any


def _check_dog(learning_rate, reps_rel, eps, weight_decay, init_eta):
    validate.learning_rate("learning_rate", learning_rate)
    validate.positive("reps_rel", reps_rel)
    validate.nonnegative("eps", eps)
    validate.nonnegative("weight_decay", weight_decay)
    if init_eta is not None:
        validate.positive("init_eta", init_eta)


def _distance_rule(rbar, sum_sq, d_leaves, g_leaves, *, lr, first, eps, init_eta, dt):
    """DoG's rule for one group of leaves (the whole tree, or one leaf for L-DoG):
    `(rbar, sum_sq, eta)` from the distance travelled and the gradients' norms."""
    gsq = tree_sum([_sq(g, dt) for g in g_leaves], dt)
    dnorm = jnp.sqrt(tree_sum([_sq(d, dt) for d in d_leaves], dt))
    rbar = jnp.maximum(rbar, dnorm)  # the displacement is 0 at the first step
    sum_sq = jnp.where(first, gsq + eps, sum_sq + gsq)
    safe = jnp.where(sum_sq > 0, sum_sq, 1)
    eta = jnp.where(sum_sq > 0, lr * rbar / jnp.sqrt(safe), 0)
    if init_eta is not None:
        eta = jnp.where(first, jnp.asarray(init_eta, dt), eta)
    # Norms that overflow (gradients of 1e30 in float32) make inf / inf: a zero
    # step then, not a NaN.
    eta = jnp.where(jnp.isfinite(eta), eta, 0)
    return rbar, sum_sq, eta.astype(dt)


def _dog(learning_rate, reps_rel, eps, weight_decay, init_eta, layerwise):
    name = "l_dog" if layerwise else "dog"
    # With init_eta the reference sets reps_rel to 0 (dog/dog.py L71-74).
    reps = 0.0 if init_eta is not None else reps_rel
    state_type = LDoGState if layerwise else DoGState

    def init_fn(params):
        reject_complex(params, name)
        dt = scalar_dtype(params)

        def per():  # distinct arrays, so that a donated step accepts the state
            if layerwise:
                return jax.tree.map(lambda _: jnp.zeros([], dt), params)
            return jnp.zeros([], dt)

        # The first distance r_eps (1 + |x0|), from the params given to init (the
        # reference takes |x0| at its first step, from the same params).
        def first_distance(leaves):
            return reps * (1 + jnp.sqrt(tree_sum([_sq(x, dt) for x in leaves], dt)))

        if layerwise:
            rbar = jax.tree.map(lambda x: first_distance([x]), params)
        else:
            rbar = first_distance(jax.tree.leaves(params))
        return state_type(
            jnp.zeros([], jnp.int32),
            rbar,
            per(),
            per(),
            jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(updates, state, params=None):
        _needs_params(params, name)
        check_like(updates, params, dtypes=False)
        check_like(updates, state.displacement)
        grads = _decayed(updates, params, weight_decay)
        leaves = jax.tree.leaves(state.rbar)
        dt = leaves[0].dtype if leaves else scalar_dtype(params)
        first = state.count == 0
        lr = evaluate(learning_rate, state.count).astype(dt)

        rule = functools.partial(
            _distance_rule, lr=lr, first=first, eps=eps, init_eta=init_eta, dt=dt
        )

        if layerwise:
            treedef = jax.tree.structure(params)
            out = jax.tree.map(
                lambda r, s, d, g: rule(r, s, [d], [g]),
                state.rbar,
                state.sum_sq,
                state.displacement,
                grads,
            )
            rbar, sum_sq, eta = (
                jax.tree.unflatten(treedef, [o[i] for o in treedef.flatten_up_to(out)])
                for i in range(3)
            )
            steps = jax.tree.map(lambda e, g: -(scalar_like(e, g) * g), eta, grads)
        else:
            rbar, sum_sq, eta = rule(
                state.rbar,
                state.sum_sq,
                jax.tree.leaves(state.displacement),
                jax.tree.leaves(grads),
            )
            steps = jax.tree.map(lambda g: -(scalar_like(eta, g) * g), grads)
        displacement = jax.tree.map(lambda d, u: d + u, state.displacement, steps)
        return steps, state_type(
            safe_increment(state.count), rbar, sum_sq, eta, displacement
        )

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def dog(
    learning_rate: ScalarOrSchedule = 1.0,
    *,
    reps_rel: float = 1e-6,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    init_eta: float | None = None,
) -> GradientTransformation:
    r"""DoG, distance over gradients: SGD whose step size is a distance over a norm.

    $$
    \bar r_n = \max\big(\bar r_{n-1}, \lVert x_n - x_0\rVert\big), \quad
    G_n = G_{n-1} + \lVert g_n\rVert^2, \quad
    \eta_n = c_n \frac{\bar r_n}{\sqrt{G_n}}, \quad
    x_{n+1} = x_n - \eta_n g_n,
    $$

    with $\bar r_0 = r_\epsilon(1 + \lVert x_0\rVert)$ and $G_0 = \lVert g_0\rVert^2 +
    \epsilon$; $c_n$ is `learning_rate` (the paper's $c$, 1 by default), norms are over
    the whole tree, and weight decay is coupled, $g \leftarrow g + \lambda x$, as in
    `dog-optimizer`. The displacement $x_n - x_0$ is accumulated from the updates and
    kept as the state in place of $x_0$ (the same memory): in float32 the distance stays
    accurate while the parameters have barely moved. A learning rate of 0 takes a zero
    step. `update` needs `params`, and `init` the actual parameters (it takes
    $\lVert x_0\rVert$ from them), as in optax.

    The authors recommend iterate averaging on top of DoG for the best results.

    optax.contrib's `dog(learning_rate, init_step=("heuristic", reps_rel), eps,
    weight_decay)` is the same rule (it keeps $x_0$ instead of the displacement);
    `init_step=("learning_rate", v)` is `init_eta=v`.

    Args:
      learning_rate: $c$, a number $\ge 0$ or a schedule; the authors advise 1.
      reps_rel: $r_\epsilon$, the first distance relative to $1 + \lVert x_0\rVert$
        (the authors suggest 1e-4 with batch normalisation).
      eps: $\epsilon \ge 0$, added to the first squared gradient norm.
      weight_decay: $\lambda \ge 0$, coupled (added to the gradient).
      init_eta: if given, the first step size, in place of the `reps_rel` rule.

    Returns:
      An optax `GradientTransformation` with a [`lrjax.DoGState`][];
        [`lrjax.current_learning_rate`][] reports $\eta_n$.

    Examples:
      >>> import jax, jax.numpy as jnp, optax, lrjax
      >>> f = lambda x: jnp.sum((x - 3.0) ** 2)
      >>> x = jnp.array([1.0, 2.0])
      >>> opt = lrjax.dog()
      >>> state = opt.init(x)
      >>> for _ in range(200):
      ...     u, state = opt.update(jax.grad(f)(x), state, x)
      ...     x = optax.apply_updates(x, u)
      >>> print(f"{float(f(x)):.4f}")
      0.0000

    References:
      Ivgi, Hinder & Carmon, DoG is SGD's Best Friend: A Parameter-Free Dynamic Step
      Size Schedule, 2023, https://arxiv.org/abs/2302.12022; the authors' package
      `dog-optimizer` (https://github.com/formll/dog), `dog/dog.py`.
    """
    _check_dog(learning_rate, reps_rel, eps, weight_decay, init_eta)
    return _dog(learning_rate, reps_rel, eps, weight_decay, init_eta, False)


def l_dog(
    learning_rate: ScalarOrSchedule = 1.0,
    *,
    reps_rel: float = 1e-6,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    init_eta: float | None = None,
) -> GradientTransformation:
    r"""L-DoG: the rule of [`lrjax.dog`][] applied to each leaf on its own.

    $$
    \eta_{n,\ell} = c_n \frac{\bar r_{n,\ell}}{\sqrt{G_{n,\ell}}}, \qquad
    x_{n+1,\ell} = x_{n,\ell} - \eta_{n,\ell}\, g_{n,\ell}
    $$

    for each leaf $\ell$ (a layer's tensor), as `dog-optimizer`'s `LDoG` does. There is
    one step size per leaf, so [`lrjax.current_learning_rate`][] refuses it: read
    `state.eta`, a tree of scalars.

    optax's `scale_by_distance_over_gradients` is layer-wise DoG too, but by default it
    returns $+\eta g$ (`global_scale=1`) and keeps $x_0$ in float32 (`param_dtype`):
    1.7e-3 from `LDoG` in float64. `optax.scale_by_distance_over_gradients(reps_rel,
    eps, param_dtype=<the params' dtype>, global_scale=-1.0)` is `lrjax.l_dog(reps_rel=
    reps_rel, eps=eps)` (a test checks it).

    Args:
      learning_rate: $c$, a number $\ge 0$ or a schedule.
      reps_rel: $r_\epsilon$, relative to $1 + \lVert x_{0,\ell}\rVert$.
      eps: $\epsilon \ge 0$, added to each leaf's first squared gradient norm.
      weight_decay: $\lambda \ge 0$, coupled.
      init_eta: if given, the first step size of every leaf.

    Returns:
      An optax `GradientTransformation` with a [`lrjax.LDoGState`][].

    Examples:
      >>> import jax, jax.numpy as jnp, optax, lrjax
      >>> f = lambda p: jnp.sum((p["w"] - 1.0) ** 2) + jnp.sum(p["b"] ** 2)
      >>> p = {"w": jnp.zeros(3), "b": jnp.ones(2)}
      >>> opt = lrjax.l_dog()
      >>> state = opt.init(p)
      >>> for _ in range(200):
      ...     u, state = opt.update(jax.grad(f)(p), state, p)
      ...     p = optax.apply_updates(p, u)
      >>> print(f"{float(f(p)):.4f}")
      0.0000

    References:
      Ivgi, Hinder & Carmon, DoG is SGD's Best Friend, 2023,
      https://arxiv.org/abs/2302.12022; `dog-optimizer`, `dog/dog.py` (`LDoG`).
    """
    _check_dog(learning_rate, reps_rel, eps, weight_decay, init_eta)
    return _dog(learning_rate, reps_rel, eps, weight_decay, init_eta, True)


@records_learning_rate("eta")
class DoWGState(NamedTuple):
    """State of [`lrjax.dowg`][].

    Attributes:
      count: updates so far (`int32`, saturating).
      rbar_sq: $\\bar r^2$, the largest squared distance from the start seen so far.
      weighted_sum: $v$, the running sum of $\\bar r^2\\lVert g\\rVert^2$.
      eta: the step size the last update applied (`current_learning_rate`).
      displacement: $x - x_0$, accumulated from the updates.
    """

    count: jax.Array
    rbar_sq: jax.Array
    weighted_sum: jax.Array
    eta: jax.Array
    displacement: Any


def dowg(
    learning_rate: ScalarOrSchedule = 1.0,
    *,
    eps: float = 1e-4,
    init_estim_sq_dist: float | None = None,
    weight_decay: float = 0.0,
) -> GradientTransformation:
    r"""DoWG, distance over weighted gradients.

    $$
    \bar r_n^2 = \max\big(\bar r_{n-1}^2, \lVert x_n - x_0\rVert^2\big), \quad
    v_n = v_{n-1} + \bar r_n^2 \lVert g_n\rVert^2, \quad
    \eta_n = c_n \frac{\bar r_n^2}{\sqrt{v_n} + \epsilon}, \quad
    x_{n+1} = x_n - \eta_n g_n,
    $$

    starting from $\bar r^2 = \epsilon$ (or `init_estim_sq_dist`) and $v = 0$, as the
    authors' `DoWG` (rka97/dowg) does; $c_n$ is `learning_rate`, which the authors'
    code does not have (1 reproduces it), and weight decay is coupled as in optax.
    The displacement is the state in place of $x_0$. `update` needs `params`.

    optax.contrib's `dowg(learning_rate, init_estim_sq_dist, eps, weight_decay)` is the
    same rule.

    Args:
      learning_rate: $c$, a number $\ge 0$ or a schedule.
      eps: $\epsilon > 0$: the first squared distance and the denominator's guard.
      init_estim_sq_dist: the first squared distance, in place of `eps`.
      weight_decay: $\lambda \ge 0$, coupled (added to the gradient).

    Returns:
      An optax `GradientTransformation` with a [`lrjax.DoWGState`][];
        [`lrjax.current_learning_rate`][] reports $\eta_n$.

    Examples:
      >>> import jax, jax.numpy as jnp, optax, lrjax
      >>> f = lambda x: jnp.sum((x - 3.0) ** 2)
      >>> x = jnp.array([1.0, 2.0])
      >>> opt = lrjax.dowg()
      >>> state = opt.init(x)
      >>> for _ in range(60):
      ...     u, state = opt.update(jax.grad(f)(x), state, x)
      ...     x = optax.apply_updates(x, u)
      >>> print(f"{float(f(x)):.4f}")
      0.0000

    References:
      Khaled, Mishchenko & Jin, DoWG Unleashed: An Efficient Universal Parameter-Free
      Gradient Descent Method, 2023, https://arxiv.org/abs/2305.16284; the authors'
      repository https://github.com/rka97/dowg, `dowg/dowg.py`.
    """
    validate.learning_rate("learning_rate", learning_rate)
    validate.positive("eps", eps)
    if init_estim_sq_dist is not None:
        validate.positive("init_estim_sq_dist", init_estim_sq_dist)
    validate.nonnegative("weight_decay", weight_decay)
    r0 = eps if init_estim_sq_dist is None else init_estim_sq_dist
    wd = weight_decay

    def init_fn(params):
        reject_complex(params, "dowg")
        dt = scalar_dtype(params)
        return DoWGState(
            jnp.zeros([], jnp.int32),
            jnp.asarray(r0, dt),
            jnp.zeros([], dt),
            jnp.zeros([], dt),
            jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(updates, state, params=None):
        _needs_params(params, "dowg")
        check_like(updates, params, dtypes=False)
        check_like(updates, state.displacement)
        grads = _decayed(updates, params, wd)
        dt = state.rbar_sq.dtype
        gsq = tree_sum([_sq(g, dt) for g in jax.tree.leaves(grads)], dt)
        dsq = tree_sum([_sq(d, dt) for d in jax.tree.leaves(state.displacement)], dt)
        rbar_sq = jnp.maximum(state.rbar_sq, dsq)
        v = state.weighted_sum + rbar_sq * gsq
        denom = jnp.sqrt(v) + eps
        scale = evaluate(learning_rate, state.count).astype(dt) * rbar_sq
        # (c r^2) g / (sqrt(v) + eps), in the reference's order of rounding.
        steps = jax.tree.map(
            lambda g: -((scalar_like(scale, g) * g) / scalar_like(denom, g)), grads
        )
        displacement = jax.tree.map(lambda d, u: d + u, state.displacement, steps)
        return steps, DoWGState(
            safe_increment(state.count), rbar_sq, v, scale / denom, displacement
        )

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))
