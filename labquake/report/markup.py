"""The HTML building blocks of the campaign report.

Escaping, numbers, tables, embedded PNG figures (with the *stale* mark), figure anchors,
the table of the reference ranges and the report's stylesheet.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labquake.report.reference import REFERENCE, STAT_COLUMNS

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #bbb;margin-top:2em}
table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f0f0f0}
td.l,th.l{text-align:left}.out{background:#fde2e2}.in{background:#e3f6e3}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:0.85em;color:#555}
pre{background:#f6f6f6;padding:0.8em;overflow-x:auto;font-size:0.8em}
.warn{color:#a00}.note{color:#555;font-size:0.9em}
.stale{background:#a00;color:#fff;font-weight:bold;padding:0 4px;border-radius:3px;text-transform:uppercase;font-size:0.8em}
.stale-figure img{opacity:0.55}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:0.8em}
.gallery figure{margin:0}
ol.index{columns:3;font-size:0.85em}
#summary ul{line-height:1.5}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _img(data: bytes, caption: str, alt: str | None = None, anchor: str | None = None, stale: bool = False) -> str:
    b64 = base64.b64encode(data).decode("ascii")
    ident = f' id="{_e(anchor)}"' if anchor else ""
    mark = _STALE + " " if stale else ""
    cls = ' class="stale-figure"' if stale else ""
    return (
        f'<figure{ident}{cls}><img src="data:image/png;base64,{b64}" alt="{_e(alt or caption)}">'
        f"<figcaption>{mark}{_e(caption)}</figcaption></figure>"
    )


def _num(v: Any, fmt: str = "{:.3g}") -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return _e(v)
    return "–" if math.isnan(f) else fmt.format(f)


def _table(df: pd.DataFrame, max_rows: int = 60, floatfmt: str = "{:.4g}") -> str:
    if df.empty:
        return '<p class="note">(empty table)</p>'
    head = "".join(f'<th class="l">{_e(c)}</th>' if not pd.api.types.is_numeric_dtype(df[c]) else f"<th>{_e(c)}</th>" for c in df.columns)
    body = []
    for _, row in df.head(max_rows).iterrows():
        cells = []
        for c in df.columns:
            v = row[c]
            if pd.api.types.is_numeric_dtype(df[c]) and not isinstance(v, (bool, np.bool_)):
                cells.append(f"<td>{_num(v, floatfmt)}</td>")
            else:
                cells.append(f'<td class="l">{_e(v)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f'<p class="note">{len(df) - max_rows} more rows in the parquet file.</p>' if len(df) > max_rows else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def _reproduction_table(df: pd.DataFrame, overrides: Mapping[str, Mapping[str, Any]]) -> str:
    cols = [("peak_mpa", "peak [MPa]", "peak_mpa"), ("after_mpa", "after drop [MPa]", ""), ("drop_mpa", "stress drop [MPa]", "drop_mpa")]
    cols += [(c, t, ref) for c, t, ref in STAT_COLUMNS if df[c].notna().any()]
    has_label = "label" in df.columns
    head = (('<th class="l">label</th>' if has_label else "") + '<th class="l">run</th><th class="l">parameters</th>'
            + "".join(f"<th>{_e(t)}</th>" for _, t, _ in cols) + "<th>fault events</th>")
    lead = '<td></td>' if has_label else ""
    rows = []
    for _, r in df.iterrows():
        cells = ([f'<td class="l">{_e(r["label"])}</td>'] if has_label else []) + [f'<td class="l">{_e(r["run"])}</td>']
        ov = overrides.get(r["run"], {})
        cells.append(f'<td class="l">{_e(", ".join(f"{k}={v}" for k, v in ov.items()))}</td>')
        for key, _, refkey in cols:
            v = r[key]
            ref = REFERENCE.get(refkey)
            cls = ""
            if ref is not None and isinstance(v, (int, float)) and not math.isnan(v):
                cls = ' class="in"' if ref.lo <= v <= ref.hi else ' class="out"'
            cells.append(f"<td{cls}>{_num(v)}</td>")
        cells.append(f"<td>{_num(r['n_events'], '{:.0f}')}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    # summary rows
    summ = [lead + '<td class="l"><b>mean (min–max)</b></td><td></td>']
    refrow = [lead + '<td class="l"><b>reference range</b></td><td class="l">Ye et al. (2024)</td>']
    inrow = [lead + '<td class="l"><b>runs in range</b></td><td></td>']
    for key, _, refkey in cols:
        v = pd.to_numeric(df[key], errors="coerce").dropna()
        summ.append(f"<td>{_num(v.mean())} ({_num(v.min())}–{_num(v.max())})</td>" if len(v) else "<td>–</td>")
        ref = REFERENCE.get(refkey)
        if ref is None:
            refrow.append("<td></td>")
            inrow.append("<td></td>")
        else:
            refrow.append(f"<td>{ref.lo:g}–{ref.hi:g}</td>")
            inrow.append(f"<td>{int(((v >= ref.lo) & (v <= ref.hi)).sum())} / {len(v)}</td>" if len(v) else "<td>–</td>")
    for extra in (summ, refrow, inrow):
        rows.append("<tr>" + "".join(extra) + "<td></td></tr>")
    refs = "".join(f"<li>{_e(r.label)}: {r.lo:g}–{r.hi:g} {_e(r.unit)} ({_e(r.source)})</li>" for r in REFERENCE.values())
    return (
        f"<table><tr>{head}</tr>{''.join(rows)}</table>"
        '<p class="note">Green: inside the reference range, red: outside. Stresses are differential, '
        "compression positive; the drop is the largest fall below the running maximum. References "
        f"(shared/reference/ye2024.md §2, §5):</p><ul class=\"note\">{refs}</ul>"
    )


_STALE = '<span class="stale">stale</span>'


def _anchor(fname: str) -> str:
    return "fig-" + "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(fname).stem)
