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


_PREVIOUS = ["(none: the first test of this process)"]


def _x64_left_on(where: str) -> None:
    """Turn x64 back off, and fail naming `where` if it was on."""
    if jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", False)
        pytest.fail(
            f"jax_enable_x64 was left on {where}; turn it on with "
            "@pytest.mark.x64 or the jax.enable_x64(...) context manager"
        )


@pytest.fixture(autouse=True)
def _x64_marker(request):
    """``@pytest.mark.x64``: run this test with float64 enabled (JAX's default is off).

    x64 off is the suite's mode: a test that leaves it on (globally, with
    ``jax.config.update``) would make the later tests of its process run in float64
    unawares, so that fails, naming the test.
    """
    _x64_left_on(f"before this test (the previous one here was {_PREVIOUS[0]})")
    if request.node.get_closest_marker("x64") is None:
        yield
    else:
        with jax.enable_x64(True):
            yield
    _PREVIOUS[0] = request.node.nodeid
    _x64_left_on("by this test")


@pytest.fixture
def standard_promotion():
    """JAX's standard dtype promotion, for tests that run optax's own code.

    optax's internals are not clean under strict promotion (its Adam bias correction
    mixes an int32 count with float64, MultiSteps' running mean mixes float32 and
    float64), so a test that runs optax code as a reference asks for this fixture.
    """
    with jax.numpy_dtype_promotion("standard"):
        yield
