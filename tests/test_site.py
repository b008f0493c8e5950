"""The built docs site, checked as a reader sees it.

One `mkdocs build --strict` (without `-q`, whose quiet mode hides warnings from the strict
counter) serves every check: no warnings, no reST markup left in the HTML, every internal
link, anchor and image resolves, and the maths is typeset by the vendored KaTeX in a
headless Chromium, with no network.
"""

from __future__ import annotations

import html
import os
import pathlib
import re
import shutil
import subprocess
import sys
import urllib.parse

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
REST = re.compile(r":(func|math|class|meth|mod|attr):`|\.\. (math|code-block|note)::")
LINK = re.compile(r"""\b(href|src)="([^"]*)\"""")
IDS = re.compile(r"""\bid="([^"]+)\"""")
# Pages whose maths must be typeset (each holds many formulas).
MATH_PAGES = (
    "newton",
    "range_test",
    "plateau",
    "hypergradient",
    "nnx_recipe",
    "api/schedules",
    "api/adaptive",
    "api/newton",
    "api/lr_free",
    "api/tools",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    return out, proc


def _pages(out: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in out.rglob("*.html") if "assets" not in p.parts)


def test_the_site_builds_strict_without_warnings(site):
    out, proc = site
    log = proc.stdout + proc.stderr
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    assert proc.returncode == 0 and not warnings, "\n".join(warnings) or log[-3000:]
    assert (out / "index.html").exists()


def test_no_rest_markup_reaches_the_html(site):
    out, _ = site
    found = []
    for page in _pages(out):
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        found += [f"{page.relative_to(out)}: {m.group(0)}" for m in REST.finditer(text)]
    assert not found, f"{len(found)} reST remnants, first: {found[:5]}"


def test_every_internal_link_anchor_and_image_resolves(site):
    out, _ = site
    ids: dict[pathlib.Path, set[str]] = {}
    broken = []
    for page in _pages(out):
        for attr, url in LINK.findall(page.read_text()):
            url = html.unescape(url)
            parts = urllib.parse.urlsplit(url)
            if parts.scheme or url.startswith("//") or url.startswith("mailto:"):
                continue
            if not parts.path:
                target = page
            elif parts.path.startswith("/"):  # root-relative, as 404.html writes them
                target = (out / parts.path.lstrip("/")).resolve()
            else:
                target = (page.parent / parts.path).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(out)}: {attr}={url}")
                continue
            anchor = urllib.parse.unquote(parts.fragment)
            if anchor and target.suffix == ".html":
                if target not in ids:
                    ids[target] = set(IDS.findall(target.read_text()))
                if anchor not in ids[target]:
                    broken.append(f"{page.relative_to(out)}: {attr}={url} (no such anchor)")
    assert not broken, f"{len(broken)} broken, first: {broken[:10]}"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.parametrize("name", MATH_PAGES)
def test_maths_is_typeset_in_a_headless_browser(site, name):
    out, _ = site
    browser = _chromium()
    if browser is None:
        # .ci/run installs Chromium from the Debian packages; elsewhere it is optional.
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium for the maths check (.ci/run installs it)")
        pytest.skip("no headless Chromium on this machine (apt-get install chromium)")
    page = out / name / "index.html"
    before = page.read_text().count('class="arithmatex"')
    assert before > 0, f"{name} has no maths to typeset"
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--allow-file-access-from-files",
            "--virtual-time-budget=15000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    dom = proc.stdout
    assert proc.returncode == 0 and "</html>" in dom, proc.stderr[-2000:]
    spans = re.findall(r'<span class="arithmatex">(.{0,40})', dom)
    spans += re.findall(r'<div class="arithmatex">(.{0,40})', dom)
    raw = [s for s in spans if 'class="katex' not in s]
    assert len(spans) == before and not raw, (
        f"{len(raw)} of {len(spans)} not typeset: {raw[:3]}"
    )
    assert 'class="katex-error"' not in dom, re.findall(
        r'katex-error"[^>]*title="([^"]*)', dom
    )[:3]
