"""Float64 NumPy transcriptions of the authors' code that is not on PyPI.

Each class transcribes one ``torch.optim.Optimizer.step`` line by line, in the same
order of operations, for a list of float64 arrays (one parameter group):

* ``DoWG``: rka97/dowg@e4dbe02, ``dowg/dowg.py`` L17-55. The reference creates its
  scalars with ``torch.Tensor([...])`` (float32 under torch's default dtype, and the
  in-place ``+=`` keeps them float32 even for float64 parameters); this transcription
  keeps them in float64, as the reference does under ``torch.set_default_dtype(float64)``.
  ``lr`` (a factor of the step) and ``weight_decay`` (added to the gradient) are not in
  the reference: they follow optax.contrib's ``dowg``, and at 1 and 0 change nothing.
* ``Sps``: IssamLaradji/sps@6d112a1, ``sps/sps.py`` L7-110 (``fstar_flag`` off, so
  ``fstar = 0`` unless given; ``eta_max`` also caps the smooth mode when given, an
  lrjax extension that is not exercised at ``eta_max=None``).
* ``Momo``: fabian-sp/MoMo@7be52f2, ``momo/momo.py`` L12-194.
* ``MomoAdam``: fabian-sp/MoMo@7be52f2, ``momo/momo_adam.py`` L12-215.
"""

from __future__ import annotations

import numpy as np


class DoWG:
    """rka97/dowg@e4dbe02 dowg/dowg.py L17-55."""

    def __init__(self, params, eps=1e-4, weight_decay=0.0):
        self.eps, self.wd = eps, weight_decay
        self.rt2 = np.float64(eps)  # L31
        self.vt = np.float64(0.0)  # L33
        self.x0 = None

    def step(self, params, grads, lr=1.0):
        if self.wd:
            grads = [g + self.wd * p for g, p in zip(grads, params)]
        if self.x0 is None:  # L40-41
            self.x0 = [p.copy() for p in params]
        grad_sq_norm = np.float64(0.0) + np.sum([np.sum(g**2) for g in grads])  # L43
        curr_d2 = np.float64(0.0) + np.sum(
            [np.sum((p - p0) ** 2) for p, p0 in zip(params, self.x0)]
        )  # L44
        self.rt2 = max(self.rt2, curr_d2)  # L46
        self.vt = self.vt + self.rt2 * grad_sq_norm  # L47
        for i, g in enumerate(grads):  # L50-54
            gt_hat = (lr * self.rt2) * g
            denom = np.sqrt(self.vt) + self.eps
            params[i] = params[i] - gt_hat / denom


class Sps:
    """IssamLaradji/sps@6d112a1 sps/sps.py L7-110."""

    def __init__(
        self,
        n_batches_per_epoch=500,
        init_step_size=1.0,
        c=0.5,
        gamma=2.0,
        eta_max=None,
        adapt_flag="smooth_iter",
        fstar=0.0,
        eps=1e-8,
    ):
        self.n, self.c, self.gamma, self.eta_max = n_batches_per_epoch, c, gamma, eta_max
        self.adapt_flag, self.fstar, self.eps = adapt_flag, fstar, eps
        self.step_size = init_step_size  # L37

    def step(self, params, grads, loss, eta_max=None):
        eta_max = self.eta_max if eta_max is None else eta_max
        grad_norm = 0.0
        for g in grads:  # compute_grad_norm, L114-126
            grad_norm = grad_norm + np.sum(g * g)
        grad_norm = np.sqrt(grad_norm)
        if grad_norm < 1e-8:  # L72-73
            step_size = 0.0
        else:
            if self.adapt_flag == "constant":  # L76-86
                step_size = (loss - self.fstar) / (self.c * grad_norm**2 + self.eps)
                if loss < self.fstar:
                    step_size = 0.0
                elif eta_max is not None:
                    step_size = min(eta_max, step_size)
            else:  # 'smooth_iter', L88-93
                step_size = loss / (self.c * grad_norm**2 + self.eps)
                coeff = self.gamma ** (1.0 / self.n)
                step_size = min(coeff * self.step_size, step_size)
                if eta_max is not None:
                    step_size = min(eta_max, step_size)
            for i, g in enumerate(grads):  # sgd_update, L147-151
                params[i] = params[i] + (-step_size) * g
        self.step_size = step_size  # L104


