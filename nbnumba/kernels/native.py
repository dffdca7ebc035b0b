"""The compiled kernels as native code: built once by numba, then loaded without importing numba.

Importing numba and loading its typing tables costs about 0.4 s per process, more than the whole
fast kernel needs for most images. So every kernel the CPU path calls is an *entry*: a numba function
wrapped once as a C-callable `cfunc` whose arguments are plain pointers and sizes. Its machine code is
written to the native cache twice: linked by the system linker (`ld`) into a small shared library,
which a later process opens with ctypes in about a millisecond, and as an object file, which llvmlite
(numba's own code loader, ~40 ms to import and set up) maps in where there is no linker. Calls go
through ctypes, which also releases the GIL, so plain threads run entries in parallel.

The cache key covers the kernel sources, the numba and llvmlite installs and this CPU, so an edit or
an upgrade rebuilds. Where the code cannot be saved or mapped (not Linux/ELF, a symbol that only
numba's own runtime provides, no writable cache), the entry is compiled in-process by numba instead:
the same code, just slower to start.

The kernels must not raise or allocate (a cfunc cannot hand an exception back; numba's allocator is
not there without numba): they write into arrays the caller allocates. The few numba runtime helpers
that only error paths reference are resolved to a stub that reports an internal error and aborts.
"""
import ctypes
import importlib
import importlib.util
import os
import struct
import sys
import threading
from dataclasses import dataclass

import numpy as np

from .layout import STATE_DTYPE

# argument codes: a scalar, or an array of that dtype with as many ':' as dimensions
_DTYPES = {"i1": np.dtype(np.int8), "u1": np.dtype(np.uint8), "u2": np.dtype(np.uint16), "i8": np.dtype(np.int64),
           "f4": np.dtype(np.float32), "f8": np.dtype(np.float64), "state": STATE_DTYPE}
_CSCALAR = {"i8": ctypes.c_int64, "f8": ctypes.c_double, "f4": ctypes.c_float, "void": None}

_PLAN = ("ip i8[:], fp f8[:], det f8[:,:], polar_axis f8[:], sources f8[:,:], cells f8[:,:,:,:], "
         "recip f8[:], Fhkl f8[:,:,:]")
_RENDER_LIST = "order i8[:], start i8, fresh i1[:], interp_until i8, " + _PLAN
_RENDER = "first i8, stride i8, " + _RENDER_LIST
_OUTPUTS = "image f4[:], omega f8[:], switched i1[:]"


@dataclass(frozen=True)
class Entry:
    module: str        # where the numba function lives (imported only to build)
    function: str
    restype: str       # 'void' or a scalar code
    args: str          # "name code, ..." in the function's order


ENTRIES = {
    "render_exact": Entry("exact", "render_chunks", "void", _RENDER + ", " + _OUTPUTS),
    "render_fast": Entry("fast", "render_tiles", "void",
                         "first i8, stride i8, last i8, " + _RENDER_LIST + ", cell_list f8[:,:], f2 f8[:], dims i8[:], " + _OUTPUTS
                         + ", fscratch f8[:,:], iscratch i8[:,:]"),
    "first_phi_positions": Entry("exact", "first_phi_positions", "void",
                                 "order i8[:], block_starts i8[:], ip i8[:], fp f8[:], det f8[:,:], "
                                 "sources f8[:,:], out i8[:]"),
    "statistics": Entry("stats", "statistics", "void",
                        "image f4[:], order i8[:], block_starts i8[:], sums f8[:], counts i8[:]"),
    "rmsd_pass": Entry("stats", "rmsd_pass", "f8", "image f4[:], avg f8, roi i8[:]"),
    "noise": Entry("rng", "noise_loop", "void",
                   "state state[:], img f4[:], fpixels i8, spixels i8, x0 i8, x1 i8, y0 i8, y1 i8, adc f8, "
                   "idum i8[:], out u2[:], totals f8[:]"),
    "rng_call": Entry("rng", "call", "f4", "state state[:], idum i8[:], which i8, x f4"),
    "gammln": Entry("rng", "gammln", "f4", "xx f4"),
    "hkl_scan": Entry("hkltext", "scan_plain", "i8", "data u1[:], hkl i8[:,:], F f8[:]"),
    "int_image": Entry("convert", "int_image", "void",
                       "floatimage f4[:], scale f8, adc f8, fpixels i8, x0 i8, x1 i8, y0 i8, y1 i8, out u2[:]"),
    "pgm_image": Entry("convert", "pgm_image", "void",
                       "floatimage f4[:], scale f8, fpixels i8, x0 i8, x1 i8, y0 i8, y1 i8, out u1[:]"),
}


