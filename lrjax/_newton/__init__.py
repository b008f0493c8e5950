"""Newton's method: the step size from the local curvature, dense (`dense.py`) and
matrix-free (`cg.py`), with the damping and trial-point checks they share (`common.py`).

The public names are re-exported by `lrjax/__init__.py` only.
"""
