"""Bad input gets one line on stderr naming the flag or file (and line), exit code 9, no file written,
no traceback (issue 9, item 4). Where nanoBragg.c exits 0 with an all-zero or NaN image (a zero pixel
size, distance or wavelength, a degenerate cell, an empty ROI, a missing -mat) we stop on purpose."""
import re
import shlex
import shutil

import numpy as np
import pytest

from nbnumba import checks
from nbnumba.cli.simulate import simulate
from nbnumba.io.cscan import CStream

BASE = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 32 -pixel 0.1 -seed 1"
MAT_BASE = BASE.replace("-cell 100 100 100 90 90 90", "-mat m.mat")
HKL_BASE = "-cell 100 100 100 90 90 90 -hkl a.hkl -N 5 -lambda 6.2 -distance 100 -detpixels 8 -pixel 0.1 -seed 1"


def run(tmp_path, capsys, args, files=None, monkeypatch=None):
    """simulate(args) in tmp_path with `files` written first: (exit code, stdout, stderr, new files)."""
    for name, data in (files or {}).items():
        (tmp_path / name).write_bytes(data)
    before = {p.name for p in tmp_path.iterdir()}
    if monkeypatch is None:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(tmp_path)
            rc = simulate(shlex.split(args))
    else:
        monkeypatch.chdir(tmp_path)
        rc = simulate(shlex.split(args))
    out, err = capsys.readouterr()
    made = sorted({p.name for p in tmp_path.iterdir()} - before)
    for name, data in (files or {}).items():
        assert (tmp_path / name).read_bytes() == data, "input %s changed" % name
    return rc, out, err, made


def assert_refused(result, *pieces):
    rc, out, err, made = result
    assert rc == 9, err
    assert "Traceback" not in err + out
    # one error line, the last (a note that kernels are being compiled may come before it)
    lines = [l for l in err.strip().splitlines() if "error" in l]
    assert len(lines) == 1 and lines[0].startswith("nbnumba simulate: error: "), err
    assert err.strip().splitlines()[-1] == lines[0]
    for piece in pieces:
        assert piece in lines[0], (piece, lines[0])
    assert made == [], made


def smv(keys, data=b""):
    """An SMV file from the golden mask with some header keys replaced."""
    raw = (shutil.os.path.dirname(__file__) + "/../golden/inputs/mask.img")
    raw = open(raw, "rb").read()
    head, body = raw[:512], raw[512:]
    for key, value in keys.items():
        head = re.sub(rb"\n" + key.encode() + rb"=[^;]*;", b"\n" + key.encode() + b"=" + value.encode() + b";",
                      head, count=1)
    head = head[:512].ljust(512, b" ")
    return head + (data or body)


# ------------------------------------------------------------------ -mat

@pytest.mark.parametrize("text, pieces", [
    (None, ["-mat m.mat", "No such file"]),
    (b"0.01 0 0\n0 0.01 0\n", ["-mat m.mat", "6 of the 9"]),
    (b"0 0 0\n0 0 0\n0 0 0\n", ["-mat m.mat", "singular"]),
    (b"0.01 0 0\n0.02 0 0\n0 0 0.01\n", ["-mat m.mat", "singular"]),
    (b"0.01 0 0\n0 abc 0\n0 0 0.01\n", ["-mat m.mat line 2", "'abc'"]),
    (b"0.01 0 0\n0 nan 0\n0 0 0.01\n", ["-mat m.mat", "non-finite"]),
    (b"1e-100 0 0\n0 1e-100 0\n0 0 1e-100\n", ["-mat m.mat", "not an orientation matrix"]),
])
def test_a_missing_short_singular_or_non_numeric_matrix(tmp_path, capsys, text, pieces):
    files = {} if text is None else {"m.mat": text}
    assert_refused(run(tmp_path, capsys, MAT_BASE, files), *pieces)


def test_a_missing_matrix_is_refused_even_with_a_cell(tmp_path, capsys):
    # C ignores the missing file and uses -cell; a named input we cannot read is an error here
    assert_refused(run(tmp_path, capsys, BASE + " -mat nothere.mat"), "-mat nothere.mat")


