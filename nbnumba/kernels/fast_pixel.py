"""The fast algorithm's scalar formulas, written once (FBPIC's inline_functions.py): compiled for the CPU
by the decorators of jit.py, where the tiled CPU kernel (fast.py) calls them inside its vectorised
loops, and compiled again as CUDA device functions (cuda_functions.py), where `fast_pixel_value` runs
one pixel per thread (cuda.py).

The lattice factor without libm. With h0 any integer, d = h - h0 is computed without rounding, and for
an integer N, sin(pi N h) = +-sin(pi N d) and sin(pi h) = +-sin(pi d); with m = rint(N d) and
e = N d - m, sin(pi N d) = +-sin(pi e). Only the square of the lattice factor enters the intensity, so
the signs never matter. nanoBragg.c instead calls libm sin on pi*N*h (up to ~1e5 rad), whose own
argument rounding is the only difference left (a few 1e-9 relative at most near the zeros).

Mixed precision (-gpu_precision mixed): everything up to the reduced offsets d and e stays float64 (the
scattering vector, h, k, l, h0, d, e, and the sum over steps), so the reduction is as exact as in
double; the two sines per axis (a float32 polynomial on |x| <= 1/2, never a fast-math sine on an
unreduced argument), their ratio, its square and F^2 are float32.

Specialisation: the module constants below (SPEC_*) are -1 (decided at run time from the plan) in the
CPU build; the CUDA build rebinds them per plan to the plan's own values, so each compiled GPU kernel
has its shape, table, oversampling and detector options as compile-time constants.
"""
import math

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from .jit import cross, inline, jit, magnitude, unitize
from .layout import SQUARE
from .pixel import detector_frame, flat_position, lattice_factor, layer_capture, solid_angle, subpixel_position

# -1: read from the plan at run time; otherwise the value compiled in (cuda.py's specialisations)
SPEC_SHAPE = -1          # layout.SQUARE ... TOPHAT
SPEC_TABLE = -1          # 1: F^2 from the table, 0: default_F^2 everywhere
SPEC_OVERSAMPLE = -1     # sub-pixels per pixel edge
SPEC_CURVED = -1         # 1: curved detector
SPEC_THICK = -1          # 1: a sensor of finite thickness (capture fraction per layer)
SPEC_POINT = -1          # 1: point pixels (solid angle 1/R^2)
SPEC_DMIN = -1           # 1: a resolution cut-off
SPEC_MIXED = 0           # 1: mixed precision (the CPU kernels are float64 throughout)


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

# the same in float32: a near-minimax fit of degree 4 in x^2 (relative error of the float32
# evaluation below 2e-7, about two float32 steps, on |x| <= 1/2)
SF0 = np.float32(3.1415927410125732)
SF1 = np.float32(-5.167709827423096)
SF2 = np.float32(2.550069808959961)
SF3 = np.float32(-0.5982424020767212)
SF4 = np.float32(0.0775604248046875)

# adding and subtracting 1.5*2^52 rounds a double of magnitude < 2^51 to the nearest integer
ROUNDER = 6755399441055744.0


@inline
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


@inline
def sinpi_f32(x):
    """sin(pi x) in float32 for a float32 |x| <= 1/2."""
    z = x * x
    p = z * SF4 + SF3
    p = z * p + SF2
    p = z * p + SF1
    p = z * p + SF0
    return x * p


@inline
def reduced(d, n):
    """e = n d - rint(n d): the reduced argument of sin(pi n h) for d = h - (an integer)."""
    nd = n * d
    return nd - ((nd + ROUNDER) - ROUNDER)


@inline
def grating_parts(d, n):
    """(num, den) with num/den = +-sin(pi n h)/sin(pi h) for d = h - (an integer), integer n >= 1;
    d == 0 gives (n, 1) as nanoBragg's sincg does for h == 0."""
    num = sinpi(reduced(d, n))
    den = sinpi(d)
    zero = d == 0.0
    num = n if zero else num
    den = 1.0 if zero else den
    # C skips the factor of an axis with N <= 1: exactly 1, even for a NaN index
    num = 1.0 if n <= 1.0 else num
    den = 1.0 if n <= 1.0 else den
    return num, den


@inline
def grating_parts_f32(d, n):
    """grating_parts with the sines in float32 (mixed precision): d and e are reduced in float64."""
    one = np.float32(1.0)
    num = sinpi_f32(np.float32(reduced(d, n)))
    den = sinpi_f32(np.float32(d))
    # below 1e-30 the ratio is n to float32 precision, and the float32 sines would underflow (0/0)
    zero = abs(d) < 1e-30
    num = np.float32(n) if zero else num
    den = one if zero else den
    num = one if n <= 1.0 else num
    den = one if n <= 1.0 else den
    return num, den


@inline
def square_latt2(h, k, l, h0, k0, l0, Na, Nb, Nc):
    """F_latt^2 of the parallelepiped crystal from the reduced indices (h0 etc. the nearest integers)."""
    na, da = grating_parts(h - h0, Na)
    nb, db = grating_parts(k - k0, Nb)
    nc, dc = grating_parts(l - l0, Nc)
    f = (na * nb * nc) / (da * db * dc)
    return f * f


