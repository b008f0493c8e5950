"""Hypergradient descent: the learning rate follows the gradient of the loss in it."""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from .._directions.adam import scale_by_adam
from .._directions.momentum import trace
from .._learning_rate.records import records_learning_rate
from .._shared import validate
from .._shared.base import GradientTransformation, GradientTransformationExtraArgs
from .._shared.numerics import lr_dtype, safe_increment
from .._shared.tree import canonical_inputs, check_like

#: Default ``hyper_lr`` of the multiplicative rule: the rate may grow or shrink by at
#: most 5% a step, so 15 fully agreeing steps double it. Measured on digits MLPs of
#: three sizes and four initial rates (docs/hypergradient.md); 0.1 ran away within
#: 300 full-batch steps, 0.02 helped about half as much.
DEFAULT_MULTIPLICATIVE_HYPER_LR = 0.05


@records_learning_rate("learning_rate", kind="rate")
class ScaleByHypergradientState(NamedTuple):
    """State of [`lrjax.scale_by_hypergradient`][].

    Attributes:
      count: number of updates applied so far (`int32`, saturating).
      learning_rate: $\\alpha_t$, the rate the last update applied
        ($\\alpha_0$ before the first); [`lrjax.current_learning_rate`][] reads it.
      previous: the previous direction $d_{t-1}$ (zeros before the first update).
      direction: the state of the wrapped `direction` transform (`()` if none).
    """

    count: jax.Array
    learning_rate: jax.Array
    previous: Any
    direction: Any


def _dot(a: Any, b: Any) -> jax.Array:
    """Σ over leaves of ⟨a, b⟩, accumulated in at least float32, in `lr_dtype()`."""
    out = jnp.zeros([], lr_dtype())
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        dt = jnp.dtype(jnp.result_type(x))
        # Half-precision products summed over a large leaf lose the sign of a small
        # dot product; float32 and float64 leaves accumulate in their own dtype.
        acc = dt if dt.itemsize >= 4 else jnp.dtype(jnp.float32)
        if jnp.issubdtype(dt, jnp.complexfloating):
            # The real inner product Re<x, y> = Σ Re(x) Re(y) + Im(x) Im(y): complex
            # params are points of R^2, and this is the derivative of the loss along
            # the step, as for real params.
            x, y = x.astype(acc), y.astype(acc)
            prod = x.real * y.real + x.imag * y.imag
        else:
            prod = x.astype(acc) * y.astype(acc)
        out = out + jnp.sum(prod).astype(out.dtype)
    return out


def _cosine(a: Any, b: Any) -> jax.Array:
    """cos(a, b) over whole trees; 0 when either is zero.

    Each tree is first divided by its largest magnitude, so gradients near the top of
    the float32 or bfloat16 range (where squares and norms overflow to inf, and inf/inf
    is NaN) still give a cosine in [-1, 1].
    """

    def scaled(tree):
        leaves = jax.tree.leaves(tree)
        if not leaves:
            return tree, jnp.zeros([], lr_dtype())
        top = jnp.max(jnp.stack([jnp.max(jnp.abs(x)).astype(lr_dtype()) for x in leaves]))
        safe = jnp.where(top > 0, top, 1)
        return jax.tree.map(lambda x: x / safe.astype(x.dtype), tree), top

    a, top_a = scaled(a)
    b, top_b = scaled(b)
    norms = jnp.sqrt(_dot(a, a)) * jnp.sqrt(_dot(b, b))
    ok = (top_a > 0) & (top_b > 0) & (norms > 0)
    return jnp.where(ok, _dot(a, b) / jnp.where(ok, norms, 1), 0)


