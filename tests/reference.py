"""A short, plain NumPy reference for one pixel of nanoBragg's image (as STUMPY's tests/naive.py).

It is written from ../shared/reference/nanoBragg-pipeline.md §3 and the physics, not from nbnumba's
kernels, so that it checks them independently. Clarity over speed: plain loops, one pixel at a time.

What it takes from the plan: the settled set-up (detector vectors, sources, unrotated cell and
reciprocal cell, spindle and phi steps, mosaic matrices, crystal size, counts), i.e. what nanoBragg
computes once per image. Everything per pixel is recomputed here: sub-pixel positions, the
scattering vector, the phi rotation and mosaic, fractional and nearest h,k,l, the lattice factor of
each crystal shape, the structure factor, polarization, solid angle, detector capture and scaling.

Covered: detector thickness layers, oversample, sources (direction, wavelength), phi steps (with
nanoBragg's carry-over, quirk D1), mosaic domains, the four crystal shapes, default_F or a
nearest-integer hkl table (passed as a dict by the test, so the hkl reader is not trusted either),
the Kahn polarization factor or -nopolar, the solid angle (or -point_pixel), the capture fraction.
Not covered (raises NotImplementedError): -interpolate, -curved_det, -oversample_thick/_polar/
_omega, -water, -dmin, -roi, -mask, and more than one emulated OpenMP thread.
"""
import math

import numpy as np

R_E_SQR = 7.94079248018965e-30   # classical electron radius squared (m^2), nanoBragg's constant

SQUARE, ROUND, GAUSS, TOPHAT = "SQUARE", "ROUND", "GAUSS", "TOPHAT"


def _vec(v4):
    """nanoBragg keeps vectors as [magnitude, x, y, z]."""
    return np.array(v4[1:4], dtype=np.float64)


def settings(plan):
    """The only place that reads the plan: what nanoBragg sets up once per image (C names)."""
    p = plan.p
    for flag in ("curved_detector", "oversample_thick", "oversample_polar", "oversample_omega"):
        if getattr(p, flag):
            raise NotImplementedError(flag)
    if p.water_size != 0.0 or p.dmin != 0.0 or p.maskimage is not None or plan.interpolate:
        raise NotImplementedError("water, dmin, mask or interpolation")
    if (p.roi_xmin, p.roi_ymin, p.roi_xmax, p.roi_ymax) != (0, 0, p.fpixels, p.spixels) or p.omp_threads > 1:
        raise NotImplementedError("roi or several emulated threads")
    return dict(
        fdet=_vec(p.fdet_vector), sdet=_vec(p.sdet_vector), odet=_vec(p.odet_vector),
        pix0=_vec(p.pix0_vector), polar_axis=_vec(p.polar_vector) / np.linalg.norm(_vec(p.polar_vector)),
        pixel=p.pixel_size, oversample=p.oversample, close_distance=p.close_distance,
        point_pixel=bool(p.point_pixel),
        thicksteps=p.detector_thicksteps, thickstep=p.detector_thickstep, thick=p.detector_thick,
        mu=p.detector_mu,
        # each source: unit vector from the sample toward the source, and its wavelength (m)
        sources=[(np.array(s[:3], dtype=np.float64), float(s[3])) for s in plan.sources],
        a0=_vec(p.a0), b0=_vec(p.b0), c0=_vec(p.c0),                          # real-space axes (m)
        a_star=_vec(p.a_star), b_star=_vec(p.b_star), c_star=_vec(p.c_star),  # 1/Angstrom, unrotated
        spindle=_vec(p.spindle_vector) / np.linalg.norm(_vec(p.spindle_vector)),
        phi0=p.phi0, phistep=p.phistep, phisteps=p.phisteps,
        umats=[np.reshape(np.asarray(u, dtype=np.float64), (3, 3)) for u in p.mosaic_umats],
        Na=p.Na, Nb=p.Nb, Nc=p.Nc, shape=p.xtal_shape, fudge=p.fudge, default_F=p.default_F,
        kahn=p.polarization, nopolar=bool(p.nopolar), fluence=p.fluence,
    )


def rotate_about(v, axis, angle):
    """Rodrigues' rotation of v by angle (rad) about the unit axis."""
    return (v * math.cos(angle) + np.cross(axis, v) * math.sin(angle)
            + axis * np.dot(axis, v) * (1.0 - math.cos(angle)))


def sincg(x, N):
    """The interference function of N unit cells: sin(N x) / sin(x), N at x == 0."""
    return N if x == 0.0 else math.sin(N * x) / math.sin(x)


def sinc3(x):
    """The Fourier transform of a sphere, normalised to 1 at 0."""
    return 1.0 if x == 0.0 else 3.0 * (math.sin(x) / x - math.cos(x)) / (x * x)


