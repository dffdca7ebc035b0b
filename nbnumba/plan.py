"""From parsed parameters to the kernel's plan: nanoBragg.c's set-up (1118-2530) in its order.

`make_plan(params, log)` never mutates `params`; it returns a Plan holding the settled values
(C's names), the plain arrays the kernels read, and the shared random-number state that the noise
image continues from.
"""
import copy
import math
import os
import sys
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import checks, sampling
from .kernels import vecmath
from .crystal import build_cell, crystal_size
from .detector import apply_convention, beam_centre_defaults, detector_size, normalize_axes, place_detector
from .config import skips
from .errors import NanoBraggError
from .kernels import layout as K
from .random_numbers import NanoRNG, mosaic_domain_umats
from .sampling import RTD

R_E_SQR = 7.94079248018965e-30
AVOGADRO = 6.02214179e23
WATER_F = 2.57
WATER_MW = 18.0
SOURCE_DISTANCE = 10.0
SHAPES = {"SQUARE": K.SQUARE, "ROUND": K.ROUND, "GAUSS": K.GAUSS, "TOPHAT": K.TOPHAT}


@dataclass
class Plan:
    p: object                      # settled parameters (C's variable names)
    params: np.ndarray             # one layout.PARAMS_DTYPE record: the scalars the kernels read
    det: np.ndarray                # rows fdet, sdet, odet, pix0, beam
    polar_axis: np.ndarray
    sources: np.ndarray            # (n, 4): unit direction toward the source, lambda (m)
    cells: np.ndarray              # (2, phisteps, domains, 9)
    recip: np.ndarray              # a*, b*, c* (1/Angstrom), unrotated
    Fhkl: np.ndarray
    interpolate: bool
    rng: NanoRNG
    steps: int
    fdump_to_write: object = None  # an HklTable to save as Fdump after the run's inputs are known good

    def arrays(self):
        """The arrays every kernel and driver takes, in layout.PLAN_ARRAYS order, each C-ordered."""
        return tuple(np.ascontiguousarray(getattr(self, name)) for name, _, _ in K.PLAN_ARRAYS)


class Exposure(NamedTuple):
    """C 1130-1148: the fluence from -flux/-exposure/-beamsize, the sample clipped to the beam, the flux."""
    fluence: float
    flux: float
    sample_y: float
    sample_z: float


def _exposure(p, log):
    """C 1130-1148 from the configuration; returns an Exposure and changes nothing."""
    fluence, flux, sample_y, sample_z = p.fluence, p.flux, p.sample_y, p.sample_z
    if flux != 0.0 and p.exposure > 0.0 and p.beamsize >= 0:
        fluence = flux * p.exposure / p.beamsize / p.beamsize
    if p.beamsize >= 0:
        if p.beamsize < sample_y:
            log("WARNING: clipping sample (%g m high) with beam (%g m)" % (sample_y, p.beamsize))
            sample_y = p.beamsize
        if p.beamsize < sample_z:
            log("WARNING: clipping sample (%g m wide) with beam (%g m)" % (sample_z, p.beamsize))
            sample_z = p.beamsize
    if p.exposure > 0.0:
        flux = fluence / p.exposure * p.beamsize * p.beamsize
    return Exposure(fluence=fluence, flux=flux, sample_y=sample_y, sample_z=sample_z)


def _auto_interpolate(p, log):
    """C 1778-1789: the interpolate flag, chosen from Na, Nb, Nc (as parsed) when it is 2 (auto)."""
    if p.interpolate > 1:
        if p.Na <= 2 or p.Nb <= 2 or p.Nc <= 2:
            log("auto-selected tricubic interpolation of structure factors")
            return 1
        log("auto-selected no interpolation")
        return 0
    return p.interpolate


def _mosaic_umats(p, rng):
    """C 2436-2458: one rotation matrix per mosaic domain from the mosaic seed, drawn from the shared `rng`
    (which it advances); domain 0 is then forced aligned. Returns the list of 9-arrays."""
    return list(mosaic_domain_umats(rng, p.mosaic_spread, p.mosaic_domains, np.array([p.mosaic_seed], np.int64)))


