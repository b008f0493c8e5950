"""Conformance cases for DoG, L-DoG, DoWG, COCOB, the Polyak step size and MoMo.

These methods set their own step size, so the recorded rate is checked for being
finite and non-negative (``adapts_lr``); COCOB has no learning rate and L-DoG one per
leaf, so ``current_learning_rate`` refuses them (``records_lr=False``). Weight decay
and the options that add state (``use_fstar``) are switched on.
"""

from __future__ import annotations

from conformance import Case

import lrjax

CASES = [
    Case(
        "dog_weight_decay",
        lambda lr: lrjax.dog(lr, weight_decay=1e-2),
        ("dog",),
        lr=1.0,
        adapts_lr=True,
    ),
    Case(
        "dog_init_eta",
        lambda lr: lrjax.dog(lr, init_eta=1e-3),
        ("dog",),
        lr=1.0,
        adapts_lr=True,
    ),
    Case(
        "l_dog",
        lambda lr: lrjax.l_dog(lr, weight_decay=1e-2),
        ("l_dog",),
        lr=1.0,
        records_lr=False,
    ),
    Case(
        "dowg",
        lambda lr: lrjax.dowg(lr, weight_decay=1e-2),
        ("dowg",),
        lr=1.0,
        adapts_lr=True,
    ),
    Case(
        "cocob",
        lambda lr: lrjax.cocob(weight_decay=1e-2),
        ("cocob",),
        records_lr=False,
        takes_schedule=False,
    ),
    Case(
        "polyak_sgd_sps_max",
        lambda lr: lrjax.polyak_sgd(lr, variant="sps_max"),
        ("polyak_sgd",),
        needs_loss=True,
        lr=1.0,
        adapts_lr=True,
    ),
    Case(
        "polyak_sgd_smooth",
        lambda lr: lrjax.polyak_sgd(lr),
        ("polyak_sgd",),
        needs_loss=True,
        lr=1.0,
        adapts_lr=True,
    ),
    Case(
        "momo_fstar_decay",
        lambda lr: lrjax.momo(lr, weight_decay=1e-2, use_fstar=True),
        ("momo",),
        needs_loss=True,
        lr=1.0,
        adapts_lr=True,
    ),
    Case(
        "momo_bias_correction",
        lambda lr: lrjax.momo(lr, bias_correction=True),
        ("momo",),
        needs_loss=True,
        lr=1.0,
        adapts_lr=True,
    ),
    Case(
        "momo_adam_fstar_decay",
        lambda lr: lrjax.momo_adam(lr, weight_decay=1e-2, use_fstar=True),
        ("momo_adam",),
        needs_loss=True,
        lr=1e-2,
        adapts_lr=True,
    ),
]
