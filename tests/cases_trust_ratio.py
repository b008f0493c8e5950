"""Conformance cases for the layer-wise trust ratios (``lrjax/_directions/trust_ratio.py``).

The masks select by rank and by path, the paper's and optax's denominators are both
run, and LAMB runs in its Keras placement (a transform after the learning rate that
reads the rate itself): ``current_learning_rate`` must still report the base rate.
"""

from __future__ import annotations

from conformance import Case

import lrjax


def _with_lr(direction):
    return lambda lr: lrjax.chain(direction(), lrjax.scale_by_learning_rate(lr))


CASES = [
    Case(
        "scale_by_trust_ratio_sum_masked",
        _with_lr(
            lambda: lrjax.scale_by_trust_ratio(
                trust_coefficient=0.5,
                eps=1e-8,
                weight_decay=1e-2,
                denominator="sum",
                mask=lrjax.leaf_mask(min_rank=2),
            )
        ),
        ("scale_by_trust_ratio", "leaf_mask"),
    ),
    Case(
        "lars_torch_nesterov",
        lambda lr: lrjax.lars(
            lr,
            1e-2,
            lrjax.leaf_mask(min_rank=2),
            0.01,
            0.0,
            lrjax.leaf_mask(exclude="a"),
            0.9,
            True,
            denominator="sum",
            lr_in_momentum=False,
        ),
        ("lars", "leaf_mask"),
    ),
    Case(
        "lamb_keras_decay",
        lambda lr: lrjax.lamb(
            lr,
            weight_decay=1e-2,
            mask=lrjax.leaf_mask(exclude="a"),
            weight_decay_placement="keras",
        ),
        ("lamb", "scale_by_trust_ratio"),
    ),
]
