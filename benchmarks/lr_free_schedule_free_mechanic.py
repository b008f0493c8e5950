"""Schedule-Free and Mechanic for the learning-rate-free steps-to-target benchmark.

Each entry: name -> (lrjax optimizer at the authors' defaults, optax.contrib's same
method at its defaults, or None).
"""

import optax

import lrjax

METHODS = {
    "schedule_free_sgd": (
        lambda: lrjax.schedule_free_sgd(),
        lambda: optax.contrib.schedule_free_sgd(),
    ),
    "schedule_free_adamw": (
        lambda: lrjax.schedule_free_adamw(),
        lambda: optax.contrib.schedule_free_adamw(),
    ),
    # Mechanic around Adam at 1e-3 (the authors' examples wrap a base at its usual rate).
    "mechanize_adam": (
        lambda: lrjax.mechanize(lrjax.adam(1e-3)),
        lambda: optax.contrib.mechanize(optax.adam(1e-3)),
    ),
}
