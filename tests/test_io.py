"""nbnumba.io against nanoBragg.c's files: golden outputs, and small files the C program (or its exact
reading code compiled against glibc) produced, kept in tests/data/io/."""
import math
import os
import shlex
import struct
from pathlib import Path

import numpy as np
import pytest

from nbnumba.errors import NanoBraggError
from nbnumba.io import atomic as atomic_mod
from nbnumba.io.atomic import atomic_write
from nbnumba.io.cscan import CStream, c_g, strtod
from nbnumba.io.fdump import fdump_bytes, read_fdump, write_fdump
from nbnumba.io.hkl import HklTable, read_hkl
from nbnumba.io.matrix import read_mat
from nbnumba.io.pgm import read_pgm, write_pgm
from nbnumba.io.rawfloat import read_float_image, write_float_image
from nbnumba.io.smv import read_smv, smv_header, value_of, write_smv
from nbnumba.io.textfile import read_text_file

from conftest import GOLDEN, golden_cases

DATA = Path(__file__).resolve().parent / "data" / "io"
INPUTS = GOLDEN / "inputs"
NAN = math.nan


def bits(a):
    return np.asarray(a, dtype="<f8").tobytes()


# ---------------------------------------------------------------- SMV

def _smv_parts(path):
    raw = path.read_bytes()
    text = raw[:raw.index(b"}\f")].decode()
    kv = dict(line.split("=", 1) for line in text.split("\n")[1:] if "=" in line)
    npx = int(kv["SIZE1"].rstrip(";")) * int(kv["SIZE2"].rstrip(";"))
    return raw[:len(raw) - 2 * npx], {k: v.rstrip(";") for k, v in kv.items()}, raw[len(raw) - 2 * npx:]


def _header_from(kv):
    f = lambda k: float(kv[k])  # noqa: E731
    return smv_header(
        fpixels=int(kv["SIZE1"]), spixels=int(kv["SIZE2"]), pixel_size_mm=f("PIXEL_SIZE"),
        distance_mm=f("DISTANCE"), wavelength_A=f("WAVELENGTH"), beam_center_x_mm=f("BEAM_CENTER_X"),
        beam_center_y_mm=f("BEAM_CENTER_Y"), adxv_center_x_mm=f("ADXV_CENTER_X"),
        adxv_center_y_mm=f("ADXV_CENTER_Y"), mosflm_center_x_mm=f("MOSFLM_CENTER_X"),
        mosflm_center_y_mm=f("MOSFLM_CENTER_Y"), denzo_x_beam_mm=f("DENZO_X_BEAM"),
        denzo_y_beam_mm=f("DENZO_Y_BEAM"), dials_origin_mm=[float(x) for x in kv["DIALS_ORIGIN"].split(",")],
        xds_orgx=f("XDS_ORGX"), xds_orgy=f("XDS_ORGY"), close_distance_mm=f("CLOSE_DISTANCE"),
        phi_deg=f("PHI"), osc_start_deg=f("OSC_START"), osc_range_deg=f("OSC_RANGE"), twotheta_deg=f("TWOTHETA"))


GOLDEN_SMV = sorted(p for p in (GOLDEN / "cases").glob("*/*image.img"))


@pytest.mark.parametrize("path", GOLDEN_SMV, ids=lambda p: "%s/%s" % (p.parent.name, p.name))
def test_smv_header_bytes_match_golden(path):
    header, kv, _ = _smv_parts(path)
    assert len(header) == 512
    assert _header_from(kv) == header


def test_smv_header_longer_than_512_is_not_padded_or_cut():
    # written by nanoBragg.c with long %g values (quirk E7): 555 header bytes, then 8x8 pixels
    path = DATA / "long_header.img"
    header, kv, pixels = _smv_parts(path)
    assert len(header) == 555 and header.endswith(b"}\f")
    assert kv["HEADER_BYTES"] == "512" and kv["DIALS_ORIGIN"] == "-0.0537864,0.0584803,-100.122"
    assert _header_from(kv) == header
    assert len(pixels) == 128


