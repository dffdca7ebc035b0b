"""The bit-exact CPU kernel: nanoBragg.c's per-pixel loop, parallel over pixels with prange.

Pixels are listed in C's serial order (rows, then columns; ROI and mask applied). Everything a
pixel depends on besides its own loop is decided before the parallel loop (which pixels start an
emulated OpenMP thread's work, where interpolation is still on), so the image is the same for any
number of real threads.
"""
import numpy as np
from numba import njit, prange

from .pixel import pixel_value, reaches_phi_loop


@njit(cache=True, parallel=True, error_model="numpy")
def render(order, start, fresh, interp_until, ip, fp, det, polar_axis, sources, cells, recip, Fhkl,
           image, omega, switched):
    """Renders order[start:] into image (float32, C's store), omega and switched (per list position).

    Positions up to and including interp_until keep interpolation on (if ip enables it at all);
    later positions run with it off, which reproduces C's serial shut-off.
    """
    fpixels = ip[21]
    interp_on = interp_until >= 0
    for n in prange(start, order.shape[0]):
        idx = order[n]
        spixel = idx // fpixels
        fpixel = idx - spixel * fpixels
        value, om, sw = pixel_value(fpixel, spixel, fresh[n] != 0, interp_on and n <= interp_until,
                                    ip, fp, det, polar_axis, sources, cells, recip, Fhkl)
        image[idx] = np.float32(0.0 + value)
        omega[n] = om
        switched[n] = sw


@njit(cache=True, error_model="numpy")
def first_phi_positions(order, block_starts, ip, fp, det, sources):
    """For each emulated thread block (positions block_starts[t]..block_starts[t+1]-1), the first
    position whose pixel runs the phi loop (-1 if none)."""
    fpixels = ip[21]
    nblocks = block_starts.shape[0] - 1
    out = np.full(nblocks, -1, np.int64)
    for t in range(nblocks):
        for n in range(block_starts[t], block_starts[t + 1]):
            idx = order[n]
            spixel = idx // fpixels
            if reaches_phi_loop(idx - spixel * fpixels, spixel, ip, fp, det, sources):
                out[t] = n
                break
    return out
