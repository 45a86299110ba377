"""The report's figures, drawn with matplotlib and returned as figures, inline SVG or PNG.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot, no global state,
any backend). :func:`svg` writes text as paths, so the SVG needs no font and no network where
it is viewed; each anchor mark carries a ``<title>`` (tree size, block, time) that browsers show
on hover. The notebooks in ``examples/`` use the same functions.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from okeios._internal.protocol.events import ZERO_HASH, Event, EventKind
from okeios._internal.protocol.kinds import CONTENT_KINDS, KINDS
from okeios.errors import ReportError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "anchoring_timeline",
    "disclosure_chart",
    "events_over_time",
    "lineage_graph",
    "png",
    "svg",
]

BLUE, GREEN, RED, GREY = "#2a5db0", "#3a8a3a", "#b00020", "#666666"
KIND_COLOURS = {str(kind): row.colour for kind, row in KINDS.items()}


def _figure(size: tuple[float, float]) -> tuple[Figure, Axes]:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - the report extra installs it
        raise ReportError("the reports need matplotlib: pip install 'okeios[report]'") from exc
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _dates(ax: Axes) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)  # type: ignore[no-untyped-call]
    formatter = mdates.ConciseDateFormatter(locator, tz=_dt.UTC)  # type: ignore[no-untyped-call]
    ax.xaxis_date(tz=_dt.UTC)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)


def _utc(seconds: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(seconds, _dt.UTC)


def _x(seconds: float) -> float:
    """Unix seconds in matplotlib's date unit (days since its epoch)."""
    import matplotlib.dates as mdates

    when = _dt.datetime.fromtimestamp(seconds, _dt.UTC)
    return float(mdates.date2num(when))  # type: ignore[no-untyped-call]


def _pad_range(ax: Axes, lo: float, hi: float) -> None:
    """x limits around [lo, hi] (Unix seconds), at least a minute wide."""
    pad = max((hi - lo) * 0.06, 30.0)
    ax.set_xlim(_x(lo - pad), _x(hi + pad))


