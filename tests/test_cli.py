"""Command-line behaviour: diagnostics, errors, help, and thread-count independence."""
import shutil

import numpy as np
import pytest

from golden_runner import run_in

BASE = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 64 -pixel 0.1".split()


@pytest.fixture
def work(tmp_path, golden_dir):
    for f in (golden_dir / "inputs").iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def test_printout_pixel_block_matches_nanobragg(work, golden_dir):
    case = golden_dir / "cases" / "printout_pixel"
    res = run_in(work, BASE + "-printout_pixel 20 30 -oversample 1 -seed 30".split())
    want = case.joinpath("stdout.txt").read_text().splitlines()
    got = res.stdout.splitlines()
    start = next(i for i, l in enumerate(want) if "stol =" in l)
    block = want[start:start + 14]
    gstart = got.index(block[0])
    # I/steps is rebuilt from the stored float pixel, so only its last digits may differ
    for w, g in zip(block, got[gstart:gstart + 14]):
        if w.startswith("I/steps"):
            assert float(w.split()[1]) == pytest.approx(float(g.split()[1]), rel=1e-6)
        else:
            assert w == g


@pytest.mark.parametrize("args, message", [
    ("-cell 100 100 100 90 90 90 -N 5 -detpixels 32", "no structure factors"),
    ("-default_F 1 -N 5 -detpixels 32", "no unit cell"),
    ("-cell 100 100 100 90 90 90 -default_F 1 -hkl missing.hkl", "missing.hkl: unable to open"),
    ("-cell 100 100 100 90 90 90 -default_F 1 -detpixels 32 -lambda one", "-lambda: 'one' is not a number"),
    ("-cell 100 100 100 90 90 90 -default_F 1 -detpixels 32 -detector_thick", "-detector_thick needs a value"),
    ("-cell 100 100 100 90 90 90 -default_F 1 -detpixels 32 -stol none.stol", "none.stol"),
    ("-cell 100 100 100 90 90 90 -default_F 1 -detpixels 32 -floatfile sources.txt -sourcefile sources.txt",
     "would overwrite an input"),
])
def test_bad_input_one_line_error_exit_9_no_files(work, args, message):
    before = sorted(p.name for p in work.iterdir())
    res = run_in(work, args.split())
    assert res.exit_code == 9
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert "Traceback" not in res.output
    assert sorted(p.name for p in work.iterdir()) == before


def test_unknown_flag_warns_and_is_ignored(work):
    res = run_in(work, BASE + ["-nonoise", "-nopgm", "-frobnicate"])
    assert res.exit_code == 0
    assert "-frobnicate" in res.stderr
    ref = np.fromfile(work / "floatimage.bin", np.float32)
    res = run_in(work, BASE + ["-nonoise", "-nopgm"])
    assert np.array_equal(ref, np.fromfile(work / "floatimage.bin", np.float32))


def test_help_states_our_true_defaults_and_working_choices():
    from nbnumba.cli.argv import OUR_OPTIONS, Params, parse_argv
    from nbnumba.errors import NanoBraggError
    from click.testing import CliRunner
    from nbnumba.cli.main import main
    out = CliRunner().invoke(main, ["simulate", "--help"]).output.splitlines()
    defaults = Params()
    for flag in OUR_OPTIONS:
        at = next(i for i, line in enumerate(out) if line.split()[:1] == [flag])
        default = getattr(defaults, flag[1:])
        assert out[at + 1].endswith("[default: %s]" % ("none" if default is None else default)), out[at:at + 2]
        choices = out[at].split("<")[1].rstrip(">")
        if "|" in choices:
            for choice in choices.split("|"):       # every listed choice is accepted...
                assert getattr(parse_argv([flag, choice], now=1), flag[1:]) == choice
            with pytest.raises(NanoBraggError):     # ...and nothing else
                parse_argv([flag, "quadruple" if flag != "-device" else "tpu"], now=1)


def test_help_lists_flags_with_units():
    from click.testing import CliRunner
    from nbnumba.cli.main import main
    out = CliRunner().invoke(main, ["simulate", "--help"]).output
    for flag in ("-cell", "-mosaic_dom", "-detector_thicksteps", "-omp_threads", "-kernel", "-threads", "-device"):
        assert flag in out
    assert "mm" in out and "deg" in out


