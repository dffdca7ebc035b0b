"""The native kernel cache: entries built by numba, saved, mapped back without numba, and rebuilt
whenever the cache cannot be trusted."""
import ctypes
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nbnumba import random_numbers as R
from nbnumba.kernels import native

ROOT = Path(__file__).resolve().parent.parent

_RUN = """
import sys
from nbnumba.api import params, run_simulation
r = run_simulation(params("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 24 -mosaic 0.2 "
                          "-mosaic_dom 3".split()))
print(repr(r.max_I), repr(r.mean), "numba" in sys.modules, "llvmlite" in sys.modules)
"""


def _python(code, **env):
    full = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split()


def test_a_warm_run_does_not_import_numba():
    first = _python(_RUN)            # builds whatever this session has not built yet
    second = _python(_RUN)
    assert second[:2] == first[:2]
    assert second[2] == "False"
    if shutil.which("ld"):
        assert second[3] == "False"     # the shared libraries open without llvmlite


def test_without_the_cache_the_same_numbers():
    cached = _python(_RUN)
    uncached = _python(_RUN, NBNUMBA_NO_NATIVE_CACHE="1")
    assert uncached[:2] == cached[:2]
    assert uncached[2] == "True"      # compiled in-process by numba


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A fresh cache folder and key, and no entry loaded yet in this process."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native, "_key_base", "test-" + tmp_path.name)
    monkeypatch.setattr(native, "_loaded", {})
    return tmp_path / "nbnumba-native"


def _paths(name):
    """The entry's (object, metadata) cache paths as Path objects, or None."""
    paths = native._cache_paths(name)
    return None if paths is None else tuple(Path(p) for p in paths)


def _from_shared_library(k):
    return isinstance(k._keepalive, ctypes.CDLL)


def test_saved_entry_maps_back_and_computes(private_cache):
    built = native._obtain("gammln")
    obj, meta = _paths("gammln")
    assert obj.is_file() and meta.is_file() and obj.parent == private_cache
    loaded = native._load("gammln", obj, meta)
    assert loaded is not None
    assert _from_shared_library(loaded) == bool(shutil.which("ld"))
    obj.with_suffix(".so").unlink(missing_ok=True)
    mapped = native._load("gammln", obj, meta)       # the object file, through llvmlite
    assert mapped is not None and not _from_shared_library(mapped)
    for x in (0.5, 3.0, 12.5, 170.0):
        assert loaded(x) == built(x) == mapped(x)
        assert loaded(x) == pytest.approx(math.lgamma(x), rel=1e-6)


