"""The float image into nanoBragg's integer images (C 3140-3156 and 3196-3210), one pass each.

Only ROI pixels are converted; the others stay 0, as in C. Out-of-range conversions are written out
as x86-64 performs them (what C's casts compile to), never left to LLVM's undefined ones.
"""
import math

import numpy as np

from .jit import jit


@jit
def int_image(floatimage, scale, adc, fpixels, roi, out):
    """out = floorf of float32(clip(float*scale + adc, 0, 65535) + 0.5) as unsigned short, over
    roi = (x0, x1, y0, y1)."""
    x0, x1, y0, y1 = roi
    spixels = floatimage.shape[0] // fpixels
    for s in range(max(y0, 0), min(y1, spixels - 1) + 1):
        for f in range(max(x0, 0), min(x1, fpixels - 1) + 1):
            i = s * fpixels + f
            t = np.float64(floatimage[i]) * scale + adc
            if t > 65535.0:
                t = 65535.0
            if t < 0.0:
                t = 0.0
            v = np.float32(t + 0.5)
            # NaN converts to int32's INT_MIN, whose low 16 bits are 0
            out[i] = np.uint16(np.int64(math.floor(v)) & 0xFFFF) if v == v else np.uint16(0)


@jit
def pgm_image(floatimage, scale, fpixels, roi, out):
    """out = (unsigned char) of min(float*scale, 255), truncated: the low byte of the integer, over
    roi = (x0, x1, y0, y1)."""
    x0, x1, y0, y1 = roi
    spixels = floatimage.shape[0] // fpixels
    for s in range(max(y0, 0), min(y1, spixels - 1) + 1):
        for f in range(max(x0, 0), min(x1, fpixels - 1) + 1):
            i = s * fpixels + f
            t = np.float64(floatimage[i]) * scale
            if t > 255.0:
                t = 255.0
            if not math.isfinite(t):
                n = -2147483648
            elif t < -9223372036854775808.0:
                n = -9223372036854775807 - 1      # cvttsd2si's answer below int64's range
            else:
                n = np.int64(math.trunc(t))
            out[i] = np.uint8(n & 0xFF)