@pytest.mark.parametrize("threads", [1, 2])
def test_image_independent_of_real_threads(work, threads):
    args = BASE + "-phi 0 -osc 1 -phisteps 3 -omp_threads 3 -nonoise -nopgm".split()
    run_in(work, args + ["-threads", "1"])
    one = (work / "floatimage.bin").read_bytes()
    run_in(work, args + ["-threads", str(threads)])
    assert (work / "floatimage.bin").read_bytes() == one


def test_progress_meter_lines_match_serial_nanobragg(work, golden_dir):
    args = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 128 -pixel 0.1 -seed 1"
    res = run_in(work, args.split())
    want = [l for l in (golden_dir / "cases" / "base_mosflm" / "stdout.txt").read_text().splitlines() if "done" in l]
    assert [l for l in res.stdout.splitlines() if "done" in l] == want


@pytest.mark.parametrize("kernel", ["exact", "fast"])
@pytest.mark.parametrize("case", ["interpolate_shutoff", "phi_carryover_threads3", "roi", "mask"])
def test_progress_lines_and_interpolation_warning_in_c_order(work, golden_dir, case, kernel):
    """The lines are printed as the render reaches them (LiveProgress), in C's order: the interpolation
    warning right after the pixel that switched it off, before that pixel's progress line."""
    import tomllib
    spec = next(c for c in tomllib.loads((golden_dir / "cases.toml").read_text())["case"] if c["name"] == case)
    threads = int(spec.get("threads", 1))
    args = spec["args"].split() + ["-kernel", kernel] + (["-omp_threads", str(threads)] if threads > 1 else [])
    res = run_in(work, args)
    assert res.exit_code == 0, res.output

    def events(text, warning):
        return ["W" if warning in l else l.strip() for l in text.splitlines() if "done" in l or warning in l]

    c_text = (golden_dir / "cases" / case / "stdout.txt").read_text()
    # C prints "WARNING: further warnings will not be printed! " with no newline before the next line
    c_text = c_text.replace("further warnings will not be printed! ", "further warnings will not be printed!\n")
    ours, c = events(res.stdout, "three point interpolation"), events(c_text, "further warnings")
    if threads > 1:     # C's threads interleave their lines; ours come one thread after the other
        ours, c = sorted(ours), sorted(c)
    assert ours == c


@pytest.mark.parametrize("text, line", [("0 0 0 10\n1 0 0 20\n1 x 0 30\n2 0 0 40\n", 3),
                                        ("0 0 0 10\n1.0 0 0 20\n", 2)])
def test_bad_hkl_line_is_reported_and_reading_stops_as_in_c(work, text, line):
    from nbnumba.io.fdump import read_fdump
    (work / "bad.hkl").write_text(text)
    res = run_in(work, "-hkl bad.hkl -cell 100 100 100 90 90 90 -detpixels 16 -nonoise -nopgm".split())
    assert res.exit_code == 0
    assert "bad.hkl" in res.stderr and f"stopped at line {line}" in res.stderr
    table = read_fdump(str(work / "Fdump.bin"))
    # only the records before the bad line are in the table (h from 0 to 1)
    assert (table.h_min, table.h_max) == (0, 1)
    assert table.Fhkl[0, 0, 0] == 10.0
    assert table.Fhkl[1, 0, 0] == (20.0 if line == 3 else 0.0)


def test_sourcefile_comment_line_warns_and_gives_nan_not_a_crash(work):
    # quirk B14: C reads a comment line as a source at the origin with lambda 0; with interpolation on,
    # its NaN indices make C read outside its table (undefined): we give NaN there, and a warning
    (work / "s.txt").write_text("# my sources\n-10 0 0 1 1e-10\n")
    images = []
    for kernel in ("exact", "fast"):
        res = run_in(work, ("-sourcefile s.txt -hkl small.hkl -cell 100 100 100 90 90 90 -detpixels 16 -nonoise "
                            "-nopgm -kernel " + kernel).split())
        assert res.exit_code == 0
        assert "s.txt: source 0 has a zero position or wavelength" in res.stderr
        images.append(np.fromfile(work / "floatimage.bin", np.float32))
    # NaN where the zero source meets the tricubic interpolation (until C's global switch-off), and the
    # same pixels from both kernels
    assert np.isnan(images[0]).any() and not np.isnan(images[0]).all()
    assert np.array_equal(images[0], images[1], equal_nan=True)