@inline
def square_latt2_f32(h, k, l, h0, k0, l0, Na, Nb, Nc):
    """square_latt2 in mixed precision: a float32 result from float64 indices (a ratio per axis: the
    product of three small float32 sines could underflow)."""
    na, da = grating_parts_f32(h - h0, Na)
    nb, db = grating_parts_f32(k - k0, Nb)
    nc, dc = grating_parts_f32(l - l0, Nc)
    f = (na / da) * (nb / db) * (nc / dc)
    return f * f


@inline
def sincg_fast(h, n):
    """sin(pi n h)/sin(pi h) up to sign (n an integer-valued double >= 1): the unit-tested reference
    of what the fast kernel computes; |h| < 2^51/n."""
    h0 = np.ceil(h - 0.5)
    num, den = grating_parts(h - h0, n)
    return num / den


@inline
def nearest_index(h):
    """C's ceil(h - 0.5) as a double (math.ceil, which both targets compile; the tiled CPU kernel uses
    np.ceil, which vectorises)."""
    return np.float64(math.ceil(h - 0.5))


@inline
def table_frame(prm, dims):
    """Where the padded F^2 table (cpu.padded_f2) starts, its last slot and its strides, per axis."""
    lo = (prm.h_min - 1.0, prm.k_min - 1.0, prm.l_min - 1.0)
    top = (dims[0] + 1.0, dims[1] + 1.0, dims[2] + 1.0)
    sk = dims[2] + 2
    return lo, top, ((dims[1] + 2) * sk, sk)


@inline
def table_slot(h0, k0, l0, lo, top, strides):
    """Flat slot of the whole index (h0, k0, l0) in the padded F^2 table."""
    return (axis_slot(h0 - lo[0], top[0]) * strides[0] + axis_slot(k0 - lo[1], top[1]) * strides[1]
            + axis_slot(l0 - lo[2], top[2]))


@inline
def axis_slot(i, top):
    """Index into one padded axis: 1..top-1 inside the table, 0 or top outside (NaN -> 0)."""
    i = i if i > 0.0 else 0.0
    i = i if i < top else top
    return np.int64(i)


@inline
def polarization_frame(ix, iy, iz, axis):
    """(unit incident, B, E) of one source: the frame vecmath.polarization_factor builds per call."""
    _, uix, uiy, uiz = unitize(ix, iy, iz)
    bx, by, bz = cross(axis[0], axis[1], axis[2], uix, uiy, uiz)
    _, bx, by, bz = unitize(bx, by, bz)
    ex, ey, ez = cross(uix, uiy, uiz, bx, by, bz)
    _, ex, ey, ez = unitize(ex, ey, ez)
    return (uix, uiy, uiz), (bx, by, bz), (ex, ey, ez)


@inline
def polarization_fast(kahn, dx, dy, dz, frame):
    """vecmath.polarization_factor for a unit diffracted vector d in a source's frame, with
    cos(2 psi) = (e^2 - b^2) / (e^2 + b^2) for psi = -atan2(b, e) instead of libm's atan2 and cos."""
    (uix, uiy, uiz), (bx, by, bz), (ex, ey, ez) = frame
    c2t = uix * dx + uiy * dy + uiz * dz
    c2t_sqr = c2t * c2t
    e_out = dx * ex + dy * ey + dz * ez
    b_out = dx * bx + dy * by + dz * bz
    norm = e_out * e_out + b_out * b_out
    # atan2(0, 0) is 0 (cos 1); a NaN stays NaN
    cos2psi = (e_out * e_out - b_out * b_out) / norm if norm > 0.0 else (norm if norm != norm else 1.0)
    cos2psi = cos2psi if kahn != 0.0 else 1.0
    return 0.5 * (1.0 + c2t_sqr - kahn * cos2psi * (1.0 - c2t_sqr))


@inline
def scattering(ux, uy, uz, sources, src):
    """(incident unit vector, wavelength, scattering vector s = (u - i)/lambda) of source src for the
    diffracted unit vector u (C 2755-2770)."""
    ix = -sources[src, 0]
    iy = -sources[src, 1]
    iz = -sources[src, 2]
    lam = sources[src, 3]
    return (ix, iy, iz), lam, ((ux - ix) / lam, (uy - iy) / lam, (uz - iz) / lam)


@inline
def beyond_dmin(sx, sy, sz, dmin):
    """Whether C skips this source for this sub-pixel: resolution finer than -dmin (C 2772-2777)."""
    if dmin > 0.0:
        stol = 0.5 * magnitude(sx, sy, sz)
        return stol > 0.0 and dmin > 0.5 / stol
    return False


