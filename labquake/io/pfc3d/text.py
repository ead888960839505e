"""Parsing of PFC3D text (and FISH binary) tables into numpy / pandas, with errors that
name the file and the line.

Every reader here *parses*: numbers go through the C parsers of pyarrow, pandas or
numpy, strings stay strings. Nothing is evaluated or unpickled.

The fast paths parse whole files at once. When they find a problem (a wrong column
count, a token that is not a number, NaN, ...) a slow line-by-line diagnosis runs over
the same file to name the first offending line, so good files pay nothing for it.
"""

from __future__ import annotations

import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import labquake.io.pfc3d.fish as fish
from labquake.errors import DataFormatError

#: characters that separate tokens besides whitespace (crack normals ``(nx , ny , nz )``)
_PUNCT = str.maketrans({"(": " ", ")": " ", ",": " "})

_KIND_WORDS = {"i": "an integer", "f": "a number", "s": "a name"}


@dataclass(frozen=True)
class Layout:
    """A whitespace-separated PFC layout: base columns (name, kind) in order.

    ``kind`` is ``"i"`` (integer), ``"f"`` (float) or ``"s"`` (string). Rows may carry
    extra trailing columns; every row of a file must have the same number of columns.
    ``variable`` layouts (contact histories) have ``step`` then one column per contact.
    """

    key: str
    columns: tuple[tuple[str, str], ...]
    description: str
    punctuation: bool = False  # strip ( , ) before splitting
    variable: bool = False

    @property
    def names(self) -> list[str]:
        return [c[0] for c in self.columns]

    @property
    def width(self) -> int:
        return len(self.columns)

    def spec(self) -> str:
        return " ".join(self.names)


def _f(names: str) -> list[tuple[str, str]]:
    return [(n, "f") for n in names.split()]


LAYOUTS: dict[str, Layout] = {
    "crk": Layout("crk", (("step", "i"), *_f("x y z"), ("type", "s"), *_f("nx ny nz")),
                  "crack file: step x y z type (nx , ny , nz )", punctuation=True),
    "ae": Layout("ae", (("id", "i"), ("step", "i"), *_f("x y z M11 M12 M22 M31 M32 M33"), ("cluster_id", "i")),
                 "per-crack moment tensors: id step x y z M11 M12 M22 M31 M32 M33 cluster_id"),
    "ms": Layout("ms", (("id", "i"), ("step_start", "i"), ("step_end", "i"),
                        *_f("x y z radius mag M11 M12 M22 M31 M32 M33 iso dev"), ("n_ae", "i")),
                 "clustered events: id step_start step_end x y z radius mag M11 M12 M22 M31 M32 M33 iso dev n_ae"),
    "hist": Layout("hist", (("step", "f"),), "contact history: step f_1 ... f_n", variable=True),
    "c_model": Layout("c_model", (("model", "s"),), "contact models: one model name per monitored contact"),
    "b_coord": Layout("b_coord", tuple(_f("ax ay az bx by bz")),
                      "ball coordinates: x y z of both balls of each monitored contact"),
    "global_step": Layout("global_step", (("step", "f"),), "recorded steps: one step per line"),
    "sj": Layout("sj", tuple(_f("x y z radius area kn ks ax ay az bx by bz")),
                 "smooth joints: x y z radius area kn ks, then x y z of both balls"),
}


# --------------------------------------------------------------------------------------
# Raw input
# --------------------------------------------------------------------------------------


