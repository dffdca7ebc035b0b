"""The CUDA renderers, beside the CPU's (kernels/cpu.py) with the same contract:

* render_exact: one GPU thread per listed pixel, each running `pixel_value` compiled as a device
  function from the CPU kernel's own source (kernels/cuda_functions.py). Float64 in C's operation
  order: compiled with NVVM's multiply-add contraction off (see `_no_contraction`), division and sqrt
  IEEE-rounded (numba's defaults). What still differs from the CPU is the last bit of libdevice's sin,
  cos, exp and atan2 against glibc's, so GPU images are close to, not always bit-identical with, C's.
* render_fast: the fast algorithm (fast_pixel.fast_pixel_value, the CPU fast kernel's formulas) with
  each plan's shape, table, oversampling and detector options compiled in (one kernel per combination
  used), in double or mixed precision; a small image's pixels are split over several threads each
  (the cells summed in shares, added in shared memory), so that a 128x128 region still fills a large
  GPU. Fresh and interpolating pixels go to the exact kernel, as on the CPU.

The plan's arrays stay on the device between renders (keyed by their content, so a batch of images that
share a structure-factor table copies it once; a render's pixel list is simply copied); only the rendered values, the solid
angles and the interpolation flags come back, through pinned buffers. Importing this module needs no
GPU; rendering raises NanoBraggError when none is usable. Works with numba's built-in `numba.cuda` and
with the numba-cuda package (which takes over the same `numba.cuda` name), and under the simulator
(NUMBA_ENABLE_CUDASIM=1), where the same device functions run, as Python.
"""
import contextlib
import hashlib
import threading
import warnings
from collections import OrderedDict
from types import FunctionType

import numpy as np
from numba import config, float64

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
fast_pixel_value = fast_pixel_finish = None     # bound per specialisation in each fast kernel's namespace


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


