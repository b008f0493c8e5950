"""Every public docstring, parsed as mkdocstrings parses it (griffe, Google style).

The API reference renders what griffe makes of a docstring, so these checks read the
docstrings through griffe rather than by regular expressions:

- every public function documents exactly its signature's parameters, in order, and
  griffe warns about none of them (an untyped or unknown parameter, a `name:
  description` pair it cannot split);
- its Returns section is one item (a continuation line indented like the first one
  becomes a second, untyped row);
- it has an `Examples:` section of doctest blocks (`Example:` is not a section:
  its `>>>` lines would collapse into a paragraph) and a `References:` section;
- every public class (the state classes) has a docstring.

Names that lrjax re-exports from optax (`chain`, `GradientTransformation`, ...) are
optax's, documented there.
"""

from __future__ import annotations

import inspect
import logging

import pytest

import lrjax

griffe = pytest.importorskip("griffe")

PUBLIC = sorted(
    name
    for name in dir(lrjax)
    if not name.startswith("_")
    and not getattr(getattr(lrjax, name), "__module__", "").startswith("optax")
    and (inspect.isfunction(getattr(lrjax, name)) or inspect.isclass(getattr(lrjax, name)))
)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def package():
    return griffe.load("lrjax", docstring_parser="google", resolve_aliases=True)


def _parsed(package, name):
    obj = package[name]
    obj = obj.final_target if obj.is_alias else obj
    assert obj.docstring is not None, f"lrjax.{name} has no docstring"
    handler = _Collect()
    logger = logging.getLogger("griffe")
    logger.addHandler(handler)
    try:
        sections = obj.docstring.parse(griffe.Parser.google)
    finally:
        logger.removeHandler(handler)
    return obj, sections, handler.messages


def test_the_public_names_are_found():
    assert len(PUBLIC) > 100, PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring_renders_as_written(package, name):
    obj, sections, warnings = _parsed(package, name)
    assert not warnings, f"griffe on lrjax.{name}: {warnings}"
    if not obj.is_function:
        return
    kinds = {s.kind.value: s for s in sections}
    documented = (
        [p.name for p in kinds["parameters"].value] if "parameters" in kinds else []
    )
    assert documented == [p.name for p in obj.parameters], (
        f"lrjax.{name}: Args lists {documented}, the signature has "
        f"{[p.name for p in obj.parameters]}"
    )
    returns = [s for s in sections if s.kind.value == "returns"]
    assert len(returns) == 1 and len(returns[0].value) == 1, (
        f"lrjax.{name}: Returns renders as {[len(r.value) for r in returns]} rows; indent "
        "its continuation lines"
    )
    examples = [s for s in sections if s.kind.value == "examples"]
    assert examples and any(">>>" in text for s in examples for _, text in s.value), (
        f"lrjax.{name} has no Examples section of doctests"
    )
    titles = [s.title for s in sections if s.kind.value == "admonition"]
    assert "References" in titles, f"lrjax.{name} names no paper or library it follows"