def test_smv_header_nan_and_negative_zero_like_printf():
    kw = dict(fpixels=1, spixels=1, pixel_size_mm=0.1, distance_mm=-0.0, wavelength_A=NAN,
              beam_center_x_mm=-NAN, beam_center_y_mm=math.inf, adxv_center_x_mm=1e-7, adxv_center_y_mm=123456789.0,
              mosflm_center_x_mm=0, mosflm_center_y_mm=0, denzo_x_beam_mm=0, denzo_y_beam_mm=0,
              dials_origin_mm=(1, 2, 3), xds_orgx=0, xds_orgy=0, close_distance_mm=0, phi_deg=0,
              osc_start_deg=0, osc_range_deg=0, twotheta_deg=0)
    text = smv_header(**kw)
    assert len(text) == 512
    for piece in (b"DISTANCE=-0;", b"WAVELENGTH=nan;", b"BEAM_CENTER_X=-nan;", b"BEAM_CENTER_Y=inf;",
                  b"ADXV_CENTER_X=1e-07;", b"ADXV_CENTER_Y=1.23457e+08;", b"DIALS_ORIGIN=1,2,3\n"):
        assert piece in text


def test_write_smv_round_trip(tmp_path):
    header, kv, pixels = _smv_parts(GOLDEN / "cases" / "base_mosflm" / "intimage.img")
    data = np.frombuffer(pixels, "<u2").reshape(128, 128)
    out = tmp_path / "x.img"
    write_smv(out, header, data)
    assert out.read_bytes() == (GOLDEN / "cases" / "base_mosflm" / "intimage.img").read_bytes()
    text, got = read_smv(out)
    assert text == header.decode()
    assert got.dtype == np.uint16 and np.array_equal(got, data)


def test_read_smv_golden_inputs():
    text, data = read_smv(INPUTS / "header.img")
    assert data.shape == (72, 80)
    raw = (INPUTS / "header.img").read_bytes()
    assert np.array_equal(data.reshape(-1), np.frombuffer(raw[512:512 + 2 * 80 * 72], "<u2"))
    # quirk B9: DISTANCE is read from the last match, inside CLOSE_DISTANCE=
    assert value_of(text, "DISTANCE") == 94.0
    assert value_of(text, "CLOSE_DISTANCE") == 94.0
    assert value_of(text, "PIXEL_SIZE") == 0.12 and value_of(text, "ORGX") == 40.2
    assert value_of(text, "TWOTHETA") is None
    mtext, mask = read_smv(INPUTS / "mask.img")
    w, h = int(value_of(mtext, "SIZE1")), int(value_of(mtext, "SIZE2"))
    assert mask.shape == (h, w)


def test_read_smv_c_rules(tmp_path):
    p = tmp_path / "f.img"
    # HEADER_BYTES odd and != 512: pixels start at 2*(HEADER_BYTES//2);
    # DETECTOR_DIMENSIONS stands in for SIZE1/SIZE2 when SIZE1 reads 0; BYTE_ORDER is ignored
    head = b"{\nHEADER_BYTES=601;\nBYTE_ORDER=big_endian;\nSIZE1=0;SIZE2=9;DETECTOR_DIMENSIONS=2;\n}\f".ljust(601, b" ")
    p.write_bytes(head + bytes([1, 0, 2, 0, 3, 0, 4]))
    text, data = read_smv(p)
    assert data.tolist() == [[0x0120, 0x0200], [0x0300, 0x0400]]  # as C reads it (byte 600 is a pad space)
    assert value_of(text, "HEADER_BYTES") == 601
    # C reads the pixels a short file lacks as 0; here a file shorter than its header says is refused
    p.write_bytes(head + bytes([1, 0, 2, 0, 3]))
    with pytest.raises(NanoBraggError, match="f.img: truncated SMV image.*608 bytes.*has 606"):
        read_smv(p)
    p.write_bytes(b"P5 something else".ljust(600))
    assert read_smv(p)[1] is None  # C: "does not look like an ADSC frame", skipped
    p.write_bytes(b"{\nHEADER_BYTES=512;\n")
    with pytest.raises(NanoBraggError, match="f.img"):
        read_smv(p)  # shorter than 512 bytes: C exits 9
    with pytest.raises(NanoBraggError, match="nothere.img"):
        read_smv(tmp_path / "nothere.img")