def read_source(path: str | os.PathLike) -> bytes:
    path = Path(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None


_NONSPACE = re.compile(rb"\S")


def _is_blank(data: bytes) -> bool:
    return _NONSPACE.search(data) is None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _lines_with_numbers(text: str):
    """(line number, stripped line) for every non-blank line."""
    for n, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if s:
            yield n, s


def _token_ok(tok, kind: str) -> str | None:
    """None if ``tok`` fits ``kind``; else a short reason."""
    if kind == "s":
        return None
    if isinstance(tok, (int, float)) and not isinstance(tok, bool):
        v = float(tok)
    else:
        try:
            v = float(tok)
        except (TypeError, ValueError):
            return f"cannot read {str(tok)!r} as {_KIND_WORDS[kind]}"
    if not math.isfinite(v):
        return f"value {str(tok)!r} is not a finite number (NaN or infinite)"
    if kind == "i" and v != int(v):
        return f"value {str(tok)!r} is not an integer"
    return None


def _col_label(i: int, names: list[str]) -> str:
    return f"column {i + 1} ({names[i]})" if i < len(names) and names[i] else f"column {i + 1}"


def _cols_desc(names: list[str], k: int) -> str:
    if names and names[0] == "step" and len(names) > 1 and names[1] == "c1":
        return f"step + {k - 1} contact{'s' if k != 2 else ''}"
    if k <= 12:
        return " ".join(names[:k])
    return f"{' '.join(names[:3])} ... {names[k - 1]}"


def diagnose_rows(rows, where: str, names: list[str], kinds: list[str], ncols: int | None,
                  min_cols: int, unit: str = "line") -> str | None:
    """Walk ``rows`` = iterable of (position, tokens) and return the first problem.

    ``ncols``: the exact column count required (None: the first row's count, which must be
    at least ``min_cols``). Column kinds beyond ``kinds`` are numbers.
    """
    expected = ncols
    for pos, toks in rows:
        n = len(toks)
        if expected is None:
            if n < min_cols:
                return (f"{where}, {unit} {pos}: expected at least {min_cols} columns "
                        f"({_cols_desc(names, min_cols)}), found {n}")
            expected = n
        if n != expected:
            what = f" ({_cols_desc(names, expected)})" if expected <= len(names) else ""
            return f"{where}, {unit} {pos}: expected {expected} columns{what}, found {n}"
        for i, tok in enumerate(toks):
            kind = kinds[i] if i < len(kinds) else "f"
            why = _token_ok(tok, kind)
            if why:
                return f"{where}, {unit} {pos}, {_col_label(i, names)}: {why}"
    return None


def _text_rows(text: str, punctuation: bool):
    for n, s in _lines_with_numbers(text):
        if punctuation:
            s = s.translate(_PUNCT)
        yield n, s.split()


def row_line_numbers(text: str) -> list[int]:
    """Line number of each data row (non-blank lines) of a text file."""
    return [n for n, _ in _lines_with_numbers(text)]


# --------------------------------------------------------------------------------------
# Whole-file parsers
# --------------------------------------------------------------------------------------


@dataclass
class Parsed:
    """A parsed file: ``frame`` (columns named after the layout, extras ``extra_<k>``),
    and how to turn a row index into a position for error messages."""

    frame: pd.DataFrame
    where: str
    binary: bool
    _text: str | None = None
    _records: list[int] | None = None  # binary: first record number of each row
    _row_lines: list[int] | None = None
    _data: bytes | None = None  # raw text, decoded only when a position is needed
    _skip: int = 0  # header rows before the data rows

    def position(self, row: int) -> str:
        """``line N`` (text) or ``record N`` (FISH binary) of data row ``row`` (0-based)."""
        if self.binary:
            if self._records is not None and row < len(self._records):
                return f"record {self._records[row]}"
            return f"row {row + 1}"
        if self._row_lines is None:
            if self._text is None and self._data is not None:
                self._text = _decode(self._data)
            self._row_lines = row_line_numbers(self._text or "")[self._skip:]
        if row < len(self._row_lines):
            return f"line {self._row_lines[row]}"
        return f"row {row + 1}"

    def error(self, row: int, msg: str) -> DataFormatError:
        return DataFormatError(f"{self.where}, {self.position(row)}: {msg}")


def _empty_error(where: str, layout: Layout) -> DataFormatError:
    return DataFormatError(f"{where}, line 1: empty file (expected {layout.description})")


def _names_for(layout: Layout, ncols: int, extra_names=()) -> list[str]:
    names = list(layout.names)
    if layout.variable:
        names += [f"c{j}" for j in range(1, ncols - len(names) + 1)]
        return names[:ncols]
    extra = list(extra_names)
    for k in range(len(names), ncols):
        j = k - len(layout.names)
        names.append(extra[j] if j < len(extra) else f"extra_{k + 1}")
    return names[:ncols]


def parse_layout(path: str | os.PathLike, layout: Layout, *, ncols: int | None = None,
                 extra_names=(), data: bytes | None = None) -> Parsed:
    """Parse a PFC text or FISH binary file into a DataFrame.

    ``ncols``: exact column count (variable layouts: 1 + number of contacts), or None for
    "the first row decides, at least the layout's base columns". Numeric columns come back
    as float64 (integers checked to be integral), string columns as object.
    """
    path = Path(path)
    where = str(path)
    if data is None:
        data = read_source(path)
    if _is_blank(data):
        raise _empty_error(where, layout)
    if data[:4] == fish._MAGIC_BYTES:
        return _parse_binary(data, where, layout, ncols, extra_names)
    if b"\0" in data[:4096]:
        raise DataFormatError(
            f"{where}: binary data, neither text nor a FISH binary file (no magic number {fish.FISH_MAGIC} "
            f"at the start: damaged or truncated?)")
    kinds = [k for _, k in layout.columns]
    numeric = all(k != "s" for k in kinds)
    if numeric:
        mat = _numeric_fast(data, ncols)
        if mat is None:
            mat = _numeric_pandas(data)
        if mat is not None:
            ok = mat.shape[1] >= layout.width and (ncols is None or mat.shape[1] == ncols)
            if ok and mat.size and not np.isfinite(mat).all():
                ok = False
            if ok and mat.shape[0]:
                for i, k in enumerate(kinds):
                    if k == "i" and not np.array_equal(mat[:, i], np.round(mat[:, i])):
                        ok = False
            if ok:
                names = _names_for(layout, mat.shape[1], extra_names)
                frame = pd.DataFrame(mat, columns=names, copy=False)
                return Parsed(frame, where, False, _data=data)
        _raise_diagnosis(_decode(data), where, layout, ncols, extra_names)
    # mixed numbers and names (crack files, contact models)
    text = _decode(data)
    src = text.translate(_PUNCT) if layout.punctuation else text
    first_line = next(_lines_with_numbers(src))[1]
    k = len(first_line.split())
    if k < layout.width or (ncols is not None and k != ncols):
        _raise_diagnosis(text, where, layout, ncols, extra_names)
    full_kinds = [kinds[i] if i < len(kinds) else "f" for i in range(k)]
    try:
        frame = pd.read_csv(io.StringIO(src), sep=r"\s+", header=None, engine="c", skip_blank_lines=True,
                            names=list(range(k)), keep_default_na=False, na_values=[],
                            dtype={i: (str if kd == "s" else np.float64) for i, kd in enumerate(full_kinds)})
    except (pd.errors.ParserError, ValueError):
        _raise_diagnosis(text, where, layout, ncols, extra_names)
        raise  # pragma: no cover
    names = _names_for(layout, k, extra_names)
    out = {}
    for i, name in enumerate(names):
        col = frame[i]
        if full_kinds[i] == "s":
            if (col.isna() | (col == "")).any():
                _raise_diagnosis(text, where, layout, ncols, extra_names)
            out[name] = col.astype(object)
            continue
        vals = col.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(vals)
        if full_kinds[i] == "i":
            bad |= np.isfinite(vals) & (vals != np.round(np.nan_to_num(vals)))
        if bad.any():
            _raise_diagnosis(text, where, layout, ncols, extra_names)
        out[name] = vals
    return Parsed(pd.DataFrame(out), where, False, _text=text)


def _raise_diagnosis(text: str, where: str, layout: Layout, ncols, extra_names) -> None:
    kinds = [k for _, k in layout.columns]
    names = list(layout.names)
    if ncols is not None:
        names = _names_for(layout, ncols, extra_names)
    elif layout.variable:  # name the contact columns after the first row's count
        first = next(_text_rows(text, False), (0, []))[1]
        names = _names_for(layout, max(len(first), 1), extra_names)
    msg = diagnose_rows(_text_rows(text, layout.punctuation), where, names, kinds, ncols, layout.width)
    if msg is None:  # pragma: no cover - the fast checks and the diagnosis disagree
        msg = f"{where}: cannot parse as {layout.description}"
    raise DataFormatError(msg)


def _numeric_fast(data: bytes, ncols: int | None = None) -> np.ndarray | None:
    """Whole-file parse of a table of numbers with pyarrow's CSV parser, for
    single-space separated rows (the layout FISH scripts and labquake's exports write). Returns an (n, k) float64 array
    (Fortran order: one contiguous column per field), or None when neither applies (the
    caller falls back to pandas and, on a problem, to the line-by-line diagnosis)."""
    m = _NONSPACE.search(data)
    if m is None:
        return None
    end = data.find(b"\n", m.start())
    k = len(data[m.start(): end if end >= 0 else len(data)].split())
    if ncols is not None and k != ncols:
        return None
    head = data[:1 << 16]
    if (b"\t" in head or b"  " in head or head.startswith(b" ") or b"\n " in head or b" \n" in head
            or b" \r" in head or b"," in head or b"\n\n" in head):
        return None
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover
        return None
    names = [f"f{i}" for i in range(k)]
    try:
        # single-threaded with ~1 MB blocks is the fastest here; files are parsed in parallel
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 20),
            parse_options=pacsv.ParseOptions(delimiter=" ", quote_char=False, double_quote=False,
                                             escape_char=False),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.float64() for n in names},
                                                 strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if table.num_rows == 0:
        return None
    out = np.empty((k, table.num_rows), dtype=np.float64)
    for i, col in enumerate(table.columns):
        if col.null_count:
            return None
        out[i] = col.to_numpy()
    return out.T


