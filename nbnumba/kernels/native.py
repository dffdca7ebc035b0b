"""The compiled kernels as native code: built once by numba, then loaded without importing numba.

Importing numba and loading its typing tables costs about 0.4 s per process, more than the whole
fast kernel needs for most images. So every kernel the CPU path calls is an *entry*: a numba function
wrapped once as a C-callable `cfunc` whose arguments are plain pointers and sizes. Its machine code is
written to the native cache twice: linked by the system linker (`ld`) into a small shared library,
which a later process opens with ctypes in about a millisecond, and as an object file, which llvmlite
(numba's own code loader, ~40 ms to import and set up) maps in where there is no linker. Calls go
through ctypes, which also releases the GIL, so plain threads run entries in parallel.

Each entry's C ABI (`ENTRIES`: every argument's name, dtype and rank) is checked against the numba
function's own parameters when it is built, and every call checks each array against it. The ABI is
flat; the numba function may take runs of its arguments packed as one tuple (`Entry.packs`: the plan's
arrays as `plan`, the outputs as `out`), which the generated wrapper builds before the call. An entry's
cache file is named by a key for what compiled it (this Python, the numba and llvmlite installs, this
CPU, the ABI), and its metadata lists the source files it was compiled from, found from the import
statements of the entry's module (`dependencies`), with their hashes: a load re-hashes them, so an
edit or an upgrade rebuilds with no list to keep by hand. Where the code cannot be saved or mapped (not
Linux/ELF, a symbol that only numba's own runtime provides, no writable cache), the entry is compiled
in-process by numba instead: the same code, just slower to start. The numba and llvmlite internals
that saving needs are all in numba_internals.py; with versions outside those it was tested with, a
one-line notice says so and numba's own cache is used instead.

A first run builds its entries all at once (`build`, called by the command line when the first one is
about to compile): on two CPUs or more, the render kernel (most of the work) in a child process forked
once numba is imported, the rest here, each process also compiling part of the render kernel's callees
for the other through numba's on-disk cache (`_SPLITS`); the child hands the entry back through the
native cache. The entry function's body is inlined into its C wrapper, and callees are compiled for
plain argument types, never literals (jit.py), so that no LLVM module of the whole kernel is optimised
and generated twice for nothing.

The kernels must not raise or allocate (a cfunc cannot hand an exception back; numba's allocator is
not there without numba): they write into arrays the caller allocates. The few numba runtime helpers
that only error paths reference are resolved to a stub that reports an internal error and aborts.
"""
import ctypes
import os
import struct
import sys
import threading
from typing import NamedTuple

import numpy as np

from .layout import PARAMS_DTYPE, PLAN_ARRAYS, STATE_DTYPE


class Arg(NamedTuple):
    """One argument of an entry: its name (the numba function's parameter name), its dtype and its rank
    (0: a scalar passed by value; n: a C-ordered n-d array, passed as a pointer and n sizes)."""
    name: str
    dtype: np.dtype
    ndim: int = 0


class Entry(NamedTuple):
    module: str        # where the numba function lives, under nbnumba.kernels (imported only to build)
    function: str
    restype: object    # the scalar dtype returned, or None
    args: tuple        # (Arg, ...) of the flat C ABI, in the function's parameter order (checked when built)
    packs: tuple = ()  # ((parameter, (argument names...)), ...): consecutive arguments the function takes
                       # as one tuple under that parameter name


def parameters(entry):
    """The numba function's parameters for an entry: its ABI names, each pack's run replaced by the
    pack's name. A pack must name consecutive arguments, in ABI order."""
    names = [a.name for a in entry.args]
    for pack, members in entry.packs:
        i = names.index(members[0]) if members[0] in names else -1
        if i < 0 or tuple(names[i:i + len(members)]) != tuple(members):
            raise TypeError("native entry %s.%s: pack %s (%s) is not a run of its arguments"
                            % (entry.module, entry.function, pack, ", ".join(members)))
        names[i:i + len(members)] = [pack]
    return names


I1, U1, U2, I8, F4, F8 = (np.dtype(c) for c in ("i1", "u1", "u2", "i8", "f4", "f8"))


def _arrays(dtype, ndim, *names):
    return tuple(Arg(n, dtype, ndim) for n in names)


