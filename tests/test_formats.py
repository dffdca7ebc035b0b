"""One round trip per file format under nbnumba/io/, and the images of a real `nbnumba simulate` run
read back by other readers: fabio for the SMV images, NumPy for the raw float image, a plain Netpbm
parser (and Pillow, where installed) for the PGM.

tests/test_io.py holds the C-quirk tests and the byte-for-byte round trips of golden files; here the
data are synthetic (random, non-square, extreme values) and the formats that nbnumba only reads (hkl,
matrix, source/text files) are written by a short independent writer in the test.
"""
import os
import subprocess
import sys

import fabio
import numpy as np
import pytest

from nbnumba.io.fdump import fdump_bytes, read_fdump, write_fdump
from nbnumba.io.hkl import HklTable, read_hkl
from nbnumba.io.matrix import read_mat
from nbnumba.io.pgm import read_pgm, write_pgm
from nbnumba.io.rawfloat import read_float_image, write_float_image
from nbnumba.io.smv import read_smv, smv_header, value_of, write_smv
from nbnumba.io.textfile import read_text_file

def NO_LOG(line):
    pass


def _header(fpixels, spixels, **over):
    values = dict(fpixels=fpixels, spixels=spixels, pixel_size_mm=0.172, distance_mm=123.5, wavelength_A=0.9793,
                  beam_center_x_mm=10.25, beam_center_y_mm=7.5, adxv_center_x_mm=1.0, adxv_center_y_mm=2.0,
                  mosflm_center_x_mm=3.0, mosflm_center_y_mm=4.0, denzo_x_beam_mm=5.0, denzo_y_beam_mm=6.0,
                  dials_origin_mm=(-1.5, 2.5, -123.5), xds_orgx=59.6, xds_orgy=43.6, close_distance_mm=120.0,
                  phi_deg=0.0, osc_start_deg=0.0, osc_range_deg=0.1, twotheta_deg=0.0)
    values.update(over)
    return smv_header(**values)


# ---------------------------------------------------------------- SMV

def test_smv_round_trip_and_fabio(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 65536, (17, 31), dtype=np.uint16)
    data[0, 0], data[-1, -1], data[0, -1] = 0, 65535, 1          # corners tell the orientation
    head = _header(31, 17)
    path = tmp_path / "x.img"
    write_smv(path, head, data)
    assert path.stat().st_size == 512 + 2 * data.size
    text, got = read_smv(path)
    assert got.dtype == np.uint16 and got.shape == (17, 31) and np.array_equal(got, data)
    assert text == head.decode("ascii")
    assert value_of(text, "SIZE1") == 31 and value_of(text, "PIXEL_SIZE") == 0.172

    img = fabio.open(str(path))
    assert img.data.shape == (17, 31) and np.array_equal(img.data, data)
    h = img.header
    assert (int(h["SIZE1"]), int(h["SIZE2"]), int(h["HEADER_BYTES"])) == (31, 17, 512)
    assert h["BYTE_ORDER"] == "little_endian" and h["TYPE"] == "unsigned_short"
    assert float(h["PIXEL_SIZE"]) == 0.172 and float(h["WAVELENGTH"]) == 0.9793
    # fabio reads DISTANCE from its own line; nanoBragg's ValueOf reads it from CLOSE_DISTANCE= (quirk B9)
    assert float(h["DISTANCE"]) == 123.5 and value_of(text, "DISTANCE") == 120.0
    assert float(h["BEAM_CENTER_X"]) == 10.25 and float(h["BEAM_CENTER_Y"]) == 7.5


def test_smv_written_by_fabio_reads_back(tmp_path):
    """The other direction: an ADSC frame that fabio writes is read by read_smv (-img, -mask)."""
    from fabio.adscimage import AdscImage
    data = np.arange(12 * 20, dtype=np.uint16).reshape(12, 20) * 251
    AdscImage(data=data, header={"PIXEL_SIZE": "0.1", "DISTANCE": "80"}).write(str(tmp_path / "f.img"))
    text, got = read_smv(tmp_path / "f.img")
    assert np.array_equal(got, data)
    assert value_of(text, "SIZE1") == 20 and value_of(text, "SIZE2") == 12 and value_of(text, "PIXEL_SIZE") == 0.1


# ---------------------------------------------------------------- raw float

def test_float_image_round_trip_with_extreme_values(tmp_path):
    rng = np.random.default_rng(2)
    img = rng.standard_normal((9, 14)).astype(np.float32) * np.float32(1e30)
    img.reshape(-1)[:6] = [np.nan, np.inf, -np.inf, -0.0, np.float32(1e-45), np.finfo(np.float32).max]
    write_float_image(tmp_path / "f.bin", img.reshape(-1))
    raw = (tmp_path / "f.bin").read_bytes()
    assert raw == img.astype("<f4").tobytes()                  # no header, fast index fastest
    got = read_float_image(tmp_path / "f.bin", 14, 9)
    assert got.shape == (9, 14) and got.tobytes() == img.astype("<f4").tobytes()
    assert np.signbit(got.reshape(-1)[3])


# ---------------------------------------------------------------- PGM

