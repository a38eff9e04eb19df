"""Small HTML building blocks shared by the study report and the catalog site.

Pages are single files: the stylesheet and script from ``assets/`` are
inlined, so a page opened from disk (or mailed around) needs nothing else
and makes no network request. Every piece of text that is not our own
markup goes through :func:`esc`.
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any, Iterable, Optional, Sequence


def esc(value: Any) -> str:
    """Text for HTML content or attribute values."""
    return html.escape(str(value), quote=True)


def asset(name: str) -> str:
    return resources.files("actlab.report").joinpath("assets", name).read_text(encoding="utf-8")


def json_script(element_id: str, data: Any) -> str:
    """Data for the page's script; ``</`` is escaped so no string can end the element early."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


def page(title: str, body: str, *, nav: str = "", generator: str = "") -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        # Blocks every fetch the page could make; all it needs is inline.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{esc(title)}</title><style>{asset('style.css')}</style></head>"
        f"<body><header>{nav}</header><main>{body}</main>"
        f"<footer>{esc(generator)}</footer><script>{asset('actlab.js')}</script></body></html>\n"
    )


@dataclass(frozen=True)
class Cell:
    """A table cell: display HTML (already safe) and the key the column sorts by."""

    html: str
    sort: Any = None
    cls: str = ""


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:.{digits}g}"
    return str(value)


def cell(value: Any, digits: int = 4) -> Cell:
    """A cell for a plain value: numbers sort numerically, missing values sort last."""
    if isinstance(value, Cell):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
        return Cell(esc(fmt(value, digits)), None if math.isnan(v) else v, "num")
    return Cell(esc(fmt(value, digits)), None if value is None else str(value))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, table_id: str,
          caption: Optional[str] = None, sortable: bool = True, titles: Sequence[str] = (),
          row_classes: Sequence[str] = ()) -> str:
    """A table whose columns sort on click (by each cell's ``data-sort``) when ``sortable``.

    ``titles`` are header tooltips; ``row_classes`` a class per row (e.g. runs still in progress).
    """
    tips = list(titles) + [""] * (len(headers) - len(titles))
    head = "".join(f'<th scope="col"{attr("title", t)}>{esc(h)}</th>' for h, t in zip(headers, tips))
    body = []
    classes = list(row_classes)
    for i, row in enumerate(rows):
        tds = []
        for value in row:
            c = cell(value)
            tds.append(f"<td{attr('data-sort', c.sort)}{attr('class', c.cls)}>{c.html}</td>")
        body.append(f"<tr{attr('class', classes[i] if i < len(classes) else '')}>{''.join(tds)}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    cls = "data sortable" if sortable else "data"
    return (f'<div class="table-wrap"><table id="{esc(table_id)}" class="{cls}">{cap}'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def attr(name: str, value: Any) -> str:
    """`` name="value"`` (escaped), or nothing when value is None or empty."""
    return "" if value is None or value == "" else f' {name}="{esc(value)}"'


def bullet_list(items: Iterable[str], cls: str = "") -> str:
    items = [f"<li>{esc(i)}</li>" for i in items]
    if not items:
        return ""
    return f'<ul class="{esc(cls)}">' + "".join(items) + "</ul>"


def warning_box(lines: Sequence[str], title: str = "Read with care") -> str:
    if not lines:
        return ""
    return (f'<aside class="warning" role="note"><strong>{esc(title)}</strong>'
            f"{bullet_list(lines)}</aside>")
