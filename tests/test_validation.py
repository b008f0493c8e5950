"""Bad input gets a clear error at construction, for every public function.

``TABLE`` lists, for each public schedule and transform, valid arguments and, for each
hyperparameter, the kind of domain it has. Each kind brings its own invalid values
(negative, zero where a period, out of [0, 1) for betas and decays, NaN, inf, wrong
type, unknown mode strings, wrong lengths); every one must raise a ``ValueError`` or
``TypeError`` whose message names the argument and the value. A public function with
no row fails ``test_every_public_function_has_a_row``. Hypothesis then draws random
invalid values of each kind (``test_random_invalid_values_raise``).
"""

from __future__ import annotations

import inspect
import math
import re

import jax.numpy as jnp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lrjax

NAN, INF = float("nan"), float("inf")

# Invalid values for each kind of domain; each is also a hypothesis strategy below.
KINDS = {
    "rate": [-0.1, NAN, INF, "0.1", None],  # a learning rate: finite, >= 0
    "nonneg": [-1e-3, NAN, INF],  # finite, >= 0
    "positive": [0.0, -1.0, NAN, INF],  # finite, > 0
    "unit": [-0.1, 1.0, 1.5, NAN],  # [0, 1): betas, decays, momenta
    "unit_closed": [-0.1, 1.1, NAN],  # [0, 1]: alpha floors, pct
    "open_unit": [0.0, 1.0, -0.5, NAN],  # (0, 1): pct_start, plateau factor
    "period": [0, -3, 2.5, "10", NAN],  # an integer number of steps >= 1
    "count": [-1, 1.5, "2"],  # an integer >= 0
    "bool": ["yes", 2],
}

INVALID = {
    "rate": st.one_of(
        st.floats(max_value=-1e-12, allow_nan=False, allow_infinity=False),
        st.just(NAN),
        st.just(INF),
        st.text(max_size=3),
    ),
    "nonneg": st.one_of(
        st.floats(max_value=-1e-12, allow_nan=False, allow_infinity=False),
        st.just(NAN),
        st.just(INF),
    ),
    "positive": st.one_of(
        st.floats(max_value=0.0, allow_nan=False, allow_infinity=False),
        st.just(NAN),
        st.just(INF),
    ),
    "unit": st.one_of(
        st.floats(max_value=-1e-12, allow_nan=False, allow_infinity=False),
        st.floats(min_value=1.0, allow_nan=False, allow_infinity=False),
        st.just(NAN),
    ),
    "unit_closed": st.one_of(
        st.floats(max_value=-1e-12, allow_nan=False, allow_infinity=False),
        st.floats(min_value=1.0 + 1e-9, allow_nan=False, allow_infinity=False),
        st.just(NAN),
    ),
    "open_unit": st.one_of(
        st.floats(max_value=0.0, allow_nan=False, allow_infinity=False),
        st.floats(min_value=1.0, allow_nan=False, allow_infinity=False),
        st.just(NAN),
    ),
    "period": st.one_of(
        st.integers(max_value=0),
        st.floats(0.01, 1e6).filter(lambda x: x != int(x)),
        st.text(max_size=3),
    ),
    "count": st.one_of(st.integers(max_value=-1), st.text(max_size=3)),
    "bool": st.one_of(st.text(min_size=1, max_size=3), st.integers(2, 9)),
}


def _sched():
    return lrjax.constant(0.1)


def _quad_loss(params, batch):
    del batch
    return jnp.sum(params**2)


