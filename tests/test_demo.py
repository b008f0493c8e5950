"""The README's demonstration runs end to end (with fewer steps) and reports sensibly."""

from __future__ import annotations

import importlib.util
import pathlib

import jax
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_demo_runs_and_writes_its_report(tmp_path, capsys):
    pytest.importorskip("tqdm")
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("demo", ROOT / "examples" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    # The demo runs with JAX's defaults, as a user would, not the suite's settings.
    with jax.numpy_dtype_promotion("standard"), jax.enable_x64(False):
        results, finder, (curves, best, reached) = demo.main(
            ["--steps", "200", "--quick", "--out", str(tmp_path)]
        )
    out = capsys.readouterr().out
    assert "suggested learning rate" in out and "steps to 0.1" in out
    assert (tmp_path / "lrjax_demo.png").stat().st_size > 10_000
    assert 1e-4 < finder.suggestion < 1.0
    for name, (losses, _lrs, acc, _) in results.items():
        assert losses[-1] < losses[0], name
        assert acc > 0.85, name
    assert reached["newton"] is not None and reached["newton"] <= 10