def test_value_of_semantics():
    h = "{\nA=1;\nXA=2;\nB=7\nC\nD=0x10;E=1e2x;F=;G=  -.5e1\n"
    assert value_of(h, "A") == 2.0          # last occurrence (in XA=)
    assert value_of(h, "C") == 16.0         # first '=' after the match, even on a later line
    assert value_of(h, "E") == 100.0 and value_of(h, "F") == 0.0 and value_of(h, "G") == -5.0
    assert value_of(h, "Z") is None and math.isnan(value_of(h, "Z", nan=True))
    assert value_of("{\nKEY\n", "KEY") == 0.0  # no '=' after it
    assert value_of("A=1\0A=2", "A") == 1.0  # C string: stops at NUL


# ---------------------------------------------------------------- PGM and float image

GOLDEN_PGM = sorted((GOLDEN / "cases").glob("*/image.pgm"))


@pytest.mark.parametrize("path", GOLDEN_PGM, ids=lambda p: p.parent.name)
def test_pgm_bytes_match_golden(path, tmp_path):
    raw = path.read_bytes()
    f, s, scale, pixels = read_pgm(path)
    write_pgm(tmp_path / "x.pgm", f, s, scale, pixels)
    assert (tmp_path / "x.pgm").read_bytes() == raw


def test_float_image_round_trip(tmp_path):
    src = GOLDEN / "cases" / "base_mosflm" / "floatimage.bin"
    img = read_float_image(src, 128, 128)
    write_float_image(tmp_path / "f.bin", img.reshape(-1))
    assert (tmp_path / "f.bin").read_bytes() == src.read_bytes()


# ---------------------------------------------------------------- atomic writes