# name: (valid arguments, {argument: kind or [explicit invalid values]})
TABLE = {
    # Schedules.
    "constant": ({"value": 0.1}, {"value": "rate"}),
    "time_based_decay": (
        {"init_value": 0.1, "decay": 0.01},
        {"init_value": "rate", "decay": "nonneg"},
    ),
    "inverse_time_decay": (
        {"init_value": 0.1, "decay_rate": 0.5, "decay_steps": 10},
        {
            "init_value": "rate",
            "decay_rate": "nonneg",
            "decay_steps": "positive",
            "staircase": "bool",
        },
    ),
    "step_decay": (
        {"init_value": 0.1, "drop": 0.5, "drop_every": 10},
        {"init_value": "rate", "drop": [-0.5, 1.5, NAN], "drop_every": "period"},
    ),
    "exponential_decay": (
        {"init_value": 0.1, "decay": 0.01},
        {"init_value": "rate", "decay": "nonneg"},
    ),
    "multistep_decay": (
        {"init_value": 0.1, "milestones": [10, 20], "factor": 0.5},
        {
            "init_value": "rate",
            "milestones": [[20, 10], [-1, 5], [1.5], "10"],
            "factor": [-0.5, NAN, INF],
        },
    ),
    "polynomial_decay": (
        {"init_value": 0.1, "end_value": 0.001, "decay_steps": 100},
        {
            "init_value": "rate",
            "end_value": "rate",
            "decay_steps": "period",
            "power": "positive",
            "cycle": "bool",
        },
    ),
    "linear_schedule": (
        {"init_value": 0.1, "end_value": 0.01, "transition_steps": 100},
        {"init_value": "rate", "end_value": "rate", "transition_steps": "period"},
    ),
    "cosine_decay": (
        {"init_value": 0.1, "decay_steps": 100},
        {"init_value": "rate", "decay_steps": "period", "alpha": "unit_closed"},
    ),
    "cosine_restarts": (
        {"init_value": 0.1, "first_decay_steps": 10},
        {
            "init_value": "rate",
            "first_decay_steps": "period",
            "t_mul": [0.5, 0.0, NAN],
            "m_mul": [-1.0, NAN, INF],
            "alpha": "unit_closed",
        },
    ),
    "cyclic": (
        {"base_value": 0.01, "max_value": 0.1, "step_size_up": 10},
        {
            "base_value": "rate",
            "max_value": "rate",
            "step_size_up": "period",
            "step_size_down": [0, -1, 2.5],
            "mode": ["sawtooth", 3],
            "gamma": "positive",
        },
    ),
    "cyclic_momentum": (
        {"step_size_up": 10},
        {
            "step_size_up": "period",
            "step_size_down": [0, -1],
            "mode": ["bogus"],
            "gamma": "positive",
            "base_momentum": "unit",
            "max_momentum": "unit",
        },
    ),
    "one_cycle": (
        {"max_value": 0.1, "total_steps": 100},
        {
            "max_value": "rate",
            "total_steps": "period",
            "pct_start": "open_unit",
            "anneal": ["cosine", "exp"],
            "div_factor": "positive",
            "final_div_factor": "positive",
            "three_phase": "bool",
        },
    ),
    "one_cycle_momentum": (
        {"total_steps": 100},
        {
            "total_steps": "period",
            "pct_start": "open_unit",
            "anneal": ["bogus"],
            "base_momentum": "unit",
            "max_momentum": "unit",
        },
    ),
    "piecewise_constant": (
        {"boundaries": [10, 20], "values": [0.1, 0.01, 0.001]},
        {
            "boundaries": [[20, 10], [-5, 10]],
            "values": [[0.1, 0.01], [0.1, -0.1, 0.01], [0.1, NAN, 0.1]],
        },
    ),
    "warmup": (
        {"schedule": _sched(), "warmup_steps": 10},
        {"schedule": [0.1, "cosine", None], "warmup_steps": "count", "init_value": "rate"},
    ),
    "join": (
        {"schedules": [_sched(), _sched()], "boundaries": [10]},
        {"schedules": [[_sched(), 0.1], "abc"], "boundaries": [[10, 20], [-1], [2.5]]},
    ),
    # Learning rate, guard and momentum.
    "scale_by_learning_rate": ({"learning_rate": 0.1}, {"learning_rate": "rate"}),
    "skip_nonfinite": ({"inner": lrjax.sgd(0.1)}, {"inner": [0.1, "sgd", None]}),
    "trace": ({"decay": 0.9}, {"decay": "unit", "nesterov": "bool"}),
    "add_decayed_weights": ({"weight_decay": 1e-4}, {"weight_decay": "nonneg"}),
    "sgd": (
        {"learning_rate": 0.1, "momentum": 0.9},
        {"learning_rate": "rate", "momentum": "unit", "nesterov": "bool"},
    ),
    # Adaptive.
    "scale_by_adagrad": ({}, {"initial_accumulator_value": "nonneg", "eps": "nonneg"}),
    "adagrad": (
        {"learning_rate": 0.1},
        {"learning_rate": "rate", "initial_accumulator_value": "nonneg", "eps": "nonneg"},
    ),
    "scale_by_adadelta": ({}, {"rho": "unit", "eps": "nonneg"}),
    "adadelta": (
        {},
        {"learning_rate": "rate", "rho": "unit", "eps": "nonneg", "weight_decay": "nonneg"},
    ),
    "scale_by_rmsprop": (
        {},
        {"decay": "unit", "eps": "nonneg", "initial_scale": "nonneg", "momentum": "unit"},
    ),
    "rmsprop": (
        {"learning_rate": 0.01},
        {
            "learning_rate": "rate",
            "decay": "unit",
            "eps": "nonneg",
            "initial_scale": "nonneg",
            "momentum": "unit",
        },
    ),
    "scale_by_adam": (
        {},
        {
            "b1": "unit",
            "b2": "unit",
            "eps": "nonneg",
            "eps_root": "nonneg",
            "mu_dtype": ["float99", 3],
        },
    ),
    "adam": (
        {"learning_rate": 1e-3},
        {
            "learning_rate": "rate",
            "b1": "unit",
            "b2": "unit",
            "eps": "nonneg",
            "eps_root": "nonneg",
        },
    ),
    "adamw": (
        {"learning_rate": 1e-3},
        {
            "learning_rate": "rate",
            "b1": "unit",
            "b2": "unit",
            "eps": "nonneg",
            "weight_decay": "nonneg",
        },
    ),
    "scale_by_amsgrad": ({}, {"b1": "unit", "b2": "unit", "eps": "nonneg"}),
    "amsgrad": (
        {"learning_rate": 1e-3},
        {"learning_rate": "rate", "b1": "unit", "b2": "unit", "eps": "nonneg"},
    ),
    "scale_by_nadam": (
        {},
        {"b1": "unit", "b2": "unit", "eps": "nonneg", "momentum_decay": "nonneg"},
    ),
    "nadam": (
        {"learning_rate": 1e-3},
        {"learning_rate": "rate", "b1": "unit", "b2": "unit", "eps": "nonneg"},
    ),
    "scale_by_adamax": ({}, {"b1": "unit", "b2": "unit", "eps": "nonneg"}),
    "adamax": (
        {"learning_rate": 1e-3},
        {"learning_rate": "rate", "b1": "unit", "b2": "unit", "eps": "nonneg"},
    ),
    "scale_by_adagrad_norm": ({}, {"b0": "nonneg", "eps": "nonneg"}),
    "adagrad_norm": (
        {"learning_rate": 0.1},
        {"learning_rate": "rate", "b0": "nonneg", "eps": "nonneg"},
    ),
    # Newton.
    "scale_by_newton": (
        {},
        {
            "damping": "nonneg",
            "solver": ["qr", 1],
            "damping_factor": [1.0, 0.5, NAN],
            "max_shifts": "period",
            "eigenvalue_floor": "positive",
        },
    ),
    "newton": ({}, {"learning_rate": "rate", "damping": "nonneg", "solver": ["svd"]}),
    "scale_by_newton_cg": (
        {},
        {"damping": "nonneg", "maxiter": "period", "forcing": ["fast", -0.5, 1.5]},
    ),
    "newton_cg": ({}, {"learning_rate": "rate", "damping": "nonneg", "maxiter": "period"}),
    # Plateau and hypergradients.
    "reduce_on_plateau": (
        {},
        {
            "factor": "open_unit",
            "patience": "count",
            "threshold": "nonneg",
            "threshold_mode": ["relative"],
            "cooldown": "count",
            "min_lr": "nonneg",
            "mode": ["auto"],
            "convention": ["tensorflow"],
            "accumulation_size": "period",
        },
    ),
    "scale_by_hypergradient": (
        {"initial_lr": 0.01},
        {
            "initial_lr": "rate",
            "hyper_lr": "nonneg",
            "rule": ["additive_plus"],
            "min_lr": "nonneg",
        },
    ),
    "sgd_hd": (
        {"learning_rate": 0.01},
        {
            "learning_rate": "rate",
            "hyper_lr": "nonneg",
            "momentum": "unit",
            "rule": ["bogus"],
        },
    ),
    "adam_hd": (
        {"learning_rate": 1e-3},
        {
            "learning_rate": "rate",
            "hyper_lr": "nonneg",
            "b1": "unit",
            "b2": "unit",
            "rule": ["bogus"],
        },
    ),
    # Performance.
    "grouped": (
        {"inner": lrjax.adam(1e-3)},
        {
            "inner": [0.1, "adam", None],
            "max_leaf_size": "period",
            "min_group_size": "period",
        },
    ),
    # Range test and plots.
    "find_learning_rate": (
        {
            "loss_fn": _quad_loss,
            "params": jnp.ones(2),
            "batches": jnp.zeros((20, 1)),
            "optimizer": lrjax.sgd,
            "num_steps": 20,
        },
        {
            "min_lr": "positive",
            "max_lr": [NAN, -1.0, 1e-9],
            "num_steps": [1, 0, 2.5],
            "sweep": ["log"],
            "beta": "unit",
            "diverge_factor": [0.5, -1.0, NAN],
            "spike_factor": [1.0, -2.0, NAN],
            "suggestion": ["median"],
            "fastai_compatible": [1, "yes"],
        },
    ),
    "sweep_learning_rates": (
        {
            "loss_fn": _quad_loss,
            "params": jnp.ones(2),
            "batches": jnp.zeros((20, 1)),
            "learning_rates": [0.1],
            "optimizer": lrjax.sgd,
        },
        {
            "learning_rates": [[-0.1], [NAN], [INF]],
            "num_steps": [0, 2.5],
            "tail": [0, 21, 2.5],
            "chunk_size": [0, -1, 1.5],
        },
    ),
    "plot_schedule": ({"schedules": _sched(), "num_steps": 10}, {"num_steps": "period"}),
    # Schedules of large-model training.
    "inverse_sqrt_decay": (
        {"peak_value": 0.1, "warmup_steps": 10},
        {"peak_value": "rate", "warmup_steps": "count", "timescale": "positive"},
    ),
    "noam": (
        {"d_model": 512, "warmup_steps": 4000},
        {"d_model": "positive", "warmup_steps": "period", "factor": "nonneg"},
    ),
    "warmup_stable_decay": (
        {"peak_value": 0.1, "warmup_steps": 10, "stable_steps": 100, "decay_steps": 20},
        {
            "peak_value": "rate",
            "warmup_steps": "count",
            "stable_steps": "count",
            "decay_steps": "period",
            "warmup_type": ["sqrt", 1],
            "decay_type": ["1-sq"],
            "min_ratio": "unit_closed",
            "num_cycles": "positive",
        },
    ),
    "warmup_cosine": (
        {"peak_value": 0.1, "warmup_steps": 10, "total_steps": 100},
        {
            "peak_value": "rate",
            "warmup_steps": [-1, 1.5, 100, 200],
            "total_steps": [0, 10, 2.5],
            "num_cycles": "positive",
            "min_ratio": "unit_closed",
            "restarts": "bool",
            "after_total": ["rise", 0],
            "one_step_ahead": "bool",
            "warmup_start_ratio": "unit_closed",
        },
    ),
    # Trust ratios.
    "scale_by_trust_ratio": (
        {},
        {
            "min_norm": "nonneg",
            "trust_coefficient": "nonneg",
            "eps": "nonneg",
            "weight_decay": "nonneg",
            "denominator": ["paper", 3],
        },
    ),
    "lars": (
        {"learning_rate": 0.1},
        {
            "learning_rate": "rate",
            "weight_decay": "nonneg",
            "trust_coefficient": "nonneg",
            "eps": "nonneg",
            "momentum": "unit",
            "nesterov": "bool",
            "denominator": ["optax"],
            "lr_in_momentum": "bool",
        },
    ),
    "lamb": (
        {"learning_rate": 1e-3},
        {
            "learning_rate": "rate",
            "b1": "unit",
            "b2": "unit",
            "eps": "nonneg",
            "eps_root": "nonneg",
            "weight_decay": "nonneg",
            "weight_decay_placement": ["tensorflow", 1],
        },
    ),
    "leaf_mask": ({}, {"min_rank": "count", "exclude": ["(unclosed", 3]}),
    # Learning-rate-free: Prodigy and D-Adaptation.
    **{
        name: (
            {},
            {
                "learning_rate": "rate",
                "betas": [(1.0, 0.999), (0.9, -0.1), (0.9, NAN), 0.9, "ab"],
                "beta3": "unit",
                "eps": "positive",
                "weight_decay": "nonneg",
                "decouple": "bool",
                "use_bias_correction": "bool",
                "safeguard_warmup": "bool",
                "d0": "positive",
                "d_coef": "positive",
                "growth_rate": [0.0, -1.0, NAN, "2", None],
                "slice_p": "period",
            },
        )
        for name in ("prodigy", "scale_by_prodigy")
    },
    **{
        name: (
            {},
            {
                "learning_rate": "rate",
                "betas": [(1.0, 0.999), (0.9, -0.1), (0.9, NAN), 0.9, "ab"],
                "eps": "positive",
                "weight_decay": "nonneg",
                "decouple": "bool",
                "use_bias_correction": "bool",
                "d0": "positive",
                "growth_rate": [0.0, -1.0, NAN, "2", None],
            },
        )
        for name in ("dadapt_adam", "scale_by_dadapt_adam")
    },
    "dadapt_adamw": (
        {},
        {
            "learning_rate": "rate",
            "betas": [(1.0, 0.999), (0.9, -0.1), (0.9, NAN), 0.9, "ab"],
            "eps": "positive",
            "weight_decay": "nonneg",
            "use_bias_correction": "bool",
            "d0": "positive",
            "growth_rate": [0.0, -1.0, NAN, "2", None],
        },
    ),
    **{
        name: (
            {},
            {
                "learning_rate": "rate",
                "momentum": "unit",
                "weight_decay": "nonneg",
                "d0": "positive",
                "growth_rate": [0.0, -1.0, NAN, "2", None],
            },
        )
        for name in ("dadapt_sgd", "scale_by_dadapt_sgd")
    },
    **{
        name: (
            {},
            {
                "learning_rate": "rate",
                "momentum": "unit",
                "weight_decay": "nonneg",
                "eps": "positive",
                "d0": "positive",
                "growth_rate": [0.0, -1.0, NAN, "2", None],
            },
        )
        for name in ("dadapt_adagrad", "scale_by_dadapt_adagrad")
    },
    # Learning-rate-free: DoG, DoWG, COCOB, Polyak, MoMo.
    "dog": (
        {},
        {
            "learning_rate": "rate",
            "reps_rel": "positive",
            "eps": "nonneg",
            "weight_decay": "nonneg",
            "init_eta": [0.0, -1.0, NAN, INF],
        },
    ),
    "l_dog": (
        {},
        {
            "learning_rate": "rate",
            "reps_rel": "positive",
            "eps": "nonneg",
            "weight_decay": "nonneg",
            "init_eta": [0.0, -1.0, NAN, INF],
        },
    ),
    "dowg": (
        {},
        {
            "learning_rate": "rate",
            "eps": "positive",
            "init_estim_sq_dist": [0.0, -1.0, NAN, INF],
            "weight_decay": "nonneg",
        },
    ),
    "cocob": ({}, {"alpha": "positive", "eps": "positive", "weight_decay": "nonneg"}),
    "polyak_sgd": (
        {},
        {
            "max_learning_rate": [-0.1, NAN, INF, "0.1"],
            "variant": ["sps", 3],
            "c": "positive",
            "f_min": [NAN, INF, "0"],
            "eps": "nonneg",
            "init_step_size": "nonneg",
            "gamma": [0.5, NAN, INF],
            "n_batches_per_epoch": "period",
        },
    ),
    "momo": (
        {},
        {
            "learning_rate": "rate",
            "beta": "unit",
            "weight_decay": "nonneg",
            "lower_bound": [NAN, INF, "0"],
            "bias_correction": "bool",
            "use_fstar": "bool",
        },
    ),
    "momo_adam": (
        {},
        {
            "learning_rate": "rate",
            "b1": "unit",
            "b2": "unit",
            "eps": "nonneg",
            "weight_decay": "nonneg",
            "lower_bound": [NAN, INF, "0"],
            "divide": "bool",
            "use_fstar": "bool",
        },
    ),
}

