"""Newton's method, dense and matrix-free (lrjax/_newton/dense.py, lrjax/_newton/cg.py).

The tests marked ``X64`` run in float64 (``@pytest.mark.x64``): they compare iterates
with NumPy and SciPy float64 solutions at 1e-8 to 1e-12 and count the iterations of
quadratic convergence to a gradient norm of 1e-8, which float32 cannot resolve. The
others run in JAX's default float32 mode. To keep compilations few, every 2-D problem
(Rosenbrock, the indefinite x² − y² + y⁴/4, the singular 0.5·(w₀ + w₁ − 1)²) is one
loss family whose coefficients are data keywords, so one compiled run per optimizer
configuration serves them all; likewise the two logistic-regression problems.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import references_newton as ref

import lrjax

# Float64 comparisons against NumPy/SciPy at tolerances below float32's eps (1.2e-7).
X64 = pytest.mark.x64

# ----------------------------------------------------------------------------------
# Problems
# ----------------------------------------------------------------------------------


def family2d(w, coef, wall, wall_value):
    """c₀(x − c₁)² + c₂(y − c₃x²)² + c₄(x + y − c₅)² + c₆y² + c₇y⁴, and a wall.

    Beyond ``x > wall`` the loss is ``wall_value`` (NaN or inf): the trial-point test.
    """
    x, y = w[0], w[1]
    f = (
        coef[0] * (x - coef[1]) ** 2
        + coef[2] * (y - coef[3] * x**2) ** 2
        + coef[4] * (x + y - coef[5]) ** 2
        + coef[6] * y**2
        + coef[7] * y**4
    )
    return jnp.where(x > wall, wall_value, f)


def _coef(*values):
    # NumPy: the module is imported with x64 off; the float64 tests turn it on.
    return np.asarray(values, np.float64)


ROSENBROCK = dict(coef=_coef(1, 1, 100, 1, 0, 0, 0, 0))
INDEFINITE = dict(coef=_coef(1, 0, 0, 0, 0, 0, -1, 0.25))  # x² − y² + y⁴/4
SINGULAR = dict(coef=_coef(0, 0, 0, 0, 0.5, 1, 0, 0))  # 0.5·(x + y − 1)²
NO_WALL = dict(wall=jnp.inf, wall_value=jnp.nan)


def rosenbrock_np(w):
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


def rosenbrock_grad_np(w):
    x, y = w
    return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])


def rosenbrock_hess_np(w):
    x, y = w
    return np.array([[2 - 400 * y + 1200 * x**2, -400 * x], [-400 * x, 200.0]])


def logistic(w, X, y, l2):
    """Mean logistic loss with an L2 penalty ``l2/2·‖w‖²`` (0: unregularised)."""
    return jnp.mean(jnp.logaddexp(0.0, -y * (X @ w))) + 0.5 * l2 * (w @ w)


@functools.cache
def logistic_data():
    """2000×50 with noisy labels (L2 1e-3), and the same X with separable labels."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 50))
    w_true = rng.standard_normal(50)
    noisy = np.where(rng.random(2000) < 1 / (1 + np.exp(-X @ w_true)), 1.0, -1.0)
    separable = np.sign(X @ w_true)
    # NumPy float64, cached across tests: jit reads them as float64 in the x64 tests
    # and as float32 in the others.
    l2 = dict(X=X, y=noisy, l2=np.float64(1e-3))
    sep = dict(X=X, y=separable, l2=np.float64(0.0))
    return l2, sep


# ----------------------------------------------------------------------------------
# A compiled run: lax.scan over steps, one compilation per optimizer and loss
# ----------------------------------------------------------------------------------


