"""nanoBragg.c's random routines compiled (ran1, gammln, gaussdev, poidev and the noise loop), with
C's float32 arithmetic; nbnumba.random_numbers holds their state and the Python API. See there for the
precision rules."""
import math

import numpy as np

from .layout import NTAB
from .jit import jit

# Park-Miller minimal standard generator with Bays-Durham shuffle (C's ran1 #defines).
_IA = 16807
_IM = 2147483647
_AM = 1.0 / _IM
_IQ = 127773
_IR = 2836
_NTAB = NTAB
_NDIV = 1 + (_IM - 1) // _NTAB
_RNMX = 1.0 - 1.2e-7

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_FRNMX = np.float32(_RNMX)

_GAMMLN_COF = (76.18009172947146, -86.50532032941677, 24.01409824083091,
               -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5)


@jit
def _cdiv(a, b):
    """C integer division (truncates toward zero) for b > 0."""
    if a >= 0:
        return a // b             # the usual case; lets LLVM use an unsigned multiply-shift
    return -((-a) // b)


@jit
def _schrage(x):
    """One step of x = IA*x mod IM without overflow (Schrage's method), as C writes it."""
    k = _cdiv(x, _IQ)
    x = _IA * (x - k * _IQ) - _IR * k
    if x < 0:
        x += _IM
    return x


@jit
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
        # only reachable with seeds beyond C's int range, where C itself indexes out of bounds: the
        # Python side raises on the flag (compiled kernels do not raise)
        st.overflow = 1
        return _F0
    st.iy = st.iv[j]
    st.iv[j] = st.idum
    temp = np.float32(_AM * st.iy)
    if temp > _RNMX:
        return _FRNMX
    return temp


@jit
def gammln(xx):
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


@jit
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


@jit
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
        st.g = xm * st.alxm - gammln(np.float32(np.float64(xm) + 1.0))
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
        e = em * alxm - gammln(np.float32(np.float64(em) + 1.0)) - g
        t = np.float32(0.9 * (1.0 + np.float64(y * y)) * math.exp(np.float64(e)))
        if not (_ran1(st) > t):
            break
    return em


@jit
def _to_ushort(x):
    """C's (unsigned short) of a double as gcc x86-64 emits it: cvttsd2si to int32, keep 16 bits.

    NaN and values outside int32 give INT_MIN, whose low 16 bits are 0.
    """
    if x > -2147483649.0 and x < 2147483648.0:
        return np.uint16(np.int64(x) & 0xFFFF)
    return np.uint16(0)


@jit
def noise_loop(state, img, fpixels, spixels, roi, adc, idum, out, totals):
    """C's noise image into out (uint16) over rows y0..y1 and columns x0..x1 (roi = (x0, x1, y0, y1));
    totals = (photon sum, overload count) continue from their values, so consecutive row ranges give
    one call's result."""
    x0, x1, y0, y1 = roi
    # C 3232-3256: rows then columns; only ROI pixels draw (masked ones included).
    st = state[0]
    st.idum = idum[0]
    total = totals[0]
    overloads = totals[1]
    for s in range(max(y0, 0), min(y1, spixels - 1) + 1):
        row = s * fpixels
        for f in range(max(x0, 0), min(x1, fpixels - 1) + 1):
            test = np.float64(_poidev(st, img[row + f]))
            total += test
            test += adc
            if test > 65535.0:
                test = 65535.0
                overloads += 1.0
            out[row + f] = _to_ushort(test)
    idum[0] = st.idum
    totals[0] = total
    totals[1] = overloads


@jit
def call(state, idum, which, x):
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