def lattice_factor(s, hkl, hkl0):
    """F_latt for the crystal shape (pipeline §3.1)."""
    Na, Nb, Nc = s["Na"], s["Nb"], s["Nc"]
    if s["shape"] == SQUARE:
        F = 1.0
        for x, x0, N in zip(hkl, hkl0, (Na, Nb, Nc)):
            if N > 1:
                # C's form; a non-integer N (API only) through the offset from the nearest node
                F *= sincg(math.pi * x, N) if N == math.floor(N) else sincg(math.pi * (x - x0), N)
        return F
    dh = np.asarray(hkl) - np.asarray(hkl0, dtype=np.float64)
    if s["shape"] == ROUND:
        hrad_sqr = (dh[0] * Na) ** 2 + (dh[1] * Nb) ** 2 + (dh[2] * Nc) ** 2
        return Na * Nb * Nc * 0.723601254558268 * sinc3(math.pi * math.sqrt(hrad_sqr * s["fudge"]))
    # distance from the nearest node in reciprocal space (1/Angstrom), unrotated reciprocal axes,
    # scaled by (Na Nb Nc)^2 as nanoBragg does (quirk D14)
    d_star = dh[0] * s["a_star"] + dh[1] * s["b_star"] + dh[2] * s["c_star"]
    rad_star_sqr = np.dot(d_star, d_star) * (Na * Nb * Nc) ** 2
    if s["shape"] == GAUSS:
        return Na * Nb * Nc * math.exp(-(rad_star_sqr / 0.63 * s["fudge"]))
    if s["shape"] == TOPHAT:
        return Na * Nb * Nc * float(rad_star_sqr * s["fudge"] < 0.3969)
    raise ValueError(s["shape"])


def kahn_polarization(K, incident, diffracted, axis):
    """0.5 (1 + cos^2 2theta - K cos 2psi sin^2 2theta), psi the azimuth of the diffracted ray
    about the beam measured from the plane of the polarization axis (pipeline §3.3)."""
    cos2theta = np.dot(incident, diffracted)
    psi = 0.0
    if K != 0.0:
        B = np.cross(axis, incident)
        B /= np.linalg.norm(B)
        E = np.cross(incident, B)
        E /= np.linalg.norm(E)
        psi = -math.atan2(np.dot(diffracted, B), np.dot(diffracted, E))
    return 0.5 * (1.0 + cos2theta ** 2 - K * math.cos(2.0 * psi) * (1.0 - cos2theta ** 2))


def pixel_intensity(plan, fpixel, spixel, F_table=None):
    """The float intensity of pixel (fpixel, spixel) (photons), before the float32 store.

    F_table: {(h, k, l): F} as written to the -hkl file (required when the plan read one); any
    other h,k,l gets default_F. The serial nanoBragg processes pixels row by row from (0, 0); every
    later pixel starts its phi loop with the rotation the previous pixel ended on (quirk D1).
    """
    s = settings(plan)
    if plan.p.hklfilename is not None and F_table is None:
        raise ValueError("this plan reads an hkl file: pass its table")
    F_table = F_table or {}
    os_ = s["oversample"]
    sub = s["pixel"] / os_
    a0, b0, c0 = s["a0"], s["b0"], s["c0"]
    phis = [s["phi0"] + s["phistep"] * k for k in range(s["phisteps"])]

    # quirk D1: the phi-rotated axes are updated only at phi != 0; the thread's first pixel starts
    # from the unrotated cell, every later one from the last non-zero phi of the pixel before
    carried = (a0, b0, c0)
    nonzero = [phi for phi in phis if phi != 0.0]
    if (fpixel, spixel) != (0, 0) and nonzero:
        carried = tuple(rotate_about(v, s["spindle"], nonzero[-1]) for v in (a0, b0, c0))

    I = 0.0
    polar = omega = None
    capture = 1.0
    for layer in range(s["thicksteps"]):
        depth = layer * s["thickstep"]
        capture = None if s["thick"] != 0.0 else 1.0
        for subS in range(os_):
            for subF in range(os_):
                Fdet = sub * (fpixel * os_ + subF) + sub / 2.0
                Sdet = sub * (spixel * os_ + subS) + sub / 2.0
                pos = s["pix0"] + Fdet * s["fdet"] + Sdet * s["sdet"] + depth * s["odet"]
                R = np.linalg.norm(pos)
                diffracted = pos / R
                if omega is None:   # once per pixel, from its first sub-pixel, with the whole pixel's area
                    omega = 1.0 / R ** 2 if s["point_pixel"] else s["pixel"] ** 2 / R ** 2 * s["close_distance"] / R
                if capture is None:  # once per layer: absorbed fraction between depth and depth + step
                    parallax = np.dot(diffracted, s["odet"])
                    capture = (math.exp(-depth * s["mu"] / parallax)
                               - math.exp(-(depth + s["thickstep"]) * s["mu"] / parallax))
                for toward_source, lam in s["sources"]:
                    incident = -toward_source
                    scattering = (diffracted - incident) / lam        # 1/m
                    if polar is None:  # once per pixel: first sub-pixel, first source
                        polar = 1.0 if s["nopolar"] else kahn_polarization(
                            s["kahn"], incident, diffracted, s["polar_axis"])
                    for phi in phis:
                        if phi != 0.0:
                            carried = tuple(rotate_about(v, s["spindle"], phi) for v in (a0, b0, c0))
                        for U in s["umats"]:
                            a, b, c = (U @ v for v in carried)
                            hkl = (np.dot(a, scattering), np.dot(b, scattering), np.dot(c, scattering))
                            hkl0 = tuple(int(math.ceil(x - 0.5)) for x in hkl)   # nearest, .5 down
                            F_latt = lattice_factor(s, hkl, hkl0)
                            F_cell = F_table.get(hkl0, s["default_F"])
                            I += (F_cell * F_latt) ** 2
    steps = len(s["sources"]) * len(s["umats"]) * s["phisteps"] * os_ * os_
    # capture is the LAST layer's fraction, applied to the sum over all layers (quirk D5)
    return R_E_SQR * s["fluence"] * I / steps * capture * polar * omega
