"""The per-pixel functions compiled for the GPU: the same plain Python sources as the CPU's (vecmath.py's
formulas, pixel.py's functions and fast_pixel.py's, as jit.py keeps them), compiled with
cuda.jit(device=True), as FBPIC's cuda_methods.py compiles its inline_functions.py. Each module's
functions are rebuilt over a namespace in which their callees are the device versions too
(jit.in_namespace), so no CPU-compiled function is reachable from a CUDA kernel, and under
NUMBA_ENABLE_CUDASIM=1 the simulator runs these same device functions (as Python). Imported only by
kernels/cuda.py.

fast_pixel's functions are built per specialisation (`fast_functions(spec)`): its SPEC_* constants bound
to one plan's values, so that each GPU kernel has them compiled in.
"""
from numba import config, cuda

from . import fast_pixel, pixel, vecmath
from .jit import in_namespace

device = cuda.jit(device=True)

vecmath_functions = in_namespace(vecmath, device, {})
pixel_functions = in_namespace(pixel, device, vecmath_functions)

pixel_value = pixel_functions["pixel_value"]


def _fma(a, b, c):
    return cuda.fma(a, b, c)


def _exact_fma(a, b, c):
    """a*b + c rounded once, in Python (the simulator's own cuda.fma rounds twice), so that the simulated
    fast kernel does the CPU kernel's arithmetic bit for bit: the exact sum of the three binary
    fractions, then Python's correctly rounded integer division."""
    try:
        pa, qa = float(a).as_integer_ratio()
        pb, qb = float(b).as_integer_ratio()
        pc, qc = float(c).as_integer_ratio()
        num = pa * pb * qc + pc * qa * qb
        if num != 0:
            return num / (qa * qb * qc)
    except (ValueError, OverflowError):     # inf or NaN operands, or a result beyond the float range
        pass
    return a * b + c                        # (also an exact zero: IEEE's sign of zero)


fma = device(_exact_fma if config.ENABLE_CUDASIM else _fma)

_fast = {}


def fast_functions(spec):
    """fast_pixel's device functions with its SPEC_* constants bound to `spec` (a tuple of (name, value)
    pairs), built once per spec."""
    if spec not in _fast:
        bindings = dict(vecmath_functions)
        bindings.update(pixel_functions)
        bindings["fma"] = fma
        bindings.update(spec)
        _fast[spec] = in_namespace(fast_pixel, device, bindings)
    return _fast[spec]