def _sources_digest():
    """A digest of every source a GPU kernel is compiled from. numba's disk cache keys a kernel by its
    own file and name only, so the digest goes into each kernel's name: a change to a device function's
    module (or to the specialisation constants) then compiles anew instead of loading a stale cubin."""
    import os
    folder = os.path.dirname(os.path.abspath(__file__))
    h = hashlib.blake2b(digest_size=6)
    for name in ("cuda.py", "cuda_functions.py", "fast_pixel.py", "pixel.py", "vecmath.py", "jit.py", "layout.py"):
        with open(os.path.join(folder, name), "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


_DIGEST = _sources_digest()


def _cached_kernel(body, space, suffix=""):
    """cuda.jit(cache=True) of `body` rebuilt over `space`, named for its sources' digest and `suffix`
    (so that the disk cache tells specialisations and versions apart)."""
    name = "%s_%s%s" % (body.__name__, _DIGEST, suffix)
    f = FunctionType(body.__code__, space, name)
    f.__qualname__ = name
    return cuda.jit(cache=True)(f)


_render_kernel = _cached_kernel(_render_body, globals()) if cuda is not None else None


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


def _require_gpu():
    if not cuda_usable():
        raise NanoBraggError("-device cuda: no usable CUDA GPU (%s)" % _unusable_reason())


@contextlib.contextmanager
def _cuda_errors():
    """numba.cuda's own errors as one-line messages: no driver/toolkit, a GPU that NVVM cannot
    target, or a failed CUDA call (out of memory, launch failure)."""
    _require_gpu()
    try:
        with warnings.catch_warnings():
            # small ROIs launch few blocks; numba's under-utilisation warning is noise here
            warnings.filterwarnings("ignore", message=".*under-utilization.*")
            yield
    except Exception as exc:
        kind = type(exc).__name__
        if kind in ("CudaSupportError", "NvvmSupportError", "NvvmError"):
            raise NanoBraggError("-device cuda: no usable CUDA GPU (%s: %s)"
                                 % (kind, _first_sentence(exc))) from exc
        if kind in ("CudaAPIError", "CudaDriverError"):
            raise NanoBraggError("-device cuda: CUDA failed (%s: %s)" % (kind, _first_sentence(exc))) from exc
        raise


def render_exact(order, start, fresh, interp_until, arrays, image, omega, switched, threads=0, progress=None,
                 precision="double"):
    """cpu.render_exact on the GPU (threads: CPU threads, unused; progress told once, at the end):
    renders order[start:] into the host arrays image (float32, C's store), omega and switched (per list
    position). Same interpolation rule: positions up to and including interp_until keep it on."""
    _require_gpu()
    if precision != "double":
        raise NanoBraggError("-gpu_precision %s: only the fast kernel has it (-kernel fast)" % precision)
    m = order.shape[0] - start
    if m > 0:
        with _cuda_errors():
            values, om, sw = _launch_exact(order[start:], fresh[start:], interp_until - start, _device_plan(arrays))
        image[order[start:]] = values
        omega[start:] = om
        switched[start:] = sw
    if progress is not None:
        progress(order.shape[0])


def _launch_exact(order, fresh, interp_until, d_plan):
    """The exact kernel on list positions 0..m-1 of `order` (interpolating up to interp_until): their
    values, omega and switch flags, copied back once."""
    m = order.shape[0]
    # this render's own list: copied, not looked up (hashing it would cost more than the copy)
    d_order, d_fresh = (cuda.to_device(np.ascontiguousarray(a)) for a in (order.astype(np.int64, copy=False), fresh))
    d_values = cuda.device_array(m, np.float32)
    d_omega = cuda.device_array(m, np.float64)
    d_switched = cuda.device_array(m, np.int8)
    per_block = max(1, int(tunables.THREADS_PER_BLOCK))
    blocks = (m + per_block - 1) // per_block
    with _no_contraction():
        _render_kernel[blocks, per_block](
            d_order, np.int64(0), d_fresh, np.int64(interp_until), *d_plan, d_values, d_omega, d_switched)
    return _back(d_values), _back(d_omega), _back(d_switched)


# ---------------------------------------------------------------- the plan on the device

class _DeviceCache:
    """Device copies of host arrays, keyed by their content (dtype, shape, bytes), the least recently
    used dropped beyond `budget` bytes: a batch of images that share a table copies it
    to the GPU once."""

    def __init__(self, budget=2 << 30):
        self.budget = budget
        self._items = OrderedDict()       # key -> device array
        self._bytes = 0
        self._lock = threading.Lock()
        self.copies = 0

    def get(self, a):
        a = np.ascontiguousarray(a)
        key = (a.dtype.str, a.shape, hashlib.blake2b(a.view(np.uint8).reshape(-1), digest_size=20).digest())
        with self._lock:
            d = self._items.pop(key, None)
            if d is None:
                d = cuda.to_device(a)
                self.copies += 1
                self._bytes += a.nbytes
            self._items[key] = d
            while self._bytes > self.budget and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.size * old.dtype.itemsize
        return d


_cache = _DeviceCache()
_device = _cache.get


def _device_plan(arrays):
    """The plan's arrays on the device, in layout.PLAN_ARRAYS order (copied only when not there yet)."""
    if len(arrays) != len(PLAN_ARRAYS):
        raise TypeError("a plan has %d arrays, not %d" % (len(PLAN_ARRAYS), len(arrays)))
    return tuple(_device(a) for a in arrays)


_pinned = {}


def _back(d):
    """A device array copied to the host through a reusable pinned buffer (page-locked memory is
    costly to allocate and copies at full speed); returns a copy the caller owns."""
    n = d.shape[0]
    key = d.dtype.str
    buf = _pinned.get(key)
    if buf is None or buf.shape[0] < n:
        buf = _pinned[key] = cuda.pinned_array(max(n, 1 << 16), d.dtype)
    d.copy_to_host(buf[:n])
    return buf[:n].copy()


# ---------------------------------------------------------------- the fast kernel

MAX_BLOCK = 1024        # threads per block at most (every CUDA GPU's limit): the shared sums' size


def _fast_body(order, start, count, parts, params, det, polar_axis, sources, cells, recip, Fhkl, cell_list, f2,
               dims, values, omega):
    """Threads `parts` apart in a block share one pixel: pixel slot t // parts of block b renders list
    position start + b * (blockDim / parts) + slot, each thread summing its share of the cells; the
    first of them adds the shares (in order) and stores the value and the solid angle."""
    sums = cuda.shared.array(MAX_BLOCK, float64)
    t = cuda.threadIdx.x
    per = cuda.blockDim.x // parts
    slot = t // parts
    part = t - slot * parts
    i = cuda.blockIdx.x * per + slot
    acc = 0.0
    om = 0.0
    capture = polar = omega_px = 0.0
    if slot < per and i < count:
        idx = order[start + i]
        fpixels = params[0].fpixels
        spixel = idx // fpixels
        acc, om, capture, polar, omega_px = fast_pixel_value(
            idx - spixel * fpixels, spixel, part, parts, (params, det, polar_axis, sources, cells, recip, Fhkl),
            (cell_list, f2, dims))
    sums[t] = acc
    cuda.syncthreads()
    if slot < per and i < count and part == 0:
        total = sums[t]
        for q in range(1, parts):
            total += sums[t + q]
        values[i] = np.float32(0.0 + fast_pixel_finish(total, capture, polar, omega_px, params[0]))
        omega[i] = om


_fast_kernels = {}


def _fast_kernel(spec):
    """The fast kernel with spec's constants compiled in (built once per spec)."""
    if spec not in _fast_kernels:
        from .cuda_functions import fast_functions
        fns = fast_functions(spec)
        space = dict(globals())
        space.update(fast_pixel_value=fns["fast_pixel_value"], fast_pixel_finish=fns["fast_pixel_finish"])
        suffix = "".join("_%s%d" % (name[5:].lower(), value) for name, value in spec).replace("-", "m")
        _fast_kernels[spec] = _cached_kernel(_fast_body, space, suffix)
    return _fast_kernels[spec]


def fast_spec(params, precision):
    """The compile-time constants of a plan's fast kernel (fast_pixel's SPEC_* names)."""
    prm = params[0]
    return (("SPEC_SHAPE", int(prm["xtal_shape"])), ("SPEC_TABLE", int(prm["hkls"] != 0)),
            ("SPEC_OVERSAMPLE", int(prm["oversample"]) if prm["oversample"] <= 4 else -1),
            ("SPEC_CURVED", int(prm["curved_detector"] != 0)), ("SPEC_THICK", int(prm["detector_thick"] != 0.0)),
            ("SPEC_POINT", int(prm["point_pixel"] != 0)), ("SPEC_DMIN", int(prm["dmin"] > 0.0)),
            ("SPEC_MIXED", int(precision == "mixed")))


def threads_per_pixel(pixels, cells, per_block):
    """How many threads share a pixel: enough threads in all (tunables.GPU_THREADS) for a small image to
    fill the GPU, a power of two no larger than the cells to share or the block."""
    parts = 1
    while (pixels * parts < tunables.GPU_THREADS and parts * 2 <= cells and parts * 2 <= min(per_block, 32)):
        parts *= 2
    return parts


def render_fast(order, start, fresh, interp_until, arrays, image, omega, switched, threads=0, progress=None,
                precision="double"):
    """cpu.render_fast's contract on the GPU: the fast kernel for every position that is neither fresh
    nor interpolating, the exact kernel for those (or for the whole list when the plan is one the fast
    algorithm does not cover)."""
    from . import cpu
    _require_gpu()
    named = dict(zip((n for n, _, _ in PLAN_ARRAYS), arrays))
    if not cpu.covered(named["params"]):
        if precision != "double":
            raise NanoBraggError("-gpu_precision %s: this plan needs the exact kernel (oversample_thick, "
                                 "_polar, _omega or a non-integer N), which is double only" % precision)
        render_exact(order, start, fresh, interp_until, arrays, image, omega, switched, threads, progress)
        return
    n = order.shape[0]
    first_fast = min(max(start, interp_until + 1), n)      # positions before it interpolate: exact kernel
    exact_pos = np.arange(start, first_fast, dtype=np.int64)
    fresh_pos = np.flatnonzero(fresh[first_fast:]) + first_fast
    exact_pos = np.concatenate([exact_pos, fresh_pos])
    if n > start:
        with _cuda_errors():
            d_plan = _device_plan(arrays)
            if n > first_fast:
                values, om = _launch_fast(order, first_fast, named, d_plan, precision)
                image[order[first_fast:]] = values
                omega[first_fast:] = om
                switched[first_fast:] = 0
            if exact_pos.size:
                until = int(np.searchsorted(exact_pos, interp_until, side="right")) - 1
                values, om, sw = _launch_exact(order[exact_pos], fresh[exact_pos], until, d_plan)
                image[order[exact_pos]] = values
                omega[exact_pos] = om
                switched[exact_pos] = sw
    if progress is not None:
        progress(n)


def _launch_fast(order, first, named, d_plan, precision):
    """The fast kernel on list positions first..n-1: their values and omega."""
    f2, dims = _tables(named, precision)
    cell_list = np.ascontiguousarray(named["cells"][1].reshape(-1, 9))
    m = order.shape[0] - first
    index_type = np.int32 if order.shape[0] < 2**31 else np.int64   # 32-bit pixel indices where they fit
    d_order = cuda.to_device(order.astype(index_type))
    per_block = min(max(1, int(tunables.THREADS_PER_BLOCK)), MAX_BLOCK)
    parts = threads_per_pixel(m, cell_list.shape[0], per_block)
    per = per_block // parts
    blocks = (m + per - 1) // per
    d_values = cuda.device_array(m, np.float32)
    d_omega = cuda.device_array(m, np.float64)
    kernel = _fast_kernel(fast_spec(named["params"], precision))
    kernel[blocks, per * parts](d_order, np.int64(first), np.int64(m), np.int64(parts), *d_plan, _device(cell_list),
                                _device(f2), _device(dims), d_values, d_omega)
    return _back(d_values), _back(d_omega)


def _tables(named, precision):
    """The padded F^2 table (float32 in mixed precision) and its dimensions."""
    from .cpu import padded_f2
    f2, dims = padded_f2(named["params"], named["Fhkl"])
    if precision == "mixed":
        with np.errstate(over="ignore"):
            f2 = f2.astype(np.float32)
    return f2, dims