def _structure_factors(p, log, read_table=None):
    """C 2103-2257 (hkl passes, Fdump read) without writing anything yet: (table or None, table to write
    as Fdump or None). Reads p.fdump_exists, which make_plan settles at the banner. read_table: read_hkl
    or a stand-in with its signature (a batch worker's cache of parsed files)."""
    table = None
    to_write = None
    if p.hklfilename is None:
        if p.fdump_exists:
            from .io.fdump import read_fdump
            log("reading Fs from %s" % p.dumpfilename)
            table = read_fdump(p.dumpfilename, log)
    else:
        if read_table is None:
            from .io.hkl import read_hkl as read_table
        table = read_table(p.hklfilename, p.default_F, log, warn=lambda m: print(m, file=sys.stderr))
        to_write = None if skips(p, "dumpfile") else table
    return table, to_write


def _phi_cells(p):
    """The a, b, c actually used for every (phi step, mosaic domain), in C's arithmetic.

    C keeps the phi-rotated axes in per-thread variables updated only when phi != 0, so a phi
    step of exactly 0 reuses the thread's last rotation (quirk D1). Regime 0 is a thread's first
    phi loop (starting from the unrotated cell), regime 1 every later loop.
    """
    cells = np.zeros((2, p.phisteps, p.mosaic_domains, 9))
    carry = (p.a0, p.b0, p.c0)
    for regime in range(2):
        for phi_tic in range(p.phisteps):
            phi = p.phi0 + p.phistep * phi_tic
            if phi != 0.0:
                carry = tuple(vecmath.rotate_axis_v4(v, p.spindle_vector, phi) for v in (p.a0, p.b0, p.c0))
            for mos in range(p.mosaic_domains):
                u = p.mosaic_umats[mos]
                for j, v in enumerate(carry):
                    if p.mosaic_spread > 0.0:
                        cells[regime, phi_tic, mos, 3 * j:3 * j + 3] = (
                            u[0] * v[1] + u[1] * v[2] + u[2] * v[3],
                            u[3] * v[1] + u[4] * v[2] + u[5] * v[3],
                            u[6] * v[1] + u[7] * v[2] + u[8] * v[3])
                    else:
                        cells[regime, phi_tic, mos, 3 * j:3 * j + 3] = v[1:4]
    return cells


