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

pytestmark = pytest.mark.xdist_group("checkpoint")

WORKER = pathlib.Path(__file__).parent / "workers" / "checkpoint.py"
STEPS, SAVE_AT = 30, 13
NAMES = ["adam_scheduled", "sgd_step_decay", "reduce_on_plateau", "adam_hd", "newton_cg"]


def _worker(*args, fmt="orbax"):
    env = dict(os.environ, FORMAT=fmt, JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, str(WORKER), *map(str, args)], capture_output=True, text=True,
        timeout=180, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.fixture(scope="module", params=["orbax", "flax"])
def runs(request, tmp_path_factory):
    fmt = request.param
    if fmt == "orbax":
        pytest.importorskip("orbax.checkpoint")
    where = tmp_path_factory.mktemp(f"ckpt_{fmt}")
    full = _worker("full", STEPS, fmt=fmt)
    _worker("save", STEPS, SAVE_AT, where, fmt=fmt)
    resumed = _worker("resume", STEPS, SAVE_AT, where, fmt=fmt)
    return full, resumed


@pytest.mark.parametrize("name", NAMES)
def test_resume_is_bit_identical(name, runs):
    full, resumed = runs
    assert name in full, f"lrjax has no optimizer for the {name!r} checkpoint check"
    assert resumed[name]["params"] == full[name]["params"]
    assert resumed[name]["state"] == full[name]["state"]
    # The params moved away from their all-zero start.
    assert all(set(leaf) != {"0"} for leaf in full[name]["params"])
