"""Schedule hyperparameters after the first are keyword-only where a positional call in
optax's, Keras's or PyTorch's argument order would mean something else."""

from __future__ import annotations

import numpy as np
import pytest

import lrjax

# Each call is what a user of the other library would type, with that library's
# positional order; lrjax must refuse it rather than read it in its own order.
POSITIONAL_MISUSE = {
    # optax exponential_decay(init_value, transition_steps, decay_rate); Keras
    # ExponentialDecay(lr, decay_steps, decay_rate); PyTorch ExponentialLR(opt, gamma).
    "exponential_decay, PyTorch gamma": lambda: lrjax.exponential_decay(1e-3, 0.99),
    "exponential_decay, optax order": lambda: lrjax.exponential_decay(1e-3, 1000, 0.5),
    # optax polynomial_schedule(init_value, end_value, power, transition_steps).
    "polynomial_decay, optax order": lambda: lrjax.polynomial_decay(1e-3, 0.0, 2, 1000),
    # Keras PolynomialDecay(lr, decay_steps, end_learning_rate, power).
    "polynomial_decay, Keras order": lambda: lrjax.polynomial_decay(1e-3, 1000, 0.0),
    # PyTorch StepLR(opt, step_size, gamma).
    "step_decay, PyTorch order": lambda: lrjax.step_decay(0.1, 30, 0.1),
    # Keras InverseTimeDecay(lr, decay_steps, decay_rate).
    "inverse_time_decay, Keras order": lambda: lrjax.inverse_time_decay(0.1, 100, 0.5),
    # PyTorch CosineAnnealingWarmRestarts(opt, T_0, T_mult, eta_min).
    "cosine_restarts, PyTorch order": lambda: lrjax.cosine_restarts(0.1, 10, 2, 1e-4),
    # PyTorch CosineAnnealingLR(opt, T_max, eta_min): eta_min is absolute, alpha relative.
    "cosine_decay, PyTorch eta_min": lambda: lrjax.cosine_decay(0.1, 100, 1e-4),
    # PyTorch CyclicLR(opt, base_lr, max_lr, step_size_up, step_size_down, mode).
    "cyclic, PyTorch order": lambda: lrjax.cyclic(1e-3, 1e-2, 2000),
    # PyTorch OneCycleLR(opt, max_lr, total_steps, epochs, steps_per_epoch, pct_start).
    "one_cycle, PyTorch epochs": lambda: lrjax.one_cycle(0.1, 1000, 10),
    # optax cosine_onecycle_schedule(transition_steps, peak_value, pct_start).
    "one_cycle, optax order": lambda: lrjax.one_cycle(1000, 0.1),
    # optax linear_schedule(init_value, end_value, transition_steps, transition_begin);
    # PyTorch LinearLR(opt, start_factor, end_factor, total_iters) takes factors.
    "linear_schedule, PyTorch factors": lambda: lrjax.linear_schedule(1.0 / 3, 1.0, 5),
    # A warm-up in optax's warmup_*_schedule order (init_value, peak_value, steps).
    "warmup, positional": lambda: lrjax.warmup(lrjax.constant(0.1), 100),
    "cyclic_momentum, positional": lambda: lrjax.cyclic_momentum(10, 20),
    "one_cycle_momentum, positional": lambda: lrjax.one_cycle_momentum(100, 0.25),
}


@pytest.mark.parametrize("name", sorted(POSITIONAL_MISUSE))
def test_a_positional_call_in_another_library_order_is_a_type_error(name):
    with pytest.raises(TypeError, match="positional argument"):
        POSITIONAL_MISUSE[name]()


def test_the_keyword_calls_give_the_intended_schedules():
    """The calls above, spelled with keywords, mean what their authors meant."""
    s = lrjax.exponential_decay(1e-3, decay=-np.log(0.99))
    np.testing.assert_allclose(float(s(10)), 1e-3 * 0.99**10, rtol=1e-5)
    s = lrjax.polynomial_decay(1e-3, end_value=0.0, decay_steps=1000, power=2)
    np.testing.assert_allclose(float(s(1)), 1e-3 * (1 - 1 / 1000) ** 2, rtol=1e-5)
    s = lrjax.step_decay(0.1, drop=0.1, drop_every=30)
    np.testing.assert_allclose([float(s(28)), float(s(29))], [0.1, 0.01], rtol=1e-5)
    s = lrjax.cosine_decay(0.1, 100, alpha=1e-3)
    np.testing.assert_allclose(float(s(100)), 1e-4, rtol=1e-5)


def test_the_first_argument_stays_positional():
    for s in (
        lrjax.exponential_decay(0.1, decay=0.01),
        lrjax.step_decay(0.1, drop=0.5, drop_every=10),
        lrjax.inverse_time_decay(0.1, decay_rate=0.5),
        lrjax.polynomial_decay(0.1, end_value=0.0, decay_steps=10),
        lrjax.linear_schedule(0.1, end_value=0.0, transition_steps=10),
        lrjax.cosine_decay(0.1, 10),
        lrjax.cosine_restarts(0.1, first_decay_steps=10),
        lrjax.cyclic(0.01, max_value=0.1, step_size_up=10),
        lrjax.one_cycle(0.1, total_steps=100),
        lrjax.warmup(lrjax.constant(0.1), warmup_steps=5),
    ):
        assert np.isfinite(float(s(3)))
