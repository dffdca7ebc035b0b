"""numba's side of the kernels: the decorators every kernel module uses, and vecmath's formulas
compiled for them.

The decorators compile for the CPU and keep each function's plain Python source in `plain_functions`,
so that another target compiles the same source (kernels/cuda_functions.py, with cuda.jit(device=True)):
`in_namespace` rebuilds a module's plain functions over a namespace in which their callees are that
target's versions. One source per formula, one compile per target.

Only modules that compile code import this one (and with it numba); the set-up and a run that finds
its compiled kernels in the native cache (nbnumba.kernels.native) never do.
"""
import sys
from types import FunctionType

from numba import njit

from . import numba_internals as internals
from . import vecmath

_untested = internals.untested()       # None where numba's cache internals below can be used


def _load_tables_without_blas_probe():
    """numba's first compile imports scipy (when installed) to look for BLAS, which nbnumba never
    uses: about 0.23 s. Load numba's typing tables now, with scipy hidden."""
    missing = object()
    saved = sys.modules.get("scipy", missing)
    sys.modules["scipy"] = None
    try:
        internals.refresh_typing_tables()
    finally:
        if saved is missing:
            del sys.modules["scipy"]
        else:
            sys.modules["scipy"] = saved


if _untested is None:
    _load_tables_without_blas_probe()


def _warn(message):
    sys.stderr.write("nbnumba: warning: %s\n" % message)
    sys.stderr.flush()


_caching = [True]        # False once numba has found no writable cache folder for a kernel


def caching():
    """Whether the kernels compiled in this process are saved in numba's cache."""
    return _caching[0]


# module name -> {function name: the plain Python function} of every function compiled here: what
# kernels/cuda_functions.py compiles again, as device functions
plain_functions = {}


def _keep_plain(f):
    plain_functions.setdefault(f.__module__, {})[f.__name__] = f


def in_namespace(module, compile, bindings):
    """{name: compile(f)} for each plain function of module (as registered in plain_functions), f
    rebuilt over a copy of the module's namespace in which `bindings` (another target's versions of
    the callees the module imported) and these compiled functions replace the CPU ones, so they call
    each other on that target while the module itself is unchanged."""
    space = dict(vars(module))
    space.update(bindings)
    compiled = {}
    for name, f in plain_functions[module.__name__].items():
        compiled[name] = compile(FunctionType(f.__code__, space, f.__name__, f.__defaults__, f.__closure__))
    space.update(compiled)
    cpu_only = sorted(name for name, v in space.items() if _is_cpu_compiled(v))
    if cpu_only:
        raise TypeError("%s: no %s version bound for %s" % (module.__name__, compile, ", ".join(cpu_only)))
    return compiled


def _is_cpu_compiled(value):
    """Whether value is one of the numba CPU dispatchers made here (its plain function registered)."""
    f = getattr(value, "py_func", None)
    return f is not None and plain_functions.get(getattr(f, "__module__", None), {}).get(f.__name__) is f


def _cached(**options):
    """njit(cache=True, **options), except that an unreadable cache entry is rebuilt (the robust cache of
    numba_internals) and that where no cache folder is writable (a read-only install, an unwritable home,
    no NUMBA_CACHE_DIR: numba's own cache=True raises "cannot cache function") the kernels are compiled
    in memory, with one warning. With a numba outside the tested versions: numba's own cache=True (its
    failures are then numba's)."""
    plain = njit(**options)
    numba_cache = njit(cache=True, **options)

    def decorate(f):
        _keep_plain(f)
        return _unliteral_calls(_dispatcher(f))

    def _dispatcher(f):
        if not _caching[0]:
            return plain(f)
        try:
            if _untested is not None:
                return numba_cache(f)
            dispatcher = plain(f)
            internals.use_robust_cache(dispatcher, _warn)
            return dispatcher
        except RuntimeError as e:
            _caching[0] = False
            _warn("no writable cache folder (%s; set NUMBA_CACHE_DIR): kernels compiled in memory, "
                  "for this process only" % e)
            return plain(f)
    return decorate


def _unliteral_calls(dispatcher):
    """A call from compiled code compiles the callee for its arguments' types as numba types them at
    that moment: an integer that is still the constant 0 there (`n = 0` before a loop that counts it)
    is Literal[int](0), and numba compiles the callee for it, then again for int64 once the loop is
    typed (fast._tile: about a second of the first run, thrown away). Callees are compiled for the
    plain types instead; a literal argument converts to them, as any int64 does."""
    from numba.core import types
    template = dispatcher.get_call_template

    def get_call_template(args, kws):
        return template(tuple(types.unliteral(a) for a in args), {k: types.unliteral(v) for k, v in kws.items()})
    dispatcher.get_call_template = get_call_template
    return dispatcher


# IEEE division as in C: x/0 is inf or NaN, never a Python exception. Kernel functions are called only
# from compiled code (the native entries), so numba generates no CPython wrapper for them (about 3 s
# less of a cold start); `pyjit` keeps it for the few that Python calls directly (printout, the CUDA
# simulator). Calling a `jit` function from Python crashes the process: give it `pyjit` instead.
jit = _cached(error_model="numpy", no_cpython_wrapper=True)
pyjit = _cached(error_model="numpy")
threaded = _cached(error_model="numpy", nogil=True)     # called from Python by several threads at once
inline = _cached(inline="always", error_model="numpy")


def _compiled(module, *names):
    """`inline` versions of a numba-free module's functions. Each is rebuilt over a copy of the
    module's namespace in which the others are the compiled versions, so that they call each other
    compiled while the module itself stays plain Python (registered in plain_functions under the
    module's name, for the other targets)."""
    space = dict(vars(module))
    for name in names:
        f = space[name]
        space[name] = inline(FunctionType(f.__code__, space, f.__name__, f.__defaults__, f.__closure__))
    return tuple(space[name] for name in names)


(dot, cross, magnitude, unitize, rotate_xyz, rotate_axis, rotate_umat, polarization_factor, sincg, sinc3,
 polint4) = _compiled(vecmath, "dot", "cross", "magnitude", "unitize", "rotate_xyz", "rotate_axis",
                      "rotate_umat", "polarization_factor", "sincg", "sinc3", "polint4")