# Public functions with no hyperparameters to get wrong.
NO_HYPERPARAMETERS = {"current_learning_rate", "plot_sweep"}

# Learning-rate-free: Schedule-Free and Mechanic (issue 18).
_BAD_BASE = [0.1, "sgd", None]
_OPEN_UNIT = [0.0, 1.0, -0.5, NAN]
TABLE.update(
    {
        "schedule_free": (
            {"base": lrjax.sgd(0.1), "learning_rate": 0.1},
            {
                "base": _BAD_BASE,
                "learning_rate": "rate",
                "b1": _OPEN_UNIT,
                "weight_lr_power": "nonneg",
                "r": "nonneg",
            },
        ),
        "schedule_free_sgd": (
            {},
            {
                "learning_rate": "rate",
                "b1": _OPEN_UNIT,
                "weight_decay": "nonneg",
                "warmup_steps": "count",
                "weight_lr_power": "nonneg",
                "r": "nonneg",
            },
        ),
        "schedule_free_adamw": (
            {},
            {
                "learning_rate": "rate",
                "b1": _OPEN_UNIT,
                "b2": "unit",
                "eps": "nonneg",
                "weight_decay": "nonneg",
                "warmup_steps": "count",
                "weight_lr_power": "nonneg",
                "r": "nonneg",
            },
        ),
        "mechanize": (
            {"base": lrjax.sgd(0.1)},
            {
                "base": _BAD_BASE,
                "weight_decay": "nonneg",
                "betas": [[1.0], [0.9, -0.1], [], "0.9", [NAN]],
                "s_init": "nonneg",
                "eps": "positive",
                "store_delta": "bool",
            },
        ),
    }
)
NO_HYPERPARAMETERS |= {"schedule_free_eval_params"}
# Functions that run (train) rather than build: checked with invalid values only.
RUNNERS = {"find_learning_rate", "sweep_learning_rates"}