_PLAN = tuple(Arg(name, dtype, ndim) for name, dtype, ndim in PLAN_ARRAYS)
_RENDER_LIST = (Arg("order", I8, 1), Arg("start", I8), Arg("fresh", I1, 1), Arg("interp_until", I8)) + _PLAN
_OUTPUTS = (Arg("image", F4, 1), Arg("omega", F8, 1), Arg("switched", I1, 1))
_TABLES = (Arg("cell_list", F8, 2), Arg("f2", F8, 1), Arg("dims", I8, 1))
_SCRATCH = (Arg("fscratch", F8, 2), Arg("iscratch", I8, 2))


def _pack(name, args):
    return (name, tuple(a.name for a in args))


# the render kernels take the plan's arrays as one tuple `plan` (layout.PLAN_ARRAYS order), the outputs
# as `out`, and the fast kernel its tables and scratch as `tables` and `scratch`
_RENDER_PACKS = (_pack("plan", _PLAN), _pack("out", _OUTPUTS))
_ROI = (Arg("x0", I8), Arg("x1", I8), Arg("y0", I8), Arg("y1", I8))
# the image passes take the region of interest as one tuple `roi` = (x0, x1, y0, y1)
_ROI_PACK = (_pack("roi", _ROI),)

ENTRIES = {
    "render_exact": Entry("exact", "render_chunks", None,
                          (Arg("first", I8), Arg("stride", I8)) + _RENDER_LIST + _OUTPUTS, _RENDER_PACKS),
    "render_fast": Entry("fast", "render_tiles", None,
                         (Arg("first", I8), Arg("stride", I8), Arg("last", I8)) + _RENDER_LIST + _TABLES + _OUTPUTS
                         + _SCRATCH, _RENDER_PACKS + (_pack("tables", _TABLES), _pack("scratch", _SCRATCH))),
    "first_phi_positions": Entry("exact", "first_phi_positions", None,
                                 _arrays(I8, 1, "order", "block_starts") + (Arg("params", PARAMS_DTYPE, 1),)
                                 + _arrays(F8, 2, "det", "sources") + _arrays(I8, 1, "out")),
    "statistics": Entry("stats", "statistics", None, (Arg("image", F4, 1),) + _arrays(I8, 1, "order", "block_starts")
                        + (Arg("sums", F8, 1), Arg("counts", I8, 1))),
    "rmsd_pass": Entry("stats", "rmsd_pass", F8, (Arg("image", F4, 1), Arg("avg", F8), Arg("roi", I8, 1))),
    "noise": Entry("rng", "noise_loop", None,
                   (Arg("state", STATE_DTYPE, 1), Arg("img", F4, 1), Arg("fpixels", I8), Arg("spixels", I8)) + _ROI
                   + (Arg("adc", F8), Arg("idum", I8, 1), Arg("out", U2, 1), Arg("totals", F8, 1)), _ROI_PACK),
    "rng_call": Entry("rng", "call", F4, (Arg("state", STATE_DTYPE, 1), Arg("idum", I8, 1), Arg("which", I8),
                                          Arg("x", F4))),
    "gammln": Entry("rng", "gammln", F4, (Arg("xx", F4),)),
    "hkl_scan": Entry("hkltext", "scan_plain", I8, (Arg("data", U1, 1), Arg("hkl", I8, 2), Arg("F", F8, 1))),
    "int_image": Entry("convert", "int_image", None,
                       (Arg("floatimage", F4, 1), Arg("scale", F8), Arg("adc", F8), Arg("fpixels", I8)) + _ROI
                       + (Arg("out", U2, 1),), _ROI_PACK),
    "pgm_image": Entry("convert", "pgm_image", None,
                       (Arg("floatimage", F4, 1), Arg("scale", F8), Arg("fpixels", I8)) + _ROI + (Arg("out", U1, 1),),
                       _ROI_PACK),
}

# ctypes' type for a scalar argument or result of each dtype
_CSCALAR = {I1: ctypes.c_int8, U1: ctypes.c_uint8, U2: ctypes.c_uint16, I8: ctypes.c_int64, F4: ctypes.c_float,
            F8: ctypes.c_double}


def abi_text(entry):
    """The entry's C ABI in words, e.g. 'f4 rmsd_pass(image f4[:], avg f8, roi i8[:])' (a structured
    dtype by its fields): in the cache key and each entry's metadata."""
    def code(dtype):
        if dtype.names is None:
            return dtype.str[1:]
        fields = [(n,) + dtype.fields[n][:2] for n in dtype.names]
        return "{%s}" % ",".join("%s@%d:%s%s" % (n, offset, sub.base.str[1:], list(sub.shape) if sub.shape else "")
                                 for n, sub, offset in fields)
    args = ", ".join("%s %s%s" % (a.name, code(a.dtype), "[%s]" % ",".join(":" * a.ndim) if a.ndim else "")
                     for a in entry.args)
    packs = "".join(" %s=(%s)" % (pack, ",".join(members)) for pack, members in entry.packs)
    return "%s %s.%s(%s)%s" % ("void" if entry.restype is None else code(entry.restype), entry.module,
                               entry.function, args, packs)