def make_run(opt, loss, steps, linesearch=False):
    """``run(x0, **data) -> (x_final, (xs, values, grads, updates, states))``.

    The step closes over the loss, as the docs prescribe; with a line search the loss
    and gradient come from ``optax.value_and_grad_from_state``.
    """
    value_and_grad = optax.value_and_grad_from_state(loss) if linesearch else None

    @jax.jit
    def run(x0, **data):
        def body(carry, _):
            x, state = carry
            if linesearch:
                value, grad = value_and_grad(x, state=state, **data)
            else:
                value, grad = jax.value_and_grad(loss)(x, **data)
            u, state = opt.update(
                grad, state, x, value=value, grad=grad, value_fn=loss, **data
            )
            return (optax.apply_updates(x, u), state), (x, value, grad, u, state)

        (x, _), history = jax.lax.scan(body, (x0, opt.init(x0)), length=steps)
        return x, history

    return run


def _bt():
    return optax.scale_by_backtracking_linesearch(
        max_backtracking_steps=30, store_grad=True
    )


def _zoom():
    # "one": try the full Newton step first (optax's default "keep" would reuse the
    # last, possibly shortened, step size for ever).
    return optax.scale_by_zoom_linesearch(
        max_linesearch_steps=30, initial_guess_strategy="one"
    )


CONFIGS_2D = {
    "cholesky": (lambda: lrjax.newton(), False),
    "eigh": (lambda: lrjax.newton(solver="eigh"), False),
    "lu": (lambda: lrjax.newton(solver="lu"), False),
    "cholesky_lm": (lambda: lrjax.newton(adaptive_damping=True), False),
    "eigh_lm": (lambda: lrjax.newton(solver="eigh", adaptive_damping=True), False),
    "cg": (lambda: lrjax.newton_cg(), False),
    "cg_lm": (lambda: lrjax.newton_cg(adaptive_damping=True), False),
    "cholesky_backtracking": (lambda: optax.chain(lrjax.newton(), _bt()), True),
    "cg_zoom": (lambda: optax.chain(lrjax.newton_cg(), _zoom()), True),
}
STEPS_2D = 120


@functools.cache
def run_2d(config):
    make, linesearch = CONFIGS_2D[config]
    return make_run(make(), family2d, STEPS_2D, linesearch)


def solve_2d(config, problem, x0, **wall):
    data = dict(NO_WALL, **problem, **wall)
    x, (xs, values, grads, updates, states) = run_2d(config)(jnp.asarray(x0), **data)
    final_grad = jax.grad(family2d)(x, **data)
    xs = np.concatenate([np.asarray(xs), np.asarray(x)[None]])
    gnorm = np.concatenate(
        [np.linalg.norm(np.asarray(grads), axis=1), [np.linalg.norm(final_grad)]]
    )
    values = np.concatenate([np.asarray(values), [float(family2d(x, **data))]])
    return xs, values, gnorm, np.asarray(grads), np.asarray(updates), states


def iterations_to(gnorm, tol=1e-8):
    hits = np.flatnonzero(gnorm < tol)
    return int(hits[0]) if hits.size else None


def _newton_state(states):
    """The scale_by_newton / scale_by_newton_cg state inside a (chained) alias state."""
    kinds = (lrjax.ScaleByNewtonState, lrjax.ScaleByNewtonCGState)
    for leaf in jax.tree.leaves(states, is_leaf=lambda s: isinstance(s, kinds)):
        if isinstance(leaf, kinds):
            return leaf
    raise AssertionError("no Newton state")


# ----------------------------------------------------------------------------------
# Against the NumPy transcriptions
# ----------------------------------------------------------------------------------


def quadratic(x, h, b):
    return 0.5 * x @ h @ x - b @ x


@functools.cache
def one_step(kind):
    """One jitted update on ``quadratic`` (h and b routed as data keywords)."""
    tx = {
        "cholesky": lrjax.scale_by_newton(),
        "lu": lrjax.scale_by_newton(solver="lu"),
        "eigh": lrjax.scale_by_newton(solver="eigh"),
        "cg": lrjax.scale_by_newton_cg(forcing=0.1, maxiter=6),
        "cg_exact": lrjax.scale_by_newton_cg(forcing=1e-13, maxiter=200),
    }[kind]

    @jax.jit
    def step(x, g, h, b, damping):
        state = tx.init(x)._replace(damping=damping)
        return tx.update(g, state, x, value_fn=quadratic, h=h, b=b)

    return step


