"""MOSFLM orientation matrix (-mat, C 1880-1896): three fscanf("%lg%lg%lg") calls."""
from .cscan import CStream


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
    stream = CStream(data)
    out = []
    for _row in range(3):
        count, vals = stream.scanf("%lg%lg%lg")
        out.extend(vals + [None] * (3 - len(vals)))
    return out