def _sources(p, log):
    """C 2317-2434: a source file or the divergence x dispersion grid, then unitized directions.

    Reads the settled step counts and ranges and the unitized beam, polar and vert vectors from make_plan's
    partially settled copy; returns (sources, divsteps): the (n, 4) array of unit directions and lambda,
    and C's divsteps (the grid points kept by the round cut; p.divsteps as it was with a source file).
    Changes nothing in p."""
    xs, ys, zs, Is, lams = [], [], [], [], []
    if p.sourcefilename is not None:
        from .io.textfile import read_text_file
        cols = read_text_file(p.sourcefilename, 5)
        if len(cols[0]) == 0:
            raise NanoBraggError("%s: no sources could be read (reading source definition file)" % p.sourcefilename)
        b = p.beam_vector
        for X, Y, Z, I, lam in zip(*cols):
            xs.append(-SOURCE_DISTANCE * b[1] if math.isnan(X) else X)
            ys.append(-SOURCE_DISTANCE * b[2] if math.isnan(Y) else Y)
            zs.append(-SOURCE_DISTANCE * b[3] if math.isnan(Z) else Z)
            Is.append(1.0 if math.isnan(I) else I)
            lams.append(p.lambda0 if math.isnan(lam) else lam)
            if lams[-1] == 0.0 or (xs[-1], ys[-1], zs[-1]) == (0.0, 0.0, 0.0):
                # C reads a comment line, or a last line without a newline, as zeros (quirk B14)
                print("WARNING: %s: source %d has a zero position or wavelength (a comment or an "
                      "unterminated last line?); the image will be NaN, as in nanoBragg.c"
                      % (p.sourcefilename, len(xs) - 1), file=sys.stderr)
    divsteps = p.divsteps
    if not xs:
        grid = []
        with np.errstate(all="ignore"):
            for hdiv_tic in range(p.hdivsteps):
                for vdiv_tic in range(p.vdivsteps):
                    hdiv = p.hdivstep * hdiv_tic - p.hdivrange / 2.0
                    vdiv = p.vdivstep * vdiv_tic - p.vdivrange / 2.0
                    # IEEE division: a zero range gives 0/0 = NaN, which never cuts (quirk D19)
                    test = np.float64(hdiv * hdiv - p.hdivstep * p.hdivstep / 4.0 * (1 - p.hdivsteps % 2)) \
                        / np.float64(p.hdivrange) / np.float64(p.hdivrange)
                    test += np.float64(vdiv * vdiv - p.vdivstep * p.vdivstep / 4.0 * (1 - p.vdivsteps % 2)) \
                        / np.float64(p.vdivrange) / np.float64(p.vdivrange)
                    if p.round_div and test * 4.0 > 1.1:
                        continue
                    grid.append((hdiv, vdiv))
                    log("divergence deviation: %g %g" % (hdiv, vdiv))
        divsteps = len(grid)
        for disp_tic in range(p.dispsteps):
            lam = p.lambda0 * (1.0 + p.dispstep * disp_tic - p.dispersion / 2.0)
            log("lambda%d = %.15g" % (disp_tic, lam))
        weight = 1.0 / (divsteps * p.dispsteps) if divsteps * p.dispsteps else math.inf
        for hdiv, vdiv in grid:
            v = [0.0] + [-SOURCE_DISTANCE * p.beam_vector[i] for i in (1, 2, 3)]
            v = vecmath.rotate_axis_v4(v, p.polar_vector, vdiv)
            v = vecmath.rotate_axis_v4(v, p.vert_vector, hdiv)
            for disp_tic in range(p.dispsteps):
                xs.append(v[1])
                ys.append(v[2])
                zs.append(v[3])
                Is.append(weight)
                lams.append(p.lambda0 * (1.0 + p.dispstep * disp_tic - p.dispersion / 2.0))
    n = len(xs)
    log("  created a total of %d sources:" % n)
    src = np.zeros((n, 4))
    with np.errstate(over="ignore", invalid="ignore"):    # C's IEEE results for absurd positions, unannounced
        for i in range(n):
            v = [0.0, xs[i], ys[i], zs[i]]
            vecmath.unitize_v4(v)
            src[i] = (v[1], v[2], v[3], lams[i])
            log("%g %g %g   %g %g" % (xs[i], ys[i], zs[i], Is[i], lams[i]))
    return src, divsteps


def _settle(p, values):
    """Applies a set-up step's returned values (a NamedTuple with C's names as fields) to make_plan's
    private copy p; lists are copied, so nothing the step returned is shared with the settled record."""
    for name, value in values._asdict().items():
        setattr(p, name, list(value) if isinstance(value, list) else value)