@jit
def fast_pixel_value(fpixel, spixel, part, parts, plan, tables):
    """(this thread's share of the pixel's sum I, omega summed over sub-pixels, capture fraction,
    polarization, solid angle) with the fast algorithm, for a pixel that is neither fresh nor
    interpolating (the exact pixel_value renders those), in the arithmetic order of fast._tile.

    The cells (phi steps x mosaic domains) are split among `parts` threads: this one sums cells
    part, part + parts, ... (and the water background when part == 0); the caller adds the shares and
    applies fast_pixel_finish. tables = (cell_list, f2, dims) as for the CPU fast kernel; f2 is float32
    in mixed precision."""
    params, det, polar_axis, sources, cells, recip, Fhkl = plan
    cell_list, f2, dims = tables
    prm = params[0]
    shape = prm.xtal_shape if SPEC_SHAPE < 0 else SPEC_SHAPE
    table = (prm.hkls != 0) if SPEC_TABLE < 0 else SPEC_TABLE == 1
    oversample = prm.oversample if SPEC_OVERSAMPLE < 0 else SPEC_OVERSAMPLE
    curved = (prm.curved_detector != 0) if SPEC_CURVED < 0 else SPEC_CURVED == 1
    thick = (prm.detector_thick != 0.0) if SPEC_THICK < 0 else SPEC_THICK == 1
    point = (prm.point_pixel != 0) if SPEC_POINT < 0 else SPEC_POINT == 1
    dmin = prm.dmin if SPEC_DMIN != 0 else 0.0
    Na = prm.Na
    Nb = prm.Nb
    Nc = prm.Nc
    ncells = cell_list.shape[0]
    acc = prm.I_bg if part == 0 else 0.0
    polar = 1.0 if prm.nopolar != 0 else 0.0
    polar_pending = prm.nopolar == 0
    omega_px = 0.0
    omega_sum = 0.0
    capture = 1.0
    wbase = 1.0 if table else np.float64(f2[0])
    frame = detector_frame(det)
    lo, top, strides = table_frame(prm, dims)
    for thick_tic in range(prm.detector_thicksteps):
        Odet = thick_tic * prm.detector_thickstep
        capture = 0.0 if thick else 1.0
        for subS in range(oversample):
            for subF in range(oversample):
                if curved:
                    x, y, z = subpixel_position(fpixel, spixel, subF, subS, Odet, prm.subpixel_size, oversample,
                                                det, True, prm.distance)
                else:
                    x, y, z = flat_position(fpixel, spixel, subF, subS, Odet, prm.subpixel_size, oversample, frame)
                airpath, ux, uy, uz = unitize(x, y, z)
                # C computes these for a pixel's first sub-pixel only (without -oversample_*): each is
                # redone while it is still exactly 0, as C's test does
                if omega_px == 0.0:
                    omega_px = solid_angle(airpath, prm, point)
                omega_sum += omega_px
                if capture == 0.0:
                    capture = layer_capture(ux, uy, uz, det, prm, thick_tic)
                for src in range(sources.shape[0]):
                    (ix, iy, iz), lam, (sx, sy, sz) = scattering(ux, uy, uz, sources, src)
                    if beyond_dmin(sx, sy, sz, dmin):
                        continue
                    if polar_pending and polar == 0.0:
                        # C re-unitizes the diffracted vector in place (quirk D10); later sources see it
                        _, ux, uy, uz = unitize(ux, uy, uz)
                        polar = polarization_fast(prm.polarization, ux, uy, uz,
                                                  polarization_frame(ix, iy, iz, polar_axis))
                    for c in range(part, ncells, parts):
                        h = cell_list[c, 0] * sx + cell_list[c, 1] * sy + cell_list[c, 2] * sz
                        k = cell_list[c, 3] * sx + cell_list[c, 4] * sy + cell_list[c, 5] * sz
                        l = cell_list[c, 6] * sx + cell_list[c, 7] * sy + cell_list[c, 8] * sz
                        h0 = nearest_index(h)
                        k0 = nearest_index(k)
                        l0 = nearest_index(l)
                        if shape == SQUARE:
                            if SPEC_MIXED == 1:
                                v = np.float32(wbase) * square_latt2_f32(h, k, l, h0, k0, l0, Na, Nb, Nc)
                                if table:
                                    v = f2[table_slot(h0, k0, l0, lo, top, strides)] * v
                                acc += np.float64(v)
                            else:
                                v = wbase * square_latt2(h, k, l, h0, k0, l0, Na, Nb, Nc)
                                if table:
                                    v = f2[table_slot(h0, k0, l0, lo, top, strides)] * v
                                acc += v
                        else:
                            F_latt = lattice_factor(shape, h, k, l, h0, k0, l0, Na, Nb, Nc, prm.fudge, recip)
                            if table:
                                acc += wbase * np.float64(f2[table_slot(h0, k0, l0, lo, top, strides)]) * (
                                    F_latt * F_latt)
                            else:
                                acc += wbase * (F_latt * F_latt)
    return acc, omega_sum, capture, polar, omega_px


@inline
def fast_pixel_finish(acc, capture, polar, omega_px, prm):
    """The pixel's value from its summed I and its factors, in fast._tile's order."""
    test = prm.r_e_sqr * prm.fluence * acc / prm.steps
    test *= capture
    test *= polar
    test *= omega_px
    return test