def _parse_args(spec):
    """[(name, code, ndim)] from "name code, ..."."""
    out = []
    for item in spec.split(", "):
        name, code = item.split()
        ndim = code.count(":")
        out.append((name, code.split("[")[0], ndim))
    return out


# ---------------------------------------------------------------------------- calling

class Kernel:
    """One entry at a machine address, called with NumPy arrays and Python scalars; checks each
    array's dtype, rank and C order (a wrong array would be read as raw memory)."""

    def __init__(self, name, address, keepalive):
        self.name = name
        self._keepalive = keepalive
        entry = ENTRIES[name]
        self._args = _parse_args(entry.args)
        argtypes = []
        for _, code, ndim in self._args:
            argtypes += [ctypes.c_void_p] + [ctypes.c_int64] * ndim if ndim else [_CSCALAR[code]]
        self._fn = ctypes.CFUNCTYPE(_CSCALAR[entry.restype], *argtypes)(address)

    def __call__(self, *values):
        if len(values) != len(self._args):
            raise TypeError("%s takes %d arguments (%d given)" % (self.name, len(self._args), len(values)))
        flat = []
        for (name, code, ndim), v in zip(self._args, values):
            if not ndim:
                flat.append(v)
                continue
            if not (isinstance(v, np.ndarray) and v.dtype == _DTYPES[code] and v.ndim == ndim
                    and v.flags.c_contiguous):
                raise TypeError("%s: argument %s must be a C-ordered %d-d %s array, not %s"
                                % (self.name, name, ndim, _DTYPES[code], _describe(v)))
            flat.append(v.ctypes.data)
            flat.extend(v.shape)
        return self._fn(*flat)


def _describe(v):
    if isinstance(v, np.ndarray):
        return "%d-d %s%s" % (v.ndim, v.dtype, "" if v.flags.c_contiguous else " (not C-ordered)")
    return type(v).__name__


_loaded = {}
_lock = threading.Lock()


def kernel(name):
    """The callable entry `name`: from this process, the native cache, or a fresh build."""
    k = _loaded.get(name)
    if k is None:
        with _lock:
            k = _loaded.get(name)
            if k is None:
                k = _loaded[name] = _obtain(name)
    return k


def _obtain(name):
    paths = _cache_paths(name)
    if paths is None:
        return _build(name, None)
    problems = []
    k = _load(name, *paths, problems=problems)
    if k is not None:
        return k
    if not problems:
        # not in the cache written to: the package's own cache, read-only (a read-only install)
        installed = _cache_paths(name, _installed_cache_dir())
        if installed != paths:
            k = _load(name, *installed)
            if k is not None:
                return k
    else:
        _warn("unusable kernel cache entry %s (%s): discarded, building it again" % (paths[1], problems[0]))
        for path in (paths[0], _with_suffix(paths[0], ".so"), paths[1]):
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    import shutil
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
            except OSError:
                pass
    return _build(name, paths)


def is_cached(name):
    """Whether `name` would be loaded without compiling it (loaded already, or its metadata file is in
    the cache or in the package's own); None where native code is not cached at all."""
    if name in _loaded:
        return True
    paths = _cache_paths(name)
    if paths is None:
        return None
    return os.path.exists(paths[1]) or os.path.exists(_cache_paths(name, _installed_cache_dir())[1])


def _warn(message):
    sys.stderr.write("nbnumba: warning: %s\n" % message)
    sys.stderr.flush()


# ---------------------------------------------------------------------------- the cache

