"""DoG, L-DoG, DoWG, COCOB, Polyak and MoMo for the steps-to-target benchmark.

``METHODS[name] = (lrjax at its defaults, optax's same method at its defaults or None)``.
The Polyak step size and MoMo take the loss: ``update(g, state, params, value=loss)``.
"""

from __future__ import annotations

import optax

import lrjax

METHODS = {
    "dog": (lambda: lrjax.dog(), lambda: optax.contrib.dog()),
    "l_dog": (
        lambda: lrjax.l_dog(),
        # optax's layer-wise DoG returns +eta g by default: global_scale=-1 descends.
        lambda: optax.scale_by_distance_over_gradients(global_scale=-1.0),
    ),
    "dowg": (lambda: lrjax.dowg(), lambda: optax.contrib.dowg()),
    "cocob": (lambda: lrjax.cocob(), lambda: optax.contrib.cocob()),
    "polyak_sgd": (lambda: lrjax.polyak_sgd(), None),  # the smooth variant, the authors'
    "polyak_sgd_sps_max": (
        lambda: lrjax.polyak_sgd(1.0, variant="sps_max"),
        lambda: optax.polyak_sgd(),
    ),
    "momo": (lambda: lrjax.momo(), lambda: optax.contrib.momo()),
    "momo_adam": (lambda: lrjax.momo_adam(), lambda: optax.contrib.momo_adam()),
}
