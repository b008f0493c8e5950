"""Per-coordinate adaptive directions: AdaGrad, AdaDelta, RMSprop, and AdaGrad-Norm.

Each `scale_by_*` returns a direction with the sign of the gradient; the optimizers in
`_aliases.py` chain it with [`lrjax.scale_by_learning_rate`][]. The Adam family lives in
`_adam.py`. Statistics keep each parameter's dtype; every hyperparameter is cast to
the dtype of the leaf it multiplies, so bfloat16 trees stay bfloat16 under JAX's strict
dtype promotion.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from ._shared import numerics, validate
from ._shared.base import GradientTransformation, ScalarOrSchedule
from ._shared.numerics import (
    abs_sq,
    initial_count,
    safe_increment,
    scalar_like,
    value_at,
)
from ._shared.tree import canonical_inputs, check_like


class ScaleByAdagradState(NamedTuple):
    """State of [`lrjax.scale_by_adagrad`][]: the running sum of squared gradients."""

    sum_of_squares: Any


def scale_by_adagrad(
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
    *,
    eps_in_sqrt: bool = True,
) -> GradientTransformation:
    r"""AdaGrad: divide by the root of the sum of all squared gradients so far.

    $$
    s_n = s_0 + \sum_{k \le n} g_k^2, \qquad
    d_n = \frac{g_n}{\sqrt{s_n + \epsilon}} \;\; (\texttt{eps\_in\_sqrt}), \quad
    d_n = \frac{g_n}{\sqrt{s_n} + \epsilon} \;\; \text{otherwise}
    $$

    element-wise, with $d_n = 0$ where $s_n = 0$ (a coordinate that has
    never seen a gradient). The defaults (`s_0 = 0.1`, `eps = 1e-7` inside the
    root) are optax's and Keras's; PyTorch's `Adagrad` is `initial_accumulator_value
    =0.0, eps=1e-10, eps_in_sqrt=False`.

    Args:
      initial_accumulator_value: $s_0 \ge 0$.
      eps: $\epsilon \ge 0$.
      eps_in_sqrt: add `eps` inside the square root (optax, Keras) or outside it
        (PyTorch).

    Returns:
      An optax `GradientTransformation` with a [`lrjax.ScaleByAdagradState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_adagrad(initial_accumulator_value=0.0, eps=0.0)
      >>> state = tx.init(jnp.zeros(1))
      >>> d, state = tx.update(jnp.full(1, 3.0), state)
      >>> d, state = tx.update(jnp.full(1, 4.0), state)
      >>> print(f"{float(d[0]):.4f}")
      0.8000

    References:
      Duchi, Hazan & Singer, Adaptive subgradient methods for online learning and
      stochastic optimization, JMLR 2011, https://jmlr.org/papers/v12/duchi11a.html.
      optax `scale_by_rss`; Keras `Adagrad`; PyTorch `torch.optim.Adagrad`.
    """
    validate.nonnegative("initial_accumulator_value", initial_accumulator_value)
    validate.nonnegative("eps", eps)

    def init_fn(params):
        return ScaleByAdagradState(
            jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params)
        )

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.sum_of_squares)
        sums = jax.tree.map(lambda g, s: s + abs_sq(g), updates, state.sum_of_squares)

        def direction(g, s):
            if eps_in_sqrt:
                scale = jax.lax.rsqrt(s + scalar_like(eps, s))
            else:
                scale = 1 / (jnp.sqrt(s) + scalar_like(eps, s))
            # A coordinate whose gradients were all zero gets no update (optax's guard),
            # rather than 0/0 when eps is 0.
            return jnp.where(s > 0, scale * g, jnp.zeros_like(g))

        return jax.tree.map(direction, updates, sums), ScaleByAdagradState(sums)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


class ScaleByAdadeltaState(NamedTuple):
    """State of [`lrjax.scale_by_adadelta`][]: running means of g² and of the update²."""

    e_g: Any
    e_x: Any


def scale_by_adadelta(rho: float = 0.9, eps: float = 1e-6) -> GradientTransformation:
    r"""AdaDelta: the ratio of two running RMS values sets each coordinate's step.

    $$
    \begin{aligned}
    E[g^2]_n &= \rho E[g^2]_{n-1} + (1-\rho) g_n^2 \\
    d_n &= \frac{\sqrt{E[\Delta^2]_{n-1} + \epsilon}}{\sqrt{E[g^2]_n + \epsilon}}\, g_n
    \\
    E[\Delta^2]_n &= \rho E[\Delta^2]_{n-1} + (1-\rho) d_n^2
    \end{aligned}
    $$

    with both averages starting at zero. Zeiler's method has no learning rate
    ($\eta = 1$); [`lrjax.adadelta`][] applies one after the direction, as optax,
    Keras and PyTorch do, so $E[\Delta^2]$ tracks the direction, not
    $\eta d$.

    Args:
      rho: the decay $\rho \in [0, 1)$ of both running averages.
      eps: $\epsilon > 0$, inside both roots; it also sets the size of the first
        steps ($\sqrt{\epsilon}$ over the gradient's RMS).

    Returns:
      An optax `GradientTransformation` with a [`lrjax.ScaleByAdadeltaState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_adadelta(rho=0.9, eps=1e-6)
      >>> state = tx.init(jnp.zeros(1))
      >>> d, state = tx.update(jnp.ones(1), state)
      >>> print(f"{float(d[0]) / 1e-3:.4f}")
      3.1623

    References:
      Zeiler, ADADELTA: an adaptive learning rate method, 2012,
      https://arxiv.org/abs/1212.5701. optax `scale_by_adadelta`.
    """
    validate.decay_rate("rho", rho)
    validate.positive("eps", eps)

    def init_fn(params):
        # Two separate buffers: a state that holds one array twice cannot be donated.
        return ScaleByAdadeltaState(
            jax.tree.map(jnp.zeros_like, params), jax.tree.map(jnp.zeros_like, params)
        )

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.e_g)
        e_g = jax.tree.map(
            lambda g, t: scalar_like(1 - rho, t) * abs_sq(g) + scalar_like(rho, t) * t,
            updates, state.e_g,
        )
        out = jax.tree.map(
            lambda g, eg, ex: jnp.sqrt(ex + scalar_like(eps, ex))
            / jnp.sqrt(eg + scalar_like(eps, eg))
            * g,
            updates, e_g, state.e_x,
        )
        e_x = jax.tree.map(
            lambda d, t: scalar_like(1 - rho, t) * abs_sq(d) + scalar_like(rho, t) * t,
            out, state.e_x,
        )
        return out, ScaleByAdadeltaState(e_g, e_x)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


class ScaleByRmspropState(NamedTuple):
    """State of [`lrjax.scale_by_rmsprop`][].

    Attributes:
      count: number of updates so far (`int32`, saturating), for the bias correction
        or a scheduled momentum; `()` when neither (no leaf, no kernel).
      nu: running mean of the squared gradients.
      mu: running mean of the gradients (`centered`), else `None`.
      trace: momentum buffer (`momentum` given), else `None`.
    """

    count: jax.Array
    nu: Any
    mu: Any
    trace: Any


def _centered_variance(nu: jax.Array, mu: jax.Array) -> jax.Array:
    """ν − μ², clipped at 0; `inf` where the moments overflowed.

    Gradients near the top of the float range overflow both ν and μ² to inf, and
    inf − inf would be NaN; the variance of such gradients is (at least) huge, so the
    direction g/√r goes to 0 there, as it does in the uncentered form.
    """
    mu2 = abs_sq(mu)
    overflow = jnp.isinf(nu) | jnp.isinf(mu2)
    return jnp.where(overflow, jnp.asarray(jnp.inf, nu.dtype), jnp.maximum(nu - mu2, 0))


def scale_by_rmsprop(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: Optional[ScalarOrSchedule] = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    r"""RMSprop: divide by the root of a running mean of squared gradients.

    $$
    \begin{aligned}
    \nu_n &= \rho\,\nu_{n-1} + (1-\rho) g_n^2, \qquad \nu_{-1} = s_0 \\
    \mu_n &= \rho\,\mu_{n-1} + (1-\rho) g_n \quad (\texttt{centered}) \\
    r_n &= \nu_n - \mu_n^2 \;\; (\texttt{centered}), \quad r_n = \nu_n \;\; \text{else}
    \\
    q_n &= \frac{g_n}{\sqrt{r_n + \epsilon}} \;\; (\texttt{eps\_in\_sqrt}), \quad
    q_n = \frac{g_n}{\sqrt{r_n} + \epsilon} \;\; \text{else}
    \end{aligned}
    $$

    With `bias_correction` the means are divided by $1-\rho^{n+1}$ first. With
    `momentum` $\beta$ the direction is the buffer
    $t_n = \beta t_{n-1} + q_n$ (Nesterov: $q_n + \beta t_n$), and the
    learning rate chained after it multiplies the buffer: that is PyTorch's
    `RMSprop(momentum=β)`. optax and Keras put the learning rate *inside* the buffer
    instead; [`lrjax.rmsprop`][] does that by default (`lr_in_momentum=True`) by chaining
    [`lrjax.trace`][] after [`lrjax.scale_by_learning_rate`][]. The two agree for a constant
    learning rate.

    $r_n$ of the centered form is clipped at 0 before the root: it is a variance,
    non-negative in exact arithmetic, and rounding must not turn it into a NaN.

    Args:
      decay: $\rho \in [0, 1)$ (PyTorch calls it `alpha`, Keras `rho`).
      eps: $\epsilon \ge 0$.
      initial_scale: $s_0 \ge 0$, the initial $\nu$ (TF1 used 1).
      eps_in_sqrt: `eps` inside the root (optax, Keras) or outside (PyTorch).
      centered: divide by the running standard deviation instead of the RMS.
      momentum: $\beta \in [0, 1)$, a schedule of it, or `None`.
      nesterov: Nesterov form of the momentum.
      bias_correction: divide the running means by $1-\rho^{n+1}$.

    Returns:
      An optax `GradientTransformation` with a [`lrjax.ScaleByRmspropState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_rmsprop(decay=0.99, eps=0.0)
      >>> state = tx.init(jnp.zeros(1))
      >>> d, state = tx.update(jnp.full(1, 2.0), state)
      >>> print(f"{float(d[0]):.4f}")
      10.0000

    References:
      Hinton, Neural networks for machine learning, lecture 6e, 2012.
      Graves, Generating sequences with recurrent neural networks, 2013,
      https://arxiv.org/abs/1308.0850 (centered form). optax `scale_by_rms` and
      `scale_by_stddev`; PyTorch `torch.optim.RMSprop`; Keras `RMSprop`.
    """
    validate.decay_rate("decay", decay)
    validate.nonnegative("eps", eps)
    validate.nonnegative("initial_scale", initial_scale)
    if momentum is not None and not callable(momentum):
        validate.decay_rate("momentum", momentum)
    if nesterov and momentum is None:
        raise ValueError("nesterov=True needs a momentum, got momentum=None")
    counts = bool(bias_correction) or callable(momentum)

    def init_fn(params):
        nu = jax.tree.map(lambda p: jnp.full_like(p, initial_scale), params)
        mu = jax.tree.map(jnp.zeros_like, params) if centered else None
        tr = jax.tree.map(jnp.zeros_like, params) if momentum is not None else None
        return ScaleByRmspropState(initial_count(counts), nu, mu, tr)

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.nu)
        count = safe_increment(state.count)
        nu = jax.tree.map(
            lambda g, t: scalar_like(1 - decay, t) * abs_sq(g) + scalar_like(decay, t) * t,
            updates, state.nu,
        )
        nu_hat = nu
        bc = numerics.bias_correction(decay, count) if bias_correction else None
        if bias_correction:
            nu_hat = jax.tree.map(lambda t: t / bc.astype(t.dtype), nu)
        mu = None
        if centered:
            mu = jax.tree.map(
                lambda g, t: scalar_like(1 - decay, t) * g + scalar_like(decay, t) * t,
                updates, state.mu,
            )
            mu_hat = mu
            if bias_correction:
                mu_hat = jax.tree.map(lambda t: t / bc.astype(t.dtype), mu)
            r = jax.tree.map(_centered_variance, nu_hat, mu_hat)
        else:
            r = nu_hat

        def direction(g, r):
            if eps_in_sqrt:
                return jax.lax.rsqrt(r + scalar_like(eps, r)) * g
            return g / (jnp.sqrt(r) + scalar_like(eps, r))

        out = jax.tree.map(direction, updates, r)
        tr = None
        if momentum is not None:
            beta = value_at(momentum, state.count)
            tr = jax.tree.map(lambda q, t: q + scalar_like(beta, t) * t, out, state.trace)
            if nesterov:
                out = jax.tree.map(lambda q, t: q + scalar_like(beta, t) * t, out, tr)
            else:
                out = tr
        return out, ScaleByRmspropState(count, nu, mu, tr)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


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