def _check_options(
    rule: str, initial_lr: Any, hyper_lr: Any, min_lr: Any, max_lr: Any, direction: Any
) -> Any:
    """The checks of `scale_by_hypergradient`'s options; returns `hyper_lr`, with the
    multiplicative rule's default filled in."""
    validate.choice("rule", rule, ("multiplicative", "additive"))
    if callable(initial_lr):
        raise TypeError(
            f"initial_lr must be a number (the rate adapts itself), got {initial_lr!r}"
        )
    alpha0 = validate.nonnegative("initial_lr", initial_lr)
    if rule == "multiplicative":
        if alpha0 == 0.0:
            raise ValueError(
                "initial_lr must be > 0 for the multiplicative rule (a zero rate "
                f"stays zero), got {initial_lr!r}"
            )
        if hyper_lr is None:
            hyper_lr = DEFAULT_MULTIPLICATIVE_HYPER_LR
        validate.in_range("hyper_lr", hyper_lr, 0.0, 1.0, high_open=True)
    else:
        if hyper_lr is None:
            raise ValueError(
                "rule='additive' needs hyper_lr, whose scale depends on the model "
                "(Baydin et al. suggest 1e-3 for SGD, 1e-7 for Adam); or use the "
                "scale-free rule='multiplicative'"
            )
        validate.nonnegative("hyper_lr", hyper_lr)
    floor = validate.nonnegative("min_lr", min_lr)
    if max_lr is not None:
        ceiling = validate.nonnegative("max_lr", max_lr)
        if floor is not None and ceiling is not None and ceiling < floor:
            raise ValueError(f"max_lr must be >= min_lr={min_lr!r}, got {max_lr!r}")
    if direction is not None and not isinstance(direction, GradientTransformation):
        raise TypeError(
            f"direction must be an optax GradientTransformation, got {direction!r}"
        )
    return hyper_lr


