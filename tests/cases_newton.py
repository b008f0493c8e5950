"""Conformance cases for the Newton transforms (lrjax/_newton/: dense.py, cg.py)."""

from conformance import Case

import lrjax

CASES = [
    Case(
        name="scale_by_newton",
        make=lambda lr: lrjax.scale_by_newton(),
        covers=("scale_by_newton",),
        needs_loss=True,
        records_lr=False,
        takes_schedule=False,
    ),
    # The aliases take the other options (saddle-free solver, adaptive damping), so
    # four cases cover both solvers' code paths and both damping modes.
    Case(
        name="newton_eigh_adaptive",
        make=lambda lr: lrjax.newton(lr, 1e-2, solver="eigh", adaptive_damping=True),
        covers=("newton",),
        needs_loss=True,
        lr=0.5,
    ),
    Case(
        name="scale_by_newton_cg",
        make=lambda lr: lrjax.scale_by_newton_cg(),
        covers=("scale_by_newton_cg",),
        needs_loss=True,
        records_lr=False,
        takes_schedule=False,
    ),
    Case(
        name="newton_cg_adaptive",
        make=lambda lr: lrjax.newton_cg(lr, adaptive_damping=True, maxiter=5),
        covers=("newton_cg",),
        needs_loss=True,
        lr=0.5,
    ),
]