def _matrix(rng, eigenvalues):
    q, _ = np.linalg.qr(rng.standard_normal((len(eigenvalues), len(eigenvalues))))
    return q @ np.diag(eigenvalues) @ q.T


def _matrices():
    rng = np.random.default_rng(3)
    n = 12
    yield "spd", _matrix(rng, np.geomspace(1, 1e3, n))
    yield "indefinite", _matrix(rng, np.r_[-2.0, -0.3, np.geomspace(0.5, 50, n - 2)])
    yield "singular", _matrix(rng, np.r_[0.0, 0.0, np.geomspace(1, 10, n - 2)])


@X64
@pytest.mark.parametrize("solver", ["cholesky", "lu", "eigh"])
def test_dense_direction_matches_numpy(solver):
    rng = np.random.default_rng(4)
    for name, h in _matrices():
        if solver == "lu" and name == "singular":
            continue  # plain LU of a singular H is ±inf/NaN: the step is refused
        for damping in (0.0, 0.7):
            g = rng.standard_normal(h.shape[0])
            x = rng.standard_normal(h.shape[0])
            b = h @ x - g  # so that g is the gradient at x
            d, state = one_step(solver)(x, g, h, b, jnp.asarray(damping))
            d_ref, tau_ref = ref.newton_direction(h, g, damping, solver)
            # A backward-stable solve: relative error ≲ cond·eps; cond ≤ 1e3 here, except
            # the shifted singular and indefinite systems (cond ≤ ~1e5 after the shift).
            np.testing.assert_allclose(d, d_ref, rtol=1e-9, atol=1e-9 * np.abs(d_ref).max())
            np.testing.assert_allclose(float(state.shift), tau_ref, rtol=1e-12)
            # Every Cholesky and saddle-free direction is a descent direction.
            if solver != "lu":
                assert float(g @ d) > 0


@X64
def test_truncated_cg_matches_numpy():
    rng = np.random.default_rng(5)
    for _name, h in _matrices():
        for damping in (0.0, 0.5):
            g = rng.standard_normal(h.shape[0])
            x = rng.standard_normal(h.shape[0])
            b = h @ x - g
            d, state = one_step("cg")(x, g, h, b, jnp.asarray(damping))
            # forcing=0.1: CG stops at ‖r‖ ≤ 0.1·‖g‖, or after maxiter=6.
            tol = 0.1 * np.linalg.norm(g)
            d_ref, iters, negative = ref.steihaug_cg(h, g, damping, tol, 6)
            # A handful of CG iterations on cond ≤ 1e3: rounding differences only.
            np.testing.assert_allclose(d, d_ref, rtol=1e-10, atol=1e-12)
            assert int(state.cg_iterations) == iters
            assert bool(state.negative_curvature) == negative
            assert float(g @ d) > 0  # the CG iterates are descent directions


