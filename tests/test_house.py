"""The house rules of lrjax's layout (DESIGN.md §2, CONTRIBUTING.md).

The public API is a fixed snapshot: the same names and the same signatures, wherever
the private modules that define them live.
"""

from __future__ import annotations

import inspect
import json
import pathlib

import optax

import lrjax

ROOT = pathlib.Path(__file__).resolve().parents[1]

# `[n for n in dir(lrjax) if not n.startswith("_")]`, sorted: the public namespace.
PUBLIC = [
    "AddDecayedWeightsState", "COCOBState", "DoGState", "DoWGState",
    "GradientTransformation", "GradientTransformationExtraArgs", "GroupedState",
    "LDoGState", "LRFinderResult", "MechanizeState", "MomoAdamState", "MomoState",
    "PolyakSGDState", "ReduceOnPlateauState", "ScalarOrSchedule", "ScaleByAdadeltaState",
    "ScaleByAdagradNormState", "ScaleByAdagradState", "ScaleByAdamState",
    "ScaleByAmsgradState", "ScaleByDAdaptAdagradState", "ScaleByDAdaptAdamState",
    "ScaleByDAdaptSGDState", "ScaleByHypergradientState", "ScaleByLearningRateState",
    "ScaleByNadamState", "ScaleByNewtonCGState", "ScaleByNewtonState",
    "ScaleByProdigyState", "ScaleByRmspropState", "ScaleByTrustRatioState", "Schedule",
    "ScheduleFreeState", "SkipNonfiniteState", "SweepResult", "TraceState", "adadelta",
    "adagrad", "adagrad_norm", "adam", "adam_hd", "adamax", "adamw", "add_decayed_weights",
    "amsgrad", "apply_updates", "chain", "cocob", "constant", "cosine_decay",
    "cosine_restarts", "current_learning_rate", "cyclic", "cyclic_momentum",
    "dadapt_adagrad", "dadapt_adam", "dadapt_adamw", "dadapt_sgd", "dog", "dowg",
    "exponential_decay", "find_learning_rate", "grouped", "inverse_sqrt_decay",
    "inverse_time_decay", "join", "l_dog", "lamb", "lars", "leaf_mask", "linear_schedule",
    "mechanize", "momo", "momo_adam", "multistep_decay", "nadam", "newton", "newton_cg",
    "noam", "one_cycle", "one_cycle_momentum", "piecewise_constant", "plot_schedule",
    "plot_sweep", "polyak_sgd", "polynomial_decay", "prodigy", "reduce_on_plateau",
    "rmsprop", "scale_by_adadelta", "scale_by_adagrad", "scale_by_adagrad_norm",
    "scale_by_adam", "scale_by_adamax", "scale_by_amsgrad", "scale_by_dadapt_adagrad",
    "scale_by_dadapt_adam", "scale_by_dadapt_sgd", "scale_by_hypergradient",
    "scale_by_learning_rate", "scale_by_nadam", "scale_by_newton", "scale_by_newton_cg",
    "scale_by_prodigy", "scale_by_rmsprop", "scale_by_trust_ratio", "schedule_free",
    "schedule_free_adamw", "schedule_free_eval_params", "schedule_free_sgd", "sgd",
    "sgd_hd", "skip_nonfinite", "step_decay", "sweep_learning_rates", "time_based_decay",
    "trace", "warmup", "warmup_cosine", "warmup_stable_decay",
]

# optax's own names, re-exported unchanged.
OPTAX = {
    "GradientTransformation": optax.GradientTransformation,
    "GradientTransformationExtraArgs": optax.GradientTransformationExtraArgs,
    "apply_updates": optax.apply_updates,
    "chain": optax.chain,
}

# `str(inspect.signature(f))` of every public name that lrjax defines, taken before the
# modules were laid out by family: a move changes no signature.
SIGNATURES = json.loads((ROOT / "tests" / "data" / "public_signatures.json").read_text())


def test_the_public_namespace_is_the_snapshot():
    assert sorted(n for n in dir(lrjax) if not n.startswith("_")) == PUBLIC


def test_optax_names_are_optax_own():
    for name, obj in OPTAX.items():
        assert getattr(lrjax, name) is obj, name


def test_every_public_signature_is_the_snapshot():
    defined = {n for n in PUBLIC if getattr(getattr(lrjax, n), "__module__", "")
               .startswith("lrjax")}
    assert defined == set(SIGNATURES)
    changed = {n: (SIGNATURES[n], str(inspect.signature(getattr(lrjax, n))))
               for n in sorted(defined)
               if str(inspect.signature(getattr(lrjax, n))) != SIGNATURES[n]}
    assert not changed, changed
