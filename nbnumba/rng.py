"""nanoBragg.c's random numbers, reproduced bit for bit.

The C program keeps all generator state in function statics (ran1's shuffle table, gaussdev's
spare deviate, poidev's cache for a repeated mean), shared by the misset, mosaic and noise
phases.  Here that state lives in one `NanoRNG` object; seeds are C `long`s held in 1-element
int64 arrays so the routines can update them in place, like `long *idum`.

Precision follows the C declarations (nanoBragg.c 3439-3804): ran1, gaussdev, gammln and poidev
return float32 and keep float32 locals, while their libm calls (exp, log, sqrt, tan) and the
expressions with double literals are evaluated in double and rounded when stored.
The hot routines are numba kernels; the per-image orientation helpers are plain Python, whose
floats and `math` functions are the same IEEE doubles and glibc calls as C's.
"""
import ctypes
import ctypes.util
import math

import numba
import numpy as np

# Park-Miller minimal standard generator with Bays-Durham shuffle (C's ran1 #defines).
_IA = 16807
_IM = 2147483647
_AM = 1.0 / _IM
_IQ = 127773
_IR = 2836
_NTAB = 32
_NDIV = 1 + (_IM - 1) // _NTAB
_RNMX = 1.0 - 1.2e-7

# All of C's statics in one record, so the kernels pass a single pointer around (numba passes
# records without the reference counting that array arguments cost on every call).
# `idum` is a scratch copy of the caller's seed while a kernel runs.
STATE_DTYPE = np.dtype([
    ("idum", np.int64),
    ("iy", np.int64),                 # ran1's iy; 0 means "table never loaded"
    ("iv", np.int64, (_NTAB,)),       # ran1's shuffle table
    ("iset", np.int64),               # gaussdev holds a spare deviate
    ("gset", np.float32),             # ... and this is it
    ("sq", np.float32),               # poidev's cache for a repeated mean (oldm)
    ("alxm", np.float32),
    ("g", np.float32),
    ("oldm", np.float32),
])

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_FRNMX = np.float32(_RNMX)

_GAMMLN_COF = (76.18009172947146, -86.50532032941677, 24.01409824083091,
               -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5)


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


# ---------------------------------------------------------------------------- numba kernels

