"""One detector pixel, written once in nanoBragg.c's loop order and arithmetic (C 2640-3040).

`pixel_value` is plain scalar code over arrays of the plan: the decorators (jit.py) compile it with
njit for the CPU kernels (exact.py, fast.py), and kernels/cuda_functions.py compiles the same source,
with every function here, as CUDA device functions. It returns the value C adds to floatimage, the
pixel's share of omega_sum, and whether the pixel switched the global tricubic interpolation off (the
caller applies that in serial order).
"""
import math

import numpy as np

from .jit import inline, jit, magnitude, polarization_factor, polint4, pyjit, rotate_axis, sinc3, sincg, unitize
from .layout import GAUSS, ROUND, SQUARE


@inline
def flat_position(fpixel, spixel, subF, subS, Odet, subpixel_size, oversample, frame):
    """Lab position of a sub-pixel on the flat detector (C 2690-2706); frame = det[0:4] flattened
    (fdet, sdet, odet, pix0), a tuple so that a caller's loop over pixels keeps it in registers."""
    Fdet = subpixel_size * (fpixel * oversample + subF) + subpixel_size / 2.0
    Sdet = subpixel_size * (spixel * oversample + subS) + subpixel_size / 2.0
    x = Fdet * frame[0] + Sdet * frame[3] + Odet * frame[6] + frame[9]
    y = Fdet * frame[1] + Sdet * frame[4] + Odet * frame[7] + frame[10]
    z = Fdet * frame[2] + Sdet * frame[5] + Odet * frame[8] + frame[11]
    return x, y, z


@inline
def detector_frame(det):
    return (det[0, 0], det[0, 1], det[0, 2], det[1, 0], det[1, 1], det[1, 2], det[2, 0], det[2, 1], det[2, 2],
            det[3, 0], det[3, 1], det[3, 2])


@pyjit
def subpixel_position(fpixel, spixel, subF, subS, Odet, subpixel_size, oversample, det, curved, distance):
    """Lab position of a sub-pixel; det rows: fdet, sdet, odet, pix0, beam (C 2690-2717)."""
    x, y, z = flat_position(fpixel, spixel, subF, subS, Odet, subpixel_size, oversample, detector_frame(det))
    if curved:
        # pixel coordinates used as arc lengths on a sphere of radius `distance` (quirk C6)
        vx = distance * det[4, 0]
        vy = distance * det[4, 1]
        vz = distance * det[4, 2]
        nx, ny, nz = rotate_axis(vx, vy, vz, det[1, 0], det[1, 1], det[1, 2], y / distance)
        x, y, z = rotate_axis(nx, ny, nz, det[0, 0], det[0, 1], det[0, 2], z / distance)
    return x, y, z


@jit
def reaches_phi_loop(fpixel, spixel, params, det, sources):
    """Whether some sub-pixel/source of this pixel passes the dmin cut, i.e. runs the phi loop."""
    prm = params[0]
    dmin = prm.dmin
    if not dmin > 0.0:
        return True
    oversample = prm.oversample
    for thick_tic in range(prm.detector_thicksteps):
        Odet = thick_tic * prm.detector_thickstep
        for subS in range(oversample):
            for subF in range(oversample):
                x, y, z = subpixel_position(fpixel, spixel, subF, subS, Odet, prm.subpixel_size, oversample,
                                            det, prm.curved_detector != 0, prm.distance)
                _, dx, dy, dz = unitize(x, y, z)
                for src in range(sources.shape[0]):
                    lam = sources[src, 3]
                    sx = (dx - (-sources[src, 0])) / lam
                    sy = (dy - (-sources[src, 1])) / lam
                    sz = (dz - (-sources[src, 2])) / lam
                    stol = 0.5 * magnitude(sx, sy, sz)
                    if not (stol > 0.0 and dmin > 0.5 / stol):
                        return True
    return False




@inline
def solid_angle(airpath, prm, point_pixel):
    """Pixel solid angle: the whole pixel area and close_distance (quirk C7), or 1/R^2 (C 2720-2727)."""
    if point_pixel:
        return 1.0 / airpath / airpath
    return prm.pixel_size * prm.pixel_size / airpath / airpath * prm.close_distance / airpath


@inline
def layer_capture(dx, dy, dz, det, prm, thick_tic):
    """Fraction of the photons along unit direction d absorbed in sensor layer thick_tic (C 2731-2739)."""
    parallax = dx * det[2, 0] + dy * det[2, 1] + dz * det[2, 2]
    return (math.exp(-thick_tic * prm.detector_thickstep * prm.detector_mu / parallax)
            - math.exp(-(thick_tic + 1) * prm.detector_thickstep * prm.detector_mu / parallax))


