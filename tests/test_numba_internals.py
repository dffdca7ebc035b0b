"""Each private numba and llvmlite attribute that nbnumba.kernels.numba_internals uses exists in the
installed versions and behaves as the native cache and the robust numba cache need; and the versions
the adapter accepts are the ones setup.cfg allows."""
import configparser
import inspect
import os
from pathlib import Path

import llvmlite
import llvmlite.binding as ll
import numba
import pytest
from numba import cfunc, njit, types

from nbnumba.kernels import native
from nbnumba.kernels import numba_internals as internals

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compiled():
    """A small cfunc, compiled as native._build compiles an entry."""
    @cfunc(types.float64(types.float64, types.int64), error_model="numpy")
    def twice_plus(x, n):
        return 2.0 * x + n
    return twice_plus


def _defined_symbols(elf):
    """Names an ELF64 object defines (a small reader beside native.undefined_symbols)."""
    import struct
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    names = set()
    for sh in sections:
        if sh[1] != 2:
            continue
        strtab = sections[sh[6]][4]
        for pos in range(sh[4] + sh[9], sh[4] + sh[5], sh[9]):
            st_name, _info, _other, st_shndx = struct.unpack_from("<IBBH", elf, pos)
            if st_shndx != 0 and st_name:
                names.add(elf[strtab + st_name:elf.index(b"\0", strtab + st_name)].decode())
    return names


# ---------------------------------------------------------------- versions

def test_the_installed_versions_are_tested_ones():
    assert internals.untested() is None


def test_setup_cfg_bounds_are_the_tested_versions():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    requires = {line.split(">=")[0].strip(): line.strip() for line in cfg["options"]["install_requires"].splitlines()
                if line.strip()}
    for package in ("numba", "llvmlite"):
        assert requires[package] == package + internals.tested_range(package)


def test_versions_outside_the_tested_range_are_reported(monkeypatch):
    monkeypatch.setitem(internals.TESTED, "numba", ((0, 1), (0, 2)))
    reason = internals.untested()
    assert reason.startswith("numba %s is outside" % numba.__version__) and ">=0.1,<0.2" in reason
    monkeypatch.setitem(internals.TESTED, "numba", ((0, 1), (99, 0)))
    monkeypatch.setitem(internals.TESTED, "llvmlite", ((99, 0), (99, 1)))
    assert internals.untested().startswith("llvmlite %s is outside" % llvmlite.__version__)


def test_a_missing_class_attribute_is_reported(monkeypatch):
    monkeypatch.setattr(internals, "_probes", lambda: [("config.OPT", True), ("JITCPUCodegen._gone", False)])
    assert internals.untested() == "numba %s lacks JITCPUCodegen._gone" % numba.__version__


@pytest.mark.parametrize("text, expected", [("0.68.1", (0, 68, 1)), ("0.69.0rc1", (0, 69, 0)),
                                            ("0.70.0.dev0+12.g1", (0, 70, 0)), ("1.0", (1, 0))])
def test_version_tuple(text, expected):
    assert internals.version_tuple(text) == expected


def test_every_probed_class_attribute_is_there():
    assert all(ok for _, ok in internals._probes())


# ---------------------------------------------------------------- a cfunc's code (the native cache)

def test_cfunc_library(compiled):
    """CFunc._library: the code library of the compiled function."""
    from numba.core.codegen import CPUCodeLibrary
    assert isinstance(compiled._library, CPUCodeLibrary)


def test_code_library_final_module(compiled):
    """CodeLibrary._final_module: the linked module, which defines the cfunc's symbol; final_module()
    copies it (emitting an object changes a module)."""
    module = compiled._library._final_module
    assert isinstance(module, ll.ModuleRef)
    copy = internals.final_module(compiled)
    assert copy is not module and compiled.native_name in {f.name for f in copy.functions if not f.is_declaration}


def test_cfunc_native_name_and_address(compiled):
    """CFunc.native_name (the symbol saved in the metadata) and .address (called through ctypes)."""
    import ctypes
    assert isinstance(compiled.native_name, str) and compiled.native_name.startswith("cfunc.")
    f = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double, ctypes.c_int64)(compiled.address)
    assert f(1.5, 2) == 5.0


def test_codegen_target_machine_emits_an_elf_object(compiled):
    """CodeLibrary._codegen._tm: numba's JIT target machine; its object defines the cfunc's symbol."""
    tm = compiled._library._codegen._tm
    assert isinstance(tm, ll.TargetMachine)
    data = internals.jit_object_code(compiled)
    assert data[:4] == b"\x7fELF"
    assert compiled.native_name in _defined_symbols(data)


def test_codegen_host_cpu_name_and_features(compiled):
    """JITCPUCodegen._get_host_cpu_name() and ._tm_features: the CPU and features numba compiles for
    (LLVM's host CPU unless NUMBA_CPU_NAME says otherwise)."""
    codegen = compiled._library._codegen
    name = codegen._get_host_cpu_name()
    assert isinstance(name, str) and name
    if not os.environ.get("NUMBA_CPU_NAME"):
        assert name == ll.get_host_cpu_name()
    features = codegen._tm_features
    assert isinstance(features, str)
    assert all(f[0] in "+-" for f in features.split(",") if f)


