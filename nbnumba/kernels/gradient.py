"""The fast algorithm with forward-mode derivatives, one pixel at a time (CPU): the float64 image the fast
kernel stores as float32, and its derivatives with respect to P parameters, in one pass over the steps
in the fast kernel's loop order and arithmetic (so the image is fast._tile's, bit for bit before the
float32 store).

What the kernel is told of each parameter is how the plan's inputs move with it (derivatives.py finds
that by differencing the set-up, which is smooth): the detector frame and pix0 (d_det), each source's
wavelength (d_sources), every rotated cell (d_cells) and the scalars below (d_scalars). The chain from
there is analytic:

* sub-pixel position P -> unit vector u and distance |P| -> solid angle, capture fraction, polarization
  (each where C computes it: the pixel's first sub-pixel, source);
* scattering vector s = (u - i)/lambda -> h = a.s (a, b, c the rotated cell of the step);
* the reduced lattice factor f^2 = (sin(pi N d)/sin(pi d))^2 per axis, d = h - h0, through
  d(f^2)/dd = 2 (S_e/S_d) pi (N C_e S_d - S_e C_d)/S_d^2 and d(f^2)/dN = 2 (S_e/S_d) pi d C_e/S_d with
  S_x = sin(pi x), C_x = cos(pi x), e the reduced N d (the signs that reduction drops cancel in f^2),
  and the series of sin(N x)/sin(x) where N d is so small that the first form cancels;
  F^2 from the table is piecewise constant in h.

To keep the per-step cost small, the sum over cells is not differentiated per parameter: a step adds
F^2 grad(latt2) (x) s to its cell's 3x3 sensitivity (for the parameters that move cells) and F^2
(grad_h a + grad_k b + grad_l c) to a 3-vector (for those that move s), and both are contracted with
the parameters' input derivatives once per pixel or per sub-pixel and source.
"""
import numpy as np

from .fast_pixel import (beyond_dmin, grating_parts, scattering, polarization_fast, polarization_frame, reduced, sinpi, table_frame,
                         table_slot)
from .jit import inline, jit, threaded, unitize
from .pixel import detector_frame, flat_position, layer_capture, solid_angle

# the scalar inputs a parameter may move (d_scalars' columns)
SC_CLOSE, SC_NA, SC_NB, SC_NC, SC_FLUENCE, SC_IBG, N_SCALARS = range(7)
PI = 3.141592653589793


@inline
def axis_derivatives(d, n, num, den):
    """(d(f^2)/dd, d(f^2)/dN) of one axis of the parallelepiped lattice factor at d = h - h0, from the
    (num, den) of fast_pixel.grating_parts (f = num/den, the value the image uses)."""
    if n <= 1.0:                       # C leaves the factor out
        return 0.0, 0.0
    if d == 0.0:
        return 0.0, 2.0 * n
    f = num / den
    e = reduced(d, n)
    ce = sinpi(0.5 - abs(e))
    if abs(n * d) < 1e-3:
        # n ce sd - se cd cancels to O(d^3) here: the series of sin(n x)/sin(x) in x = pi d instead,
        # f' = pi n (-(n^2-1) x/3 + (n^2-1)(3n^2-7) x^3/90), relative error below 1e-9
        x = PI * d
        m = n * n - 1.0
        df = PI * n * x * (-m / 3.0 + m * (3.0 * n * n - 7.0) * x * x / 90.0)
    else:
        df = PI * (n * ce * den - num * sinpi(0.5 - abs(d))) / (den * den)
    return 2.0 * f * df, 2.0 * f * PI * d * ce / den


@threaded
def render_derivatives(order, positions, fresh, plan, tables, dplan, image, dimage, work):
    """For list positions `positions`: image[idx] (float64) and dimage[:, idx] of each pixel.
    tables = (f2, dims) as cpu.padded_f2; dplan = (d_det (P,5,3), d_sources (P,n,4), d_cells (P, 2*cells, 9),
    d_scalars (P, N_SCALARS), moves_cells (P,) int8: whether d_cells[t] has a non-zero); work: this thread's
    scratch (derivatives.work_arrays)."""
    for m in positions:
        idx = order[m]
        fp = plan[0][0].fpixels
        sp = idx // fp
        _pixel(idx - sp * fp, sp, fresh[m] != 0, plan, tables, dplan, image, dimage, idx, work)


