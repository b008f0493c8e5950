"""The Flax NNX recipe (examples/nnx_transformer_lm.py) runs and does what its page says.

One scaled-down run checks every claim of docs/nnx_recipe.md: the model learns, the
logged rates are the schedule's values times the plateau factors, the range test's
suggestion is the peak, the validation loss drives the cut, and the run resumed from
the orbax checkpoint repeats the uninterrupted one bit for bit.
"""

from __future__ import annotations

import importlib.util
import math
import pathlib
import re
import textwrap
import types

import jax
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
STEPS, EVAL_EVERY, CHECKPOINT_AT = 100, 10, 55
PATIENCE, FACTOR, THRESHOLD = 1, 0.5, 1e-3  # THRESHOLD: the recipe's plateau threshold
RTOL = 1e-6  # float32 rounding of the schedule: a few ulps (2**-23 = 1.2e-7 each)


def _recipe():
    pytest.importorskip("flax.nnx")
    pytest.importorskip("orbax.checkpoint")
    path = ROOT / "examples" / "nnx_transformer_lm.py"
    spec = importlib.util.spec_from_file_location("nnx_transformer_lm", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stalling_text(text: str) -> str:
    """The recipe's text with its held-out tenth replaced by random characters.

    The model cannot learn random characters, so the validation loss stalls from the
    first evaluation on, whatever the numerics of this machine: the plateau cut must
    fire, several times, through the real mechanism (the validation loss handed to
    `reduce_on_plateau` with `has_value=`).
    """
    split = int(0.9 * len(text))  # the recipe's split
    vocab = sorted(set(text))
    noise = np.random.default_rng(0).choice(vocab, len(text) - split)
    return text[:split] + "".join(noise)


def _schedule(n, peak, warmup, total, min_ratio):
    """Linear warm-up, cosine to `min_ratio * peak`, in float64 (not lrjax's code)."""
    n = np.asarray(n, np.float64)
    cosine = 0.5 * (1 + np.cos(np.pi * (n - warmup) / (total - warmup)))
    return peak * np.where(n < warmup, n / warmup, cosine * (1 - min_ratio) + min_ratio)


def _pytorch_scales(values, patience, factor, threshold):
    """PyTorch's ReduceLROnPlateau rule (mode min, relative threshold, no cooldown)."""
    best, bad, scale, out = math.inf, 0, 1.0, []
    for v in values:
        if v < best * (1 - threshold):
            best, bad = v, 0
        else:
            bad += 1
        if bad > patience:
            scale, bad = scale * factor, 0
        out.append(scale)
    return np.asarray(out)


def test_recipe_trains_logs_cuts_and_resumes(tmp_path, capsys):
    """One test, so that the run happens once however pytest-xdist spreads the tests."""
    recipe = _recipe()
    # The recipe runs with JAX's defaults, as a user would, not the suite's settings.
    with jax.numpy_dtype_promotion("standard"), jax.enable_x64(False):
        got = recipe.main(
            STEPS,
            d_model=32,
            num_layers=1,
            num_heads=2,
            seq_len=32,
            batch_size=16,
            eval_every=EVAL_EVERY,
            patience=PATIENCE,
            factor=FACTOR,
            range_test_steps=50,
            checkpoint_dir=tmp_path,
            checkpoint_at=CHECKPOINT_AT,
            text=_stalling_text(recipe.TEXT),
        )
    log = capsys.readouterr().out
    assert "range test:" in log and "resumed run identical" in log, log

    # The model learns: the training loss ends well below the uniform guess, log(vocab).
    assert got["uniform_loss"] == pytest.approx(math.log(got["vocab_size"]))
    assert got["train_losses"].shape == (STEPS,)
    assert got["train_losses"][-10:].mean() < got["uniform_loss"] - 1.0, got["train_losses"]

    # The range test chose the peak: finite, positive, and the schedule's peak below.
    peak = got["peak_lr"]
    assert math.isfinite(got["suggestion"]) and got["suggestion"] > 0, got[
        "range_test_reason"
    ]
    assert peak == got["suggestion"]

    # The validation loss drove the cut, by PyTorch's rule, from the first stall on.
    steps = got["eval_steps"]
    np.testing.assert_array_equal(steps, np.arange(EVAL_EVERY, STEPS, EVAL_EVERY))
    scales = _pytorch_scales(got["val_losses"], PATIENCE, FACTOR, THRESHOLD)
    assert got["cut_fired"] and len(got["cut_steps"]) >= 2, got["val_losses"]
    np.testing.assert_array_equal(got["scales"], scales.astype(np.float32))
    np.testing.assert_array_equal(got["cut_steps"], steps[np.diff(scales, prepend=1.0) < 0])

    # The logged rates: the warm-up + cosine schedule with that peak, times the factor
    # (0.5, 0.25, ... after each cut): lrjax's schedule evaluated here to 1 float32 ulp
    # (in the jitted step XLA fuses its float32 cosine differently than op by op), and
    # the float64 formula to float32 rounding.
    rates = got["learning_rates"].astype(np.float32)  # float32 values, held as float64
    warmup = got["warmup_steps"]
    schedule = recipe.lrjax.warmup_cosine(
        peak, warmup_steps=warmup, total_steps=STEPS, min_ratio=got["min_ratio"]
    )
    lrjax_values = np.asarray([np.float32(schedule(n)) for n in steps])
    np.testing.assert_array_max_ulp(
        rates, lrjax_values * scales.astype(np.float32), maxulp=1
    )
    expected = _schedule(steps, peak, warmup, STEPS, got["min_ratio"]) * scales
    np.testing.assert_allclose(rates, expected, rtol=RTOL)
    # Before the first cut the rate is the schedule's; at the cut, half of it.
    first = int(np.flatnonzero(steps == got["cut_steps"][0])[0])
    assert first > 0
    np.testing.assert_allclose(
        rates[first - 1], expected[first - 1] / scales[first - 1], rtol=RTOL
    )
    np.testing.assert_allclose(
        rates[first],
        FACTOR * _schedule(steps[first], peak, warmup, STEPS, got["min_ratio"]),
        rtol=RTOL,
    )

    # The run resumed from the checkpoint repeats the uninterrupted one bit for bit,
    # cuts included.
    resumed = got["resume"]
    assert resumed["checkpoint_at"] == CHECKPOINT_AT
    assert (tmp_path / f"step_{CHECKPOINT_AT}").is_dir()
    later = steps >= CHECKPOINT_AT
    assert np.any(np.diff(got["scales"])[later[1:]] < 0), "no cut after the checkpoint"
    np.testing.assert_array_equal(
        resumed["train_losses"], got["train_losses"][CHECKPOINT_AT:]
    )
    np.testing.assert_array_equal(resumed["eval_steps"], steps[later])
    for key in ("val_losses", "learning_rates", "scales"):
        np.testing.assert_array_equal(resumed[key], got[key][later], err_msg=key)
    assert resumed["identical"]


def test_recipe_falls_back_when_the_range_test_has_no_suggestion():
    recipe = _recipe()
    finder = types.SimpleNamespace(suggestion=float("nan"), reason="no descent: flat")
    peak, message = recipe.choose_peak(finder, 3e-3)
    assert peak == 3e-3
    assert "falling back" in message and "no descent: flat" in message


def test_the_page_shows_the_script():
    """Every `py` block of docs/nnx_recipe.md is a verbatim excerpt of the script.

    The page's blocks are `py`, not `python`, so tests/test_docs.py does not run them:
    the script itself runs above.
    """
    source = (ROOT / "examples" / "nnx_transformer_lm.py").read_text()
    page = (ROOT / "docs" / "nnx_recipe.md").read_text()
    blocks = re.findall(r"^```py\n(.*?)^```", page, re.DOTALL | re.MULTILINE)
    assert len(blocks) >= 15
    for block in blocks:
        assert any(textwrap.indent(block, " " * k) in source for k in (0, 4, 8)), block