def test_config_opt_is_an_optimisation_level():
    """numba.core.config.OPT: the level numba's JIT optimises at, used for the shared library too."""
    from numba.core import config
    assert int(config.OPT) in (0, 1, 2, 3)


def test_pic_target_machine_links_into_a_shared_library(compiled, tmp_path):
    """pic_target_machine(): emits position-independent code of the same function, which loads."""
    import ctypes
    import shutil
    import subprocess
    data = internals.pic_target_machine(compiled).emit_object(internals.final_module(compiled))
    assert compiled.native_name in _defined_symbols(data)
    if not shutil.which("ld"):
        pytest.skip("no system linker")
    (tmp_path / "k.o").write_bytes(data)
    undefined = native.undefined_symbols(data)
    stub = ll.parse_assembly(native._stub_ir([s for s in undefined if s.startswith(("numba_", "NRT_"))]))
    stub.triple = ll.get_process_triple()
    (tmp_path / "s.o").write_bytes(internals.pic_target_machine(compiled).emit_object(stub))
    subprocess.run(["ld", "-shared", "-o", str(tmp_path / "k.so"), str(tmp_path / "k.o"), str(tmp_path / "s.o")],
                   check=True)
    lib = ctypes.CDLL(str(tmp_path / "k.so"))
    f = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double, ctypes.c_int64)(
        ctypes.cast(lib[compiled.native_name], ctypes.c_void_p).value)
    assert f(1.5, 2) == 5.0


# ---------------------------------------------------------------- numba's on-disk cache (kernels/jit.py)

def test_refresh_typing_tables():
    """cpu_target.target_context.refresh(): loads the typing tables; harmless to repeat."""
    internals.refresh_typing_tables()
    internals.refresh_typing_tables()


def test_dispatcher_class_and_cache_folder(tmp_path):
    """numba.core.dispatcher.Dispatcher, Dispatcher._cache and FunctionCache._cache_path: where numba keeps
    a cache=True function's .nbi/.nbc files."""
    from nbnumba.kernels import stats
    assert internals.is_dispatcher(stats.rmsd_pass) and not internals.is_dispatcher(len)
    assert os.path.isdir(internals.cache_folder(stats.rmsd_pass))
    d = njit(cache=True)(_source_function(tmp_path))
    assert d(1) == 2
    assert any(n.startswith("cached_mod.f-") and n.endswith(".nbi") for n in os.listdir(internals.cache_folder(d)))
    assert internals.cache_folder(njit(lambda x: x)) is None      # no cache: no folder


def _source_function(tmp_path, body="    return x + 1\n"):
    """A cache=True candidate defined in a file of its own under tmp_path (numba caches it in the
    __pycache__ beside it, or under NUMBA_CACHE_DIR where that was set before numba was imported)."""
    import importlib.util
    path = tmp_path / "cached_mod.py"
    path.write_text("def f(x):\n" + body)
    spec = importlib.util.spec_from_file_location("cached_mod_%d" % len(os.listdir(tmp_path)), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


def test_function_cache_hooks_and_file_names(tmp_path):
    """FunctionCache (subclassed, load_overload/save_overload overridden), Dispatcher._cache (replaced)
    and its _cache_file's _index_name, _index_path and _data_name_pattern (files deleted by discard())."""
    from numba.core.caching import FunctionCache
    assert list(inspect.signature(FunctionCache.load_overload).parameters) == ["self", "sig", "target_context"]
    assert list(inspect.signature(FunctionCache.save_overload).parameters) == ["self", "sig", "data"]
    warnings = []
    d = njit(_source_function(tmp_path))
    cache = internals.use_robust_cache(d, warnings.append)
    assert d._cache is cache and isinstance(cache, FunctionCache)
    assert d(2) == 3
    files = cache._cache_file
    assert os.path.isfile(files._index_path) and os.path.basename(files._index_path) == files._index_name
    assert files._data_name_pattern.format(number=0).endswith(".nbc")
    assert os.path.dirname(files._index_path) == cache._cache_path
    folder = cache._cache_path
    assert sorted(n.rsplit(".", 1)[1] for n in os.listdir(folder)) == ["nbc", "nbi"]
    cache.discard()
    assert os.listdir(folder) == [] and not warnings


def test_a_damaged_index_is_discarded_with_a_warning(tmp_path):
    """The robust cache's load_overload: an unreadable index warns, deletes, and compiles again."""
    f = _source_function(tmp_path)
    first = njit(f)
    internals.use_robust_cache(first, lambda m: None)
    assert first(1) == 2
    index = first._cache._cache_file._index_path
    with open(index, "r+b") as fh:
        fh.truncate(os.path.getsize(index) // 2)
    warnings = []
    again = njit(f)
    internals.use_robust_cache(again, warnings.append)
    assert again(1) == 2
    assert len(warnings) == 1 and "unreadable numba cache entry" in warnings[0]
