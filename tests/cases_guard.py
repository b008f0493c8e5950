"""Conformance cases for lrjax's guard against non-finite steps."""

from __future__ import annotations

from conformance import Case

import lrjax

CASES = [
    Case(
        "skip_nonfinite_adam",
        lambda lr: lrjax.skip_nonfinite(lrjax.adam(lr)),
        ("skip_nonfinite",),
    ),
]
