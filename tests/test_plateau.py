"""reduce_on_plateau against PyTorch's and Keras's ReduceLROnPlateau and a NumPy loop.

The replays run in float32 (x64 off, what users run): lrjax sees each loss sequence
rounded to float32, and the references (PyTorch, Keras and the NumPy loop, all in
float64) are fed the same float32-rounded values, so every decision is made on the same
numbers. What float32 could still change is a comparison that float32 arithmetic (the
relative margin ``threshold * |best|``, a mean, PyTorch's ``old - new > eps``) cannot
resolve: the NumPy loop checks, for every row, that no decision is closer to a tie than
``RESOLUTION32``, so the reference decisions are the float32 decisions, and the cut
positions are compared exactly. The ``x64``-marked variants replay the float64
sequences in float64, to 1e-12, with the same check at float64's resolution.
"""

from __future__ import annotations

import functools
import itertools
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from references_plateau_hd import plateau_learning_rates

import lrjax

LR = 0.1
T = 30
_rng = np.random.default_rng(0)
_n = np.arange(T, dtype=np.float64)
# Every decision on these sequences is clear of a tie in float32 and in float64 (the
# replays below check it). "improving" decays as 1/(1 + 0.21n): with 0.2 the values
# 1/3.8 and 1/4 were a tie of the 5% relative test in exact arithmetic (0.95/3.8 = 1/4),
# which float64 rounding happened to decide as the references did and float32 cannot
# decide reliably.
SEQUENCES = {
    "flat": np.ones(T),
    "improving": 1.0 / (1.0 + 0.21 * _n),
    "noisy": 1.0 / (1.0 + 0.1 * _n) + 0.05 * _rng.standard_normal(T),
    "steps": np.repeat([1.0, 0.8, 0.79995, 0.5, 0.5], 6),
    "zero": np.zeros(T),
    "negative_flat": -np.ones(T),
    "negative_noisy": -2.0 + 0.5 / (1.0 + 0.1 * _n) + 0.05 * _rng.standard_normal(T),
    "crossing_zero": 0.5 - 0.05 * _n + 0.02 * _rng.standard_normal(T),
}
# The same sequences as float32 holds them: what lrjax sees with x64 off, and what the
# references are fed in the float32 replays.
SEQUENCES32 = {k: v.astype(np.float32).astype(np.float64) for k, v in SEQUENCES.items()}
# (factor, patience, threshold, cooldown, min_lr, min_scale, accumulation_size, eps)
CONFIGS = [
    (0.1, 2, 1e-4, 0, 0.0, 0.0, 1, 1e-8),
    (0.5, 1, 1e-4, 2, 0.0, 0.0, 1, 1e-8),
    (0.5, 0, 1e-4, 0, 0.0, 0.0, 1, 1e-8),
    (0.5, 2, 1e-4, 1, 0.02, 0.0, 1, 1e-8),
    (0.3, 3, 0.05, 1, 0.0, 0.0, 1, 1e-8),
    (0.5, 1, 0.01, 0, 0.01, 0.0, 1, 1e-8),
    (0.5, 1, 1e-4, 0, 0.0, 0.2, 1, 1e-8),
    (0.5, 1, 1e-4, 1, 0.0, 0.0, 3, 1e-8),
    (0.1, 0, 1e-4, 0, 0.0, 0.0, 1, 2e-2),
]
ROWS = list(itertools.product(SEQUENCES, CONFIGS))
_FIELDS = (
    "factor",
    "patience",
    "threshold",
    "cooldown",
    "min_lr",
    "min_scale",
    "accumulation_size",
    "eps",
)


def _kwargs(config) -> dict:
    return dict(zip(_FIELDS, config))


