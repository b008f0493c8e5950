"""The documentation: every guide's code runs, and the site builds with --strict."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import jax
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
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
    # A reader runs the guides with JAX's defaults, not the suite's strict promotion. A
    # page may turn x64 on globally (the Newton guide does, as a user would); it is
    # turned back off afterwards, or every later test in this process would run in
    # float64.
    saved = bool(jax.config.jax_enable_x64)
    try:
        with jax.numpy_dtype_promotion("standard"), jax.enable_x64(False):
            for i, block in enumerate(FENCE.findall(page.read_text())):
                code = compile(block, f"{page.name}[block {i}]", "exec")
                exec(code, namespace)  # noqa: S102 - the docs are this repo's own code
    finally:
        jax.config.update("jax_enable_x64", saved)


def test_site_builds_strict(tmp_path):
    if shutil.which("mkdocs", path=str(pathlib.Path(sys.executable).parent)) is None:
        pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "index.html").exists()


def test_gallery_is_up_to_date():
    """docs/gallery.md and its pictures come from scripts/gallery.py, for every schedule."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gallery.py"), "--check"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
