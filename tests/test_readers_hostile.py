"""Hostile files and paths for `nbnumba show`, `nbnumba compare` and `nbnumba simulate` (issue 18).

Every reader refuses what it cannot read, before it allocates the pixels a header promises: exit 9, one
line on stderr naming the file, no traceback, the input left as it was and nothing written (not even the
--png preview). A FIFO is refused without being opened (a read would wait for a writer forever); the
tests that could hang run in a subprocess under a timeout. Outputs: `simulate` refuses two outputs at one
path, an empty output name and one ending in '/', naming the options; `show --png` and `compare --png`
refuse to write over the image they read, through a symbolic or hard link too. `compare` refuses NaN
thresholds and leaves non-finite pixels out of its numbers with a warning, failing every threshold.
Last, a seeded byte-mutation fuzz of our own SMV, PGM, PNG, CBF and NXmx files fed to `show`.
"""
import itertools
import os
import random
import shlex
import stat
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from click.testing import CliRunner

from nbnumba.api import params
from nbnumba.cli.argv import parse_argv
from nbnumba.cli.main import main
from nbnumba.cli.simulate import _check_outputs, simulate
from nbnumba.errors import NanoBraggError
from nbnumba.io.cbf import cbf_bytes
from nbnumba.io.nexus import nxmx_bytes
from nbnumba.io.pgm import pgm_parts, read_pgm
from nbnumba.io.png import grey_to_png
from nbnumba.io.smv import read_smv, smv_header
from nbnumba.plan import make_plan

SIZE = 12                       # the test images are SIZE x SIZE pixels
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- our own files, without a simulation

def _plan():
    args = ("-cell 100 100 100 90 90 90 -default_F 100 -lambda 1 -distance 100 -detpixels %d -pixel 0.1 "
            "-phi 10 -osc 0.5" % SIZE).split()
    return make_plan(params(args), lambda line: None).p


