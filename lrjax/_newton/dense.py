"""Newton's method with a dense Hessian: the step size from the curvature.

`scale_by_newton` builds the Hessian with `jax.hessian` over the raveled parameters and
solves the damped system by a shifted Cholesky ladder, LU, or the saddle-free
eigendecomposition; `newton` chains it with [`lrjax.scale_by_learning_rate`][]. The
machinery both Newton transforms share is in `common.py`; `cg.py` holds the matrix-free
variant.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._learning_rate.scale import scale_by_learning_rate
from .._shared import validate
from .._shared.base import GradientTransformationExtraArgs, ScalarOrSchedule, chain
from .._shared.numerics import safe_increment
from .._shared.tree import canonical_inputs, refuse_complex
from .common import (
    assess_step,
    bind_loss,
    check_damping_options,
    compute_dtype,
    count_rejected,
    next_damping,
    ravel,
    restart_damping,
    scalar_loss,
    start_loss,
    step_back,
)

_SOLVERS = ("cholesky", "lu", "eigh")


class ScaleByNewtonState(NamedTuple):
    """State of [`lrjax.scale_by_newton`][].

    Attributes:
      count: number of updates so far (`int32`, saturating).
      damping: the damping $\\lambda$ the next update will add to the Hessian.
      shift: the diagonal shift $\\tau$ the Cholesky ladder added on the last
        update (0 when the damped Hessian was positive definite, or for other solvers).
      ratio: actual over predicted decrease of the loss for the last proposed step
        (`-inf` when the step or the loss at the trial point was not finite).
      step_norm: Euclidean norm of the last returned direction (0 if it was refused).
      num_rejected: number of refused steps so far (`int32`, saturating).
    """

    count: jax.Array
    damping: jax.Array
    shift: jax.Array
    ratio: jax.Array
    step_norm: jax.Array
    num_rejected: jax.Array


# Jitted at module level so that eager calls reuse one compiled ladder instead of
# recompiling its while loop on every update; under an outer jit it is inlined.
@functools.partial(jax.jit, static_argnames="max_shifts")
def _cholesky_with_shifts(
    a: jax.Array, g: jax.Array, shift: Any, max_shifts: int
) -> tuple[jax.Array, jax.Array]:
    """Solve `(a + tau I) d = g` with the smallest `tau` of a doubling ladder.

    Nocedal & Wright, Algorithm 3.3 (Cholesky with added multiple of the identity):
    `tau_0 = 0` if the factorisation succeeds, else `-min(a_ii) + beta` (or `beta`
    when the diagonal is positive), then `tau <- max(2 tau, beta)`, with
    `beta = shift * max|a_ii|`. A factorisation fails when it has NaNs (JAX's
    Cholesky reports failure that way), gives a non-finite solve, or has a pivot below
    `n eps` of the diagonal (numerically singular: the step would be huge).
    """
    n = a.shape[0]
    dtype = a.dtype
    eye = jnp.eye(n, dtype=dtype)
    diag = jnp.diagonal(a)
    scale = jnp.max(jnp.abs(diag))
    tiny = jnp.asarray(np.finfo(dtype).tiny, dtype)
    beta = jnp.asarray(shift, dtype) * jnp.maximum(scale, tiny)
    eps = jnp.asarray(n * np.finfo(dtype).eps, dtype)

    def attempt(tau):
        factor = jnp.linalg.cholesky(a + tau * eye)
        d = jax.scipy.linalg.cho_solve((factor, True), g)
        pivots = jnp.diagonal(factor)
        good = (
            jnp.all(jnp.isfinite(factor))
            & jnp.all(jnp.isfinite(d))
            & (jnp.min(pivots) ** 2 > eps * (scale + tau))
        )
        return good, d

    # One factorisation site inside the loop (the first pass tries tau = 0): a second
    # copy outside it would double the compile time.
    first = jnp.where(jnp.min(diag) > 0, beta, beta - jnp.min(diag))
    finite = jnp.all(jnp.isfinite(a))

    def cond(carry):
        k, _, good, _, _ = carry
        return ~good & (k <= max_shifts) & ((k == 0) | finite)

    def body(carry):
        k, tau, _, _, _ = carry
        good, d = attempt(tau)
        following = jnp.where(k == 0, first, jnp.maximum(2 * tau, beta))
        return k + 1, following, good, d, tau

    zero = jnp.zeros([], dtype)
    carry = (jnp.zeros([], jnp.int32), zero, jnp.zeros([], bool), jnp.zeros_like(g), zero)
    _, _, _, d, used = jax.lax.while_loop(cond, body, carry)
    return d, used


def _saddle_free(h: jax.Array, g: jax.Array, damping: jax.Array, floor: Any) -> jax.Array:
    """Solve `(|H|_floor + damping I) d = g` with `|H|` from the eigendecomposition."""
    dtype = h.dtype
    w, q = jnp.linalg.eigh(h)
    magnitude = jnp.abs(w)
    tiny = jnp.asarray(np.finfo(dtype).tiny, dtype)
    lower = jnp.maximum(jnp.asarray(floor, dtype) * jnp.max(magnitude), tiny)
    return q @ ((q.T @ g) / (jnp.maximum(magnitude, lower) + damping))


def scale_by_newton(
    damping: float = 0.0,
    *,
    solver: str = "cholesky",
    adaptive_damping: bool = False,
    damping_factor: float = 10.0,
    min_relative_damping: float = 1e-3,
    accept_ratio: float = 1e-4,
    shift: float = 1e-3,
    max_shifts: int = 64,
    eigenvalue_floor: float = 1e-8,
) -> GradientTransformationExtraArgs:
    r"""Newton's direction from the exact, dense Hessian of the loss.

    With $g$ the incoming updates (the gradient), $H = \nabla^2 f(x)$ built
    with `jax.hessian` over the raveled parameters, and damping $\lambda$,

    $$
    d = (B + \lambda I)^{-1} g, \qquad
    B = \begin{cases} H + \tau I & \text{cholesky: smallest } \tau \ge 0
          \text{ of a doubling ladder that factorises} \\
        H & \text{lu} \\
        Q \max(|\Lambda|, \epsilon \max|\Lambda|) Q^\top & \text{eigh (saddle-free)}
        \end{cases}
    $$

    returned in the params' tree structure and the updates' dtypes, with the sign of
    the gradient (`scale_by_*` convention; [`lrjax.newton`][] flips it). The loss comes
    as the keyword-only extra argument `value_fn` (a function of params), as optax's
    line searches receive it; further keywords that `value_fn`'s signature names are
    passed on to it (data batches), others are ignored.

    Every update evaluates the loss at the trial point $x - d$. The ratio

    $$
    \rho = \frac{f(x) - f(x - d)}{g^\top d - \tfrac12 d^\top H d}
    $$

    is kept in the state. A step is refused (the update is zero) when $d$ or
    $f(x - d)$ is not finite; then $\lambda$ is raised so the next call
    tries a shorter step. With `adaptive_damping` (Levenberg–Marquardt) a step is
    also refused unless $\rho$ > `accept_ratio`, and $\lambda$ is
    multiplied by `damping_factor` when $\rho < 1/4$, divided when
    $\rho > 3/4$. A refused step costs one call: the caller just keeps looping.
    With a `learning_rate` other than 1 the check still concerns the full step.

    Args:
      damping: $\lambda \ge 0$: the fixed damping, or the initial one.
      solver: `"cholesky"` (default; shifted until positive definite, so every
        direction is a descent direction), `"lu"` (plain Newton: converges to any
        stationary point, saddles included), or `"eigh"` (saddle-free Newton).
      adaptive_damping: adapt $\lambda$ from $\rho$ (Levenberg–Marquardt).
      damping_factor: the factor (> 1) by which $\lambda$ is raised or lowered.
      min_relative_damping: a raise starts from at least this times the curvature
        along the gradient, $|g^\top H g|/\|g\|^2$; a lowering below it gives 0.
      accept_ratio: with adaptive damping, the smallest $\rho$ accepted, in
        $[0, 1/4)$; any value keeps the loss from increasing.
      shift: the ladder's first shift relative to $\max_i |H_{ii}|$.
      max_shifts: the most rungs the Cholesky ladder tries per update.
      eigenvalue_floor: `eigh`: eigenvalue magnitudes below this fraction of the
        largest are raised to it.

    Returns:
      An optax `GradientTransformationExtraArgs` with a [`lrjax.ScaleByNewtonState`][].
        Its `update(updates, state, params, *, value_fn, value=None, grad=None,
        **data)` uses `value` (the loss at `params`) when given to save one
        evaluation; `grad` is accepted for optax's line searches and not used.

    Examples:
      One full step minimises a quadratic:

      >>> import jax, jax.numpy as jnp, lrjax
      >>> A = jnp.array([[3.0, 1.0], [1.0, 2.0]]); b = jnp.array([1.0, -1.0])
      >>> loss = lambda w: 0.5 * w @ A @ w - b @ w
      >>> tx = lrjax.scale_by_newton()
      >>> w = jnp.zeros(2); state = tx.init(w)
      >>> d, state = tx.update(jax.grad(loss)(w), state, w, value_fn=loss)
      >>> w = w - d
      >>> print(f"{float(w[0]):.4f} {float(w[1]):.4f}")
      0.6000 -0.8000

    References:
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithm 3.3 (Cholesky
      with added multiple of the identity) and Section 10.3 (Levenberg–Marquardt),
      https://doi.org/10.1007/978-0-387-40065-5.
      Dauphin et al., Identifying and attacking the saddle point problem in
      high-dimensional non-convex optimization, 2014, https://arxiv.org/abs/1406.2572.
      Interface: optax `scale_by_backtracking_linesearch` (`value_fn` extra args).
    """
    validate.choice("solver", solver, _SOLVERS)
    check_damping_options(damping, damping_factor, min_relative_damping, accept_ratio)
    validate.positive("shift", shift)
    max_shifts = validate.positive_int("max_shifts", max_shifts)
    validate.in_range("eigenvalue_floor", eigenvalue_floor, 0.0, 1.0, low_open=True)
    options = _Options(
        solver,
        bool(adaptive_damping),
        damping,
        damping_factor,
        min_relative_damping,
        accept_ratio,
        shift,
        max_shifts,
        eigenvalue_floor,
    )

    def init_fn(params: Any) -> ScaleByNewtonState:
        # The Hessian of a real loss in complex params is not a complex matrix (the
        # loss is not holomorphic): refused rather than silently wrong.
        refuse_complex(params, "scale_by_newton")
        dtype = compute_dtype(params)
        # A fresh buffer per field: one array held twice cannot be donated.
        zero = lambda: jnp.zeros([], dtype)  # noqa: E731
        count = lambda: jnp.zeros([], jnp.int32)  # noqa: E731
        damping0 = jnp.asarray(damping, dtype)
        return ScaleByNewtonState(count(), damping0, zero(), zero(), zero(), count())

    def update_fn(
        updates: Any,
        state: ScaleByNewtonState,
        params: Any = None,
        *,
        value_fn: Callable[..., Any],
        value: Any = None,
        grad: Any = None,
        **extra_args: Any,
    ) -> tuple[Any, ScaleByNewtonState]:
        del grad  # the incoming updates are the gradient, as for every scale_by_*
        f = bind_loss("scale_by_newton", updates, params, value_fn, extra_args)
        dtype = state.damping.dtype
        x, unravel_params = ravel(params, dtype)
        g, unravel_updates = ravel(updates, dtype)
        if x.shape[0] == 0:  # an empty (or fully masked) tree has nothing to solve
            return updates, state
        h = _hessian(f, x, unravel_params)
        d, tau = _solve(options, h, g, state.damping)
        step = (h, g, d, tau)
        d, new_state = _judge(options, f, params, value, state, step, unravel_params)
        return unravel_updates(d), new_state

    return GradientTransformationExtraArgs(*canonical_inputs(init_fn, update_fn))


# The steps of scale_by_newton's update, in the order it takes them.


class _Options(NamedTuple):
    """The hyperparameters of `scale_by_newton`, checked."""

    solver: str
    adaptive: bool
    damping: Any
    damping_factor: Any
    min_relative_damping: Any
    accept_ratio: Any
    shift: Any
    max_shifts: int
    eigenvalue_floor: Any


def _hessian(f: Callable[[Any], Any], x: jax.Array, unravel: Callable) -> jax.Array:
    """The Hessian of the loss at the raveled parameters `x`, symmetrised."""
    h = jax.hessian(lambda v: scalar_loss(f, unravel(v), x.dtype))(x)
    # jacfwd(jacrev) is symmetric only up to rounding; the solvers assume symmetry.
    return 0.5 * (h + h.T)


def _solve(
    options: _Options, h: jax.Array, g: jax.Array, lam: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """`(d, tau)`: the direction from the damped system and the Cholesky ladder's shift
    (0 for the other solvers)."""
    dtype = h.dtype
    eye = jnp.eye(h.shape[0], dtype=dtype)
    tau = jnp.zeros([], dtype)
    if options.solver == "cholesky":
        shift = jnp.asarray(options.shift, dtype)
        d, tau = _cholesky_with_shifts(
            h + lam * eye, g, shift, max_shifts=options.max_shifts
        )
    elif options.solver == "lu":
        d = jnp.linalg.solve(h + lam * eye, g)
    else:
        d = _saddle_free(h, g, lam, options.eigenvalue_floor)
    return d, tau


def _judge(
    options: _Options,
    f: Callable[[Any], Any],
    params: Any,
    value: Any,
    state: ScaleByNewtonState,
    step: tuple[jax.Array, jax.Array, jax.Array, jax.Array],
    unravel_params: Callable,
) -> tuple[jax.Array, ScaleByNewtonState]:
    """Keep or refuse the proposed step `d` (zero when refused), from the loss at the
    trial point, and the state with the damping of the next update.

    `step` is `(h, g, d, tau)`: the Hessian, the gradient, the direction and the
    ladder's shift, all raveled.
    """
    h, g, d, tau = step
    dtype = state.damping.dtype
    step_finite = jnp.all(jnp.isfinite(d))
    d = jnp.where(step_finite, d, 0)
    predicted = g @ d - 0.5 * d @ (h @ d)
    f0 = start_loss(f, params, value, dtype)
    f1 = scalar_loss(f, step_back(params, unravel_params(d)), dtype)
    step_sq = d @ d
    verdict = assess_step(
        f0,
        f1,
        predicted,
        step_sq,
        step_finite,
        adaptive=options.adaptive,
        accept_ratio=options.accept_ratio,
    )
    grad_sq = g @ g
    restart = restart_damping(g @ (h @ g), grad_sq, options.min_relative_damping)
    new_damping = next_damping(
        state.damping,
        verdict,
        restart,
        adaptive=options.adaptive,
        damping=options.damping,
        damping_factor=options.damping_factor,
    )
    d = jnp.where(verdict.accepted, d, 0)
    new_state = ScaleByNewtonState(
        count=safe_increment(state.count),
        damping=new_damping,
        shift=tau.astype(dtype),
        ratio=verdict.ratio,
        step_norm=jnp.where(verdict.accepted, jnp.sqrt(step_sq), 0).astype(dtype),
        num_rejected=count_rejected(state.num_rejected, verdict.accepted),
    )
    return d, new_state


def newton(
    learning_rate: ScalarOrSchedule = 1.0,
    damping: float = 0.0,
    *,
    solver: str = "cholesky",
    adaptive_damping: bool = False,
    damping_factor: float = 10.0,
    min_relative_damping: float = 1e-3,
    accept_ratio: float = 1e-4,
    shift: float = 1e-3,
    max_shifts: int = 64,
    eigenvalue_floor: float = 1e-8,
) -> GradientTransformationExtraArgs:
    r"""Newton's method: [`lrjax.scale_by_newton`][] then [`lrjax.scale_by_learning_rate`][].

    $$
    x_{k+1} = x_k - \eta(k)\,(B_k + \lambda_k I)^{-1} \nabla f(x_k)
    $$

    The learning rate is 1 for pure Newton; a line search after it
    (`optax.scale_by_backtracking_linesearch` or `optax.scale_by_zoom_linesearch`)
    scales the step further and keeps a step size of 1 where Newton's step is good.

    Args:
      learning_rate: $\eta$, a number or a schedule (default 1).
      damping: the damping $\lambda$ (fixed, or initial with
        `adaptive_damping=True`).
      solver: `"cholesky"` (default), `"lu"` or `"eigh"` (saddle-free), as in
        [`lrjax.scale_by_newton`][].
      adaptive_damping: adapt $\lambda$ from the ratio of actual to predicted
        decrease (Levenberg–Marquardt).
      damping_factor: the factor (> 1) by which $\lambda$ is raised or lowered.
      min_relative_damping: a raise starts from at least this times the curvature.
      accept_ratio: with adaptive damping, the smallest ratio accepted.
      shift: the Cholesky ladder's first shift, relative to $\max_i |H_{ii}|$.
      max_shifts: the most rungs the Cholesky ladder tries per update.
      eigenvalue_floor: `"eigh"`: eigenvalue magnitudes below this fraction of the
        largest are raised to it.

    Returns:
      An optax `GradientTransformationExtraArgs`; call `update` with
        `value_fn=loss` (and, for a line search, `value=` and `grad=`).

    Examples:
      A jitted step closes over the loss (a function cannot be a `jit` argument),
      and runs in Python or inside `jax.lax.while_loop`:

      >>> import jax, jax.numpy as jnp, optax, lrjax
      >>> A = jnp.array([[3.0, 1.0], [1.0, 2.0]]); b = jnp.array([1.0, -1.0])
      >>> def loss(w):
      ...     return 0.5 * w @ A @ w - b @ w + 0.25 * jnp.sum(w ** 4)
      >>> opt = lrjax.newton()
      >>> @jax.jit
      ... def step(w, state):
      ...     value, grad = jax.value_and_grad(loss)(w)
      ...     updates, state = opt.update(grad, state, w, value=value, value_fn=loss)
      ...     return optax.apply_updates(w, updates), state
      >>> w = jnp.zeros(2); state = opt.init(w)
      >>> for _ in range(8):
      ...     w, state = step(w, state)
      >>> print(f"{float(w[0]):.4f} {float(w[1]):.4f}")
      0.5005 -0.6270
      >>> def not_done(carry):
      ...     w, _, k = carry
      ...     return (jnp.linalg.norm(jax.grad(loss)(w)) > 1e-5) & (k < 50)
      >>> def body(carry):
      ...     w, state, k = carry
      ...     w, state = step(w, state)
      ...     return w, state, k + 1
      >>> w0 = jnp.zeros(2)
      >>> w, state, k = jax.jit(lambda w: jax.lax.while_loop(
      ...     not_done, body, (w, opt.init(w), 0)))(w0)
      >>> print(int(k), f"{float(loss(w)):.6f}")  # float32: |g| to 1e-5
      4 -0.618109

    References:
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Chapter 3.
    """
    validate.learning_rate("learning_rate", learning_rate)
    direction = scale_by_newton(
        damping,
        solver=solver,
        adaptive_damping=adaptive_damping,
        damping_factor=damping_factor,
        min_relative_damping=min_relative_damping,
        accept_ratio=accept_ratio,
        shift=shift,
        max_shifts=max_shifts,
        eigenvalue_floor=eigenvalue_floor,
    )
    return chain(direction, scale_by_learning_rate(learning_rate))
