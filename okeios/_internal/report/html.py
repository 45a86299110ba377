"""HTML rendering: jinja2 templates shipped with the package, one self-contained page each.

The pages load nothing from anywhere (styles inline, figures as inline SVG, no script, no web
font), read well on screen and print cleanly (A4, print styles). Verification results are read
through their public ``to_dict()`` only, so a renamed defect kind still renders (in words when
the kind is known, by its name otherwise).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

from okeios._internal.verify.words import REASON_WORDS, words
from okeios.errors import ReportError

__all__ = ["DEFECT_WORDS", "render"]

# What each defect (or failure reason) means, for a reader who does not know the protocol: the
# one table of reason words, by the reasons' JSON names.
DEFECT_WORDS: Mapping[str, str] = {str(reason): text for reason, text in REASON_WORDS.items()}


def _dash(value: object) -> object:
    """Absent values as an en dash, never as ``None``."""
    return "–" if value is None or value == "" else value


def _short(value: object, keep: int = 10) -> str:
    """``0x1234567890…abcd`` for long hex ids (the full value goes in a title)."""
    text = str(value) if value is not None else ""
    if text.startswith("0x") and len(text) > keep + 8:
        return f"{text[: keep + 2]}…{text[-4:]}"
    return text or "–"


def _num(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(_dash(value))


def _words(kind: str) -> str:
    return words(kind)


def _env() -> Any:
    try:
        import jinja2
    except ImportError as exc:  # pragma: no cover - the report extra installs it
        raise ReportError("the reports need jinja2: pip install 'okeios[report]'") from exc
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("okeios._internal.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(dash=_dash, short=_short, num=_num, words=_words)
    return env


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render one of the package's templates (``audit.html.j2``, ``record.html.j2``); an
    address in ``context["labels"]`` (an address book) is shown with its name."""
    env = _env()
    book = {str(k).lower(): v for k, v in (context.get("labels") or {}).items()}
    env.filters["label"] = lambda value: book.get(str(value).lower(), "") if value else ""
    import markupsafe

    generated = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
    values = {"generated": generated, "version": okeios_version(), **context}
    for key, value in list(values.items()):
        if key.endswith("_svg") and isinstance(value, str):
            values[key] = markupsafe.Markup(value)  # noqa: S704 - SVG drawn by okeios._internal.report.plots
    return str(env.get_template(template).render(**values))


def defect_rows(defects: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A report's ``defects`` (from ``to_dict()``), with the words that explain each kind."""
    return [
        {
            "kind": str(d.get("kind") or d.get("reason") or "defect"),
            "index": d.get("index"),
            "record": d.get("record"),
            "detail": d.get("detail") or "",
        }
        for d in defects
    ]


def okeios_version() -> str:
    """The version of okeios that wrote a report (evidence: which verifier said so)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("okeios")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree not installed
        return "unknown"