def test_a_good_matrix_still_runs(tmp_path, capsys, golden_dir):
    rc, out, err, made = run(tmp_path, capsys, MAT_BASE.replace("-detpixels 32", "-detpixels 8") + " -nonoise -nopgm",
                             {"m.mat": (golden_dir / "inputs" / "A.mat").read_bytes()})
    assert rc == 0, err
    assert made == ["floatimage.bin", "intimage.img"]


# ------------------------------------------------------------------ values that cannot describe an experiment

@pytest.mark.parametrize("extra, pieces", [
    ("-pixel 0", ["-pixel 0", "pixel size"]),
    ("-pixel -0.1", ["-pixel -0.1"]),
    ("-distance 0", ["-distance 0", "distance"]),
    ("-distance -100", ["-distance -100"]),
    ("-distance inf", ["-distance inf"]),
    ("-close_distance 0", ["-close_distance 0"]),
    ("-lambda 0", ["-lambda 0", "wavelength"]),
    ("-lambda nan", ["-lambda nan"]),
    ("-lambda -1", ["-lambda -1"]),
    ("-energy 0", ["-lambda inf", "-energy"]),
    ("-detpixels -1", ["-detpixels -1", "pixels"]),
    ("-detpixels 0 -detsize 0", ["-detsize_f 0"]),
    ("-detpixels 0 -detsize nan", ["-detsize_f nan"]),
    ("-detpixels 0 -detsize 0.01", ["no pixel"]),
    ("-roi 20 10 20 10", ["-roi 20 10 20 10", "no pixel", "32x32"]),
    ("-roi 100 200 100 200", ["-roi 100 200 100 200", "32x32"]),
    ("-cell 100 100 100 180 90 90", ["-cell 100 100 100 180 90 90", "degenerate"]),
    ("-cell 100 100 100 90 90 180", ["-cell 100 100 100 90 90 180", "degenerate"]),
    ("-cell 0 100 100 90 90 90", ["-cell 0 100 100"]),
    ("-cell 100 100 nan 90 90 90", ["-cell 100 100 nan"]),
    ("-cell 100 100 100 nan 90 90", ["-cell 100 100 100 nan"]),
    ("-xtalsize inf", ["-xtalsize", "inf"]),
    ("-misset nan 0 0", ["-misset nan 0 0", "finite"]),
    ("-misset 10 20 inf", ["-misset 10 20 inf"]),
    ("-misset_seed 0 -default_F -inf", ["-misset 0 0 -inf"]),   # -misset_seed's collision (quirk A3)
    ("-phi inf", ["-phi inf"]),
    ("-twotheta -inf", ["-twotheta -inf"]),
    ("-divergence inf", ["-hdivrange inf"]),
    ("-Xbeam inf", ["-Xbeam inf", "beam centre"]),
    ("-beam_vector 0 0 0", ["-beam_vector", "non-zero"]),
    ("-beam_vector -1e300 90 1", ["-beam_vector"]),
    ("-divsteps 1", ["no source is left"]),
    ("-cell 1e-300 7 45 90 90 90", ["-cell 1e-300", "between"]),
    ("-cell 100 100 100 1e-300 90 90", ["degenerate"]),
    ("-cell 100 100 100 270 90 90", ["-cell 100 100 100 270 90 90", "180 degrees"]),
    ("-xtalsize 1e308", ["-xtalsize", "a crystal of inf"]),
    ("-flux 1e12 -beamsize 0", ["-beamsize 0", "-flux 1e+12"]),
])
def test_values_that_cannot_describe_a_run(tmp_path, capsys, extra, pieces):
    assert_refused(run(tmp_path, capsys, BASE + " " + extra), *pieces)


def test_legal_oddities_of_c_still_run(tmp_path, capsys):
    # b and c <= 0 take a (C's default), N 0 is 1, a negative close distance puts the detector behind
    # the sample: C computes something meaningful for each, and so do we
    for extra in ("-cell 100 0 0 90 90 90", "-N 0", "-close_distance -100", "-roi 0 100 0 100"):
        rc, out, err, made = run(tmp_path, capsys, BASE + " -detpixels 8 -nonoise -nopgm " + extra)
        assert rc == 0, (extra, err)


