"""Every private numba and llvmlite attribute nbnumba uses, in one place.

numba's public API compiles the kernels (`njit`, `cfunc`, `carray`, `from_dtype`) and llvmlite's public
API maps saved code back (kernels/native.py). Two things need more than that: saving a compiled cfunc's
machine code (the native cache), and numba's on-disk cache of each kernel made robust to damaged files
(kernels/jit.py). What they need of numba's internals is here, one function per need, each tested
against the installed numba and llvmlite in tests/test_numba_internals.py. TESTED bounds the versions
those tests passed on (setup.cfg's install_requires says the same); outside them, or where an attribute
is missing, `untested()` says why, and nbnumba uses numba's own cache instead of these internals.

Importing this module imports numba: only code that compiles does.
"""
import os

import llvmlite
import llvmlite.binding as ll
import numba

try:
    from numba.core import config as _config
    from numba.core.caching import FunctionCache as _FunctionCache
    from numba.core.dispatcher import Dispatcher as _Dispatcher
    from numba.core.registry import cpu_target as _cpu_target
    _import_error = None
except ImportError as e:          # a numba whose internals moved: untested() says so
    _config = _cpu_target = None
    _FunctionCache = _Dispatcher = object
    _import_error = e

# [lowest, first untested) of each package; keep in step with setup.cfg (a test checks)
TESTED = {"numba": ((0, 64), (0, 69)), "llvmlite": ((0, 46), (0, 51))}


def version_tuple(text):
    """(0, 68, 1) from '0.68.1'; a pre-release or local suffix ends the numbers ('0.69.0rc1' -> (0, 69, 0))."""
    out = []
    for part in text.split("+")[0].split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        out.append(int(digits))
        if len(digits) < len(part):
            break
    return tuple(out)


def _installed():
    return {"numba": numba.__version__, "llvmlite": llvmlite.__version__}


def untested():
    """None where the installed numba and llvmlite are versions in TESTED and provide every attribute used
    here; else one line saying why not."""
    for package, text in _installed().items():
        low, high = TESTED[package]
        if not low <= version_tuple(text)[:2] < high:
            return ("%s %s is outside the versions nbnumba's native kernel cache was tested with (%s)"
                    % (package, text, tested_range(package)))
    if _import_error is not None:
        return "numba %s lacks %s" % (numba.__version__, _import_error)
    missing = [name for name, ok in _probes() if not ok]
    if missing:
        return "numba %s lacks %s" % (numba.__version__, ", ".join(missing))
    return None


def tested_range(package):
    low, high = TESTED[package]
    return ">=%s,<%s" % (".".join(map(str, low)), ".".join(map(str, high)))


def _probes():
    """(name, present) for the class attributes used here; instance attributes (a cfunc's _library, a
    codegen's _tm) can only be seen on a compiled function: where they are missing, the AttributeError
    they raise makes native.py fall back just as an untested version does."""
    from numba.core.codegen import JITCPUCodegen
    return [("JITCPUCodegen._get_host_cpu_name", hasattr(JITCPUCodegen, "_get_host_cpu_name")),
            ("FunctionCache.load_overload", hasattr(_FunctionCache, "load_overload")),
            ("FunctionCache.save_overload", hasattr(_FunctionCache, "save_overload")),
            ("config.OPT", hasattr(_config, "OPT")),
            ("cpu_target.target_context.refresh", hasattr(type(_cpu_target.target_context), "refresh"))]


# ---------------------------------------------------------------------------- a compiled cfunc's code

def _library(cfunc):
    return cfunc._library                        # numba.core.codegen.CPUCodeLibrary


def final_module(cfunc):
    """A copy of the cfunc's final (linked, optimised) LLVM module: emitting code mutates a module."""
    return ll.parse_bitcode(_library(cfunc)._final_module.as_bitcode())


def jit_object_code(cfunc):
    """The cfunc's machine code as an ELF object, emitted by numba's own JIT target machine (the CPU,
    features and code model its code was compiled for)."""
    return _library(cfunc)._codegen._tm.emit_object(final_module(cfunc))


def pic_target_machine(cfunc):
    """A target machine with numba's JIT CPU name, features and optimisation level, emitting
    position-independent code (for a shared library)."""
    codegen = _library(cfunc)._codegen
    target = ll.Target.from_triple(ll.get_process_triple())
    return target.create_target_machine(cpu=codegen._get_host_cpu_name(), features=codegen._tm_features,
                                        opt=int(_config.OPT), reloc="pic", codemodel="default")


# ---------------------------------------------------------------------------- numba's on-disk cache

def refresh_typing_tables():
    """Loads numba's typing and lowering tables now (else the first compile does)."""
    _cpu_target.target_context.refresh()


def is_dispatcher(obj):
    return isinstance(obj, _Dispatcher)


def cache_folder(dispatcher):
    """The folder of numba's on-disk cache files of a cache=True function, or None."""
    return getattr(getattr(dispatcher, "_cache", None), "_cache_path", None)


class _folder_lock:
    """An exclusive lock on a cache folder (flock on the folder itself: no file left in it), where one
    can be had; else nothing.
    numba saves an overload by reading the function's index, adding to it and writing it back, and
    names the new data file after the index's count: two processes saving overloads of one function
    at once (a first run builds in two, kernels/native.py) would each drop the other's, or write
    their code under one name."""

    def __init__(self, folder):
        self.folder, self.fd = folder, None

    def __enter__(self):
        try:
            import fcntl
            os.makedirs(self.folder, exist_ok=True)
            self.fd = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except (ImportError, OSError):
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)           # and with it the lock
            self.fd = None
        return False


class _RobustCache(_FunctionCache):
    """numba's on-disk cache of one function, where an entry that cannot be read (a truncated or corrupt
    .nbi/.nbc file: UnpicklingError, EOFError, ...) is discarded with a warning and the function compiled
    again, instead of failing every later run; a save that fails only warns."""

    warn = staticmethod(lambda message: None)

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception as e:
            self.warn("unreadable numba cache entry %s (%s: %s): discarded, compiling again"
                      % (self._cache_file._index_path, type(e).__name__, e))
            self.discard()
            return None

    def save_overload(self, sig, data):
        try:
            with _folder_lock(self._cache_path):
                super().save_overload(sig, data)
        except Exception as e:
            self.warn("cannot save numba cache entry %s (%s: %s): compiled for this process only"
                      % (self._cache_file._index_path, type(e).__name__, e))
            self.discard()

    def discard(self):
        """Deletes this function's index and data files."""
        files = self._cache_file
        names = [files._index_name]
        prefix = files._data_name_pattern.split("{", 1)[0]
        try:
            names += [n for n in os.listdir(self._cache_path) if n.startswith(prefix) and n.endswith(".nbc")]
        except OSError:
            pass
        for n in names:
            try:
                os.unlink(os.path.join(self._cache_path, n))
            except OSError:
                pass


def use_robust_cache(dispatcher, warn):
    """Gives a cache=True dispatcher the robust cache above, reporting through warn(message). Raises
    RuntimeError where no cache folder is writable (as numba's cache=True does)."""
    cache = type("RobustCache", (_RobustCache,), {"warn": staticmethod(warn)})(dispatcher.py_func)
    dispatcher._cache = cache
    return cache
