"""Directions: the `scale_by_*` transforms, each module with the optimizers built on it.

A direction has the sign of the gradient (optax's convention); its optimizer alias is
`chain(direction..., scale_by_learning_rate(learning_rate))`, defined beside it:
`momentum.py` (trace, weight decay, SGD), `adagrad.py`, `adadelta.py`, `rmsprop.py`,
the Adam family (`adam.py`, `amsgrad.py`, `nadam.py`, `adamax.py`) and the layer-wise
trust ratios (`trust_ratio.py`). The public names are re-exported by
`lrjax/__init__.py` only.
"""