def test_a_huge_pixel_and_tiny_distance_keep_cs_auto_oversample(tmp_path, capsys):
    # C's (int)ceil(inf) is INT_MIN: the recommended oversampling is then 1, no exception
    rc, out, err, made = run(tmp_path, capsys, BASE + " -detpixels 8 -pixel 2147483647 -distance 1e-300 -nonoise -nopgm")
    assert rc == 0, err
    assert "auto-selected 1-fold oversampling" in out and "recommend -oversample" not in out


def test_a_mask_that_masks_every_pixel_with_noise(tmp_path, capsys):
    head = smv({"SIZE1": "8", "SIZE2": "8"})[:512]
    rc, out, err, made = run(tmp_path, capsys, "-mask m.img -cell 100 100 100 90 90 90 -default_F 1 -N 5",
                             {"m.img": head + bytes(128)})
    assert rc == 0, err


def test_a_mask_that_masks_every_pixel_stays_legitimate(tmp_path, capsys):
    head = smv({"SIZE1": "8", "SIZE2": "8"})[:512]
    rc, out, err, made = run(tmp_path, capsys, "-mask m.img -cell 100 100 100 90 90 90 -default_F 1 -N 5 -nonoise -nopgm",
                             {"m.img": head + bytes(128)})
    assert rc == 0, err
    assert np.fromfile(tmp_path / "floatimage.bin", np.float32).max() == 0.0


# ------------------------------------------------------------------ SMV headers

@pytest.mark.parametrize("flag", ["-img", "-mask"])
@pytest.mark.parametrize("key, words", [("PIXEL_SIZE", ["PIXEL_SIZE=0", "pixel size"]),
                                        ("WAVELENGTH", ["WAVELENGTH=0", "wavelength"]),
                                        ("DISTANCE", ["distance"])])
def test_header_values_of_zero(tmp_path, capsys, flag, key, words):
    keys = {key: "0"}
    if key == "DISTANCE":
        keys["CLOSE_DISTANCE"] = "0"   # DISTANCE's last occurrence is in CLOSE_DISTANCE= (quirk B9)
    args = "%s m.img -cell 100 100 100 90 90 90 -default_F 100 -N 5" % flag
    assert_refused(run(tmp_path, capsys, args, {"m.img": smv(keys)}), "m.img", *words)


def test_a_header_value_given_again_on_the_command_line_wins(tmp_path, capsys):
    args = "-img m.img -cell 100 100 100 90 90 90 -default_F 100 -N 5 -pixel 1 -nonoise -nopgm"
    rc, out, err, made = run(tmp_path, capsys, args, {"m.img": smv({"PIXEL_SIZE": "0", "SIZE1": "8", "SIZE2": "8"},
                                                                   bytes(128))})
    assert rc == 0, err


def test_size1_of_zero_is_reported_as_zero(tmp_path, capsys):
    args = "-img m.img -cell 100 100 100 90 90 90 -default_F 100 -N 5"
    rc, out, err, made = run(tmp_path, capsys, args, {"m.img": smv({"SIZE1": "0"})})
    assert_refused((rc, out, err, made), "m.img", "SIZE1=0")
    assert "-2147483648" not in err


