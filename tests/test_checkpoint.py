"""Nothing is lost on resume: checkpoint midway, restore in a fresh process, continue.

The resumed run must be bit-identical to the uninterrupted one, params and optimizer
state alike (step counters, schedule position, recorded learning rate, plateau and
hypergradient statistics), with orbax-checkpoint and with flax.serialization bytes.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

WORKER = pathlib.Path(__file__).parent / "workers" / "checkpoint.py"
STEPS, SAVE_AT = 30, 13
NAMES = ["adam_scheduled", "sgd_step_decay", "reduce_on_plateau", "adam_hd", "newton_cg"]


def _worker(*args):
    proc = subprocess.run(
        [sys.executable, str(WORKER), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


def test_resume_is_bit_identical(tmp_path):
    """Every optimizer, both formats: one save process, one fresh resume process.

    One test rather than one per optimizer, so that the two processes (which run every
    optimizer) are started once however pytest-xdist distributes the tests.
    """
    pytest.importorskip("orbax.checkpoint")
    full = _worker("save", STEPS, SAVE_AT, tmp_path)
    resumed = _worker("resume", STEPS, SAVE_AT, tmp_path)
    for name in NAMES:
        assert name in full, f"lrjax has no optimizer for the {name!r} checkpoint check"
        # The params moved away from their all-zero start.
        assert all(set(leaf) != {"0"} for leaf in full[name]["params"]), name
        for fmt in ("orbax", "flax"):
            got = resumed[f"{name}.{fmt}"]
            assert got["params"] == full[name]["params"], f"{name} params differ ({fmt})"
            assert got["state"] == full[name]["state"], f"{name} state differs ({fmt})"
