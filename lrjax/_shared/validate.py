"""Hyperparameter checks run when a schedule or transform is built.

Every check raises a `ValueError` (or `TypeError` for a wrong kind of value) whose
message names the argument and the value, so a mistyped hyperparameter is caught before
the first step rather than after a night of NaNs.

Values that are JAX tracers are not checked: `optax.inject_hyperparams` calls an
optimizer factory inside `jit` with traced hyperparameters, and those were checked
when the user built the optimizer.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np


def is_traced(value: Any) -> bool:
    """Whether `value` is an abstract JAX value that cannot be inspected in Python."""
    return isinstance(value, jax.core.Tracer)


def _as_float(name: str, value: Any) -> float | None:
    """`value` as a Python float, `None` if traced; `TypeError` if not a number."""
    if is_traced(value):
        return None
    if isinstance(value, bool) or value is None:
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if isinstance(value, numbers.Real):
        return float(value)
    try:
        arr = np.asarray(value)
    except Exception as err:  # noqa: BLE001 - any failure means "not a number"
        raise TypeError(f"{name} must be a real number, got {value!r}") from err
    if arr.shape != () or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise TypeError(f"{name} must be a real scalar, got {value!r}")
    return float(arr)


def real(name: str, value: Any) -> float | None:
    """Check that `value` is a finite real number."""
    x = _as_float(name, value)
    if x is not None and not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return x


def nonnegative(name: str, value: Any) -> float | None:
    """Check `0 <= value < inf`."""
    x = real(name, value)
    if x is not None and x < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return x


def positive(name: str, value: Any) -> float | None:
    """Check `0 < value < inf`."""
    x = real(name, value)
    if x is not None and x <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return x


def in_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float | None:
    """Check that `value` lies in the interval from `low` to `high`.

    `low_open` and `high_open` exclude the end points, so the default checks the
    closed interval `[low, high]`.
    """
    x = real(name, value)
    if x is None:
        return None
    too_low = x <= low if low_open else x < low
    too_high = x >= high if high_open else x > high
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}, got {value!r}")
    return x


def decay_rate(name: str, value: Any) -> float | None:
    """Check a moment decay or beta: `0 <= value < 1`."""
    return in_range(name, value, 0.0, 1.0, high_open=True)


def positive_int(name: str, value: Any) -> int:
    """Check that `value` is an integer `>= 1` (a period or a number of steps)."""
    return _integer(name, value, minimum=1)


def nonnegative_int(name: str, value: Any) -> int:
    """Check that `value` is an integer `>= 0`."""
    return _integer(name, value, minimum=0)


def _integer(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or is_traced(value):
        raise TypeError(f"{name} must be a Python integer, got {value!r}")
    if isinstance(value, numbers.Integral):
        n = int(value)
    elif isinstance(value, numbers.Real) and float(value).is_integer():
        # 1000.0 is a common way of writing a step count; accept it but not 10.5.
        n = int(value)
    else:
        try:
            arr = np.asarray(value)
        except Exception as err:  # noqa: BLE001
            raise TypeError(f"{name} must be an integer, got {value!r}") from err
        if arr.shape != () or not np.issubdtype(arr.dtype, np.integer):
            if arr.shape == () and np.issubdtype(arr.dtype, np.floating):
                if math.isfinite(float(arr)) and float(arr).is_integer():
                    return _integer(name, int(arr), minimum=minimum)
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            raise TypeError(f"{name} must be an integer, got {value!r}")
        n = int(arr)
    if n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return n


def boolean(name: str, value: Any) -> bool:
    """Check a flag: `True` or `False` (NumPy booleans too), not a truthy value."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def choice(name: str, value: Any, options: Sequence[str]) -> str:
    """Check that `value` is one of the strings in `options`."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {list(options)}, got {value!r}")
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


def learning_rate(name: str, value: Any) -> None:
    """Check a learning rate: a callable schedule, or a finite number `>= 0`."""
    if callable(value):
        return
    nonnegative(name, value)


def increasing_ints(name: str, values: Any, *, strict: bool = True) -> list[int]:
    """Check a sequence of integer step boundaries that never decreases.

    With `strict` the sequence must increase at every entry.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        if hasattr(values, "__iter__"):
            values = list(values)
        else:
            raise TypeError(f"{name} must be a sequence of integers, got {values!r}")
    out = [nonnegative_int(f"{name}[{i}]", v) for i, v in enumerate(values)]
    for i in range(1, len(out)):
        bad = out[i] <= out[i - 1] if strict else out[i] < out[i - 1]
        if bad:
            order = "strictly increasing" if strict else "non-decreasing"
            raise ValueError(f"{name} must be {order}, got {list(values)!r}")
    return out


def real_sequence(
    name: str, values: Any, check: Callable[[str, Any], Any] = real
) -> list[float]:
    """Check a sequence of numbers element-wise with `check`."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a sequence of numbers, got {values!r}")
    return [check(f"{name}[{i}]", v) for i, v in enumerate(values)]


def transform(name: str, value: Any) -> None:
    """Check that `value` is an optax `GradientTransformation` (has init and update)."""
    if not (
        callable(getattr(value, "init", None)) and callable(getattr(value, "update", None))
    ):
        raise TypeError(f"{name} must be an optax GradientTransformation, got {value!r}")


def callable_(name: str, value: Any) -> None:
    """Check that `value` is callable."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {value!r}")