@X64
def test_adaptive_damping_matches_numpy_levenberg_marquardt():
    xs, _, _, _, _, states = solve_2d("cholesky_lm", ROSENBROCK, [-1.2, 1.0])
    steps = 30
    xs_ref, lams_ref = ref.levenberg_marquardt_newton(
        rosenbrock_np, rosenbrock_grad_np, rosenbrock_hess_np, [-1.2, 1.0], steps
    )
    damping = np.asarray(_newton_state(states).damping)[:steps]
    # The same decisions at every step; values to rounding (the ratio tests are far
    # from their thresholds on this path).
    np.testing.assert_allclose(xs[: steps + 1], xs_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(damping, lams_ref[1:], rtol=1e-9, atol=1e-300)
    assert np.any(damping > 0) and np.any(_newton_state(states).num_rejected > 0)


# ----------------------------------------------------------------------------------
# The problems
# ----------------------------------------------------------------------------------


def _ill_conditioned_quadratic():
    rng = np.random.default_rng(6)
    h = _matrix(rng, np.geomspace(1, 1e3, 20))  # condition number 1e3
    b = rng.standard_normal(20)
    x0 = rng.standard_normal(20)
    return h, b, x0, np.linalg.solve(h, b)


@X64
@pytest.mark.parametrize("kind", ["cholesky", "lu", "eigh", "cg_exact"])
def test_quadratic_one_full_step_lands_on_the_minimum(kind):
    h, b, x0, x_star = _ill_conditioned_quadratic()
    g = h @ x0 - b
    d, _ = one_step(kind)(x0, g, h, b, jnp.asarray(0.0))
    x1 = x0 - np.asarray(d)
    # Backward-stable solve of cond-1e3 system in float64: ~1e3·1e-16 ≪ 1e-10.
    assert np.linalg.norm(x1 - x_star) <= 1e-10 * np.linalg.norm(x_star)


@X64
@pytest.mark.parametrize("linesearch", [_bt, _zoom], ids=["backtracking", "zoom"])
def test_quadratic_with_line_search_keeps_step_size_one(linesearch):
    h, b, x0, x_star = _ill_conditioned_quadratic()
    opt = optax.chain(lrjax.newton(), linesearch())
    x, (_, _, _, _, states) = make_run(opt, quadratic, 1, linesearch=True)(
        jnp.asarray(x0), h=jnp.asarray(h), b=jnp.asarray(b)
    )
    assert float(states[1].learning_rate[0]) == 1.0
    assert np.linalg.norm(np.asarray(x) - x_star) <= 1e-10 * np.linalg.norm(x_star)


@functools.cache
def run_logistic(kind):
    opt = lrjax.newton() if kind == "newton" else lrjax.newton_cg()
    return make_run(opt, logistic, 12)


@X64
def test_logistic_regression_converges_quadratically_to_scipy_solution():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    data, _ = logistic_data()
    x, (_, _, grads, _, _) = run_logistic("newton")(jnp.zeros(50), **data)
    gnorm = np.r_[np.linalg.norm(np.asarray(grads), axis=1)]
    k = iterations_to(gnorm)
    assert k is not None and k <= 8, gnorm
    # Quadratic rate: q_j = ‖g_{j+1}‖/‖g_j‖² settles to a constant (≈27 here) over the
    # last steps instead of growing like ‖g_j‖⁻¹ (a linear rate); allow a factor 2.
    q = gnorm[1 : k + 1] / gnorm[:k] ** 2
    assert np.all(q[-3:] <= 2 * q[-3]), q
    assert gnorm[k] / gnorm[k - 1] < 1e-3
    fun = jax.jit(lambda w: logistic(w, **data))
    res = scipy_optimize.minimize(
        lambda w: float(fun(w)),
        np.zeros(50),
        jac=jax.jit(jax.grad(lambda w: logistic(w, **data))),
        hess=jax.jit(jax.hessian(lambda w: logistic(w, **data))),
        method="trust-exact",
        options={"gtol": 1e-10},
    )
    # Both solutions have ‖g‖ ≤ 1e-8 and the Hessian's smallest eigenvalue is ≥ 1e-3,
    # so each lies within 1e-5 of the minimiser in the worst case; measured 1.3e-9.
    np.testing.assert_allclose(np.asarray(x), res.x, atol=1e-7, rtol=0)


@X64
def test_logistic_regression_newton_cg():
    data, _ = logistic_data()
    _, (_, _, grads, _, states) = run_logistic("cg")(jnp.zeros(50), **data)
    gnorm = np.linalg.norm(np.asarray(grads), axis=1)
    k = iterations_to(gnorm)
    assert k is not None and k <= 9, gnorm
    # Never more products than the dimension, never a negative-curvature exit (convex).
    assert np.all(np.asarray(states[0].cg_iterations) <= 50)
    assert not np.any(np.asarray(states[0].negative_curvature))


@X64
def test_rosenbrock_iteration_counts_beside_scipy(record_property):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    counts = {}
    for config in ("cholesky", "cholesky_backtracking", "cg", "cg_zoom", "cholesky_lm"):
        xs, _, gnorm, _, _, _ = solve_2d(config, ROSENBROCK, [-1.2, 1.0])
        counts[config] = iterations_to(gnorm)
        assert counts[config] is not None, config
        np.testing.assert_allclose(xs[-1], [1.0, 1.0], atol=1e-8)
    scipy_runs = (("trust-exact", {"gtol": 1e-8}), ("Newton-CG", {"xtol": 1e-12}))
    for method, options in scipy_runs:
        res = scipy_optimize.minimize(
            rosenbrock_np,
            [-1.2, 1.0],
            jac=rosenbrock_grad_np,
            hess=rosenbrock_hess_np,
            method=method,
            options=options,
        )
        counts["scipy " + method] = res.nit
    record_property("rosenbrock_iterations", counts)
    # Pure Newton needs 6 (REFERENCES.md); the safeguarded variants are not slower than
    # SciPy's own trust-region and Newton-CG.
    assert counts["cholesky"] == 6
    assert counts["cholesky_backtracking"] <= counts["scipy trust-exact"]
    assert counts["cg"] <= counts["scipy Newton-CG"]


INDEFINITE_CONFIGS = [c for c in CONFIGS_2D if c != "lu"]


@X64
@pytest.mark.parametrize("config", INDEFINITE_CONFIGS)
def test_indefinite_reaches_the_minimum_not_the_saddle(config):
    xs, values, gnorm, grads, updates, _ = solve_2d(config, INDEFINITE, [1.0, 0.1])
    np.testing.assert_allclose(values[-1], -1.0, atol=1e-12)
    np.testing.assert_allclose(np.abs(xs[-1]), [0.0, np.sqrt(2.0)], atol=1e-8)
    # Every update moves downhill: u·g < 0 whenever u ≠ 0 (and u = 0 only for a refused
    # step or at the minimum).
    slope = np.sum(updates * grads, axis=1)
    moving = np.any(updates != 0, axis=1) & (np.linalg.norm(grads, axis=1) > 0)
    assert np.all(slope[moving] < 0), slope[moving]
    assert np.all(slope <= 0)


@X64
def test_plain_lu_goes_to_the_saddle():
    # The failure mode the other solvers exist for: plain Newton finds a stationary point.
    xs, values, _, _, _, _ = solve_2d("lu", INDEFINITE, [1.0, 0.1])
    np.testing.assert_allclose(xs[-1], [0.0, 0.0], atol=1e-8)
    assert values[-1] == pytest.approx(0.0, abs=1e-12)


@X64
@pytest.mark.parametrize("config", ["cholesky", "cholesky_lm", "eigh", "cg", "cg_lm"])
def test_singular_quadratic_stays_finite_and_monotone(config):
    xs, values, _, _, _, _ = solve_2d(config, SINGULAR, [3.0, -1.0])
    assert np.all(np.isfinite(xs))
    assert np.all(np.diff(values) <= 0)
    assert values[-1] <= 1e-24  # one step to the minimum set w₀ + w₁ = 1
    np.testing.assert_allclose(xs[-1], [2.5, -1.5], atol=1e-12)  # the nearest minimiser


@pytest.mark.parametrize("kind", ["newton", "cg"])
def test_separable_logistic_regression_stays_finite_and_monotone(kind):
    _, data = logistic_data()
    x, (xs, values, _, _, _) = run_logistic(kind)(jnp.zeros(50), **data)
    values = np.r_[np.asarray(values), float(logistic(x, **data))]
    assert np.all(np.isfinite(np.asarray(xs))) and np.all(np.isfinite(np.asarray(x)))
    assert np.all(np.diff(values) <= 0), np.diff(values)
    assert values[-1] < 1e-3 * values[0]  # on its way to 0 as ‖w‖ grows


@pytest.mark.parametrize("config", ["cholesky", "cg"])
@pytest.mark.parametrize("wall_value", [np.nan, np.inf], ids=["nan", "inf"])
def test_non_finite_loss_at_trial_point_is_refused(config, wall_value):
    # Beyond x = 0.5 the loss is NaN/inf; pure Newton's second step from (−1.2, 1)
    # would land at x ≈ 0.76.
    wall = dict(wall=jnp.asarray(0.5), wall_value=jnp.asarray(wall_value))
    xs, values, _, _, updates, states = solve_2d(config, ROSENBROCK, [-1.2, 1.0], **wall)
    state = _newton_state(states)
    rejected = np.flatnonzero(np.diff(np.r_[0, np.asarray(state.num_rejected)]))
    assert rejected.size > 0
    assert np.all(updates[rejected] == 0)
    np.testing.assert_array_equal(xs[rejected + 1], xs[rejected])
    assert np.all(np.isfinite(xs)) and np.all(np.isfinite(values))
    assert np.all(xs[:, 0] <= 0.5)
    assert values[-1] < values[0]


# ----------------------------------------------------------------------------------
# Pytrees and dtypes
# ----------------------------------------------------------------------------------


def _tree_problem():
    rng = np.random.default_rng(7)
    a = jnp.asarray(rng.standard_normal((15, 11)))
    c = jnp.asarray(rng.standard_normal(15))
    flat0 = jnp.asarray(rng.standard_normal(11)) * 0.3

    def unflatten(v):
        return {"a": v[:6].reshape(2, 3), "b": [v[6:10], {"c": v[10]}]}

    def flat_loss(v):
        r = a.astype(v.dtype) @ v - c.astype(v.dtype)
        return jnp.sum(jnp.logaddexp(r, -r)) + 0.05 * jnp.sum(v**2) ** 2

    def tree_loss(t):
        v = jnp.concatenate([t["a"].ravel(), t["b"][0], t["b"][1]["c"][None]])
        return flat_loss(v)

    return flat_loss, tree_loss, unflatten, flat0


@X64
@pytest.mark.parametrize("kind", ["newton", "newton_cg"])
def test_nested_pytree_gives_the_flat_iterates(kind):
    flat_loss, tree_loss, unflatten, flat0 = _tree_problem()
    opt = getattr(lrjax, kind)()
    x_flat, (xs_flat, _, _, _, _) = make_run(opt, flat_loss, 10)(flat0)
    x_tree, (xs_tree, _, _, _, _) = make_run(opt, tree_loss, 10)(unflatten(flat0))
    # Every iterate, not only the last: same arithmetic up to the summation order
    # across leaves, a few ulps per step.
    for k in range(10):
        want = unflatten(xs_flat[k])
        got = jax.tree.map(lambda leaf, k=k: leaf[k], xs_tree)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)
    assert jnp.linalg.norm(jax.grad(flat_loss)(x_flat)) < 1e-10


