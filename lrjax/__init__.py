"""lrjax: the learning rate, in JAX.

Schedules are pure functions `step -> learning rate`; optimizers are optax
`GradientTransformation` objects that record the learning rate they apply.
Every public name is re-exported here explicitly; the private packages are not API.
They are laid out along the data path (DESIGN.md §1): schedules -> directions -> the
learning rate -> updates, with the learning-rate-free methods and the learning-rate
tools beside it; CONTRIBUTING.md has the map.
"""

# isort: skip_file
# (The re-exports follow the data path, family by family, not the alphabet.)

__version__ = "0.1.0"

# --- base types: optax's own, re-exported (_shared/base.py)
from ._shared.base import GradientTransformation as GradientTransformation
from ._shared.base import GradientTransformationExtraArgs as GradientTransformationExtraArgs
from ._shared.base import Schedule as Schedule
from ._shared.base import ScalarOrSchedule as ScalarOrSchedule
from ._shared.base import chain as chain
from ._shared.base import apply_updates as apply_updates

# --- schedules: step -> learning rate (_schedules/)
from ._schedules.decays import constant as constant
from ._schedules.decays import time_based_decay as time_based_decay
from ._schedules.decays import inverse_time_decay as inverse_time_decay
from ._schedules.decays import step_decay as step_decay
from ._schedules.decays import exponential_decay as exponential_decay
from ._schedules.decays import polynomial_decay as polynomial_decay
from ._schedules.decays import linear_schedule as linear_schedule
from ._schedules.piecewise import multistep_decay as multistep_decay
from ._schedules.piecewise import piecewise_constant as piecewise_constant
from ._schedules.cosine import cosine_decay as cosine_decay
from ._schedules.cosine import cosine_restarts as cosine_restarts
from ._schedules.cyclic import cyclic as cyclic
from ._schedules.cyclic import cyclic_momentum as cyclic_momentum
from ._schedules.cyclic import one_cycle as one_cycle
from ._schedules.cyclic import one_cycle_momentum as one_cycle_momentum
from ._schedules.large_model import inverse_sqrt_decay as inverse_sqrt_decay
from ._schedules.large_model import noam as noam
from ._schedules.large_model import warmup_stable_decay as warmup_stable_decay
from ._schedules.large_model import warmup_cosine as warmup_cosine
from ._schedules.combine import warmup as warmup
from ._schedules.combine import join as join

# --- directions, each beside its optimizers (_directions/)
from ._directions.momentum import TraceState as TraceState
from ._directions.momentum import trace as trace
from ._directions.momentum import sgd as sgd
from ._directions.momentum import AddDecayedWeightsState as AddDecayedWeightsState
from ._directions.momentum import add_decayed_weights as add_decayed_weights
from ._directions.adagrad import ScaleByAdagradState as ScaleByAdagradState
from ._directions.adagrad import scale_by_adagrad as scale_by_adagrad
from ._directions.adagrad import adagrad as adagrad
from ._directions.adadelta import ScaleByAdadeltaState as ScaleByAdadeltaState
from ._directions.adadelta import scale_by_adadelta as scale_by_adadelta
from ._directions.adadelta import adadelta as adadelta
from ._directions.rmsprop import ScaleByRmspropState as ScaleByRmspropState
from ._directions.rmsprop import scale_by_rmsprop as scale_by_rmsprop
from ._directions.rmsprop import rmsprop as rmsprop
from ._directions.adam import ScaleByAdamState as ScaleByAdamState
from ._directions.adam import scale_by_adam as scale_by_adam
from ._directions.adam import adam as adam
from ._directions.adam import adamw as adamw
from ._directions.amsgrad import ScaleByAmsgradState as ScaleByAmsgradState
from ._directions.amsgrad import scale_by_amsgrad as scale_by_amsgrad
from ._directions.amsgrad import amsgrad as amsgrad
from ._directions.nadam import ScaleByNadamState as ScaleByNadamState
from ._directions.nadam import scale_by_nadam as scale_by_nadam
from ._directions.nadam import nadam as nadam
from ._directions.adamax import scale_by_adamax as scale_by_adamax
from ._directions.adamax import adamax as adamax
from ._directions.trust_ratio import ScaleByTrustRatioState as ScaleByTrustRatioState
from ._directions.trust_ratio import scale_by_trust_ratio as scale_by_trust_ratio
from ._directions.trust_ratio import lars as lars
from ._directions.trust_ratio import lamb as lamb
from ._directions.trust_ratio import leaf_mask as leaf_mask