def _netpbm(raw):
    """A plain P5 parser after the Netpbm spec: four whitespace-separated tokens, '#' comments to the
    end of a line anywhere among them, one whitespace byte, then the pixels."""
    tokens, i = [], 0
    while len(tokens) < 4:
        if raw[i:i + 1] == b"#":
            i = raw.index(b"\n", i)
        elif raw[i:i + 1].isspace():
            i += 1
        else:
            j = i
            while not raw[j:j + 1].isspace():
                j += 1
            tokens.append(raw[i:j])
            i = j
    magic, w, h, maxval = tokens[0], int(tokens[1]), int(tokens[2]), int(tokens[3])
    return magic, maxval, np.frombuffer(raw[i + 1:i + 1 + w * h], np.uint8).reshape(h, w)


def test_pgm_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (11, 23), dtype=np.uint8)
    pixels[0, 0], pixels[-1, -1] = 0, 255
    write_pgm(tmp_path / "x.pgm", 23, 11, 2.5e-3, pixels)
    f, s, scale, got = read_pgm(tmp_path / "x.pgm")
    assert (f, s, scale) == (23, 11, 2.5e-3) and np.array_equal(got, pixels)
    magic, maxval, data = _netpbm((tmp_path / "x.pgm").read_bytes())
    assert magic == b"P5" and maxval == 255 and np.array_equal(data, pixels)


# ---------------------------------------------------------------- hkl (read only)

def test_hkl_written_here_reads_back(tmp_path):
    rng = np.random.default_rng(4)
    box = [(-3, 2), (0, 4), (-1, 1)]
    cells = [(h, k, l) for h in range(box[0][0], box[0][1] + 1) for k in range(box[1][0], box[1][1] + 1)
             for l in range(box[2][0], box[2][1] + 1)]
    listed = [cells[i] for i in sorted(rng.choice(len(cells), 40, replace=False))]
    # the box's corners are listed, so the file spans it exactly
    listed = sorted(set(listed) | {(box[0][0], box[1][0], box[2][0]), (box[0][1], box[1][1], box[2][1])})
    F = {hkl: float(rng.uniform(0.1, 1000.0)) for hkl in listed}
    with open(tmp_path / "t.hkl", "w") as fh:
        for (h, k, l), value in F.items():
            fh.write("%4d %4d %4d %s\n" % (h, k, l, repr(value)))
    t = read_hkl(str(tmp_path / "t.hkl"), 7.25, NO_LOG)
    assert (t.h_min, t.h_max, t.k_min, t.k_max, t.l_min, t.l_max) == (-3, 2, 0, 4, -1, 1)
    assert (t.h_range, t.k_range, t.l_range, t.hkls) == (6, 5, 3, len(F))
    assert t.Fhkl.shape == (7, 6, 4)
    for h, k, l in cells:
        want = F.get((h, k, l), 7.25)
        assert t.Fhkl[h + 3, k, l + 1] == want
    assert not t.Fhkl[6].any() and not t.Fhkl[:, 5].any() and not t.Fhkl[:, :, 3].any()


# ---------------------------------------------------------------- Fdump

def test_fdump_round_trip_random_table(tmp_path):
    rng = np.random.default_rng(5)
    grid = rng.uniform(-1e6, 1e6, (5, 4, 8))
    grid[0, 0, 0] = 1.5             # leading bytes 00: outside the header's whitespace quirk (B3)
    grid[4], grid[:, 3], grid[:, :, 7] = 0.0, 0.0, 0.0
    table = HklTable(grid, -2, 1, 4, 3, 5, 3, -7, -1, 7, 4 * 3 * 7)
    write_fdump(tmp_path / "Fdump.bin", table)
    raw = (tmp_path / "Fdump.bin").read_bytes()
    assert raw == fdump_bytes(table)
    # an independent reading: the header text, then the grid as little-endian doubles
    head, body = raw.split(b"\n\f", 1)
    assert [int(v) for v in head.split()] == [-2, 1, 3, 5, -7, -1]
    assert np.array_equal(np.frombuffer(body, "<f8").reshape(5, 4, 8), grid)
    back = read_fdump(tmp_path / "Fdump.bin")
    assert (back.h_min, back.h_max, back.h_range, back.k_min, back.k_max, back.k_range, back.l_min, back.l_max,
            back.l_range, back.hkls) == (-2, 1, 4, 3, 5, 3, -7, -1, 7, 84)
    assert back.Fhkl.tobytes() == grid.tobytes()


# ---------------------------------------------------------------- MOSFLM matrix (read only)

def test_matrix_written_here_reads_back(tmp_path):
    rng = np.random.default_rng(6)
    m = rng.uniform(-0.05, 0.05, (3, 3))
    (tmp_path / "A.mat").write_text("".join(" ".join(repr(float(v)) for v in row) + "\n" for row in m)
                                    + " 0.000 0.000 0.000\n 1 0 0\n 0 1 0\n")   # MOSFLM's trailing lines
    assert read_mat(tmp_path / "A.mat") == m.reshape(-1).tolist()
    # the nine numbers in file order: a*x b*x c*x / a*y b*y c*y / a*z b*z c*z
    (tmp_path / "B.mat").write_text("%.8f %.8f %.8f\n%.8f %.8f %.8f\n%.8f %.8f %.8f\n" % tuple(range(1, 10)))
    assert read_mat(tmp_path / "B.mat") == [float(v) for v in range(1, 10)]