def test_atomic_write_replaces_and_leaves_nothing_on_error(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    atomic_write(target, b"first")
    atomic_write(target, b"second")
    assert target.read_bytes() == b"second"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as C's fopen would create it

    def boom(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(atomic_mod.os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(target, b"third")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    with pytest.raises(OSError):
        atomic_write(tmp_path / "no" / "dir.bin", b"x")


# ---------------------------------------------------------------- hkl and Fdump

def _hkl_cases():
    for case in golden_cases():
        args = shlex.split(case["args"])
        if "-hkl" in args and (GOLDEN / "cases" / case["name"] / "Fdump.bin").exists():
            dF = float(args[args.index("-default_F") + 1]) if "-default_F" in args else 0.0
            yield case["name"], args[args.index("-hkl") + 1], dF


@pytest.mark.parametrize("name,hkl,default_F", list(_hkl_cases()))
def test_read_hkl_matches_golden_fdump_and_stdout(name, hkl, default_F):
    gdir = GOLDEN / "cases" / name
    log = []
    table = read_hkl(str(INPUTS / hkl), default_F, log.append)
    assert fdump_bytes(table) == (gdir / "Fdump.bin").read_bytes()
    stdout = (gdir / "stdout.txt").read_text().split("\n")
    start = stdout.index("counting entries in %s" % hkl)
    want = stdout[start:stdout.index("writing dump file for next time: Fdump.bin")]
    assert [line.replace(str(INPUTS / hkl), hkl) for line in log] == want
    assert "  %d initialized hkls (all others =%s)" % (table.hkls, c_g(default_F)) in stdout


@pytest.mark.parametrize("name,default_F,log_lines,hkls", [
    # index written "1.0": pass 2 stops at once, only default_F in the grid (quirk B4)
    ("idx10", 3.0, [], 3),
    # a 5th column: 20 tokens are 5 records in pass 1 and misaligned records in pass 2 (quirk B5)
    ("col5", 3.0, ["WARNING: non-integer value for h (1.25) at line 2",
                   "WARNING: non-integer value for l (0.5) at line 4"], 5),
    # a non-integer index: warned in pass 1, stops pass 2
    ("nonint", 3.0, ["WARNING: non-integer value for h (0.5) at line 1"], 4),
])
def test_read_hkl_quirks_match_c(name, default_F, log_lines, hkls):
    log = []
    path = DATA / ("hkl_%s.hkl" % name)
    table = read_hkl(str(path), default_F, log.append)
    assert log == (["counting entries in %s" % path] + log_lines
                   + ["initializing to default_F = 3:", "done initializing:", "re-reading %s" % path])
    assert table.hkls == hkls
    assert fdump_bytes(table) == (DATA / ("hkl_%s.Fdump.bin" % name)).read_bytes()


def test_read_hkl_grid_layout(tmp_path):
    p = tmp_path / "a.hkl"
    p.write_text("-1 0 2 5.5\n1 1 3 6.5\n")
    t = read_hkl(str(p), 2.0, lambda line: None)
    assert (t.h_min, t.h_max, t.h_range, t.k_min, t.k_range, t.l_min, t.l_range, t.hkls) == (-1, 1, 3, 0, 2, 2, 2, 2)
    assert t.Fhkl.shape == (4, 3, 3)
    assert t.Fhkl[0, 0, 0] == 5.5 and t.Fhkl[2, 1, 1] == 6.5 and t.Fhkl[1, 1, 1] == 2.0
    # the extra last layer on each axis stays 0 (quirk B6)
    assert not t.Fhkl[3].any() and not t.Fhkl[:, 2].any() and not t.Fhkl[:, :, 2].any()


def test_read_hkl_errors(tmp_path):
    with pytest.raises(NanoBraggError, match=r"nothere\.hkl: unable to open") as e:
        read_hkl(str(tmp_path / "nothere.hkl"), 0.0, lambda line: None)
    assert e.value.exit_code == 9
    (tmp_path / "e.hkl").write_text("# nothing\n")
    log = []
    with pytest.raises(NanoBraggError, match="not enough HKL indices in"):
        read_hkl(str(tmp_path / "e.hkl"), 1.0, log.append)
    assert log[1:] == ["h: 1000000000 - -1000000000", "k: 1000000000 - -1000000000",
                       "l: 1000000000 - -1000000000"]


def test_fdump_round_trip_golden(tmp_path):
    src = GOLDEN / "cases" / "matrix_and_cell" / "Fdump.bin"
    t = read_fdump(src)
    assert (t.h_min, t.h_max, t.h_range, t.hkls) == (-4, 4, 9, 729)
    write_fdump(tmp_path / "Fdump.bin", t)
    assert (tmp_path / "Fdump.bin").read_bytes() == src.read_bytes()
    assert np.array_equal(t.Fhkl, read_hkl(str(INPUTS / "small.hkl"), 3.0, lambda line: None).Fhkl)


def test_fdump_whitespace_quirk_matches_c(tmp_path):
    # first double 0.045 = 0a d7 a3 70 3d 0a a7 3f: C's "\n" directive eats its 0x0a byte (quirk B3),
    # so every value is read one byte off; the expected grid is what C's reading code produced
    g = np.zeros((3, 3, 3))
    for i in range(2):
        for j in range(2):
            for k in range(2):
                g[i, j, k] = 10 * i + 3 * j + k + 0.5
    g[0, 0, 0] = 0.045
    write_fdump(tmp_path / "Fdump.bin", HklTable(g, -1, 0, 2, 0, 1, 2, 0, 1, 2, 8))
    t = read_fdump(tmp_path / "Fdump.bin")
    assert (t.h_min, t.h_max, t.k_min, t.k_max, t.l_min, t.l_max, t.hkls) == (-1, 0, 0, 1, 0, 1, 8)
    assert bits(t.Fhkl) == (DATA / "fdump_ws.c_grid.bin").read_bytes()
    assert t.Fhkl[0, 0, 0] != 0.045


def test_fdump_short_file_like_c_fread(tmp_path):
    body = b"".join(struct.pack("<d", v) for v in (1.5, 2.5, 3.5, 4.5, 5.5, 0.1))[:44]
    (tmp_path / "F.bin").write_bytes(b"0 1 0 0 0 0\n\f" + body)
    t = read_fdump(tmp_path / "F.bin")
    assert t.Fhkl.shape == (3, 2, 2) and t.hkls == 2
    # the half double keeps its 4 bytes in the zeroed slot (C: 1.273197475e-314), the rest is 0
    assert t.Fhkl.reshape(-1).tolist() == [1.5, 2.5, 3.5, 4.5, 5.5, 1.273197475e-314] + [0.0] * 6
    (tmp_path / "G.bin").write_bytes(b"0 1 x")
    with pytest.raises(NanoBraggError, match="G.bin"):
        read_fdump(tmp_path / "G.bin")


# ---------------------------------------------------------------- matrix

def test_read_mat(tmp_path):
    m = read_mat(INPUTS / "A.mat")
    assert m == [0.00502064, -0.01154643, -0.00236008, 0.00905748, 0.00467654, -0.0154842,
                 0.00725128, 0.00215311, 0.02097517]
    assert read_mat(tmp_path / "missing.mat") is None  # ignored silently (quirk B7)
    (tmp_path / "a.mat").write_text("1 2 x 4 5 6 7 8 9")
    # each fscanf call stops at 'x', which stays in the stream: nothing more is read
    assert read_mat(tmp_path / "a.mat") == [1.0, 2.0] + [None] * 7
    (tmp_path / "b.mat").write_text("1 2 3\n4 5\n")
    assert read_mat(tmp_path / "b.mat") == [1.0, 2.0, 3.0, 4.0, 5.0, None, None, None, None]


# ---------------------------------------------------------------- text files

def _rows(cols):
    return [list(r) for r in zip(*[c.tolist() for c in cols])]


def _same(a, b):
    return bits(np.array(a, float)) == bits(np.array(b, float))


@pytest.mark.parametrize("text,want", [
    # a comment line is a row of zeros; the last line (no '\n') gets 0, not NaN, in lacking columns
    (b"-10 0 0 1 1e-10\n# a comment\n-10 0.002 0 0.5\n-10 0 0.002 2",
     [[-10, 0, 0, 1, 1e-10], [0, 0, 0, 0, 0], [-10, 0.002, 0, 0.5, NAN], [-10, 0, 0.002, 2, 0]]),
    # CRLF lines get zeros too; a "\r\n" line is not blank; ',' and ';' delimit
    (b"-10 0 0 1 1e-10\r\n-10 0.002\r\n\r\n-10,0,0.002;2\n\n",
     [[-10, 0, 0, 1, 1e-10], [-10, 0.002, 0, 0, 0], [0, 0, 0, 0, 0], [-10, 0, 0.002, 2, NAN]]),
    # leading delimiters, a tab-only blank line, an extra 6th column, a single value
    (b"  -10 0 0\n\t\n-10 0.001 0.001 3 1.2e-10 extra\n-10\n",
     [[-10, 0, 0, NAN, NAN], [-10, 0.001, 0.001, 3, 1.2e-10], [-10, NAN, NAN, NAN, NAN]]),
])
def test_read_text_file_sources_match_c(tmp_path, text, want):
    (tmp_path / "s.txt").write_bytes(text)
    assert _same(_rows(read_text_file(tmp_path / "s.txt", 5)), want)


def test_read_text_file_two_columns(tmp_path):
    (tmp_path / "a.stol").write_bytes(b"0.1 2.57\n0.2\n\n# x\n0.3 1.2\r\n0.5")
    assert _same(_rows(read_text_file(tmp_path / "a.stol", 2)),
                 [[0.1, 2.57], [0.2, NAN], [0, 0], [0.3, 1.2], [0.5, 0]])
    cols = read_text_file(INPUTS / "water.stol", 2)
    assert cols[0].tolist()[:3] == [0.0, 0.1, 0.2] and cols[1].tolist()[:3] == [2.57, 2.3, 1.8]
    # fgets() with a 10240-byte buffer cuts a longer line in two rows
    (tmp_path / "long.txt").write_bytes(b"1 " * 5200 + b"\n7 8\n")
    assert _rows(read_text_file(tmp_path / "long.txt", 2)) == [[1, 1], [1, 1], [7, 8]]
    (tmp_path / "empty.txt").write_bytes(b"\n \n")
    assert [len(c) for c in read_text_file(tmp_path / "empty.txt", 2)] == [0, 0]
    with pytest.raises(NanoBraggError, match="nothere.stol"):
        read_text_file(tmp_path / "nothere.stol", 2)


# ---------------------------------------------------------------- C number scanning

@pytest.mark.parametrize("data,fmt,count,values,pos", [
    # expected values from glibc 2.36 fscanf on the same bytes
    (b"1e5 2", "%lg", 1, [100000.0], 3),
    (b"1e x", "%lg", 1, [1.0], 2),       # the 'e' is consumed, the number is 1
    (b"nx 5", "%lg", 0, [], 2),          # "nx" consumed by the failed match
    (b"-.5", "%lg", 1, [-0.5], 3),
    (b"0x1p3", "%lg", 1, [8.0], 5),
    (b"0x", "%lg", 0, [], 2),
    (b"infinity5", "%lg", 1, [math.inf], 8),
    (b"infx", "%lg", 1, [math.inf], 3),
    (b"1.0 2", "%d%d", 1, [1], 1),
    (b"99999999999", "%d", 1, [1215752191], 11),
    (b"99999999999999999999", "%d", 1, [-1], 20),
    (b"- 5", "%d", 0, [], 1),
    (b"", "%lg", -1, [], 0),
    (b"  ", "%d", -1, [], 2),
    (b"1 2 3 4 5 6\n\x0c \t X", "%d%d%d%d%d%d\n\x0c", 6, [1, 2, 3, 4, 5, 6], 16),
    (b"+7e+", "%lg", 1, [7.0], 4),
    (b"1.5.5", "%lg%lg", 2, [1.5, 0.5], 5),
])
def test_cstream_scanf_like_glibc(data, fmt, count, values, pos):
    s = CStream(data)
    assert s.scanf(fmt) == (count, values)
    assert s.pos == pos


def test_strtod_like_glibc():
    assert strtod(b"  -1.5e3xyz") == (-1500.0, 8)
    assert strtod(b"0x1.8p1") == (3.0, 7)
    assert strtod(b"0xg") == (0.0, 1)
    assert strtod(b"1e+") == (1.0, 1)
    assert strtod(b"abc") == (0.0, 0)
    v, end = strtod(b"-nan(12)x")
    assert math.isnan(v) and math.copysign(1, v) < 0 and end == 8
    assert strtod(b"1e400") == (math.inf, 5) and strtod(b"4.9e-324")[0] == 5e-324


def test_cstream_against_libc_if_available():
    """Random inputs against the running glibc itself (skipped where there is none)."""
    import ctypes
    import ctypes.util
    import random
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version
    except (OSError, AttributeError):
        pytest.skip("no glibc")
    libc.fmemopen.restype = ctypes.c_void_p
    libc.fmemopen.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p]
    libc.ftell.argtypes = [ctypes.c_void_p]
    libc.ftell.restype = ctypes.c_long
    libc.fclose.argtypes = [ctypes.c_void_p]
    alphabet = [b"0", b"1", b"7", b"-", b"+", b".", b"e", b"x", b"p", b"a", b"n", b"i", b"f", b" ", b"\n",
                b"\f", b"nan", b"inf", b"0x", b"1e", b"99999999999", b"1e400"]
    rng = random.Random(11)
    for _ in range(400):
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        fmt = rng.choice(["%lg%lg", "%d%d%lg", "%d\n\f"])
        buf = ctypes.create_string_buffer(data, len(data))
        fp = ctypes.c_void_p(libc.fmemopen(buf, len(data), b"r"))
        args = [ctypes.c_double(0.25) if c == "lg" else ctypes.c_int(-5) for c in fmt.replace("\n\f", "").split("%")[1:]]
        n = libc.fscanf(fp, fmt.encode(), *[ctypes.byref(a) for a in args])
        pos = libc.ftell(fp)
        libc.fclose(fp)
        s = CStream(data)
        count, values = s.scanf(fmt)
        assert (count, s.pos) == (n, pos), data
        for a, v in zip(args, values):
            assert bits([a.value]) == bits([v]) or (math.isnan(a.value) and math.isnan(v)), data