_KERNEL_SOURCES = ("convert.py", "exact.py", "fast.py", "hkltext.py", "jit.py", "layout.py", "native.py", "pixel.py", "rng.py", "stats.py",
                   "vecmath.py")


def _sha256(data=b""):
    """CPython's own SHA-256 where it has one (hashlib loads OpenSSL: ~4 ms of every start)."""
    try:
        from _sha256 import sha256          # Python 3.11
    except ImportError:
        try:
            from _sha2 import sha256        # 3.12 and later
        except ImportError:
            from hashlib import sha256
    return sha256(data)


_HERE = os.path.dirname(os.path.realpath(__file__))


def cache_dir():
    """NUMBA_CACHE_DIR/nbnumba-native when set, else the package's __pycache__/native when writable,
    else ~/.cache/nbnumba (or XDG_CACHE_HOME/nbnumba). Paths here are strings (pathlib costs ~4 ms
    of start-up)."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return os.path.join(env, "nbnumba-native")
    here = os.path.join(_HERE, "__pycache__")
    if os.path.isdir(here):
        writable = os.access(here, os.W_OK)
    else:
        writable = not os.path.lexists(here) and os.access(_HERE, os.W_OK)
    if writable:
        return _installed_cache_dir()
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(home, "nbnumba")


def _installed_cache_dir():
    """The package's own native cache (read even where it cannot be written)."""
    return os.path.join(_HERE, "__pycache__", "native")


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


def _with_suffix(path, suffix):
    return os.path.splitext(path)[0] + suffix