def test_a_huge_mask_header_is_refused_before_allocating(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(checks, "available_memory", lambda: 1 << 30)
    args = "-mask m.img -cell 100 100 100 90 90 90 -default_F 100 -N 5"
    assert_refused(run(tmp_path, capsys, args, {"m.img": smv({"SIZE1": "40000", "SIZE2": "40000"})},
                       monkeypatch), "40000x40000", "m.img", "memory")


# ------------------------------------------------------------------ sizes and step counts

def test_a_detector_beyond_memory_is_refused_before_allocating(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(checks, "available_memory", lambda: 100 << 20)
    assert_refused(run(tmp_path, capsys, BASE + " -detpixels 8000", monkeypatch=monkeypatch),
                   "8000x8000", "memory", "100 MiB")


def test_a_detector_no_machine_holds(tmp_path, capsys):
    assert_refused(run(tmp_path, capsys, BASE + " -detpixels 2000000"), "2000000x2000000", "memory")


def test_the_memory_estimate_is_roughly_right():
    # float image, int image, noise, pgm, and per rendered pixel order, omega and flags
    assert 40 * 10**6 <= checks.pixel_bytes(10**6, 10**6) <= 80 * 10**6
    assert checks.available_memory() > 0


def test_an_hkl_grid_beyond_memory_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(checks, "available_memory", lambda: 100 << 20)
    assert_refused(run(tmp_path, capsys, HKL_BASE, {"a.hkl": b"0 0 0 1\n1000 1000 10 1\n"}, monkeypatch),
                   "a.hkl", "structure-factor grid", "memory")


@pytest.mark.parametrize("extra, pieces", [
    ("-mosaic 1 -mosaic_dom 1000000000", ["-mosaic_dom 1000000000", "10000000"]),
    ("-mosaic 1 -mosaic_dom 100000 -phisteps 1000 -osc 1", ["-mosaic_dom 100000 x -phisteps 1000"]),
    ("-divergence 1 -divsteps 100000", ["-hdivsteps 100000 x -vdivsteps 100000"]),
    ("-thicksteps 100000000 -detector_thick 100", ["-thicksteps", "100000000"]),
    ("-oversample 100000", ["-oversample 100000", "steps per pixel"]),
    ("-detpixels 4000 -mosaic 1 -mosaic_dom 1000 -phisteps 1000 -osc 1 -oversample 40", ["inner steps", "16000000 pixels"]),
])
def test_step_counts_that_cannot_finish(tmp_path, capsys, extra, pieces):
    assert_refused(run(tmp_path, capsys, BASE + " " + extra), *pieces)


# ------------------------------------------------------------------ hkl and Fdump.bin

def test_an_index_of_5000_digits(tmp_path, capsys):
    text = b"1 2 3 4\n0 0 0 1\n" + b"1" * 5000 + b" 0 0 5\n"
    assert_refused(run(tmp_path, capsys, HKL_BASE, {"a.hkl": text}), "a.hkl line 3", "index h")


def test_an_index_beyond_int(tmp_path, capsys):
    assert_refused(run(tmp_path, capsys, HKL_BASE, {"a.hkl": b"0 0 0 1\n0 -3000000000 0 1\n"}),
                   "a.hkl line 2", "index k")


def test_scanf_int_of_5000_digits_saturates_as_strtol_does():
    # strtol gives LONG_MAX, which C's int keeps the low 32 bits of: -1
    assert CStream(b"1" * 5000).scanf("%d") == (1, [-1])
    assert CStream(b"-" + b"1" * 5000).scanf("%d") == (1, [0])


def test_an_inverted_fdump_header(tmp_path, capsys):
    args = "-cell 100 100 100 90 90 90 -N 5 -lambda 6.2 -distance 100 -detpixels 8"
    assert_refused(run(tmp_path, capsys, args, {"Fdump.bin": b"5 -5 5 -5 5 -5\n\f" + bytes(64)}),
                   "Fdump.bin", "h range 5 to -5")


# ------------------------------------------------------------------ messages name the user's path

def test_an_output_that_is_a_directory_is_named(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    rc, out, err, made = run(tmp_path, capsys, BASE + " -floatfile d -nonoise -nopgm")
    assert rc == 9 and "Traceback" not in err
    assert " d" in err and ".tmp" not in err, err


def test_a_file_size_limit_names_the_file(tmp_path, capsys):
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))
    try:
        rc, out, err, made = run(tmp_path, capsys, BASE + " -nonoise -nopgm")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert rc == 9 and "floatimage.bin" in err and "error: :" not in err, err
    assert not [n for n in made if n.endswith(".tmp")]


def test_an_integer_flag_of_5000_digits(tmp_path, capsys):
    rc, out, err, made = run(tmp_path, capsys, BASE + " -nonoise -nopgm -detpixels " + "1" * 5000)
    assert rc in (0, 9) and "Traceback" not in err
