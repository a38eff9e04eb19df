"""Text forms of the catalog: the ``actlab list`` table and the ``actlab show`` page.

All of it is generated from the definitions and the computed properties;
nothing about an activation is written here. docs/catalog.md is assembled
from these pieces (and the gallery figure) by :mod:`actlab.report.catalog_docs`.
"""
from __future__ import annotations

import csv
import io
import json
import math
import textwrap
from typing import Iterable, Optional

from .properties import Properties, compute, fmt
from .registry import DEFINITIONS, label, names as all_names

# Small enough that a first, uncached `actlab list` measures in seconds.
COST_NUMEL = 2 ** 16
COST_REPEATS = 5
LIST_FORMATS = ("table", "markdown", "csv", "json")


# --------------------------------------------------------------------------- #
# LaTeX to readable text
# --------------------------------------------------------------------------- #
_SYMBOLS = {
    "sigma": "σ", "alpha": "α", "beta": "β", "lambda": "λ", "delta": "δ", "pi": "π", "Phi": "Φ",
    "varphi": "φ", "phi": "φ", "infty": "∞", "ge": "≥", "geq": "≥", "le": "≤", "leq": "≤", "ne": "≠",
    "neq": "≠", "approx": "≈", "sim": "~", "cdot": "·", "partial": "∂", "sum": "Σ", "in": "∈",
    "times": "×", "mid": "|",
}
_SPACES = {",": " ", "!": "", ";": " ", ":": " ", " ": " ", "quad": "  ", "qquad": "  "}
_DROP = {"left", "right", "big", "Big", "displaystyle"}
_TEXT = {"operatorname", "text", "mathrm", "mathit", "textrm"}


def readable(latex: str) -> str:
    """A plain-text (Unicode) rendering of the LaTeX subset used by the definitions."""
    out, _ = _convert(latex, 0, stop=None)
    return " ".join(out.split())


def _group(s: str, i: int) -> tuple[str, int]:
    """The raw text of the {...} group or single token starting at s[i], and the index after it."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i < len(s) and s[i] == "{":
        depth, j = 0, i
        while j < len(s):
            depth += {"{": 1, "}": -1}.get(s[j], 0)
            if depth == 0:
                return s[i + 1:j], j + 1
            j += 1
        return s[i + 1:], len(s)
    if i < len(s) and s[i] == "\\":
        j = i + 1
        while j < len(s) and s[j].isalpha():
            j += 1
        return s[i:j], j
    return s[i:i + 1], i + 1


def _top_level(text: str) -> str:
    """``text`` with everything inside parentheses removed."""
    depth, out = 0, []
    for ch in text:
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(ch, 0)
        if depth == 0 and ch not in ")]":
            out.append(ch)
    return "".join(out)


def _wrap(text: str) -> str:
    """Parenthesise a fraction's part unless it is one term."""
    return f"({text})" if any(op in _top_level(text) for op in " +-/·") else text


def _next(s: str, i: int) -> str:
    while i < len(s) and s[i] == " ":
        i += 1
    return s[i] if i < len(s) else ""


def _word(out: list, word: str, s: str, i: int) -> None:
    """Append a function name or symbol, spaced from neighbouring letters and digits only."""
    if out and out[-1][-1:].isalnum() and word[:1].isalpha() and len(word) > 1:
        out.append(" ")
    nxt = _next(s, i)
    out.append(word + (" " if nxt.isalnum() or nxt == "\\" and len(word) > 1 else ""))


