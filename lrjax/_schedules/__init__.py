"""Schedules, by family: decays, piecewise, cosine, cyclic, large-model, combinators.

Each module holds one family of `Schedule`s (pure functions `step -> learning rate`);
`arithmetic.py` holds the step arithmetic they share. The public names are re-exported
by `lrjax/__init__.py` only.
"""