@functools.cache
def _lrjax_table(
    threshold_mode: str, mode: str, convention: str, dtype=jnp.float32
) -> np.ndarray:
    """lrjax's learning rates for every row, one compilation per static combination.

    Every hyperparameter but the three strings is traced and vmapped over the rows,
    which also checks that the transform accepts traced hyperparameters (as
    ``optax.inject_hyperparams`` passes them). ``dtype`` is the mode's: float32, or
    float64 in the x64 variants; params, values and hyperparameters are in it.
    """
    values = np.stack([SEQUENCES[s] for s, _ in ROWS])
    cols = [np.asarray([c[i] for _, c in ROWS]) for i in range(len(_FIELDS))]
    ints = {"patience", "cooldown", "accumulation_size"}
    cols = [
        jnp.asarray(c, jnp.int32 if f in ints else dtype) for f, c in zip(_FIELDS, cols)
    ]

    def one(vals, *hp):
        tx = lrjax.chain(
            lrjax.sgd(LR),
            lrjax.reduce_on_plateau(
                **dict(zip(_FIELDS, hp)),
                threshold_mode=threshold_mode,
                mode=mode,
                convention=convention,
                learning_rate=LR,
            ),
        )
        p = jnp.zeros(1, dtype)

        def body(state, v):
            u, state = tx.update(jnp.ones(1, dtype), state, p, value=v)
            return state, (lrjax.current_learning_rate(state), u)

        return jax.lax.scan(body, tx.init(p), vals)[1]

    lrs, updates = jax.jit(jax.vmap(one))(jnp.asarray(values, dtype), *cols)
    # The mode's dtype is kept: by the updates, and by the recorded rate.
    assert lrs.dtype == dtype and updates.dtype == dtype
    return np.asarray(lrs, np.float64)


def _torch_lrs(values, *, mode, threshold_mode, config) -> np.ndarray:
    torch = pytest.importorskip("torch")
    kw = _kwargs(config)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=LR)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt,
        mode=mode,
        factor=kw["factor"],
        patience=kw["patience"],
        threshold=kw["threshold"],
        threshold_mode=threshold_mode,
        cooldown=kw["cooldown"],
        min_lr=kw["min_lr"],
        eps=kw["eps"],
    )
    out = []
    for v in values:
        sched.step(float(v))
        out.append(opt.param_groups[0]["lr"])
    return np.asarray(out)


def _keras_lrs(values, *, mode, config) -> np.ndarray:
    keras = pytest.importorskip("keras")
    kw = _kwargs(config)
    cb = keras.callbacks.ReduceLROnPlateau(
        monitor="loss",
        factor=kw["factor"],
        patience=kw["patience"],
        min_delta=kw["threshold"],
        cooldown=kw["cooldown"],
        min_lr=kw["min_lr"],
        mode=mode,
    )
    # The callback only touches model.optimizer.learning_rate (read, then assign a
    # Python float), so a plain namespace keeps the rate in float64 and skips building
    # a Keras model.
    model = types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=LR))
    cb.set_model(model)
    cb.on_train_begin()
    out = []
    for epoch, v in enumerate(values):
        cb.on_epoch_end(epoch, logs={"loss": float(v)})
        out.append(float(model.optimizer.learning_rate))
    return np.asarray(out)


def _plain(config) -> bool:
    kw = _kwargs(config)
    return kw["min_scale"] == 0.0 and kw["accumulation_size"] == 1


# The learning rate is a product of at most ~10 factors: lrjax multiplies scales
# (lr * (f * f ...)) where the libraries multiply rates ((lr * f) * f ...), so the
# two differ by a few ulps; 1e-12 is far tighter than any decision error (>= 1e-2).
RTOL64 = 1e-12
# In float32 each of at most T = 30 cuts rounds the scale once, and the factor's own
# rounding enters once per cut; the base rate, the floor's division min_lr / lr and the
# final product rate * scale add at most 4 more: (2T + 4) U = 64U = 3.8e-6, still far
# tighter than any decision error (a cut changes the rate by >= 1e-2 relative).
# Measured: at most 12.7U (7.6e-7) over every row of the NumPy replays.
U = 2.0**-24  # float32's unit roundoff (eps / 2)
RTOL32 = (2 * T + 4) * U
# A decision is unambiguous in float32 when its two sides differ by more than float32
# can misplace them: the bar b - threshold|b| rounds 3 times, a mean of up to 3 values
# 3 times, and the rates and scales PyTorch's eps test compares carry at most RTOL32.
# RTOL32 covers all of these; the float64 replays ask the same of float64's roundings.
RESOLUTION32 = RTOL32
RESOLUTION64 = (2 * T + 4) * 2.0**-53
MODES = [
    pytest.param(jnp.float32, id="float32"),
    pytest.param(jnp.float64, id="float64", marks=pytest.mark.x64),
]


