"""Printing a report page to PDF with a headless Chromium.

Why Chromium and not a Python PDF library: the PDF is then the very page a person sees in a
browser (the same layout engine, the report's print styles, the inline SVG figures as
vectors), with no second layout to keep in step. Pure-Python HTML-to-PDF converters implement a
subset of CSS and SVG, and WeasyPrint needs Pango from the system anyway. The cost is a
browser on the machine: ``chromium`` on Debian (``scripts/test`` installs it), found on the
``PATH`` or named by ``$OKEIOS_CHROMIUM``; without one, :func:`html_to_pdf` raises
:class:`~okeios.errors.ReportError` saying so, and the HTML report still works.

Chromium runs with a throw-away profile, no network (every host name resolves to nothing, and
background networking, updates and sync are off) and ``--no-sandbox`` (needed as root in a
container; the page is okeios' own, with no script).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from okeios.errors import ReportError

__all__ = ["CHROMIUM_FLAGS", "chromium_command", "find_chromium", "html_to_pdf"]

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def find_chromium() -> str | None:
    """The Chromium to use: ``$OKEIOS_CHROMIUM``, else the first of chromium,
    chromium-browser, google-chrome on the ``PATH``; None when there is none."""
    named = os.environ.get("OKEIOS_CHROMIUM")
    if named:
        return named if Path(named).is_file() else shutil.which(named)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_command(profile: Path, *args: str, chromium: str | None = None) -> list[str]:
    """A headless Chromium command line with okeios' flags and ``profile`` as its profile."""
    exe = chromium or find_chromium()
    if exe is None:
        raise ReportError(
            "PDF output needs Chromium (Debian: apt-get install chromium), or set OKEIOS_CHROMIUM"
        )
    return [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]


def html_to_pdf(
    html: str, output: str | Path, *, chromium: str | None = None, timeout: float = 120.0
) -> Path:
    """Print ``html`` (a whole self-contained page) to the PDF file ``output``."""
    out = Path(output).resolve()
    with tempfile.TemporaryDirectory(prefix="okeios-pdf-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        command = chromium_command(
            Path(tmp) / "profile",
            "--no-pdf-header-footer",
            "--print-to-pdf-no-header",
            f"--print-to-pdf={out}",
            page.as_uri(),
            chromium=chromium,
        )
        try:
            run = subprocess.run(  # noqa: S603 - a fixed command line, no shell
                command, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ReportError(f"Chromium did not print the PDF within {timeout:.0f} s") from exc
        except OSError as exc:
            raise ReportError(f"cannot run Chromium ({command[0]}): {exc}") from exc
    if run.returncode != 0 or not out.is_file() or out.read_bytes()[:5] != b"%PDF-":
        tail = "\n".join(run.stderr.strip().splitlines()[-5:])
        raise ReportError(f"Chromium did not write the PDF (exit {run.returncode}): {tail}")
    return out
