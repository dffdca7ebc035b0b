"""MOSFLM orientation matrix (-mat, C 1880-1896): three fscanf("%lg%lg%lg") calls."""
from .cscan import CStream


def scan_mat(data):
    """C's three fscanf("%lg%lg%lg") calls over the bytes of a matrix file: (the nine values in file
    order, None where a call stopped short, and the offset where the first short call stopped, or
    None when all nine were read)."""
    stream = CStream(data)
    out, stopped = [], None
    for _row in range(3):
        count, vals = stream.scanf("%lg%lg%lg")
        out.extend(vals + [None] * (3 - len(vals)))
        if count != 3 and stopped is None:
            stream.skip_space()
            stopped = stream.pos
    return out, stopped


def read_mat(path):
    """The nine numbers C stores, in file order: [a*x, b*x, c*x, a*y, b*y, c*y, a*z, b*z, c*z].

    None where C's fscanf left that component unassigned (it then keeps its previous value, the
    -cell one or 0); each of the three calls goes on from where the previous one stopped.
    Returns None when the file cannot be opened: nanoBragg ignores it silently (quirk B7).
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except IsADirectoryError:
        data = b""  # fopen() of a folder succeeds on Linux ("reading ..." is printed), fscanf fails
    except OSError:
        return None
    return scan_mat(data)[0]
