"""Matrix-free Newton: Hessian-vector products and truncated conjugate gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

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
    leaf_compute_dtype,
    next_damping,
    restart_damping,
    scalar_loss,
    start_loss,
    step_back,
)

_FORCING = ("superlinear", "quadratic")

# Exit codes of the inner conjugate-gradient loop.
_RUNNING, _CONVERGED, _NEGATIVE_CURVATURE = 0, 1, 2


class ScaleByNewtonCGState(NamedTuple):
    """State of [`lrjax.scale_by_newton_cg`][].

    Attributes:
      count: number of updates so far (`int32`, saturating).
      damping: the damping $\\lambda$ the next update will add to the Hessian.
      ratio: actual over predicted decrease of the loss for the last proposed step
        (`-inf` when the step or the loss at the trial point was not finite).
      step_norm: Euclidean norm of the last returned direction (0 if it was refused).
      num_rejected: number of refused steps so far (`int32`, saturating).
      cg_iterations: conjugate-gradient iterations (Hessian-vector products) of the
        last update.
      negative_curvature: whether the last update's CG met a direction of
        non-positive curvature and stopped there.
    """

    count: jax.Array
    damping: jax.Array
    ratio: jax.Array
    step_norm: jax.Array
    num_rejected: jax.Array
    cg_iterations: jax.Array
    negative_curvature: jax.Array


def _vdot(a: Any, b: Any, dtype: jnp.dtype) -> jax.Array:
    """Euclidean inner product of two pytrees, accumulated in `dtype`."""
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b))
    parts = [jnp.vdot(x, y).astype(dtype) for x, y in pairs]
    return sum(parts, jnp.zeros([], dtype))


def _axpy(alpha: jax.Array, x: Any, y: Any) -> Any:
    """`alpha * x + y` leaf by leaf, `alpha` cast to each leaf's dtype."""
    return jax.tree.map(lambda a, b: jnp.asarray(alpha, a.dtype) * a + b, x, y)


class _CG(NamedTuple):
    iteration: jax.Array
    z: Any
    r: Any
    p: Any
    rr: jax.Array
    status: jax.Array
    first_curvature: jax.Array


def steihaug_cg(
    hvp: Callable[[Any], Any],
    g: Any,
    damping: jax.Array,
    tol: jax.Array,
    maxiter: int,
) -> tuple[Any, Any, jax.Array, jax.Array, jax.Array]:
    r"""Truncated CG on $(H + \lambda I) z = g$ with a negative-curvature exit.

    Nocedal & Wright, Algorithm 7.1 (line-search Newton-CG): stop when
    $\|r_j\| \le$ `tol`, after `maxiter` iterations, or at the first search
    direction $p_j$ with $p_j^\top (H + \lambda I) p_j \le 0$, returning
    the iterate reached so far (all of them are descent directions).

    Returns:
      `(z, r, iterations, status, first_curvature)` where `r = g - (H + λI) z` and
        `first_curvature` is $g^\top (H + \lambda I) g$.
    """
    dtype = damping.dtype
    rr0 = _vdot(g, g, dtype)
    start = _CG(
        iteration=jnp.zeros([], jnp.int32),
        z=jax.tree.map(jnp.zeros_like, g),
        r=g,
        p=g,
        rr=rr0,
        status=jnp.where(jnp.sqrt(rr0) <= tol, _CONVERGED, _RUNNING).astype(jnp.int32),
        first_curvature=jnp.zeros([], dtype),
    )

    def cond(s: _CG) -> jax.Array:
        return (s.status == _RUNNING) & (s.iteration < maxiter)

    def body(s: _CG) -> _CG:
        mp = _axpy(damping, s.p, hvp(s.p))
        curvature = _vdot(s.p, mp, dtype)
        # "not > 0" also stops on a NaN curvature.
        negative = ~(curvature > 0)
        alpha = s.rr / jnp.where(negative, 1, curvature)
        z = _axpy(alpha, s.p, s.z)
        r = _axpy(-alpha, mp, s.r)
        rr = _vdot(r, r, dtype)
        p = _axpy(rr / s.rr, s.p, r)
        keep = lambda old, new: jax.tree.map(  # noqa: E731
            lambda o, n: jnp.where(negative, o, n), old, new
        )
        converged = jnp.where(jnp.sqrt(rr) <= tol, _CONVERGED, _RUNNING)
        status = jnp.where(negative, _NEGATIVE_CURVATURE, converged).astype(jnp.int32)
        return _CG(
            iteration=s.iteration + 1,
            z=keep(s.z, z),
            r=keep(s.r, r),
            p=keep(s.p, p),
            rr=jnp.where(negative, s.rr, rr),
            status=status,
            first_curvature=jnp.where(s.iteration == 0, curvature, s.first_curvature),
        )

    out = jax.lax.while_loop(cond, body, start)
    return out.z, out.r, out.iteration, out.status, out.first_curvature


