"""The fast CPU kernel (-kernel fast): same signature and serial-order rules as exact.render, with
the arithmetic reorganised for speed. Images agree with C's to ~1e-9 relative, not bit for bit.

Work is done in tiles of up to TILE consecutive pixels (C's serial order). For each sub-pixel and
source the tile's scattering vectors are laid out in arrays, and the innermost loop runs over the
tile's pixels for one rotated cell at a time, so LLVM vectorises it while every pixel still sums its
steps in C's order. The lattice factor uses the exact index-space reduction in fast_math (no libm
call), the structure factor comes from a padded flat table of F^2 indexed without a branch, and the
per-pixel factors (solid angle, capture fraction, polarization) are computed once per pixel/sub-pixel.

Pixels this path does not cover are rendered with the exact pixel_value: each emulated thread's first
phi-looping pixel (it starts from the unrotated cell, `fresh`), pixels that still interpolate, and
whole plans with oversample_thick/polar/omega (C's running-sum quirks) or a non-integer N.
"""
import math

import numpy as np
from numba import njit, prange

from . import exact
from .fast_math import grating_parts
from .pixel import (F_CLOSE, F_DEFAULT_F, F_DISTANCE, F_DMIN, F_FLUENCE, F_FUDGE, F_IBG, F_KAHN, F_MU, F_NA,
                    F_NB, F_NC, F_PIXEL, F_RE2, F_STEPS, F_SUBPIXEL, F_THICK, F_THICKSTEP, GAUSS, I_CURVED,
                    I_FPIXELS, I_HKLS, I_HMIN, I_KMIN, I_LMIN, I_NOPOLAR, I_OS_OMEGA, I_OS_POLAR, I_OS_THICK, I_OVERSAMPLE, I_POINT,
                    I_SHAPE, I_THICKSTEPS, ROUND, SQUARE, pixel_value, subpixel_position)
from .vecmath import magnitude, polarization_factor, sinc3, unitize

TILE = 64
jit = njit(cache=True, error_model="numpy")


def covered(ip, fp):
    """Whether the tiled path applies to the plan at all (otherwise every pixel goes exact)."""
    if ip[I_OS_THICK] or ip[I_OS_POLAR] or ip[I_OS_OMEGA]:
        return False
    return all(float(fp[i]).is_integer() and fp[i] >= 1.0 for i in (F_NA, F_NB, F_NC))


def padded_f2(Fhkl, hkls, default_F):
    """F^2 in a flat table with one layer of default_F^2 around the hkl box; lookups clamp into it."""
    if hkls == 0:
        return np.full(1, default_F * default_F), np.zeros(3, np.int64)
    H, K, L = Fhkl.shape
    t = np.full((H + 2, K + 2, L + 2), default_F * default_F)
    t[1:-1, 1:-1, 1:-1] = Fhkl * Fhkl
    return t.reshape(-1), np.array([H, K, L], np.int64)


def render(order, start, fresh, interp_until, ip, fp, det, polar_axis, sources, cells, recip, Fhkl,
           image, omega, switched):
    """exact.render's contract: renders order[start:] into image, omega and switched."""
    if not covered(ip, fp):
        exact.render(order, start, fresh, interp_until, ip, fp, det, polar_axis, sources, cells, recip, Fhkl,
                     image, omega, switched)
        return
    f2, dims = padded_f2(Fhkl, int(ip[I_HKLS]), float(fp[F_DEFAULT_F]))
    cell_list = np.ascontiguousarray(cells[1].reshape(-1, 9))
    _render_tiles(order, start, fresh, interp_until, ip, fp, det, polar_axis, sources, cells, recip, Fhkl,
                  cell_list, f2, dims, image, omega, switched)