@jit
def pixel_value(fpixel, spixel, fresh, interpolate, plan):
    """(float value C adds to the pixel, sum of omega over sub-pixels, 1 if interpolation switched off).

    fresh: this pixel is the first of its (emulated) OpenMP thread to run the phi loop, so that
    first loop starts from the unrotated cell (cells[0]); every other loop uses the carried
    rotation (cells[1]).  cells[regime, phi_tic, domain, 0:9] = a, b, c after phi and mosaic.
    plan: the plan's arrays as one tuple, in layout.PLAN_ARRAYS order; params is its parameter record
    (layout.PARAMS_DTYPE), one element.
    """
    params, det, polar_axis, sources, cells, recip, Fhkl = plan
    prm = params[0]
    oversample = prm.oversample
    os_thick = prm.oversample_thick != 0
    os_polar = prm.oversample_polar != 0
    os_omega = prm.oversample_omega != 0
    shape = prm.xtal_shape
    Na = prm.Na
    Nb = prm.Nb
    Nc = prm.Nc
    dmin = prm.dmin
    water = prm.water_size
    default_F = prm.default_F
    h_min = prm.h_min
    k_min = prm.k_min
    l_min = prm.l_min
    h_range = prm.h_range
    k_range = prm.k_range
    l_range = prm.l_range
    switched_off = 0

    I = prm.I_bg
    polar = 1.0 if prm.nopolar != 0 else 0.0
    omega_pixel = 0.0
    omega_sum = 0.0
    capture_fraction = 0.0
    pending_fresh = fresh
    for thick_tic in range(prm.detector_thicksteps):
        Odet = thick_tic * prm.detector_thickstep
        capture_fraction = 1.0 if prm.detector_thick == 0.0 else 0.0
        for subS in range(oversample):
            for subF in range(oversample):
                x, y, z = subpixel_position(fpixel, spixel, subF, subS, Odet, prm.subpixel_size, oversample,
                                            det, prm.curved_detector != 0, prm.distance)
                airpath, dx, dy, dz = unitize(x, y, z)
                if omega_pixel == 0.0 or os_omega:
                    omega_pixel = solid_angle(airpath, prm, prm.point_pixel != 0)
                omega_sum += omega_pixel
                if capture_fraction == 0.0 or os_thick:
                    capture_fraction = layer_capture(dx, dy, dz, det, prm, thick_tic)
                for src in range(sources.shape[0]):
                    ix = -sources[src, 0]
                    iy = -sources[src, 1]
                    iz = -sources[src, 2]
                    lam = sources[src, 3]
                    sx = (dx - ix) / lam
                    sy = (dy - iy) / lam
                    sz = (dz - iz) / lam
                    stol = 0.5 * magnitude(sx, sy, sz)
                    if dmin > 0.0 and stol > 0.0:
                        if dmin > 0.5 / stol:
                            continue
                    if polar == 0.0 or os_polar:
                        # C unitizes incident and diffracted in place here (quirk D10): later sources
                        # of this sub-pixel see the re-normalised diffracted vector
                        _, ix, iy, iz = unitize(ix, iy, iz)
                        _, dx, dy, dz = unitize(dx, dy, dz)
                        polar = polarization_factor(prm.polarization, ix, iy, iz, dx, dy, dz,
                                                    polar_axis[0], polar_axis[1], polar_axis[2])
                    regime = 0 if pending_fresh else 1
                    pending_fresh = False
                    for phi_tic in range(prm.phisteps):
                        for mos in range(prm.mosaic_domains):
                            cell = cells[regime, phi_tic, mos]
                            h = cell[0] * sx + cell[1] * sy + cell[2] * sz
                            k = cell[3] * sx + cell[4] * sy + cell[5] * sz
                            l = cell[6] * sx + cell[7] * sy + cell[8] * sz
                            # C's ceil(x-0.5) rounds .5 down (quirk D15); int on every target
                            h0 = np.int64(math.ceil(h - 0.5))
                            k0 = np.int64(math.ceil(k - 0.5))
                            l0 = np.int64(math.ceil(l - 0.5))
                            F_latt = lattice_factor(shape, h, k, l, h0, k0, l0, Na, Nb, Nc, prm.fudge, recip)
                            if F_latt == 0.0 and water == 0.0:
                                continue
                            F_cell = 0.0
                            if interpolate:
                                if ((h - h_min + 3) > h_range or (h - 2 < h_min) or (k - k_min + 3) > k_range
                                        or (k - 2 < k_min) or (l - l_min + 3) > l_range or (l - 2 < l_min)):
                                    # C's global shut-off (quirk D12): the caller stops it for later pixels
                                    F_cell = default_F
                                    interpolate = False
                                    switched_off = 1
                            if interpolate:
                                F_cell = tricubic(Fhkl, h, k, l, h_min, k_min, l_min)
                            else:
                                F_cell = nearest_F(Fhkl, h0, k0, l0, prm, default_F)
                            I += F_cell * F_cell * F_latt * F_latt
                            if os_thick:
                                I *= capture_fraction
                            if os_polar:
                                I *= polar
                            if os_omega:
                                I *= omega_pixel
    test = prm.r_e_sqr * prm.fluence * I / prm.steps
    if not os_thick:
        test *= capture_fraction
    if not os_polar:
        test *= polar
    if not os_omega:
        test *= omega_pixel
    return test, omega_sum, switched_off


