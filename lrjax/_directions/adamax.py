"""AdaMax: Adam with the infinity norm, a running maximum of $|g|$.

`scale_by_adamax` is the direction; `adamax` chains it with
[`lrjax.scale_by_learning_rate`][]. Moments keep the parameters' dtype (the first moment
may use `mu_dtype`); bias corrections are computed in float32 or wider and cast, because
`1 - 0.999**n` rounds to 0 in bfloat16. The moment arithmetic shared with Adam lives in
`adam.py`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._learning_rate.scale import scale_by_learning_rate
from .._shared.base import GradientTransformation, ScalarOrSchedule, chain
from .._shared.numerics import bias_correction, safe_increment, scalar_like
from .._shared.tree import canonical_inputs, check_like
from .adam import ScaleByAdamState, check_betas, divide


def scale_by_adamax(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    eps_in_max: bool = True,
) -> GradientTransformation:
    r"""AdaMax: Adam with the infinity norm in place of the second moment.

    $$
    m_n = \beta_1 m_{n-1} + (1-\beta_1) g_n, \qquad
    u_n = \max(\beta_2 u_{n-1},\, |g_n| + \epsilon), \qquad
    d_n = \frac{m_n}{(1-\beta_1^{n+1})\, u_n}
    $$

    with `eps_in_max` (optax, PyTorch); otherwise
    $u_n = \max(\beta_2 u_{n-1}, |g_n|)$ and
    $d_n = m_n / ((1-\beta_1^{n+1})(u_n + \epsilon))$ (Keras).

    Args:
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$, the decay of the running maximum.
      eps: $\epsilon \ge 0$.
      eps_in_max: where `eps` enters, see above.

    Returns:
      An optax `GradientTransformation` with a [`lrjax.ScaleByAdamState`][].

    Examples:
      >>> import jax.numpy as jnp, lrjax
      >>> tx = lrjax.scale_by_adamax(eps=0.0)
      >>> state = tx.init(jnp.zeros(1))
      >>> d, state = tx.update(jnp.full(1, -4.0), state)
      >>> print(f"{float(d[0]):.4f}")
      -1.0000

    References:
      Kingma & Ba, Adam: a method for stochastic optimization, 2015, §7.1,
      https://arxiv.org/abs/1412.6980. optax `scale_by_adamax`; PyTorch
      `torch.optim.Adamax`; Keras `Adamax`.
    """
    check_betas(b1, b2, eps)

    def init_fn(params):
        # Two separate buffers: a state that holds one array twice cannot be donated.
        mu = jax.tree.map(jnp.zeros_like, params)
        nu = jax.tree.map(jnp.zeros_like, params)
        return ScaleByAdamState(jnp.zeros([], jnp.int32), mu, nu)

    def update_fn(updates, state, params=None):
        del params
        check_like(updates, state.nu)
        count = safe_increment(state.count)
        mu = jax.tree.map(
            lambda g, m: (
                scalar_like(1 - b1, m) * g.astype(m.dtype) + scalar_like(b1, m) * m
            ),
            updates,
            state.mu,
        )
        if eps_in_max:
            nu = jax.tree.map(
                lambda g, u: jnp.maximum(
                    jnp.abs(g).astype(u.dtype) + scalar_like(eps, u), scalar_like(b2, u) * u
                ),
                updates,
                state.nu,
            )
            denom = nu
        else:
            nu = jax.tree.map(
                lambda g, u: jnp.maximum(
                    scalar_like(b2, u) * u, jnp.abs(g).astype(u.dtype)
                ),
                updates,
                state.nu,
            )
            denom = jax.tree.map(lambda u: u + scalar_like(eps, u), nu)
        bc1 = bias_correction(b1, count)
        out = jax.tree.map(
            lambda g, m, u: (divide(m, bc1) / u).astype(g.dtype), updates, mu, denom
        )
        return out, ScaleByAdamState(count, mu, nu)

    return GradientTransformation(*canonical_inputs(init_fn, update_fn))


def adamax(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    eps_in_max: bool = True,
) -> GradientTransformation:
    r"""AdaMax: $\theta_{n+1} = \theta_n - \eta(n)\,\hat m_n / u_n$.

    See [`lrjax.scale_by_adamax`][]; Keras `Adamax` is `adamax(lr, eps=1e-7,
    eps_in_max=False)`.

    Args:
      learning_rate: a non-negative number or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$.
      eps_in_max: `eps` inside the maximum (optax, PyTorch) or added after (Keras).

    Returns:
      An optax `GradientTransformation`.

    Examples:
      >>> import jax, jax.numpy as jnp, lrjax
      >>> f = lambda x: jnp.sum(x ** 2)
      >>> opt = lrjax.adamax(0.1)
      >>> x = jnp.asarray([1.0, 2.0, 3.0]); state = opt.init(x)
      >>> for _ in range(100):
      ...     u, state = opt.update(jax.grad(f)(x), state)
      ...     x = lrjax.apply_updates(x, u)
      >>> print(f"{float(f(x)) < 0.1}")
      True

    References:
      Kingma & Ba, Adam: a method for stochastic optimization, 2015, §7.1,
      https://arxiv.org/abs/1412.6980. optax `adamax`.
    """
    return chain(
        scale_by_adamax(b1, b2, eps, eps_in_max=eps_in_max),
        scale_by_learning_rate(learning_rate),
    )