@njit(cache=True, parallel=True)
def _render_tiles(order, start, fresh, interp_until, ip, fp, det, polar_axis, sources, cells, recip, Fhkl,
                  cell_list, f2, dims, image, omega, switched):
    n = order.shape[0]
    fpixels = ip[I_FPIXELS]
    interp_on = interp_until >= 0
    ntiles = (n - start + TILE - 1) // TILE
    for t in prange(ntiles):
        lo = start + t * TILE
        hi = min(lo + TILE, n)
        pos = np.empty(hi - lo, np.int64)
        npx = 0
        for m in range(lo, hi):
            idx = order[m]
            if fresh[m] != 0 or (interp_on and m <= interp_until):
                sp = idx // fpixels
                value, om, sw = pixel_value(idx - sp * fpixels, sp, fresh[m] != 0, interp_on and m <= interp_until,
                                            ip, fp, det, polar_axis, sources, cells, recip, Fhkl)
                image[idx] = np.float32(0.0 + value)
                omega[m] = om
                switched[m] = sw
            else:
                pos[npx] = m
                npx += 1
        if npx > 0:
            _tile(pos[:npx], order, ip, fp, det, polar_axis, sources, cell_list, recip, f2, dims, image, omega,
                  switched)


@jit
def _tile(pos, order, ip, fp, det, polar_axis, sources, cell_list, recip, f2, dims, image, omega, switched):
    """The pixels at list positions `pos` (none fresh, none interpolating), C 2640-3040 reorganised."""
    npx = pos.shape[0]
    fpixels = ip[I_FPIXELS]
    oversample = ip[I_OVERSAMPLE]
    curved = ip[I_CURVED] != 0
    dmin = fp[F_DMIN]
    table = ip[I_HKLS] != 0
    F2 = f2[0]
    fi = np.empty(npx, np.int64)
    si = np.empty(npx, np.int64)
    for j in range(npx):
        idx = order[pos[j]]
        si[j] = idx // fpixels
        fi[j] = idx - si[j] * fpixels
    acc = np.full(npx, fp[F_IBG])
    polar = np.full(npx, 1.0 if ip[I_NOPOLAR] != 0 else 0.0)
    omega_px = np.zeros(npx)
    omega_sum = np.zeros(npx)
    capture = np.zeros(npx)
    ux = np.empty(npx)
    uy = np.empty(npx)
    uz = np.empty(npx)
    sx = np.empty(npx)
    sy = np.empty(npx)
    sz = np.empty(npx)
    w = np.empty(npx)
    for thick_tic in range(ip[I_THICKSTEPS]):
        Odet = thick_tic * fp[F_THICKSTEP]
        capture[:] = 1.0 if fp[F_THICK] == 0.0 else 0.0
        for subS in range(oversample):
            for subF in range(oversample):
                for j in range(npx):
                    x, y, z = subpixel_position(fi[j], si[j], subF, subS, Odet, fp[F_SUBPIXEL], oversample, det,
                                                curved, fp[F_DISTANCE])
                    airpath, dx, dy, dz = unitize(x, y, z)
                    if omega_px[j] == 0.0:
                        omega_px[j] = fp[F_PIXEL] * fp[F_PIXEL] / airpath / airpath * fp[F_CLOSE] / airpath
                        if ip[I_POINT] != 0:
                            omega_px[j] = 1.0 / airpath / airpath
                    omega_sum[j] += omega_px[j]
                    if capture[j] == 0.0:
                        parallax = dx * det[2, 0] + dy * det[2, 1] + dz * det[2, 2]
                        capture[j] = (math.exp(-thick_tic * fp[F_THICKSTEP] * fp[F_MU] / parallax)
                                      - math.exp(-(thick_tic + 1) * fp[F_THICKSTEP] * fp[F_MU] / parallax))
                    ux[j] = dx
                    uy[j] = dy
                    uz[j] = dz
                for src in range(sources.shape[0]):
                    ix = -sources[src, 0]
                    iy = -sources[src, 1]
                    iz = -sources[src, 2]
                    lam = sources[src, 3]
                    live = False
                    for j in range(npx):
                        sx[j] = (ux[j] - ix) / lam
                        sy[j] = (uy[j] - iy) / lam
                        sz[j] = (uz[j] - iz) / lam
                        stol = 0.5 * magnitude(sx[j], sy[j], sz[j])
                        if dmin > 0.0 and stol > 0.0 and dmin > 0.5 / stol:
                            w[j] = 0.0
                            continue
                        w[j] = 1.0 if table else F2
                        live = True
                        if polar[j] == 0.0:
                            # C re-unitizes the diffracted vector in place (quirk D10)
                            _, uix, uiy, uiz = unitize(ix, iy, iz)
                            _, ux[j], uy[j], uz[j] = unitize(ux[j], uy[j], uz[j])
                            polar[j] = polarization_factor(fp[F_KAHN], uix, uiy, uiz, ux[j], uy[j], uz[j],
                                                           polar_axis[0], polar_axis[1], polar_axis[2])
                    if not live:
                        continue
                    _steps(acc, sx, sy, sz, w, cell_list, fp, ip, recip, f2, dims)
    scale = fp[F_RE2] * fp[F_FLUENCE]
    for j in range(npx):
        test = scale * acc[j] / fp[F_STEPS]
        test *= capture[j]
        test *= polar[j]
        test *= omega_px[j]
        m = pos[j]
        image[order[m]] = np.float32(0.0 + test)
        omega[m] = omega_sum[j]
        switched[m] = 0


