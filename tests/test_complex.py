"""Complex parameters: optax's numbers, or a ``TypeError`` at ``init``.

Every public transform has a verdict in ``conformance.COMPLEX_VERDICTS``. A supported
one is checked here on a complex least-squares problem: against optax where optax has
the same algorithm and treats complex numbers right (|g|² where the real formula
squares a gradient), else against a NumPy complex128 transcription, or, for the
transforms that only scale gradients or take real inner products and norms, against the
same transform on the real pair (Re, Im) of each parameter. complex64 runs with x64 off;
complex128 under the ``x64`` marker. A refused one raises a ``TypeError`` at ``init``
that names the first complex leaf.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conformance import COMPLEX_VERDICTS

import lrjax

STEPS = 60
_rng = np.random.default_rng(5)
A = _rng.normal(size=(16, 4)) + 1j * _rng.normal(size=(16, 4))
B = _rng.normal(size=16) + 1j * _rng.normal(size=16)
X0 = _rng.normal(size=4) + 1j * _rng.normal(size=4)

# complex64 against optax: the same float32 arithmetic up to the order of a few
# operations (lrjax's bias corrections are computed in float64 first), as in the real
# parity suite (tests/test_optimizer_parity.py, 1e-6), on an iterate of size ~1 after
# 60 contracting steps; complex128 (x64): the same at float64 resolution.
RTOL = {jnp.complex64: 2e-6, jnp.complex128: 1e-12}
# complex64 against a complex128 NumPy transcription: independent float32 roundings
# (eps 1.2e-7) per step, as the real transcription check's float32 bound.
RTOL_NUMPY = {jnp.complex64: 1e-5, jnp.complex128: 1e-11}
DTYPES = [jnp.complex64, pytest.param(jnp.complex128, marks=pytest.mark.x64)]
IDS = ["complex64", "complex128"]


def grad(x):
    """The descent direction of ½‖Ax − b‖²/m: A^H (Ax − b)/m, the conjugate of what
    ``jax.grad`` returns for a real loss of complex params (optax's convention)."""
    a, b = jnp.asarray(A, x.dtype), jnp.asarray(B, x.dtype)
    return jnp.conj(a).T @ (a @ x - b) / a.shape[0]


def trajectory(tx, dtype, x0=X0, grad_fn=grad, **extra):
    """x_1 .. x_STEPS of ``tx`` from ``x0``, as one compiled scan."""

    def body(carry, _):
        x, s = carry
        u, s = tx.update(grad_fn(x), s, x, **extra)
        return (x + u, s), x + u

    x = jnp.asarray(x0, dtype)
    xs = jax.jit(lambda x: jax.lax.scan(body, (x, tx.init(x)), length=STEPS)[1])(x)
    return np.asarray(xs, np.complex128)


def rel_error(xs, ref) -> float:
    return float(np.max(np.linalg.norm(xs - ref, axis=-1) / np.linalg.norm(ref, axis=-1)))


def _moved(xs):
    assert np.linalg.norm(xs[-1] - X0) > 0.05 * np.linalg.norm(X0)


# ------------------------------------------------------------------- against optax

# The Adam family runs with a beta2 that float32 holds exactly: with optax's default
# 0.999 optax computes 1 - float32(0.999)^n, 1.3e-5 off, where lrjax's bias correction
# is exact (a documented difference, docs/conventions.md, the same for real params).
B2 = 1 - 2.0**-10

# name -> (lrjax optimizer, optax optimizer, public names covered)
OPTAX = {
    "sgd_momentum": (
        lambda: lrjax.sgd(0.05, 0.9),
        lambda: optax.sgd(0.05, 0.9),
        ("sgd", "trace", "scale_by_learning_rate"),
    ),
    "sgd_nesterov": (
        lambda: lrjax.sgd(0.05, 0.9, nesterov=True),
        lambda: optax.sgd(0.05, 0.9, nesterov=True),
        ("sgd", "trace"),
    ),
    "add_decayed_weights": (
        lambda: lrjax.chain(lrjax.add_decayed_weights(0.1), lrjax.sgd(0.05)),
        lambda: optax.chain(optax.add_decayed_weights(0.1), optax.sgd(0.05)),
        ("add_decayed_weights",),
    ),
    "adagrad": (
        lambda: lrjax.adagrad(0.2),
        lambda: optax.adagrad(0.2),
        ("adagrad", "scale_by_adagrad"),
    ),
    "rmsprop": (
        lambda: lrjax.rmsprop(0.02),
        lambda: optax.rmsprop(0.02),
        ("rmsprop", "scale_by_rmsprop"),
    ),
    "rmsprop_momentum": (
        lambda: lrjax.rmsprop(0.005, momentum=0.9),
        lambda: optax.rmsprop(0.005, momentum=0.9),
        ("rmsprop",),
    ),
    "rmsprop_centered_momentum": (
        lambda: lrjax.rmsprop(0.005, centered=True, momentum=0.9),
        lambda: optax.rmsprop(0.005, centered=True, momentum=0.9),
        ("rmsprop",),
    ),
    "rmsprop_options": (
        lambda: lrjax.rmsprop(0.01, 0.95, 1e-6, 0.1, False, False, 0.5, True, True),
        lambda: optax.rmsprop(0.01, 0.95, 1e-6, 0.1, False, False, 0.5, True, True),
        ("rmsprop",),
    ),
    "adam": (
        lambda: lrjax.adam(0.05, b2=B2),
        lambda: optax.adam(0.05, b2=B2),
        ("adam", "scale_by_adam"),
    ),
    "adam_nesterov": (
        lambda: lrjax.adam(0.05, b2=B2, nesterov=True),
        lambda: optax.adam(0.05, b2=B2, nesterov=True),
        ("adam",),
    ),
    "adam_complex_mu_dtype": (
        lambda: lrjax.adam(0.05, b2=B2, mu_dtype=jnp.complex64),
        lambda: optax.adam(0.05, b2=B2, mu_dtype=jnp.complex64),
        ("adam",),
    ),
    "adamw": (
        lambda: lrjax.adamw(0.05, b2=B2, weight_decay=0.1),
        lambda: optax.adamw(0.05, b2=B2, weight_decay=0.1),
        ("adamw",),
    ),
    "amsgrad": (
        lambda: lrjax.amsgrad(0.05, b2=B2),
        lambda: optax.amsgrad(0.05, b2=B2),
        ("amsgrad", "scale_by_amsgrad"),
    ),
    "nadam": (
        lambda: lrjax.nadam(0.05, b2=B2),
        lambda: optax.nadam(0.05, b2=B2),
        ("nadam", "scale_by_nadam"),
    ),
    "adamax": (
        lambda: lrjax.adamax(0.05),
        lambda: optax.adamax(0.05),
        ("adamax", "scale_by_adamax"),
    ),
    "skip_nonfinite": (
        lambda: lrjax.skip_nonfinite(lrjax.adam(0.05, b2=B2)),
        lambda: optax.adam(0.05, b2=B2),
        ("skip_nonfinite",),
    ),
    "grouped": (
        lambda: lrjax.grouped(lrjax.adam(0.05, b2=B2)),
        lambda: optax.adam(0.05, b2=B2),
        ("grouped",),
    ),
    # Trust ratios: norms of complex leaves are |.|-norms, as in optax.
    "lamb": (
        lambda: lrjax.lamb(0.02, b2=B2),
        lambda: optax.lamb(0.02, b2=B2),
        ("lamb", "scale_by_trust_ratio"),
    ),
    # trust_coefficient 1e-3 makes the step 1e-3 of the rate: a large rate moves.
    "lars": (lambda: lrjax.lars(20.0), lambda: optax.lars(20.0), ("lars",)),
    # Schedule-Free: the training iterate y, as optax.contrib's.
    "schedule_free_sgd": (
        lambda: lrjax.schedule_free_sgd(0.05),
        lambda: optax.contrib.schedule_free_sgd(0.05),
        ("schedule_free_sgd", "schedule_free"),
    ),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("name", sorted(OPTAX))
def test_matches_optax(name, dtype):
    make, make_optax, _ = OPTAX[name]
    if name == "adam_complex_mu_dtype" and dtype == jnp.complex128:
        make = lambda: lrjax.adam(0.05, b2=B2, mu_dtype=jnp.complex128)  # noqa: E731
        make_optax = lambda: optax.adam(0.05, b2=B2, mu_dtype=jnp.complex128)  # noqa: E731
    got = trajectory(make(), dtype)
    # optax's own code is not clean under strict promotion (see conftest.py).
    with jax.numpy_dtype_promotion("standard"):
        want = trajectory(make_optax(), dtype)
    _moved(want)
    assert rel_error(got, want) <= RTOL[dtype], rel_error(got, want)


def test_adam_first_update_is_optax_not_the_square_of_g():
    # The case: g·g (complex) made the update [-0.1, -0.1, -0.1].
    g = jnp.asarray([1 + 2j, 3 - 1j, 0.5j], jnp.complex64)
    tx = lrjax.adam(0.1)
    u, state = tx.update(g, tx.init(jnp.zeros(3, jnp.complex64)))
    np.testing.assert_allclose(
        np.asarray(u), -0.1 * np.asarray(g) / np.abs(np.asarray(g)), rtol=1e-6
    )
    # The second moment holds |g|² (optax's state: complex dtype, zero imaginary part).
    np.testing.assert_allclose(
        np.asarray(state[0].nu), 1e-3 * np.abs(np.asarray(g)) ** 2, rtol=1e-6
    )
    assert state[0].nu.dtype == jnp.complex64


@pytest.mark.parametrize("name", ["adam", "amsgrad", "nadam", "rmsprop", "adagrad"])
def test_complex_parabola_reaches_its_minimum(name):
    # f(z) = |z - (1 + 1j)|², descent direction 2 (z - (1 + 1j)); the Adam
    # stopped at 1 + 0j.
    target = 1 + 1j
    tx = {
        "adam": lrjax.adam(0.01),
        "amsgrad": lrjax.amsgrad(0.01),
        "nadam": lrjax.nadam(0.01),
        "rmsprop": lrjax.rmsprop(0.01),
        "adagrad": lrjax.adagrad(0.5),
    }[name]

    def body(carry, _):
        z, s = carry
        u, s = tx.update(2 * (z - target), s, z)
        return (z + u, s), None

    z0 = jnp.zeros(1, jnp.complex64)
    (z, _), _ = jax.jit(lambda z: jax.lax.scan(body, (z, tx.init(z)), length=4000))(z0)
    assert abs(complex(z[0]) - target) < 0.05, complex(z[0])


# ------------------------------------------------- against NumPy transcriptions


def _numpy_run(step, dtype):
    x = X0.astype(np.complex128)
    state, xs = None, []
    a, b = A, B
    for t in range(1, STEPS + 1):
        g = np.conj(a).T @ (a @ x - b) / a.shape[0]
        d, state = step(g, state, t)
        x = x - d
        xs.append(x.copy())
    return np.asarray(xs)


def _adadelta(lr, rho=0.9, eps=1e-6):
    """Zeiler's AdaDelta with |g|², |Δ|² (optax's adadelta squares complex g: g²)."""

    def step(g, state, t):
        e_g, e_x = state if state is not None else (np.zeros(4), np.zeros(4))
        e_g = rho * e_g + (1 - rho) * np.abs(g) ** 2
        d = np.sqrt(e_x + eps) / np.sqrt(e_g + eps) * g
        e_x = rho * e_x + (1 - rho) * np.abs(d) ** 2
        return lr * d, (e_g, e_x)

    return step


def _adagrad_norm(lr, b0=0.1, eps=0.0):
    """Ward et al.'s AdaGrad-Norm, b² = b0² + Σ‖g‖², with the complex norm."""

    def step(g, state, t):
        b2 = (b0**2 if state is None else state) + np.sum(np.abs(g) ** 2)
        return lr * g / (np.sqrt(b2) + eps), b2

    return step


def _adam_hd(alpha0, beta, b1=0.9, b2=0.999, eps=1e-8):
    """Adam-HD (Baydin et al., 2018) with |g|² and the real inner product Re<g, u>."""

    def step(g, state, t):
        m, v, prev, alpha = state if state is not None else (0, 0, np.zeros(4), alpha0)
        alpha = alpha + beta * float(np.real(np.vdot(prev, g)))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * np.abs(g) ** 2
        u = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        return alpha * u, (m, v, u, alpha)

    return step


NUMPY = {
    "adadelta": (
        lambda: lrjax.adadelta(5.0),
        lambda: _adadelta(5.0),
        ("adadelta", "scale_by_adadelta"),
    ),
    "adagrad_norm": (
        lambda: lrjax.adagrad_norm(0.5),
        lambda: _adagrad_norm(0.5),
        ("adagrad_norm", "scale_by_adagrad_norm"),
    ),
    "adam_hd": (
        lambda: lrjax.adam_hd(0.02, 1e-4, rule="additive"),
        lambda: _adam_hd(0.02, 1e-4),
        ("adam_hd", "scale_by_hypergradient"),
    ),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("name", sorted(NUMPY))
def test_matches_numpy_transcription(name, dtype):
    make, make_ref, _ = NUMPY[name]
    got = trajectory(make(), dtype)
    want = _numpy_run(make_ref(), dtype)
    _moved(want)
    assert rel_error(got, want) <= RTOL_NUMPY[dtype], rel_error(got, want)


# --------------------------------------------------------- against the real pair


def _pair(z):
    return jnp.stack([jnp.real(z), jnp.imag(z)], -1)


def _unpair(x):
    return jax.lax.complex(x[..., 0], x[..., 1])


# Transforms that only scale gradients, or use real inner products and norms: on a
# complex leaf they must equal the same transform on its (Re, Im) pair.
PAIR = {
    "sgd_hd": (lambda: lrjax.sgd_hd(0.02, 1e-3, rule="additive"), ("sgd_hd",)),
    "sgd_hd_multiplicative": (lambda: lrjax.sgd_hd(0.02, 0.02), ("sgd_hd",)),
    "hypergradient_after_momentum": (
        lambda: lrjax.chain(
            lrjax.trace(0.5), lrjax.scale_by_hypergradient(0.02, 1e-3, rule="additive")
        ),
        ("scale_by_hypergradient",),
    ),
    "reduce_on_plateau": (
        lambda: lrjax.chain(lrjax.sgd(0.05), lrjax.reduce_on_plateau(patience=2)),
        ("reduce_on_plateau",),
    ),
}


def _loss(x):
    """½‖Ax − b‖²/m of complex x (a real number)."""
    a, b = jnp.asarray(A, x.dtype), jnp.asarray(B, x.dtype)
    r = a @ x - b
    return 0.5 * jnp.sum(jnp.real(r * jnp.conj(r))) / a.shape[0]


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("name", sorted(PAIR))
def test_matches_the_real_pair(name, dtype):
    make, _ = PAIR[name]
    real = jnp.float32 if dtype == jnp.complex64 else jnp.float64

    def trajectory_with_loss(tx, x0, to_complex):
        def body(carry, _):
            x, s = carry
            z = to_complex(x)
            g = grad(z)
            g = _pair(g) if x.dtype == real else g
            u, s = tx.update(g, s, x, value=_loss(z))
            return (x + u, s), to_complex(x + u)

        xs = jax.jit(lambda x: jax.lax.scan(body, (x, tx.init(x)), length=STEPS)[1])(x0)
        return np.asarray(xs, np.complex128)

    got = trajectory_with_loss(make(), jnp.asarray(X0, dtype), lambda z: z)
    want = trajectory_with_loss(make(), _pair(jnp.asarray(X0, dtype)), _unpair)
    _moved(want)
    # The same real arithmetic, summed in another order: a few ulps per step.
    assert rel_error(got, want) <= RTOL[dtype], rel_error(got, want)


# ------------------------------------------------------------------------- refused

REFUSED = {
    **{
        name: getattr(lrjax, name)
        for name in (
            "prodigy",
            "scale_by_prodigy",
            "dadapt_adam",
            "scale_by_dadapt_adam",
            "dadapt_adamw",
            "dadapt_sgd",
            "scale_by_dadapt_sgd",
            "dadapt_adagrad",
            "scale_by_dadapt_adagrad",
            "schedule_free_adamw",
            "dog",
            "l_dog",
            "dowg",
            "cocob",
            "polyak_sgd",
            "momo",
            "momo_adam",
        )
    },
    "mechanize": lambda: lrjax.mechanize(lrjax.sgd(0.1)),
    "newton": lambda: lrjax.newton(),
    "newton_cg": lambda: lrjax.newton_cg(),
    "scale_by_newton": lambda: lrjax.scale_by_newton(),
    "scale_by_newton_cg": lambda: lrjax.scale_by_newton_cg(),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_at_init_naming_the_first_complex_leaf(name):
    params = {"w": jnp.ones(2), "z": {"inner": jnp.ones(3, jnp.complex64)}}
    # One message for every refusal (lrjax._shared.tree.refuse_complex): the transform, the
    # dtype and the path of the first complex leaf.
    pattern = (
        r"does not support complex parameters.*dtype complex64 at \['z'\]\['inner'\]\."
    )
    with pytest.raises(TypeError, match=pattern):
        REFUSED[name]().init(params)


# ---------------------------------------------------------------- the verdict table


def _public_transforms() -> set[str]:
    tools = {"lrjax._tools.finder", "lrjax._tools.plot", "lrjax._tools.sweep"}
    return {
        name
        for name in dir(lrjax)
        if not name.startswith("_")
        and inspect.isfunction(getattr(lrjax, name))
        and getattr(lrjax, name).__module__.startswith("lrjax.")
        and getattr(lrjax, name).__module__ not in tools
        and not getattr(lrjax, name).__module__.startswith("lrjax._schedules.")
        and name not in ("current_learning_rate", "leaf_mask", "schedule_free_eval_params")
    }


def test_every_public_transform_has_a_complex_verdict():
    missing = _public_transforms() - set(COMPLEX_VERDICTS)
    assert not missing, f"no complex verdict in conformance.COMPLEX_VERDICTS: {missing}"
    assert set(COMPLEX_VERDICTS.values()) <= {"supported", "refused"}


def test_every_verdict_is_checked():
    checked = {n for table in (OPTAX, NUMPY) for *_, names in table.values() for n in names}
    checked |= {n for _, names in PAIR.values() for n in names}
    supported = {n for n, v in COMPLEX_VERDICTS.items() if v == "supported"}
    refused = {n for n, v in COMPLEX_VERDICTS.items() if v == "refused"}
    assert supported <= checked, f"supported but not checked: {supported - checked}"
    assert refused <= set(REFUSED), f"refused but not tested: {refused - set(REFUSED)}"
    assert not checked & refused


def test_the_conventions_page_gives_every_verdict():
    """docs/conventions.md's table names every transform with its verdict."""
    import pathlib
    import re

    page = pathlib.Path(__file__).resolve().parents[1] / "docs" / "conventions.md"
    text = page.read_text().split("## Complex parameters", 1)[1].split("\n## ", 1)[0]
    shown = {}
    for row in re.findall(r"^\| (.+?) \| (.+?) \|", text, re.M):
        verdict = "refused" if row[1].startswith("refused") else "supported"
        for name in re.findall(r"`(\w+)`", row[0]):
            shown[name] = verdict
    wrong = {n: (v, shown.get(n)) for n, v in COMPLEX_VERDICTS.items() if shown.get(n) != v}
    assert not wrong, f"docs/conventions.md's complex table: (verdict, shown) {wrong}"
