"""What every family of lrjax uses: optax's base types, checks, tree checks, numerics.

The modules of this package hold plain names that the other packages import; nothing
here is public (the public names are re-exported by `lrjax/__init__.py` only).
"""