# ---------------------------------------------------------------------------- calling

class Kernel:
    """One entry at a machine address, called with NumPy arrays and Python scalars, by position or by
    the entry's argument names; checks each array's dtype, rank and C order (a wrong array would be
    read as raw memory)."""

    def __init__(self, name, address, keepalive):
        self.name = name
        self._keepalive = keepalive
        entry = ENTRIES[name]
        self._args = entry.args
        self._names = [a.name for a in entry.args]
        argtypes = []
        for a in self._args:
            argtypes += [ctypes.c_void_p] + [ctypes.c_int64] * a.ndim if a.ndim else [_CSCALAR[a.dtype]]
        self._fn = ctypes.CFUNCTYPE(None if entry.restype is None else _CSCALAR[entry.restype], *argtypes)(address)

    def _bind(self, values, named):
        if len(values) > len(self._args):
            raise TypeError("%s takes %d arguments (%d given)" % (self.name, len(self._args), len(values)))
        values = list(values)
        for name in self._names[len(values):]:
            if name not in named:
                raise TypeError("%s takes %d arguments: %s missing" % (self.name, len(self._args), name))
            values.append(named.pop(name))
        if named:
            raise TypeError("%s: unexpected or repeated argument %s" % (self.name, ", ".join(sorted(named))))
        return values

    def __call__(self, *values, **named):
        if named or len(values) != len(self._args):
            values = self._bind(values, named)
        flat = []
        for a, v in zip(self._args, values):
            if not a.ndim:
                flat.append(v)
                continue
            if not (isinstance(v, np.ndarray) and v.dtype == a.dtype and v.ndim == a.ndim and v.flags.c_contiguous):
                raise TypeError("%s: argument %s must be a C-ordered %d-d %s array, not %s"
                                % (self.name, a.name, a.ndim, a.dtype, _describe(v)))
            flat.append(v.ctypes.data)
            flat.extend(v.shape)
        return self._fn(*flat)


def _describe(v):
    if isinstance(v, np.ndarray):
        return "%d-d %s%s" % (v.ndim, v.dtype, "" if v.flags.c_contiguous else " (not C-ordered)")
    return type(v).__name__


_loaded = {}
_lock = threading.RLock()      # re-entered by build(), called from the first-build hook


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
    problems, stale = [], []
    k = _load(name, *paths, problems=problems, stale=stale)
    if k is not None:
        return k
    if not problems:
        # not in the cache written to: the package's own cache, read-only (a read-only install), unless
        # NUMBA_CACHE_DIR names the one cache to use
        installed = _read_only_paths(name)
        if installed is not None and installed != paths:
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
    _announce(name)
    k = _loaded.get(name)           # the hook may have built it, with the rest of the run's entries (build())
    if k is not None:
        return k
    return _build(name, paths, sources_changed=bool(stale))


# called once, with the entry's name, just before this process first compiles a cached entry: the
# command line says there that the wait is a one-time compile (kernels/buildtime.py)
before_first_build = None


def _announce(name):
    global before_first_build
    hook, before_first_build = before_first_build, None
    if hook is not None:
        hook(name)


# ---------------------------------------------------------------------------- a first run's builds

def build(names, background=None, done=None, ready=None):
    """Makes every entry of `names` ready in this process (loaded, or built and saved), in order;
    `ready()` is called once the builds are under way (after any fork: a thread it starts is not
    copied), `done(name)` as each entry is ready. The one compile a first run does, all at once.

    `background`, one of them (the render kernel, most of the compile), is built by a child process
    forked once numba is imported, while this one builds the others; then loaded from the cache. Only
    where that can help and is safe: two CPUs or more, a cache this process can write (the child hands
    its work back through it), numba's internals as tested, no other thread running (fork copies
    only this one). Else, or where the child fails, every entry is built here."""
    todo = [n for n in dict.fromkeys(names) if n not in _loaded]
    child = None
    if background in todo and len(todo) > 1 and can_build_beside(background):
        paths = _cache_paths(background)
        if _stale(paths) or _older_builds(background, paths):
            # before anything is compiled for it here (_precompile) or in the child: as _build does
            _forget_numba_caches(dependencies(ENTRIES[background].module))
        child = _Beside(background)
        if child.pid is None:
            child = None
        else:
            todo.remove(background)
    try:
        if ready is not None:
            ready()
        if child is not None:
            for step in _SPLITS.get(background, ()):
                _precompile(background, step[0])
                child.go()
            child.go(last=True)
        for name in todo:
            kernel(name)
            if done is not None:
                done(name)
        if child is not None:
            child.wait()
            kernel(background)          # from the cache; built here if the child could not
            if done is not None:
                done(background)
    finally:
        if child is not None:
            child.stop()