def scale_by_newton_cg(
    damping: float = 0.0,
    *,
    maxiter: int = 100,
    forcing: str | float = "superlinear",
    adaptive_damping: bool = False,
    damping_factor: float = 10.0,
    min_relative_damping: float = 1e-3,
    accept_ratio: float = 1e-4,
) -> GradientTransformationExtraArgs:
    r"""Matrix-free (truncated) Newton: conjugate gradients on Hessian-vector products.

    With $g$ the incoming updates (the gradient), solve approximately

    $$
    (H + \lambda I)\, d = g, \qquad H v = \frac{\partial}{\partial t}
                   \nabla f(x + t v)\Big|_{t=0}
    $$

    by conjugate gradients, each product $Hv$ forward-over-reverse on the params
    pytree (`jax.linearize` of `jax.grad`: one gradient's residuals, reused by every
    product). No Hessian is formed and nothing is raveled, so memory is $O(N)$.
    CG stops when $\|g - (H + \lambda I) d\| \le \eta_k \|g\|$ with the forcing
    term

    $$
    \eta_k = \min(0.5, \sqrt{\|g\|}) \ \text{(superlinear)}, \quad
                   \min(0.5, \|g\|) \ \text{(quadratic)}, \ \text{or a constant},
    $$

    after `maxiter` iterations, or at the first direction of non-positive curvature
    (Steihaug), returning the last iterate, or $g$ itself if that happens at once.
    The direction has the sign of the gradient ([`lrjax.newton_cg`][] flips it).

    The loss arrives as `value_fn` and every step is checked at the trial point
    $x - d$ exactly as in [`lrjax.scale_by_newton`][]: a non-finite step or loss is
    refused (zero update), and `adaptive_damping` runs Levenberg–Marquardt on the
    ratio of actual to predicted decrease, the prediction
    $g^\top d - \frac12 d^\top H d$ coming from CG's own residual at no extra
    product.

    Args:
      damping: $\lambda \ge 0$: the fixed damping, or the initial one.
      maxiter: the most CG iterations (Hessian-vector products) per update.
      forcing: `"superlinear"` (default, as SciPy's Newton-CG), `"quadratic"`, or a
        constant $\eta \in (0, 1)$.
      adaptive_damping: adapt $\lambda$ from the ratio (Levenberg–Marquardt).
      damping_factor: the factor (> 1) by which $\lambda$ is raised or lowered.
      min_relative_damping: a raise starts from at least this times the curvature
        along the gradient; a lowering below it gives 0.
      accept_ratio: with adaptive damping, the smallest ratio accepted, in
        $[0, 1/4)$.

    Returns:
      An optax `GradientTransformationExtraArgs` with a
        [`lrjax.ScaleByNewtonCGState`][]; `update` takes `value_fn=` (and optionally
        `value=`, `grad=` and data keywords) like [`lrjax.scale_by_newton`][].

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> A = jnp.array([[3.0, 1.0], [1.0, 2.0]]); b = jnp.array([1.0, -1.0])
      >>> loss = lambda w: 0.5 * w @ A @ w - b @ w
      >>> tx = lrjax.scale_by_newton_cg(forcing=1e-6)
      >>> w = jnp.zeros(2); state = tx.init(w)
      >>> d, state = tx.update(jax.grad(loss)(w), state, w, value_fn=loss)
      >>> w = w - d
      >>> print(f"{float(w[0]):.4f} {float(w[1]):.4f}", int(state.cg_iterations))
      0.6000 -0.8000 2

    References:
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithm 7.1 and
      Section 7.1 (forcing sequences), https://doi.org/10.1007/978-0-387-40065-5.
      Steihaug, The conjugate gradient method and trust regions in large scale
      optimization, 1983, https://doi.org/10.1137/0720042.
      Pearlmutter, Fast exact multiplication by the Hessian, 1994. SciPy
      `minimize(method="Newton-CG")`.
    """
    check_damping_options(damping, damping_factor, min_relative_damping, accept_ratio)
    maxiter = validate.positive_int("maxiter", maxiter)
    if isinstance(forcing, str):
        validate.choice("forcing", forcing, _FORCING)
    else:
        validate.in_range("forcing", forcing, 0.0, 1.0, low_open=True, high_open=True)
    options = _Options(
        maxiter,
        forcing,
        bool(adaptive_damping),
        damping,
        damping_factor,
        min_relative_damping,
        accept_ratio,
    )

    def init_fn(params: Any) -> ScaleByNewtonCGState:
        # The Hessian of a real loss in complex params is not a complex matrix (the
        # loss is not holomorphic): refused rather than silently wrong.
        refuse_complex(params, "scale_by_newton_cg")
        dtype = compute_dtype(params)
        # A fresh buffer per field: one array held twice cannot be donated.
        zero = lambda: jnp.zeros([], dtype)  # noqa: E731
        count = lambda: jnp.zeros([], jnp.int32)  # noqa: E731
        return ScaleByNewtonCGState(
            count(),
            jnp.asarray(damping, dtype),
            zero(),
            zero(),
            count(),
            count(),
            jnp.zeros([], bool),
        )

    def update_fn(
        updates: Any,
        state: ScaleByNewtonCGState,
        params: Any = None,
        *,
        value_fn: Callable[..., Any],
        value: Any = None,
        grad: Any = None,
        **extra_args: Any,
    ) -> tuple[Any, ScaleByNewtonCGState]:
        del grad  # the incoming updates are the gradient, as for every scale_by_*
        f = bind_loss("scale_by_newton_cg", updates, params, value_fn, extra_args)
        dtype = state.damping.dtype
        hvp = _hessian_vector_product(f, params, dtype)
        g = jax.tree.map(lambda u: u.astype(leaf_compute_dtype(u)), updates)
        grad_sq = _vdot(g, g, dtype)
        grad_norm = jnp.sqrt(grad_sq)
        lam = state.damping
        cg = steihaug_cg(
            hvp,
            g,
            lam,
            _forcing_term(options.forcing, grad_norm) * grad_norm,
            options.maxiter,
        )
        step = _step_and_model(g, grad_sq, lam, cg)
        return _judge(options, f, params, value, updates, state, step, cg)

    return GradientTransformationExtraArgs(*canonical_inputs(init_fn, update_fn))


