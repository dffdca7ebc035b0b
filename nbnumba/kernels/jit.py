"""numba's side of the kernels: the decorators every kernel module uses, and vecmath's formulas
compiled for them.

Only modules that compile code import this one (and with it numba); the set-up and a run that finds
its compiled kernels in the native cache (nbnumba.kernels.native) never do.
"""
import sys
from types import FunctionType

from numba import njit
from numba.core.registry import cpu_target

from . import vecmath


def _load_tables_without_blas_probe():
    """numba's first compile imports scipy (when installed) to look for BLAS, which nbnumba never
    uses: about 0.23 s. Load numba's typing tables now, with scipy hidden."""
    missing = object()
    saved = sys.modules.get("scipy", missing)
    sys.modules["scipy"] = None
    try:
        cpu_target.target_context.refresh()
    finally:
        if saved is missing:
            del sys.modules["scipy"]
        else:
            sys.modules["scipy"] = saved


_load_tables_without_blas_probe()

# IEEE division as in C: x/0 is inf or NaN, never a Python exception. Kernel functions are called only
# from compiled code (the native entries), so numba generates no CPython wrapper for them (about 3 s
# less of a cold start); `pyjit` keeps it for the few that Python calls directly (printout, the CUDA
# simulator). Calling a `jit` function from Python crashes the process: give it `pyjit` instead.
jit = njit(cache=True, error_model="numpy", no_cpython_wrapper=True)
pyjit = njit(cache=True, error_model="numpy")
inline = njit(cache=True, inline="always", error_model="numpy")


def _compiled(module, *names):
    """`inline` versions of a numba-free module's functions. Each is rebuilt over a copy of the
    module's namespace in which the others are the compiled versions, so that they call each other
    compiled while the module itself stays plain Python."""
    space = dict(vars(module))
    for name in names:
        f = space[name]
        space[name] = inline(FunctionType(f.__code__, space, f.__name__, f.__defaults__, f.__closure__))
    return tuple(space[name] for name in names)


(dot, cross, magnitude, unitize, rotate_xyz, rotate_axis, rotate_umat, polarization_factor, sincg, sinc3,
 polint4) = _compiled(vecmath, "dot", "cross", "magnitude", "unitize", "rotate_xyz", "rotate_axis",
                      "rotate_umat", "polarization_factor", "sincg", "sinc3", "polint4")