@jit
def _steps(acc, sx, sy, sz, w, cell_list, fp, ip, recip, f2, dims):
    """Adds every rotated cell's contribution for one sub-pixel and source to each pixel's sum."""
    shape = ip[I_SHAPE]
    table = ip[I_HKLS] != 0
    val = np.empty(acc.shape[0])
    slot = np.empty(acc.shape[0], np.int64)
    for c in range(cell_list.shape[0]):
        cell = cell_list[c]
        if shape == SQUARE:
            if table:
                _square_table(acc, sx, sy, sz, w, cell, fp[F_NA], fp[F_NB], fp[F_NC], f2, dims, ip, val, slot)
            else:
                _square_const(acc, sx, sy, sz, w, cell, fp[F_NA], fp[F_NB], fp[F_NC])
        else:
            _other_shape(acc, sx, sy, sz, w, cell, shape, fp, recip, f2, dims, ip, table)


@jit
def _square_const(acc, sx, sy, sz, w, cell, Na, Nb, Nc):
    """One cell, parallelepiped lattice, F^2 folded into w (no hkl table)."""
    a0, a1, a2, b0, b1, b2, c0, c1, c2 = (cell[0], cell[1], cell[2], cell[3], cell[4], cell[5], cell[6],
                                          cell[7], cell[8])
    for j in range(acc.shape[0]):
        x = sx[j]
        y = sy[j]
        z = sz[j]
        h = a0 * x + a1 * y + a2 * z
        k = b0 * x + b1 * y + b2 * z
        l = c0 * x + c1 * y + c2 * z
        na, da = grating_parts(h - np.ceil(h - 0.5), Na)
        nb, db = grating_parts(k - np.ceil(k - 0.5), Nb)
        nc, dc = grating_parts(l - np.ceil(l - 0.5), Nc)
        f = (na * nb * nc) / (da * db * dc)
        acc[j] += w[j] * (f * f)


