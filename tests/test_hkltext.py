"""The compiled one-pass reader of plain hkl files: it accepts exactly the plain grammar, reads
every index and F as C's fscanf/strtod would, and gives the same table as the fscanf emulation."""
import random
import re

import numpy as np
import pytest

from nbnumba.io import hkl as H
from nbnumba.kernels.layout import HKL_NOT_PLAIN, HKL_SLOW_F
from nbnumba.kernels.native import kernel

# the plain grammar, written as a regular expression (the definition the scan implements)
PLAIN = re.compile(rb"(?:\s*[+-]?[0-9]{1,9}\s+[+-]?[0-9]{1,9}\s+[+-]?[0-9]{1,9}\s+"
                   rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?(?=\s|\Z))*\s*\Z")


def scan(text):
    data = text.encode() if isinstance(text, str) else text
    cap = (len(data) + 1) // 8 + 1
    hkl = np.zeros((cap, 3), np.int64)
    F = np.zeros(cap)
    n = kernel("hkl_scan")(np.frombuffer(data, np.uint8), hkl, F)
    return n, hkl[:max(n, 0)], F[:max(n, 0)]


def _random_F(r, short=False):
    v = r.choice([r.uniform(0, 1000), r.expovariate(0.01), r.uniform(-5, 5), 10 ** r.uniform(-30, 30), 0.0])
    if short:       # what hkl files usually hold: within the fast conversion
        v = r.uniform(-1e4, 1e4)
    fmt = r.choice(["%.2f", "%g", "%.6E", "%.0f", "%.10f"] if short else
                   ["%.2f", "%g", "%.17g", "%e", "%.6E", "%.0f", "%.10f", "%r"])
    s = repr(v) if fmt == "%r" else fmt % v
    return r.choice(["", "+"]) + s if not s.startswith("-") else s


@pytest.mark.parametrize("seed, short", [(s, s % 2 == 0) for s in range(8)])
def test_random_plain_files_read_exactly(seed, short):
    r = random.Random(seed)
    rows = [(r.randint(-60, 60), r.randint(-60, 60), r.randint(-999999999, 999999999), _random_F(r, short))
            for _ in range(400)]
    seps = [" ", "  ", "\t", "\n", " \r\n", "\x0b", "\x0c"]
    text = "".join("%s%d%s%d%s%d%s%s%s" % (r.choice(["", " "]), h, r.choice(seps), k, r.choice(seps), l,
                                            r.choice(seps), f, r.choice(["\n", "\r\n", " \n", "\t"]))
                   for h, k, l, f in rows)
    assert PLAIN.match(text.encode())
    n = scan(text)[0]
    assert n == (len(rows) if short else HKL_SLOW_F)      # long random digits need the full conversion
    h, k, l, F = H._plain_records(text.encode())
    assert np.stack([h, k, l], 1).tolist() == [[h, k, l] for h, k, l, _ in rows]
    want = [float(f) for *_, f in rows]            # Python's float() rounds correctly, as strtod does
    assert [v.hex() for v in F] == [v.hex() for v in want]


@pytest.mark.parametrize("text", [
    "1.0 2 3 4", "1 2 3", "1 2 3 4 5", "1 2 3 4x", "1 2 3 .", "1 2 3 1e", "1 2 3 1e+", "1234567890 0 0 1",
    "1 2 3 nan", "1 2 3 inf", "1 2 3 4\x00", "1 2 3 4\n5 6 7", "1 2 3 -", "+ 2 3 4", "1 2 3 4.5.6",
    "1 2 3 0x10", "1,2,3,4", "1 2 3 4 # comment", "\xa01 2 3 4", "1 2 3 ++4", "1 2 3 4e5e6",
])
def test_what_is_not_plain_is_refused(text):
    data = text.encode("latin-1")
    assert not PLAIN.match(data)
    assert scan(data)[0] == HKL_NOT_PLAIN


@pytest.mark.parametrize("text, want", [
    ("", []), ("  \n\t ", []), ("0 0 0 -0.0", [-0.0]), ("0 0 0 0e999", [0.0]), ("1 2 3 .5", [0.5]),
    ("1 2 3 5.", [5.0]), ("-1 -2 -3 +7.25e-3\n", [7.25e-3]), ("1 2 3 1e22", [1e22]), ("1 2 3 9007199254740991", [9007199254740991.0]),
    ("1 2 3 0.0000000000000000000001", [1e-22]),
])
def test_edge_values(text, want):
    n, _, F = scan(text)
    assert n == len(want)
    assert [v.hex() for v in F] == [float(w).hex() for w in want]


@pytest.mark.parametrize("F", ["1.234567890123456789012", "1e300", "2.5e-300", "9007199254740993", "1e23",
                               "100000000000000000000.0", "123456789012345678"])
def test_an_f_beyond_the_fast_conversion_is_flagged(F):
    assert scan("1 2 3 4\n5 6 7 %s\n" % F)[0] == HKL_SLOW_F


@pytest.mark.parametrize("F", ["1.234567890123456789012", "1e300", "9007199254740993", "1e23", "-0.0"])
def test_read_hkl_same_table_both_ways(tmp_path, monkeypatch, F):
    r = random.Random(F)
    lines = ["%d %d %d %s" % (r.randint(-9, 9), r.randint(-9, 9), r.randint(-9, 9), _random_F(r)) for _ in range(300)]
    lines.insert(100, "3 -4 5 %s" % F)
    lines.append(lines[7].rsplit(" ", 1)[0] + " 42.5")      # a repeated index: the last record wins
    path = tmp_path / "t.hkl"
    path.write_text("\n".join(lines) + "\n")
    logs = ([], [])
    fast = H.read_hkl(str(path), 1.5, logs[0].append)
    monkeypatch.setattr(H, "_plain_records", lambda data: None)     # C's two fscanf passes
    slow = H.read_hkl(str(path), 1.5, logs[1].append)
    assert logs[0] == logs[1]
    assert (fast.h_min, fast.h_max, fast.k_min, fast.k_max, fast.l_min, fast.l_max, fast.hkls) == \
        (slow.h_min, slow.h_max, slow.k_min, slow.k_max, slow.l_min, slow.l_max, slow.hkls)
    assert fast.Fhkl.tobytes() == slow.Fhkl.tobytes()