@jit
def _pixel(fpixel, spixel, fresh, plan, tables, dplan, image, dimage, idx, work):
    params, det, polar_axis, sources, cells, recip, Fhkl = plan
    f2, dims = tables
    d_det, d_sources, d_cells, d_scalars, moves_cells = dplan
    M, dP, du, ds, dacc, domega, dcap, dpolar, dN = work
    prm = params[0]
    P = d_scalars.shape[0]
    ncells = prm.phisteps * prm.mosaic_domains
    oversample = prm.oversample
    table = prm.hkls != 0
    point = prm.point_pixel != 0
    thick = prm.detector_thick != 0.0
    dmin = prm.dmin
    Na = prm.Na
    Nb = prm.Nb
    Nc = prm.Nc
    wbase = 1.0 if table else f2[0]
    lo, top, strides = table_frame(prm, dims)
    any_cells = False            # a parameter moves the cells: their sensitivities are needed
    for t in range(P):
        any_cells = any_cells or moves_cells[t] != 0
    if any_cells:
        M[:] = 0.0
    dN[:] = 0.0
    acc = prm.I_bg
    for t in range(P):
        dacc[t] = d_scalars[t, SC_IBG]
        domega[t] = 0.0
        dcap[t] = 0.0
        dpolar[t] = 0.0
    polar = 1.0 if prm.nopolar != 0 else 0.0
    polar_pending = prm.nopolar == 0
    omega_px = 0.0
    capture = 1.0
    pending_fresh = fresh
    frame = detector_frame(det)
    for thick_tic in range(prm.detector_thicksteps):
        Odet = thick_tic * prm.detector_thickstep
        capture = 0.0 if thick else 1.0
        for t in range(P):
            dcap[t] = 0.0
        for subS in range(oversample):
            for subF in range(oversample):
                Fdet = prm.subpixel_size * (fpixel * oversample + subF) + prm.subpixel_size / 2.0
                Sdet = prm.subpixel_size * (spixel * oversample + subS) + prm.subpixel_size / 2.0
                x, y, z = flat_position(fpixel, spixel, subF, subS, Odet, prm.subpixel_size, oversample, frame)
                airpath, ux, uy, uz = unitize(x, y, z)
                for t in range(P):
                    for q in range(3):
                        dP[t, q] = (Fdet * d_det[t, 0, q] + Sdet * d_det[t, 1, q] + Odet * d_det[t, 2, q]
                                    + d_det[t, 3, q])
                    along = ux * dP[t, 0] + uy * dP[t, 1] + uz * dP[t, 2]
                    du[t, 0] = (dP[t, 0] - ux * along) / airpath
                    du[t, 1] = (dP[t, 1] - uy * along) / airpath
                    du[t, 2] = (dP[t, 2] - uz * along) / airpath
                    dP[t, 0] = along                   # d|P|, kept in the first slot
                if omega_px == 0.0:
                    omega_px = solid_angle(airpath, prm, point)
                    for t in range(P):
                        rel = -3.0 * dP[t, 0] / airpath
                        if point:
                            rel = -2.0 * dP[t, 0] / airpath
                        else:
                            rel += d_scalars[t, SC_CLOSE] / prm.close_distance
                        domega[t] = omega_px * rel
                if capture == 0.0:
                    capture = layer_capture(ux, uy, uz, det, prm, thick_tic)
                    _capture_derivative(ux, uy, uz, du, det, d_det, prm, thick_tic, dcap)
                for src in range(sources.shape[0]):
                    (ix, iy, iz), lam, (sx, sy, sz) = scattering(ux, uy, uz, sources, src)
                    if beyond_dmin(sx, sy, sz, dmin):
                        continue
                    for t in range(P):
                        dl = d_sources[t, src, 3] / lam
                        ds[t, 0] = du[t, 0] / lam - sx * dl
                        ds[t, 1] = du[t, 1] / lam - sy * dl
                        ds[t, 2] = du[t, 2] / lam - sz * dl
                    if polar_pending and polar == 0.0:
                        # C re-unitizes u here (quirk D10): a unit vector, so its derivative is unchanged
                        _, ux, uy, uz = unitize(ux, uy, uz)
                        pframe = polarization_frame(ix, iy, iz, polar_axis)
                        polar = polarization_fast(prm.polarization, ux, uy, uz, pframe)
                        _polar_derivative(prm.polarization, ux, uy, uz, pframe, du, dpolar)
                    regime = 0 if pending_fresh else 1
                    pending_fresh = False
                    gx = 0.0
                    gy = 0.0
                    gz = 0.0
                    base = regime * ncells
                    for c in range(ncells):
                        # cells by index, not as row views (a view costs an atomic reference count per step)
                        ph = c // prm.mosaic_domains
                        mo = c - ph * prm.mosaic_domains
                        a0, a1, a2 = cells[regime, ph, mo, 0], cells[regime, ph, mo, 1], cells[regime, ph, mo, 2]
                        b0, b1, b2 = cells[regime, ph, mo, 3], cells[regime, ph, mo, 4], cells[regime, ph, mo, 5]
                        c0, c1, c2 = cells[regime, ph, mo, 6], cells[regime, ph, mo, 7], cells[regime, ph, mo, 8]
                        h = a0 * sx + a1 * sy + a2 * sz
                        k = b0 * sx + b1 * sy + b2 * sz
                        l = c0 * sx + c1 * sy + c2 * sz
                        h0 = np.ceil(h - 0.5)
                        k0 = np.ceil(k - 0.5)
                        l0 = np.ceil(l - 0.5)
                        # fast_pixel.square_latt2's arithmetic, its parts kept for the derivatives
                        na, da = grating_parts(h - h0, Na)
                        nb, db = grating_parts(k - k0, Nb)
                        nc, dc = grating_parts(l - l0, Nc)
                        f = (na * nb * nc) / (da * db * dc)
                        F2 = f2[table_slot(h0, k0, l0, lo, top, strides)] if table else 1.0
                        v = wbase * (f * f)
                        if table:
                            v = F2 * v
                        acc += v
                        if P == 0:
                            continue
                        dfa, nfa = axis_derivatives(h - h0, Na, na, da)
                        dfb, nfb = axis_derivatives(k - k0, Nb, nb, db)
                        dfc, nfc = axis_derivatives(l - l0, Nc, nc, dc)
                        fa = (na / da) * (na / da)
                        fb = (nb / db) * (nb / db)
                        fc = (nc / dc) * (nc / dc)
                        w = F2 * wbase
                        gh = w * dfa * fb * fc
                        gk = w * fa * dfb * fc
                        gl = w * fa * fb * dfc
                        dN[0] += w * nfa * fb * fc
                        dN[1] += w * fa * nfb * fc
                        dN[2] += w * fa * fb * nfc
                        gx += gh * a0 + gk * b0 + gl * c0
                        gy += gh * a1 + gk * b1 + gl * c1
                        gz += gh * a2 + gk * b2 + gl * c2
                        if any_cells:
                            r = base + c
                            M[r, 0] += gh * sx
                            M[r, 1] += gh * sy
                            M[r, 2] += gh * sz
                            M[r, 3] += gk * sx
                            M[r, 4] += gk * sy
                            M[r, 5] += gk * sz
                            M[r, 6] += gl * sx
                            M[r, 7] += gl * sy
                            M[r, 8] += gl * sz
                    for t in range(P):
                        dacc[t] += gx * ds[t, 0] + gy * ds[t, 1] + gz * ds[t, 2]
    for t in range(P):
        total = dN[0] * d_scalars[t, SC_NA] + dN[1] * d_scalars[t, SC_NB] + dN[2] * d_scalars[t, SC_NC]
        if moves_cells[t]:
            # the unrotated regime's rows are used by a thread's first pixel only
            for c in range(0 if fresh else ncells, 2 * ncells):
                for q in range(9):
                    total += M[c, q] * d_cells[t, c, q]
        dacc[t] += total
    scale = prm.r_e_sqr * prm.fluence
    test = scale * acc / prm.steps
    test *= capture
    test *= polar
    test *= omega_px
    image[idx] = test
    factors = capture * polar * omega_px
    for t in range(P):
        dscale = prm.r_e_sqr * d_scalars[t, SC_FLUENCE]
        dfactors = dcap[t] * polar * omega_px + capture * dpolar[t] * omega_px + capture * polar * domega[t]
        dimage[t, idx] = ((dscale * acc + scale * dacc[t]) * factors + scale * acc * dfactors) / prm.steps