def make_plan(params, log=print, read_table=None):
    """The Plan of one run, from `params` (never changed). read_table: how -hkl files are read (default
    io.hkl.read_hkl; a batch worker passes its cache of parsed tables).

    make_plan works on a private deep copy `p`, the record of settled nanoBragg variables that the Plan
    carries as plan.p for the outputs. The set-up steps (detector.detector_size, _exposure,
    detector.beam_centre_defaults, apply_convention, normalize_axes, place_detector, _auto_interpolate,
    crystal.build_cell, crystal_size, _structure_factors, _sources, _mosaic_umats and the sampling rules)
    only read their argument and return values; make_plan applies each result to p (_settle) in C's order,
    so a later step reads what the earlier ones settled from the partially settled p it is passed."""
    p = copy.deepcopy(params)
    checks.check_values(p)
    # 1118-1170: detector size, fluence, beam centre defaults, ROI
    _settle(p, detector_size(p))
    _settle(p, _exposure(p, log))
    _settle(p, beam_centre_defaults(p))
    _settle(p, apply_convention(p))
    _settle(p, normalize_axes(p, log))

    log("nanoBragg nanocrystal diffraction simulator - James Holton and Ken Frankel 5-17-17")
    p.fdump_exists = p.hklfilename is None and not skips(p, "dumpfile") and os.path.isfile(p.dumpfilename)
    if p.hklfilename is None and not p.fdump_exists and p.default_F == 0.0:
        raise NanoBraggError("no structure factors: give -hkl FILE or -default_F F (and no %s was found)"
                             % p.dumpfilename)
    if p.matfilename is None and p.a[0] == 0.0:
        raise NanoBraggError("no unit cell: give -cell a b c alpha beta gamma or -mat FILE")
    if p.maskimage is not None and p.maskimage.size < p.fpixels * p.spixels:
        raise NanoBraggError("%s has %d pixels, the detector %dx%d"
                             % (p.maskfilename or "the mask (maskimage)", p.maskimage.size, p.fpixels, p.spixels))

    # 1380-1694: step counts
    p.phisteps, p.osc, p.phistep = sampling.phi_steps(p.phisteps, p.osc, p.phistep)
    p.hdivsteps, p.hdivrange, p.hdivstep = sampling.range_steps(p.hdivsteps, p.hdivrange, p.hdivstep)
    p.vdivsteps, p.vdivrange, p.vdivstep = sampling.range_steps(p.vdivsteps, p.vdivrange, p.vdivstep)
    p.dispsteps, p.dispersion, p.dispstep = sampling.range_steps(p.dispsteps, p.dispersion, p.dispstep)
    p.detector_thicksteps, p.detector_thick, p.detector_thickstep = sampling.thickness_steps(
        p.detector_thicksteps, p.detector_thick, p.detector_thickstep)
    if p.detector_thick > 0.0 and p.detector_mu < 0.0:
        p.detector_mu = 1.0 / p.detector_thick
        log("WARNING: setting detector attenuation depth to %g m" % p.detector_mu)
    p.mosaic_domains, p.mosaic_spread = sampling.mosaic_domains(p.mosaic_domains, p.mosaic_spread, log)
    p.hdivsteps, p.hdivrange, p.hdivstep = sampling.sanitize(p.hdivsteps, p.hdivrange, p.hdivstep)
    p.vdivsteps, p.vdivrange, p.vdivstep = sampling.sanitize(p.vdivsteps, p.vdivrange, p.vdivstep)
    p.dispsteps, p.dispersion, p.dispstep = sampling.sanitize(p.dispsteps, p.dispersion, p.dispstep)
    p.detector_thicksteps, p.detector_thick, p.detector_thickstep = sampling.sanitize(
        p.detector_thicksteps, p.detector_thick, p.detector_thickstep)
    checks.check_steps(p)

    log("%s convention selected." % p.beam_convention.lower())
    _settle(p, place_detector(p, log))
    checks.check_geometry(p)

    p.interpolate = _auto_interpolate(p, log)

    rng = NanoRNG()
    _settle(p, build_cell(p, rng, log))
    checks.check_cell(p)
    _settle(p, crystal_size(p, log))

    table, to_write = _structure_factors(p, log, read_table)
    hkls = table.hkls if table is not None else 0
    if hkls == 0:
        p.interpolate = 0

    if p.stolfilename is not None:
        from .io.textfile import read_text_file
        log("reading %s" % p.stolfilename)
        cols = read_text_file(p.stolfilename, 2)
        if len(cols[0]) == 0:
            raise NanoBraggError("%s: no data in input file" % p.stolfilename)

    for thick_tic in range(p.detector_thicksteps):
        log("thick%d = %g um" % (thick_tic, p.detector_thickstep * thick_tic * 1e6))
    for phi_tic in range(p.phisteps):
        log("phi%d = %g" % (phi_tic, (p.phi0 + p.phistep * phi_tic) * RTD))

    sources, p.divsteps = _sources(p, log)

    checks.check_work(p, len(sources), table.Fhkl.size if table is not None else 0)
    p.mosaic_umats = _mosaic_umats(p, rng)
    log("  created a total of %d mosaic domains" % p.mosaic_domains)

    if p.oversample <= 0:
        p.oversample = 1
    steps = len(sources) * p.mosaic_domains * p.phisteps * p.oversample * p.oversample
    p.steps = steps
    p.subpixel_size = p.pixel_size / p.oversample
    _summary(p, hkls, len(sources), log)
    I_bg = (WATER_F * WATER_F * R_E_SQR * p.fluence * p.water_size * p.water_size * p.water_size
            * 1e6 * AVOGADRO / WATER_MW)

    params = np.zeros(1, K.PARAMS_DTYPE)
    prm = params[0]
    for name in ("oversample", "detector_thicksteps", "curved_detector", "point_pixel", "oversample_thick",
                 "oversample_polar", "oversample_omega", "nopolar", "phisteps", "mosaic_domains", "fpixels",
                 "subpixel_size", "pixel_size", "detector_thickstep", "detector_thick", "detector_mu", "distance",
                 "close_distance", "dmin", "polarization", "Na", "Nb", "Nc", "fudge", "default_F", "water_size",
                 "fluence"):
        prm[name] = getattr(p, name)
    prm["xtal_shape"] = SHAPES[p.xtal_shape]
    prm["hkls"] = hkls
    if table is not None:
        for axis in "hkl":
            for end in ("min", "max", "range"):
                prm["%s_%s" % (axis, end)] = getattr(table, "%s_%s" % (axis, end))
        Fhkl = np.ascontiguousarray(table.Fhkl, dtype=np.float64)
    else:
        Fhkl = np.zeros((1, 1, 1))
    prm["I_bg"] = I_bg
    prm["r_e_sqr"] = R_E_SQR
    prm["steps"] = steps
    det = np.array([p.fdet_vector[1:4], p.sdet_vector[1:4], p.odet_vector[1:4], p.pix0_vector[1:4],
                    p.beam_vector[1:4]], dtype=np.float64)
    # polarization_factor re-unitizes the axis on every call (in place, per thread): do it once here
    axis = list(p.polar_vector)
    vecmath.unitize_v4(axis)
    recip = np.array([*p.a_star[1:4], *p.b_star[1:4], *p.c_star[1:4]], dtype=np.float64)
    return Plan(p=p, params=params, det=det, polar_axis=np.array(axis[1:4]), sources=sources,
                cells=_phi_cells(p), recip=recip, Fhkl=Fhkl, interpolate=bool(p.interpolate), rng=rng,
                steps=steps, fdump_to_write=to_write)