@pytest.mark.parametrize("kind", ["newton", "newton_cg"])
def test_float32_pytree(kind):
    _, tree_loss, unflatten, flat0 = _tree_problem()
    opt = getattr(lrjax, kind)()
    p0 = jax.tree.map(lambda v: v.astype(jnp.float32), unflatten(flat0))
    p, (_, _, _, u, states) = make_run(opt, tree_loss, 10)(p0)
    leaves = zip(jax.tree.leaves(p), jax.tree.leaves(p0), jax.tree.leaves(u))
    for leaf, leaf0, leaf_u in leaves:
        assert leaf.dtype == leaf0.dtype == leaf_u.dtype == jnp.float32
    assert _newton_state(states).damping.dtype == jnp.float32
    g0 = optax.tree.norm(jax.grad(tree_loss)(p0))
    g = optax.tree.norm(jax.grad(tree_loss)(p))
    # float32's floor: eps = 1.2e-7 times the gradient's term sizes (≈ ‖g₀‖ here);
    # measured 1.7e-7·‖g₀‖ for both, so 1e-5 leaves a margin of ~60 for rounding luck.
    assert float(g) <= 1e-5 * float(g0)


@X64
def test_mixed_float32_float64_leaves():
    loss = lambda t: (
        jnp.sum(t["a"].astype(jnp.float64) ** 2)
        + jnp.sum(  # noqa: E731
            (t["b"] - 1) ** 4 + t["b"] ** 2
        )
    )
    params = {"a": jnp.ones(2, jnp.float32), "b": jnp.ones(3, jnp.float64)}
    for tx in (lrjax.newton(), lrjax.newton_cg()):
        step = jax.jit(
            lambda p, s, tx=tx: tx.update(jax.grad(loss)(p), s, p, value_fn=loss)
        )
        u, _ = step(params, tx.init(params))
        assert u["a"].dtype == jnp.float32 and u["b"].dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(u["a"]), -1.0, rtol=1e-6)