def _mode(dtype):
    """(the sequences as lrjax sees them, the rtol, the resolution) of a mode."""
    if dtype == jnp.float64:
        return SEQUENCES, RTOL64, RESOLUTION64
    return SEQUENCES32, RTOL32, RESOLUTION32


def _unambiguous(values, config, resolution, **kw):
    """The NumPy loop's rates; raises AmbiguousDecision if a decision is near a tie."""
    return plateau_learning_rates(
        values, LR, resolution=resolution, **kw, **_kwargs(config)
    )


def _cuts(lrs) -> list[int]:
    """1-based positions of the values after which the rate dropped."""
    return [int(i) + 1 for i in np.nonzero(np.diff(np.r_[LR, lrs]) < 0)[0]]


def _assert_replays(ours, ref, rtol, msg):
    # The cut positions exactly (the decisions), then the rates to rounding.
    assert _cuts(ours) == _cuts(ref), msg
    np.testing.assert_allclose(ours, ref, rtol=rtol, err_msg=msg)


@pytest.mark.parametrize("dtype", MODES)
@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
def test_matches_pytorch(threshold_mode, mode, dtype):
    ours = _lrjax_table(threshold_mode, mode, "pytorch", dtype)
    sequences, rtol, resolution = _mode(dtype)
    checked = 0
    for i, (name, config) in enumerate(ROWS):
        if not _plain(config):
            continue
        values = sequences[name]
        if threshold_mode == "abs" or np.all(values >= 0):
            ref = _torch_lrs(
                values, mode=mode, threshold_mode=threshold_mode, config=config
            )
        elif np.all(values <= 0):
            # PyTorch's rel test b*(1-thr) is wrong for b < 0 (see the docstring);
            # lrjax's b - thr*|b| on negative values equals PyTorch's on the
            # negated values in the opposite mode, where b > 0.
            other = "max" if mode == "min" else "min"
            ref = _torch_lrs(-values, mode=other, threshold_mode="rel", config=config)
        else:
            continue
        _unambiguous(
            values,
            config,
            resolution,
            threshold_mode=threshold_mode,
            mode=mode,
            convention="pytorch",
        )
        _assert_replays(ours[i], ref, rtol, f"{name} {config}")
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize("dtype", MODES)
@pytest.mark.parametrize("mode", ["min", "max"])
def test_matches_keras(mode, dtype):
    ours = _lrjax_table("abs", mode, "keras", dtype)
    sequences, rtol, resolution = _mode(dtype)
    checked = 0
    for i, (name, config) in enumerate(ROWS):
        if not _plain(config) or _kwargs(config)["eps"] != 1e-8:
            continue
        ref = _keras_lrs(sequences[name], mode=mode, config=config)
        _unambiguous(
            sequences[name],
            config,
            resolution,
            threshold_mode="abs",
            mode=mode,
            convention="keras",
        )
        _assert_replays(ours[i], ref, rtol, f"{name} {config}")
        checked += 1
    assert checked >= 48


@pytest.mark.parametrize("dtype", MODES)
@pytest.mark.parametrize(
    "threshold_mode, mode, convention",
    [
        ("rel", "min", "pytorch"),
        ("rel", "max", "pytorch"),
        ("abs", "min", "pytorch"),
        ("abs", "max", "keras"),
        ("rel", "min", "keras"),
    ],
)
def test_matches_numpy_reference(threshold_mode, mode, convention, dtype):
    """Every row, including mixed signs, min_scale and accumulation."""
    ours = _lrjax_table(threshold_mode, mode, convention, dtype)
    sequences, rtol, resolution = _mode(dtype)
    for i, (name, config) in enumerate(ROWS):
        ref = _unambiguous(
            sequences[name],
            config,
            resolution,
            threshold_mode=threshold_mode,
            mode=mode,
            convention=convention,
        )
        _assert_replays(ours[i], ref, rtol, f"{name} {config}")