class Momo:
    """fabian-sp/MoMo@7be52f2 momo/momo.py L12-194."""

    def __init__(
        self,
        lr=1.0,
        weight_decay=0.0,
        beta=0.9,
        lb=0.0,
        bias_correction=False,
        use_fstar=False,
    ):
        self.lr, self.wd, self.beta, self.lb, self._initial_lb = (
            lr,
            weight_decay,
            beta,
            lb,
            lb,
        )
        self.bias_correction, self.use_fstar = bias_correction, use_fstar
        self.k = 0

    def step(self, params, grads, loss, lr=None):
        lr = self.lr if lr is None else lr
        self.k += 1
        beta = self.beta
        if self.k == 1:  # L102-106
            self.loss_avg = 0.0 if self.bias_correction else loss
        self.loss_avg = beta * self.loss_avg + (1 - beta) * loss  # L108
        rho = 1 - beta**self.k if self.bias_correction else 1  # L110-113
        _dot = _gamma = _norm = 0.0
        if self.k == 1:  # L129-137
            if self.bias_correction:
                self.grad_avg = [np.zeros_like(p) for p in params]
                self.grad_dot_w = [0.0 for _ in params]
            else:
                self.grad_avg = [g.copy() for g in grads]
                self.grad_dot_w = [np.sum(p * g) for p, g in zip(params, grads)]
        for i, (p, g) in enumerate(zip(params, grads)):  # L139-146
            self.grad_avg[i] = self.grad_avg[i] * beta + (1 - beta) * g
            self.grad_dot_w[i] = self.grad_dot_w[i] * beta + (1 - beta) * np.sum(p * g)
            _dot += np.sum(p * self.grad_avg[i])
            _gamma += self.grad_dot_w[i]
            _norm += np.sum(self.grad_avg[i] * self.grad_avg[i])
        lmbda = self.wd
        if self.use_fstar:  # L154-159
            cap = (1 + lr * lmbda) * self.loss_avg + _dot - (1 + lr * lmbda) * _gamma
            if cap < (1 + lr * lmbda) * rho * self.lb:
                self.lb = cap / (2 * (1 + lr * lmbda) * rho)
                self.lb = max(self.lb, self._initial_lb)
        if lmbda > 0:  # L162-166
            nom = (
                (1 + lr * lmbda) * (self.loss_avg - rho * self.lb)
                + _dot
                - (1 + lr * lmbda) * _gamma
            )
            t1 = max(nom, 0.0) / _norm
        else:
            t1 = max(self.loss_avg - rho * self.lb + _dot - _gamma, 0.0) / _norm
        tau = min(lr / rho, t1)  # L170
        if self.use_fstar:  # L173-176
            h = self.loss_avg + _dot - _gamma
            self.lb = (h - (1 / 2) * tau * _norm) / rho
            self.lb = max(self.lb, self._initial_lb)
        for i in range(len(params)):  # L179-185
            params[i] = params[i] + (-tau) * self.grad_avg[i]
            if lmbda > 0:
                params[i] = params[i] / (1 + lr * lmbda)
        self.tau = tau


class MomoAdam:
    """fabian-sp/MoMo@7be52f2 momo/momo_adam.py L12-215."""

    def __init__(
        self,
        lr=1e-2,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        lb=0.0,
        divide=True,
        use_fstar=False,
    ):
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.lb, self._initial_lb, self.divide, self.use_fstar = lb, lb, divide, use_fstar
        self.k = 0
        self.loss_avg = 0.0

    def step(self, params, grads, loss, lr=None):
        lr = self.lr if lr is None else lr
        b1, b2, eps = self.b1, self.b2, self.eps
        _dot = _gamma = _grad_norm = 0.0
        self.k += 1
        if self.k == 1:  # L124-131
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
            self.gdw = [0.0 for _ in params]
        for i, (p, g) in enumerate(zip(params, grads)):  # L138-148
            self.m[i] = self.m[i] * b1 + (1 - b1) * g
            self.v[i] = self.v[i] * b2 + (1 - b2) * (g * g)
            self.gdw[i] = self.gdw[i] * b1 + (1 - b1) * np.sum(p * g)
            bc2 = 1 - b2**self.k
            Dk = np.sqrt(self.v[i] / bc2) + eps
            _dot += np.sum(p * self.m[i])
            _gamma += self.gdw[i]
            _grad_norm += np.sum(self.m[i] * (self.m[i] / Dk))
        self.loss_avg = (1 - b1) * loss + b1 * self.loss_avg  # L152
        lmbda = self.wd
        bc1 = 1 - b1**self.k
        bc2 = 1 - b2**self.k
        if self.use_fstar:  # L168-173
            cap = (1 + lr * lmbda) * self.loss_avg + _dot - (1 + lr * lmbda) * _gamma
            if cap < (1 + lr * lmbda) * bc1 * self.lb:
                self.lb = cap / (2 * (1 + lr * lmbda) * bc1)
                self.lb = max(self.lb, self._initial_lb)
        nom = (
            (1 + lr * lmbda) * (self.loss_avg - bc1 * self.lb)
            + _dot
            - (1 + lr * lmbda) * _gamma
        )  # L175
        t1 = max(nom, 0.0) / _grad_norm  # L177
        tau = min(lr / bc1, t1)  # L178
        if self.use_fstar:  # L181-184
            h = self.loss_avg + _dot - _gamma
            self.lb = (h - (1 / 2) * tau * _grad_norm) / bc1
            self.lb = max(self.lb, self._initial_lb)
        for i in range(len(params)):  # L187-205
            Dk = np.sqrt(self.v[i] / bc2) + eps
            if lmbda > 0 and not self.divide:
                params[i] = params[i] * (1 - lmbda * lr)
            params[i] = params[i] + (-tau) * (self.m[i] / Dk)
            if lmbda > 0 and self.divide:
                params[i] = params[i] / (1 + lmbda * lr)
        self.tau = tau


