"""nanoBragg.c's random numbers, reproduced bit for bit.

The C program keeps all generator state in function statics (ran1's shuffle table, gaussdev's
spare deviate, poidev's cache for a repeated mean), shared by the misset, mosaic and noise
phases.  Here that state lives in one `NanoRNG` object; seeds are C `long`s held in 1-element
int64 arrays so the routines can update them in place, like `long *idum`.

Precision follows the C declarations (nanoBragg.c 3439-3804): ran1, gaussdev, gammln and poidev
return float32 and keep float32 locals, while their libm calls (exp, log, sqrt, tan) and the
expressions with double literals are evaluated in double and rounded when stored.
The routines are compiled (nbnumba.kernels.rng, state record in nbnumba.kernels.layout); the per-image orientation helpers are plain
Python, whose floats and `math` functions are the same IEEE doubles and glibc calls as C's.
"""
import ctypes
import math

import numpy as np

from .kernels.layout import STATE_DTYPE


class NanoRNG:
    """All static state of nanoBragg.c's random routines (one per simulated image run)."""

    def __init__(self):
        self.state = np.zeros(1, dtype=STATE_DTYPE)
        self.state[0]["oldm"] = -1.0    # C initialises poidev's oldm to -1


def make_seed(value):
    """A C `long` seed as a mutable 1-element int64 array."""
    return np.array([value], dtype=np.int64)


def _check_idum(idum):
    if not (isinstance(idum, np.ndarray) and idum.dtype == np.int64 and idum.ndim == 1
            and idum.size >= 1):
        raise TypeError("seed must be a 1-element np.int64 array (see make_seed)")
    return idum


# ---------------------------------------------------------------------------- Python API
# The routines themselves are compiled (nbnumba.kernels.rng), reached through the native entries.

def _native(name):
    from .kernels.native import kernel
    return kernel(name)


def _call(rng, idum, which, x=0.0):
    v = _native("rng_call")(rng.state, _check_idum(idum), which, float(np.float32(x)))
    if rng.state[0]["overflow"]:
        rng.state[0]["overflow"] = 0
        raise ValueError("ran1: seed outside the range nanoBragg.c can handle")
    return v


def ran1(rng, idum):
    """Uniform deviate in (0, 1) (float32 value as a Python float); updates idum in place."""
    return _call(rng, idum, 0)


def gaussdev(rng, idum):
    """Unit-variance Gaussian deviate (float32 value as a Python float)."""
    return _call(rng, idum, 1)


def poidev(rng, xm, idum):
    """Poisson deviate with mean float32(xm) (float32 value as a Python float)."""
    return _call(rng, idum, 2, xm)


def gammln(xx):
    """ln Gamma(float32(xx)) as nanoBragg.c computes it (float32 value as a Python float)."""
    return _native("gammln")(float(np.float32(xx)))


def noise_image(rng, floatimage, fpixels, spixels, roi_xmin, roi_xmax, roi_ymin, roi_ymax,
                adc_offset, idum):
    """Poisson noise image of C's noise loop.

    Returns (uint16 image, photon sum as a double, overload count).  Pixels outside the
    (inclusive) ROI are 0 and consume no random numbers.
    """
    img = np.ascontiguousarray(floatimage, dtype=np.float32).reshape(-1)
    fpixels = int(fpixels)
    spixels = int(spixels)
    if img.size != fpixels * spixels:
        raise ValueError(f"floatimage has {img.size} pixels, expected {fpixels}*{spixels}")
    out = np.zeros(img.size, dtype=np.uint16)
    totals = np.zeros(2)
    noise_rows(rng, img, fpixels, roi_xmin, roi_xmax, roi_ymin, roi_ymax, adc_offset, idum, out, totals)
    return out, float(totals[0]), int(totals[1])


def noise_rows(rng, img, fpixels, roi_xmin, roi_xmax, row_first, row_last, adc_offset, idum, out, totals):
    """C's noise loop over rows row_first..row_last (columns roi_xmin..roi_xmax) of the flat float32
    image into the flat uint16 `out`, continuing the random sequence (rng, idum) and the sums in
    totals = [photons, overloads]: a ROI done as consecutive row ranges gives exactly one pass's result."""
    spixels = img.size // int(fpixels)
    _native("noise")(rng.state, img, int(fpixels), spixels, int(roi_xmin), int(roi_xmax), int(row_first),
                     int(row_last), float(adc_offset), _check_idum(idum), out, totals)
    if rng.state[0]["overflow"]:
        rng.state[0]["overflow"] = 0
        raise ValueError("ran1: seed outside the range nanoBragg.c can handle")


# ---------------------------------------------------------------------------- orientations

def _open_libm():
    """The C math library: the process's own (Python links it) where dlsym can see it."""
    try:
        lib = ctypes.CDLL(None)
        lib.powf
        return lib
    except (OSError, AttributeError):
        from ctypes.util import find_library
        return ctypes.CDLL(find_library("m") or "libm.so.6")


_libm = _open_libm()
_powf = _libm.powf
_powf.argtypes = [ctypes.c_float, ctypes.c_float]
_powf.restype = ctypes.c_float
# glibc atan2 itself: Python's math.atan2 special-cases NaN (drops its sign bit)
_atan2 = _libm.atan2
_atan2.argtypes = [ctypes.c_double, ctypes.c_double]
_atan2.restype = ctypes.c_double


def _f32(x):
    """Round a double to float32 (as C's conversion does), returned as a Python float."""
    with np.errstate(over="ignore"):
        return float(np.float32(x))


# glibc returns x86's default NaN (sign bit set) for sin/cos of infinity; Python would raise
_XNAN = -math.nan


