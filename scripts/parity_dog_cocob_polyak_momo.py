"""Print the parity and float32 numbers of DoG, L-DoG, DoWG, COCOB, Polyak and MoMo.

    python scripts/parity_dog_cocob_polyak_momo.py

For each method: the largest relative distance (whole 100-step trajectory, float64) to
its reference over the configurations the tests run (weight decay 0 and 1e-2, constant
rate and warm-up from 0), then its float32-vs-float64 distance next to optax's, measured
the same way. Needs the parity extra (dog-optimizer, parameterfree, torch).
"""

from __future__ import annotations

import pathlib
import sys

_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(_ROOT), str(_ROOT / "tests")]  # this checkout's lrjax and references

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
import optax
import references_dog_cocob_polyak_momo as R

import lrjax


class _Sps:
    def __init__(self, **kw):
        self.ref = R.Sps(**kw)

    def step(self, xs, g, f, lr=None):
        self.ref.step(xs, g, f, eta_max=lr)


def parity() -> dict[str, float]:
    from dog import DoG, LDoG
    from parameterfree import COCOB

    x0, lg = R.problem()
    worst: dict[str, float] = {}

    def record(name, a, b):
        worst[name] = max(worst.get(name, 0.0), R.relative_distance(a, b))

    for wd in (0.0, 1e-2):
        for warm in (False, True):
            lrs = R.warmup(1.0) if warm else None
            lr = lrs if warm else 1.0
            for name, torch_cls, mine in (
                ("dog", DoG, lrjax.dog),
                ("l_dog", LDoG, lrjax.l_dog),
            ):
                ref = R.run_torch(
                    lambda p, c=torch_cls, w=wd: c(p, weight_decay=w), x0, lg, lrs=lrs
                )
                record(name, R.run_jax(mine(lr, weight_decay=wd), x0, lg)[0], ref)
            ref = R.run_numpy(R.DoWG(None, weight_decay=wd), x0, lg, lrs=lrs)
            record("dowg", R.run_jax(lrjax.dowg(lr, weight_decay=wd), x0, lg)[0], ref)
            if not warm:
                ref = R.run_torch(lambda p, w=wd: COCOB(p, weight_decay=w), x0, lg)
                record("cocob", R.run_jax(lrjax.cocob(weight_decay=wd), x0, lg)[0], ref)
            ref = R.run_numpy(R.Momo(weight_decay=wd), x0, lg, lrs=lrs, loss=True)
            record(
                "momo",
                R.run_jax(lrjax.momo(lr, weight_decay=wd), x0, lg, loss=True)[0],
                ref,
            )
            lrs2 = R.warmup(1e-2) if warm else None
            ref = R.run_numpy(R.MomoAdam(weight_decay=wd), x0, lg, lrs=lrs2, loss=True)
            record(
                "momo_adam",
                R.run_jax(
                    lrjax.momo_adam(lrs2 if warm else 1e-2, weight_decay=wd),
                    x0,
                    lg,
                    loss=True,
                )[0],
                ref,
            )
    for variant, flag, cap, warm in (
        ("smooth_iter", "smooth_iter", None, False),
        ("sps_plus", "constant", None, False),
        ("sps_max", "constant", 1.0, False),
        ("sps_max", "constant", 1.0, True),
    ):
        lrs = R.warmup(cap) if warm else None
        ref = R.run_numpy(_Sps(adapt_flag=flag, eta_max=cap), x0, lg, lrs=lrs, loss=True)
        record(
            "polyak_sgd",
            R.run_jax(
                lrjax.polyak_sgd(lrs if warm else cap, variant=variant), x0, lg, loss=True
            )[0],
            ref,
        )
    return worst


def float32_errors() -> dict[str, tuple[float, float | None]]:
    x64, lg64 = R.problem(dtype=np.float64)
    x32, lg32 = R.problem(dtype=np.float32)

    def err(make, loss):
        a, _ = R.run_jax(make(), x64, lg64, loss=loss)
        b, _ = R.run_jax(make(), x32, lg32, loss=loss)
        return R.relative_distance(b, a)

    C = optax.contrib
    rows = {
        "dog": (lrjax.dog, C.dog, False),
        "l_dog": (
            lrjax.l_dog,
            lambda: optax.chain(
                optax.scale_by_distance_over_gradients(), optax.scale(-1.0)
            ),
            False,
        ),
        "dowg": (lrjax.dowg, C.dowg, False),
        "cocob": (lrjax.cocob, C.cocob, False),
        "polyak_sgd (smooth)": (lrjax.polyak_sgd, None, True),
        "polyak_sgd (sps_max, c=1/2)": (
            lambda: lrjax.polyak_sgd(1.0, variant="sps_max"),
            lambda: optax.polyak_sgd(1.0, scaling=0.5, eps=0.5e-8, variant="sps+"),
            True,
        ),
        "momo": (lrjax.momo, C.momo, True),
        "momo_adam": (lrjax.momo_adam, C.momo_adam, True),
    }
    with jax.numpy_dtype_promotion("standard"):
        return {
            name: (err(mine, loss), None if theirs is None else err(theirs, loss))
            for name, (mine, theirs, loss) in rows.items()
        }


if __name__ == "__main__":
    print("parity, float64, largest relative distance over the trajectory")
    for name, value in parity().items():
        print(f"  {name:12s} {value:.2e}")
    print("float32 vs own float64 (100 steps): lrjax, optax")
    for name, (mine, theirs) in float32_errors().items():
        shown = "-" if theirs is None else f"{theirs:.2e}"
        print(f"  {name:28s} {mine:.2e}  {shown}")
