"""Mechanic (Cutkosky et al., 2023): a learned scale for any base transform."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from .._shared import validate
from .._shared.base import GradientTransformation, GradientTransformationExtraArgs
from .._shared.numerics import lr_dtype, safe_increment
from .._shared.tree import canonical_inputs, check_like, refuse_complex

_BETAS = (0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999)


class MechanizeState(NamedTuple):
    """State of [`lrjax.mechanize`][].

    Attributes:
      count: number of updates so far (`int32`, saturating).
      delta: the displacement $\\Delta$ from the starting point, in units of the
        scale: the params are $x = x_{\\text{ref}} + \\max(\\sum_j s_j, 0)\\,\\Delta$.
        It is kept instead of $x_{\\text{ref}}$ (same memory), so that float32 never
        forms $x - x_{\\text{ref}}$.
      s: the scale $s_j$ for each $\\beta_j$.
      m: the running maximum $m_j$ of $|h|$.
      v: the discounted sum $v_j$ of $h^2$.
      r: the discounted reward $r_j$ (clipped at 0).
      base_state: the base transform's state.
    """

    count: jax.Array
    delta: Any
    s: jax.Array
    m: jax.Array
    v: jax.Array
    r: jax.Array
    base_state: Any

    @property
    def scale(self) -> jax.Array:
        """$\\max(\\sum_j s_j, 0)$: the factor the last base update was applied with."""
        return jnp.maximum(jnp.sum(self.s), 0).astype(lr_dtype())


def _tuner_dtype(params: Any) -> jnp.dtype:
    leaves = jax.tree.leaves(params)
    dtypes = [
        jnp.result_type(x)
        for x in leaves
        if jnp.issubdtype(jnp.result_type(x), jnp.floating)
    ]
    widest = jnp.float32
    for d in dtypes:
        if jnp.finfo(d).bits > jnp.finfo(widest).bits:
            widest = d
    return jnp.dtype(widest)


def _tuner_signal(updates, delta_prev, x_plus, total, weight_decay, eps) -> jax.Array:
    r"""The tuners' signal $h = \langle \Delta, g + \lambda S \|g\|/\|x^+\|\, x^+ \rangle$,
    $x^+$ the parameters after the base step, in the dtype of `total` (0 where it
    overflows)."""
    dt = total.dtype
    wide = lambda x: jnp.asarray(x).astype(dt)
    sq = lambda t: sum((jnp.vdot(a, a) for a in jax.tree.leaves(t)), jnp.zeros([], dt))
    grad_norm = jnp.sqrt(sq(jax.tree.map(wide, updates)))
    param_norm = jnp.sqrt(sq(x_plus))
    coef = weight_decay * total * grad_norm / (param_norm + eps)
    h = sum(
        (
            jnp.vdot(d.ravel(), (wide(g) + coef * x).ravel())
            for d, g, x in zip(
                jax.tree.leaves(delta_prev),
                jax.tree.leaves(updates),
                jax.tree.leaves(x_plus),
            )
        ),
        jnp.zeros([], dt),
    )
    # An overflowing product (gradients past ~1e19 in float32) would make every
    # scale NaN, as in the reference; the step then counts as h = 0 instead.
    return jnp.where(jnp.isfinite(h), h, jnp.zeros([], dt))


def mechanize(
    base: GradientTransformation,
    *,
    weight_decay: float = 0.01,
    betas: Sequence[float] = _BETAS,
    s_init: float = 1e-8,
    eps: float = 1e-8,
    store_delta: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Mechanic: learn the scale of any base transform's updates.

    The base transform gives updates $u_k$ (its learning rate included). Mechanic
    accumulates them, $\Delta_{k+1} = \Delta_k' + u_k$, and applies them with a learned
    scale $S = \sum_j s_j$: $x_k = x_{\text{ref}} + \max(S_k, 0)\,\Delta_k$. Each step,
    with $g$ the raw gradient and $x^+ = x_k + u_k$,

    $$h = \Big\langle \Delta_k',\; g + \lambda S_k \frac{\|g\|}{\|x^+\| + \epsilon}\,x^+
      \Big\rangle,$$

    and for each $\beta_j$ (the tuner, from $m_0 = 10^{-6}$, $v_0 = r_0 = s_0 = 0$):

    $$m_j \leftarrow \max(\beta_j m_j, |h|), \quad v_j \leftarrow \beta_j^2 v_j + h^2,
      \quad r_j \leftarrow \max(\beta_j r_j - s_j h, 0), \quad
      s_j = \frac{s_{\text{init}}\, m_j / n + r_j}{\sqrt{v_j} + \epsilon}.$$

    $\Delta_k'$ is the previous direction $(x_k - x_{\text{ref}})/(S_k + \epsilon) =
    \Delta_k \max(S_k, 0)/(S_k + \epsilon)$, as the reference recomputes it by default;
    with `store_delta=True` it is $\Delta_k$ (the reference's stored delta). Either way
    lrjax keeps $\Delta$ itself, so float32 never subtracts $x_{\text{ref}}$.

    The defaults are the authors' (`mechanic-pytorch` 0.0.1: `s_decay=0.01`, six
    $\beta$ from 0.9 to 0.999999, `s_init=1e-8`, `eps=1e-8`). The tuner's scalars are
    float32 at least (float64 for float64 params), as the reference keeps them in
    torch's default dtype.

    optax.contrib's `mechanize` differs in seven places (`s_init` 1e-6; $s_0 =
    s_{\text{init}}$ rather than 0; $m_0 = 0$ rather than $10^{-6}$; $m$ taking
    $|h| + \epsilon$; $h$ clipped to $\pm m$ in the reward; the reward kept unclipped;
    the decay taken at $x$ before the base step); no arguments here reproduce it.

    [`lrjax.current_learning_rate`][] reports the base's rate times
    $\max(S, 0)$: the factor the last base update was applied with. A change of $S$
    also rescales the whole past displacement, which no learning rate describes.

    Where $h$ overflows (gradients and displacements past about $10^{19}$ in float32),
    the reference's scales all become NaN; here that step counts as $h = 0$, so the
    updates stay finite. Complex parameters are refused at `init` (`TypeError`).

    Args:
      base: the base transform, its learning rate included (e.g. `lrjax.sgd(0.01)`);
        extra arguments (`value=`, …) are passed to it.
      weight_decay: $\lambda \ge 0$, Mechanic's own decay (the reference's `s_decay`),
        not the base's.
      betas: the $\beta_j \in [0, 1)$, one scale each.
      s_init: $s_{\text{init}} \ge 0$.
      eps: $\epsilon > 0$.
      store_delta: use the stored $\Delta$ rather than the recomputed one in $h$.

    Returns:
      An optax `GradientTransformationExtraArgs` whose state is a
        [`lrjax.MechanizeState`][]; its `update` needs `params`.

    Examples:
      >>> import jax, jax.numpy as jnp, optax, lrjax
      >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
      >>> opt = lrjax.mechanize(lrjax.sgd(0.01))
      >>> params = jnp.zeros(3)
      >>> state = opt.init(params)
      >>> for _ in range(60):
      ...     u, state = opt.update(jax.grad(f)(params), state, params)
      ...     params = optax.apply_updates(params, u)
      >>> print(f"{float(f(params)):.4f} {float(lrjax.current_learning_rate(state)):.4f}")
      0.0000 0.0103

    References:
      Cutkosky et al., Mechanic: A Learning Rate Tuner, 2023,
      https://arxiv.org/abs/2306.00144. The authors' package `mechanic-pytorch` 0.0.1
      (optimizedlearning/mechanic), `mechanic_pytorch/mechanic.py`.
    """
    validate.transform("base", base)
    validate.nonnegative("weight_decay", weight_decay)
    given = betas
    betas = tuple(validate.real_sequence("betas", betas, validate.decay_rate))
    if not betas:
        raise ValueError(f"betas must hold at least one value, got {given!r}")
    validate.nonnegative("s_init", s_init)
    validate.positive("eps", eps)
    store_delta = validate.boolean("store_delta", store_delta)
    inner = optax.with_extra_args_support(base)
    n = len(betas)

    def init_fn(params):
        refuse_complex(params, "mechanize", "its tuner's inner products are real")
        dt = _tuner_dtype(params)
        return MechanizeState(
            count=jnp.zeros([], jnp.int32),
            delta=jax.tree.map(jnp.zeros_like, params),
            s=jnp.zeros([n], dt),
            m=jnp.full([n], 1e-6, dt),
            v=jnp.zeros([n], dt),
            r=jnp.zeros([n], dt),
            base_state=inner.init(params),
        )

    def update_fn(updates, state, params=None, **extra):
        if params is None:
            raise ValueError("mechanize needs params: call update(g, state, params)")
        check_like(updates, state.delta)
        dt = state.s.dtype
        u, base_state = inner.update(updates, state.base_state, params, **extra)
        total = jnp.sum(state.s)
        total_plus = jnp.maximum(total, 0)
        shrink = jnp.ones([], dt) if store_delta else total_plus / (total + eps)
        wide = lambda x: jnp.asarray(x).astype(dt)
        delta_prev = jax.tree.map(lambda d: wide(d) * shrink, state.delta)
        x_plus = jax.tree.map(lambda x, v: wide(x) + wide(v), params, u)
        h = _tuner_signal(updates, delta_prev, x_plus, total, weight_decay, eps)
        b = jnp.asarray(betas, dt)
        m = jnp.maximum(b * state.m, jnp.abs(h))
        v = state.v * b**2 + jnp.square(h)
        r = jnp.maximum(state.r * b - state.s * h, 0)
        s = (m * s_init / n + r) / (jnp.sqrt(v) + eps)
        new_plus = jnp.maximum(jnp.sum(s), 0)
        # x_new - x = S'·(Δ' + u) - S·Δ = S'·u + (S'·f - S)·Δ with Δ' = f·Δ.
        a = new_plus * shrink - total_plus

        def step(d, v, p):
            pdt = jnp.result_type(p)
            return (new_plus * wide(v) + a * wide(d)).astype(pdt)

        out = jax.tree.map(step, state.delta, u, params)
        delta = jax.tree.map(
            lambda d, v: (wide(d) * shrink + wide(v)).astype(jnp.result_type(d)),
            state.delta,
            u,
        )
        return out, MechanizeState(
            count=safe_increment(state.count),
            delta=delta,
            s=s,
            m=m,
            v=v,
            r=r,
            base_state=base_state,
        )

    return GradientTransformationExtraArgs(*canonical_inputs(init_fn, update_fn))
