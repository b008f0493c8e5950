"""Prodigy and D-Adaptation for the steps-to-target benchmark: each at its authors'
defaults, next to optax.contrib's same method (None where optax has none)."""

import optax

import lrjax

METHODS = {
    "prodigy": (lambda: lrjax.prodigy(), lambda: optax.contrib.prodigy()),
    "dadapt_adam": (lambda: lrjax.dadapt_adam(), None),
    "dadapt_adamw": (lambda: lrjax.dadapt_adamw(), lambda: optax.contrib.dadapt_adamw()),
    "dadapt_sgd": (lambda: lrjax.dadapt_sgd(), None),
    "dadapt_adagrad": (lambda: lrjax.dadapt_adagrad(), None),
}