def anchoring_timeline(
    timeline: Sequence[Mapping[str, Any]], *, title: str = "Anchoring timeline"
) -> Figure:
    """Anchored tree size against block time (UTC), one mark per anchor, as a step chart.

    ``timeline`` is the ``timeline`` of an audit report's ``to_dict()``: rows with
    ``treeSize``, ``block`` and ``time`` (Unix seconds)."""
    from matplotlib.ticker import FuncFormatter

    fig, ax = _figure((8, 3.0))
    if not timeline:
        ax.text(0.5, 0.5, "no anchors", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    seconds = [int(t["time"]) for t in timeline]
    times = [_x(t) for t in seconds]
    sizes = [int(t["treeSize"]) for t in timeline]
    ax.step(times, sizes, where="post", color=BLUE, linewidth=1.6, zorder=2)
    for n, (when, size, row) in enumerate(zip(times, sizes, timeline, strict=True)):
        (mark,) = ax.plot([when], [size], "o", color=BLUE, markersize=6, zorder=3)
        mark.set_gid(f"anchor-{n}")
        mark.set_url(None)
        if len(timeline) <= 12:
            last = n == len(timeline) - 1 and len(timeline) > 1
            ax.annotate(
                f"block {row['block']}",
                (when, size),
                textcoords="offset points",
                xytext=(-6, -4) if last else (5, -14),
                ha="right" if last else "left",
                va="top",
                fontsize=7,
                color=GREY,
            )
    _dates(ax)
    _pad_range(ax, min(seconds), max(seconds))
    ax.set_ylim(0, max(sizes) * 1.12)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{int(v):,}"))
    ax.set_xlabel("block time (UTC)")
    ax.set_ylabel("anchored tree size (entries)")
    if title:
        ax.set_title(title, fontsize=11, loc="left")
    ax.grid(True, color="#e4e4e4", linewidth=0.6, zorder=0)
    fig._okeios_titles = [  # type: ignore[attr-defined]
        f"tree size {size:,}, block {row['block']}, {_utc(when).isoformat()}"
        for when, size, row in zip(seconds, sizes, timeline, strict=True)
    ]
    return fig


def events_over_time(
    events: Sequence[tuple[int, str]], *, title: str = "Events by kind over time", bins: int = 24
) -> Figure:
    """Stacked counts of events per kind over time: ``events`` are ``(unix time, kind)``."""
    from matplotlib.ticker import FuncFormatter

    fig, ax = _figure((8, 2.8))
    if not events:
        ax.text(0.5, 0.5, "no events", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    lo = min(t for t, _ in events)
    hi = max(t for t, _ in events)
    span = max(hi - lo, 1)
    n = max(1, min(bins, span))
    width = span / n
    kinds = [str(k) for k in EventKind if any(kind == str(k) for _, kind in events)]
    bottoms = [0] * n
    centres = [_x(lo + width * (i + 0.5)) for i in range(n)]
    bar_width = width / 86400 * 0.9  # in days, matplotlib's date unit
    for kind in kinds:
        counts = [0] * n
        for t, k in events:
            if k == kind:
                counts[min(int((t - lo) / width), n - 1)] += 1
        ax.bar(
            centres,
            counts,
            width=bar_width,
            bottom=bottoms,
            color=KIND_COLOURS.get(kind, GREY),
            label=f"{kind} ({sum(counts):,})",
            zorder=2,
        )
        bottoms = [b + c for b, c in zip(bottoms, counts, strict=True)]
    _dates(ax)
    _pad_range(ax, lo, hi)
    ax.set_xlabel("claimed event time (UTC)")
    ax.set_ylabel("events")
    if title:
        ax.set_title(title, fontsize=11, loc="left")
    ax.legend(fontsize=7, ncols=4, loc="upper left", frameon=False)
    ax.set_ylim(0, max(bottoms) * 1.3 + 1)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{int(v):,}"))
    ax.grid(True, axis="y", color="#e4e4e4", linewidth=0.6, zorder=0)
    return fig


def lineage_graph(events: Sequence[tuple[int, Event]], *, title: str = "") -> Figure:
    """One record's events in log order: content versions (create, derive, amend) on the top
    row, other events below, an arrow from each event's ``previous`` (dashed from a DERIVE's
    sources); a predecessor that is not among ``events`` is a red cross marked "missing"."""
    fig, ax = _figure((max(6.0, 1.2 * len(events) + 1.5), 3.2))
    place: dict[bytes, tuple[float, float]] = {}
    x = 0
    for position, e in events:
        y = 1 if e.kind in CONTENT_KINDS else 0
        if e.previous != ZERO_HASH and e.previous not in place:
            ax.plot(x, 0.5, "x", ms=14, mew=3, color=RED)
            ax.annotate(
                "missing",
                (x, 0.5),
                textcoords="offset points",
                xytext=(0, 10),
                ha="center",
                color=RED,
                fontsize=8,
            )
            ax.annotate(
                "",
                xy=(x + 1, y),
                xytext=(x, 0.5),
                arrowprops={"arrowstyle": "->", "color": RED, "linestyle": ":"},
            )
            x += 1
        place[e.id] = (x, y)
        ax.plot(x, y, "o", ms=11, color=BLUE if y else GREEN)
        ax.annotate(
            f"{e.kind} v{e.version}\n#{position}",
            (x, y),
            textcoords="offset points",
            xytext=(0, 12 if y else -28),
            ha="center",
            fontsize=8,
        )
        links = [(e.previous, "-")] + [(s, "--") for s in e.sources]
        for source, style in links:
            if source in place:
                ax.annotate(
                    "",
                    xy=(x, y),
                    xytext=place[source],
                    arrowprops={
                        "arrowstyle": "->",
                        "linestyle": style,
                        "connectionstyle": "arc3,rad=-0.2",
                    },
                )
        x += 1
    ax.set_xticks([])
    ax.set_yticks([0, 1], ["other events", "versions"])
    ax.set_xlim(-0.7, max(x, 1) - 0.3)
    ax.set_ylim(-0.9, 1.7)
    ax.set_xlabel("the record's events in log order (#: log index)")
    if title:
        ax.set_title(title, fontsize=11, loc="left")
    return fig


def disclosure_chart(
    received: Mapping[str, tuple[int, int]], *, title: str = "What the recipient can read"
) -> Figure:
    """Fields disclosed and hidden in what a recipient received: ``received`` maps a label
    (``"disclosure bundle"``) to ``(disclosed, hidden)`` field counts."""
    fig, ax = _figure((6.5, 0.7 * len(received) + 1.6))
    names = list(received)
    shown = [d for d, _ in received.values()]
    hidden = [h for _, h in received.values()]
    bars = ax.barh(names, shown, color=GREEN, label="disclosed")
    ax.bar_label(
        bars, labels=[str(d) if d else "" for d in shown], label_type="center", color="white"
    )
    bars = ax.barh(names, hidden, left=shown, color="#bbbbbb", label="hidden (salted digest)")
    ax.bar_label(bars, labels=[str(h) if h else "" for h in hidden], label_type="center")
    ax.set_xlabel("fields of the record")
    if title:
        ax.set_title(title, fontsize=11, loc="left")
    ax.invert_yaxis()
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncols=2, frameon=False)
    return fig


_SVG_START = re.compile(r"<svg\b")
_SIZE = re.compile(r'(<svg[^>]*?)\s(width|height)="[^"]*"')


def svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element: text as paths, sized by its container, and a
    ``<title>`` on each anchor mark (shown on hover)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "okeios"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    match = _SVG_START.search(text)
    if match is None:  # pragma: no cover - matplotlib always writes an <svg> element
        raise ReportError("matplotlib wrote no SVG element")
    text = text[match.start() :]
    text = _SIZE.sub(r"\1", _SIZE.sub(r"\1", text, count=1), count=1)
    text = text.replace("<svg ", '<svg role="img" preserveAspectRatio="xMinYMin meet" ', 1)
    for n, label in enumerate(getattr(fig, "_okeios_titles", [])):
        text = text.replace(f'<g id="anchor-{n}">', f'<g id="anchor-{n}"><title>{label}</title>', 1)
    return text


def png(fig: Figure, *, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for notebooks: ``display(Image(png(fig)))``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