# --- Newton: the step from the curvature (_newton/)
from ._newton.dense import ScaleByNewtonState as ScaleByNewtonState
from ._newton.dense import scale_by_newton as scale_by_newton
from ._newton.dense import newton as newton
from ._newton.cg import ScaleByNewtonCGState as ScaleByNewtonCGState
from ._newton.cg import scale_by_newton_cg as scale_by_newton_cg
from ._newton.cg import newton_cg as newton_cg

# --- the learning rate: applied, recorded, read back (_learning_rate/)
from ._learning_rate.scale import ScaleByLearningRateState as ScaleByLearningRateState
from ._learning_rate.scale import scale_by_learning_rate as scale_by_learning_rate
from ._learning_rate.observe import current_learning_rate as current_learning_rate

# --- learning-rate-free and self-tuning methods (_lr_free/)
from ._lr_free.prodigy import ScaleByProdigyState as ScaleByProdigyState
from ._lr_free.prodigy import scale_by_prodigy as scale_by_prodigy
from ._lr_free.prodigy import prodigy as prodigy
from ._lr_free.dadapt_adam import ScaleByDAdaptAdamState as ScaleByDAdaptAdamState
from ._lr_free.dadapt_adam import scale_by_dadapt_adam as scale_by_dadapt_adam
from ._lr_free.dadapt_adam import dadapt_adam as dadapt_adam
from ._lr_free.dadapt_adam import dadapt_adamw as dadapt_adamw
from ._lr_free.dadapt_sgd import ScaleByDAdaptSGDState as ScaleByDAdaptSGDState
from ._lr_free.dadapt_sgd import scale_by_dadapt_sgd as scale_by_dadapt_sgd
from ._lr_free.dadapt_sgd import dadapt_sgd as dadapt_sgd
from ._lr_free.dadapt_sgd import ScaleByDAdaptAdagradState as ScaleByDAdaptAdagradState
from ._lr_free.dadapt_sgd import scale_by_dadapt_adagrad as scale_by_dadapt_adagrad
from ._lr_free.dadapt_sgd import dadapt_adagrad as dadapt_adagrad
from ._lr_free.schedule_free import ScheduleFreeState as ScheduleFreeState
from ._lr_free.schedule_free import schedule_free as schedule_free
from ._lr_free.schedule_free import schedule_free_sgd as schedule_free_sgd
from ._lr_free.schedule_free import schedule_free_adamw as schedule_free_adamw
from ._lr_free.schedule_free import schedule_free_eval_params as schedule_free_eval_params
from ._lr_free.mechanic import MechanizeState as MechanizeState
from ._lr_free.mechanic import mechanize as mechanize
from ._lr_free.dog import DoGState as DoGState
from ._lr_free.dog import dog as dog
from ._lr_free.dog import LDoGState as LDoGState
from ._lr_free.dog import l_dog as l_dog
from ._lr_free.dog import DoWGState as DoWGState
from ._lr_free.dog import dowg as dowg
from ._lr_free.cocob import COCOBState as COCOBState
from ._lr_free.cocob import cocob as cocob
from ._lr_free.polyak import PolyakSGDState as PolyakSGDState
from ._lr_free.polyak import polyak_sgd as polyak_sgd
from ._lr_free.momo import MomoState as MomoState
from ._lr_free.momo import momo as momo
from ._lr_free.momo import MomoAdamState as MomoAdamState
from ._lr_free.momo import momo_adam as momo_adam
from ._lr_free.hypergradient import ScaleByHypergradientState as ScaleByHypergradientState
from ._lr_free.hypergradient import scale_by_hypergradient as scale_by_hypergradient
from ._lr_free.hypergradient import sgd_hd as sgd_hd
from ._lr_free.hypergradient import adam_hd as adam_hd
from ._lr_free.adagrad_norm import ScaleByAdagradNormState as ScaleByAdagradNormState
from ._lr_free.adagrad_norm import scale_by_adagrad_norm as scale_by_adagrad_norm
from ._lr_free.adagrad_norm import adagrad_norm as adagrad_norm

# --- learning-rate tools: choose, change, guard, group and draw it (_tools/)
from ._tools.finder import LRFinderResult as LRFinderResult
from ._tools.finder import find_learning_rate as find_learning_rate
from ._tools.sweep import SweepResult as SweepResult
from ._tools.sweep import sweep_learning_rates as sweep_learning_rates
from ._tools.plateau import ReduceOnPlateauState as ReduceOnPlateauState
from ._tools.plateau import reduce_on_plateau as reduce_on_plateau
from ._tools.guard import SkipNonfiniteState as SkipNonfiniteState
from ._tools.guard import skip_nonfinite as skip_nonfinite
from ._tools.grouped import GroupedState as GroupedState
from ._tools.grouped import grouped as grouped
from ._tools.plot import plot_schedule as plot_schedule
from ._tools.plot import plot_sweep as plot_sweep