# The steps of scale_by_newton_cg's update, in the order it takes them.


class _Options(NamedTuple):
    """The hyperparameters of `scale_by_newton_cg`, checked."""

    maxiter: int
    forcing: str | float
    adaptive: bool
    damping: Any
    damping_factor: Any
    min_relative_damping: Any
    accept_ratio: Any


def _hessian_vector_product(
    f: Callable[[Any], Any], params: Any, dtype: jnp.dtype
) -> Callable[[Any], Any]:
    """`v -> H v` at `params`, in the dtypes of `v`'s leaves."""
    # One linearisation of the gradient; each CG product reuses its residuals.
    _, hvp_params = jax.linearize(jax.grad(lambda q: scalar_loss(f, q, dtype)), params)

    def hvp(v: Any) -> Any:
        tangent = jax.tree.map(lambda t, p: t.astype(jnp.result_type(p)), v, params)
        out = hvp_params(tangent)
        return jax.tree.map(lambda o, t: o.astype(t.dtype), out, v)

    return hvp


def _forcing_term(forcing: str | float, grad_norm: jax.Array) -> jax.Array:
    """The relative tolerance $\\eta_k$ of the CG solve."""
    half = jnp.asarray(0.5, grad_norm.dtype)
    if forcing == "superlinear":
        return jnp.minimum(half, jnp.sqrt(grad_norm))
    if forcing == "quadratic":
        return jnp.minimum(half, grad_norm)
    return jnp.asarray(forcing, grad_norm.dtype)