def scale_by_hypergradient(
    initial_lr: float,
    hyper_lr: Optional[float] = None,
    *,
    rule: str = "multiplicative",
    min_lr: float = 0.0,
    max_lr: Optional[float] = None,
    direction: Optional[GradientTransformation] = None,
) -> GradientTransformationExtraArgs:
    r"""Multiply by $-\alpha_t$, where the rate $\alpha_t$ learns itself.

    With $g_t$ the gradient at step $t$ and $d_t$ the direction (the
    incoming updates, or the output of `direction`), the update is
    $-\alpha_t d_t$ and, with $d_0 = 0$,

    $$
    h_t = g_t \cdot d_{t-1} = -\frac{\partial f(\theta_{t-1})}{\partial \alpha}

    \text{additive (Baydin et al.):}\quad
    \alpha_t = \alpha_{t-1} + \beta\, h_t

    \text{multiplicative (default):}\quad
    \alpha_t = \alpha_{t-1}\,\bigl(1 + \beta\, \cos(g_t, d_{t-1})\bigr),
    \quad \cos = \frac{h_t}{\lVert g_t\rVert\,\lVert d_{t-1}\rVert}
    $$

    and then $\alpha_t \leftarrow \operatorname{clip}(\alpha_t, \text{min\_lr},
    \text{max\_lr})$, so the rate never goes negative. With $d = g$ the additive
    rule is the paper's SGD-HD; after [`lrjax.scale_by_adam`][]
    ($d = \hat m/(\sqrt{\hat v} + \epsilon)$) it is Adam-HD.

    The additive rule's $\beta$ has units of (rate / gradient²): it depends on
    the model's size and scale (the paper suggests `1e-3` for SGD and `1e-7` for
    Adam; on a small MLP `1e-7` barely moves Adam's rate). The multiplicative rule
    uses only the cosine, a number in $[-1, 1]$, and changes the rate by the
    relative amount $\beta$, so its default $\beta = 0.05$ means the same
    thing for every model and every initial rate; it also keeps
    $\alpha_t > 0$ by itself ($\beta < 1$).

    **Runaway.** On a deterministic problem whose loss keeps falling along the same
    direction (full-batch cross-entropy on separable data), the cosine stays positive
    and the multiplicative rate grows geometrically, until float32 round-off makes a
    step catastrophic (digits MLP, full batch: past step ~600 with the default
    $\beta$). The additive rule slows down by itself as the gradient vanishes.
    For long full-batch runs set `max_lr`; minibatch noise keeps the cosine small
    and the rate moderate.

    **The gradient.** $h_t$ needs the gradient $g_t$, not the direction.
    Pass it as `update(..., grad=g)` (the extra argument optax's line searches use),
    or give the direction transform as `direction=` so that this transform receives
    the gradient and computes the direction itself (what [`lrjax.sgd_hd`][] and
    [`lrjax.adam_hd`][] do). Without either, the incoming updates are taken as the
    gradient, which is right only when no direction transform precedes this one.

    Args:
      initial_lr: $\alpha_0 \ge 0$ (`> 0` for the multiplicative rule).
      hyper_lr: $\beta$: for the multiplicative rule in $[0, 1)$, default
        0.05; for the additive rule required, $\ge 0$.
      rule: `"multiplicative"` or `"additive"`.
      min_lr: floor on $\alpha_t$, $\ge 0$.
      max_lr: ceiling on $\alpha_t$, or `None` for none.
      direction: a transform mapping the gradient to the direction, applied first.

    Returns:
      An optax `GradientTransformationExtraArgs` with a
        [`lrjax.ScaleByHypergradientState`][]; [`lrjax.current_learning_rate`][] reports
        $\alpha_t$.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> loss = lambda w: jnp.sum((w - 3.0) ** 2)
      >>> tx = lrjax.scale_by_hypergradient(0.01, 0.1)
      >>> w = jnp.zeros(2); state = tx.init(w)
      >>> for _ in range(20):
      ...     u, state = tx.update(jax.grad(loss)(w), state)
      ...     w = lrjax.apply_updates(w, u)
      >>> print(f"{float(lrjax.current_learning_rate(state)):.4f}")
      0.0612

    References:
      Baydin et al., Online Learning Rate Adaptation with Hypergradient Descent, ICLR
      2018, https://arxiv.org/abs/1703.04782 (Algorithms 2 and 6; their code,
      https://github.com/gbaydin/hypergradient-descent).
    """
    hyper_lr = _check_options(rule, initial_lr, hyper_lr, min_lr, max_lr, direction)
    inner = None if direction is None else optax.with_extra_args_support(direction)
    upper = math.inf if max_lr is None else max_lr

    def init_fn(params: Any) -> ScaleByHypergradientState:
        return ScaleByHypergradientState(
            count=jnp.zeros([], jnp.int32),
            learning_rate=jnp.asarray(initial_lr, lr_dtype()),
            previous=jax.tree.map(jnp.zeros_like, params),
            direction=() if inner is None else inner.init(params),
        )

    def update_fn(updates, state, params=None, *, grad=None, **extra_args):
        check_like(updates, state.previous)
        if inner is None:
            gradient = updates if grad is None else grad
            d, inner_state = updates, ()
        else:
            gradient = updates
            more = extra_args if grad is None else dict(extra_args, grad=grad)
            d, inner_state = inner.update(updates, state.direction, params, **more)
        alpha = state.learning_rate
        beta = jnp.asarray(hyper_lr, alpha.dtype)
        if rule == "additive":
            alpha = alpha + beta * _dot(gradient, state.previous)
        else:
            # d_0 = 0 (and a zero gradient) give no information: cos = 0, no change.
            alpha = alpha * (1 + beta * _cosine(gradient, state.previous))
        # An overflowing dot product (additive rule, huge gradients) must not turn the
        # rate into inf or NaN: keep the previous rate for that step.
        alpha = jnp.where(jnp.isfinite(alpha), alpha, state.learning_rate)
        alpha = jnp.clip(
            alpha, jnp.asarray(min_lr, alpha.dtype), jnp.asarray(upper, alpha.dtype)
        )
        out = jax.tree.map(lambda x: jnp.asarray(-alpha, x.dtype) * x, d)
        previous = jax.tree.map(lambda x, p: x.astype(p.dtype), d, state.previous)
        new_state = ScaleByHypergradientState(
            safe_increment(state.count), alpha, previous, inner_state
        )
        return out, new_state

    return GradientTransformationExtraArgs(*canonical_inputs(init_fn, update_fn))


