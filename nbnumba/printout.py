"""nanoBragg's -printout / -printout_pixel block (C 3051-3072).

C prints the values left over from a pixel's last inner iteration: the last sub-pixel's position,
the last source's stol, and h, k, l, F_cell, F_latt of the last phi step and mosaic domain. We rebuild
those from the plan with the kernel's own scalar functions.
"""
import math

from .kernels.vecmath import magnitude, unitize


def printout_lines(plan, image, fpixel, spixel, interpolating):
    from .kernels import pixel as K     # numba's compiled scalar functions, called from Python
    p, prm = plan.p, plan.params[0]
    os_ = p.oversample
    x, y, z = K.subpixel_position(fpixel, spixel, os_ - 1, os_ - 1, (p.detector_thicksteps - 1) * p.detector_thickstep,
                                  p.subpixel_size, os_, plan.det, p.curved_detector != 0, p.distance)
    _, dx, dy, dz = unitize(x, y, z)
    src = plan.sources[-1]
    sx = (dx + src[0]) / src[3]
    sy = (dy + src[1]) / src[3]
    sz = (dz + src[2]) / src[3]
    stol = 0.5 * magnitude(sx, sy, sz)
    cell = plan.cells[1, -1, -1]
    h = cell[0] * sx + cell[1] * sy + cell[2] * sz
    k = cell[3] * sx + cell[4] * sy + cell[5] * sz
    l = cell[6] * sx + cell[7] * sy + cell[8] * sz
    h0, k0, l0 = (int(math.ceil(v - 0.5)) for v in (h, k, l))
    F_latt = K.lattice_factor(prm["xtal_shape"], h, k, l, h0, k0, l0, p.Na, p.Nb, p.Nc, p.fudge, plan.recip)
    F_cell = K.nearest_F(plan.Fhkl, h0, k0, l0, prm, p.default_F)
    if interpolating:
        F_cell = K.tricubic(plan.Fhkl, h, k, l, prm["h_min"], prm["k_min"], prm["l_min"])
    # the per-pixel factors, as the kernel computes them at the first sub-pixel
    x0, y0, z0 = K.subpixel_position(fpixel, spixel, 0, 0, 0.0, p.subpixel_size, os_, plan.det,
                                     p.curved_detector != 0, p.distance)
    R, ux, uy, uz = unitize(x0, y0, z0)
    omega = K.solid_angle(R, prm, p.point_pixel != 0)
    polar = 1.0
    if not p.nopolar:
        s0 = plan.sources[0]
        _, ix, iy, iz = unitize(-s0[0], -s0[1], -s0[2])
        polar = K.polarization_factor(p.polarization, ix, iy, iz, ux, uy, uz, *plan.polar_axis)
    capture = 1.0
    if p.detector_thick != 0.0:
        capture = K.layer_capture(ux, uy, uz, plan.det, prm, p.detector_thicksteps - 1)
    value = float(image[spixel, fpixel])
    scale = prm["r_e_sqr"] * prm["fluence"] * capture * polar * omega
    I = value / scale * p.steps if scale else float("nan")
    twotheta = math.atan2(math.sqrt(y * y + z * z), x)
    lines = ["%4d %4d : stol = %g or %g" % (fpixel, spixel, stol, math.sin(twotheta / 2.0) / (p.lambda0 * 1e10)),
             "at %g %g %g" % (x, y, z),
             "hkl= %f %f %f  hkl0= %d %d %d" % (h, k, l, h0, k0, l0),
             " F_cell=%g  F_latt=%g   I = %g" % (F_cell, F_latt, I),
             "I/steps %15.10g" % (I / p.steps),
             "polar   %15.10g" % polar,
             "omega   %15.10g" % omega,
             "capfrac %15.10g" % capture,
             "pixel   %15.10g" % value,
             "real-space cell vectors (Angstrom):",
             "     %-10s  %-10s  %-10s" % ("a", "b", "c")]
    for i, axis in enumerate("XYZ"):
        lines.append("%s: %11.8f %11.8f %11.8f" % (axis, cell[i] * 1e10, cell[3 + i] * 1e10, cell[6 + i] * 1e10))
    return lines


def printout(result, log=print):
    """The blocks for the chosen pixel (or every rendered pixel when none was chosen)."""
    p = result.plan.p
    if not p.printout:
        return
    off = result.interpolation_off_at

    def block(idx):
        interpolating = result.plan.interpolate and (off < 0 or idx < off)
        for line in printout_lines(result.plan, result.image, idx % p.fpixels, idx // p.fpixels, interpolating):
            log(line)

    f, s = p.printout_fpixel, p.printout_spixel
    if f >= 0:
        if 0 <= f < p.fpixels and 0 <= s < p.spixels:
            block(s * p.fpixels + f)
        return
    from .render import pixel_order
    for idx in pixel_order(p)[0]:
        block(int(idx))