# The entry built beside the others is most of a first run's compile: part of it is compiled here
# meanwhile and saved in numba's on-disk cache, from which the child loads it. In steps: this process
# compiles the first list of each (saving it), the child the second; before each step after the
# first, and before the entry itself, the child waits until this process is done with the step
# before. Each function is (module, function, argument types), a type being "i8", "f8" or "b1", "i8[:]"
# or "f8[:]" (a 1-d array), one of the entry's arguments (its carray) or packs (a tuple of them) by
# name, "name[0]" for an element of that argument, or a tuple of types. A type that does not match the
# entry's call only wastes the head start: building the entry compiles what it calls. Balanced on a
# 2-core machine: each process's part, with the other entries of a default run here, takes about as long.
_ROW, _ROWS, _IROW, _PRM = "f8[:]", ("f8[:]",) * 3, "i8[:]", "params[0]"
_SPLITS = {"render_fast": (
    ((("fast", "_square_table", (_ROW, _ROWS, _ROW, "tables", "i8", _PRM, (_ROW, _IROW))),
      ("fast", "_other_shape", (_ROW, _ROWS, _ROW, "tables", "i8", _PRM, "recip"))),
     (("fast", "_square_const", (_ROW, _ROWS, _ROW, "cell_list", "i8", _PRM)),
      ("fast", "_polarizations", (_ROW, _IROW, _ROWS, ("f8", "f8", "f8"), "f8", "polar_axis")),
      ("fast", "_solid_angles", (_ROW, _ROW, _PRM, "b1")),
      ("fast", "_capture_fractions", (_ROW, _ROW, _ROW, _ROW, "det", _PRM, "i8")),
      ("fast", "_dmin_cut", (_ROW, _ROW, _ROW, _ROW, _IROW, "f8")))),
    ((("pixel", "pixel_value", ("i8", "i8", "b1", "b1", "plan")),),
     (("fast", "_steps", (_ROW, _ROWS, _ROW, _PRM, "recip", "tables", (_ROW, _IROW))),
      ("fast", "_tile", ("i8", "order", "plan", "tables", "out", "scratch")))))}


def split_types(name, argtypes):
    """The numba types of a _SPLITS signature of the entry `name`."""
    from numba import from_dtype, types
    entry = ENTRIES[name]
    args = {a.name: a for a in entry.args}
    packs = dict(entry.packs)
    scalars = {"i8": types.int64, "f8": types.float64, "b1": types.boolean}

    def numba_type(t):
        if isinstance(t, tuple):
            return types.Tuple([numba_type(u) for u in t])
        if t in scalars:
            return scalars[t]
        if t.endswith("[:]"):
            return types.Array(scalars[t[:-3]], 1, "C")
        if t.endswith("[0]"):
            return numba_type(t[:-3]).dtype
        if t in packs:
            return types.Tuple([numba_type(m) for m in packs[t]])
        a = args[t]
        return types.Array(from_dtype(a.dtype), a.ndim, "C") if a.ndim else from_dtype(a.dtype)
    return tuple(numba_type(t) for t in argtypes)


def _precompile(name, functions):
    """Compiles (or loads from numba's cache) `functions` (_SPLITS) for the entry `name`."""
    import importlib
    for module, function, argtypes in functions:
        try:
            f = getattr(importlib.import_module("nbnumba.kernels." + module), function)
            f.compile(split_types(name, argtypes))
        except Exception:
            pass                # a head start only: building the entry compiles it, or says what is wrong


