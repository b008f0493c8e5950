"""Optimizer-state memory, lrjax vs optax: the state's bytes and the compiled step's peak.

State bytes are counted from ``jax.eval_shape(tx.init, params)`` (exact, no allocation);
the step's temporary bytes come from XLA's ``memory_analysis()`` of the donated step, the
extra memory a step needs on top of its arguments.
"""

from __future__ import annotations

import jax
import optax
from _common import compile_step, make_tree, tree_specs
from bench_step import PAIRS

import lrjax

# The row with a scheduled learning rate; every other row uses a constant one. Both
# keep one scalar more than optax: the rate scale_by_learning_rate records.
SCHEDULED = "adam, cosine schedule"


def state_bytes(tx, params) -> int:
    return sum(
        x.size * x.dtype.itemsize for x in jax.tree.leaves(jax.eval_shape(tx.init, params))
    )


def temp_bytes(tx, params) -> int:
    compiled, _, _ = compile_step(tx, params, params)
    m = compiled.memory_analysis()
    return int(getattr(m, "temp_size_in_bytes", -1)) if m is not None else -1


def run(quick: bool = False, log=print) -> dict:
    shapes = (
        tree_specs(True)["transformer-like"] if quick else tree_specs(True)["resnet50-like"]
    )
    params = make_tree(shapes)
    rows = []
    cases = {k: v for k, v in PAIRS.items()}
    cases["grouped(adam)"] = (lambda: lrjax.grouped(lrjax.adam(1e-3)), PAIRS["adam"][1])
    # Both libraries take the same schedule; each evaluates it from an int32 count.
    sched = optax.cosine_decay_schedule(1e-3, 1000)
    cases[SCHEDULED] = (lambda: lrjax.adam(sched), lambda: optax.adam(sched))
    for name, (make_l, make_o) in cases.items():
        sl, so = state_bytes(make_l(), params), state_bytes(make_o(), params)
        tl, to = temp_bytes(make_l(), params), temp_bytes(make_o(), params)
        rows.append(
            {
                "optimizer": name,
                "lrjax state MB": sl / 1e6,
                "optax state MB": so / 1e6,
                # optax's sgd keeps no state, so a ratio has no meaning there: the
                # bytes column says what lrjax adds (its recorded learning rate).
                "state ratio": sl / so if so else "— (optax: none)",
                "lrjax - optax bytes": sl - so,
                "lrjax step temp MB": tl / 1e6,
                "optax step temp MB": to / 1e6,
            }
        )
        log(
            f"  {name:14s} state {sl / 1e6:8.3f} / {so / 1e6:8.3f} MB   step temp "
            f"{tl / 1e6:8.3f} / {to / 1e6:8.3f} MB"
        )
    n = sum(x.size for x in jax.tree.leaves(params))
    return {
        "title": "Optimizer-state memory: lrjax / optax",
        "rows": rows,
        "notes": (
            f"Tree: {'transformer' if quick else 'resnet50'}-like with scaled-down shapes "
            f"({len(shapes)} leaves, {n / 1e6:.2f}M float32); bytes do not depend on "
            "the machine. 'step temp' is XLA's temporary buffer size for the donated "
            "step (what a step needs beyond its inputs and outputs)."
        ),
    }