def smv_bytes(keys=None, pixels=None, header_bytes=512):
    """An SMV file of SIZE x SIZE pixels as nanoBragg writes it, with header keys replaced."""
    text = ("{\nHEADER_BYTES=%d;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\nSIZE1=%d;\nSIZE2=%d;\n"
            "PIXEL_SIZE=0.1;\nDISTANCE=100;\nWAVELENGTH=1;\n}\f" % (header_bytes, SIZE, SIZE))
    for key, value in (keys or {}).items():
        lines = [("%s=%s;" % (key, value)) if line.split("=", 1)[0] == key else line for line in text.split("\n")]
        text = "\n".join(lines)
    head = text.encode("latin-1").ljust(max(512, header_bytes), b" ")
    if pixels is None:
        pixels = (np.arange(SIZE * SIZE) % 251).astype("<u2").tobytes()
    return head + pixels


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_ihdr(width, height, depth=8, colour=0, crc_ok=True, rest=b""):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    chunk = png_chunk(b"IHDR", ihdr)
    if not crc_ok:
        chunk = chunk[:-4] + bytes([chunk[-4] ^ 0xFF]) + chunk[-3:]
    return PNG_SIGNATURE + chunk + rest


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    """{format: bytes} of a SIZE x SIZE image in every format nbnumba writes."""
    p = _plan()
    rng = np.random.default_rng(18)
    counts = rng.integers(0, 3000, (SIZE, SIZE)).astype(np.uint16)
    counts[3, 4] = 60000
    grey = (counts // 256).astype(np.uint8)
    head = smv_header(fpixels=SIZE, spixels=SIZE, pixel_size_mm=0.1, distance_mm=100, wavelength_A=1,
                      beam_center_x_mm=0.6, beam_center_y_mm=0.6, adxv_center_x_mm=0.6, adxv_center_y_mm=0.6,
                      mosflm_center_x_mm=0.6, mosflm_center_y_mm=0.6, denzo_x_beam_mm=0.6, denzo_y_beam_mm=0.6,
                      dials_origin_mm=(0, 0, 100), xds_orgx=6, xds_orgy=6, close_distance_mm=100, phi_deg=10,
                      osc_start_deg=10, osc_range_deg=0.5, twotheta_deg=0)
    pgm_head, pgm_pixels = pgm_parts(SIZE, SIZE, 0.5, grey)
    p.cbffile = "x.cbf"
    return {"SMV": head + counts.astype("<u2").tobytes(),
            "PGM": pgm_head + pgm_pixels.tobytes(),
            "PNG": grey_to_png(grey, [("Software", "test")]),
            "CBF": cbf_bytes(p, counts.astype(np.int32), "noise"),
            "NXmx": nxmx_bytes(p, counts, "noise"),
            "raw float": counts.astype("<f4").tobytes()}


def _nxmx_variant(tmp_path, ours, how):
    """Our NXmx file changed with h5py: `how` is 'not_nxmx', 'huge' or 'strings'."""
    import h5py
    path = tmp_path / ("%s.nxs" % how)
    path.write_bytes(ours["NXmx"])
    with h5py.File(path, "r+") as fh:
        if how == "not_nxmx":
            del fh["/entry/definition"]
            fh["/entry"].create_dataset("definition", data="NXtomo")
        else:
            del fh["/entry/instrument/detector/data"]
            del fh["/entry/data/data"]
            if how == "huge":        # 10^10 pixels promised by a file of a few kB: HDF5 allocates chunks lazily
                fh["/entry/data"].create_dataset("data", shape=(1, 100000, 100000), dtype="u2", chunks=(1, 64, 64))
            else:
                fh["/entry/data"].create_dataset("data", data=np.array([b"a", b"b"]))
    return path.read_bytes()


def _cbf_with(ours, old, new):
    raw = ours["CBF"]
    assert old in raw
    return raw.replace(old, new, 1)


def _cbf_dims(ours):
    import re
    raw = ours["CBF"]
    raw = re.sub(rb"X-Binary-Size-Fastest-Dimension: \d+", b"X-Binary-Size-Fastest-Dimension: 100000", raw)
    raw = re.sub(rb"X-Binary-Size-Second-Dimension: \d+", b"X-Binary-Size-Second-Dimension: 100000", raw)
    return re.sub(rb"X-Binary-Number-of-Elements: \d+", b"X-Binary-Number-of-Elements: 10000000000", raw)


def _cbf_flip(ours):
    raw = bytearray(ours["CBF"])
    start = raw.find(b"\x0c\x1a\x04\xd5") + 4
    raw[start + 5] ^= 0x01          # a pixel byte: the Content-MD5 no longer matches
    return bytes(raw)


HOSTILE = {
    # SMV
    "smv_truncated": (lambda o, t: smv_bytes()[:512 + 100], ["truncated SMV", "has 612"]),
    "smv_header_only": (lambda o, t: smv_bytes()[:512], ["truncated SMV"]),
    "smv_short_header": (lambda o, t: smv_bytes()[:300], ["shorter than 512 bytes"]),
    "smv_type_float": (lambda o, t: smv_bytes({"TYPE": "float"}), ["TYPE=float", "unsigned_short"]),
    "smv_type_unknown": (lambda o, t: smv_bytes({"TYPE": "mad_4byte"}), ["TYPE=mad_4byte"]),
    "smv_size1_zero": (lambda o, t: smv_bytes({"SIZE1": "0"}), ["SIZE1=0"]),
    "smv_size1_negative": (lambda o, t: smv_bytes({"SIZE1": "-5"}), ["SIZE1=-5"]),
    # more than the memory (a run on it) or, on a large machine, more than the file: both name the size
    "smv_size1_1e9": (lambda o, t: smv_bytes({"SIZE1": "1000000000", "SIZE2": "1"}), ["1000000000x1"]),
    "smv_size_wraps": (lambda o, t: smv_bytes({"SIZE1": "100000", "SIZE2": "100000"}), ["SIZE1=100000"]),
    "smv_header_bytes_1e12": (lambda o, t: smv_bytes({"HEADER_BYTES": "1000000000000"}), ["header"]),
    "smv_header_bytes_past_end": (lambda o, t: smv_bytes({"HEADER_BYTES": "100000"}), ["100000-byte header"]),
    "smv_header_bytes_zero": (lambda o, t: smv_bytes({"HEADER_BYTES": "0"}), ["0-byte header"]),
    "smv_no_byte_order": (lambda o, t: smv_bytes().replace(b"BYTE_ORDER=little_endian;", b"B=little_endian;"),
                          ["BYTE_ORDER"]),
    "smv_odd_byte_order": (lambda o, t: smv_bytes({"BYTE_ORDER": "middle_endian"}), ["BYTE_ORDER=middle_endian"]),
    # PGM
    "pgm_huge": (lambda o, t: b"P5\n100000 100000\n255\n" + bytes(64), ["100000 x 100000"]),
    "pgm_40000": (lambda o, t: b"P5\n40000 40000\n255\n" + bytes(64), ["PGM"]),
    "pgm_truncated": (lambda o, t: o["PGM"][:-10], ["truncated PGM"]),
    "pgm_header_cut": (lambda o, t: b"P5\n12", ["truncated PGM header"]),
    "pgm_zero_width": (lambda o, t: b"P5\n0 12\n255\n", ["0 x 12"]),
    "pgm_maxval_zero": (lambda o, t: b"P5\n2 2\n0\n" + bytes(4), ["maxval 0"]),
    "pgm_maxval_huge": (lambda o, t: b"P5\n2 2\n70000\n" + bytes(8), ["maxval 70000"]),
    "pgm_not_a_number": (lambda o, t: b"P5\n12 x2\n255\n" + bytes(144), ["not a decimal number"]),
    "pgm_p2_short": (lambda o, t: b"P2\n4 4\n255\n1 2 3\n", ["truncated PGM"]),
    "pgm_p2_above_maxval": (lambda o, t: b"P2\n2 1\n255\n1 300\n", ["above its maxval"]),
    # PNG
    "png_ihdr_2e31": (lambda o, t: png_with_ihdr(2 ** 31 - 1, 2 ** 31 - 1), ["2147483647 x 2147483647"]),
    "png_ihdr_40000": (lambda o, t: png_with_ihdr(40000, 40000, rest=png_chunk(b"IEND", b"")), ["PNG"]),
    "png_ihdr_zero": (lambda o, t: png_with_ihdr(0, 0), ["0 x 0"]),
    "png_ihdr_bad_crc": (lambda o, t: png_with_ihdr(12, 12, crc_ok=False), ["CRC"]),
    "png_signature_only": (lambda o, t: PNG_SIGNATURE, ["IHDR"]),
    "png_truncated": (lambda o, t: o["PNG"][:len(o["PNG"]) // 2], ["PNG"]),
    "png_no_data": (lambda o, t: png_with_ihdr(12, 12, rest=png_chunk(b"IEND", b"")), ["PNG"]),
    "png_colour_type_5": (lambda o, t: png_with_ihdr(12, 12, colour=5), ["colour type 5"]),
    # CBF
    "cbf_truncated": (lambda o, t: o["CBF"][:len(o["CBF"]) - 200], ["CBF"]),
    "cbf_no_binary": (lambda o, t: b"###CBF: VERSION 1.5\ndata_x\n_array_data.data\n;\nnothing\n;\n", ["binary"]),
    "cbf_dims_1e10": (lambda o, t: _cbf_dims(o), ["100000 x 100000"]),
    "cbf_dims_zero": (lambda o, t: _cbf_with(o, b"X-Binary-Size-Second-Dimension: %d" % SIZE,
                                             b"X-Binary-Size-Second-Dimension: 0"), ["CBF"]),
    "cbf_binary_size_lies": (lambda o, t: _cbf_with(o, b"X-Binary-Size: ", b"X-Binary-Size: 9"), ["CBF"]),
    "cbf_md5_mismatch": (lambda o, t: _cbf_flip(o), ["Content-MD5"]),
    "cbf_element_type": (lambda o, t: _cbf_with(o, b'"signed 32-bit integer"', b'"signed 128-bit integer"'),
                         ["128-bit"]),
    # NXmx / HDF5
    "hdf5_not_nxmx": (lambda o, t: _nxmx_variant(t, o, "not_nxmx"), ["no NXentry with definition NXmx"]),
    "nxmx_truncated": (lambda o, t: o["NXmx"][:len(o["NXmx"]) // 2], ["NXmx"]),
    "nxmx_signature_only": (lambda o, t: b"\x89HDF\r\n\x1a\n" + bytes(100), ["NXmx"]),
    "nxmx_1e10_pixels": (lambda o, t: _nxmx_variant(t, o, "huge"), ["100000 x 100000"]),
    "nxmx_strings": (lambda o, t: _nxmx_variant(t, o, "strings"), ["not a data set of numbers"]),
    # raw float and anything else
    "raw_empty": (lambda o, t: b"", ["0 bytes"]),
    "raw_7_bytes": (lambda o, t: b"\x01" * 7, ["7 bytes"]),
    "raw_not_square": (lambda o, t: bytes(12), ["not square"]),
    "random_bytes": (lambda o, t: random.Random(18).randbytes(1001), ["1001 bytes"]),
}


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(res, command, *pieces):
    """Exit 9 with one error line on stderr holding every piece, and no traceback."""
    assert res.exit_code == 9, (res.exit_code, res.output)
    assert "Traceback" not in res.output, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nbnumba %s: error: " % command), res.stderr
    for piece in pieces:
        assert str(piece) in lines[0], (piece, lines[0])
    return lines[0]


def _snapshot(folder):
    """{name: (bytes or None, mtime)} of everything in folder."""
    out = {}
    for entry in os.scandir(folder):
        st = os.lstat(entry.path)
        data = open(entry.path, "rb").read() if stat.S_ISREG(st.st_mode) else None
        out[entry.name] = (data, st.st_mtime_ns)
    return out


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_file_is_refused_by_show_and_compare(case, ours, tmp_path):
    make, pieces = HOSTILE[case]
    data = make(ours, tmp_path)
    for leftover in tmp_path.iterdir():
        leftover.unlink()
    work = tmp_path / "work"
    work.mkdir()
    bad = work / ("%s.dat" % case)
    bad.write_bytes(data)
    good = work / "good.img"
    good.write_bytes(ours["SMV"])
    before = _snapshot(work)
    png = work / "preview.png"
    line = refused(cli("show", bad, "--png", png), "show", bad, *pieces)
    assert line.count(str(bad)) >= 1
    refused(cli("compare", bad, good, "--png", png), "compare", bad, *pieces)
    refused(cli("compare", good, bad), "compare", bad, *pieces)
    assert _snapshot(work) == before            # the input as it was, nothing written (no preview.png)


def test_the_hostile_table_is_what_the_issue_asks_for():
    assert len(HOSTILE) >= 40
    for family in ("smv_", "pgm_", "png_", "cbf_", "nxmx_", "raw_"):
        assert sum(name.startswith(family) for name in HOSTILE) >= 3 or family == "raw_"


def test_our_own_files_are_read(ours, tmp_path):
    """The control: the same readers take every file we write (so the refusals above are not blanket)."""
    for fmt, data in ours.items():
        path = tmp_path / ("x_" + fmt.replace(" ", "_"))
        path.write_bytes(data)
        res = cli("show", path)
        assert res.exit_code == 0, (fmt, res.output)
        assert ": %s, %d x %d pixels" % (fmt, SIZE, SIZE) in res.stdout
        assert res.stderr == ""


def test_big_endian_smv_is_swapped_for_show_but_not_for_mask(tmp_path):
    values = np.arange(SIZE * SIZE, dtype=np.uint16) * 7
    path = tmp_path / "be.img"
    path.write_bytes(smv_bytes({"BYTE_ORDER": "big_endian"}, values.astype(">u2").tobytes()))
    res = cli("show", path)
    assert res.exit_code == 0 and "max %d " % values.max() in res.stdout, res.output
    _, words = read_smv(path)                        # -mask and -img: C never swaps
    assert np.array_equal(words.reshape(-1), values.byteswap())


def _special_paths(tmp_path):
    """(name, path, expected words) of paths that are not regular files."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    return [("fifo", fifo, "a FIFO"), ("directory", folder, "a directory"), ("device", "/dev/null", "character device"),
            ("missing", tmp_path / "missing.img", "No such file"), ("symlink loop", loop, "symbolic links")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifos_directories_and_devices_are_refused_without_waiting(tmp_path):
    """In subprocesses under a timeout: a FIFO with no writer must not block the reader."""
    good = tmp_path / "good.img"
    good.write_bytes(smv_bytes())
    for name, path, words in _special_paths(tmp_path):
        for args in (["show", path], ["compare", path, good], ["compare", good, path, "--png", tmp_path / "c.png"]):
            res = subprocess.run([sys.executable, "-m", "nbnumba"] + [str(a) for a in args], capture_output=True,
                                 text=True, timeout=120)
            assert res.returncode == 9, (name, res.stdout, res.stderr)
            lines = res.stderr.strip().splitlines()
            assert len(lines) == 1 and str(path) in lines[0] and words in lines[0], (name, res.stderr)
            assert "Traceback" not in res.stderr
        assert not (tmp_path / "c.png").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_read_smv_of_a_fifo_with_no_writer_returns_at_once(tmp_path):
    """-mask and -img read SMV frames through read_smv: a FIFO nobody writes to is an empty file."""
    fifo = tmp_path / "m.img"
    os.mkfifo(fifo)
    code = ("from nbnumba.io.smv import read_smv\ntry:\n    read_smv(%r)\nexcept Exception as e:\n    print(e)"
            % str(fifo))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "shorter than 512 bytes" in res.stdout, res.stdout + res.stderr


def test_read_smv_of_a_directory_names_it(tmp_path):
    with pytest.raises(NanoBraggError, match="Is a directory"):
        read_smv(tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_refused(tmp_path):
    path = tmp_path / "secret.img"
    path.write_bytes(smv_bytes())
    path.chmod(0)
    refused(cli("show", path), "show", path, "Permission denied")


def test_read_pgm_parses_comments_and_16_bits(tmp_path):
    path = tmp_path / "x.pgm"
    path.write_bytes(b"P5\n# made by hand\n3 # width\n2\n# pixels scaled by 2.5\n1000\n" +
                     np.arange(6, dtype=">u2").tobytes() * 1)
    f, s, scale, data = read_pgm(path)
    assert (f, s, scale) == (3, 2, 2.5) and data.dtype == np.uint16
    assert data.tolist() == [[0, 1, 2], [3, 4, 5]]
    path.write_bytes(b"P2\n3 2\n255\n0 1 2\n3 4 255\n")
    assert read_pgm(path)[3].tolist() == [[0, 1, 2], [3, 4, 255]]


# ---------------------------------------------------------------- --png over the input

def _links(tmp_path, ours):
    image = tmp_path / "image.img"
    image.write_bytes(ours["SMV"])
    os.symlink(image, tmp_path / "soft.png")
    os.link(image, tmp_path / "hard.png")
    return image, [image, tmp_path / "soft.png", tmp_path / "hard.png"]


def test_show_png_onto_its_own_input_is_refused(ours, tmp_path):
    image, targets = _links(tmp_path, ours)
    before = _snapshot(tmp_path)
    for target in targets:
        refused(cli("show", image, "--png", target), "show", target, image, "overwrite")
        refused(cli("show", target if target.name != "image.img" else image, "--png", image), "show", image)
    assert _snapshot(tmp_path) == before


def test_compare_png_onto_either_input_is_refused(ours, tmp_path):
    image, targets = _links(tmp_path, ours)
    other = tmp_path / "other.img"
    other.write_bytes(ours["SMV"])
    before = _snapshot(tmp_path)
    for target in targets:
        refused(cli("compare", image, other, "--png", target), "compare", target, image, "overwrite")
        refused(cli("compare", other, image, "--png", target), "compare", target, image, "overwrite")
    assert _snapshot(tmp_path) == before
    # a preview elsewhere is written
    res = cli("compare", image, other, "--png", tmp_path / "diff.png")
    assert res.exit_code == 0 and (tmp_path / "diff.png").exists(), res.output


@pytest.mark.parametrize("name, words", [("", "an empty file name"), ("sub/", "is a directory's"),
                                         (".", "Is a directory"), ("nowhere/x.png", "no writable directory")])
def test_show_and_compare_png_names_that_cannot_be_files(ours, tmp_path, name, words):
    image = tmp_path / "image.img"
    image.write_bytes(ours["SMV"])
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        refused(cli("show", image, "--png", name), "show", "--png", words)
        refused(cli("compare", image, image, "--png", name), "compare", "--png", words)


# ---------------------------------------------------------------- compare: NaN thresholds, non-finite pixels

@pytest.mark.parametrize("option, value", [("--min-corr", "nan"), ("--max-rel", "nan"), ("--radius", "nan"),
                                           ("--radius", "inf"), ("--min-corr", "-nan")])
def test_compare_refuses_thresholds_that_are_not_numbers(ours, tmp_path, option, value):
    image = tmp_path / "image.img"
    image.write_bytes(ours["SMV"])
    refused(cli("compare", image, image, option, value), "compare", option)


def test_compare_leaves_non_finite_pixels_out_and_fails_the_thresholds(tmp_path):
    a = np.arange(64, dtype=np.float32).reshape(8, 8)
    b = a.copy()
    b[1, 2], b[3, 3], b[5, 6] = np.nan, np.inf, -np.inf
    (tmp_path / "a.bin").write_bytes(a.tobytes())
    (tmp_path / "b.bin").write_bytes(b.tobytes())
    res = cli("compare", tmp_path / "a.bin", tmp_path / "b.bin", "--png", tmp_path / "d.png")
    assert res.exit_code == 0, res.output            # no threshold given
    warning = res.stderr.strip().splitlines()
    assert len(warning) == 1 and "warning" in warning[0] and "3 non-finite pixels (NaN 1, +inf 1, -inf 1)" in warning[0]
    assert "pixels compared: 61 of 64" in res.stdout
    assert "correlation 1.000000" in res.stdout and "no pixel differs" in res.stdout
    from PIL import Image
    with Image.open(tmp_path / "d.png") as im:
        assert im.size == (3 * 8 + 4, 8)
    for option, value in (("--min-corr", "0"), ("--max-rel", "1")):
        res = cli("compare", tmp_path / "a.bin", tmp_path / "b.bin", option, value)
        assert res.exit_code == 1 and "FAILED (non-finite pixels)" in res.stdout, res.output
    # finite images: the thresholds pass
    assert cli("compare", tmp_path / "a.bin", tmp_path / "a.bin", "--min-corr", "0.99").exit_code == 0
    # nothing finite in both: refused
    (tmp_path / "n.bin").write_bytes(np.full((8, 8), np.nan, np.float32).tobytes())
    refused(cli("compare", tmp_path / "a.bin", tmp_path / "n.bin"), "compare", "n.bin", "no pixel is finite")


def test_show_of_non_finite_pixels(tmp_path):
    a = np.arange(16, dtype=np.float32).reshape(4, 4)
    a[0, 0], a[2, 1] = np.nan, np.inf
    (tmp_path / "a.bin").write_bytes(a.tobytes())
    res = cli("show", tmp_path / "a.bin", "--png", tmp_path / "a.png")
    assert res.exit_code == 0 and res.stderr == "", res.output
    assert "2 non-finite pixels (NaN 1, +inf 1, -inf 0): the statistics are of the 14 finite ones" in res.stdout
    assert "min 1  max 15 " in res.stdout
    from PIL import Image
    with Image.open(tmp_path / "a.png") as im:
        g = np.asarray(im)
    assert g[0, 0] == 0 and g[2, 1] == 255


# ---------------------------------------------------------------- simulate: outputs at one path

OUTPUT_FLAGS = ["-floatfile", "-intfile", "-noisefile", "-pgmfile", "-nxsfile", "-cbffile", "-pngfile", "-dumpfile"]
SIM = "-hkl a.hkl -cell 100 100 100 90 90 90 -N 2 -lambda 1 -distance 100 -detpixels 8 -pixel 0.1 -seed 1"


def run_simulate(tmp_path, capsys, args):
    before = _snapshot(tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        rc = simulate(shlex.split(args))
    out, err = capsys.readouterr()
    assert _snapshot(tmp_path) == before, "a file was written or changed"
    return rc, out, err


def simulate_refused(result, *pieces):
    rc, out, err = result
    assert rc == 9, (rc, out, err)
    assert "Traceback" not in out + err
    lines = [l for l in err.strip().splitlines() if "error" in l]
    assert len(lines) == 1 and lines[0].startswith("nbnumba simulate: error: "), err
    for piece in pieces:
        assert piece in lines[0], (piece, lines[0])
    return lines[0]


@pytest.mark.parametrize("first, second", list(itertools.combinations(OUTPUT_FLAGS, 2)))
def test_two_outputs_at_one_path_are_refused(tmp_path, capsys, first, second):
    (tmp_path / "a.hkl").write_text("1 0 0 10\n")
    simulate_refused(run_simulate(tmp_path, capsys, "%s %s same.out %s same.out" % (SIM, first, second)),
                     first, second, "same.out")


def test_outputs_at_one_file_through_links_and_default_names(tmp_path, capsys):
    (tmp_path / "a.hkl").write_text("1 0 0 10\n")
    (tmp_path / "old.img").write_bytes(b"an old image")
    os.link(tmp_path / "old.img", tmp_path / "hard.img")
    os.symlink("old.img", tmp_path / "soft.img")
    simulate_refused(run_simulate(tmp_path, capsys, SIM + " -intfile old.img -noisefile hard.img"),
                     "-intfile", "-noisefile", "old.img", "hard.img")
    simulate_refused(run_simulate(tmp_path, capsys, SIM + " -floatfile soft.img -cbffile old.img"),
                     "-floatfile", "-cbffile")
    simulate_refused(run_simulate(tmp_path, capsys, SIM + " -floatfile ./x.bin -intfile x.bin"),
                     "-floatfile", "-intfile")
    # the defaults count: -pngfile image.pgm is the default PGM, -intfile noiseimage.img the default noise image
    simulate_refused(run_simulate(tmp_path, capsys, SIM + " -pngfile image.pgm"), "-pgmfile", "-pngfile", "image.pgm")
    simulate_refused(run_simulate(tmp_path, capsys, SIM + " -intfile noiseimage.img"), "-intfile", "-noisefile")
    simulate_refused(run_simulate(tmp_path, capsys, SIM + " -nxsfile Fdump.bin"), "-nxsfile", "-dumpfile")


@pytest.mark.parametrize("flag", OUTPUT_FLAGS[:-1])
@pytest.mark.parametrize("name, words", [("''", "an empty file name"), ("out/", "is a directory's"),
                                         (".", "Is a directory")])
def test_an_output_that_cannot_be_a_file_is_refused(tmp_path, capsys, flag, name, words):
    (tmp_path / "a.hkl").write_text("1 0 0 10\n")
    simulate_refused(run_simulate(tmp_path, capsys, "%s %s %s" % (SIM, flag, name)), flag, words)


def test_special_files_may_be_shared_by_outputs(tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        (tmp_path / "a.hkl").write_text("1 0 0 10\n")
        args = SIM + " -floatfile /dev/null -intfile /dev/null -noisefile /dev/null -pgmfile /dev/null"
        _check_outputs(parse_argv(shlex.split(args)))          # no error: every write goes through
        with pytest.raises(NanoBraggError, match="-floatfile and -intfile"):
            _check_outputs(parse_argv(shlex.split(SIM + " -floatfile f -intfile f")))


# ---------------------------------------------------------------- fuzz

def _mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 or not data:           # flip bytes
            for _ in range(rng.randint(1, 8)):
                if data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 1:                     # truncate
            del data[rng.randrange(len(data)):]
        elif op == 2:                     # flip a byte in the first 600 (the headers)
            i = rng.randrange(min(600, len(data)))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 3:                     # a digit in the header becomes another number
            digits = [i for i in range(min(1024, len(data))) if 48 <= data[i] <= 57]
            if digits:
                i = rng.choice(digits)
                data[i:i + 1] = rng.choice([b"0", b"9999999", b"-1", b"4294967296", b"1e300", b"nan"])
        elif op == 4:                     # junk inserted
            i = rng.randrange(len(data) + 1)
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        else:                             # a block zeroed
            i = rng.randrange(len(data))
            data[i:i + rng.randint(1, 64)] = bytes(len(data[i:i + 64]))
    return bytes(data)


def test_fuzzed_files_of_our_own_give_exit_0_or_9_and_no_traceback(ours, tmp_path):
    rng = random.Random(1818)
    formats = ["SMV", "PGM", "PNG", "CBF", "NXmx"]
    outcomes = {0: 0, 9: 0}
    for i in range(80):
        fmt = formats[i % len(formats)]
        path = tmp_path / ("f%02d" % i)
        data = _mutate(rng, ours[fmt])
        path.write_bytes(data)
        res = cli("show", path)
        assert res.exit_code in (0, 9), (fmt, i, res.exit_code, res.output, res.exception)
        assert "Traceback" not in res.output
        if res.exit_code == 9:
            lines = res.stderr.strip().splitlines()
            assert len(lines) == 1 and str(path) in lines[0], (fmt, i, res.stderr)
        else:
            assert res.stderr == "", (fmt, i, res.stderr)
        assert path.read_bytes() == data
        outcomes[res.exit_code] += 1
    assert outcomes[0] > 0 and outcomes[9] > 0, outcomes      # both kinds occur: the mutations bite