@jit
def _capture_derivative(ux, uy, uz, du, det, d_det, prm, thick_tic, dcap):
    """d(capture fraction) of layer thick_tic: exp(-a/p) - exp(-b/p) with p = u.odet."""
    parallax = ux * det[2, 0] + uy * det[2, 1] + uz * det[2, 2]
    a = thick_tic * prm.detector_thickstep * prm.detector_mu
    b = (thick_tic + 1) * prm.detector_thickstep * prm.detector_mu
    dcap_dp = (np.exp(-a / parallax) * a - np.exp(-b / parallax) * b) / (parallax * parallax)
    for t in range(du.shape[0]):
        dp = (du[t, 0] * det[2, 0] + du[t, 1] * det[2, 1] + du[t, 2] * det[2, 2]
              + ux * d_det[t, 2, 0] + uy * d_det[t, 2, 1] + uz * d_det[t, 2, 2])
        dcap[t] = dcap_dp * dp


@jit
def _polar_derivative(kahn, ux, uy, uz, pframe, du, dpolar):
    """d(polarization) along each du: fast_pixel.polarization_fast differentiated in u (the source's frame
    is fixed: no parameter moves the beam's direction or the polarization axis)."""
    (uix, uiy, uiz), (bx, by, bz), (ex, ey, ez) = pframe
    c2t = uix * ux + uiy * uy + uiz * uz
    e_out = ux * ex + uy * ey + uz * ez
    b_out = ux * bx + uy * by + uz * bz
    norm = e_out * e_out + b_out * b_out
    cos2psi = (e_out * e_out - b_out * b_out) / norm if norm > 0.0 else 1.0
    cos2psi = cos2psi if kahn != 0.0 else 1.0
    for t in range(du.shape[0]):
        dc2t = uix * du[t, 0] + uiy * du[t, 1] + uiz * du[t, 2]
        de = ex * du[t, 0] + ey * du[t, 1] + ez * du[t, 2]
        db = bx * du[t, 0] + by * du[t, 1] + bz * du[t, 2]
        dcos = 0.0
        if kahn != 0.0 and norm > 0.0:
            dcos = 4.0 * e_out * b_out * (b_out * de - e_out * db) / (norm * norm)
        # polar = 0.5 (1 + c2t^2 - kahn cos2psi (1 - c2t^2))
        dpolar[t] = 0.5 * (2.0 * c2t * dc2t * (1.0 + kahn * cos2psi) - kahn * dcos * (1.0 - c2t * c2t))