@pytest.mark.parametrize("dtype", MODES)
def test_cut_positions_differ_between_conventions_as_documented(dtype):
    flat = ROWS.index(("flat", CONFIGS[0]))  # patience 2
    assert _cuts(_lrjax_table("rel", "min", "pytorch", dtype)[flat])[:3] == [4, 7, 10]
    assert _cuts(_lrjax_table("abs", "min", "keras", dtype)[flat])[:3] == [3, 5, 7]
    flat = ROWS.index(("flat", CONFIGS[1]))  # patience 1, cooldown 2, factor 0.5
    assert _cuts(_lrjax_table("rel", "min", "pytorch", dtype)[flat])[:2] == [3, 7]
    assert _cuts(_lrjax_table("abs", "min", "keras", dtype)[flat])[:4] == [2, 4, 6, 8]


@pytest.mark.parametrize("dtype", MODES)
def test_flat_negative_loss_is_cut_where_pytorch_rel_never_cuts(dtype):
    row = ROWS.index(("negative_flat", CONFIGS[0]))
    ours = _lrjax_table("rel", "min", "pytorch", dtype)[row]
    assert ours[-1] < LR * 1e-3
    torch_lrs = _torch_lrs(
        SEQUENCES["negative_flat"], mode="min", threshold_mode="rel", config=CONFIGS[0]
    )
    assert np.all(torch_lrs == LR)  # PyTorch's literal formula: -1 < -0.9999 "improves"


@pytest.mark.parametrize("dtype", MODES)
def test_zero_loss_counts_as_no_improvement(dtype):
    row = ROWS.index(("zero", CONFIGS[0]))
    assert _cuts(_lrjax_table("rel", "min", "pytorch", dtype)[row])[:1] == [4]


# float32: 0.1 and 0.02 (or 0.2) round once each, the floor's division and the product
# rate * scale once more: 4 roundings, 5U with the second-order terms. float64: 1e-15.
@pytest.mark.parametrize(
    "dtype, rtol",
    [(jnp.float32, 5 * U), pytest.param(jnp.float64, 1e-15, marks=pytest.mark.x64)],
    ids=["float32", "float64"],
)
def test_min_lr_is_the_floor(dtype, rtol):
    row = ROWS.index(("flat", CONFIGS[3]))  # min_lr 0.02
    lrs = _lrjax_table("rel", "min", "pytorch", dtype)[row]
    np.testing.assert_allclose(lrs.min(), 0.02, rtol=rtol)
    row = ROWS.index(("flat", CONFIGS[6]))  # min_scale 0.2
    np.testing.assert_allclose(
        _lrjax_table("abs", "max", "keras", dtype)[row].min(), 0.02, rtol=rtol
    )


def _run(tx, values, params=None):
    p = jnp.zeros(1) if params is None else params
    state = tx.init(p)
    out = []
    for v in values:
        u, state = tx.update(jax.tree.map(jnp.ones_like, p), state, p, value=v)
        out.append(u)
    return out, state


def test_nan_counts_as_bad_and_is_never_best():
    tx = lrjax.reduce_on_plateau(factor=0.5, patience=0)
    us, state = _run(tx, [1.0, float("nan"), 0.5])
    assert [float(u[0]) for u in us] == [1.0, 0.5, 0.5]
    assert float(state.best) == 0.5


def test_accumulation_decides_on_the_mean():
    tx = lrjax.reduce_on_plateau(factor=0.5, patience=0, accumulation_size=2)
    # Means 1.0, 1.0 (a bad decision on the 4th call), 0.5.
    us, _ = _run(tx, [1.5, 0.5, 0.0, 2.0, 0.5, 0.5])
    assert [float(u[0]) for u in us] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]