def _convert(s: str, i: int, stop: Optional[str]) -> tuple[str, int]:
    out: list[str] = []
    while i < len(s):
        c = s[i]
        if stop and s.startswith(stop, i):
            return "".join(out), i + len(stop)
        if c == "\\":
            j = i + 1
            while j < len(s) and s[j].isalpha():
                j += 1
            cmd = s[i + 1:j] or s[i + 1:i + 2]
            i = j if j > i + 1 else i + 2
            if cmd in ("frac", "tfrac", "dfrac"):
                num, i = _group(s, i)
                den, i = _group(s, i)
                text = f"{_wrap(readable(num))}/{_wrap(readable(den))}"
                followed = _next(s, i)
                out.append(f"({text})" if followed.isalnum() or followed in "(\\" and followed else text)
            elif cmd == "sqrt":
                arg, i = _group(s, i)
                text = readable(arg)
                out.append("√" + (text if len(text) == 1 else f"({text})"))
            elif cmd in _TEXT:
                arg, i = _group(s, i)
                _word(out, arg, s, i)
            elif cmd == "begin":
                env, i = _group(s, i)
                body, i = _convert(s, i, stop=r"\end{" + env + "}")
                out.append(_cases(body) if env == "cases" else body)
            elif cmd == "\\":
                out.append("; ")
            elif cmd in _SPACES:
                out.append(_SPACES[cmd])
            elif cmd in _SYMBOLS:
                _word(out, _SYMBOLS[cmd], s, i)
            elif cmd not in _DROP:
                _word(out, cmd, s, i)  # \tanh, \log, \max, ...: the name itself
        elif c in "^_":
            arg, i = _group(s, i + 1)
            text = readable(arg)
            if out:
                out[-1] = out[-1].rstrip()
            out.append(c + (text if len(text) == 1 or c == "_" else f"({text})"))
        elif c in "{}":
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out), i


def _cases(body: str) -> str:
    rows = [r.strip() for r in body.split(";") if r.strip()]
    parts = []
    for r in rows:
        value, _, cond = r.partition("&")
        cond = cond.strip()
        parts.append(f"{value.strip()} if {cond}" if cond and cond != "otherwise" else f"{value.strip()} otherwise")
    return "{ " + "; ".join(parts) + " }"


# --------------------------------------------------------------------------- #
# actlab list
# --------------------------------------------------------------------------- #
def costs(labels: list[str]) -> dict[str, float]:
    """Relative forward+backward cost per label, or {} when the cost module is not available."""
    try:
        from .cost import relative_cost
    except ImportError:
        return {}
    return relative_cost(names=labels, numel=COST_NUMEL, repeats=COST_REPEATS)


def properties(spec_strings: Optional[Iterable[str]] = None, cost: bool = True) -> list[Properties]:
    """Computed properties of each activation (default: all), with cost when asked for."""
    from dataclasses import replace

    props = [compute(s) for s in (all_names() if spec_strings is None else spec_strings)]
    measured = costs([label(p.label) for p in props]) if cost else {}
    return [replace(p, cost=measured.get(label(p.label))) for p in props]


def _json_number(v: Optional[float]):
    if v is None:
        return None
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")


def _json(p: Properties) -> dict:
    return {
        **p.as_row(),
        "params": p.params, "inf": _json_number(p.inf), "sup": _json_number(p.sup),
        "inf_attained": p.inf_attained, "sup_attained": p.sup_attained,
        "kinks": [{"x": s.x, "kind": s.kind} for s in p.singular],
        "mean_normal": p.mean, "var_normal": p.var, "f0": p.f0, "df0": p.df0,
        "max_slope": p.max_slope, "argmax_slope": p.argmax_slope,
        "dead": [[_json_number(a), _json_number(b)] for a, b in p.dead],
        "extrema": [{"x": e.x, "value": e.value, "kind": e.kind} for e in p.extrema],
        "cost": _json_number(p.cost), "note": p.note,
    }


