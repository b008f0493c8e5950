"""Cycled momentum: lrjax schedules for the momentum against PyTorch's schedulers.

PyTorch's ``OneCycleLR`` and ``CyclicLR`` write both ``lr`` and ``momentum`` (``betas[0]``
for Adam) into the optimizer's param group at every ``scheduler.step()``; lrjax expresses
the same thing as two schedules, one for the learning rate and one for ``trace``'s decay
(or Adam's ``b1``). PyTorch runs in float64 as the reference and lrjax in float32 (x64 off,
what users run), on the same least-squares problem for 200 steps; the whole trajectory
must agree to float32 accuracy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lrjax

torch = pytest.importorskip("torch")

STEPS = 200

# lrjax computes in float32 (eps 1.2e-7), PyTorch in float64: each step rounds the
# gradient, the buffer and the iterate once in float32, and on this well-conditioned
# problem (Hessian eigenvalues in [0.53, 1.64], lr <= 0.5) the iteration does not
# amplify them beyond the momentum's 1/(1 - 0.9) = 10 memory. Measured over the 200
# iterates: max |difference| 2.8e-7 (|w| ~ 1). rtol 3e-6 with atol 3e-6 leaves ~10x
# margin, while a real difference (a step's lr or momentum off by one, a wrong bias
# correction) shows up at 1e-3 or more.
RTOL, ATOL = 3e-6, 3e-6
# The schedules in float32: at most 12 float32 ulps (12 * 2**-24 = 7.2e-7) of relative
# error, the bound tests/test_schedules.py proves; atol for the values that PyTorch
# computes through the cancellation of a cosine near -1 (2e-7 at the end of one-cycle).
S_RTOL, S_ATOL = 1e-6, 1e-12


def _problem(seed=0, n=64, d=6):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, d))
    b = rng.normal(size=n)
    w0 = rng.normal(size=d)
    return a, b, w0


def _torch_run(make_opt, make_sched, seed=0):
    """PyTorch: step(), then scheduler.step(); record w and the hyperparameters used."""
    a, b, w0 = _problem(seed)
    at, bt = torch.tensor(a), torch.tensor(b)
    w = torch.tensor(w0, requires_grad=True)
    opt = make_opt([w])
    sched = make_sched(opt)
    ws, lrs, moms = [], [], []
    for _ in range(STEPS):
        group = opt.param_groups[0]
        lrs.append(group["lr"])
        moms.append(group["momentum"] if "momentum" in group else group["betas"][0])
        opt.zero_grad()
        loss = 0.5 * torch.mean((at @ w - bt) ** 2)
        loss.backward()
        opt.step()
        sched.step()
        ws.append(w.detach().numpy().copy())
    return np.array(ws), np.array(lrs), np.array(moms)


def _lrjax_run(opt, seed=0):
    a, b, w0 = _problem(seed)
    a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)

    def loss(w):
        return 0.5 * jnp.mean((a @ w - b) ** 2)

    def step(carry, _):
        w, state = carry
        u, state = opt.update(jax.grad(loss)(w), state, w)
        w = lrjax.apply_updates(w, u)
        return (w, state), w

    w = jnp.asarray(w0, jnp.float32)
    _, ws = jax.lax.scan(step, (w, opt.init(w)), None, length=STEPS)
    return np.asarray(ws, np.float64)


def _values(schedule):
    return np.asarray(jax.vmap(schedule)(jnp.arange(STEPS, dtype=jnp.int32)), np.float64)


@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_sgd_one_cycle_with_momentum_matches_pytorch(anneal, three_phase):
    kw = dict(pct_start=0.3, anneal=anneal, three_phase=three_phase)
    ws, lrs, moms = _torch_run(
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o,
            max_lr=0.5,
            total_steps=STEPS,
            pct_start=0.3,
            anneal_strategy=anneal,
            three_phase=three_phase,
            cycle_momentum=True,
        ),
    )
    lr = lrjax.one_cycle(0.5, total_steps=STEPS, **kw)
    mom = lrjax.one_cycle_momentum(STEPS, **kw)
    # The schedules themselves, step by step: PyTorch's 0.95 -> 0.85 -> 0.95.
    np.testing.assert_allclose(_values(lr), lrs, rtol=S_RTOL, atol=S_ATOL)
    np.testing.assert_allclose(_values(mom), moms, rtol=S_RTOL, atol=S_ATOL)
    assert moms[0] == 0.95 and min(moms) == pytest.approx(0.85)
    ours = _lrjax_run(lrjax.sgd(lr, momentum=mom))
    np.testing.assert_allclose(ours, ws, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    "mode, gamma", [("triangular", 1.0), ("triangular2", 1.0), ("exp_range", 0.995)]
)
def test_sgd_cyclic_with_inverse_momentum_matches_pytorch(mode, gamma):
    up, down = 30, 20
    ws, lrs, moms = _torch_run(
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        lambda o: torch.optim.lr_scheduler.CyclicLR(
            o,
            base_lr=0.01,
            max_lr=0.4,
            step_size_up=up,
            step_size_down=down,
            mode=mode,
            gamma=gamma,
            cycle_momentum=True,
            base_momentum=0.8,
            max_momentum=0.9,
        ),
    )
    lr = lrjax.cyclic(
        0.01, max_value=0.4, step_size_up=up, step_size_down=down, mode=mode, gamma=gamma
    )
    mom = lrjax.cyclic_momentum(
        up, step_size_down=down, mode=mode, gamma=gamma, base_momentum=0.8, max_momentum=0.9
    )
    np.testing.assert_allclose(_values(lr), lrs, rtol=S_RTOL, atol=S_ATOL)
    np.testing.assert_allclose(_values(mom), moms, rtol=S_RTOL, atol=S_ATOL)
    # Inverse cycle: the momentum is lowest where the rate peaks.
    assert np.argmin(moms[: up + down]) == np.argmax(lrs[: up + down]) == up
    ours = _lrjax_run(lrjax.sgd(lr, momentum=mom))
    np.testing.assert_allclose(ours, ws, rtol=RTOL, atol=ATOL)


def _adam_with_schedule_b1(lr, b1):
    """``lrjax.adam`` with a schedule for ``b1``, or skip if it does not take one."""
    try:
        opt = lrjax.adam(lr, b1=b1)
        opt.init(jnp.zeros(1))
    except (TypeError, ValueError) as err:
        pytest.skip(f"lrjax.scale_by_adam does not accept a schedule for b1: {err}")
    return opt


def test_adam_one_cycle_cycles_b1_as_pytorch():
    # OneCycleLR(cycle_momentum=True) on Adam writes betas[0]; torch.optim.Adam then
    # uses the *current* beta1 both in m = b1 m + (1 - b1) g and in the bias correction
    # 1 - b1**t.
    ws, lrs, b1s = _torch_run(
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.999)),
        lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o, max_lr=0.05, total_steps=STEPS, cycle_momentum=True
        ),
    )
    lr = lrjax.one_cycle(0.05, total_steps=STEPS)
    b1 = lrjax.one_cycle_momentum(STEPS)
    np.testing.assert_allclose(_values(b1), b1s, rtol=S_RTOL, atol=S_ATOL)
    # The rate anneals to 2e-7 through a cancellation (a cos near -1): atol, not rtol.
    np.testing.assert_allclose(_values(lr), lrs, rtol=S_RTOL, atol=S_ATOL)
    # The semantics lrjax must reproduce, pinned by a float64 NumPy transcription.
    a, b, w = _problem()
    m, v, ref = np.zeros_like(w), np.zeros_like(w), []
    for k in range(STEPS):
        g = a.T @ (a @ w - b) / len(b)
        m = b1s[k] * m + (1 - b1s[k]) * g
        v = 0.999 * v + 0.001 * g * g
        m_hat, v_hat = m / (1 - b1s[k] ** (k + 1)), v / (1 - 0.999 ** (k + 1))
        w = w - lrs[k] * m_hat / (np.sqrt(v_hat) + 1e-8)
        ref.append(w)
    np.testing.assert_allclose(np.array(ref), ws, rtol=RTOL, atol=ATOL)
    ours = _lrjax_run(_adam_with_schedule_b1(lr, b1))
    np.testing.assert_allclose(ours, ws, rtol=RTOL, atol=ATOL)