class _Step(NamedTuple):
    """A proposed step: the direction, its squared norm, whether it is finite, the
    decrease the quadratic model predicts, and the gradient's squared norm and
    curvature $g^\\top H g$ (for the damping's restart value)."""

    d: Any
    step_sq: jax.Array
    finite: jax.Array
    predicted: jax.Array
    grad_sq: jax.Array
    g_hg: jax.Array


def _step_and_model(g: Any, grad_sq: jax.Array, lam: jax.Array, cg: tuple) -> _Step:
    """The direction from the CG result, and the model's predicted decrease along it."""
    z, r, iterations, status, first_curvature = cg
    dtype = lam.dtype
    # Non-positive curvature along g itself: fall back to the gradient.
    at_once = (status == _NEGATIVE_CURVATURE) & (iterations == 1)
    d = jax.tree.map(lambda zi, gi: jnp.where(at_once, gi, zi), z, g)
    step_sq = _vdot(d, d, dtype)
    step_finite = jnp.isfinite(step_sq)
    d = jax.tree.map(lambda x: jnp.where(step_finite, x, 0), d)
    # Model decrease g·d - ½ d·H d. For a CG iterate, (H + λI) z = g - r, so
    # z·H z = z·(g - r) - λ z·z; along g, g·H g = first_curvature - λ g·g.
    g_d = _vdot(g, d, dtype)
    z_hz = _vdot(z, jax.tree.map(jnp.subtract, g, r), dtype) - lam * _vdot(z, z, dtype)
    g_hg = first_curvature - lam * grad_sq
    predicted = jnp.where(at_once, grad_sq - 0.5 * g_hg, g_d - 0.5 * z_hz)
    predicted = jnp.where(step_finite, predicted, 0)
    return _Step(d, step_sq, step_finite, predicted, grad_sq, g_hg)


def _judge(
    options: _Options,
    f: Callable[[Any], Any],
    params: Any,
    value: Any,
    updates: Any,
    state: ScaleByNewtonCGState,
    step: _Step,
    cg: tuple,
) -> tuple[Any, ScaleByNewtonCGState]:
    """Keep or refuse the proposed step (zero when refused, in the updates' dtypes),
    from the loss at the trial point, and the state with the next update's damping."""
    dtype = state.damping.dtype
    f0 = start_loss(f, params, value, dtype)
    f1 = scalar_loss(f, step_back(params, step.d), dtype)
    verdict = assess_step(
        f0,
        f1,
        step.predicted,
        step.step_sq,
        step.finite,
        adaptive=options.adaptive,
        accept_ratio=options.accept_ratio,
    )
    restart = restart_damping(step.g_hg, step.grad_sq, options.min_relative_damping)
    new_damping = next_damping(
        state.damping,
        verdict,
        restart,
        adaptive=options.adaptive,
        damping=options.damping,
        damping_factor=options.damping_factor,
    )
    out = jax.tree.map(
        lambda x, u: jnp.where(verdict.accepted, x, 0).astype(jnp.result_type(u)),
        step.d,
        updates,
    )
    _, _, iterations, status, _ = cg
    new_state = ScaleByNewtonCGState(
        count=safe_increment(state.count),
        damping=new_damping,
        ratio=verdict.ratio,
        step_norm=jnp.where(verdict.accepted, jnp.sqrt(step.step_sq), 0).astype(dtype),
        num_rejected=count_rejected(state.num_rejected, verdict.accepted),
        cg_iterations=iterations.astype(jnp.int32),
        negative_curvature=status == _NEGATIVE_CURVATURE,
    )
    return out, new_state