# ----------------------------------------------------------------------------------
# Construction and call errors
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "kwargs", "name"),
    [
        (lrjax.scale_by_newton, {"damping": -1.0}, "damping"),
        (lrjax.scale_by_newton, {"damping": float("nan")}, "damping"),
        (lrjax.scale_by_newton, {"solver": "qr"}, "solver"),
        (lrjax.scale_by_newton, {"damping_factor": 1.0}, "damping_factor"),
        (lrjax.scale_by_newton, {"min_relative_damping": 0.0}, "min_relative_damping"),
        (lrjax.scale_by_newton, {"accept_ratio": 0.5}, "accept_ratio"),
        (lrjax.scale_by_newton, {"shift": 0.0}, "shift"),
        (lrjax.scale_by_newton, {"max_shifts": 0}, "max_shifts"),
        (lrjax.scale_by_newton, {"eigenvalue_floor": 0.0}, "eigenvalue_floor"),
        (lrjax.newton, {"learning_rate": -1.0}, "learning_rate"),
        (lrjax.scale_by_newton_cg, {"damping": -0.5}, "damping"),
        (lrjax.scale_by_newton_cg, {"maxiter": 0}, "maxiter"),
        (lrjax.scale_by_newton_cg, {"forcing": "fast"}, "forcing"),
        (lrjax.scale_by_newton_cg, {"forcing": 1.5}, "forcing"),
        (lrjax.scale_by_newton_cg, {"damping_factor": 0.5}, "damping_factor"),
        (lrjax.newton_cg, {"learning_rate": -1.0}, "learning_rate"),
    ],
)
def test_bad_hyperparameters_raise(factory, kwargs, name):
    with pytest.raises(ValueError, match=name):
        factory(**kwargs)


