"""MOSFLM orientation matrix (-mat): the first nine numbers, read as C's fscanf("%lg%lg%lg") x3."""
from .cscan import Scanner


def read_mat(path):
    """Nine numbers (row i = x, y, z; columns a*, b*, c*), None for any C could not read; None if
    the file cannot be opened (nanoBragg ignores a missing -mat file, quirk B7)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    sc = Scanner(data)
    out = []
    for _row in range(3):
        ok = True
        for _ in range(3):
            v = sc.lg() if ok else None
            ok = v is not None
            out.append(v)
    return out
