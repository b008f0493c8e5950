"""The learning rate: applied (`scale.py`), recorded (`records.py`), read back
(`observe.py`).

The public names are re-exported by `lrjax/__init__.py` only.
"""