def test_call_errors():
    tx = lrjax.scale_by_newton()
    x = jnp.ones(2)
    with pytest.raises(ValueError, match="params"):
        tx.update(x, tx.init(x), None, value_fn=lambda w: jnp.sum(w**2))
    with pytest.raises(TypeError, match="value_fn"):
        tx.update(x, tx.init(x), x, value_fn=3.0)
    with pytest.raises(TypeError, match="value_fn"):
        tx.update(x, tx.init(x), x)  # the loss is required, as for optax's line searches
    with pytest.raises(TypeError, match="floating"):
        lrjax.scale_by_newton_cg().init(jnp.ones(2, jnp.int32))


@pytest.mark.parametrize("kind", ["newton", "newton_cg"])
def test_numpy_float64_params_with_x64_off_are_float32(kind):
    # The case: NumPy float64 params, float32 gradients from jax.grad. optax
    # (and jnp) see the params as float32; Newton used to raise a TypeError naming a
    # float64 that JAX, with x64 off, cannot compute in.
    loss = lambda w: jnp.sum((w - 1.0) ** 2) + 0.25 * jnp.sum(w**4)  # noqa: E731
    params = np.asarray([0.5, -1.0, 2.0], np.float64)
    tx = getattr(lrjax, kind)()
    grads = jax.grad(loss)(jnp.asarray(params))
    u, _ = tx.update(grads, tx.init(params), params, value_fn=loss)
    want, _ = tx.update(
        grads, tx.init(jnp.asarray(params)), jnp.asarray(params), value_fn=loss
    )
    assert u.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(u), np.asarray(want))