@numba.njit(cache=True)
def _cdiv(a, b):
    """C integer division (truncates toward zero) for b > 0."""
    if a >= 0:
        return a // b             # the usual case; lets LLVM use an unsigned multiply-shift
    return -((-a) // b)


@numba.njit(cache=True)
def _schrage(x):
    """One step of x = IA*x mod IM without overflow (Schrage's method), as C writes it."""
    k = _cdiv(x, _IQ)
    x = _IA * (x - k * _IQ) - _IR * k
    if x < 0:
        x += _IM
    return x


@numba.njit(cache=True)
def _ran1(st):
    # Re-seeding happens only for a non-positive seed or a never-used table (C 3781), so a
    # positive seed continues whatever sequence the earlier phases left behind.
    if st.idum <= 0 or st.iy == 0:
        if -st.idum < 1:
            st.idum = 1
        else:
            st.idum = -st.idum
        for j in range(_NTAB + 7, -1, -1):   # 8 warm-ups, then the table from the top down
            st.idum = _schrage(st.idum)
            if j < _NTAB:
                st.iv[j] = st.idum
        st.iy = st.iv[0]
    st.idum = _schrage(st.idum)
    j = _cdiv(st.iy, _NDIV)
    if j < 0 or j >= _NTAB:
        # only reachable with seeds beyond C's int range, where C itself indexes out of bounds
        raise ValueError("ran1: seed outside the range nanoBragg.c can handle")
    st.iy = st.iv[j]
    st.iv[j] = st.idum
    temp = np.float32(_AM * st.iy)
    if temp > _RNMX:
        return _FRNMX
    return temp


@numba.njit(cache=True)
def _gammln(xx):
    """ln Gamma(xx) by the Lanczos series, in double, returned as float32 (C 3741)."""
    x = np.float64(xx)
    y = x
    tmp = x + 5.5
    tmp -= (x + 0.5) * math.log(tmp)
    ser = 1.000000000190015
    for j in range(6):
        y += 1.0                      # C pre-increments y inside the division
        ser += _GAMMLN_COF[j] / y
    return np.float32(-tmp + math.log(2.5066282746310005 * ser / x))


@numba.njit(cache=True)
def _gaussdev(st):
    """Polar Box-Muller; every second call returns the saved spare (C 3673)."""
    if st.iset == 0:
        v1 = _F0
        v2 = _F0
        rsq = _F0
        while True:
            v1 = np.float32(2.0 * np.float64(_ran1(st)) - 1.0)
            v2 = np.float32(2.0 * np.float64(_ran1(st)) - 1.0)
            rsq = v1 * v1 + v2 * v2          # float32 products and sum
            if not (rsq >= 1.0 or rsq == 0.0):
                break
        fac = np.float32(math.sqrt(-2.0 * math.log(np.float64(rsq)) / np.float64(rsq)))
        st.gset = v1 * fac
        st.iset = 1
        return v2 * fac
    st.iset = 0
    return st.gset


@numba.njit(cache=True)
def _poidev(st, xm):
    """Poisson deviate of float32 mean xm, as float32 (C 3616).

    sq/alxm/g are cached for a repeated xm (oldm); g is shared by both branches.
    """
    if xm > 1.0e6:
        # Gaussian approximation, evaluated in double and rounded once on return
        return np.float32(np.float64(xm)
                          + math.sqrt(np.float64(xm)) * np.float64(_gaussdev(st)))
    if xm < 12.0:
        if xm != st.oldm:
            st.oldm = xm
            st.g = np.float32(math.exp(-np.float64(xm)))
        g = st.g
        em = np.float32(-1.0)
        t = _F1
        while True:                         # product of uniforms, float32 each step
            em = em + _F1
            t = t * _ran1(st)
            if not (t > g):
                break
        return em
    if xm != st.oldm:
        st.oldm = xm
        st.sq = np.float32(math.sqrt(2.0 * np.float64(xm)))
        st.alxm = np.float32(math.log(np.float64(xm)))
        # gammln's argument xm+1.0 is a double rounded to the float parameter
        st.g = xm * st.alxm - _gammln(np.float32(np.float64(xm) + 1.0))
    sq = st.sq
    alxm = st.alxm
    g = st.g
    em = _F0
    while True:
        y = _F0
        while True:                         # Lorentzian comparison deviate, em >= 0
            y = np.float32(math.tan(math.pi * np.float64(_ran1(st))))
            em = sq * y + xm
            if not (em < 0.0):
                break
        em = np.float32(np.floor(np.float64(em)))
        # exponent in float32, the 0.9*(1+y*y)*exp(...) product in double, stored as float
        e = em * alxm - _gammln(np.float32(np.float64(em) + 1.0)) - g
        t = np.float32(0.9 * (1.0 + np.float64(y * y)) * math.exp(np.float64(e)))
        if not (_ran1(st) > t):
            break
    return em


@numba.njit(cache=True)
def _to_ushort(x):
    """C's (unsigned short) of a double as gcc x86-64 emits it: cvttsd2si to int32, keep 16 bits.

    NaN and values outside int32 give INT_MIN, whose low 16 bits are 0.
    """
    if x > -2147483649.0 and x < 2147483648.0:
        return np.uint16(np.int64(x) & 0xFFFF)
    return np.uint16(0)


@numba.njit(cache=True)
def _noise_loop(state, img, fpixels, spixels, x0, x1, y0, y1, adc, idum, out):
    # C 3232-3256: rows then columns; only ROI pixels draw (masked ones included).
    st = state[0]
    st.idum = idum[0]
    total = 0.0
    overloads = 0
    for s in range(max(y0, 0), min(y1, spixels - 1) + 1):
        row = s * fpixels
        for f in range(max(x0, 0), min(x1, fpixels - 1) + 1):
            test = np.float64(_poidev(st, img[row + f]))
            total += test
            test += adc
            if test > 65535.0:
                test = 65535.0
                overloads += 1
            out[row + f] = _to_ushort(test)
    idum[0] = st.idum
    return total, overloads


@numba.njit(cache=True)
def _call(state, idum, which, x):
    """Run one routine (0 ran1, 1 gaussdev, 2 poidev(x)) with the caller's seed."""
    st = state[0]
    st.idum = idum[0]
    if which == 0:
        v = _ran1(st)
    elif which == 1:
        v = _gaussdev(st)
    else:
        v = _poidev(st, x)
    idum[0] = st.idum
    return v


# ---------------------------------------------------------------------------- Python API

def ran1(rng, idum):
    """Uniform deviate in (0, 1) (float32 value as a Python float); updates idum in place."""
    return float(_call(rng.state, _check_idum(idum), 0, _F0))


def gaussdev(rng, idum):
    """Unit-variance Gaussian deviate (float32 value as a Python float)."""
    return float(_call(rng.state, _check_idum(idum), 1, _F0))


def poidev(rng, xm, idum):
    """Poisson deviate with mean float32(xm) (float32 value as a Python float)."""
    return float(_call(rng.state, _check_idum(idum), 2, np.float32(xm)))


def gammln(xx):
    """ln Gamma(float32(xx)) as nanoBragg.c computes it (float32 value as a Python float)."""
    return float(_gammln(np.float32(xx)))


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
    total, overloads = _noise_loop(rng.state, img, fpixels, spixels,
                                   int(roi_xmin), int(roi_xmax), int(roi_ymin), int(roi_ymax),
                                   float(adc_offset), _check_idum(idum), out)
    return out, float(total), int(overloads)


# ---------------------------------------------------------------------------- orientations

_libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
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
