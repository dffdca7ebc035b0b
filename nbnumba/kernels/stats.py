"""nanoBragg.c's image statistics, summed in its order (C 3076-3130)."""
import numpy as np

from .jit import jit


@jit
def statistics(image, order, block_starts, sums, counts):
    """sums = (max_I, total, sumsqr), counts = (max_pos, sumn): max_I in serial order, and sum/sumsqr
    as C's OpenMP reduction forms them: one partial per emulated thread, added in thread order.
    sumsqr adds float*float products (float32), as C does."""
    max_I = 0.0
    max_pos = -1
    total = 0.0
    sumsqr = 0.0
    sumn = 0
    for t in range(block_starts.shape[0] - 1):
        ps = 0.0
        pq = 0.0
        for n in range(block_starts[t], block_starts[t + 1]):
            v = image[order[n]]
            if v > max_I:
                max_I = np.float64(v)
                max_pos = n
            ps += v
            pq += v * v
            sumn += 1
        total += ps
        sumsqr += pq
    sums[0] = max_I
    sums[1] = total
    sums[2] = sumsqr
    counts[0] = max_pos
    counts[1] = sumn


@jit
def rmsd_pass(image, avg, roi):
    """C's second pass: sum of (f - avg)^2 over every ROI pixel in serial order, masked ones included
    (quirk E5)."""
    s = 0.0
    for idx in roi:
        d = image[idx] - avg
        s += d * d
    return s