def newton_cg(
    learning_rate: ScalarOrSchedule = 1.0,
    damping: float = 0.0,
    *,
    maxiter: int = 100,
    forcing: str | float = "superlinear",
    adaptive_damping: bool = False,
    damping_factor: float = 10.0,
    min_relative_damping: float = 1e-3,
    accept_ratio: float = 1e-4,
) -> GradientTransformationExtraArgs:
    r"""Newton-CG: [`lrjax.scale_by_newton_cg`][] then [`lrjax.scale_by_learning_rate`][].

    $$
    x_{k+1} = x_k - \eta(k)\, d_k, \qquad
                   (H_k + \lambda_k I)\, d_k \approx \nabla f(x_k) \ \text{by truncated CG}
    $$

    Args:
      learning_rate: $\eta$, a number or a schedule (default 1).
      damping: the damping $\lambda$ (fixed, or initial).
      maxiter: the most CG iterations per update.
      forcing: the CG forcing term, see [`lrjax.scale_by_newton_cg`][].
      adaptive_damping: Levenberg–Marquardt damping from the ratio.
      damping_factor: the factor by which the damping is raised or lowered.
      min_relative_damping: the smallest non-zero damping, relative to the curvature.
      accept_ratio: with adaptive damping, the smallest ratio accepted.

    Returns:
      An optax `GradientTransformationExtraArgs`; call `update` with
        `value_fn=loss`.

    Examples:
      With a backtracking line search, the loss and gradient it stores are reused by
      `optax.value_and_grad_from_state`:

      >>> import jax, jax.numpy as jnp, optax, lrjax
      >>> def loss(w):
      ...     return jnp.sum(jnp.log(jnp.cosh(w - 1.0))) + 0.5 * jnp.sum(w ** 2) ** 2
      >>> opt = optax.chain(
      ...     lrjax.newton_cg(),
      ...     optax.scale_by_backtracking_linesearch(
      ...         max_backtracking_steps=30, store_grad=True))
      >>> value_and_grad = optax.value_and_grad_from_state(loss)
      >>> @jax.jit
      ... def step(w, state):
      ...     value, grad = value_and_grad(w, state=state)
      ...     updates, state = opt.update(
      ...         grad, state, w, value=value, grad=grad, value_fn=loss)
      ...     return optax.apply_updates(w, updates), state
      >>> w = jnp.full(3, 2.0); state = opt.init(w)
      >>> for _ in range(10):
      ...     w, state = step(w, state)
      >>> # float32 (x64 off): the line search stops where the loss stops resolving
      >>> print(f"{float(w[0]):.4f}", bool(jnp.linalg.norm(jax.grad(loss)(w)) < 1e-3))
      0.4393 True

    References:
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Chapter 7.
    """
    validate.learning_rate("learning_rate", learning_rate)
    return chain(
        scale_by_newton_cg(
            damping,
            maxiter=maxiter,
            forcing=forcing,
            adaptive_damping=adaptive_damping,
            damping_factor=damping_factor,
            min_relative_damping=min_relative_damping,
            accept_ratio=accept_ratio,
        ),
        scale_by_learning_rate(learning_rate),
    )
