"""Conformance cases for Prodigy and D-Adaptation (Adam, AdamW, SGD, AdaGrad).

Their recorded rate is $d\\eta$ (times the bias factor where enabled), which the
methods adapt, so every case sets ``adapts_lr``. The options that change the state or
the path (coupled decay, bias correction, ``slice_p``, ``growth_rate``, momentum) are on.
"""

from __future__ import annotations

from conformance import Case

import lrjax


def _unit_rate(direction):
    return lambda lr: lrjax.chain(direction(lr), lrjax.scale_by_learning_rate(1.0))


CASES = [
    Case(
        "prodigy_coupled_bias_slice",
        lambda lr: lrjax.prodigy(
            lr,
            weight_decay=1e-2,
            decouple=False,
            use_bias_correction=True,
            slice_p=2,
            growth_rate=2.0,
        ),
        ("prodigy",),
        lr=1.0,
        adapts_lr=True,
    ),
    Case(
        "scale_by_prodigy_safeguard",
        _unit_rate(
            lambda lr: lrjax.scale_by_prodigy(lr, safeguard_warmup=True, weight_decay=1e-2)
        ),
        ("scale_by_prodigy",),
        lr=1.0,
        adapts_lr=True,
    ),
    Case(
        "dadapt_adam_coupled_bias",
        lambda lr: lrjax.dadapt_adam(
            lr, weight_decay=1e-2, use_bias_correction=True, growth_rate=2.0
        ),
        ("dadapt_adam",),
        lr=1.0,
        adapts_lr=True,
    ),
    Case(
        "dadapt_adamw",
        lambda lr: lrjax.dadapt_adamw(lr, weight_decay=1e-2),
        ("dadapt_adamw",),
        lr=1.0,
        adapts_lr=True,
    ),
    Case(
        "scale_by_dadapt_adam_decoupled",
        _unit_rate(
            lambda lr: lrjax.scale_by_dadapt_adam(lr, decouple=True, weight_decay=1e-2)
        ),
        ("scale_by_dadapt_adam",),
        lr=1.0,
        adapts_lr=True,
    ),
    Case(
        "dadapt_sgd_momentum_decay",
        lambda lr: lrjax.dadapt_sgd(lr, momentum=0.9, weight_decay=1e-2, growth_rate=2.0),
        ("dadapt_sgd",),
        lr=0.5,
        adapts_lr=True,
    ),
    Case(
        "scale_by_dadapt_sgd",
        _unit_rate(lrjax.scale_by_dadapt_sgd),
        ("scale_by_dadapt_sgd",),
        lr=0.5,
        adapts_lr=True,
    ),
    Case(
        "dadapt_adagrad_momentum_decay",
        lambda lr: lrjax.dadapt_adagrad(
            lr, momentum=0.9, weight_decay=1e-2, growth_rate=2.0
        ),
        ("dadapt_adagrad",),
        lr=1.0,
        adapts_lr=True,
    ),
    Case(
        "scale_by_dadapt_adagrad",
        _unit_rate(lrjax.scale_by_dadapt_adagrad),
        ("scale_by_dadapt_adagrad",),
        lr=1.0,
        adapts_lr=True,
    ),
]
