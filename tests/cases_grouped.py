"""Conformance cases for lrjax.grouped (lrjax/_tools/grouped.py).

The conformance tree has two leaves of different shapes: the first case leaves them
ungrouped (the pass-through path); ``min_group_size=1`` stacks each into its own group,
so the stacking and unstacking path meets the whole contract too.
"""

from conformance import Case

import lrjax

CASES = [
    Case(
        name="grouped_adam",
        make=lambda lr: lrjax.grouped(lrjax.adam(lr)),
        covers=("grouped",),
    ),
    Case(
        name="grouped_sgd_momentum_stacked",
        make=lambda lr: lrjax.grouped(lrjax.sgd(lr, momentum=0.9), min_group_size=1),
        covers=("grouped",),
    ),
]
