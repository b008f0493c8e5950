"""Nothing is lost on resume: checkpoint midway, restore in a fresh process, continue.

The resumed run must be bit-identical to the uninterrupted one, params and optimizer
state alike (step counters, schedule position, recorded learning rate, plateau and
hypergradient statistics), with orbax-checkpoint and with flax.serialization bytes.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.xdist_group("checkpoint")

WORKER = pathlib.Path(__file__).parent / "workers" / "checkpoint.py"
STEPS, SAVE_AT = 30, 13
NAMES = ["adam_scheduled", "sgd_step_decay", "reduce_on_plateau", "adam_hd", "newton_cg"]


def _worker(*args):
    proc = subprocess.run(
        [sys.executable, str(WORKER), *map(str, args)], capture_output=True, text=True,
        timeout=300, env=dict(os.environ, JAX_PLATFORMS="cpu"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@functools.lru_cache(maxsize=None)
def _runs(where: str):
    full = _worker("save", STEPS, SAVE_AT, where)
    resumed = _worker("resume", STEPS, SAVE_AT, where)
    return full, resumed


@pytest.fixture
def runs(tmp_path_factory):
    pytest.importorskip("orbax.checkpoint")
    # One save process and one fresh resume process for every optimizer and format,
    # cached per test process (xdist may interleave modules, undoing module fixtures).
    return _runs(str(tmp_path_factory.getbasetemp() / "checkpoints"))


@pytest.mark.parametrize("fmt", ["orbax", "flax"])
@pytest.mark.parametrize("name", NAMES)
def test_resume_is_bit_identical(name, fmt, runs):
    full, resumed = runs
    assert name in full, f"lrjax has no optimizer for the {name!r} checkpoint check"
    assert resumed[f"{name}.{fmt}"]["params"] == full[name]["params"]
    assert resumed[f"{name}.{fmt}"]["state"] == full[name]["state"]
    # The params moved away from their all-zero start.
    assert all(set(leaf) != {"0"} for leaf in full[name]["params"])