def usable_cpus():
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_build_beside(name, numba_checked=True):
    """Whether build() would build the entry `name` in a second process; without `numba_checked`, as far
    as can be told without importing numba (whether its internals are as tested)."""
    if not hasattr(os, "fork") or usable_cpus() < 2 or threading.active_count() > 1:
        return False
    paths = _cache_paths(name)
    if paths is None or os.environ.get("NBNUMBA_BUILD_BESIDE", "1") == "0":
        return False
    folder = os.path.dirname(paths[0])
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    if not numba_checked:
        return True
    from . import jit               # numba and its typing tables: imported once, for both processes
    return jit._untested is None


class _Beside:
    """A child process, forked from this one, that builds one entry into the native cache and exits.
    Its stdout and stderr go to a temporary file, shown here only where it fails."""

    def __init__(self, name):
        import tempfile
        self.name = name
        self.pid = None
        self._log = tempfile.TemporaryFile()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        ready, self._go = os.pipe()     # closed by this process once its part is in numba's cache
        try:
            pid = os.fork()
        except OSError:
            os.close(ready)
            self.go(last=True)
            self._log.close()
            return
        if pid == 0:
            os.close(self._go)
            _child_build(name, self._log.fileno(), ready)        # never returns
        os.close(ready)
        self.pid = pid

    def go(self, last=False):
        """Lets the child go on to its next step (_SPLITS), or with `last` to the end."""
        if self._go is not None:
            try:
                if last:
                    os.close(self._go)
                    self._go = None
                else:
                    os.write(self._go, b".")
            except OSError:
                self._go = None

    def wait(self):
        """Waits for the child; where it failed, says so (and what it printed), and the caller builds
        the entry itself."""
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            self._log.seek(0)
            said = self._log.read().decode(errors="replace").strip().splitlines()
            _warn("building %s in a second process failed (exit status %d%s): building it here"
                  % (self.name, code, ": " + said[-1] if said else ""))
        self._log.close()
        return code == 0

    def stop(self):
        """Ends the child where this process stops early (an interrupt, an error)."""
        self.go(last=True)
        if self.pid is not None:
            import signal
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = None


def _child_build(name, log_fd, ready):
    """In the forked child: build the entry into the cache, exit 0 where it is there now. The parent
    writes a byte to `ready` as it finishes each step of its part (_SPLITS), and closes it at the end."""
    code = 1
    try:
        import signal
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_DFL)
        try:            # end with the parent, even where it is killed outright
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() == 1:
            os._exit(1)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        global before_first_build
        before_first_build = None
        for i, step in enumerate(_SPLITS.get(name, ())):
            if i:
                _wait_for(ready)
            _precompile(name, step[1])
        while _wait_for(ready):
            pass
        _obtain(name)
        code = 0 if is_cached(name) else 3
    except BaseException:
        try:
            import traceback
            traceback.print_exc()
        except BaseException:
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _wait_for(fd, timeout_s=300):
    """One byte from the parent (True), or the end of the pipe or no word for `timeout_s` (False)."""
    import select
    if not select.select([fd], [], [], timeout_s)[0]:
        return False
    try:
        return os.read(fd, 1) != b""
    except OSError:
        return False


def is_cached(name):
    """Whether `name` would be loaded without compiling it (loaded already, or its metadata file is in
    the cache or in the package's own, for these sources); None where native code is not cached at all
    (not Linux, NBNUMBA_NO_NATIVE_CACHE, or a numba whose internals it was not tested with)."""
    if name in _loaded:
        return True
    paths = _cache_paths(name)
    if paths is None or os.path.exists(_numba_cache_only_marker()):
        return None
    installed = _read_only_paths(name)
    for meta in (paths[1],) + ((installed[1],) if installed is not None else ()):
        try:
            if _sources_current(read_meta(meta)):
                return True
        except Exception:
            pass
    return False


def _warn(message):
    sys.stderr.write("nbnumba: warning: %s\n" % message)
    sys.stderr.flush()


# ---------------------------------------------------------------------------- the cache
#
# An entry's file name carries a key for what its code was compiled by and for (this Python, the
# numba and llvmlite installs, this CPU, the entry's ABI); its metadata lists the source files its
# code was compiled from (the entry's module and every nbnumba module it imports, transitively, found
# when it was built) with their SHA-256, and a load re-hashes them: an edit to any of them rebuilds.

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
_PACKAGE = os.path.dirname(_HERE)           # nbnumba/: source paths in the metadata are relative to it


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