# --- the fixed problem and the drivers shared by the parity tests

SHAPES = ((4, 3), (3,), (2, 5))


def problem(seed: int = 0, dtype=np.float64):
    """A least-squares loss over three tensors of shapes 4x3, 3 and 2x5, evaluated in
    ``dtype`` arithmetic: returns the start and ``loss_grad(xs) -> (f, [g...])``."""
    rng = np.random.default_rng(seed)
    n = sum(int(np.prod(s)) for s in SHAPES)
    M = rng.normal(size=(40, n)).astype(dtype)
    y = rng.normal(size=40).astype(dtype)
    x0 = [rng.normal(size=s).astype(dtype) for s in SHAPES]

    def loss_grad(xs):
        z = np.concatenate([np.asarray(x, dtype).ravel() for x in xs])
        r = M @ z - y
        f = dtype(0.5) * (r @ r) / dtype(40)
        gz = M.T @ r / dtype(40)
        out, i = [], 0
        for s in SHAPES:
            k = int(np.prod(s))
            out.append(gz[i : i + k].reshape(s))
            i += k
        return f, out

    return x0, loss_grad


def warmup(base: float, steps: int = 10):
    """``base * min(1, n / steps)``: a linear warm-up that starts at 0 (a schedule for
    lrjax; the references call it with a Python int and take ``float``)."""
    import jax.numpy as jnp

    return lambda n: base * jnp.minimum(1.0, jnp.asarray(n, float) / steps)


def relative_distance(a, b) -> float:
    """The largest, over the trajectory, of |a_n - b_n| / |b_n| (all tensors at once)."""
    worst = 0.0
    for xs, ys in zip(a, b):
        d = np.sqrt(
            sum(
                np.sum((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2)
                for x, y in zip(xs, ys)
            )
        )
        n = np.sqrt(sum(np.sum(np.asarray(y, np.float64) ** 2) for y in ys))
        worst = max(worst, d / n)
    return float(worst)


def run_numpy(ref, x0, loss_grad, steps=100, lrs=None, loss=False):
    """Drive a transcription: ``ref.step(params, grads[, loss][, lr])``."""
    xs = [x.copy() for x in x0]
    traj = []
    for n in range(steps):
        f, g = loss_grad(xs)
        args = (xs, g, f) if loss else (xs, g)
        kw = {} if lrs is None else {"lr": float(lrs(n))}
        ref.step(*args, **kw)
        traj.append([x.copy() for x in xs])
    return traj


def run_torch(make, x0, loss_grad, steps=100, lrs=None):
    """Drive a torch optimizer ``make(params)``, setting ``group['lr']`` from ``lrs``."""
    import torch

    ps = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in x0]
    opt = make(ps)
    traj = []
    for n in range(steps):
        _, g = loss_grad([p.detach().numpy() for p in ps])
        for p, gi in zip(ps, g):
            p.grad = torch.from_numpy(np.array(gi))
        if lrs is not None:
            for group in opt.param_groups:
                group["lr"] = float(lrs(n))
        opt.step()
        traj.append([p.detach().numpy().copy() for p in ps])
    return traj


def run_jax(opt, x0, loss_grad, steps=100, loss=False, jit=True):
    """Drive an optax transform from NumPy gradients; returns the trajectory and state."""
    import jax
    import jax.numpy as jnp
    import optax

    xs = [jnp.asarray(x) for x in x0]
    state = opt.init(xs)
    update = jax.jit(opt.update) if jit else opt.update
    traj = []
    for _ in range(steps):
        f, g = loss_grad([np.asarray(x) for x in xs])
        g = [jnp.asarray(gi, x.dtype) for gi, x in zip(g, xs)]
        kw = {"value": jnp.asarray(f, xs[0].dtype)} if loss else {}
        u, state = update(g, state, xs, **kw)
        xs = optax.apply_updates(xs, u)
        traj.append([np.asarray(x) for x in xs])
    return traj, state
