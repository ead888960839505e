"""A numba parser for whitespace-separated tables of decimal numbers (the big PFC3D
contact-history files: a step column then one column per contact).

Numbers with at most 15 significant digits and a decimal exponent within ±22 take the
exact fast path of decimal → binary conversion (Clinger 1990): one correctly rounded
multiplication or division, so the result equals what ``strtod`` gives. The few other
numbers (more digits, tiny or huge exponents) are converted afterwards by Python's
``float`` from their bytes. Anything that is not a plain decimal number (``nan``, a
letter, a ragged row, a blank line) makes the parser give up: the caller then falls back
to pyarrow / pandas and, for errors, to the line-by-line diagnosis that names the line.
PFC writes about 6-7 significant digits, so its files take this path; labquake's exact
exports (up to 17 digits) mostly take pyarrow's.
"""

from __future__ import annotations

import numpy as np

try:  # numba is a core dependency; keep the module importable without it all the same
    from numba import njit
except ImportError:  # pragma: no cover
    njit = None

OK, FALLBACK = 0, 1
_MAX_FIXUPS = 1 << 16

_POW10 = np.array([10.0 ** k for k in range(23)])


def _convert_impl(buf, s, e, pow10):  # pragma: no cover - compiled by numba
    """(value, status) of the token buf[s:e]; status 0 exact, 1 needs strtod, 2 invalid."""
    i = s
    neg = False
    if buf[i] == 45 or buf[i] == 43:
        neg = buf[i] == 45
        i += 1
    mant = 0
    sig = 0  # significant digits in mant
    pending = 0  # zeros after the last non-zero digit, not yet in mant
    exp10 = 0
    ndig = 0
    frac = False
    slow = False
    while i < e:
        b = buf[i]
        if b == 46 and not frac:  # '.'
            frac = True
            i += 1
            continue
        if b < 48 or b > 57:
            break
        d = b - 48
        if frac:
            exp10 -= 1
        if d == 0:
            if mant != 0:
                pending += 1
        elif not slow:
            if sig + pending + 1 > 15:
                slow = True
            else:
                for _ in range(pending):
                    mant *= 10
                mant = mant * 10 + d
                sig += pending + 1
                pending = 0
        ndig += 1
        i += 1
    if ndig == 0:
        return 0.0, 2
    exp10 += pending  # trailing zeros of the digit string
    if i < e:
        if not (buf[i] == 101 or buf[i] == 69):  # e / E
            return 0.0, 2
        i += 1
        eneg = False
        if i < e and (buf[i] == 45 or buf[i] == 43):
            eneg = buf[i] == 45
            i += 1
        x = 0
        edig = 0
        while i < e and 48 <= buf[i] <= 57:
            if x < 100000:
                x = x * 10 + (buf[i] - 48)
            edig += 1
            i += 1
        if edig == 0 or i != e:
            return 0.0, 2
        exp10 += -x if eneg else x
    if slow:
        return 0.0, 1
    if mant == 0:
        v = 0.0
    elif 0 <= exp10 <= 22:
        v = float(mant) * pow10[exp10]
    elif -22 <= exp10 < 0:
        v = float(mant) / pow10[-exp10]
    else:
        return 0.0, 1
    return (-v if neg else v), 0


def _parse_impl(buf, nrows, ncols, pow10, fix):  # pragma: no cover - compiled by numba
    out = np.empty((ncols, nrows))
    n = buf.shape[0]
    nfix = 0
    i = 0
    row = 0
    col = 0
    while i < n:
        c = buf[i]
        if c == 32 or c == 9 or c == 13:  # space, tab, CR
            i += 1
            continue
        if c == 10:  # end of a row
            if col != ncols:  # ragged row or blank line
                return out, FALLBACK, nfix
            row += 1
            col = 0
            i += 1
            continue
        if col >= ncols or row >= nrows:
            return out, FALLBACK, nfix
        s = i
        while i < n and not (buf[i] == 32 or buf[i] == 9 or buf[i] == 13 or buf[i] == 10):
            i += 1
        v, st = _convert(buf, s, i, pow10)
        if st == 2:
            return out, FALLBACK, nfix
        if st == 1:
            if nfix == fix.shape[0]:
                return out, FALLBACK, nfix
            fix[nfix, 0] = s
            fix[nfix, 1] = i
            fix[nfix, 2] = col
            fix[nfix, 3] = row
            nfix += 1
            v = 0.0
        out[col, row] = v
        col += 1
    if col != 0:
        if col != ncols:
            return out, FALLBACK, nfix
        row += 1
    if row != nrows:
        return out, FALLBACK, nfix
    return out, OK, nfix


if njit is not None:
    _convert = njit(cache=True, nogil=True, inline="always")(_convert_impl)
    _parse = njit(cache=True, nogil=True)(_parse_impl)
else:  # pragma: no cover
    _convert = _parse = None


def parse_numbers(data: bytes, ncols: int) -> np.ndarray | None:
    """Parse ``data`` (rows of ``ncols`` decimal numbers, whitespace-separated) into an
    (nrows, ncols) float64 array in Fortran order, or return None when the file is not a
    plain table of decimal numbers (the caller then uses the general parsers)."""
    if _parse is None or ncols < 1 or not data:
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    nrows = int(np.count_nonzero(buf == 10)) + (1 if buf[-1] != 10 else 0)
    fix = np.empty((_MAX_FIXUPS, 4), dtype=np.int64)
    out, status, nfix = _parse(buf, nrows, ncols, _POW10, fix)
    if status != OK:
        return None
    for s, e, c, r in fix[:nfix].tolist():
        out[c, r] = float(data[s:e])
    return out.T
