"""PDF printing fails loudly, with a typed error, when there is no usable Chromium."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from okeios._internal.report import find_chromium, html_to_pdf
from okeios._internal.report.pdf import CHROMIUM_FLAGS, chromium_command
from okeios.errors import ReportError


def test_no_chromium_is_a_report_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OKEIOS_CHROMIUM", str(tmp_path / "no-such-browser"))
    assert find_chromium() is None
    with pytest.raises(ReportError, match="needs Chromium"):
        html_to_pdf("<!doctype html><p>x", tmp_path / "out.pdf")
    assert not (tmp_path / "out.pdf").exists()


def test_a_browser_that_writes_no_pdf_is_a_report_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake-chromium"
    fake.write_text("#!/bin/sh\necho 'cannot print' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(ReportError, match=r"exit 3.*cannot print"):
        html_to_pdf("<!doctype html><p>x", tmp_path / "out.pdf", chromium=str(fake))


def test_a_browser_that_writes_something_else_is_a_report_error(tmp_path: Path) -> None:
    out = tmp_path / "out.pdf"
    fake = tmp_path / "fake-chromium"
    fake.write_text(f"#!/bin/sh\necho 'not a pdf' > {out}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(ReportError, match="did not write the PDF"):
        html_to_pdf("<!doctype html><p>x", out, chromium=str(fake))


def test_the_browser_runs_isolated_and_offline(tmp_path: Path) -> None:
    command = chromium_command(tmp_path / "profile", "--dump-dom", chromium="/bin/true")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ):
        assert flag in command
    assert f"--user-data-dir={tmp_path / 'profile'}" in command
    assert command[: len(CHROMIUM_FLAGS) + 1] == ["/bin/true", *CHROMIUM_FLAGS]