# ---------------------------------------------------------------- source and other text files (read only)

@pytest.mark.parametrize("delimiter", [" ", "\t", ",", " ; "])
def test_source_file_written_here_reads_back(tmp_path, delimiter):
    rng = np.random.default_rng(7)
    rows = rng.uniform(-10.0, 10.0, (6, 5))
    rows[:, 4] = rng.uniform(0.5e-10, 2e-10, 6)          # lambda in metres, as -sourcefile takes it
    (tmp_path / "s.txt").write_text("".join(delimiter.join(repr(float(v)) for v in r) + "\n" for r in rows))
    cols = read_text_file(tmp_path / "s.txt", 5)
    assert np.array_equal(np.column_stack(cols), rows)
    # fewer columns on a line: the rest are NaN ("unset"), as C's read_text_file leaves them
    (tmp_path / "p.txt").write_text("0 0 10 1.5\n\n1 2 3 4 5e-11\n")
    cols = read_text_file(tmp_path / "p.txt", 5)
    assert np.array_equal(np.column_stack(cols), [[0, 0, 10, 1.5, np.nan], [1, 2, 3, 4, 5e-11]], equal_nan=True)


def test_two_column_file_written_here_reads_back(tmp_path):
    stol = np.linspace(0.0, 0.5, 11)
    F = np.exp(-stol)
    (tmp_path / "stol.txt").write_text("".join("%r %r\n" % (float(a), float(b)) for a, b in zip(stol, F)))
    s, f = read_text_file(tmp_path / "stol.txt", 2)
    assert np.array_equal(s, stol) and np.array_equal(f, F)


# ---------------------------------------------------------------- a real run, read by others

RUN = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels_x 40 "
       "-detpixels_y 24 -pixel 0.1 -Xbeam 1.3 -Ybeam 2.1 -seed 1")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    d = tmp_path_factory.mktemp("simulated")
    res = subprocess.run([sys.executable, "-m", "nbnumba", "simulate", *RUN.split()], cwd=d, capture_output=True,
                         text=True, timeout=600, env=dict(os.environ))
    assert res.returncode == 0, res.stderr
    return d


def test_simulated_float_image_read_with_numpy(simulated):
    flt = np.fromfile(simulated / "floatimage.bin", np.float32)
    assert flt.size == 40 * 24 and np.all(np.isfinite(flt)) and flt.max() > 0.0
    assert np.array_equal(flt.reshape(24, 40), read_float_image(simulated / "floatimage.bin", 40, 24))


@pytest.mark.parametrize("name", ["intimage.img", "noiseimage.img"])
def test_simulated_smv_read_by_fabio(simulated, name):
    path = simulated / name
    img = fabio.open(str(path))
    text, ours = read_smv(path)
    assert img.data.shape == (24, 40) == ours.shape         # (SIZE2, SIZE1): slow rows, fast columns
    assert img.data.dtype == np.uint16 and np.array_equal(img.data, ours)
    h = img.header
    assert (int(h["SIZE1"]), int(h["SIZE2"])) == (40, 24)
    assert float(h["PIXEL_SIZE"]) == 0.1 and float(h["DISTANCE"]) == 100.0 and float(h["WAVELENGTH"]) == 6.2
    assert (float(h["BEAM_CENTER_X"]), float(h["BEAM_CENTER_Y"])) == (1.3, 2.1)
    for key in ("SIZE1", "SIZE2", "PIXEL_SIZE", "WAVELENGTH", "BEAM_CENTER_X", "BEAM_CENTER_Y"):
        assert float(h[key]) == value_of(text, key), key
    # the pixels are the float image's, in the same orientation
    flt = np.fromfile(simulated / "floatimage.bin", np.float32).reshape(24, 40)
    if name == "intimage.img":
        assert np.unravel_index(np.argmax(img.data), img.data.shape) == np.unravel_index(np.argmax(flt), flt.shape)
        assert np.corrcoef(img.data.reshape(-1).astype(float), flt.reshape(-1))[0, 1] > 0.9999
    else:
        assert np.corrcoef(img.data.reshape(-1).astype(float), flt.reshape(-1))[0, 1] > 0.5


def test_simulated_pgm_read_by_a_netpbm_parser(simulated):
    raw = (simulated / "image.pgm").read_bytes()
    magic, maxval, data = _netpbm(raw)
    f, s, scale, ours = read_pgm(simulated / "image.pgm")
    assert magic == b"P5" and maxval == 255 and (f, s) == (40, 24) and np.array_equal(data, ours)
    # fabio's PNM reader stops at a comment between the size and maxval lines (legal Netpbm, which
    # nanoBragg writes), so the PGM is cross-read by Pillow where it is installed
    Image = pytest.importorskip("PIL.Image")
    with Image.open(simulated / "image.pgm") as im:
        assert im.size == (40, 24) and np.array_equal(np.asarray(im), ours)
