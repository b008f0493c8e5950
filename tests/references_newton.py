"""Float64 NumPy transcriptions of the Newton algorithms, written from the textbook.

Nocedal & Wright, Numerical Optimization, 2nd ed. (2006): Algorithm 3.3 (Cholesky with
added multiple of the identity), Algorithm 7.1 (line-search Newton-CG with the
negative-curvature exit), Algorithm 4.1's ratio test driving Levenberg–Marquardt
damping; Dauphin et al. (2014) for the saddle-free |eigenvalue| modification.
Independent of lrjax: NumPy's LAPACK, Python loops, no JAX.
"""

from __future__ import annotations

import numpy as np


def cholesky_ladder(a, g, shift=1e-3, max_shifts=64):
    """Solve ``(a + tau I) d = g`` with N&W Algorithm 3.3; returns ``(d, tau)``.

    ``beta = shift * max|a_ii|``; tau_0 = 0, then ``-min(a_ii) + beta`` (``beta`` if the
    diagonal is positive), then doubling. A factor with a pivot below ``n eps`` of the
    diagonal scale counts as a failure, as in lrjax.
    """
    a = np.asarray(a, np.float64)
    n = a.shape[0]
    diag = np.diag(a)
    scale = np.max(np.abs(diag))
    beta = shift * max(scale, np.finfo(np.float64).tiny)
    taus = [0.0]
    tau = beta if diag.min() > 0 else beta - diag.min()
    for _ in range(max_shifts):
        taus.append(tau)
        tau = max(2 * tau, beta)
    for tau in taus:
        try:
            factor = np.linalg.cholesky(a + tau * np.eye(n))
        except np.linalg.LinAlgError:
            continue
        if np.min(np.diag(factor)) ** 2 <= n * np.finfo(np.float64).eps * (scale + tau):
            continue
        y = np.linalg.solve(factor, g)
        return np.linalg.solve(factor.T, y), tau
    raise RuntimeError("the ladder did not factorise")


def saddle_free(h, g, damping=0.0, floor=1e-8):
    """``(Q max(|Λ|, floor·max|Λ|) Q^T + damping I)^{-1} g``."""
    w, q = np.linalg.eigh(np.asarray(h, np.float64))
    mag = np.abs(w)
    mag = np.maximum(mag, floor * mag.max())
    return q @ ((q.T @ g) / (mag + damping))


def newton_direction(h, g, damping=0.0, solver="cholesky"):
    """The dense direction of ``scale_by_newton``; returns ``(d, tau)``."""
    h = np.asarray(h, np.float64)
    n = h.shape[0]
    if solver == "cholesky":
        return cholesky_ladder(h + damping * np.eye(n), g)
    if solver == "lu":
        return np.linalg.solve(h + damping * np.eye(n), g), 0.0
    return saddle_free(h, g, damping), 0.0


def steihaug_cg(h, g, damping, tol, maxiter):
    """N&W Algorithm 7.1 on ``(h + damping I) z = g``; returns ``(d, iterations, neg)``.

    At a direction of non-positive curvature: the iterate so far, or ``g`` itself at the
    first iteration.
    """
    m = np.asarray(h, np.float64) + damping * np.eye(len(g))
    z = np.zeros_like(g)
    r = g.copy()
    p = g.copy()
    if np.linalg.norm(r) <= tol:
        return z, 0, False
    for j in range(maxiter):
        mp = m @ p
        curvature = p @ mp
        if curvature <= 0:
            return (g.copy() if j == 0 else z), j + 1, True
        alpha = (r @ r) / curvature
        z = z + alpha * p
        r_new = r - alpha * mp
        if np.linalg.norm(r_new) <= tol:
            return z, j + 1, False
        p = r_new + (r_new @ r_new) / (r @ r) * p
        r = r_new
    return z, maxiter, False


def levenberg_marquardt_newton(
    f,
    grad,
    hess,
    x0,
    steps,
    damping=0.0,
    factor=10.0,
    min_relative=1e-3,
    accept=1e-4,
    solver="cholesky",
):
    """Dense Newton with adaptive Levenberg–Marquardt damping, step by step.

    Each step: ``d = (B + λI)^{-1} g``; ratio ``ρ = (f(x) - f(x-d)) / (g·d - ½ d·H d)``;
    accept when finite and ``ρ > accept``; ``λ ← max(factor·λ, λ_r)`` if refused or
    ``ρ < 1/4``, ``λ ← λ/factor`` (0 below ``λ_r``) if ``ρ > 3/4``, where
    ``λ_r = min_relative · |g·Hg| / g·g``. Returns the iterates and the dampings.
    """
    x = np.asarray(x0, np.float64)
    lam = float(damping)
    xs, lams = [x.copy()], [lam]
    for _ in range(steps):
        g, h = grad(x), hess(x)
        d, _ = newton_direction(h, g, lam, solver)
        predicted = g @ d - 0.5 * d @ h @ d
        f1 = f(x - d)
        ratio = (f(x) - f1) / predicted if predicted > 0 else 0.0
        ok = np.all(np.isfinite(d)) and np.isfinite(f1) and predicted > 0 and ratio > accept
        restart = min_relative * abs(g @ h @ g) / (g @ g)
        if not ok or ratio < 0.25:
            lam = max(lam * factor, restart)
        elif ratio > 0.75:
            lam = lam / factor
            lam = 0.0 if lam < restart else lam
        if ok:
            x = x - d
        xs.append(x.copy())
        lams.append(lam)
    return np.array(xs), np.array(lams)