@pyjit
def lattice_factor(shape, h, k, l, h0, k0, l0, Na, Nb, Nc, fudge, recip):
    """F_latt for the four crystal shapes (C 2822-2865)."""
    F_latt = 1.0
    if shape == SQUARE:
        # C's sin(pi N h)/sin(pi h); for a non-integer N (the API's, C reads N as an integer) the reduced
        # sin(pi N d)/sin(pi d) with d = h - h0, which is smooth in N where C's form is singular at peaks
        if Na > 1:
            F_latt *= sincg(math.pi * h, Na) if Na == math.floor(Na) else sincg(math.pi * (h - h0), Na)
        if Nb > 1:
            F_latt *= sincg(math.pi * k, Nb) if Nb == math.floor(Nb) else sincg(math.pi * (k - k0), Nb)
        if Nc > 1:
            F_latt *= sincg(math.pi * l, Nc) if Nc == math.floor(Nc) else sincg(math.pi * (l - l0), Nc)
    elif shape == ROUND:
        hrad_sqr = (h - h0) * (h - h0) * Na * Na + (k - k0) * (k - k0) * Nb * Nb + (l - l0) * (l - l0) * Nc * Nc
        F_latt = Na * Nb * Nc * 0.723601254558268 * sinc3(math.pi * math.sqrt(hrad_sqr * fudge))
    else:
        # reciprocal-space offset with the unrotated a*, b*, c* (quirk D14)
        dxs = (h - h0) * recip[0] + (k - k0) * recip[3] + (l - l0) * recip[6]
        dys = (h - h0) * recip[1] + (k - k0) * recip[4] + (l - l0) * recip[7]
        dzs = (h - h0) * recip[2] + (k - k0) * recip[5] + (l - l0) * recip[8]
        rad_star_sqr = (dxs * dxs + dys * dys + dzs * dzs) * Na * Na * Nb * Nb * Nc * Nc
        if shape == GAUSS:
            F_latt = Na * Nb * Nc * math.exp(-(rad_star_sqr / 0.63 * fudge))
        else:
            F_latt = Na * Nb * Nc * (1.0 if rad_star_sqr * fudge < 0.3969 else 0.0)
    return F_latt


@pyjit
def nearest_F(Fhkl, h0, k0, l0, prm, default_F):
    """The tabulated F at the nearest whole index, default_F outside the table (C 3000-3009)."""
    if (prm.hkls != 0 and h0 <= prm.h_max and h0 >= prm.h_min and k0 <= prm.k_max and k0 >= prm.k_min
            and l0 <= prm.l_max and l0 >= prm.l_min):
        return Fhkl[h0 - prm.h_min, k0 - prm.k_min, l0 - prm.l_min]
    return default_F


@pyjit
def tricubic(Fhkl, h, k, l, h_min, k_min, l_min):
    """nanoBragg.c polin3 over the 4x4x4 block around floor(h,k,l): along l, then k, then h."""
    if not (math.isfinite(h) and math.isfinite(k) and math.isfinite(l)):
        # NaN indices pass C's range test and make it read outside its table (undefined); we say NaN
        return math.nan
    hf = math.floor(h)
    kf = math.floor(k)
    lf = math.floor(l)
    hi = np.int64(hf) - 1 - h_min
    ki = np.int64(kf) - 1 - k_min
    li = np.int64(lf) - 1 - l_min
    hx0 = hf - 1.0
    kx0 = kf - 1.0
    lx0 = lf - 1.0
    yh0 = yh1 = yh2 = yh3 = 0.0
    for i1 in range(4):
        yk0 = yk1 = yk2 = yk3 = 0.0
        for i2 in range(4):
            row = Fhkl[hi + i1, ki + i2]
            v = polint4(lx0, lx0 + 1.0, lx0 + 2.0, lx0 + 3.0,
                        row[li], row[li + 1], row[li + 2], row[li + 3], l)
            if i2 == 0:
                yk0 = v
            elif i2 == 1:
                yk1 = v
            elif i2 == 2:
                yk2 = v
            else:
                yk3 = v
        v = polint4(kx0, kx0 + 1.0, kx0 + 2.0, kx0 + 3.0, yk0, yk1, yk2, yk3, k)
        if i1 == 0:
            yh0 = v
        elif i1 == 1:
            yh1 = v
        elif i1 == 2:
            yh2 = v
        else:
            yh3 = v
    return polint4(hx0, hx0 + 1.0, hx0 + 2.0, hx0 + 3.0, yh0, yh1, yh2, yh3, h)
