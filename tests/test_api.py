"""The Python API gives the same image as the command line, and keywords mean nanoBragg's SI values."""
import numpy as np

import nbnumba.api as nb

ARGV = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 128 -pixel 0.1 -seed 1"


def test_argv_run_matches_golden(golden_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = nb.run_simulation(nb.params(ARGV.split()))
    want = np.fromfile(golden_dir / "cases" / "base_mosflm" / "floatimage.bin", np.float32).reshape(128, 128)
    assert result.image.shape == (128, 128)
    assert np.array_equal(result.image.view(np.uint32), want.view(np.uint32))
    assert f"{result.max_I:g}" == "154.652"
    assert list(tmp_path.iterdir()) == []          # running writes nothing


def test_keywords_in_si_units_equal_flags(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    by_flags = nb.run_simulation(nb.params(ARGV.split()))
    by_keywords = nb.run_simulation(nb.params(
        ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-seed", "1"],
        Na=5.0, Nb=5.0, Nc=5.0, lambda0=6.2e-10, distance=0.1, fpixels=128, spixels=128, pixel_size=1e-4))
    assert np.array_equal(by_flags.image, by_keywords.image)


def test_write_outputs_is_a_separate_step(golden_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = nb.run_simulation(nb.params(ARGV.split()))
    nb.write_outputs(result, log=lambda line: None)
    for name in ("floatimage.bin", "intimage.img", "noiseimage.img", "image.pgm"):
        assert (tmp_path / name).read_bytes() == (golden_dir / "cases" / "base_mosflm" / name).read_bytes()


def test_unknown_keyword_is_an_error():
    import pytest
    with pytest.raises(nb.NanoBraggError, match="unknown parameter"):
        nb.params([], wavelength=1e-10)


import pytest  # noqa: E402


@pytest.mark.parametrize("keywords, message", [
    (dict(kernel="turbo"), "kernel must be one of exact, fast"),
    (dict(device="tpu"), "device must be one of cpu, cuda, auto"),
    (dict(threads=-3), "threads must be >= 0"),
    (dict(omp_threads=0), "omp_threads must be >= 1"),
    (dict(fpixels=32.5), "fpixels must be a whole number"),
    (dict(fpixels="32"), "fpixels must be a number"),
    (dict(oversample=True), "oversample must be a number"),
    (dict(beam_vector=(1, 0)), "beam_vector must be 3 numbers"),
    (dict(beam_vector=(1, 0, float("nan"))), "beam_vector must be finite"),
    (dict(beam_vector=5), "beam_vector must be 3 numbers"),
    (dict(xtal_shape="cube"), "xtal_shape must be one of SQUARE, ROUND, GAUSS, TOPHAT"),
    (dict(hklfilename=3), "hklfilename must be a file name"),
    (dict(distnce=0.1), "unknown parameter 'distnce' (did you mean 'distance'?)"),
])
def test_keywords_are_checked_and_errors_name_the_field(keywords, message):
    with pytest.raises(nb.NanoBraggError) as err:
        nb.params([], **keywords)
    assert message in str(err.value)
    assert err.value.exit_code == 9


def test_keyword_n_sets_all_three_axes_as_the_flag_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = nb.params(ARGV.replace("-N 5 ", "").split(), N=5)
    assert (p.Na, p.Nb, p.Nc) == (5.0, 5.0, 5.0)
    by_flag = nb.run_simulation(nb.params(ARGV.split()))
    assert np.array_equal(nb.run_simulation(p).image, by_flag.image)


def test_whole_floats_become_ints_and_run_arguments_are_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = nb.params(ARGV.split(), fpixels=128.0, spixels=np.int64(128))
    assert type(p.fpixels) is int and type(p.spixels) is int
    with pytest.raises(nb.NanoBraggError, match="threads must be >= 0"):
        nb.run_simulation(p, threads=-1)
    with pytest.raises(nb.NanoBraggError, match="kernel must be one of"):
        nb.run_simulation(p, kernel="turbo")
