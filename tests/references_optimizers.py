"""Float64 NumPy transcriptions of the optimizers' update rules, and the test problems.

Each ``make_*`` returns ``step(n, x, g, state) -> (x_new, state)``, a literal
transcription of the update as the paper (or the library named in its docstring)
writes it, with ``n`` the 0-based step and ``lr(n)`` a Python function. Nothing here
imports lrjax or optax: these are the independent references.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Step = Callable[[int, np.ndarray, np.ndarray, dict], tuple[np.ndarray, dict]]


# ----------------------------------------------------------------------------- problems


def least_squares(seed: int = 0, m: int = 24, d: int = 6):
    """A random least-squares problem ``0.5/m ||A x - b||^2``: (A, b, x0)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(m, d))
    b = rng.normal(size=m)
    x0 = rng.normal(size=d)
    return a, b, x0


def ls_grad(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gradient of ``0.5/m ||A x - b||^2`` in float64."""
    x = np.asarray(x, np.float64)
    return a.T @ (a @ x - b) / a.shape[0]


def ls_loss(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> float:
    r = a @ np.asarray(x, np.float64) - b
    return 0.5 * float(r @ r) / a.shape[0]


def run(step: Step, x0: np.ndarray, grad: Callable, steps: int) -> np.ndarray:
    """The trajectory ``x_0 .. x_steps`` (shape ``(steps + 1, d)``) of ``step``."""
    x = np.asarray(x0, np.float64).copy()
    state: dict = {}
    xs = [x.copy()]
    for n in range(steps):
        x, state = step(n, x, grad(x), state)
        xs.append(x.copy())
    return np.stack(xs)


# ------------------------------------------------------------------ momentum and decay


def make_sgd(
    lr, momentum=0.0, nesterov=False, lr_in_momentum=False, weight_decay=0.0
) -> Step:
    """SGD. Sutskever et al. 2013 / PyTorch: b = μb + g; x -= lr·b (Nesterov
    x -= lr(g + μb)). Keras: m = μm − lr·g; x += m (Nesterov x += μm − lr·g).
    ``weight_decay`` is PyTorch's coupled L2: g += λx first."""

    def step(n, x, g, s):
        g = g + weight_decay * x
        if momentum == 0.0:
            return x - lr(n) * g, s
        if lr_in_momentum:
            m = momentum * s.get("m", np.zeros_like(x)) - lr(n) * g
            s = {"m": m}
            return (x + momentum * m - lr(n) * g if nesterov else x + m), s
        buf = momentum * s.get("b", np.zeros_like(x)) + g
        s = {"b": buf}
        d = g + momentum * buf if nesterov else buf
        return x - lr(n) * d, s

    return step


# ---------------------------------------------------------------------------- adaptive


def make_adagrad(lr, initial=0.1, eps=1e-7, eps_in_sqrt=True) -> Step:
    """Duchi et al. 2011: s += g²; x -= lr·g/√(s+ε) (optax, Keras) or
    x -= lr·g/(√s + ε) (PyTorch)."""

    def step(n, x, g, s):
        acc = s.get("s", np.full_like(x, initial)) + g * g
        den = np.sqrt(acc + eps) if eps_in_sqrt else np.sqrt(acc) + eps
        return x - lr(n) * g / den, {"s": acc}

    return step


def make_adadelta(lr, rho=0.9, eps=1e-6, weight_decay=0.0) -> Step:
    """Zeiler 2012, Algorithm 1, with a learning rate on the step (optax/PyTorch):
    E[g²] = ρE[g²] + (1−ρ)g²; Δ = √(E[Δ²]+ε)/√(E[g²]+ε)·g; E[Δ²] = ρE[Δ²] + (1−ρ)Δ²;
    x -= lr·Δ."""

    def step(n, x, g, s):
        g = g + weight_decay * x
        eg = rho * s.get("eg", np.zeros_like(x)) + (1 - rho) * g * g
        ex = s.get("ex", np.zeros_like(x))
        delta = np.sqrt(ex + eps) / np.sqrt(eg + eps) * g
        ex = rho * ex + (1 - rho) * delta * delta
        return x - lr(n) * delta, {"eg": eg, "ex": ex}

    return step


def make_rmsprop(
    lr,
    decay=0.9,
    eps=1e-8,
    initial=0.0,
    eps_in_sqrt=True,
    centered=False,
    momentum=0.0,
    nesterov=False,
    bias_correction=False,
    lr_in_momentum=True,
) -> Step:
    """Hinton 2012 / Graves 2013 (centered). v = ρv + (1−ρ)g²; (ḡ = ρḡ + (1−ρ)g);
    q = g/√(v − ḡ² + ε). Momentum, Keras/optax: m = βm + lr·q; x -= m.
    PyTorch: b = βb + q; x -= lr·b."""

    def step(n, x, g, s):
        t = n + 1
        v = decay * s.get("v", np.full_like(x, initial)) + (1 - decay) * g * g
        gbar = decay * s.get("gbar", np.zeros_like(x)) + (1 - decay) * g
        vh, gh = v, gbar
        if bias_correction:
            vh, gh = v / (1 - decay**t), gbar / (1 - decay**t)
        r = vh - gh * gh if centered else vh
        q = g / (np.sqrt(r + eps) if eps_in_sqrt else np.sqrt(r) + eps)
        new = {"v": v, "gbar": gbar}
        if momentum == 0.0:
            return x - lr(n) * q, new
        prev = s.get("m", np.zeros_like(x))
        if lr_in_momentum:
            m = momentum * prev + lr(n) * q
            new["m"] = m
            return x - (lr(n) * q + momentum * m if nesterov else m), new
        b = momentum * prev + q
        new["m"] = b
        return x - lr(n) * (q + momentum * b if nesterov else b), new

    return step


def _adam_moments(s, x, g, b1, b2):
    m = b1 * s.get("m", np.zeros_like(x)) + (1 - b1) * g
    v = b2 * s.get("v", np.zeros_like(x)) + (1 - b2) * g * g
    return m, v


def make_adam(
    lr,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    nesterov=False,
    epsilon_hat=False,
    weight_decay=0.0,
    decoupled=False,
) -> Step:
    """Kingma & Ba 2015, Algorithm 1: m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ),
    x -= lr·m̂/(√(v̂+ε̄) + ε). ``epsilon_hat``: the form before §2.1 (Keras),
    x -= lr·√(1−β2ᵗ)/(1−β1ᵗ)·m/(√v + ε̂). ``nesterov``: optax's
    m̂ = β1 m/(1−β1^{t+1}) + (1−β1) g/(1−β1ᵗ). ``decoupled``: Loshchilov & Hutter's
    x -= lr·λx added to the step (optax/PyTorch/Keras AdamW); else coupled g += λx."""

    def step(n, x, g, s):
        t = n + 1
        if not decoupled:
            g = g + weight_decay * x
        m, v = _adam_moments(s, x, g, b1, b2)
        if epsilon_hat:
            alpha = lr(n) * np.sqrt(1 - b2**t) / (1 - b1**t)
            upd = alpha * m / (np.sqrt(v + eps_root) + eps)
        else:
            if nesterov:
                mh = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
            else:
                mh = m / (1 - b1**t)
            vh = v / (1 - b2**t)
            upd = lr(n) * mh / (np.sqrt(vh + eps_root) + eps)
        if decoupled:
            upd = upd + lr(n) * weight_decay * x
        return x - upd, {"m": m, "v": v}

    return step


def make_amsgrad(
    lr, b1=0.9, b2=0.999, eps=1e-8, max_of="corrected", epsilon_hat=False
) -> Step:
    """Reddi et al. 2018 with Adam's bias corrections. ``max_of="corrected"`` (optax):
    v_max = max(v_max, v/(1−β2ᵗ)); ``"raw"`` (PyTorch, Keras): v_max = max(v_max, v)
    and v̂ = v_max/(1−β2ᵗ). x -= lr·m̂/(√v̂ + ε) (or Keras's ε-hat form)."""

    def step(n, x, g, s):
        t = n + 1
        m, v = _adam_moments(s, x, g, b1, b2)
        vmax = s.get("vmax", np.zeros_like(x))
        if max_of == "corrected":
            vmax = np.maximum(vmax, v / (1 - b2**t))
            vh = vmax
        else:
            vmax = np.maximum(vmax, v)
            vh = vmax / (1 - b2**t)
        if epsilon_hat:
            upd = lr(n) * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(vmax) + eps)
        else:
            upd = lr(n) * (m / (1 - b1**t)) / (np.sqrt(vh) + eps)
        return x - upd, {"m": m, "v": v, "vmax": vmax}

    return step