@jit
def _square_table(acc, sx, sy, sz, w, cell, Na, Nb, Nc, f2, dims, ip, val, slot):
    """One cell, parallelepiped lattice, F^2 from the padded table. The lattice factor and the table
    slot go through scratch arrays: a loop that gathers from f2 and stores into acc would not be
    vectorised (LLVM cannot rule out that they overlap), so only the cheap gather loop stays scalar."""
    a0, a1, a2, b0, b1, b2, c0, c1, c2 = (cell[0], cell[1], cell[2], cell[3], cell[4], cell[5], cell[6],
                                          cell[7], cell[8])
    hlo = ip[I_HMIN] - 1.0
    klo = ip[I_KMIN] - 1.0
    llo = ip[I_LMIN] - 1.0
    htop = dims[0] + 1.0
    ktop = dims[1] + 1.0
    ltop = dims[2] + 1.0
    sk = dims[2] + 2
    sh = (dims[1] + 2) * sk
    npx = acc.shape[0]
    for j in range(npx):
        x = sx[j]
        y = sy[j]
        z = sz[j]
        h = a0 * x + a1 * y + a2 * z
        k = b0 * x + b1 * y + b2 * z
        l = c0 * x + c1 * y + c2 * z
        h0 = np.ceil(h - 0.5)
        k0 = np.ceil(k - 0.5)
        l0 = np.ceil(l - 0.5)
        na, da = grating_parts(h - h0, Na)
        nb, db = grating_parts(k - k0, Nb)
        nc, dc = grating_parts(l - l0, Nc)
        f = (na * nb * nc) / (da * db * dc)
        val[j] = w[j] * (f * f)
        slot[j] = _slot(h0 - hlo, htop) * sh + _slot(k0 - klo, ktop) * sk + _slot(l0 - llo, ltop)
    for j in range(npx):
        acc[j] += f2[slot[j]] * val[j]


@njit(cache=True, inline="always")
def _slot(i, top):
    """Index into one padded axis: 1..top-1 inside the table, 0 or top outside (NaN -> 0)."""
    i = i if i > 0.0 else 0.0
    i = i if i < top else top
    return np.int64(i)


@jit
def _other_shape(acc, sx, sy, sz, w, cell, shape, fp, recip, f2, dims, ip, table):
    """ROUND, GAUSS and TOPHAT lattice factors, as pixel_value computes them."""
    Na = fp[F_NA]
    Nb = fp[F_NB]
    Nc = fp[F_NC]
    NNN = Na * Nb * Nc
    fudge = fp[F_FUDGE]
    hlo = ip[I_HMIN] - 1.0
    klo = ip[I_KMIN] - 1.0
    llo = ip[I_LMIN] - 1.0
    htop = dims[0] + 1.0
    ktop = dims[1] + 1.0
    ltop = dims[2] + 1.0
    sk = dims[2] + 2
    sh = (dims[1] + 2) * sk
    for j in range(acc.shape[0]):
        x = sx[j]
        y = sy[j]
        z = sz[j]
        h = cell[0] * x + cell[1] * y + cell[2] * z
        k = cell[3] * x + cell[4] * y + cell[5] * z
        l = cell[6] * x + cell[7] * y + cell[8] * z
        h0 = np.ceil(h - 0.5)
        k0 = np.ceil(k - 0.5)
        l0 = np.ceil(l - 0.5)
        dh = h - h0
        dk = k - k0
        dl = l - l0
        if shape == ROUND:
            hrad_sqr = dh * dh * Na * Na + dk * dk * Nb * Nb + dl * dl * Nc * Nc
            F_latt = NNN * 0.723601254558268 * sinc3(math.pi * math.sqrt(hrad_sqr * fudge))
        else:
            dxs = dh * recip[0] + dk * recip[3] + dl * recip[6]
            dys = dh * recip[1] + dk * recip[4] + dl * recip[7]
            dzs = dh * recip[2] + dk * recip[5] + dl * recip[8]
            rad_star_sqr = (dxs * dxs + dys * dys + dzs * dzs) * Na * Na * Nb * Nb * Nc * Nc
            if shape == GAUSS:
                F_latt = NNN * math.exp(-(rad_star_sqr / 0.63 * fudge))
            else:
                F_latt = NNN * (1.0 if rad_star_sqr * fudge < 0.3969 else 0.0)
        if table:
            F2 = f2[_slot(h0 - hlo, htop) * sh + _slot(k0 - klo, ktop) * sk + _slot(l0 - llo, ltop)]
            acc[j] += w[j] * F2 * (F_latt * F_latt)
        else:
            acc[j] += w[j] * (F_latt * F_latt)
