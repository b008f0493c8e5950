"""The stochastic Polyak step size: SPS_max, SPS+ and the smooth variant (Loizou et al.)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._learning_rate.records import records_learning_rate
from .._shared import validate
from .._shared.base import GradientTransformationExtraArgs, ScalarOrSchedule
from .._shared.numerics import evaluate, safe_increment, scalar_like
from .._shared.tree import canonical_inputs, check_like
from .numerics import reject_complex, scalar_dtype, tree_sum


@records_learning_rate("step_size")
class PolyakSGDState(NamedTuple):
    """State of [`lrjax.polyak_sgd`][].

    Attributes:
      count: updates so far (`int32`, saturating), the position of the schedule.
      step_size: $\\gamma$, the step the last update applied (`init_step_size`
        before the first): what [`lrjax.current_learning_rate`][] reports.
    """

    count: jax.Array
    step_size: jax.Array


_VARIANTS = ("smooth_iter", "sps_max", "sps_plus")


def polyak_sgd(
    max_learning_rate: ScalarOrSchedule | None = None,
    *,
    variant: str = "smooth_iter",
    c: float = 0.5,
    f_min: float = 0.0,
    eps: float = 1e-8,
    init_step_size: float = 1.0,
    gamma: float = 2.0,
    n_batches_per_epoch: int = 500,
) -> GradientTransformationExtraArgs:
    r"""SGD with the stochastic Polyak step size, $x_{n+1} = x_n - \gamma_n g_n$.

    With $f_n$ the loss (`value=`) and $g_n$ its gradient:

    - `"sps_plus"` and `"sps_max"` (the authors' `'constant'` mode):
      $\gamma_n = \min\Big(\frac{f_n - f^\star}{c\lVert g_n\rVert^2 + \epsilon},
      \gamma_b\Big)$, and 0 when $f_n < f^\star$; $\gamma_b$ is `max_learning_rate`
      (SPS_max; `None`, no cap, is SPS⁺, which `"sps_max"` does not allow);
    - `"smooth_iter"` (the authors' default): $\gamma_n = \min\Big(\tau\gamma_{n-1},
      \frac{f_n}{c\lVert g_n\rVert^2 + \epsilon}\Big)$ with
      $\tau = \text{gamma}^{1/\text{n\_batches\_per\_epoch}}$ and $\gamma_{-1} =$
      `init_step_size` (this variant ignores $f^\star$, as the authors' code does),
      then capped by $\gamma_b$ if given.

    A step whose $\lVert g\rVert < 10^{-8}$ is 0 (and, in `"smooth_iter"`, so are the
    later ones, as in the authors' code: $\gamma_{n-1} = 0$). `max_learning_rate` may
    be a schedule; a warm-up from 0 takes zero steps. The loss is passed as optax's line
    searches take it: `update(grads, state, params, value=loss)`.

    optax's `polyak_sgd(max_learning_rate=m, scaling=s, f_min, eps=e,
    variant="sps+")` applies $\min\big(\frac{f - f^\star}{s\lVert g\rVert^2 + e/s},
    s\,m\big)$ (its `scaling` acts as $c$, not as a factor of the step): it is
    `lrjax.polyak_sgd(s * m, variant="sps_max", c=s, f_min=f_min, eps=e / s)` (optax
    zeroes the step at $s^2\lVert g\rVert^2 + e \le$ machine epsilon instead). optax's
    `"sps"` takes a negative step when $f < f^\star$; lrjax does not.

    Args:
      max_learning_rate: $\gamma_b$, a number $\ge 0$, a schedule, or `None`.
      variant: `"smooth_iter"`, `"sps_max"` or `"sps_plus"`.
      c: $c > 0$ (the authors' 0.5).
      f_min: $f^\star$, a lower bound of the loss (the constant variants).
      eps: $\epsilon \ge 0$ in the denominator.
      init_step_size: $\gamma_{-1} \ge 0$ of `"smooth_iter"`.
      gamma: the growth factor per epoch of `"smooth_iter"`, $\ge 1$.
      n_batches_per_epoch: the steps per epoch of `"smooth_iter"`.

    Returns:
      An optax `GradientTransformationExtraArgs` with a [`lrjax.PolyakSGDState`][];
        `update` takes keyword-only `value=`.

    Examples:
      >>> import jax, jax.numpy as jnp, optax, lrjax
      >>> f = lambda x: jnp.sum((x - 3.0) ** 2)
      >>> x = jnp.array([1.0, 2.0])
      >>> opt = lrjax.polyak_sgd(1.0, variant="sps_max", f_min=0.0)
      >>> state = opt.init(x)
      >>> loss, g = jax.value_and_grad(f)(x)
      >>> u, state = opt.update(g, state, x, value=loss)
      >>> x = optax.apply_updates(x, u)
      >>> print(f"{float(f(x)):.4f} {float(lrjax.current_learning_rate(state)):.4f}")
      0.0000 0.5000

      On a quadratic with $f^\star = 0$ and $c = 1/2$ the Polyak step is the exact
      minimiser along $-g$.

    References:
      Loizou, Vaswani, Laradji & Lacoste-Julien, Stochastic Polyak Step-size for SGD:
      An Adaptive Learning Rate for Fast Convergence, 2021,
      https://arxiv.org/abs/2002.10542; the authors' repository
      https://github.com/IssamLaradji/sps, `sps/sps.py`.
    """
    validate.choice("variant", variant, _VARIANTS)
    if max_learning_rate is not None:
        validate.learning_rate("max_learning_rate", max_learning_rate)
    elif variant == "sps_max":
        raise ValueError("variant='sps_max' needs a max_learning_rate, got None")
    validate.positive("c", c)
    validate.real("f_min", f_min)
    validate.nonnegative("eps", eps)
    validate.nonnegative("init_step_size", init_step_size)
    g = validate.real("gamma", gamma)
    if g is not None and g < 1:
        raise ValueError(f"gamma must be >= 1, got {gamma!r}")
    n = validate.positive_int("n_batches_per_epoch", n_batches_per_epoch)
    coeff = gamma ** (1.0 / n)

    def init_fn(params):
        reject_complex(params, "polyak_sgd")
        return PolyakSGDState(
            jnp.zeros([], jnp.int32), jnp.asarray(init_step_size, scalar_dtype(params))
        )

    def update_fn(updates, state, params=None, *, value, **extra_args):
        del extra_args
        if params is not None:
            check_like(updates, params, dtypes=False)
        if jnp.ndim(value) != 0:
            raise ValueError(
                f"value must be a scalar (the loss), got shape {jnp.shape(value)}"
            )
        dt = state.step_size.dtype
        loss = jnp.asarray(value).astype(dt)
        sq = tree_sum(
            [jnp.sum(jnp.square(u.astype(dt))) for u in jax.tree.leaves(updates)], dt
        )
        norm = jnp.sqrt(sq)
        denom = c * sq + eps
        if variant == "smooth_iter":
            step = jnp.minimum(coeff * state.step_size, loss / denom)
        else:
            step = jnp.where(loss < f_min, 0, (loss - f_min) / denom)
        if max_learning_rate is not None:
            step = jnp.minimum(step, evaluate(max_learning_rate, state.count).astype(dt))
        step = jnp.where(norm < 1e-8, 0, step).astype(dt)
        out = jax.tree.map(lambda u: -(scalar_like(step, u) * u), updates)
        return out, PolyakSGDState(safe_increment(state.count), step)

    return GradientTransformationExtraArgs(*canonical_inputs(init_fn, update_fn))