def make_nadam(lr, b1=0.9, b2=0.999, eps=1e-8, momentum_decay=None) -> Step:
    """Dozat 2016 as PyTorch writes it: μ_t = β1(1 − ½·0.96^{tψ}) (ψ = 0.004; Keras 3
    uses 0.96^t, ψ = 1; None: μ_t = β1, optax), Π_t = ∏_{k≤t} μ_k,
    m̂ = μ_{t+1} m/(1 − Π_{t+1}) + (1 − μ_t) g/(1 − Π_t), x -= lr·m̂/(√(v/(1−β2ᵗ)) + ε)."""

    def mu(t):
        if momentum_decay is None:
            return b1
        return b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))

    def step(n, x, g, s):
        t = n + 1
        m, v = _adam_moments(s, x, g, b1, b2)
        prod = s.get("prod", 1.0) * mu(t)
        mh = mu(t + 1) * m / (1 - prod * mu(t + 1)) + (1 - mu(t)) * g / (1 - prod)
        vh = v / (1 - b2**t)
        return x - lr(n) * mh / (np.sqrt(vh) + eps), {"m": m, "v": v, "prod": prod}

    return step


def make_adamax(lr, b1=0.9, b2=0.999, eps=1e-8, eps_in_max=True) -> Step:
    """Kingma & Ba 2015, Algorithm 2: u = max(β2 u, |g|), x -= lr/(1−β1ᵗ)·m/u; eps
    inside the max (PyTorch/optax: max(β2u, |g|+ε)) or added to u (Keras)."""

    def step(n, x, g, s):
        t = n + 1
        m = b1 * s.get("m", np.zeros_like(x)) + (1 - b1) * g
        u = s.get("u", np.zeros_like(x))
        if eps_in_max:
            u = np.maximum(b2 * u, np.abs(g) + eps)
            den = u
        else:
            u = np.maximum(b2 * u, np.abs(g))
            den = u + eps
        return x - lr(n) / (1 - b1**t) * m / den, {"m": m, "u": u}

    return step


