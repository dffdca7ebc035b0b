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
