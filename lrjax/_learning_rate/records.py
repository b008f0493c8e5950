"""The registry of state types that record the learning rate an update applied.

A transform whose state holds the rate it applied (or a factor on it) marks the state
class with `records_learning_rate`; [`lrjax.current_learning_rate`][] (`observe.py`)
reads `RECORDS` to find those fields.
"""

from __future__ import annotations

from .._shared import validate

# Registry of state types that record the learning rate an update applied, read by
# ``current_learning_rate`` (``observe.py``).
# kind "rate": the field holds an absolute learning rate.
# kind "factor": the field holds a multiplier on the learning rate (plateau reduction).
RECORDS: dict[type, tuple[str, str]] = {}


def records_learning_rate(field: str = "learning_rate", kind: str = "rate"):
    """Class decorator: mark a state `NamedTuple` as recording the applied LR."""
    validate.choice("kind", kind, ("rate", "factor"))

    def register(cls: type) -> type:
        RECORDS[cls] = (field, kind)
        return cls

    return register
