"""``okeios verify-page``: the verify page the package ships is the one ``js/`` builds, and the
verb writes it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from okeios._internal.cli.verify_verbs import verify_page
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "js"


def test_the_verb_writes_the_shipped_page(tmp_path: Path) -> None:
    out = tmp_path / "verify.html"
    run_cli(tmp_path / "home", "verify-page", "-o", str(out))
    page = out.read_bytes()
    assert page == verify_page()
    text = page.decode("utf-8")
    assert text.startswith("<!doctype html>")
    # Self-contained: every module is inlined; nothing is fetched from elsewhere.
    assert '<script type="importmap">' in text
    assert re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text) is None
    assert "connect-src http: https:" in text  # only a chain URL the reader enters


def test_the_shipped_page_is_a_fresh_build() -> None:
    node = shutil.which("node")
    ready = node is not None and (JS / "node_modules").is_dir() and (JS / "dist").is_dir()
    if not ready:
        message = "needs node and `npm ci --prefix js` (which builds js/dist)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    assert node is not None
    subprocess.run([node, str(JS / "node_modules/typescript/bin/tsc"), "-p", str(JS)], check=True)
    fresh = subprocess.run(
        [node, str(JS / "scripts" / "build-page.js"), "--stdout"],
        check=True,
        capture_output=True,
        timeout=120,
    ).stdout
    assert fresh == verify_page(), "run `npm run build --prefix js` and commit the page"