def save_fdump(plan, log=print, outputs=None):
    """C writes Fdump.bin right after reading -hkl (2227-2242); we do it once the inputs are known good:
    at once, or, given the run's OutputTransaction (`nbnumba simulate`), together with the images when
    write_outputs puts them in place (never when the run fails or is interrupted)."""
    if plan.fdump_to_write is None:
        return
    from .io.fdump import fdump_parts, write_fdump
    p = plan.p
    if outputs is not None:
        # the CLI's outputs are one transaction: the dump is written with the images, at the end
        from .io.atomic import can_open_for_writing
        if can_open_for_writing(p.dumpfilename):
            outputs.defer(p.dumpfilename, *fdump_parts(plan.fdump_to_write))
            log("writing dump file for next time: %s" % p.dumpfilename)
        else:
            log("WARNING: unable to open dump file: %s" % p.dumpfilename)
        return
    try:
        write_fdump(p.dumpfilename, plan.fdump_to_write)
        log("writing dump file for next time: %s" % p.dumpfilename)
    except OSError:
        log("WARNING: unable to open dump file: %s" % p.dumpfilename)


def _summary(p, hkls, nsources, log):
    """C 2466-2511: the settings summary."""
    shape = {"ROUND": "ellipsoidal", "SQUARE": "parallelpiped", "GAUSS": "gaussian", "TOPHAT": "tophat-spot"}
    log("  %d initialized hkls (all others =%g)" % (hkls, p.default_F))
    log("  %s xtal: %.0fx%.0fx%.0f cells" % (shape[p.xtal_shape], p.Na, p.Nb, p.Nc))
    log("  wave=%g meters +/- %g%% in %d steps" % (p.lambda0, p.dispersion * 100, p.dispsteps))
    if p.nopolar:
        log("  polarization effect disabled")
    else:
        log("  Kahn polarization factor: %f" % p.polarization)
    if p.curved_detector:
        log("  curved detector: all pixels same distance from origin")
    if p.point_pixel:
        log("  pixel obliquity effect disabled")
    log("  incident fluence: %g photons/m^2" % p.fluence)
    log("  distance=%g detsize=%gx%g  pixel=%g meters (%dx%d pixels)"
        % (p.distance, p.detsize_f, p.detsize_s, p.pixel_size, p.fpixels, p.spixels))
    log("  sensor is %g m thick in %d layers with mu= %g" % (p.detector_thick, p.detector_thicksteps, p.detector_mu))
    log("  Xbeam=%g Ybeam=%g" % (p.Xbeam, p.Ybeam))
    log("  Fbeam=%g Sbeam=%g" % (p.Fbeam, p.Sbeam))
    log("  Xclose=%g Yclose=%g" % (p.Xclose, p.Yclose))
    log("  Fclose=%g Sclose=%g" % (p.Fclose, p.Sclose))
    for label, v in (("DIRECTION_OF_DETECTOR_X-AXIS", p.fdet_vector), ("DIRECTION_OF_DETECTOR_Y-AXIS", p.sdet_vector),
                     ("DIRECTION_OF_DETECTOR_Z-AXIS", p.odet_vector), ("INCIDENT_BEAM_DIRECTION", p.beam_vector),
                     ("spindle ROTATION_AXIS", p.spindle_vector),
                     ("POLARIZATION_PLANE_NORMAL", vecmath.cross_v4(p.beam_vector, p.polar_vector))):
        log("  %s= %g %g %g" % (label, v[1], v[2], v[3]))
    log("  dials origin= %g %g %g" % tuple(p.dials_origin[1:4]))
    log("  roi: %d < x < %d && %d < y < %d" % (p.roi_xmin, p.roi_xmax, p.roi_ymin, p.roi_ymax))
    log("  hdivrange=%g hdivstep=%g  radians" % (p.hdivrange, p.hdivstep))
    log("  vdivrange=%g vdivstep=%g  radians" % (p.vdivrange, p.vdivstep))
    log("  %d divergence steps" % p.divsteps)
    log("  %d sources" % nsources)
    log("  %d mosaic domains over mosaic spread of %g degrees" % (p.mosaic_domains, p.mosaic_spread * RTD))
    log("  %d phi steps from %g to %g degrees" % (p.phisteps, p.phi0 * RTD, (p.phi0 + p.osc) * RTD))
    extra = "".join(f for f, on in ((" +thick", p.oversample_thick), (" +polar", p.oversample_polar),
                                    (" +omega", p.oversample_omega)) if on)
    log("  %dx%d pixel oversample steps%s" % (p.oversample, p.oversample, extra))
    if p.maskimage is not None:
        log("  skipping zero-flagged pixels in %s" % p.maskfilename)
    if p.calculate_noise:
        log("")
        log("  noise image paramters:")
        log("  seed: %d" % p.seed)
        log("  water droplet size: %g m" % p.water_size)