# float32: eta = 0.1 * 0.25 rounds once (0.1; the power of two is exact), the floor
# 0.01 / eta twice more (0.01 and the division), the product eta * floor once: 4
# roundings, 5U with the second-order terms. float64: 1e-14.
@pytest.mark.parametrize(
    "dtype, rtol",
    [(jnp.float32, 5 * U), pytest.param(jnp.float64, 1e-14, marks=pytest.mark.x64)],
    ids=["float32", "float64"],
)
def test_min_lr_follows_a_schedule(dtype, rtol):
    sched = lambda n: 0.1 * 0.5 ** jnp.asarray(n, dtype)  # noqa: E731
    tx = lrjax.chain(
        lrjax.sgd(sched),
        lrjax.reduce_on_plateau(factor=0.5, patience=0, min_lr=0.01, learning_rate=sched),
    )
    _, state = _run(tx, [1.0, 1.0, 1.0], jnp.zeros(1, dtype))
    # Step 2: eta = 0.025, the cut to scale 0.25 would give 0.00625 < 0.01: floor 0.4.
    np.testing.assert_allclose(float(lrjax.current_learning_rate(state)), 0.01, rtol=rtol)


@pytest.mark.parametrize(
    "dtype", [jnp.float32, jnp.bfloat16, pytest.param(jnp.float64, marks=pytest.mark.x64)]
)
def test_jit_and_dtypes(dtype):
    tx = lrjax.reduce_on_plateau(factor=0.5, patience=0)
    p = {"w": jnp.ones(3, dtype)}
    step = jax.jit(lambda s, v: tx.update(p, s, p, value=v))
    state = tx.init(p)
    for v in (jnp.asarray(1.0, dtype), jnp.asarray(2.0, dtype)):
        u, state = step(state, v)
    assert u["w"].dtype == dtype
    assert float(u["w"][0]) == 0.5
    assert step._cache_size() == 1


def test_inject_hyperparams_and_current_learning_rate_of_an_optax_optimizer():
    tx = optax.chain(
        optax.inject_hyperparams(optax.sgd)(learning_rate=0.2),
        optax.inject_hyperparams(lrjax.reduce_on_plateau)(factor=0.5, patience=1),
    )
    _, state = _run(tx, [1.0, 1.0, 1.0])
    # 0.2 rounds once in float32; the cut by 0.5 is exact.
    np.testing.assert_allclose(float(lrjax.current_learning_rate(state)), 0.1, rtol=2 * U)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(factor=1.0), ValueError, "factor"),
        (dict(factor=0.0), ValueError, "factor"),
        (dict(patience=-1), ValueError, "patience"),
        (dict(patience=1.5), ValueError, "patience"),
        (dict(threshold=-1e-4), ValueError, "threshold"),
        (dict(threshold_mode="relative"), ValueError, "threshold_mode"),
        (dict(cooldown=-2), ValueError, "cooldown"),
        (dict(min_lr=-1.0), ValueError, "min_lr"),
        (dict(min_lr=1e-5), ValueError, "learning_rate"),
        (dict(mode="auto"), ValueError, "mode"),
        (dict(convention="tf"), ValueError, "convention"),
        (dict(min_scale=2.0), ValueError, "min_scale"),
        (dict(eps=-1.0), ValueError, "eps"),
        (dict(accumulation_size=0), ValueError, "accumulation_size"),
        (dict(learning_rate=-0.1), ValueError, "learning_rate"),
        (dict(factor="0.1"), TypeError, "factor"),
    ],
)
def test_bad_hyperparameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        lrjax.reduce_on_plateau(**kwargs)


def test_value_is_required_and_scalar():
    tx = lrjax.reduce_on_plateau()
    state = tx.init(jnp.zeros(2))
    with pytest.raises(TypeError, match="value"):
        tx.update(jnp.ones(2), state)
    with pytest.raises(ValueError, match="scalar"):
        tx.update(jnp.ones(2), state, value=jnp.ones(2))
