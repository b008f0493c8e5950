r"""Layer-wise trust ratios: `scale_by_trust_ratio`, LARS and LAMB.

A trust ratio rescales each leaf (a layer's kernel, a bias) by $\lVert w\rVert /
\lVert d\rVert$, so every layer moves by about the same fraction of its weights. The
ratio is computed per leaf and from the data (weights and gradients), so it is not a
learning rate: [`lrjax.current_learning_rate`][] reports the base rate $\eta(n)$ that
multiplies every leaf, and the step a layer takes is $\eta(n)$ times its ratio.

Masks say which leaves get a trust ratio (or a weight decay): a tree of booleans like
the params (or a prefix of it), a function of the params returning one, or
[`lrjax.leaf_mask`][], which excludes leaves by rank (biases and normalisation scales
are vectors) or by path in one line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from .._learning_rate.scale import scale_by_learning_rate
from .._shared import validate
from .._shared.base import GradientTransformation, ScalarOrSchedule, chain
from .._shared.numerics import (
    evaluate,
    initial_count,
    safe_increment,
    scalar_like,
    value_at,
)
from .._shared.tree import canonical_inputs, check_like
from .adam import scale_by_adam
from .momentum import trace

MaskOrFn = Union[None, bool, Any, Callable[[Any], Any]]


def _is_none(x: Any) -> bool:
    return x is None


def leaf_mask(*, min_rank: int = 0, exclude: Optional[str] = None) -> Callable[[Any], Any]:
    r"""A mask of the leaves with rank $\ge$ `min_rank` whose path `exclude` misses.

    The path is the leaf's `jax.tree_util.keystr`, e.g. `['params']['Dense_0']['bias']`,
    searched with `re.search`. `leaf_mask(min_rank=2)` keeps kernels and drops
    biases and normalisation scales (vectors), as pytorch_optimizer's LARS does;
    `leaf_mask(exclude=r"bias|scale|norm")` drops them by name.

    Args:
      min_rank: the smallest `ndim` a leaf needs to be selected, $\ge 0$.
      exclude: a regular expression; leaves whose path matches are not selected.

    Returns:
      A function `params -> tree of bool`, to pass as a `mask` argument.

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> p = {"dense": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)},
      ...      "norm": {"scale": jnp.ones((3, 3))}}
      >>> lrjax.leaf_mask(min_rank=2)(p)
      {'dense': {'bias': False, 'kernel': True}, 'norm': {'scale': True}}
      >>> lrjax.leaf_mask(exclude="bias|norm")(p)
      {'dense': {'bias': False, 'kernel': True}, 'norm': {'scale': False}}

    References:
      The masks of optax's `lars` and `lamb` (`weight_decay_mask`,
      `trust_ratio_mask`) take such a function; pytorch_optimizer 4.1.0's `LARS`
      skips `p.ndim < 2` tensors (`pytorch_optimizer/optimizer/lars.py`), which
      `min_rank=2` reproduces.
    """
    rank = validate.nonnegative_int("min_rank", min_rank)
    pattern = None
    if exclude is not None:
        if not isinstance(exclude, str):
            raise TypeError(f"exclude must be a regular expression string, got {exclude!r}")
        try:
            pattern = re.compile(exclude)
        except re.error as err:
            raise ValueError(
                f"exclude must be a valid regular expression, got {exclude!r}: {err}"
            ) from err

    def mask(params):
        def one(path, leaf):
            if leaf is None:
                return None
            if jnp.ndim(leaf) < rank:
                return False
            return not (pattern and pattern.search(jax.tree_util.keystr(path)))

        return jax.tree_util.tree_map_with_path(one, params, is_leaf=_is_none)

    return mask


def _mask_tree(name: str, mask: MaskOrFn, params: Any) -> Any:
    """`mask` as a tree of Python bools with the structure of `params`."""
    if mask is None:
        mask = True
    tree = mask(params) if callable(mask) else mask

    def broadcast(m, sub):
        if m is None:  # a None params leaf (leaf_mask maps it to None)
            return None
        known = isinstance(m, (bool, np.bool_, np.ndarray)) and not validate.is_traced(m)
        if not known or np.ndim(m) != 0 or np.asarray(m).dtype != np.bool_:
            raise TypeError(
                f"{name} leaves must be Python booleans (one per leaf), got {m!r}"
            )
        flag = bool(m)
        return jax.tree.map(lambda _: flag, sub, is_leaf=_is_none)

    return jax.tree.map(broadcast, tree, params, is_leaf=_is_none)


def _sq_norm(x: jax.Array) -> jax.Array:
    """Squared norm, accumulated in float32 or wider (bfloat16 leaves too)."""
    wide = jnp.dtype(jnp.real(x).dtype) == jnp.float64
    dtype = jnp.dtype(jnp.float64 if wide else jnp.float32)
    if jnp.iscomplexobj(x):
        x = x.astype(jnp.complex128 if wide else jnp.complex64)
        return jnp.sum(x.real**2 + x.imag**2)
    x = x.astype(dtype)
    return jnp.sum(x * x)


def _norm(x: jax.Array, min_norm: Any) -> jax.Array:
    n = jnp.sqrt(_sq_norm(x))
    if isinstance(min_norm, (int, float)) and min_norm == 0:
        return n
    return jnp.maximum(n, jnp.asarray(min_norm, n.dtype))


class ScaleByTrustRatioState(NamedTuple):
    """State of [`lrjax.scale_by_trust_ratio`][].

    Attributes:
      count: number of updates so far (`int32`, saturating), the position of a
        scheduled `weight_decay`; `()` when nothing is scheduled (no leaf).
    """

    count: jax.Array | tuple


def scale_by_trust_ratio(
    min_norm: float = 0.0,
    trust_coefficient: float = 1.0,
    eps: float = 0.0,
    *,
    mask: MaskOrFn = None,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = None,
    denominator: str = "update",
) -> GradientTransformation:
    r"""Scale each leaf by its trust ratio, optionally adding weight decay first.

    Per leaf, with $\lambda$ the weight decay (0 where `weight_decay_mask` is
    False), $d = g + \lambda w$ and $c$ = `trust_coefficient`:

    $$
    u = \rho\, d, \qquad \rho = \begin{cases}
      c\,\lVert w\rVert / (\lVert d\rVert + \epsilon) & \texttt{"update"} \\
      c\,\lVert w\rVert / (\lVert g\rVert + \lambda\lVert w\rVert + \epsilon)
        & \texttt{"sum"}
    \end{cases}
    $$

    and $\rho = 1$ where $\lVert w\rVert$ or the denominator is 0. `"update"` is
    optax's (and LAMB's, where $g$ is Adam's direction); `"sum"` is the LARS paper's
    and pytorch_optimizer's. Norms are clipped below at `min_norm`. Leaves that
    `mask` leaves out get $u = d$. With the defaults this is optax's
    `scale_by_trust_ratio`.

    Args:
      min_norm: a lower bound $\ge 0$ on the norms.
      trust_coefficient: $c \ge 0$.
      eps: $\epsilon \ge 0$, added to the denominator.
      mask: which leaves get a trust ratio (see [`lrjax.leaf_mask`][]); `None`: all.
      weight_decay: $\lambda \ge 0$, or a schedule of it.
      weight_decay_mask: which leaves decay; `None`: all.
      denominator: `"update"` or `"sum"`.

    Returns:
      An optax `GradientTransformation`; its `update` needs `params`.

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_trust_ratio()
      >>> w = {"k": jnp.full((2, 2), 3.0), "b": jnp.zeros(2)}
      >>> g = {"k": jnp.full((2, 2), 0.5), "b": jnp.ones(2)}
      >>> u, _ = tx.update(g, tx.init(w), w)
      >>> print(f"{float(u['k'][0, 0]):.4f} {float(u['b'][0]):.4f}")
      3.0000 1.0000

    References:
      You et al., Large Batch Training of Convolutional Networks, 2017,
      https://arxiv.org/abs/1708.03888. optax `scale_by_trust_ratio`.
    """
    validate.nonnegative("min_norm", min_norm)
    validate.nonnegative("trust_coefficient", trust_coefficient)
    validate.nonnegative("eps", eps)
    if not callable(weight_decay):
        validate.nonnegative("weight_decay", weight_decay)
    validate.choice("denominator", denominator, ("update", "sum"))
    scheduled = callable(weight_decay)

    def init_fn(params):
        del params
        return ScaleByTrustRatioState(initial_count(scheduled))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                "scale_by_trust_ratio needs params: call update(g, state, params)"
            )
        check_like(updates, params, dtypes=False)
        wd = value_at(weight_decay, state.count)
        no_decay = isinstance(wd, (int, float)) and wd == 0
        trusted = _mask_tree("mask", mask, params)
        decayed = _mask_tree("weight_decay_mask", weight_decay_mask, params)

        def leaf(g, w, use_ratio, use_decay):
            if g is None:
                return None
            w = w.astype(g.dtype)
            use_decay = use_decay and not no_decay
            lam = wd if use_decay else 0.0
            d = g + scalar_like(lam, g) * w if use_decay else g
            if not use_ratio:
                return d
            w_norm = _norm(w, min_norm)
            if denominator == "update":
                den = _norm(d, min_norm)
            else:
                den = _norm(g, min_norm) + scalar_like(lam, w_norm) * w_norm
            den = den + scalar_like(eps, den)
            ratio = scalar_like(trust_coefficient, w_norm) * w_norm / den
            safe = jnp.where((w_norm == 0) | (den == 0), 1.0, ratio).astype(ratio.dtype)
            return d * safe.astype(d.dtype)  # a real ratio, complex for a complex leaf

        out = jax.tree.map(leaf, updates, params, trusted, decayed, is_leaf=_is_none)
        return out, ScaleByTrustRatioState(safe_increment(state.count))

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = True,
    trust_coefficient: float = 0.001,
    eps: float = 0.0,
    trust_ratio_mask: MaskOrFn = True,
    momentum: Optional[ScalarOrSchedule] = 0.9,
    nesterov: bool = False,
    *,
    denominator: str = "update",
    lr_in_momentum: bool = True,
) -> GradientTransformation:
    r"""LARS: SGD with momentum on layer-wise trust-ratio-scaled gradients.

    $$
    d_n = \rho_n (g_n + \lambda w_n), \quad t_n = \mu\, t_{n-1} + \eta(n)\, d_n, \quad
    w_{n+1} = w_n - t_n
    $$

    with $\rho$ from [`lrjax.scale_by_trust_ratio`][] (`denominator`: `"update"`,
    $c\lVert w\rVert/\lVert g + \lambda w\rVert$, optax's; `"sum"`,
    $c\lVert w\rVert/(\lVert g\rVert + \lambda\lVert w\rVert)$, You et al.'s and
    pytorch_optimizer's). With `lr_in_momentum=False` the buffer holds $d_n$ and
    $\eta(n)$ multiplies it afterwards (pytorch_optimizer); the two agree for a
    constant rate. [`lrjax.current_learning_rate`][] reports $\eta(n)$; each layer's
    step is $\eta(n)\rho_n$, which depends on its weights and gradients.

    pytorch_optimizer's `LARS(lr, weight_decay=λ, momentum=μ, trust_coefficient=c,
    nesterov=…)` is `lars(lr, λ, m, c, 0.0, m, μ, nesterov, denominator="sum",
    lr_in_momentum=False)` with `m = lrjax.leaf_mask(min_rank=2)`: it leaves
    tensors of rank $\le 1$ to plain momentum SGD (no decay, no ratio).

    Args:
      learning_rate: a non-negative number or a schedule.
      weight_decay: $\lambda \ge 0$, or a schedule.
      weight_decay_mask: which leaves decay (`True`: all).
      trust_coefficient: $c \ge 0$.
      eps: $\epsilon \ge 0$ in the ratio's denominator.
      trust_ratio_mask: which leaves get a trust ratio (`True`: all, as optax).
      momentum: $\mu \in [0, 1)$, a schedule, or `None` for none.
      nesterov: Nesterov momentum.
      denominator: `"update"` (optax) or `"sum"` (the paper).
      lr_in_momentum: the rate inside the buffer (optax) or after it (PyTorch).

    Returns:
      An optax `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> loss = lambda p: jnp.sum((p["w"] - 1.0) ** 2) + jnp.sum(p["b"] ** 2)
      >>> opt = lrjax.lars(0.5, trust_ratio_mask=lrjax.leaf_mask(min_rank=2))
      >>> p = {"w": jnp.full((2, 2), 3.0), "b": jnp.ones(2)}
      >>> state = opt.init(p)
      >>> for _ in range(3):
      ...     u, state = opt.update(jax.grad(loss)(p), state, p)
      ...     p = lrjax.apply_updates(p, u)
      >>> print(f"{float(p['w'][0, 0]):.4f} {float(p['b'][0]):.4f}")
      2.9916 -0.8100

    References:
      You et al., Large Batch Training of Convolutional Networks, 2017,
      https://arxiv.org/abs/1708.03888. optax `lars` (identical with the defaults);
      pytorch_optimizer `LARS` as above.
    """
    validate.learning_rate("learning_rate", learning_rate)
    if momentum is not None and not callable(momentum):
        validate.decay_rate("momentum", momentum)
    if validate.boolean("nesterov", nesterov) and momentum is None:
        raise ValueError("nesterov=True needs a momentum, got momentum=None")
    validate.boolean("lr_in_momentum", lr_in_momentum)
    ratio = scale_by_trust_ratio(
        trust_coefficient=trust_coefficient,
        eps=eps,
        mask=trust_ratio_mask,
        weight_decay=weight_decay,
        weight_decay_mask=weight_decay_mask,
        denominator=denominator,
    )
    lr = scale_by_learning_rate(learning_rate)
    if momentum is None:
        return chain(ratio, lr)
    tr = trace(momentum, nesterov=nesterov)
    return chain(ratio, lr, tr) if lr_in_momentum else chain(ratio, tr, lr)


class KerasDecayState(NamedTuple):
    count: jax.Array | tuple


def _keras_decay(learning_rate, weight_decay, mask) -> GradientTransformation:
    r"""After the learning rate: $u = |1 - \eta\lambda|\, v - \eta\lambda w$ (Keras).

    Keras decays the weights ($w' = (1 - \eta\lambda) w$) before its LAMB step, whose
    trust ratio then sees $\lVert w'\rVert$: the step $v = -\eta\rho a$ computed on
    $w$ is scaled by $|1 - \eta\lambda|$.
    """
    scheduled = callable(learning_rate) or callable(weight_decay)

    def init_fn(params):
        del params
        return KerasDecayState(initial_count(scheduled))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("lamb needs params: call update(g, state, params)")
        count = state.count if scheduled else jnp.zeros([], jnp.int32)
        rate = evaluate(learning_rate, count) * evaluate(weight_decay, count)
        keep = jnp.abs(1.0 - rate)
        decays = _mask_tree("mask", mask, params)

        def leaf(v, w, use):
            if v is None or not use:
                return v
            return scalar_like(keep, v) * v - scalar_like(rate, v) * w.astype(v.dtype)

        out = jax.tree.map(leaf, updates, params, decays, is_leaf=_is_none)
        return out, KerasDecayState(safe_increment(state.count))

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def lamb(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
    *,
    trust_ratio_mask: MaskOrFn = None,
    weight_decay_placement: str = "optax",
) -> GradientTransformation:
    r"""LAMB: Adam's direction, scaled per layer by a trust ratio.

    With $a_n = \hat m_n / (\sqrt{\hat v_n + \bar\epsilon} + \epsilon)$ (Adam's
    direction) and $\rho(x) = \lVert w\rVert / \lVert x\rVert$ (1 where a norm is 0):

    * `weight_decay_placement="optax"` (the default, the paper's):
      $u_n = -\eta(n)\,\rho(a_n + \lambda w_n)(a_n + \lambda w_n)$, equal to
      `optax.lamb` with the same arguments;
    * `"keras"`: the weights decay first, outside the ratio, as Keras 3's `Lamb`
      with `weight_decay=λ` does:
      $u_n = -\eta\lambda w_n - |1 - \eta\lambda|\,\eta\,\rho(a_n)\, a_n$.

    Without decay the two are the same, and equal Keras 3's `Lamb` when `eps` is
    passed equal (Keras's default is 1e-7, optax's 1e-6). [`lrjax.current_learning_rate`][]
    reports $\eta(n)$; each layer's step is $\eta(n)\rho$, data-dependent.

    Args:
      learning_rate: a non-negative number or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\bar\epsilon \ge 0$, inside the root.
      weight_decay: $\lambda \ge 0$, or a schedule.
      mask: which leaves decay (optax's `mask`); `None`: all.
      trust_ratio_mask: which leaves get a trust ratio; `None`: all, as optax and
        Keras. `lrjax.leaf_mask(min_rank=2)` leaves biases and norms to Adam.
      weight_decay_placement: `"optax"` or `"keras"`.

    Returns:
      An optax `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> loss = lambda w: jnp.sum((w - 1.0) ** 2)
      >>> opt = lrjax.lamb(0.05, weight_decay=0.01)
      >>> w = jnp.full(4, 3.0); state = opt.init(w)
      >>> for _ in range(40):
      ...     u, state = opt.update(jax.grad(loss)(w), state, w)
      ...     w = lrjax.apply_updates(w, u)
      >>> print(f"{float(w[0]):.4f}")
      0.9490

    References:
      You et al., Large Batch Optimization for Deep Learning: Training BERT in 76
      minutes, 2020, https://arxiv.org/abs/1904.00962. optax `lamb`; Keras 3 `Lamb`.
    """
    validate.learning_rate("learning_rate", learning_rate)
    placement = validate.choice(
        "weight_decay_placement", weight_decay_placement, ("optax", "keras")
    )
    if not callable(weight_decay):
        validate.nonnegative("weight_decay", weight_decay)
    adam = scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    lr = scale_by_learning_rate(learning_rate)
    if placement == "optax":
        ratio = scale_by_trust_ratio(
            mask=trust_ratio_mask, weight_decay=weight_decay, weight_decay_mask=mask
        )
        return chain(adam, ratio, lr)
    ratio = scale_by_trust_ratio(mask=trust_ratio_mask)
    if isinstance(weight_decay, (int, float)) and weight_decay == 0:
        return chain(adam, ratio, lr)  # no decay: the placements coincide
    return chain(adam, ratio, lr, _keras_decay(learning_rate, weight_decay, mask))


__all__ = ["ScaleByTrustRatioState", "lamb", "lars", "leaf_mask", "scale_by_trust_ratio"]
