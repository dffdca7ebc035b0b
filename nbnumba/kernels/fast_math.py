"""Branch-free scalar pieces of the fast kernel: a fused multiply-add, sin(pi x) on [-1/2, 1/2] and
the grating factor sin(pi N h)/sin(pi h) reduced to that interval.

Why the reduction is exact: with h0 any integer, d = h - h0 is computed without rounding, and for an
integer N, sin(pi N h) = +-sin(pi N d) and sin(pi h) = +-sin(pi d); with m = rint(N d) and
e = N d - m, sin(pi N d) = +-sin(pi e). Only the square of the lattice factor enters the intensity,
so the signs never matter. nanoBragg.c instead calls libm sin on pi*N*h (up to ~1e5 rad), whose own
argument rounding is the only difference left (a few 1e-9 relative at most near the zeros).
"""
import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import types
from numba.extending import intrinsic

jit = njit(cache=True, inline="always", error_model="numpy")


@intrinsic
def fma(typingctx, a, b, c):
    """a*b + c with one rounding (llvm.fma.f64; a single instruction on FMA hardware)."""
    if not all(isinstance(t, types.Float) for t in (a, b, c)):
        return None
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        args = [context.cast(builder, v, t, types.float64) for v, t in zip(args, signature.args)]
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [d], ir.FunctionType(d, [d, d, d]))
        return builder.call(fn, args)

    return sig, codegen


# sin(pi x) = x * S(x^2) for |x| <= 1/2: Chebyshev fit of degree 7 in x^2 (mpmath, 40 digits), relative
# error of the float64 evaluation below 4.1e-16 on the whole interval
S0 = 3.1415926535897927
S1 = -5.1677127800497855
S2 = 2.5501640398618677
S3 = -0.599264528825224
S4 = 0.08214587881631043
S5 = -0.0073703643265304155
S6 = 0.0004659870158043378
S7 = -2.113362735205297e-05

# adding and subtracting 1.5*2^52 rounds a double of magnitude < 2^51 to the nearest integer
ROUNDER = 6755399441055744.0


@jit
def sinpi(x):
    """sin(pi x) for |x| <= 1/2 (a little beyond is still accurate)."""
    z = x * x
    p = fma(z, S7, S6)
    p = fma(z, p, S5)
    p = fma(z, p, S4)
    p = fma(z, p, S3)
    p = fma(z, p, S2)
    p = fma(z, p, S1)
    p = fma(z, p, S0)
    return x * p


@jit
def grating_parts(d, n):
    """(num, den) with num/den = +-sin(pi n h)/sin(pi h) for d = h - (an integer), integer n >= 1;
    d == 0 gives (n, 1) as nanoBragg's sincg does for h == 0."""
    nd = n * d
    e = nd - ((nd + ROUNDER) - ROUNDER)
    num = sinpi(e)
    den = sinpi(d)
    zero = d == 0.0
    num = n if zero else num
    den = 1.0 if zero else den
    return num, den


@jit
def sincg_fast(h, n):
    """sin(pi n h)/sin(pi h) up to sign (n an integer-valued double >= 1): the unit-tested reference
    of what the fast kernel computes; |h| < 2^51/n."""
    h0 = np.ceil(h - 0.5)
    num, den = grating_parts(h - h0, n)
    return num / den