def _public_functions():
    return sorted(
        name
        for name in dir(lrjax)
        if not name.startswith("_")
        and inspect.isfunction(getattr(lrjax, name))
        and getattr(lrjax, name).__module__.startswith("lrjax.")
    )


def _rows():
    for name, (_, args) in TABLE.items():
        for arg, kind in args.items():
            values = KINDS[kind] if isinstance(kind, str) else kind
            for bad in values:
                # No memory addresses in ids: xdist workers must collect the same names.
                shown = re.sub(r" at 0x[0-9a-f]+", "", repr(bad))
                yield pytest.param(name, arg, bad, id=f"{name}-{arg}={shown}")


def _mentions_value(message: str, bad) -> bool:
    """The message shows the bad value, or for a sequence the offending element."""
    if isinstance(bad, float) and math.isnan(bad):
        return "nan" in message.lower()
    if repr(bad) in message or str(bad) in message:
        return True
    if isinstance(bad, (list, tuple, str)):
        return any(_mentions_value(message, item) for item in bad if item is not bad)
    return False


def test_every_public_function_has_a_row():
    missing = [
        n for n in _public_functions() if n not in TABLE and n not in NO_HYPERPARAMETERS
    ]
    assert not missing, f"add rows to TABLE for {missing}"
    stale = [n for n in TABLE if not hasattr(lrjax, n)]
    assert not stale, f"TABLE names functions lrjax does not have: {stale}"


