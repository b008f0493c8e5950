"""Plateau cuts driven by an evaluation measured every few steps (``has_value=``).

One jitted training step takes the validation loss and a traced flag that says whether
it was measured at this step. The decisions must equal PyTorch's and Keras's
``ReduceLROnPlateau`` stepped once per evaluation on the same losses; a run resumed
between two evaluations continues bit-identically; a step that ``skip_nonfinite`` skips
leaves the plateau state exactly as it was.
"""

from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lrjax

LR = 0.1
EVERY = 5  # an evaluation after every 5th training step
# Validation losses, one per evaluation: improving, a plateau, a small gain below the
# threshold, an improvement, a second plateau.
VAL = [1.0, 0.8, 0.6, 0.6, 0.61, 0.6, 0.59999, 0.4, 0.41, 0.4, 0.4, 0.4, 0.45, 0.4]
STEPS = EVERY * len(VAL)
CONFIGS = {
    "patience 1": {"factor": 0.5, "patience": 1, "threshold": 1e-3, "cooldown": 0},
    "patience 2, cooldown 1": {
        "factor": 0.5,
        "patience": 2,
        "threshold": 1e-3,
        "cooldown": 1,
    },
    "patience 0, cooldown 2": {
        "factor": 0.3,
        "patience": 0,
        "threshold": 1e-3,
        "cooldown": 2,
    },
}


def _schedule():
    """(validation loss, measured) at each training step: NaN where not measured."""
    vals = np.full(STEPS, np.nan)
    vals[EVERY - 1 :: EVERY] = VAL
    return jnp.asarray(vals, jnp.float32), jnp.asarray(~np.isnan(vals))


def _optimizer(convention: str, config: dict, guarded: bool = False):
    threshold_mode = "rel" if convention == "pytorch" else "abs"
    tx = lrjax.chain(
        lrjax.sgd(LR),
        lrjax.reduce_on_plateau(
            **config, threshold_mode=threshold_mode, convention=convention
        ),
    )
    return lrjax.skip_nonfinite(tx) if guarded else tx


def _make_step(tx):
    @jax.jit
    def step(params, state, grad, val_loss, measured):
        updates, state = tx.update(grad, state, params, value=val_loss, has_value=measured)
        return lrjax.apply_updates(params, updates), state

    return step


def _lrjax_rates(convention: str, config: dict) -> list[float]:
    """The learning rate after each evaluation."""
    tx = _optimizer(convention, config)
    step = _make_step(tx)
    params = jnp.zeros(2)
    state = tx.init(params)
    vals, measured = _schedule()
    out = []
    for n in range(STEPS):
        params, state = step(params, state, jnp.ones(2), vals[n], measured[n])
        if bool(measured[n]):
            out.append(float(lrjax.current_learning_rate(state)))
    return out


def _torch_rates(config: dict) -> list[float]:
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=LR)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", threshold_mode="rel", **config
    )
    out = []
    for v in VAL:
        sched.step(v)
        out.append(opt.param_groups[0]["lr"])
    return out


def _keras_rates(config: dict) -> list[float]:
    keras = pytest.importorskip("keras")
    cb = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss",
        factor=config["factor"],
        patience=config["patience"],
        min_delta=config["threshold"],
        cooldown=config["cooldown"],
        mode="min",
    )
    # The callback reads and assigns model.optimizer.learning_rate only.
    model = types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=LR))
    cb.set_model(model)
    cb.on_train_begin()
    out = []
    for epoch, v in enumerate(VAL):
        cb.on_epoch_end(epoch, logs={"val_loss": v})
        out.append(float(model.optimizer.learning_rate))
    return out


def _cuts(rates: list[float]) -> list[int]:
    """1-based evaluations after which the rate is lower than before."""
    prev = [LR, *rates[:-1]]
    return [i + 1 for i, (a, b) in enumerate(zip(prev, rates)) if b < a * (1 - 1e-6)]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_decisions_equal_pytorch_stepped_once_per_evaluation(name):
    ours, theirs = _lrjax_rates("pytorch", CONFIGS[name]), _torch_rates(CONFIGS[name])
    assert _cuts(ours) == _cuts(theirs) and _cuts(ours)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_decisions_equal_keras_stepped_once_per_evaluation(name):
    ours, theirs = _lrjax_rates("keras", CONFIGS[name]), _keras_rates(CONFIGS[name])
    assert _cuts(ours) == _cuts(theirs) and _cuts(ours)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_the_documented_cut_positions():
    """The cut evaluations quoted in docs/plateau.md."""
    config = CONFIGS["patience 1"]
    assert _cuts(_lrjax_rates("pytorch", config)) == [5, 7, 10, 12, 14]
    assert _cuts(_lrjax_rates("keras", config)) == [4, 5, 6, 7, 9, 10, 11, 12, 13, 14]
    config = CONFIGS["patience 2, cooldown 1"]
    assert _cuts(_lrjax_rates("pytorch", config)) == [6, 11]
    assert _cuts(_lrjax_rates("keras", config)) == [5, 7, 10, 12, 14]