def _numeric_pandas(data: bytes) -> np.ndarray | None:
    try:
        frame = pd.read_csv(io.BytesIO(data), sep=r"\s+", header=None, engine="c", dtype=np.float64,
                            skip_blank_lines=True)
    except (pd.errors.ParserError, ValueError, pd.errors.EmptyDataError):
        return None
    return frame.to_numpy(dtype=np.float64)


# --------------------------------------------------------------------------------------
# FISH binary
# --------------------------------------------------------------------------------------


def _parse_binary(data: bytes, where: str, layout: Layout, ncols, extra_names) -> Parsed:
    values, types = fish.decode_fish_bytes(data, where)
    if not values:
        raise DataFormatError(f"{where}, record 1: FISH binary file holds no records (expected {layout.description})")
    lines = fish.fish_to_lines(values, types)
    if lines is not None and (len(layout.columns) > 1 or layout.variable or any(" " in s.strip() for s in lines)):
        # a FISH script that wrote text lines in binary mode: one string record per row
        text = "\n".join(lines)
        parsed = parse_layout(where, layout, ncols=ncols, extra_names=extra_names, data=text.encode("utf-8"))
        parsed.binary = True
        parsed._records = [i + 1 for i, s in enumerate(lines) if s.strip()]
        return parsed
    tokens, recs = fish.flatten_fish_tokens(values, types)
    kinds = [k for _, k in layout.columns]
    width = ncols if ncols is not None else layout.width
    if layout.variable and ncols is None:
        raise DataFormatError(
            f"{where}: a FISH binary contact history needs the number of monitored contacts "
            f"(give a c_model file for this trial, or set n_contacts in the import config)"
        )
    if len(tokens) % width:
        row = len(tokens) // width
        raise DataFormatError(
            f"{where}, record {recs[row * width]}: {len(tokens)} values do not fill rows of {width} columns "
            f"({layout.spec()}); the last row has {len(tokens) % width}"
        )
    names = _names_for(layout, width, extra_names)
    rows = [(recs[r * width], tokens[r * width:(r + 1) * width]) for r in range(len(tokens) // width)]
    # type checks: string columns must hold strings, numeric columns numbers
    full_kinds = [kinds[i] if i < len(kinds) else "f" for i in range(width)]
    for pos, toks in rows:
        for i, tok in enumerate(toks):
            k = full_kinds[i]
            if k == "s" and not isinstance(tok, str):
                raise DataFormatError(f"{where}, record {pos}, {_col_label(i, names)}: expected a name, found {tok!r}")
            if k != "s":
                if isinstance(tok, str):
                    raise DataFormatError(f"{where}, record {pos}, {_col_label(i, names)}: expected a number, found {tok!r}")
                why = _token_ok(tok, k)
                if why:
                    raise DataFormatError(f"{where}, record {pos}, {_col_label(i, names)}: {why}")
    out = {}
    for i, name in enumerate(names):
        col = [toks[i] for _, toks in rows]
        out[name] = np.asarray(col, dtype=object) if full_kinds[i] == "s" else np.asarray(col, dtype=np.float64)
    return Parsed(pd.DataFrame(out), where, True, _records=[pos for pos, _ in rows])


# --------------------------------------------------------------------------------------
# Tables with a header row (stress histories, generic ball / contact tables)
# --------------------------------------------------------------------------------------


def parse_header_table(path: str | os.PathLike, what: str, string_columns=()) -> Parsed:
    """A CSV (comma) or whitespace-separated table with a header row.

    Returns the raw frame with the header names stripped of quotes and spaces. Numeric
    columns (every column not named in ``string_columns``, compared case-insensitively)
    must hold finite numbers.
    """
    path = Path(path)
    where = str(path)
    data = read_source(path)
    if _is_blank(data):
        raise DataFormatError(f"{where}, line 1: empty file (expected {what})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    first = next(iter(_lines_with_numbers(text)))[1]
    comma = "," in first
    sep = "," if comma else r"\s+"
    header = [h.strip().strip('"').strip("'").strip() for h in (_split(first, comma))]
    strs = {s.lower() for s in string_columns}
    kinds = ["s" if h.lower() in strs else "f" for h in header]
    nh = len(header)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, header=0, engine="c", names=list(range(nh)),
                            dtype={i: (str if k == "s" else np.float64) for i, k in enumerate(kinds)},
                            keep_default_na=False, na_values=[], skipinitialspace=True)
    except (pd.errors.ParserError, ValueError):
        frame = None
    bad = frame is None or len(frame) == 0
    if not bad:
        for i, k in enumerate(kinds):
            col = frame[i]
            if k == "s":
                bad = bool((col.isna() | (col.astype(str).str.strip() == "")).any())
            else:
                bad = not np.isfinite(col.to_numpy(dtype=np.float64)).all()
            if bad:
                break
    if bad:
        msg = _diagnose_header_table(text, where, header, kinds, comma)
        raise DataFormatError(msg or f"{where}: cannot parse as {what}")
    out = {}
    for i, (h, k) in enumerate(zip(header, kinds)):
        col = frame[i]
        out[h] = col.astype(str).str.strip().str.strip('"').astype(object) if k == "s" else col.to_numpy(np.float64)
    return Parsed(pd.DataFrame(out), where, False, _text=text, _skip=1)


def _split(line: str, comma: bool) -> list[str]:
    return [t.strip() for t in line.split(",")] if comma else line.split()


def _diagnose_header_table(text, where, header, kinds, comma) -> str | None:
    rows = []
    it = _lines_with_numbers(text)
    next(it)
    for n, s in it:
        rows.append((n, [t.strip().strip('"') for t in _split(s, comma)]))
    if not rows:
        return f"{where}, line 2: no data rows after the header"
    return diagnose_rows(rows, where, header, kinds, len(header), len(header))
