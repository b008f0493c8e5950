"""AdaGrad-Norm: one scalar step size for the whole tree, from the gradient norms.

Ward, Wu & Bottou's method converges for any learning rate and $b_0 > 0$, without
knowing the Lipschitz constant. `scale_by_adagrad_norm` is the direction,
`adagrad_norm` chains it with [`lrjax.scale_by_learning_rate`][].
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._learning_rate.scale import scale_by_learning_rate
from .._shared import validate
from .._shared.base import GradientTransformation, ScalarOrSchedule, chain
from .._shared.numerics import abs_sq
from .._shared.tree import canonical_inputs, check_like


class ScaleByAdagradNormState(NamedTuple):
    """State of [`lrjax.scale_by_adagrad_norm`][]: the scalar $b_n^2$."""

    sum_of_squares: jax.Array


def _accumulator_dtype(params: Any) -> jnp.dtype:
    """float64 if any leaf is float64, else float32 (never a 16-bit running sum)."""
    leaves = jax.tree.leaves(params)
    wide = (jnp.float64, jnp.complex128)
    if any(jnp.dtype(jnp.result_type(x)) in wide for x in leaves):
        return jnp.dtype(jnp.float64)
    return jnp.dtype(jnp.float32)


def scale_by_adagrad_norm(b0: float = 0.1, eps: float = 0.0) -> GradientTransformation:
    r"""AdaGrad-Norm: one scalar step size for the whole tree, from the gradient norms.

    $$
    b_n^2 = b_0^2 + \sum_{k \le n} \lVert g_k \rVert^2, \qquad
    d_n = \frac{g_n}{b_n + \epsilon}
    $$

    where $\lVert g \rVert$ is the Euclidean norm over every leaf of the tree.
    With the learning rate $\eta$ chained after it, the update is
    $-\eta\, g_n / b_n$: Algorithm 1 of Ward, Wu & Bottou, whose convergence holds
    for any $b_0 > 0$ and $\eta > 0$ without knowing the Lipschitz
    constant. A small $b_0$ makes the first step a normalised gradient step of
    length $\approx \eta$; too large a $b_0$ only slows the start.

    $b_n^2$ is kept in float32 (float64 if any leaf is float64), because a
    bfloat16 running sum stops growing after a few hundred steps; the direction is cast
    back to each leaf's dtype.

    Args:
      b0: $b_0 \ge 0$.
      eps: $\epsilon \ge 0$, a guard for `b0 = 0` and a zero first gradient;
        `b0` and `eps` must not both be 0.

    Returns:
      An optax `GradientTransformation` with a [`lrjax.ScaleByAdagradNormState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_adagrad_norm(b0=0.0, eps=1e-12)
      >>> state = tx.init({"a": jnp.zeros(1), "b": jnp.zeros(1)})
      >>> d, state = tx.update({"a": jnp.full(1, 3.0), "b": jnp.full(1, 4.0)}, state)
      >>> print(f"{float(d['a'][0]):.4f} {float(d['b'][0]):.4f}")
      0.6000 0.8000

    References:
      Ward, Wu & Bottou, AdaGrad stepsizes: sharp convergence over nonconvex landscapes,
      JMLR 2020 (ICML 2019), https://arxiv.org/abs/1806.01811. Streeter & McMahan, Less
      regret via online conditioning, 2010 (the norm version of AdaGrad).
    """
    b0_value = validate.nonnegative("b0", b0)
    eps_value = validate.nonnegative("eps", eps)
    if b0_value == 0.0 and eps_value == 0.0:
        raise ValueError(
            "b0 and eps must not both be 0 (the first step would divide by |g|, "
            f"0/0 for a zero gradient), got b0={b0!r}, eps={eps!r}"
        )

    def init_fn(params):
        dt = _accumulator_dtype(params)
        return ScaleByAdagradNormState(jnp.square(jnp.asarray(b0, dt)))

    def update_fn(updates, state, params=None):
        if params is not None:
            check_like(updates, params, dtypes=False)
        acc = state.sum_of_squares
        dt = acc.dtype
        # |g|^2 of a complex leaf, in the real accumulator dtype.
        sq = sum(
            (jnp.sum(jnp.real(abs_sq(g)).astype(dt)) for g in jax.tree.leaves(updates)),
            jnp.zeros([], dt),
        )
        acc = acc + sq
        scale = 1 / (jnp.sqrt(acc) + jnp.asarray(eps, dt))

        def scaled(g):
            if jnp.iscomplexobj(g):  # a real scale of a complex leaf, in its dtype
                return scale.astype(g.dtype) * g
            return (scale * g.astype(dt)).astype(g.dtype)

        out = jax.tree.map(scaled, updates)
        return out, ScaleByAdagradNormState(acc)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def adagrad_norm(
    learning_rate: ScalarOrSchedule, b0: float = 0.1, eps: float = 0.0
) -> GradientTransformation:
    r"""AdaGrad-Norm: $\theta_{n+1} = \theta_n - \eta(n)\, g_n / b_n$.

    One scalar $b_n^2 = b_0^2 + \sum_{k\le n}\lVert g_k\rVert^2$ for the whole
    tree (see [`lrjax.scale_by_adagrad_norm`][]). Ward, Wu & Bottou prove convergence for
    any $\eta, b_0 > 0$ on smooth non-convex problems, at the rate of tuned SGD
    in the batch setting.

    Args:
      learning_rate: $\eta$, a non-negative number or a schedule.
      b0: $b_0 \ge 0$.
      eps: $\epsilon \ge 0$ added to $b_n$ (a guard for `b0=0`).

    Returns:
      An optax `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> f = lambda x: jnp.sum(x ** 2)
      >>> opt = lrjax.adagrad_norm(1.0)
      >>> x = jnp.asarray([1.0, 2.0, 3.0]); state = opt.init(x)
      >>> for _ in range(50):
      ...     u, state = opt.update(jax.grad(f)(x), state)
      ...     x = lrjax.apply_updates(x, u)
      >>> print(f"{float(f(x)) < 1e-6}")
      True

    References:
      Ward, Wu & Bottou, AdaGrad stepsizes: sharp convergence over nonconvex
      landscapes, JMLR 2020, https://arxiv.org/abs/1806.01811.
    """
    return chain(scale_by_adagrad_norm(b0, eps), scale_by_learning_rate(learning_rate))