def _install_stamp(package):
    """Where a package is installed and when: changes with any reinstall, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return "none"
    st = os.stat(spec.origin)
    return "%s:%d:%d" % (spec.origin, st.st_mtime_ns, st.st_size)


def _cpu_identity():
    """This CPU as the kernels were compiled for it, read without llvmlite: /proc/cpuinfo's first
    processor (vendor, family, model, feature flags) and numba's CPU overrides."""
    env = [os.environ.get(v, "") for v in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NUMBA_OPT")]
    keep = (b"vendor_id", b"cpu family", b"model", b"model name", b"flags")
    try:
        with open("/proc/cpuinfo", "rb") as fh:
            first = fh.read(1 << 16).split(b"\n\n", 1)[0]
        lines = [l for l in first.splitlines() if l.split(b":", 1)[0].strip() in keep]
    except OSError:
        lines = []
    if not any(l.startswith(b"flags") for l in lines):
        # no feature list here (another kernel, or /proc hidden): ask LLVM, as numba does
        import llvmlite.binding as ll
        _llvm_init()
        return ll.get_host_cpu_name(), ll.get_host_cpu_features().flatten(), env
    return b"\n".join(lines).decode("latin-1"), env


_key_base = None


def _key(name):
    global _key_base
    if _key_base is None:
        h = _sha256()
        for f in _KERNEL_SOURCES:
            h.update(_read(os.path.join(_HERE, f)))
        h.update(repr((sys.version, sys.platform, _install_stamp("numba"), _install_stamp("llvmlite"),
                       _cpu_identity())).encode())
        _key_base = h.hexdigest()
    return _sha256((_key_base + name + repr(ENTRIES[name])).encode()).hexdigest()[:32]


def _cache_paths(name, folder=None):
    """(object file, metadata file) for the entry in `folder` (default: the cache written to), or None
    where native code cannot be cached."""
    if not sys.platform.startswith("linux") or os.environ.get("NBNUMBA_NO_NATIVE_CACHE"):
        return None
    base = os.path.join(folder or cache_dir(), "%s-%s" % (name, _key(name)))
    return base + ".o", base + ".meta"


# ---------------------------------------------------------------------------- loading

_llvm_ready = False


def _llvm_init():
    global _llvm_ready
    if not _llvm_ready:
        import llvmlite.binding as ll
        ll.initialize_native_target()
        ll.initialize_native_asmprinter()
        _llvm_ready = True


_engine = None
_stub = None


def _load(name, obj_path, meta_path, problems=None):
    """The entry mapped from the cache, or None when it is not there or not usable here; where the
    entry is there but damaged (unreadable, truncated, not matching its checksums), the reason is
    appended to `problems`."""
    problems = [] if problems is None else problems
    try:
        return _load_entry(name, obj_path, meta_path, problems)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except Exception as e:      # whatever a damaged file makes the loader raise
        problems.append("%s: %s" % (type(e).__name__, e))
        return None


def _load_entry(name, obj_path, meta_path, problems):
    global _engine
    meta = read_meta(meta_path)
    for key in ("symbol", "sha256"):
        if not meta.get(key):
            raise ValueError("metadata without %s" % key)
    if meta.get("shared_sha256"):
        k = _load_shared(name, _with_suffix(obj_path, ".so"), meta)
        if k is not None:
            return k
    data = _read(obj_path)
    if _sha256(data).hexdigest() != meta.get("sha256"):
        problems.append("the object file does not match its checksum")
        return None
    stubs = meta.get("stubs", [])
    if any(s not in stubs and not _in_process(s) for s in undefined_symbols(data)):
        return None
    import llvmlite.binding as ll
    _llvm_init()
    _provide_stubs(stubs)
    if _engine is None:
        # one engine for every entry: objects share it (their common functions are weak symbols)
        _engine = ll.create_mcjit_compiler(ll.parse_assembly(""), _target_machine())
    _engine.add_object_file(ll.ObjectFileRef.from_data(data))
    _engine.finalize_object()
    address = _engine.get_function_address(meta["symbol"])
    if not address:
        problems.append("no symbol %s in the object file" % meta["symbol"])
        return None
    return Kernel(name, address, _engine)


def read_meta(path):
    """An entry's metadata file: `key value` lines (json costs ~1.5 ms of start-up); stubs is a list."""
    meta = {}
    for line in _read(path).decode("ascii").splitlines():
        key, _, value = line.partition(" ")
        meta[key] = None if value == "-" else value
    meta["stubs"] = (meta.get("stubs") or "").split()
    return meta


def _load_shared(name, so_path, meta):
    """The entry from its shared library, or None (missing, changed, or not loadable here)."""
    try:
        if _sha256(_read(so_path)).hexdigest() != meta["shared_sha256"]:
            return None
        lib = ctypes.CDLL(so_path)
        address = ctypes.cast(lib[meta["symbol"]], ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None
    return Kernel(name, address, lib) if address else None


def _target_machine():
    import llvmlite.binding as ll
    target = ll.Target.from_default_triple()
    return target.create_target_machine(cpu=ll.get_host_cpu_name(), features=ll.get_host_cpu_features().flatten(),
                                        codemodel="jitdefault", jit=True)


def _provide_stubs(names):
    """Resolves numba runtime helpers that only error paths call to a function that reports an
    internal error and aborts, unless numba itself (loaded in this process) already provides them."""
    global _stub
    import llvmlite.binding as ll
    if _stub is None:
        @ctypes.CFUNCTYPE(None)
        def _stub():
            os.write(2, _STUB_MESSAGE)
            os.abort()
    for n in names:
        if not ll.address_of_symbol(n):
            ll.add_symbol(n, ctypes.cast(_stub, ctypes.c_void_p).value)


_process = None


def _in_process(symbol):
    """Whether the running process already provides the symbol (libc, libm, the Python C API)."""
    global _process
    if _process is None:
        _process = ctypes.CDLL(None)
    try:
        getattr(_process, symbol)
        return True
    except AttributeError:
        return False


def undefined_symbols(elf):
    """Names an ELF64 relocatable object needs from elsewhere (its undefined symbols)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        return ["<not a little-endian ELF64 object>"]
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    names = []
    for sh in sections:
        if sh[1] != 2:          # SHT_SYMTAB
            continue
        offset, size, link, entsize = sh[4], sh[5], sh[6], sh[9]
        strtab = sections[link][4]
        for pos in range(offset + entsize, offset + size, entsize):
            st_name, _info, _other, st_shndx = struct.unpack_from("<IBBH", elf, pos)
            if st_shndx == 0 and st_name:
                end = elf.index(b"\0", strtab + st_name)
                names.append(elf[strtab + st_name:end].decode())
    return names


# ---------------------------------------------------------------------------- building (numba)

_NUMBA_RUNTIME = ("numba_", "NRT_")


def _build(name, paths):
    """Compiles the entry with numba; saves its machine code to the cache when it can stand alone."""
    import glob

    from numba import carray, cfunc, from_dtype, types

    entry = ENTRIES[name]
    if paths is not None and any(p != paths[0] for p in glob.glob(os.path.join(os.path.dirname(paths[0]),
                                                                              glob.escape(name) + "-*.o"))):
        _forget_numba_caches()
    target = getattr(importlib.import_module("nbnumba.kernels." + entry.module), entry.function)
    numba_types = {"i1": types.int8, "u1": types.uint8, "u2": types.uint16, "i8": types.int64, "f4": types.float32,
                   "f8": types.float64, "state": from_dtype(STATE_DTYPE), "void": types.void}
    space = {"carray": carray, "target": target}
    params, body, sig = [], [], []
    for argname, code, ndim in _parse_args(entry.args):
        if ndim:
            dims = ["%s_n%d" % (argname, d) for d in range(ndim)]
            params += [argname + "_p"] + dims
            sig += [types.voidptr] + [types.int64] * ndim
            space["T_" + code] = _DTYPES[code]
            body.append("    %s = carray(%s_p, (%s,), T_%s)" % (argname, argname, ", ".join(dims), code))
        else:
            params.append(argname)
            sig.append(numba_types[code])
    names = [a[0] for a in _parse_args(entry.args)]
    source = "def %s(%s):\n%s\n    return target(%s)\n" % (name, ", ".join(params), "\n".join(body), ", ".join(names))
    exec(compile(source, "<nbnumba entry %s>" % name, "exec"), space)
    compiled = cfunc(numba_types[entry.restype](*sig), error_model="numpy")(space[name])
    if paths is not None:
        try:
            _save(compiled, *paths)
        except OSError as e:
            # a read-only cache: this process still runs the in-process build
            global _save_warned
            jit = sys.modules.get("nbnumba.kernels.jit")
            if not _save_warned and (jit is None or jit.caching()):      # else jit has said so already
                _save_warned = True
                _warn("cannot write the kernel cache in %s (%s; set NUMBA_CACHE_DIR): kernels compiled in "
                      "memory, for this process only" % (os.path.dirname(paths[0]), e.strerror or e))
    return Kernel(name, compiled.address, compiled)


_save_warned = False


def _forget_numba_caches():
    """An older build of this entry exists, so the kernel sources (or numba) changed since. numba's
    own cache checks only each function's own file: a function whose callee changed in another file
    would load stale from it. Drop numba's cache files of the kernel modules before compiling."""
    import glob

    from numba.core.dispatcher import Dispatcher
    folders = set()
    for f in _KERNEL_SOURCES:
        module = importlib.import_module("nbnumba.kernels." + f[:-3])
        folders.update(v._cache._cache_path for v in vars(module).values()
                       if isinstance(v, Dispatcher) and hasattr(v._cache, "_cache_path"))
    for folder in folders:
        for f in _KERNEL_SOURCES:
            for stale in glob.glob(os.path.join(folder, f[:-3] + ".*.nb[ic]")):
                try:
                    os.unlink(stale)
                except OSError:
                    pass


def _save(compiled, obj_path, meta_path):
    from llvmlite import binding as ll
    library = compiled._library
    module = ll.parse_bitcode(library._final_module.as_bitcode())   # emitting mutates its module
    data = library._codegen._tm.emit_object(module)
    stubs = sorted({s for s in undefined_symbols(data) if s.startswith(_NUMBA_RUNTIME)})
    if any(not s.startswith(_NUMBA_RUNTIME) and not _in_process(s) for s in undefined_symbols(data)):
        return              # needs something only numba's process provides: keep it in-process
    from pathlib import Path

    from ..io.atomic import write_now
    obj_path = Path(obj_path)
    obj_path.parent.mkdir(parents=True, exist_ok=True)
    write_now(obj_path, data)
    meta = {"symbol": compiled.native_name, "stubs": stubs, "sha256": _sha256(data).hexdigest(),
            "shared_sha256": _link_shared(library, stubs, obj_path.with_suffix(".so"), compiled.native_name)}
    write_now(meta_path, "".join("%s %s\n" % (k, " ".join(v) if isinstance(v, list) else v or "-")
                                    for k, v in meta.items()).encode())
    # earlier builds of this entry (older sources or installs) are never loaded again
    name = obj_path.stem.rsplit("-", 1)[0]
    for old in obj_path.parent.glob(name + "-*"):
        if old.stem != obj_path.stem and old.suffix in (".o", ".so", ".meta", ".json"):
            try:
                old.unlink()
            except OSError:
                pass


_STUB_MESSAGE = b"nbnumba: internal error in a compiled kernel (an error path that needs numba's runtime)\n"


def _stub_ir(names):
    """LLVM IR defining each name as a function that reports an internal error and aborts."""
    n = len(_STUB_MESSAGE)
    text = "".join("\\%02X" % b for b in _STUB_MESSAGE)
    ir = ['@nbnumba_stub_msg = private unnamed_addr constant [%d x i8] c"%s"' % (n, text),
          "declare i64 @write(i32, i8*, i64)", "declare void @abort()"]
    for name in names:
        ir.append("define void @%s() {\n  call i64 @write(i32 2, i8* getelementptr ([%d x i8], [%d x i8]* "
                  "@nbnumba_stub_msg, i64 0, i64 0), i64 %d)\n  call void @abort()\n  unreachable\n}"
                  % (name, n, n, n))
    return "\n".join(ir)


def _loaded_path(soname):
    """The file of a shared library this process has mapped (e.g. libm.so.6), or None."""
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                path = line.rstrip("\n").split(None, 5)[-1]
                if os.path.basename(path) == soname:
                    return path
    except OSError:
        pass
    return None


def _link_shared(library, stubs, so_path, symbol):
    """Links the entry, compiled position-independent, and its stubs into a shared library with the
    system linker; returns its sha256, or None where there is no linker or the result won't load."""
    import shutil
    import subprocess
    import tempfile
    from llvmlite import binding as ll
    from numba.core import config
    linker = shutil.which("ld")
    if linker is None:
        return None
    codegen = library._codegen
    target = ll.Target.from_triple(ll.get_process_triple())
    # the JIT's own CPU, features and optimisation level; only the relocation model differs
    tm = target.create_target_machine(cpu=codegen._get_host_cpu_name(), features=codegen._tm_features,
                                      opt=config.OPT,
                                      reloc="pic", codemodel="default")
    kernel_obj = tm.emit_object(ll.parse_bitcode(library._final_module.as_bitcode()))
    stub_module = ll.parse_assembly(_stub_ir(stubs))
    stub_module.triple = ll.get_process_triple()
    stub_obj = tm.emit_object(stub_module)
    libm = _loaded_path("libm.so.6")
    with tempfile.TemporaryDirectory(dir=so_path.parent) as tmp:
        files = []
        for fname, blob in (("kernel.o", kernel_obj), ("stubs.o", stub_obj)):
            files.append(os.path.join(tmp, fname))
            with open(files[-1], "wb") as fh:
                fh.write(blob)
        out = os.path.join(tmp, "entry.so")
        cmd = [linker, "-shared", "-Bsymbolic", "-z", "noexecstack", "-o", out] + files + ([libm] if libm else [])
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=120)
        except (OSError, subprocess.SubprocessError):
            return None
        if done.returncode != 0:
            return None
        try:
            lib = ctypes.CDLL(out)          # every symbol resolves here (RTLD_NOW), or OSError
            lib[symbol]
        except (OSError, AttributeError):
            return None
        with open(out, "rb") as fh:
            digest = _sha256(fh.read()).hexdigest()
        os.replace(out, so_path)
    return digest
