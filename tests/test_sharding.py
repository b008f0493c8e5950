"""lrjax on many devices and many processes, with JAX's own runtime.

Each run happens in a subprocess (tests/workers/sharded.py), because the number of
simulated CPU devices is fixed when JAX starts.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

WORKER = pathlib.Path(__file__).parent / "workers" / "sharded.py"
TIMEOUT = 240  # seconds; a hung collective must not hang the suite


def _env():
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _result(stdout: str) -> dict:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"worker printed no result:\n{stdout[-3000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sharded_training_matches_one_device():
    """Fully sharded and data-parallel adam, and sharded Newton-CG, on 8 devices.

    One test (one subprocess) for all three layouts, so the eight-device run happens
    once however pytest-xdist distributes the tests.
    """
    proc = subprocess.run(
        [sys.executable, str(WORKER), "mesh"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = _result(proc.stdout)
    assert result["devices"] == 8
    for layout in ("fully_sharded", "data_parallel"):
        r = result[layout]
        assert r["compiles"] == 1, layout
        assert r["init_state_sharded_like_params"], layout
        assert r["state_sharded_like_params"], layout
        assert r["param_shardings_kept"], layout
        # float64 on both sides; only the order of the sharded reductions differs.
        assert r["max_rel_err"] < 1e-6, layout
        assert r["lr"] == pytest.approx(result["reference_lr"]), layout

    r = result.get("newton_cg")
    assert r is not None, "lrjax.newton_cg is missing"
    assert r["sharded"]
    assert r["compiles"] == 1
    assert r["max_rel_err"] < 1e-6
    assert r["grad_norm"] < 1e-8


def test_two_processes_data_parallel():
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "dist", str(pid), str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for pid in (0, 1)
    ]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0, err[-3000:]
            outputs.append(_result(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for r in outputs:
        assert r["processes"] == 2 and r["devices"] == 8 and r["local_devices"] == 4
        assert r["compiles"] == 1
        assert r["max_rel_err"] < 1e-6