def test_without_a_linker_the_object_file_serves(private_cache, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    built = native._obtain("rmsd_pass")
    obj, meta = _paths("rmsd_pass")
    assert not obj.with_suffix(".so").exists()
    loaded = native._load("rmsd_pass", obj, meta)
    assert loaded is not None and not _from_shared_library(loaded)
    image = np.linspace(0, 5, 7, dtype=np.float32)
    assert loaded(image, 1.5, np.arange(7)) == built(image, 1.5, np.arange(7))


@pytest.mark.skipif(not shutil.which("ld"), reason="no system linker")
def test_a_corrupt_shared_library_falls_back_to_the_object(private_cache):
    native._obtain("gammln")
    obj, meta = _paths("gammln")
    so = obj.with_suffix(".so")
    so.write_bytes(so.read_bytes()[:-32] + b"\0" * 32)
    loaded = native._load("gammln", obj, meta)
    assert loaded is not None and not _from_shared_library(loaded)
    assert loaded(4.0) == pytest.approx(math.log(6.0), rel=1e-6)


def test_corrupt_or_foreign_cache_is_rebuilt(private_cache):
    native._obtain("gammln")
    obj, meta = _paths("gammln")
    obj.with_suffix(".so").unlink(missing_ok=True)
    obj.write_bytes(obj.read_bytes()[:-16] + b"\0" * 16)
    assert native._load("gammln", obj, meta) is None       # checksum
    rebuilt = native._obtain("gammln")
    assert rebuilt(4.0) == pytest.approx(math.log(6.0), rel=1e-6)
    assert native._load("gammln", obj, meta) is not None
    meta.write_bytes(b"\xff\xfe not a metadata file")
    assert native._load("gammln", obj, meta) is None


def test_a_new_key_replaces_the_old_files(private_cache, monkeypatch):
    native._obtain("rmsd_pass")
    first = sorted(p.name for p in private_cache.iterdir())
    monkeypatch.setattr(native, "_key_base", "other")
    native._obtain("rmsd_pass")
    second = sorted(p.name for p in private_cache.iterdir())
    assert len(first) == len(second) == (3 if shutil.which("ld") else 2) and not set(first) & set(second)


def test_every_cached_object_needs_only_stubs_and_this_process():
    """What a saved object leaves undefined is either a numba error-path helper (stubbed) or
    something any Python process provides (libc, libm, the C API)."""
    for name in ("render_exact", "render_fast", "noise"):
        native.kernel(name)
        paths = _paths(name)
        if paths is None or not paths[0].is_file():
            pytest.skip("no native cache on this platform")
        data = paths[0].read_bytes()
        undefined = native.undefined_symbols(data)
        stubs = set(native.read_meta(paths[1])["stubs"])
        assert all(s.startswith(("numba_", "NRT_")) for s in stubs)
        assert all(s in stubs or native._in_process(s) for s in undefined)


def test_undefined_symbols_rejects_what_is_not_elf():
    assert native.undefined_symbols(b"MZ\x90\x00" + b"\0" * 64) == ["<not a little-endian ELF64 object>"]


def test_arguments_are_checked_before_the_call():
    stats = native.kernel("rmsd_pass")
    image = np.arange(6, dtype=np.float32)
    assert stats(image, 1.0, np.arange(6)) == sum((v - 1.0) ** 2 for v in range(6))
    with pytest.raises(TypeError, match="argument image must be a C-ordered 1-d float32 array, not 1-d float64"):
        stats(image.astype(np.float64), 1.0, np.arange(6))
    with pytest.raises(TypeError, match="argument roi .*not C-ordered"):
        stats(image, 1.0, np.arange(12)[::2])
    with pytest.raises(TypeError, match="takes 3 arguments"):
        stats(image, 1.0)


def test_ran1_outside_cs_range_is_an_error_not_a_crash():
    """A compiled kernel cannot raise: ran1 flags a shuffle index outside its table (where C would
    read out of bounds) and the Python side raises; the next call works again."""
    g = R.NanoRNG()
    seed = R.make_seed(-7)
    first = R.ran1(g, seed)
    g.state[0]["iy"] = 2 ** 40          # a state no valid seed reaches
    with pytest.raises(ValueError, match="seed outside the range"):
        R.ran1(g, seed)
    assert R.ran1(R.NanoRNG(), R.make_seed(-7)) == first


def _int_reference(f, scale, adc):
    """The C conversion as x86-64 performs it (clip, +0.5 rounded to float, floor; NaN gives int32's
    INT_MIN, low 16 bits 0), spelled out so that no out-of-range cast is left to NumPy or the CPU."""
    t = np.clip(f.astype(np.float64) * scale + adc, None, 65535.0)
    t = np.where(t < 0.0, 0.0, t)
    v = np.floor((t + 0.5).astype(np.float32)).astype(np.float64)
    return np.where(np.isnan(v), 0.0, v).astype(np.uint16)


def _pgm_reference(f, scale):
    """(unsigned char) of min(float*scale, 255) as x86-64's cvttsd2si gives it: INT_MIN where not finite,
    INT64_MIN below int64's range; spelled out, as above."""
    t = np.minimum(f.astype(np.float64) * scale, 255.0)
    t = np.where(np.isnan(f), np.nan, t)
    finite = np.isfinite(t)
    low = finite & (t < -9223372036854775808.0)
    n = np.trunc(np.where(finite & ~low, t, 0.0)).astype(np.int64)
    n = np.where(finite, n, -2 ** 31)
    n = np.where(low, np.iinfo(np.int64).min, n)
    return (n & 0xFF).astype(np.uint8)


def test_int_and_pgm_conversions_at_the_edges():
    from types import SimpleNamespace

    from nbnumba.outputs import int_image, pgm_image
    f = np.array([0.0, 0.49, 0.5, 1.5, 2.5, -3.7, 1e30, -1e30, np.inf, -np.inf, np.nan, 65534.6, 254.9, 300.0,
                  -1e20, -9.3e18, 7.0, 3.3], np.float32)
    p = SimpleNamespace(fpixels=6, spixels=3, roi_xmin=0, roi_xmax=5, roi_ymin=0, roi_ymax=2)
    for scale, adc in ((1.0, 0.0), (1.0, 40.0), (1e-3, 0.5), (3.0, -10.0)):
        assert int_image(f, scale, adc, p).tolist() == _int_reference(f, scale, adc).tolist()
        assert pgm_image(f, scale, p).tolist() == _pgm_reference(f, scale).tolist()
    # outside the ROI: 0, whatever the value
    p.roi_xmin, p.roi_xmax, p.roi_ymin, p.roi_ymax = 1, 2, 1, 1
    inside = np.zeros(18, bool)
    inside[[7, 8]] = True
    ints = int_image(f + 100, 1.0, 0.0, p)
    assert ints[~inside].tolist() == [0] * 16 and ints[inside].tolist() == _int_reference(f[inside] + 100, 1.0, 0.0).tolist()


_CALL_SYMBOL = ("import ctypes, sys; lib = ctypes.CDLL(sys.argv[1]); "
                "ctypes.CFUNCTYPE(None)(ctypes.cast(lib[sys.argv[2]], ctypes.c_void_p).value)()")


def _reports_and_aborts(code, *args):
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return proc.returncode < 0 and "nbnumba: internal error in a compiled kernel" in proc.stderr


@pytest.mark.skipif(not shutil.which("ld"), reason="no system linker")
def test_a_stubbed_runtime_helper_reports_and_aborts(tmp_path):
    """The stubs a shared library carries for numba's error-path helpers say what happened on stderr and
    abort, instead of jumping to an unresolved address. Built here for a helper name of our own, through
    the same IR and linker as an entry's: which helpers LLVM leaves referenced depends on the CPU."""
    import llvmlite.binding as ll
    native._llvm_init()
    module = ll.parse_assembly(native._stub_ir(["numba_test_helper", "NRT_test_helper"]))
    module.triple = ll.get_process_triple()
    tm = ll.Target.from_triple(ll.get_process_triple()).create_target_machine(reloc="pic", codemodel="default")
    (tmp_path / "stubs.o").write_bytes(tm.emit_object(module))
    subprocess.run(["ld", "-shared", "-o", str(tmp_path / "stubs.so"), str(tmp_path / "stubs.o")], check=True)
    for name in ("numba_test_helper", "NRT_test_helper"):
        assert _reports_and_aborts(_CALL_SYMBOL, tmp_path / "stubs.so", name)


def test_a_stub_provided_to_the_object_loader_reports_and_aborts():
    """Where entries are mapped from object files, llvmlite resolves the helpers to a ctypes stub."""
    code = ("import ctypes, llvmlite.binding as ll; from nbnumba.kernels import native; "
            "native._provide_stubs(['numba_test_missing_helper']); "
            "ctypes.CFUNCTYPE(None)(ll.address_of_symbol('numba_test_missing_helper'))()")
    assert _reports_and_aborts(code)


@pytest.mark.skipif(not shutil.which("ld"), reason="no system linker")
def test_every_stub_an_entry_needs_is_in_its_shared_library(private_cache):
    """Whatever helpers this CPU's code references, the entry's library defines each as a stub."""
    import ctypes as C
    for name in ("rmsd_pass", "noise", "statistics"):
        native._obtain(name)
        obj, meta = _paths(name)
        lib = C.CDLL(str(obj.with_suffix(".so")))
        stubs = native.read_meta(meta)["stubs"]
        for stub in stubs:
            lib[stub]                                  # defined (AttributeError otherwise)
        if stubs:
            assert _reports_and_aborts(_CALL_SYMBOL, obj.with_suffix(".so"), stubs[0])


def test_functions_python_calls_keep_their_cpython_wrapper():
    """Kernel functions compiled without a CPython wrapper crash when Python calls them: the ones
    Python does call (the printout block, the micro-benchmarks) must be pyjit or inline. (The CUDA
    simulator runs the device functions, kernels/cuda_functions.py, not these.)"""
    import re

    from nbnumba.kernels import jit, pixel
    called = set(re.findall(r"K\.(\w+)", (ROOT / "nbnumba" / "printout.py").read_text()))
    assert {"subpixel_position", "lattice_factor", "tricubic"} <= called
    for name in sorted(called):
        f = getattr(pixel, name, None) or getattr(jit, name)
        assert not f.targetoptions.get("no_cpython_wrapper", False), name
    assert pixel.reaches_phi_loop.targetoptions.get("no_cpython_wrapper")     # the others are wrapper-less
    assert pixel.pixel_value.targetoptions.get("no_cpython_wrapper")


def test_cpu_identity_without_proc_cpuinfo(monkeypatch):
    """Where /proc/cpuinfo has no feature flags, the key falls back to LLVM's view of the host CPU."""
    import builtins
    real_open = builtins.open

    def no_cpuinfo(path, *a, **k):
        if path == "/proc/cpuinfo":
            raise OSError("hidden")
        return real_open(path, *a, **k)
    with_proc = native._cpu_identity()
    if isinstance(with_proc[0], str):              # /proc/cpuinfo lists x86 feature flags on this machine
        assert "flags" in with_proc[0]
    monkeypatch.setattr(builtins, "open", no_cpuinfo)
    import llvmlite.binding as ll
    name, features, _ = native._cpu_identity()
    assert name == ll.get_host_cpu_name() and features == ll.get_host_cpu_features().flatten()


# ---------------------------------------------------------------- the ABI

def test_every_entry_abi_is_its_functions_signature():
    """Each entry's arguments are the numba function's parameters, by name and in order, where a pack
    (a run of arguments the function takes as one tuple) stands for its members (_build refuses an
    entry where they are not); array dtypes are NumPy dtypes, ranks 0 to 4."""
    import importlib
    import inspect
    for name, entry in native.ENTRIES.items():
        f = getattr(importlib.import_module("nbnumba.kernels." + entry.module), entry.function)
        assert native.parameters(entry) == list(inspect.signature(f.py_func).parameters), name
        assert all(isinstance(a.dtype, np.dtype) and 0 <= a.ndim <= 4 for a in entry.args), name
        assert entry.restype is None or entry.restype in native._CSCALAR


def test_the_render_entries_take_the_plan_as_one_tuple():
    """The ABI stays flat (one pointer and its sizes per array), the kernels take the plan's arrays as
    `plan` (layout.PLAN_ARRAYS, in order) and the outputs as `out`: at most about ten parameters."""
    from nbnumba.kernels.layout import PLAN_ARRAYS
    exact = native.ENTRIES["render_exact"]
    assert native.parameters(exact) == ["first", "stride", "order", "start", "fresh", "interp_until", "plan",
                                        "out"]
    assert dict(exact.packs)["plan"] == tuple(n for n, _, _ in PLAN_ARRAYS)
    assert dict(exact.packs)["out"] == ("image", "omega", "switched")
    assert len(native.parameters(native.ENTRIES["render_fast"])) == 11
    assert "plan=(params,det,polar_axis,sources,cells,recip,Fhkl)" in native.abi_text(exact)
    assert max(len(native.parameters(e)) for e in native.ENTRIES.values()) <= 11


def test_a_pack_that_is_not_a_run_of_arguments_is_refused(monkeypatch):
    entry = native.ENTRIES["render_exact"]
    for members in (("det", "params"), ("det", "image"), ("nothing",)):
        broken = entry._replace(packs=(("plan", members),))
        monkeypatch.setitem(native.ENTRIES, "render_exact", broken)
        with pytest.raises(TypeError, match="pack plan .* is not a run of its arguments"):
            native._build("render_exact", None)


def test_no_kernel_function_takes_more_than_about_ten_arguments():
    """Every function in nbnumba/kernels takes at most 11 parameters, but for the CUDA kernels' launches
    (flat, as the native ABI is: the simulator types array arguments one by one) and lattice_factor
    (nanoBragg's scalar formula, called from the printout)."""
    import ast
    wide = {}
    for path in sorted((ROOT / "nbnumba" / "kernels").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and len(node.args.args) > 11:
                wide["%s.%s" % (path.stem, node.name)] = len(node.args.args)
    assert wide == {"cuda._render_body": 14, "cuda._fast_body": 16, "pixel.lattice_factor": 12}


def test_an_abi_that_does_not_match_the_function_is_refused(monkeypatch):
    entry = native.ENTRIES["rmsd_pass"]
    swapped = entry._replace(args=(entry.args[0], entry.args[2], entry.args[1]))
    monkeypatch.setitem(native.ENTRIES, "rmsd_pass", swapped)
    with pytest.raises(TypeError, match=r"ABI \(image, roi, avg\) does not match stats.rmsd_pass\(image, avg, roi\)"):
        native._build("rmsd_pass", None)


def test_abi_text_names_every_argument():
    assert native.abi_text(native.ENTRIES["rmsd_pass"]) == "f8 stats.rmsd_pass(image f4[:], avg f8, roi i8[:])"
    text = native.abi_text(native.ENTRIES["noise"])
    assert text.startswith("void rng.noise_loop(state {idum@0:i8,") and "iv@16:i8[32]" in text
    assert "det f8[:,:]" in native.abi_text(native.ENTRIES["render_exact"])


def test_arguments_by_name():
    stats = native.kernel("rmsd_pass")
    image = np.arange(6, dtype=np.float32)
    expected = sum((v - 1.0) ** 2 for v in range(6))
    assert stats(image=image, avg=1.0, roi=np.arange(6)) == expected
    assert stats(image, roi=np.arange(6), avg=1.0) == expected
    with pytest.raises(TypeError, match="roi missing"):
        stats(image, avg=1.0)
    with pytest.raises(TypeError, match="unexpected or repeated argument avg"):
        stats(image, 1.0, np.arange(6), avg=1.0)
    with pytest.raises(TypeError, match="unexpected or repeated argument mean"):
        stats(image, mean=1.0, avg=1.0, roi=np.arange(6))
    with pytest.raises(TypeError, match="argument roi must be a C-ordered 1-d int64 array, not 1-d int32"):
        stats(image=image, avg=1.0, roi=np.arange(6, dtype=np.int32))


# ---------------------------------------------------------------- what the cache key covers

def test_dependencies_are_the_modules_an_entry_imports():
    """The source files recorded for an entry: its module and what it imports, transitively (found from
    the import statements), with the packages above and the files that build it; checked against the
    nbnumba modules and functions the module's namespace actually holds."""
    import importlib
    import types as T
    for module in {e.module for e in native.ENTRIES.values()}:
        files = native.dependencies(module)
        assert {"kernels/%s.py" % module, "kernels/native.py", "kernels/numba_internals.py", "kernels/jit.py",
                "kernels/vecmath.py", "__init__.py", "kernels/__init__.py"} <= set(files), module
        m = importlib.import_module("nbnumba.kernels." + module)
        used = set()
        for v in vars(m).values():
            owner = v.__name__ if isinstance(v, T.ModuleType) else getattr(getattr(v, "py_func", v), "__module__", None)
            if isinstance(owner, str) and owner.startswith("nbnumba."):
                used.add(owner)
        for owner in used:
            rel = owner.split(".", 1)[1].replace(".", "/")
            assert rel + ".py" in files or rel + "/__init__.py" in files, (module, owner)
    assert "kernels/pixel.py" in native.dependencies("exact")
    assert "kernels/pixel.py" not in native.dependencies("convert")       # only what is imported


def test_imports_are_resolved_as_python_does(tmp_path, monkeypatch):
    """Relative and absolute imports, names imported from a module, imports under if/try; not the
    imports inside functions (they run later, if ever)."""
    pkg = tmp_path / "nbnumba"
    (pkg / "kernels" / "sub").mkdir(parents=True)
    for f in ("__init__.py", "kernels/__init__.py", "kernels/sub/__init__.py", "kernels/a.py", "kernels/b.py",
              "kernels/sub/c.py", "kernels/lazy.py", "core.py", "kernels/native.py", "kernels/numba_internals.py"):
        (pkg / f).write_text("")
    (pkg / "kernels" / "a.py").write_text("import os\nfrom . import b\nfrom .sub.c import VALUE\n"
                                          "try:\n    from ..core import thing\nexcept ImportError:\n    pass\n"
                                          "def later():\n    from . import lazy\n")
    (pkg / "kernels" / "sub" / "c.py").write_text("import nbnumba.kernels.b\nVALUE = 1\n")
    monkeypatch.setattr(native, "_PACKAGE", str(pkg))
    assert native.dependencies("a") == ["__init__.py", "core.py", "kernels/__init__.py", "kernels/a.py", "kernels/b.py",
                                        "kernels/native.py", "kernels/numba_internals.py", "kernels/sub/__init__.py",
                                        "kernels/sub/c.py"]


def test_an_edited_source_rebuilds_the_entry_without_a_warning(private_cache, capsys):
    native._obtain("gammln")
    obj, meta = _paths("gammln")
    recorded = native.read_meta(meta)["sources"].split()
    assert "kernels/rng.py=" + native._digest("kernels/rng.py") in recorded
    assert native.is_cached("gammln") is True
    # as if kernels/vecmath.py had been edited since the build
    text = meta.read_text().replace("kernels/vecmath.py=", "kernels/vecmath.py=0")
    body = text.rsplit("check ", 1)[0]
    meta.write_text(body + "check %s\n" % native._sha256(body.encode()).hexdigest()[:32])
    assert native.is_cached("gammln") is False
    problems, stale = [], []
    assert native._load("gammln", obj, meta, problems, stale) is None and stale and not problems
    capsys.readouterr()
    assert native._obtain("gammln")(4.0) == pytest.approx(math.log(6.0), rel=1e-6)
    assert not capsys.readouterr().err
    assert native.is_cached("gammln") is True and native._load("gammln", obj, meta) is not None


def test_metadata_of_another_abi_is_damaged(private_cache):
    native._obtain("gammln")
    obj, meta = _paths("gammln")
    text = meta.read_text().replace("f4 rng.gammln(xx f4)", "f4 rng.gammln(x f4)")
    body = text.rsplit("check ", 1)[0]
    meta.write_text(body + "check %s\n" % native._sha256(body.encode()).hexdigest()[:32])
    problems = []
    assert native._load("gammln", obj, meta, problems) is None and "another ABI" in problems[0]


def test_nbnumba_settings_in_the_environment_change_the_key(monkeypatch):
    monkeypatch.setattr(native, "_key_base", None)
    first = native._key("gammln")
    monkeypatch.setattr(native, "_key_base", None)
    monkeypatch.setenv("NBNUMBA_NO_NATIVE_CACHE", "")
    assert native._key("gammln") == first
    monkeypatch.setattr(native, "_key_base", None)
    monkeypatch.setenv("NBNUMBA_SOME_TUNABLE", "8")
    assert native._key("gammln") != first


# ---------------------------------------------------------------- numba versions not tested

def test_when_saving_fails_numba_builds_in_memory_with_one_notice(private_cache, monkeypatch, capsys):
    """An internal of numba that is not as tested (here: the object emitter raising AttributeError) does
    not stop the run: one notice, the entry compiled in memory, nothing saved, and no more one-time
    compile announced (is_cached: None)."""
    from nbnumba.kernels import numba_internals

    def gone(compiled):
        raise AttributeError("'CPUCodeLibrary' object has no attribute '_final_module'")
    monkeypatch.setattr(numba_internals, "jit_object_code", gone)
    monkeypatch.setattr(native, "_noticed", False)
    k = native._obtain("gammln")
    assert k(4.0) == pytest.approx(math.log(6.0), rel=1e-6)
    native._build("rmsd_pass", native._cache_paths("rmsd_pass"))
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("nbnumba: notice: saving its code failed (AttributeError")
    assert not list(private_cache.glob("*.meta")) and native.is_cached("rmsd_pass") is None


_UNTESTED = """
import sys
import numpy as np
from nbnumba.kernels import native, numba_internals
numba_internals.TESTED["numba"] = ((0, 1), (0, 2))
print(native.kernel("gammln")(4.0), native.kernel("rmsd_pass")(np.ones(3, "f4"), 0.5, roi=np.arange(3)),
      native.is_cached("gammln"), native.is_cached("noise"), "numba" in sys.modules)
"""


def test_an_untested_numba_falls_back_to_its_own_cache(tmp_path):
    """numba outside the tested versions: the kernels run, compiled by numba, with one line on stderr."""
    pkg = tmp_path / "pkg"
    shutil.copytree(ROOT / "nbnumba", pkg / "nbnumba", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(pkg), NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("NBNUMBA_NO_NATIVE_CACHE", None)
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", _UNTESTED], capture_output=True, text=True, env=env, timeout=600,
                              cwd=str(tmp_path))
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = proc.stdout.split()
        assert float(out[0]) == pytest.approx(math.log(6.0), rel=1e-6) and float(out[1]) == 0.75
        assert out[2:] == ["True", "None", "True"]      # no native cache to build into; numba imported
        err = proc.stderr.splitlines()
        assert len(err) == 1 and err[0].startswith("nbnumba: notice: numba ") and "outside the versions" in err[0], err
    assert not list(tmp_path.rglob("*.meta")) and not list(tmp_path.rglob("*.o"))
    assert list(tmp_path.rglob("*.nbi"))               # numba's own cache


# ---------------------------------------------------------------- a first run's builds

def _two_cpus():
    if native.usable_cpus() < 2 or not hasattr(os, "fork"):
        pytest.skip("one CPU: everything is built in one process")


def test_build_makes_the_costliest_entry_in_a_second_process(private_cache, capsys):
    """build(): the background entry built by a forked child into the cache and loaded from it, the
    others here; done() for each, ready() once before."""
    _two_cpus()
    import threading
    if threading.active_count() > 1:
        pytest.skip("other threads in this process: build() does not fork")
    seen = []
    native.build(["gammln", "rmsd_pass"], background="rmsd_pass", done=seen.append,
                 ready=lambda: seen.append("ready"))
    assert seen == ["ready", "gammln", "rmsd_pass"]
    assert native.is_cached("rmsd_pass") is True and native.is_cached("gammln") is True
    built_beside = native._loaded["rmsd_pass"]
    assert isinstance(built_beside._keepalive, ctypes.CDLL) == bool(shutil.which("ld"))    # loaded, not compiled
    assert not isinstance(native._loaded["gammln"]._keepalive, ctypes.CDLL)                  # compiled here
    image = np.linspace(0, 5, 7, dtype=np.float32)
    assert built_beside(image, 1.5, np.arange(7)) == pytest.approx(float(np.sum((image - 1.5) ** 2)), rel=1e-6)
    assert not capsys.readouterr().err


def test_a_second_process_that_fails_leaves_the_build_here(private_cache, monkeypatch, capsys):
    _two_cpus()
    monkeypatch.setattr(native, "_child_build", lambda name, log_fd, ready: os._exit(5))
    native.build(["gammln", "rmsd_pass"], background="rmsd_pass")
    err = capsys.readouterr().err.splitlines()
    assert err == ["nbnumba: warning: building rmsd_pass in a second process failed (exit status 5): building "
                   "it here"] or err == []            # [] where this process may not fork (threads)
    assert native.is_cached("rmsd_pass") is True
    assert native.kernel("rmsd_pass")(np.ones(3, "f4"), 0.5, roi=np.arange(3)) == pytest.approx(0.75)


def test_no_second_process_where_it_cannot_help_or_is_refused(private_cache, monkeypatch):
    monkeypatch.setenv("NBNUMBA_BUILD_BESIDE", "0")
    assert not native.can_build_beside("render_fast")
    monkeypatch.delenv("NBNUMBA_BUILD_BESIDE")
    monkeypatch.setattr(native, "usable_cpus", lambda: 1)
    assert not native.can_build_beside("render_fast")
    monkeypatch.setattr(native, "usable_cpus", lambda: 2)
    monkeypatch.setenv("NBNUMBA_NO_NATIVE_CACHE", "1")            # nothing to hand the entry back through
    assert not native.can_build_beside("render_fast")
    monkeypatch.delenv("NBNUMBA_NO_NATIVE_CACHE")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(private_cache.parent / "a-file"))
    (private_cache.parent / "a-file").write_text("not a folder: nothing can be written below")
    assert not native.can_build_beside("render_fast")
    monkeypatch.setenv("NBNUMBA_BUILD_BESIDE", "1")
    assert native._key("gammln") == native._key("gammln")         # not part of the key (a tunable would be)


_SPLIT_CHECK = """
import importlib
from nbnumba.kernels import native
native._obtain("render_fast")
for step in native._SPLITS["render_fast"]:
    for part in step:
        for module, function, argtypes in part:
            f = getattr(importlib.import_module("nbnumba.kernels." + module), function)
            print(function, native.split_types("render_fast", argtypes) in [tuple(s) for s in f.signatures])
"""


def test_the_split_of_the_render_kernel_names_what_it_compiles(tmp_path):
    """Every function the two processes of a first run compile for render_fast ahead of it (_SPLITS),
    with the argument types the kernel calls it with: else the head start is lost (a compile twice)."""
    out = _python(_SPLIT_CHECK, NUMBA_CACHE_DIR=str(tmp_path))
    pairs = list(zip(out[::2], out[1::2]))
    assert len(pairs) == sum(len(part) for step in native._SPLITS["render_fast"] for part in step) >= 2
    assert all(ok == "True" for _, ok in pairs), pairs


def test_a_callee_is_compiled_for_plain_types_not_literals():
    """A constant argument from compiled code (Literal[int]) does not compile the callee once more."""
    from numba import njit, types

    from nbnumba.kernels import jit

    def twice(n):
        return n + n

    def caller(x):
        count = 0
        for _ in range(x):
            count += 1
        return callee(count) + callee(3)

    callee = jit._unliteral_calls(njit(twice))
    assert njit(caller)(4) == 14
    assert [tuple(s) for s in callee.signatures] == [(types.int64,)]


def test_saving_numba_overloads_is_one_process_at_a_time(tmp_path):
    import fcntl

    from nbnumba.kernels import numba_internals as internals
    with internals._folder_lock(str(tmp_path / "cache")) as held:
        assert held.fd is not None
        assert os.listdir(str(tmp_path / "cache")) == []             # nothing left in numba's folder
        other = os.open(str(tmp_path / "cache"), os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    blocked = tmp_path / "file"
    blocked.write_text("")
    with internals._folder_lock(str(blocked / "below")) as held:      # no folder: no lock, no error
        assert held.fd is None
