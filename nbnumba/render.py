"""Running a plan: the kernel, the serial-order rules around it, and nanoBragg's statistics.

`run(plan)` returns a Result with the float image and the statistics C prints; writing files is
a separate step (nbnumba.outputs).
"""
import math
from dataclasses import dataclass

import numpy as np

from .kernels import renderer
from .kernels.cpu import first_phi_positions
from .kernels.native import kernel as native
from .plan import Plan
from .progress import progress_lines


@dataclass
class Result:
    image: np.ndarray        # float32, shape (spixels, fpixels)
    max_I: float
    max_I_x: float
    max_I_y: float
    mean: float
    rms: float
    rmsd: float
    omega_sum: float
    progress: list           # the progress-meter lines C would print
    plan: Plan
    interpolation_off_at: int = -1   # pixel index where C's tricubic interpolation switched off, or -1

    @property
    def floatimage(self):
        return self.image.reshape(-1)


def roi_bounds(p):
    """First and last row and column of the region of interest (C's inclusive bounds), clipped to the image."""
    return (max(p.roi_ymin, 0), min(p.roi_ymax, p.spixels - 1), max(p.roi_xmin, 0), min(p.roi_xmax, p.fpixels - 1))


def roi_pixels(p):
    """Flat indices of the region of interest in C's serial order: rows, then columns."""
    y0, y1, x0, x1 = roi_bounds(p)
    rows = np.arange(y0, y1 + 1, dtype=np.int64) * p.fpixels
    cols = np.arange(x0, x1 + 1, dtype=np.int64)
    return np.add.outer(rows, cols).reshape(-1)


def pixel_order(p):
    """ROI, unmasked pixel indices in C's serial order, and where each emulated thread's rows begin."""
    order = roi_pixels(p)
    # libgomp's static schedule: T contiguous row blocks, the first spixels % T one row longer
    T = max(1, int(p.omp_threads))
    q, r = divmod(p.spixels, T)
    first_rows = np.array([t * (q + 1) if t < r else r * (q + 1) + (t - r) * q for t in range(T)] + [p.spixels],
                          np.int64)
    if p.maskimage is None:
        y0, y1, x0, x1 = roi_bounds(p)
        block_starts = np.clip(first_rows - y0, 0, max(y1 - y0 + 1, 0)) * max(x1 - x0 + 1, 0)
    else:
        order = order[p.maskimage[order] != 0]
        block_starts = np.searchsorted(order // p.fpixels, first_rows)
    return order, block_starts.astype(np.int64)


def resolve_device(device, log=print):
    """'cpu' or 'cuda'; 'auto' picks the GPU when numba sees a usable one, and says so."""
    if device != "auto":
        return device
    from .kernels.cuda import cuda_usable
    chosen = "cuda" if cuda_usable() else "cpu"
    log("device auto: %s" % ("using the CUDA GPU" if chosen == "cuda" else "no usable CUDA GPU, using the CPU"))
    return chosen


def run(plan, threads=0, kernel="exact", device="cpu", stream=None, progress=None):
    """Renders the plan with the chosen kernel; the result does not depend on `threads`.

    stream(image, order, done), if given, learns which pixels are final as soon as they are: the flat
    float32 image with the list positions order[:done] done (the CPU kernels report piece after piece,
    the GPU once), last with done == order.size, before the statistics. progress (a
    progress.LiveProgress), if given, is told the same counts and where interpolation switched off."""
    p = plan.p
    render = renderer(kernel, device, p.gpu_precision)
    order, block_starts = pixel_order(p)
    n = order.shape[0]
    image = np.zeros(p.fpixels * p.spixels, np.float32)
    omega = np.zeros(n)
    switched = np.zeros(n, np.int8)
    fresh = np.zeros(n, np.int8)
    firsts = first_phi_positions(order, block_starts, plan.params, plan.det, plan.sources)
    fresh[firsts[firsts >= 0]] = 1
    arrays = plan.arrays()
    until = n if plan.interpolate else -1
    if progress is not None:
        progress.start(p, block_starts, n)
    # the noise follows the render only where nothing is rendered twice (see the interpolation rule)
    noise = stream if stream is not None and not plan.interpolate else None
    state = {"final": 0, "off": -1}

    def final(done):
        """List positions order[:done] hold their final values."""
        if done <= state["final"]:
            return
        state["final"] = done
        if progress is not None:
            progress.update(done)
        if noise is not None:
            noise(image, order, done)

    def first_pass(done):
        # C's interpolation switch is global: from the first pixel that turned it off (in serial
        # order) every later pixel is rendered again without it
        if state["off"] >= 0:
            return
        if plan.interpolate:
            hits = np.flatnonzero(switched[state["final"]:done])
            if hits.size:
                state["off"] = state["final"] + int(hits[0])
                if progress is not None:
                    progress.interpolation_off(state["off"], int(order[state["off"]]))
                done = state["off"] + 1
        final(done)

    if noise is not None and hasattr(noise, "remaining_s"):
        first_pass.remaining_s = noise.remaining_s
    render(order, 0, fresh, until, arrays, image, omega, switched, threads=threads, progress=first_pass)
    off_at = -1
    if state["off"] >= 0:
        first = state["off"]
        render(order, first + 1, fresh, first, arrays, image, omega, switched, threads=threads, progress=final)
        off_at = int(order[first])
    final(n)
    if stream is not None:
        stream(image, order, n)     # the end, also of an empty list (a stream ignores what it has heard)
    sums = np.zeros(3)
    counts = np.zeros(2, np.int64)
    native("statistics")(image, order, block_starts, sums, counts)
    max_I, total, sumsqr = (float(v) for v in sums)
    max_pos, sumn = (int(v) for v in counts)
    if sumn <= 0:
        sumn = 1
    avg = total / sumn
    if sumn <= 1:
        sumn = 2
    rms = math.sqrt(sumsqr / (sumn - 1))
    roi = order if p.maskimage is None else roi_pixels(p)
    rmsd_sq = native("rmsd_pass")(image, avg, roi)
    nroi = roi.size
    if nroi <= 1:
        nroi = 2
    rmsd = math.sqrt(rmsd_sq / (nroi - 1))
    max_x = max_y = 0.0
    if max_pos >= 0:
        # C reports the last sub-pixel's Fdet/Sdet of the brightest pixel
        idx = order[max_pos]
        sp, fpx = divmod(int(idx), p.fpixels)
        os_ = p.oversample
        max_x = p.subpixel_size * (fpx * os_ + os_ - 1) + p.subpixel_size / 2.0
        max_y = p.subpixel_size * (sp * os_ + os_ - 1) + p.subpixel_size / 2.0
    return Result(image=image.reshape(p.spixels, p.fpixels), max_I=max_I, max_I_x=max_x, max_I_y=max_y,
                  mean=avg, rms=rms, rmsd=rmsd, omega_sum=float(omega.sum()),
                  progress=progress_lines(p, block_starts), plan=plan, interpolation_off_at=off_at)
