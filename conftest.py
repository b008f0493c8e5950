"""Test-wide settings: strict dtype promotion, JAX's default float32 mode, warnings as errors.

Warnings become errors through ``filterwarnings = ["error"]`` in pyproject.toml.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402

# Strict promotion turns an accidental float32 + float64 mix into an error instead of a
# silent upcast. The suite runs in JAX's default mode, x64 off, which is what users run;
# references are NumPy float64, and a test that needs float64 in JAX opts in with
# ``@pytest.mark.x64``.
jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    import jax.numpy as jnp

    import lrjax

    doctest_namespace["jnp"] = jnp
    doctest_namespace["lrjax"] = lrjax
    doctest_namespace["jax"] = jax


@pytest.fixture(autouse=True)
def _x64_marker(request):
    """``@pytest.mark.x64``: run this test with float64 enabled (JAX's default is off)."""
    if request.node.get_closest_marker("x64") is None:
        yield
        return
    with jax.enable_x64(True):
        yield


@pytest.fixture
def standard_promotion():
    """JAX's standard dtype promotion, for tests that run optax's own code.

    optax's internals are not clean under strict promotion (its Adam bias correction
    mixes an int32 count with float64, MultiSteps' running mean mixes float32 and
    float64), so a test that runs optax code as a reference asks for this fixture.
    """
    with jax.numpy_dtype_promotion("standard"):
        yield