def table(props: list[Properties], fmt_name: str = "table") -> str:
    """Render rows as an aligned text table, Markdown, CSV or JSON."""
    if fmt_name not in LIST_FORMATS:
        raise ValueError(f"unknown list format {fmt_name!r}; expected one of {', '.join(LIST_FORMATS)}")
    if fmt_name == "json":
        return json.dumps([_json(p) for p in props], indent=1)
    rows = [p.as_row() for p in props]
    head = list(rows[0]) if rows else list(compute("relu").as_row())
    if fmt_name == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=head, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    if fmt_name == "markdown":
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(r[h].replace("|", "\\|") for h in head) + " |" for r in rows]
        return "\n".join(lines)
    widths = {h: max([len(h)] + [len(r[h]) for r in rows]) for h in head}
    lines = ["  ".join(h.ljust(widths[h]) for h in head).rstrip(),
             "  ".join("-" * widths[h] for h in head)]
    lines += ["  ".join(r[h].ljust(widths[h]) for h in head).rstrip() for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# actlab show
# --------------------------------------------------------------------------- #
def property_lines(p: Properties) -> list[tuple[str, str]]:
    """(name, value) pairs describing computed properties in words."""
    kinks = ", ".join(f"{s.kind} at x = {fmt(s.x)}" for s in p.singular)
    dead = ", ".join(f"{'(' if math.isinf(a) else '['}{fmt(a)}, {fmt(b)}{')' if math.isinf(b) else ']'}"
                     for a, b in p.dead)
    extrema = ", ".join(f"local {e.kind} f({e.x:.6g}) = {e.value:.6g}" for e in p.extrema)
    lines = [
        ("range", p.range_text()),
        ("monotonic", p.monotonic),
        ("smoothness", p.smoothness + (f" ({kinks})" if kinks else "")),
        ("zero-centred", f"{'yes' if p.zero_centred else 'no'} (z ~ N(0,1): E f(z) = {p.mean:.4g}, "
                         f"Var f(z) = {p.var:.4g})"),
        ("at 0", f"f(0) = {fmt(p.f0)}, f'(0) = {fmt(p.df0)}; identity near 0: "
                 f"{'yes' if p.identity_near_0 else 'no'}"),
        ("saturates", p.saturation_text()),
        ("max |f'|", f"{p.max_slope:.6g} at x = {fmt(p.argmax_slope)}"),
        ("dead region", dead or "none"),
        ("extrema", extrema or "none"),
        ("cost", "n/a" if p.cost is None else f"{p.cost:.2f} x ReLU (forward + backward, per element)"),
    ]
    if p.note:
        lines.append(("note", p.note))
    return lines


def describe(spec_string: str, props: Optional[Properties] = None, markdown: bool = False) -> str:
    """Everything about one activation: formulas, parameters, computed properties, pros and cons."""
    p = props or compute(spec_string)
    spec = DEFINITIONS[p.name]
    params = [(q.name, repr(p.params[q.name]) if q.name in p.params else repr(q.default),
               repr(q.default), q.range_text(), q.doc) for q in spec.params]
    lists = [("Pros", spec.pros), ("Cons", spec.cons), ("Notes", spec.notes), ("References", spec.references)]
    aliases = ", ".join(spec.aliases) or "none"
    if markdown:
        return _markdown(spec, p, params, lists, aliases)
    out = [f"{spec.title}  [{p.label}]", f"family: {spec.family}; aliases: {aliases}; "
           f"module: actlab.modules.{spec.class_name}", "", textwrap.fill(spec.description, 88), "",
           f"formula:     {readable(spec.formula)}", f"  LaTeX:     {spec.formula}",
           f"derivative:  {readable(spec.dformula)}", f"  LaTeX:     {spec.dformula}", ""]
    if params:
        out.append("parameters (name, value, default, valid range, meaning):")
        out += [f"  {n} = {v}  (default {d}, range {r}): {doc}" for n, v, d, r, doc in params]
        out.append("")
    out.append("computed properties:")
    out += [f"  {k:<13} {v}" for k, v in property_lines(p)]
    for title, items in lists:
        if items:
            out += ["", f"{title.lower()}:"] + [textwrap.fill(i, 88, initial_indent="  - ",
                                                                subsequent_indent="    ") for i in items]
    return "\n".join(out)


def _markdown(spec, p, params, lists, aliases) -> str:
    out = [f"## {spec.title} (`{p.label}`)", "",
           f"Family: {spec.family}. Aliases: {aliases}. Module: `actlab.modules.{spec.class_name}`.", "",
           spec.description, "", f"$${spec.formula}$$", "", f"$${spec.dformula}$$", ""]
    if params:
        out += ["| parameter | default | valid range | meaning |", "|---|---|---|---|"]
        out += [f"| `{n}` | {d} | {r} | {doc} |" for n, _, d, r, doc in params]
        out.append("")
    out += ["| computed property | value |", "|---|---|"]
    out += [f"| {k} | {v.replace('|', '&#124;')} |" for k, v in property_lines(p)]
    for title, items in lists:
        if items:
            out += ["", f"**{title}**", ""] + [f"- {i}" for i in items]
    return "\n".join(out)
