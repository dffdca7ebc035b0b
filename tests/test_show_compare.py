"""`nbnumba show` and `nbnumba compare` on every format nbnumba writes, and nbnumba.io.images.read_image."""
import importlib

import numpy as np
import pytest
from click.testing import CliRunner

from golden_runner import run_in
from nbnumba.cli.compare import comparison, find_peaks, match_peaks
from nbnumba.cli.main import main
from nbnumba.errors import NanoBraggError
from nbnumba.io.images import read_image
from nbnumba.io.smv import read_smv

HKL = "1 0 0 100\n0 1 0 50\n0 0 1 25\n1 1 1 10\n"
BASE = "-hkl small.hkl -cell 100 100 100 90 90 90 -N 5 -default_F 100 -seed 3 -lambda 1 -distance 100 " \
       "-pixel 0.1".split()


def _has_nxmx():
    try:
        return hasattr(importlib.import_module("nbnumba.io.nexus"), "read_nxmx")
    except ImportError:
        return False


HAS_NXMX = _has_nxmx()
FILES = {"SMV": "i.img", "CBF": "c.cbf", "PNG": "p.png", "PGM": "p.pgm", "raw float": "f.bin"}
if HAS_NXMX:
    FILES["NXmx"] = "x.nxs"


def _outputs(prefix):
    out = ["-floatfile", prefix + "f.bin", "-intfile", prefix + "i.img", "-noisefile", prefix + "n.img",
           "-pgmfile", prefix + "p.pgm", "-pngfile", prefix + "p.png", "-cbffile", prefix + "c.cbf"]
    if HAS_NXMX:
        out += ["-nxsfile", prefix + "x.nxs"]
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A: every format of one 48x48 image; B: the same crystal turned by 0.5 degrees; small: 32x32."""
    d = tmp_path_factory.mktemp("images")
    (d / "small.hkl").write_text(HKL)
    for prefix, extra in (("", ["-detpixels", "48", "-phi", "10"]), ("b_", ["-detpixels", "48", "-phi", "10.5"]),
                          ("small_", ["-detpixels", "32"])):
        res = run_in(d, BASE + extra + _outputs(prefix))
        assert res.exit_code == 0, res.output
    (d / "notes.txt").write_text("not an image\n")
    return d


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(res, command):
    assert res.exit_code == 9, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nbnumba %s: error: " % command), res.stderr
    assert "Traceback" not in res.output


# ---------------------------------------------------------------- show

@pytest.mark.parametrize("fmt", sorted(FILES))
def test_show_every_format(images, fmt, tmp_path):
    from PIL import Image
    res = cli("show", images / FILES[fmt], "--png", tmp_path / "preview.png")
    assert res.exit_code == 0, res.output
    first = res.stdout.splitlines()[0]
    assert ": %s, 48 x 48 pixels (fast x slow), " % fmt in first
    assert "min " in res.stdout and " sum " in res.stdout and "pixels above zero" in res.stdout
    if fmt in ("SMV", "CBF", "NXmx"):
        assert "geometry: pixel 0.1 mm, distance 100 mm, wavelength 1 A, beam centre 25, 25 px" in res.stdout
        assert "rotation: start 10 deg" in res.stdout
    with Image.open(tmp_path / "preview.png") as im:
        assert im.size == (48, 48) and im.mode == "L"
        assert np.asarray(im).max() > 0


def test_show_values(images):
    res = cli("show", images / "n.img")
    _, noise = read_smv(images / "n.img")
    assert "max %d " % noise.max() in res.stdout
    assert "sum %d" % noise.sum() in res.stdout


def test_show_bad_input(images, tmp_path):
    one_line_error(cli("show", tmp_path / "missing.img"), "show")
    one_line_error(cli("show", images / "notes.txt"), "show")
    (tmp_path / "odd.bin").write_bytes(np.zeros(6, np.float32).tobytes())
    one_line_error(cli("show", tmp_path / "odd.bin"), "show")          # not square, no --size
    res = cli("show", tmp_path / "odd.bin", "--size", "3x2")
    assert res.exit_code == 0 and "raw float, 3 x 2 pixels" in res.stdout
    one_line_error(cli("show", tmp_path / "odd.bin", "--size", "3by2"), "show")


# ---------------------------------------------------------------- compare

@pytest.mark.parametrize("fmt", sorted(FILES))
def test_compare_each_format_with_itself(images, fmt):
    path = images / FILES[fmt]
    res = cli("compare", path, path, "--min-corr", "0.999999", "--max-rel", "0")
    assert res.exit_code == 0, res.output
    assert "correlation 1.000000" in res.stdout
    assert "RMSE 0 " in res.stdout and "max |B-A| 0 = 0 of max |A|" in res.stdout
    assert "no pixel differs" in res.stdout
    assert "sum B / sum A 1.000000" in res.stdout
    assert ": ok" in res.stdout and "FAILED" not in res.stdout


def test_compare_across_formats_of_one_image(images):
    """The noise image as SMV, CBF (and NXmx) is one image."""
    others = ["c.cbf"] + (["x.nxs"] if HAS_NXMX else [])
    for other in others:
        res = cli("compare", images / "n.img", images / other, "--max-rel", "0")
        assert res.exit_code == 0, res.output
        assert "no pixel differs" in res.stdout
    res = cli("compare", images / "p.pgm", images / "p.png", "--max-rel", "0")
    assert res.exit_code == 0, res.output


def test_compare_different_images_thresholds_gate_the_exit_code(images):
    a, b = images / "f.bin", images / "b_f.bin"
    res = cli("compare", a, b)
    assert res.exit_code == 0, res.output          # no threshold: exit 0 whatever the numbers
    r = comparison(read_image(a)[0], read_image(b)[0])
    assert 0 < r["correlation"] < 1 and r["max_rel"] > 0
    assert "largest differences (fast, slow: A, B, B-A):" in res.stdout
    assert len([l for l in res.stdout.splitlines() if l.startswith("  ") and l.count(",") == 3]) == 5
    assert cli("compare", a, b, "--min-corr", "%.6f" % (r["correlation"] - 1e-4)).exit_code == 0
    res = cli("compare", a, b, "--min-corr", "%.6f" % min(1.0, r["correlation"] + 1e-4))
    assert res.exit_code == 1 and "FAILED" in res.stdout
    assert cli("compare", a, b, "--max-rel", "%.6g" % (r["max_rel"] * 1.01)).exit_code == 0
    assert cli("compare", a, b, "--max-rel", "%.6g" % (r["max_rel"] * 0.99)).exit_code == 1
    # both given: one failing is enough
    assert cli("compare", a, b, "--min-corr", "0", "--max-rel", "%.6g" % (r["max_rel"] * 0.99)).exit_code == 1


def test_compare_largest_differences_name_their_pixels(images):
    a = read_image(images / "f.bin")[0]
    b = a.copy()
    b[7, 30] += 1000.0                   # slow 7, fast 30
    b[40, 2] -= 500.0
    r = comparison(a, b)
    assert r["top"][0][:2] == (30, 7) and r["top"][0][4] == pytest.approx(1000.0)
    assert r["top"][1][:2] == (2, 40) and r["top"][1][4] == pytest.approx(-500.0)
    assert len(r["top"]) == 2
    assert r["max_rel"] == pytest.approx(1000.0 / np.abs(a).max())


def test_compare_side_by_side_png(images, tmp_path):
    from PIL import Image
    out = tmp_path / "cmp.png"
    res = cli("compare", images / "n.img", images / "b_n.img", "--png", out)
    assert res.exit_code == 0, res.output
    with Image.open(out) as im:
        assert im.size == (3 * 48 + 4, 48) and im.mode == "L"
        g = np.asarray(im)
    assert (g[:, 48:50] == 255).all() and (g[:, 98:100] == 255).all()       # the separators
    same = tmp_path / "same.png"
    assert cli("compare", images / "n.img", images / "n.img", "--png", same).exit_code == 0
    with Image.open(same) as im:
        g = np.asarray(im)
    assert (g[:, 100:] == 128).all()                                          # no difference: mid-grey
    assert np.array_equal(g[:, :48], g[:, 50:98])


def test_compare_bad_input(images, tmp_path):
    one_line_error(cli("compare", images / "n.img", tmp_path / "missing.img"), "compare")
    one_line_error(cli("compare", images / "notes.txt", images / "n.img"), "compare")
    res = cli("compare", images / "n.img", images / "small_n.img")
    one_line_error(res, "compare")
    assert "differ in size" in res.stderr and "48 x 48" in res.stderr and "32 x 32" in res.stderr
    one_line_error(cli("compare", images / "n.img", images / "n.img", "--size", "x"), "compare")
    one_line_error(cli("compare", images / "f.bin", images / "f.bin", "--size", "40x40"), "compare")
    assert cli("compare", images / "f.bin", images / "f.bin", "--size", "48x48").exit_code == 0


# ---------------------------------------------------------------- peaks

def _spots(shape, where, value=100.0):
    img = np.zeros(shape)
    for x, y in where:
        img[y - 1:y + 2, x - 1:x + 2] = value / 4
        img[y, x] = value
    return img


def test_peaks_found_and_matched_with_their_offset():
    where = [(10, 10), (30, 12), (20, 35), (40, 40)]
    a = _spots((48, 48), where)
    b = _spots((48, 48), [(x + 1, y) for x, y in where])
    pa = find_peaks(a)
    assert sorted(map(tuple, pa.astype(int))) == sorted(where)
    r = comparison(a, b, radius=1.5)
    assert (r["peaks_a"], r["peaks_b"], r["matched"]) == (4, 4, 4)
    assert r["mean_offset"] == pytest.approx((1.0, 0.0)) and r["mean_distance"] == pytest.approx(1.0)
    assert comparison(a, b, radius=0.5)["matched"] == 0
    # one-to-one: two peaks of A near one of B match once
    assert len(match_peaks(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.5, 0.0]]), 2.0)) == 1


def test_flat_top_peak_counts_once():
    a = np.zeros((9, 9))
    a[4, 4:6] = 10.0
    assert len(find_peaks(a)) == 1


# ---------------------------------------------------------------- read_image

def test_read_image_types_and_geometry(images):
    img, info = read_image(images / "c.cbf")
    assert img.dtype == np.int32 and info["format"] == "CBF"
    assert info["pixel_size_mm"] == pytest.approx(0.1) and info["wavelength_A"] == pytest.approx(1.0)
    assert info["distance_mm"] == pytest.approx(100.0) and info["beam_center_px"] == pytest.approx((25.0, 25.0))
    img, info = read_image(images / "i.img")
    assert img.dtype == np.uint16 and info["beam_center_px"] == pytest.approx((25.0, 25.0))
    assert info["distance_mm"] == pytest.approx(100.0)
    img, info = read_image(images / "f.bin")
    assert img.dtype == np.float64 and info["dtype"] == "float32" and info["size"] == (48, 48)
    img, info = read_image(images / "f.bin", fpixels=24)
    assert info["size"] == (24, 96)
    img, info = read_image(images / "f.bin", spixels=96)
    assert info["size"] == (24, 96)
    with pytest.raises(NanoBraggError, match="not rows of"):
        read_image(images / "f.bin", fpixels=100)


@pytest.mark.skipif(not HAS_NXMX, reason="nbnumba.io.nexus has no read_nxmx")
def test_read_image_nxmx(images):
    img, info = read_image(images / "x.nxs")
    _, noise = read_smv(images / "n.img")
    assert np.array_equal(img, noise) and info["format"] == "NXmx"
    assert info["pixel_size_mm"] == pytest.approx(0.1) and info["wavelength_A"] == pytest.approx(1.0)
    assert info["beam_center_px"] == pytest.approx((25.0, 25.0))