def test_a_step_without_a_measurement_changes_no_decision_field():
    tx = _optimizer("pytorch", CONFIGS["patience 1"])
    step = _make_step(tx)
    params = jnp.zeros(2)
    _, state = step(
        params, tx.init(params), jnp.ones(2), jnp.asarray(0.5), jnp.asarray(True)
    )
    for stand_in in (jnp.nan, jnp.inf, -1e30, 0.5):
        _, after = step(
            params, state, jnp.ones(2), jnp.asarray(stand_in), jnp.asarray(False)
        )
        before_p, after_p = state[1], after[1]
        for field in (
            "scale",
            "best",
            "num_bad",
            "cooldown_counter",
            "accumulated",
            "accumulated_count",
        ):
            np.testing.assert_array_equal(
                np.asarray(getattr(after_p, field)), np.asarray(getattr(before_p, field))
            )
        assert int(after_p.count) == int(before_p.count) + 1


def _run(tx, steps, state=None, params=None, nan_at=(), start=0):
    step = _make_step(tx)
    params = jnp.zeros(2) if params is None else params
    state = tx.init(params) if state is None else state
    vals, measured = _schedule()
    for n in range(start, start + steps):
        g = jnp.full(2, jnp.nan) if n in nan_at else jnp.ones(2)
        params, state = step(params, state, g, vals[n], measured[n])
    return params, state


def _assert_same(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_resume_between_evaluations_is_bit_identical():
    serialization = pytest.importorskip("flax.serialization")
    tx = _optimizer("pytorch", CONFIGS["patience 2, cooldown 1"])
    p_full, s_full = _run(tx, STEPS)
    cut = 2 * EVERY + 2  # between the 2nd and 3rd evaluations
    p_mid, s_mid = _run(tx, cut)
    blob = serialization.to_bytes({"params": p_mid, "opt": s_mid})
    fresh = {"params": jnp.zeros(2), "opt": tx.init(jnp.zeros(2))}
    restored = serialization.from_bytes(fresh, blob)
    p_res, s_res = _run(tx, STEPS - cut, restored["opt"], restored["params"], start=cut)
    _assert_same((p_res, s_res), (p_full, s_full))


def test_a_skipped_step_leaves_the_plateau_state_exactly_unchanged():
    tx = _optimizer("keras", CONFIGS["patience 1"], guarded=True)
    for bad in (3, 2 * EVERY - 1):  # between evaluations, and at an evaluation
        _, before = _run(tx, bad)
        _, after = _run(tx, 1, before, start=bad, nan_at=(bad,))
        assert int(after.total) == 1
        _assert_same(after.inner_state, before.inner_state)


def test_a_skipped_batch_does_not_shift_later_decisions():
    """Skipping a batch between evaluations: the decisions are those of the same
    evaluations without that batch (the issue's 0.6 -> 0.4 case, cut wrongly before)."""
    config = CONFIGS["patience 1"]
    clean = _optimizer("keras", config, guarded=True)
    _, s_clean = _run(clean, STEPS)
    _, s_skip = _run(clean, STEPS, nan_at=(7,))
    plateau_clean, plateau_skip = s_clean.inner_state[1], s_skip.inner_state[1]
    for field in ("scale", "best", "num_bad", "cooldown_counter"):
        np.testing.assert_array_equal(
            np.asarray(getattr(plateau_skip, field)),
            np.asarray(getattr(plateau_clean, field)),
        )
    # The recorded best is a value that was measured.
    assert float(plateau_skip.best) in [np.float32(v) for v in VAL]


def test_an_absent_nan_value_is_not_a_reason_to_skip():
    tx = _optimizer("pytorch", CONFIGS["patience 1"], guarded=True)
    _, state = _run(tx, EVERY - 1)  # all steps before the first evaluation: NaN values
    assert int(state.total) == 0


def test_has_value_must_be_a_scalar():
    tx = lrjax.reduce_on_plateau()
    state = tx.init(jnp.zeros(2))
    with pytest.raises(ValueError, match="has_value"):
        tx.update(jnp.ones(2), state, value=jnp.asarray(1.0), has_value=jnp.ones(2, bool))
