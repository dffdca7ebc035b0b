"""The CUDA renderer: one GPU thread per listed pixel, each running `pixel_value` compiled as a device
function from the CPU kernel's own source (kernels/cuda_functions.py), so every formula has one source
for both devices; under the simulator the same device functions run, as Python. Importing this module
needs no GPU; `render` raises NanoBraggError when none is usable. Works with numba's built-in `numba.cuda` and with the
numba-cuda package (which takes over the same `numba.cuda` name), and under the simulator
(NUMBA_ENABLE_CUDASIM=1).

Arithmetic is float64 throughout, in C's operation order: the kernel is compiled with NVVM's
multiply-add contraction off (see `_no_contraction`), and division and sqrt are IEEE-rounded
(numba's defaults). What still differs from the CPU is the last bit of libdevice's sin, cos, exp
and atan2 against glibc's, so GPU images are close to, not always bit-identical with, C's.
"""
import contextlib
import warnings

import numpy as np
from numba import config

try:
    from numba import cuda
except ImportError:     # a numba without the built-in CUDA target, and no numba-cuda installed
    cuda = None

from ..errors import NanoBraggError
from . import tunables
from .layout import PLAN_ARRAYS

if cuda is not None:
    from .cuda_functions import pixel_value
else:
    pixel_value = None


def _render_body(order, start, fresh, interp_until, params, det, polar_axis, sources, cells, recip, Fhkl,
                 values, omega, switched):
    """Thread i renders list position start + i into values[i], omega[i], switched[i]. The launch takes
    the plan's arrays one by one (layout.PLAN_ARRAYS order; the simulator hands a kernel its array
    arguments in its in-kernel form, but not arrays inside a tuple), and packs them into the `plan`
    tuple the device functions take, as the native entries' wrappers do on the CPU."""
    i = cuda.grid(1)
    n = start + i
    if n >= order.shape[0]:
        return
    fpixels = params[0].fpixels
    idx = order[n]
    spixel = idx // fpixels
    fpixel = idx - spixel * fpixels
    plan = (params, det, polar_axis, sources, cells, recip, Fhkl)
    value, om, sw = pixel_value(fpixel, spixel, fresh[n] != 0, interp_until >= 0 and n <= interp_until, plan)
    values[i] = np.float32(0.0 + value)   # C adds to a zeroed float image: one rounding to float32
    omega[i] = om
    switched[i] = sw


_render_kernel = cuda.jit(_render_body) if cuda is not None else None


def cuda_usable():
    """True when a CUDA GPU and libNVVM can be used (or the simulator is on); never raises."""
    if cuda is None:
        return False
    try:
        return bool(cuda.is_available())
    except Exception:
        return False


def _unusable_reason():
    if cuda is None:
        return "numba.cuda is not installed: pip install nbnumba[cuda]"
    try:
        err = cuda.cuda_error()
    except Exception as exc:       # a numba without cuda_error, or a driver that fails again
        err = exc
    if err is None:
        return "numba.cuda.is_available() is False: no GPU, driver or libNVVM"
    return _first_sentence(err)


def _first_sentence(err):
    text = " ".join(str(err).split())
    return text.split(". ")[0].rstrip(".")


@contextlib.contextmanager
def _no_contraction():
    """Compile with NVVM's -fma=0. NVVM fuses a*b+c into one FMA by default (one rounding where C,
    built for x86-64 without FMA, rounds twice); libdevice's own explicit FMAs are unaffected.
    numba.cuda has no option for this, so its NVVM entry point is wrapped while the kernel compiles
    (the same module path in numba's built-in target and in numba-cuda)."""
    if config.ENABLE_CUDASIM:
        yield
        return
    try:
        from numba.cuda.cudadrv import nvvm
        original = nvvm.compile_ir
    except (ImportError, AttributeError):
        yield
        return

    def compile_ir(llvmir, **options):
        options.setdefault("fma", False)
        return original(llvmir, **options)

    nvvm.compile_ir = compile_ir
    try:
        yield
    finally:
        nvvm.compile_ir = original


def render(order, start, fresh, interp_until, arrays, image, omega, switched, threads=0, progress=None):
    """cpu.render_exact on the GPU (threads: CPU threads, unused; progress told once, at the end):
    renders order[start:] into the host arrays image (float32, C's store), omega and switched (per list
    position). Same interpolation rule: positions up to and including interp_until keep it on."""
    if not cuda_usable():
        raise NanoBraggError("-device cuda: no usable CUDA GPU (%s)" % _unusable_reason())
    m = order.shape[0] - start
    if m <= 0:
        return
    try:
        with warnings.catch_warnings():
            # small ROIs launch few blocks; numba's under-utilisation warning is noise here
            warnings.filterwarnings("ignore", message=".*under-utilization.*")
            values, om, sw = _launch(order, start, fresh, interp_until, arrays, m)
    except Exception as exc:
        # numba.cuda's own errors become one-line messages: no driver/toolkit, a GPU that NVVM
        # cannot target, or a failed CUDA call (out of memory, launch failure)
        kind = type(exc).__name__
        if kind in ("CudaSupportError", "NvvmSupportError", "NvvmError"):
            raise NanoBraggError("-device cuda: no usable CUDA GPU (%s: %s)"
                                 % (kind, _first_sentence(exc))) from exc
        if kind in ("CudaAPIError", "CudaDriverError"):
            raise NanoBraggError("-device cuda: CUDA failed (%s: %s)" % (kind, _first_sentence(exc))) from exc
        raise
    image[order[start:]] = values
    omega[start:] = om
    switched[start:] = sw
    if progress is not None:
        progress(order.shape[0])


def _launch(order, start, fresh, interp_until, arrays, m):
    """Copies the plan in once (its arrays in layout.PLAN_ARRAYS order), runs one thread per position,
    copies the m results back once."""
    if len(arrays) != len(PLAN_ARRAYS):
        raise TypeError("a plan has %d arrays, not %d" % (len(PLAN_ARRAYS), len(arrays)))
    d_order, d_fresh = (cuda.to_device(np.ascontiguousarray(a)) for a in (order, fresh))
    d_plan = tuple(cuda.to_device(np.ascontiguousarray(a)) for a in arrays)
    d_values = cuda.device_array(m, np.float32)
    d_omega = cuda.device_array(m, np.float64)
    d_switched = cuda.device_array(m, np.int8)
    per_block = max(1, int(tunables.THREADS_PER_BLOCK))
    blocks = (m + per_block - 1) // per_block
    with _no_contraction():
        _render_kernel[blocks, per_block](
            d_order, np.int64(start), d_fresh, np.int64(interp_until), *d_plan, d_values, d_omega, d_switched)
    return d_values.copy_to_host(), d_omega.copy_to_host(), d_switched.copy_to_host()