def sgd_hd(
    learning_rate: float,
    hyper_lr: Optional[float] = None,
    momentum: Optional[float] = None,
    nesterov: bool = False,
    *,
    rule: str = "multiplicative",
    min_lr: float = 0.0,
    max_lr: Optional[float] = None,
) -> GradientTransformationExtraArgs:
    r"""SGD with hypergradient descent on its learning rate (SGD-HD, SGDN-HD).

    $$
    \alpha_t = \alpha_{t-1} + \beta\, g_t \cdot d_{t-1}
    \ \text{(additive)}, \qquad
    \theta_t = \theta_{t-1} - \alpha_t d_t,
    $$

    with $d = g$, or the heavy-ball or Nesterov direction of [`lrjax.trace`][]; the
    default multiplicative rule is described in [`lrjax.scale_by_hypergradient`][].

    Args:
      learning_rate: the initial rate $\alpha_0$.
      hyper_lr: $\beta$; `None` gives 0.05 (multiplicative) or the paper's
        `1e-3` (additive).
      momentum: $\mu \in [0, 1)$, or `None` for plain SGD.
      nesterov: Nesterov momentum (needs `momentum`).
      rule: `"multiplicative"` or `"additive"`.
      min_lr: floor on the rate.
      max_lr: ceiling on the rate, or `None`.

    Returns:
      An optax `GradientTransformationExtraArgs`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> loss = lambda w: jnp.sum((w - 3.0) ** 2)
      >>> opt = lrjax.sgd_hd(0.01, 0.01, rule="additive")
      >>> w = jnp.zeros(2); state = opt.init(w)
      >>> for _ in range(30):
      ...     u, state = opt.update(jax.grad(loss)(w), state)
      ...     w = lrjax.apply_updates(w, u)
      >>> print(f"{float(w[0]):.4f} {float(lrjax.current_learning_rate(state)):.4f}")
      3.0000 0.4391

    References:
      Baydin et al., Online Learning Rate Adaptation with Hypergradient Descent, ICLR
      2018, https://arxiv.org/abs/1703.04782 (Algorithm 2; `SGDHD` in their code).
    """
    if nesterov and momentum is None:
        raise ValueError("nesterov=True needs a momentum, got momentum=None")
    if rule == "additive" and hyper_lr is None:
        hyper_lr = 1e-3
    # Check under the names the user wrote, before they become initial_lr and decay.
    validate.learning_rate("learning_rate", learning_rate)
    if momentum is not None:
        validate.decay_rate("momentum", momentum)
    validate.boolean("nesterov", nesterov)
    direction = None if momentum is None else trace(momentum, nesterov=nesterov)
    return scale_by_hypergradient(
        learning_rate,
        hyper_lr,
        rule=rule,
        min_lr=min_lr,
        max_lr=max_lr,
        direction=direction,
    )


def adam_hd(
    learning_rate: float,
    hyper_lr: Optional[float] = None,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    rule: str = "multiplicative",
    min_lr: float = 0.0,
    max_lr: Optional[float] = None,
) -> GradientTransformationExtraArgs:
    r"""Adam with hypergradient descent on its learning rate (Adam-HD).

    $$
    u_t = \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}, \qquad
    \alpha_t = \alpha_{t-1} + \beta\, g_t \cdot u_{t-1}\ \text{(additive)},
    \qquad \theta_t = \theta_{t-1} - \alpha_t u_t;
    $$

    the default multiplicative rule is described in [`lrjax.scale_by_hypergradient`][].

    Args:
      learning_rate: the initial rate $\alpha_0$.
      hyper_lr: $\beta$; `None` gives 0.05 (multiplicative) or the paper's
        `1e-7` (additive, which barely moves the rate on small models).
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      rule: `"multiplicative"` or `"additive"`.
      min_lr: floor on the rate.
      max_lr: ceiling on the rate, or `None`.

    Returns:
      An optax `GradientTransformationExtraArgs`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> loss = lambda w: jnp.sum((w - 3.0) ** 2)
      >>> def run(opt, steps=100):
      ...     w = jnp.zeros(2); state = opt.init(w)
      ...     update = jax.jit(opt.update)
      ...     for _ in range(steps):
      ...         u, state = update(jax.grad(loss)(w), state)
      ...         w = lrjax.apply_updates(w, u)
      ...     return float(w[0]), float(lrjax.current_learning_rate(state))
      >>> print("adam    w=%.3f lr=%.4f" % run(lrjax.adam(0.01)))
      adam    w=0.938 lr=0.0100
      >>> print("adam_hd w=%.3f lr=%.4f" % run(lrjax.adam_hd(0.01)))
      adam_hd w=2.947 lr=0.2525

    References:
      Baydin et al., Online Learning Rate Adaptation with Hypergradient Descent, ICLR
      2018, https://arxiv.org/abs/1703.04782 (Algorithm 6; `AdamHD` in their code).
      Kingma & Ba, Adam, 2015, https://arxiv.org/abs/1412.6980.
    """
    if rule == "additive" and hyper_lr is None:
        hyper_lr = 1e-7
    validate.learning_rate("learning_rate", learning_rate)
    return scale_by_hypergradient(
        learning_rate,
        hyper_lr,
        rule=rule,
        min_lr=min_lr,
        max_lr=max_lr,
        direction=scale_by_adam(b1, b2, eps),
    )
