"""Conformance cases for the learning rate, momentum, decay and adaptive optimizers.

Each case is an optimizer alias (or a direction transform chained with
:func:`lrjax.scale_by_learning_rate`), so that every case applies, records and reports
a learning rate; ``covers`` names the alias and the ``scale_by_*`` it is built on. The
options that change the state or the order of the chain (centered, momentum inside or
outside the learning rate, masks, schedules for momentum and weight decay, the
momentum product of NAdam) are switched on.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from conformance import Case

import lrjax


def _with_lr(direction):
    return lambda lr: lrjax.chain(direction(), lrjax.scale_by_learning_rate(lr))


# Masks are functions of the params, as optax allows, so that the cases also run on the
# empty and None-leaf trees of the fault tests.
def _vectors_only(params):
    return jax.tree.map(lambda x: x.ndim < 2, params)


def _matrices_only(params):
    return jax.tree.map(lambda x: x.ndim >= 2, params)


def _mu_schedule(n):
    return 0.5 + 0.4 * jnp.minimum(jnp.asarray(n, jnp.float32) / 10.0, 1.0)


# One case per algorithm, each with its state-changing options switched on: the suite
# runs a dozen compiled checks per case, so cases are kept few (about 6 s of CPU each).
CASES = [
    Case(
        "scale_by_learning_rate", lrjax.scale_by_learning_rate, ("scale_by_learning_rate",)
    ),
    Case(
        "trace_nesterov_schedule",
        _with_lr(lambda: lrjax.trace(_mu_schedule, nesterov=True)),
        ("trace",),
    ),
    Case(
        "add_decayed_weights_masked_schedule",
        _with_lr(
            lambda: lrjax.add_decayed_weights(
                lambda n: 1e-2 * _mu_schedule(n), mask=_vectors_only
            )
        ),
        ("add_decayed_weights",),
    ),
    Case("sgd_nesterov", lambda lr: lrjax.sgd(lr, 0.9, nesterov=True), ("sgd",)),
    Case(
        "sgd_keras_momentum", lambda lr: lrjax.sgd(lr, 0.9, lr_in_momentum=True), ("sgd",)
    ),
    Case("adagrad", lambda lr: lrjax.adagrad(lr), ("adagrad", "scale_by_adagrad")),
    Case(
        "adadelta_weight_decay",
        lambda lr: lrjax.adadelta(lr, weight_decay=1e-2),
        ("adadelta", "scale_by_adadelta"),
        lr=1.0,
    ),
    Case(
        "rmsprop_centered_momentum",
        lambda lr: lrjax.rmsprop(lr, centered=True, momentum=0.9),
        ("rmsprop", "scale_by_rmsprop"),
    ),
    Case(
        "rmsprop_torch_momentum",
        lambda lr: lrjax.rmsprop(
            lr,
            0.99,
            eps_in_sqrt=False,
            centered=True,
            momentum=0.9,
            nesterov=True,
            lr_in_momentum=False,
        ),
        ("rmsprop", "scale_by_rmsprop"),
    ),
    Case(
        "adam_epsilon_hat_nesterov",
        lambda lr: lrjax.adam(lr, eps=1e-7, nesterov=True, epsilon_hat=True),
        ("adam", "scale_by_adam"),
    ),
    Case(
        "adamw_masked",
        lambda lr: lrjax.adamw(lr, weight_decay=1e-2, mask=_matrices_only),
        ("adamw",),
    ),
    Case(
        "amsgrad_keras",
        lambda lr: lrjax.amsgrad(
            lr, eps=1e-7, max_before_correction=True, epsilon_hat=True
        ),
        ("amsgrad", "scale_by_amsgrad"),
    ),
    Case(
        "nadam_torch",
        lambda lr: lrjax.nadam(lr, momentum_decay=4e-3),
        ("nadam", "scale_by_nadam"),
    ),
    Case(
        "adamax_keras",
        lambda lr: lrjax.adamax(lr, eps=1e-7, eps_in_max=False),
        ("adamax", "scale_by_adamax"),
    ),
    Case(
        "adagrad_norm",
        lambda lr: lrjax.adagrad_norm(lr, b0=0.0, eps=1e-8),
        ("adagrad_norm", "scale_by_adagrad_norm"),
    ),
]
