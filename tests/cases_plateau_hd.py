"""Conformance cases for plateau reduction and hypergradient descent."""

from conformance import Case

import lrjax

CASES = [
    Case(
        "reduce_on_plateau_pytorch",
        lambda lr: lrjax.chain(lrjax.sgd(lr), lrjax.reduce_on_plateau(0.5, patience=0)),
        covers=("reduce_on_plateau",),
        needs_loss=True,
    ),
    Case(
        "reduce_on_plateau_keras_floor_accumulated",
        lambda lr: lrjax.chain(
            lrjax.sgd(lr, momentum=0.9),
            lrjax.reduce_on_plateau(
                0.5,
                patience=1,
                cooldown=1,
                min_lr=1e-3,
                learning_rate=lr,
                threshold_mode="abs",
                convention="keras",
                accumulation_size=2,
            ),
        ),
        covers=("reduce_on_plateau",),
        needs_loss=True,
    ),
]

CASES += [
    Case(
        "sgd_hd_multiplicative_nesterov",
        lambda lr: lrjax.sgd_hd(lr, momentum=0.9, nesterov=True),
        covers=("sgd_hd", "scale_by_hypergradient"),
        takes_schedule=False,
        adapts_lr=True,
    ),
    Case(
        "adam_hd_additive",
        lambda lr: lrjax.adam_hd(lr, 1e-3, rule="additive", max_lr=1.0),
        covers=("adam_hd", "scale_by_hypergradient"),
        takes_schedule=False,
        adapts_lr=True,
    ),
    Case(
        "scale_by_hypergradient_after_adam_with_grad",
        lambda lr: lrjax.chain(
            lrjax.scale_by_adam(), lrjax.scale_by_hypergradient(lr, rule="multiplicative")
        ),
        covers=("scale_by_hypergradient",),
        needs_loss=True,  # passes grad= (and value=, value_fn=) to update
        takes_schedule=False,
        adapts_lr=True,
    ),
]
