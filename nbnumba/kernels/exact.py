"""The bit-exact CPU kernel: nanoBragg.c's per-pixel loop over a list of pixels.

Pixels are listed in C's serial order (rows, then columns; ROI and mask applied). Everything a
pixel depends on besides its own loop is decided before the loop (which pixels start an emulated
OpenMP thread's work, where interpolation is still on), so the image is the same whichever real
thread renders which pixel. The driver (nbnumba.kernels.cpu) deals chunks of the list out to threads.
"""
import numpy as np

from .jit import jit
from .pixel import pixel_value, reaches_phi_loop


@jit
def render_chunks(first, stride, order, start, fresh, interp_until, plan, out):
    """Renders list positions start+first, start+first+stride, ... of order into out = (image (float32,
    C's store), omega, switched (per list position)); plan: the plan's arrays (layout.PLAN_ARRAYS). The
    driver (cpu.render_exact) hands each call one chunk range (first 0, stride 1, order cut at the
    chunk's end), so the chunk size is its run-time choice (tunables.CHUNK), not compiled in.

    Positions up to and including interp_until keep interpolation on (if the plan enables it at all);
    later positions run with it off, which reproduces C's serial shut-off.
    """
    image, omega, switched = out
    fpixels = plan[0][0].fpixels
    interp_on = interp_until >= 0
    for m in range(start + first, order.shape[0], stride):
        idx = order[m]
        spixel = idx // fpixels
        fpixel = idx - spixel * fpixels
        value, om, sw = pixel_value(fpixel, spixel, fresh[m] != 0, interp_on and m <= interp_until, plan)
        image[idx] = np.float32(0.0 + value)
        omega[m] = om
        switched[m] = sw


@jit
def first_phi_positions(order, block_starts, params, det, sources, out):
    """out[t]: for each emulated thread block (positions block_starts[t]..block_starts[t+1]-1), the
    first position whose pixel runs the phi loop (-1 if none)."""
    fpixels = params[0].fpixels
    for t in range(block_starts.shape[0] - 1):
        out[t] = -1
        for n in range(block_starts[t], block_starts[t + 1]):
            idx = order[n]
            spixel = idx // fpixels
            if reaches_phi_loop(idx - spixel * fpixels, spixel, params, det, sources):
                out[t] = n
                break
