"""Learning-rate-free and self-tuning methods: they estimate the step size themselves.

Prodigy and D-Adaptation (`prodigy.py`, `dadapt_adam.py`, `dadapt_sgd.py`, with
`dadapt_numerics.py`), Schedule-Free, Mechanic, DoG and DoWG, COCOB, Polyak, MoMo
(`numerics.py` holds what the last four share with DoG), hypergradient descent and
AdaGrad-Norm. The public names are re-exported by `lrjax/__init__.py` only.
"""
