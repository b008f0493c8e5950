"""The learning-rate tools, beside the data path: choosing the rate (the range test
`finder.py` with its suggestion rules `suggest.py`, the grid sweep `sweep.py`, what they
share `batches.py`), changing it during training (`plateau.py`), guarding it
(`guard.py`), running many small leaves as one (`grouped.py`), and drawing it
(`plot.py`).

The public names are re-exported by `lrjax/__init__.py` only.
"""
