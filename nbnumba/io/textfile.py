"""nanoBragg's read_text_file (C 3867-3967): rows of delimiter-separated numbers, for -sourcefile
(X Y Z I lambda) and the -stol/-4stol/-Q files (stol F).

Reproduced exactly: lines are what fgets() returns from a 10240-byte buffer (a longer line is cut
into several) and end at a NUL byte; a line holding only delimiters before its "\\n" is skipped;
every other line is one row, NaN where no value was stored. Each value is C's atof of the text
(0 if none), so a comment or text line becomes a row of zeros, and a line that does not end in
exactly "\\n" (last line without newline, CRLF) gets 0 instead of NaN in the columns it lacks
(quirk B14).
"""
import numpy as np

from ..errors import NanoBraggError
from .cscan import atof, c_string

DELIMITERS = frozenset(b" \t,;:!")
NUMBERSTUFF = frozenset(b"0123456789-+.EGeg")
FGETS_SIZE = 10240


def _fgets_lines(data):
    """The strings successive fgets(text, 10240, file) calls give."""
    pos, n = 0, len(data)
    while pos < n:
        nl = data.find(b"\n", pos, pos + FGETS_SIZE - 1)
        end = nl + 1 if nl >= 0 else min(pos + FGETS_SIZE - 1, n)
        yield c_string(data[pos:end])
        pos = end


def _span(s, i, accept):
    while i < len(s) and s[i] in accept:
        i += 1
    return i


def _cspan(s, i, reject):
    while i < len(s) and s[i] not in reject:
        i += 1
    return i


def _row(s, start, ncols):
    """The values C stores for one line, column by column (C 3919-3950)."""
    values = []
    t = start
    while True:
        values.append(atof(s, t))
        t = _span(s, t, NUMBERSTUFF)
        if s[t:] == b"\n":
            break
        t = _span(s, _cspan(s, t, DELIMITERS), DELIMITERS)
        if s[t:] == b"\n" or len(values) >= ncols:
            break
    return values


def read_text_file(path, ncols):
    """A list of `ncols` float64 arrays, one entry per counted line (all empty if C counts none).

    An unreadable file raises NanoBraggError: C prints perror("fopen()") and returns 0 lines, and
    both of its callers then exit 9.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except IsADirectoryError:
        data = b""  # fopen() works on a folder in Linux, fgets() then fails: 0 lines
    except OSError as e:
        raise NanoBraggError("%s: %s" % (path, e.strerror)) from None
    rows = []
    for s in _fgets_lines(data):
        t = _span(s, 0, DELIMITERS)
        if s[t:] == b"\n":
            continue
        rows.append(_row(s, t, ncols))
    cols = [np.full(len(rows), np.nan) for _ in range(ncols)]
    for line, values in enumerate(rows):
        for i, v in enumerate(values):
            cols[i][line] = v
    return cols