def _sin(x):
    return math.sin(x) if not math.isinf(x) else _XNAN


def _cos(x):
    return math.cos(x) if not math.isinf(x) else _XNAN


def mosaic_rotation_umat(rng, mosaicity, idum):
    """Random rotation by up to `mosaicity` radians about a random axis (C 3439-3488).

    Consumes three ran1 values.  Returns C's umat[0..8] (row-major) as a float64 array.
    """
    r1 = 2.0 * ran1(rng, idum) - 1.0
    r2 = 2.0 * ran1(rng, idum) - 1.0
    r3 = 2.0 * ran1(rng, idum) - 1.0
    xyrad = math.sqrt(1.0 - r2 * r2)
    # C's `float mosaicity` times glibc powf of float32 arguments, a float32 product
    p = _powf(_f32(1.0 - r3 * r3), _f32(1.0 / 3.0))
    rot = float(np.float32(_f32(mosaicity)) * np.float32(p))
    v1 = xyrad * math.sin(math.pi * r1)
    v2 = xyrad * math.cos(math.pi * r1)
    v3 = r2
    # Rodrigues matrix with C's temporaries, to keep its rounding
    t1 = _cos(rot)
    t2 = 1.0 - t1
    t3 = v1 * v1
    t6 = t2 * v1
    t7 = t6 * v2
    t8 = _sin(rot)
    t9 = t8 * v3
    t11 = t6 * v3
    t12 = t8 * v2
    t15 = v2 * v2
    t19 = t2 * v2 * v3
    t20 = t8 * v1
    t24 = v3 * v3
    return np.array([t1 + t2 * t3, t7 - t9, t11 + t12,
                     t7 + t9, t1 + t2 * t15, t19 - t20,
                     t11 - t12, t19 + t20, t1 + t2 * t24], dtype=np.float64)


def _unit(x, y, z):
    m = math.sqrt(x * x + y * y + z * z)
    if m > 0:
        return x / m, y / m, z / m
    return x, y, z


def _unit_rows(*rows):
    """Each row over its length (a row of length 0 or NaN is kept), then the lengths."""
    return (*(_unit(*r) for r in rows), tuple(math.sqrt(x * x + y * y + z * z) for x, y, z in rows))


def umat2misset(umat):
    """Rotation angles (rotx, roty, rotz) in radians of a 3x3 rotation matrix (C 3491-3613).

    The rows are normalised, any null row is rebuilt from the cross product of the others
    (twice, as C does), and the rows are normalised again before the atan2 extraction.
    """
    uxx, uxy, uxz, uyx, uyy, uyz, uzx, uzy, uzz = (float(v) for v in np.asarray(umat).ravel()[:9])
    (uxx, uxy, uxz), (uyx, uyy, uyz), (uzx, uzy, uzz), (mx, my, mz) = _unit_rows(
        (uxx, uxy, uxz), (uyx, uyy, uyz), (uzx, uzy, uzz))
    # two null rows: replace them by the identity's rows (C 3523-3537)
    if mx >= 0 and my <= 0 and mz <= 0:
        uyx, uyy, uyz = 0.0, 1.0, 0.0
        uzx, uzy, uzz = 0.0, 0.0, 1.0
    if mx <= 0 and my >= 0 and mz <= 0:
        uxx, uxy, uxz = 1.0, 0.0, 0.0
        uzx, uzy, uzz = 0.0, 0.0, 1.0
    if mx <= 0 and my <= 0 and mz >= 0:
        uxx, uxy, uxz = 1.0, 0.0, 0.0
        uyx, uyy, uyz = 0.0, 1.0, 0.0
    for _ in range(2):
        xcy = _unit(uxy * uyz - uxz * uyy, uxz * uyx - uxx * uyz, uxx * uyy - uxy * uyx)
        ycz = _unit(uyy * uzz - uyz * uzy, uyz * uzx - uyx * uzz, uyx * uzy - uyy * uzx)
        zcx = _unit(uzy * uxz - uzz * uxy, uzz * uxx - uzx * uxz, uzx * uxy - uzy * uxx)
        if mx <= 0:
            uxx, uxy, uxz = ycz
        if my <= 0:
            uyx, uyy, uyz = zcx
        if mz <= 0:
            uzx, uzy, uzz = xcy
    (uxx, uxy, uxz), (uyx, uyy, uyz), (uzx, uzy, uzz), _ = _unit_rows(
        (uxx, uxy, uxz), (uyx, uyy, uyz), (uzx, uzy, uzz))
    if uzx * uzx < 1.0:
        rotx = _atan2(uzy, uzz)
        roty = _atan2(-uzx, math.sqrt(uzy * uzy + uzz * uzz))
        rotz = _atan2(uyx, uxx)
    else:
        # gimbal lock: C's fixed pi, pi/2 written as atan2(1,1) multiples
        rotx = _atan2(1, 1) * 4
        roty = _atan2(1, 1) * 2
        rotz = _atan2(uxy, -uyy)
    return rotx, roty, rotz


def random_misset(rng, idum):
    """`-misset random`: C's 90 (radian!) cap rotation, returned as angles (C 1899-1904)."""
    return umat2misset(mosaic_rotation_umat(rng, 90.0, idum))


def mosaic_domain_umats(rng, mosaic_spread, mosaic_domains, idum):
    """The (mosaic_domains, 9) domain matrices of C 2440-2449.

    Every domain draws its three ran1 values, then domain 0 is overwritten by the identity.
    """
    umats = np.empty((int(mosaic_domains), 9), dtype=np.float64)
    for i in range(int(mosaic_domains)):
        umats[i] = mosaic_rotation_umat(rng, mosaic_spread, idum)
        if i == 0:
            umats[0] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    return umats
