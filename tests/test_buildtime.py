"""The line a first run prints before compiling: only when something is to be compiled, once, with an
estimate scaled by this machine's speed."""
import pytest

from golden_runner import run_in
from nbnumba.kernels import buildtime, native

ARGS = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 16 -seed 1".split()


def test_estimate_scales_with_the_machine():
    names = buildtime.entries_for("fast", None, False, False)
    want = buildtime.IMPORT_S + sum(buildtime.BUILD_S[n] for n in names)
    assert buildtime.estimate_s(names, buildtime.REFERENCE_CALIBRATE_S) == pytest.approx(want)
    assert buildtime.estimate_s(names, 2 * buildtime.REFERENCE_CALIBRATE_S) == pytest.approx(2 * want)
    assert set(buildtime.entries_for("exact", "x.hkl", True, True)) <= set(native.ENTRIES)
    assert set(buildtime.BUILD_S) == set(native.ENTRIES)     # every entry has a figure


def test_a_warm_run_says_nothing_a_cold_one_says_it_compiles(tmp_path, monkeypatch):
    res = run_in(tmp_path, ARGS)                       # compiles here if needed: warm afterwards
    assert res.exit_code == 0
    for name in buildtime.entries_for("fast", None, True, True):
        assert native.is_cached(name) in (True, None)
    assert "compiling" not in run_in(tmp_path, ARGS).stderr
    if native._cache_paths("render_fast") is None:
        pytest.skip("no native cache here (NBNUMBA_NO_NATIVE_CACHE or another platform)")
    # render_fast as if it had to be compiled: not loaded, not in any cache, built by a stand-in
    built = native.kernel("render_fast")
    monkeypatch.delitem(native._loaded, "render_fast")
    real_load = native._load
    monkeypatch.setattr(native, "_load", lambda name, *a, **k: None if name == "render_fast" else real_load(name, *a, **k))
    monkeypatch.setattr(native, "_build", lambda name, paths, **k: built)
    monkeypatch.setattr(native, "is_cached", lambda name: name != "render_fast")
    monkeypatch.setattr(buildtime, "_calibrate", lambda: buildtime.REFERENCE_CALIBRATE_S)
    err = run_in(tmp_path, ARGS).stderr.splitlines()
    want = buildtime.IMPORT_S + buildtime.BUILD_S["render_fast"]
    assert err == ["nbnumba: compiling a kernel for this machine, once: about %.0f s here; later runs load "
                   "them from the cache" % want]


def test_nothing_is_said_when_a_run_stops_before_compiling(tmp_path, monkeypatch):
    """A cold cache and a bad command line: the error alone, no promise of a compile that never comes."""
    monkeypatch.setattr(native, "is_cached", lambda name: False)
    res = run_in(tmp_path, ["-default_F", "1", "-detpixels", "8"])        # no cell: exit 9 before any kernel
    assert res.exit_code == 9
    assert "compiling" not in res.stderr