def make_adagrad_norm(lr, b0=0.1, eps=0.0) -> Step:
    """Ward, Wu & Bottou 2019, Algorithm 1: b² += ||g||²; x -= η·g/b."""

    def step(n, x, g, s):
        b2 = s.get("b2", b0 * b0) + float(g @ g)
        return x - lr(n) * g / (np.sqrt(b2) + eps), {"b2": b2}

    return step


# ------------------------------------------------------------------- a JAX harness
# Runs any optax GradientTransformation on the least-squares problem under one jit.
# It imports JAX only (not lrjax), so the lrjax and optax runs share it.


def jax_trajectory(tx, a, b, x0, steps: int, dtype) -> np.ndarray:
    """``x_0 .. x_steps`` of ``tx`` on the least-squares problem, computed in ``dtype``."""
    import jax
    import jax.numpy as jnp

    am, bm = jnp.asarray(a, dtype), jnp.asarray(b, dtype)
    m = jnp.asarray(a.shape[0], dtype)

    def body(carry, _):
        x, s = carry
        g = am.T @ (am @ x - bm) / m
        u, s = tx.update(g, s, x)
        x = x + u
        return (x, s), x

    x = jnp.asarray(x0, dtype)

    @jax.jit
    def go(x):
        _, xs = jax.lax.scan(body, (x, tx.init(x)), length=steps)
        return xs

    xs = go(x)
    return np.concatenate([np.asarray(x, np.float64)[None], np.asarray(xs, np.float64)])


# Same formula, both in float64: only the order of operations differs (a few ulps per
# step), and these iterations contract, so 100 steps stay within ~1e-13; 1e-11 leaves
# room for platform BLAS differences in the gradient.
RTOL64 = 1e-11
# float32 (x64 off) against the float64 transcription: the gradient and every update are
# rounded to float32 (eps 1.2e-7) at each of the 100 steps, independently of the
# reference, as in the parity suite's bound against PyTorch and Keras; the adaptive
# directions measure at most 1.1e-6 and SGD at most 5.7e-7.
RTOL32 = 1e-5


def sched(lr0, dtype=None):
    """The test schedule η(n) = η0·0.97ⁿ as JAX code, in ``dtype`` (float64 default)."""
    import jax.numpy as jnp

    dt = jnp.float64 if dtype is None else dtype
    return lambda n: jnp.asarray(lr0, dt) * jnp.asarray(0.97, dt) ** jnp.asarray(n, dt)


def np_sched(lr0):
    """The same schedule for the NumPy transcriptions."""
    return lambda n: lr0 * 0.97**n


def rel_error(xs: np.ndarray, ref: np.ndarray) -> float:
    """Largest relative distance over a trajectory, max_t ||x_t - r_t|| / ||r_t||."""
    num = np.linalg.norm(np.asarray(xs, np.float64) - ref, axis=-1)
    return float(np.max(num / np.linalg.norm(ref, axis=-1)))