@pytest.mark.parametrize("name", [n for n in TABLE if n not in RUNNERS])
def test_valid_arguments_build(name):
    valid, _ = TABLE[name]
    getattr(lrjax, name)(**valid)


@pytest.mark.parametrize(("name", "arg", "bad"), list(_rows()))
def test_invalid_value_is_rejected_naming_argument_and_value(name, arg, bad):
    valid, _ = TABLE[name]
    with pytest.raises((ValueError, TypeError)) as info:
        getattr(lrjax, name)(**{**valid, arg: bad})
    message = str(info.value)
    assert arg in message, f"{name}({arg}={bad!r}) raised without naming it: {message}"
    assert _mentions_value(message, bad), f"{name}({arg}={bad!r}): {message}"


KIND_ROWS = [
    (name, arg, kind)
    for name, (_, args) in TABLE.items()
    for arg, kind in args.items()
    if isinstance(kind, str) and name not in RUNNERS
]


@pytest.mark.parametrize(("name", "arg", "kind"), KIND_ROWS, ids=lambda x: str(x))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_random_invalid_values_raise(name, arg, kind, data):
    bad = data.draw(INVALID[kind])
    valid, _ = TABLE[name]
    with pytest.raises((ValueError, TypeError), match=arg.split("[")[0]):
        getattr(lrjax, name)(**{**valid, arg: bad})
