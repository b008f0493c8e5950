"""Conformance cases for Schedule-Free and Mechanic (learning-rate-free, issue 18).

Schedule-Free records its base's rate, so a case without warm-up is checked for the
exact rate; with the reference's warm-up the recorded rate is the warmed one
(``adapts_lr``). Mechanic reports its base's rate times its learned scale
(``adapts_lr``).
"""

from conformance import Case

import lrjax

CASES = [
    Case(
        "schedule_free_sgd_weight_decay",
        lambda lr: lrjax.schedule_free_sgd(lr, weight_decay=1e-2),
        covers=("schedule_free_sgd", "schedule_free", "schedule_free_eval_params"),
        lr=0.1,
    ),
    Case(
        "schedule_free_adamw_warmup_r",
        lambda lr: lrjax.schedule_free_adamw(lr, weight_decay=1e-2, warmup_steps=3, r=1.0),
        covers=("schedule_free_adamw", "schedule_free"),
        adapts_lr=True,
    ),
    Case(
        "schedule_free_around_adam",
        lambda lr: lrjax.schedule_free(lrjax.adam(lr, b1=0.0), lr, b1=0.95),
        covers=("schedule_free",),
    ),
    Case(
        "mechanize_sgd_momentum",
        lambda lr: lrjax.mechanize(lrjax.sgd(lr, 0.9)),
        covers=("mechanize",),
        adapts_lr=True,
    ),
    Case(
        "mechanize_adam_store_delta",
        lambda lr: lrjax.mechanize(
            lrjax.adam(lr), weight_decay=0.0, betas=(0.9, 0.99), store_delta=True
        ),
        covers=("mechanize",),
        adapts_lr=True,
    ),
]
