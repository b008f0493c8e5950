"""The documentation: every guide's code runs, and the site builds with --strict."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import jax
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
# A python block followed at once by a block titled "Output" shows what it prints.
OUTPUT = re.compile(
    r'^```python\n(.*?)^```\n\n?```text title="Output"\n(.*?)^```', re.S | re.M
)
PAGES = sorted(p for p in DOCS.glob("*.md") if FENCE.search(p.read_text()))
PAGES.append(ROOT / "README.md")  # the README's ten-line example runs too


def test_every_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    missing = [p.name for p in DOCS.glob("*.md") if p.name not in nav]
    assert not missing, f"pages not in mkdocs.yml nav: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_code_blocks_run(page, capsys):
    """Run a page's Python blocks in order, in one namespace, as a reader would."""
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    text = page.read_text()
    shown = dict(OUTPUT.findall(text))
    # A reader runs the guides with JAX's defaults, not the suite's strict promotion. A
    # page may turn x64 on globally (the Newton guide does, as a user would); it is
    # turned back off afterwards, or every later test in this process would run in
    # float64.
    saved = bool(jax.config.jax_enable_x64)
    try:
        with jax.numpy_dtype_promotion("standard"), jax.enable_x64(False):
            for i, block in enumerate(FENCE.findall(text)):
                code = compile(block, f"{page.name}[block {i}]", "exec")
                capsys.readouterr()
                exec(code, namespace)  # noqa: S102 - the docs are this repo's own code
                if block in shown:
                    printed = capsys.readouterr().out
                    assert printed.rstrip() == shown[block].rstrip(), (
                        f"{page.name}[block {i}] printed\n{printed}\nbut the page "
                        f"shows\n{shown[block]}"
                    )
    finally:
        jax.config.update("jax_enable_x64", saved)


def test_gallery_is_up_to_date():
    """docs/gallery.md and its pictures come from scripts/gallery.py, for every schedule."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gallery.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def test_api_pages_are_up_to_date():
    """docs/api/*.md and the API nav come from scripts/api_pages.py; every public name
    has a family."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "api_pages.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
