"""nanoBragg's read_text_file (C 3867-3967): whitespace/punctuation separated columns, for the
-sourcefile (X Y Z I lambda) and the -stol/-4stol/-Q files.

Kept exactly: blank lines are skipped; any other line is one row; a token that is not a number reads as
0 (C's atof), so comment lines become rows of zeros (quirk B14); a last line without a newline fills its
missing columns with 0 instead of leaving them NaN.
"""
import math

from ..errors import NanoBraggError

DELIMITERS = " \t,;:!"
NUMBERSTUFF = "0123456789-+.EGeg"


def _span(s, i, chars):
    while i < len(s) and s[i] in chars:
        i += 1
    return i


def _cspan(s, i, chars):
    while i < len(s) and s[i] not in chars:
        i += 1
    return i


def read_text_file(path, ncols):
    """List of `ncols` lists of floats (NaN where a line gave no value for a column)."""
    from ..cli.argv import c_atof
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("latin-1")
    except OSError as e:
        raise NanoBraggError("%s: cannot read (%s)" % (path, e.strerror)) from None
    # fgets splits at '\n' only
    parts = text.split("\n")
    lines = [x + "\n" for x in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    cols = [[] for _ in range(ncols)]
    for line in lines:
        t = _span(line, 0, DELIMITERS)
        if line[t:] == "\n":
            continue
        row = [math.nan] * ncols
        i = 0
        while True:
            row[i] = c_atof(line[t:])
            t = _span(line, t, NUMBERSTUFF)
            if line[t:] == "\n":
                break
            t = _cspan(line, t, DELIMITERS)
            t = _span(line, t, DELIMITERS)
            if line[t:] == "\n":
                break
            i += 1
            if i >= ncols:
                break
        for c in range(ncols):
            cols[c].append(row[c])
    return cols