def _read_only_paths(name):
    """The entry's files in the package's own cache, read where the cache written to lacks it; None
    when NUMBA_CACHE_DIR is set (then that folder is the only cache, as for numba's own)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    return _cache_paths(name, _installed_cache_dir())


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
    import importlib.util
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


def _base_key():
    """What every entry's code depends on besides its sources: this Python, the numba and llvmlite
    installs, this CPU, and nbnumba's own environment settings (NBNUMBA_*: a kernel tunable read from
    the environment is compiled in as a constant)."""
    global _key_base
    if _key_base is None:
        settings = sorted((k, v) for k, v in os.environ.items()
                          if k.startswith("NBNUMBA_") and k not in ("NBNUMBA_NO_NATIVE_CACHE", "NBNUMBA_BUILD_BESIDE"))
        _key_base = _sha256(repr((sys.version, sys.platform, _install_stamp("numba"), _install_stamp("llvmlite"),
                                  _cpu_identity(), settings)).encode()).hexdigest()
    return _key_base


def _key(name):
    return _sha256((_base_key() + name + abi_text(ENTRIES[name])).encode()).hexdigest()[:32]


def _cache_paths(name, folder=None):
    """(object file, metadata file) for the entry in `folder` (default: the cache written to), or None
    where native code cannot be cached."""
    if not sys.platform.startswith("linux") or os.environ.get("NBNUMBA_NO_NATIVE_CACHE"):
        return None
    base = os.path.join(folder or cache_dir(), "%s-%s" % (name, _key(name)))
    return base + ".o", base + ".meta"


def _numba_cache_only_marker():
    """A file saying that this numba is one the native cache was not tested with (see _build)."""
    return os.path.join(cache_dir(), "numba-cache-only-%s" % _base_key()[:32])


_digests = {}


def _digest(relpath):
    """SHA-256 of a source file of the package (once per process), or None where it is not there."""
    d = _digests.get(relpath)
    if d is None:
        try:
            d = _digests[relpath] = _sha256(_read(os.path.join(_PACKAGE, relpath))).hexdigest()
        except OSError:
            return None
    return d


def _sources_current(meta):
    """Whether every source file the entry was compiled from is as it was then."""
    sources = meta.get("sources")
    if not sources:
        raise ValueError("metadata without sources")
    for item in sources.split():
        relpath, _, digest = item.rpartition("=")
        if _digest(relpath) != digest:
            return False
    return True


def _module_file(module):
    """nbnumba.a.b -> ('a/b.py' or 'a/b/__init__.py', is_package), relative to the package; None if neither."""
    parts = module.split(".")[1:]
    for rel, package in ((os.path.join(*parts, "__init__.py") if parts else "__init__.py", True),
                         (os.path.join(*parts) + ".py" if parts else None, False)):
        if rel and os.path.isfile(os.path.join(_PACKAGE, rel)):
            return rel, package
    return None


_imported = {}


def _imports(module, relpath, package):
    """The nbnumba modules (and names that may be modules) a module's own top-level code imports, absolute
    or relative; imports inside function bodies run later, if ever, and are left out. Parsed once per
    process and file content (a first run saves several entries that import the same modules)."""
    data = _read(os.path.join(_PACKAGE, relpath))
    key = (module, package, _sha256(data).digest())
    found = _imported.get(key)
    if found is None:
        found = _imported[key] = _parse_imports(module, relpath, package, data)
    return list(found)


def _parse_imports(module, relpath, package, data):
    import ast
    tree = ast.parse(data, relpath)
    here = module if package else module.rpartition(".")[0]
    found, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = here.split(".")
                up = up[:len(up) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            found += [base] + [base + "." + a.name for a in node.names]
        else:
            todo.extend(ast.iter_child_nodes(node))
    return [m for m in found if m == "nbnumba" or m.startswith("nbnumba.")]


def dependencies(module):
    """Source files (relative to the package) that importing nbnumba.kernels.<module> runs, found from
    the import statements: the module, every nbnumba module it imports, transitively, and the packages
    above each; with this file and the numba adapter, which build the entry."""
    todo = ["nbnumba.kernels." + module, "nbnumba.kernels.native", "nbnumba.kernels.numba_internals"]
    seen, files = set(), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found = _module_file(name)
        if found is None:
            continue                    # a name imported from a module, not a module
        relpath, package = found
        files.add(relpath.replace(os.sep, "/"))
        todo += _imports(name, relpath, package)
        todo.append(name.rpartition(".")[0] or name)
    return sorted(files)


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


def _load(name, obj_path, meta_path, problems=None, stale=None):
    """The entry mapped from the cache, or None when it is not there or not usable here; where the
    entry is there but damaged (unreadable, truncated, not matching its checksums or ABI), the reason is
    appended to `problems`; where it was compiled from sources since changed, to `stale`."""
    problems = [] if problems is None else problems
    stale = [] if stale is None else stale
    try:
        return _load_entry(name, obj_path, meta_path, problems, stale)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except Exception as e:      # whatever a damaged file makes the loader raise
        problems.append("%s: %s" % (type(e).__name__, e))
        return None


def _load_entry(name, obj_path, meta_path, problems, stale):
    global _engine
    meta = read_meta(meta_path)
    for key in ("symbol", "sha256", "abi", "sources"):
        if not meta.get(key):
            raise ValueError("metadata without %s" % key)
    if meta["abi"] != abi_text(ENTRIES[name]):
        raise ValueError("metadata of another ABI: %s" % meta["abi"])
    if not _sources_current(meta):
        stale.append(meta_path)
        return None
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
    """An entry's metadata file: `key value` lines (json costs ~1.5 ms of start-up), the last one a
    checksum of the others; stubs is a list."""
    text = _read(path).decode("ascii")
    body, _, last = text.rstrip("\n").rpartition("\n")
    if last != "check " + _sha256((body + "\n").encode()).hexdigest()[:32]:
        raise ValueError("metadata does not match its checksum")
    meta = {}
    for line in body.splitlines():
        key, _, value = line.partition(" ")
        meta[key] = None if value == "-" else value
    meta["stubs"] = (meta.get("stubs") or "").split()
    return meta


def _meta_text(meta):
    body = "".join("%s %s\n" % (k, " ".join(v) if isinstance(v, list) else v or "-") for k, v in meta.items())
    return body + "check %s\n" % _sha256(body.encode()).hexdigest()[:32]


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


def _build(name, paths, sources_changed=False):
    """Compiles the entry with numba; saves its machine code to the cache when it can stand alone and
    this numba is one whose internals the cache was tested with (else numba's own cache is all)."""
    import importlib
    import inspect

    from numba import carray, cfunc, from_dtype, njit, types

    from . import numba_internals as internals

    entry = ENTRIES[name]
    target = getattr(importlib.import_module("nbnumba.kernels." + entry.module), entry.function)
    params = list(inspect.signature(target.py_func).parameters)
    if params != parameters(entry):
        raise TypeError("native entry %s: its ABI (%s) does not match %s.%s(%s)" % (
            name, ", ".join(parameters(entry)), entry.module, entry.function, ", ".join(params)))
    if paths is not None:
        untested = internals.untested()
        if untested:
            paths = None
            _numba_cache_only(untested)
    sources = dependencies(entry.module) if paths is not None else None
    if paths is not None and (sources_changed or _older_builds(name, paths)):
        _forget_numba_caches(sources)
    # saved natively, the function's body is inlined into the C wrapper (numba's IR inlining): one LLVM
    # module less to optimise and generate code for, each the whole kernel (about 1 s of render_fast's
    # build); else it is called, and kept in numba's own cache
    if paths is not None:
        target = njit(inline="always", error_model="numpy")(target.py_func)
    space = {"carray": carray, "target": target}
    args, body, sig = [], [], []
    for i, a in enumerate(entry.args):
        if a.ndim:
            dims = ["%s_n%d" % (a.name, d) for d in range(a.ndim)]
            args += [a.name + "_p"] + dims
            sig += [types.voidptr] + [types.int64] * a.ndim
            space["T%d" % i] = a.dtype
            body.append("    %s = carray(%s_p, (%s,), T%d)" % (a.name, a.name, ", ".join(dims), i))
        else:
            args.append(a.name)
            sig.append(from_dtype(a.dtype))
    packed = dict(entry.packs)
    call = ["(%s,)" % ", ".join(packed[p]) if p in packed else p for p in params]
    source = "def %s(%s):\n%s\n    return target(%s)\n" % (name, ", ".join(args), "\n".join(body),
                                                           ", ".join(call))
    exec(compile(source, "<nbnumba entry %s>" % name, "exec"), space)
    restype = types.void if entry.restype is None else from_dtype(entry.restype)
    compiled = cfunc(restype(*sig), error_model="numpy")(space[name])
    if paths is not None:
        try:
            _save(compiled, *paths, entry, sources)
        except OSError as e:
            # a read-only cache: this process still runs the in-process build
            global _save_warned
            jit = sys.modules.get("nbnumba.kernels.jit")
            if not _save_warned and (jit is None or jit.caching()):      # else jit has said so already
                _save_warned = True
                _warn("cannot write the kernel cache in %s (%s; set NUMBA_CACHE_DIR): kernels compiled in "
                      "memory, for this process only" % (os.path.dirname(paths[0]), e.strerror or e))
        except Exception as e:       # an internal of numba or llvmlite not as tested
            _numba_cache_only("saving its code failed (%s: %s)" % (type(e).__name__, e))
    return Kernel(name, compiled.address, compiled)


_save_warned = False
_noticed = False


def _numba_cache_only(reason):
    """Says once (one line) that the native cache is not used with this numba, and leaves a marker so that
    later runs do not announce a one-time compile (buildtime.notice)."""
    global _noticed
    if not _noticed:
        _noticed = True
        sys.stderr.write("nbnumba: notice: %s: kernels are compiled by numba and kept in numba's own cache\n"
                         % reason)
        sys.stderr.flush()
        try:
            os.makedirs(cache_dir(), exist_ok=True)
            with open(_numba_cache_only_marker(), "w") as fh:
                fh.write(reason + "\n")
        except OSError:
            pass


def _older_builds(name, paths):
    """Whether the cache holds the entry built under another key (numba or the sources changed)."""
    import glob
    return any(p != paths[0] for p in glob.glob(os.path.join(os.path.dirname(paths[0]), glob.escape(name) + "-*.o")))


def _stale(paths):
    """Whether the entry's metadata is there, for sources changed since."""
    try:
        return not _sources_current(read_meta(paths[1]))
    except Exception:
        return False


_forgotten = set()      # modules whose numba cache files this process (or its parent) has dropped


def _forget_numba_caches(sources):
    """The entry's sources (or numba) changed since its last build. numba's own cache checks only each
    function's own file: a function whose callee changed in another file would load stale from it. Drop
    numba's cache files of the modules the entry is built from before compiling; once per module and
    process (what is saved after that was compiled from the sources as they are, maybe by the other
    process of a first run's build, which needs it)."""
    import glob
    import importlib

    from . import numba_internals as internals
    modules = ["nbnumba." + f[:-3].replace("/", ".") for f in sources if not f.endswith("__init__.py")]
    modules = [m for m in modules if m not in _forgotten]
    _forgotten.update(modules)
    folders = set()
    for m in modules:
        folders.update(internals.cache_folder(v) for v in vars(importlib.import_module(m)).values()
                       if internals.is_dispatcher(v))
    folders.discard(None)
    for folder in folders:
        for m in modules:
            for stale in glob.glob(os.path.join(glob.escape(folder), m.rpartition(".")[2] + ".*.nb[ic]")):
                try:
                    os.unlink(stale)
                except OSError:
                    pass


def _save(compiled, obj_path, meta_path, entry, sources):
    from . import numba_internals as internals
    data = internals.jit_object_code(compiled)
    stubs = sorted({s for s in undefined_symbols(data) if s.startswith(_NUMBA_RUNTIME)})
    if any(not s.startswith(_NUMBA_RUNTIME) and not _in_process(s) for s in undefined_symbols(data)):
        return              # needs something only numba's process provides: keep it in-process
    from pathlib import Path

    from ..io.atomic import write_now
    obj_path = Path(obj_path)
    obj_path.parent.mkdir(parents=True, exist_ok=True)
    write_now(obj_path, data)
    symbol = compiled.native_name
    meta = {"symbol": symbol, "abi": abi_text(entry), "stubs": stubs, "sha256": _sha256(data).hexdigest(),
            "shared_sha256": _link_shared(compiled, stubs, obj_path.with_suffix(".so"), symbol),
            "sources": ["%s=%s" % (f, _sha256(_read(os.path.join(_PACKAGE, f))).hexdigest()) for f in sources]}
    write_now(meta_path, _meta_text(meta).encode())
    # earlier builds of this entry (older installs) are never loaded again
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


def _link_shared(compiled, stubs, so_path, symbol):
    """Links the entry, compiled position-independent, and its stubs into a shared library with the
    system linker; returns its sha256, or None where there is no linker or the result won't load."""
    import shutil
    import subprocess
    import tempfile

    from llvmlite import binding as ll

    from . import numba_internals as internals
    linker = shutil.which("ld")
    if linker is None:
        return None
    # the JIT's own CPU, features and optimisation level; only the relocation model differs
    tm = internals.pic_target_machine(compiled)
    kernel_obj = tm.emit_object(internals.final_module(compiled))
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
