"""Reports for people: the audit report of a published log, and one record's history (the
patient's view), as self-contained HTML pages (and PDF), plus the figures they share with the
notebooks.

This layer sits on top of the read side: it imports :mod:`okeios._internal.verify` and
:mod:`okeios._internal.protocol`, never :mod:`okeios._internal.publish` or
:mod:`okeios._internal.chain` (callers hand it results and events). It needs the ``report`` extra
(jinja2, matplotlib); PDF needs a Chromium (:mod:`okeios._internal.report.pdf`).

:mod:`.model` (what the sections show, as plain data), :mod:`.plots` (matplotlib figures, SVG
and PNG), :mod:`.html` (templates), :mod:`.audit` (the audit report), :mod:`.record` (the
record's history), :mod:`.pdf` (printing a page to PDF).
"""

from okeios._internal.report.audit import audit_context, audit_html, log_entries
from okeios._internal.report.pdf import find_chromium, html_to_pdf
from okeios._internal.report.record import record_context, record_html, record_page

__all__ = [
    "audit_context",
    "audit_html",
    "find_chromium",
    "html_to_pdf",
    "log_entries",
    "record_context",
    "record_html",
    "record_page",
]
