"""lrjax: the learning rate, in JAX.

Schedules are pure functions ``step -> learning rate``; optimizers are optax
``GradientTransformation`` objects that record the learning rate they apply.
Every public name is re-exported here explicitly; the private modules are not API.
"""

__version__ = "0.1.0"

# --- base types (_base.py)
from ._base import GradientTransformation as GradientTransformation
from ._base import GradientTransformationExtraArgs as GradientTransformationExtraArgs
from ._base import ScalarOrSchedule as ScalarOrSchedule
from ._base import Schedule as Schedule
from ._base import apply_updates as apply_updates
from ._base import chain as chain

# --- learning rate (_learning_rate.py)
from ._learning_rate import ScaleByLearningRateState as ScaleByLearningRateState
from ._learning_rate import current_learning_rate as current_learning_rate
from ._learning_rate import scale_by_learning_rate as scale_by_learning_rate

# --- schedules (_schedules.py, _combine.py)

# --- momentum and decay (_momentum.py)
from ._momentum import TraceState as TraceState
from ._momentum import trace as trace

# --- adaptive (_adaptive.py)

# --- optimizers (_aliases.py)
from ._aliases import sgd as sgd

# --- Newton (_newton.py)

# --- plateau and hypergradient (_plateau.py, _hypergradient.py)

# --- range test and plots (_finder.py, _plot.py)
