"""The shared conformance contract that every public lrjax transform must meet.

Each ``tests/cases_<module>.py`` exports ``CASES``: a list of :class:`Case`. The test
module ``test_conformance.py`` collects them all and runs every check on every case; a
public transform or optimizer that no case covers fails ``test_every_public_transform_
is_covered``.
"""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Case:
    """One transform under test.

    Attributes:
      name: test id.
      make: builds the transform from a learning rate (a float or a schedule). For a
        transform without a learning rate, ignore the argument and set ``records_lr``
        to False.
      covers: the public names in ``lrjax`` that this case exercises.
      needs_loss: pass ``value=`` and ``value_fn=`` to ``update`` (Newton, plateau).
      records_lr: ``current_learning_rate`` reads the learning rate from its state.
      lr: the learning rate used by the checks.
      takes_schedule: the learning-rate argument accepts a schedule.
      adapts_lr: the transform changes the learning rate itself (hypergradients), so
        the recorded rate is checked for being finite and non-negative, not equal.
    """

    name: str
    make: Callable[[Any], Any]
    covers: tuple[str, ...]
    needs_loss: bool = False
    records_lr: bool = True
    lr: float = 0.01
    takes_schedule: bool = True
    adapts_lr: bool = False

    def __str__(self) -> str:  # used as the pytest id
        return self.name


# What every public transform does with complex parameters (docs/conventions.md):
# "supported" (optax's numbers: |g|² where the real formula squares a gradient, real
# inner products and norms; checked in tests/test_complex.py) or "refused" (a
# TypeError at init naming the first complex leaf). A public transform without an
# entry fails tests/test_complex.py.
COMPLEX_VERDICTS = {
    **dict.fromkeys(
        [
            "scale_by_learning_rate",
            "trace",
            "sgd",
            "add_decayed_weights",
            "adagrad",
            "scale_by_adagrad",
            "adadelta",
            "scale_by_adadelta",
            "rmsprop",
            "scale_by_rmsprop",
            "adam",
            "scale_by_adam",
            "adamw",
            "amsgrad",
            "scale_by_amsgrad",
            "nadam",
            "scale_by_nadam",
            "adamax",
            "scale_by_adamax",
            "adagrad_norm",
            "scale_by_adagrad_norm",
            "sgd_hd",
            "adam_hd",
            "scale_by_hypergradient",
            "reduce_on_plateau",
            "skip_nonfinite",
            "grouped",
            "lamb",
            "lars",
            "scale_by_trust_ratio",
            "schedule_free",
            "schedule_free_sgd",
        ],
        "supported",
    ),
    **dict.fromkeys(
        [
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
            "mechanize",
            "dog",
            "l_dog",
            "dowg",
            "cocob",
            "polyak_sgd",
            "momo",
            "momo_adam",
        ],
        "refused",
    ),
    **dict.fromkeys(
        ["newton", "scale_by_newton", "newton_cg", "scale_by_newton_cg"], "refused"
    ),
}


def complex_verdict(case: Case) -> str:
    """ "refused" if the case uses a refused transform, else "supported"."""
    verdicts = {COMPLEX_VERDICTS.get(name, "supported") for name in case.covers}
    return "refused" if "refused" in verdicts else "supported"


def loss(params) -> jnp.ndarray:
    """A smooth, strictly convex loss over the conformance params tree."""
    a, b = params["a"], params["b"]
    c = jnp.asarray(jnp.arange(1, 4), a.dtype)
    return 0.5 * jnp.sum(c * (a - 1) ** 2) + 0.25 * jnp.sum(b**2) + 0.5 * jnp.sum(b) ** 2


def params(dtype) -> dict:
    """The conformance params tree: two leaves of different shapes."""
    return {
        "a": jnp.asarray([0.5, -1.0, 2.0], dtype),
        "b": jnp.asarray([[0.1, 0.2], [-0.3, 0.4]], dtype),
    }


def all_cases() -> list[Case]:
    """Every case from every ``tests/cases_*.py``."""
    cases: list[Case] = []
    for path in sorted(pathlib.Path(__file__).parent.glob("cases_*.py")):
        cases.extend(importlib.import_module(path.stem).CASES)
    return cases
