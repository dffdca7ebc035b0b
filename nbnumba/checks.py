"""Refusals of input that cannot describe a run, made before anything is allocated or written.

nanoBragg.c takes these values without a word and writes all-zero or NaN images (a zero pixel size,
distance or wavelength, a degenerate cell, an ROI that selects nothing, a missing `-mat`), or crashes
or runs out of memory. nbnumba stops instead with one line naming the flag (or file and line) and
the value; `NanoBraggError` makes that exit code 9. Every legal input keeps C's result: these
functions only read the parameters, never change them.

plan.make_plan calls `check_values` first, `check_steps` once the step counts are settled,
`check_cell` once the cell is built and `check_work` before the per-domain tables are built;
io.smv and io.hkl call `check_memory` before allocating an image or a structure-factor grid.
"""
import math
import os

import numpy as np

from .errors import NanoBraggError

# tables built in Python before the render (mosaic domains x phi steps, the divergence x dispersion
# sources, detector layers): about 20 us per entry, so ten million take minutes; beyond is hours
MAX_TABLE = 10_000_000
# cell lengths (Angstrom) far beyond any crystal, and inside what double arithmetic of volumes can hold
MIN_CELL, MAX_CELL = 1e-6, 1e10
# volume / (a b c) below this is a flat cell (about 0.06 degrees from coplanar axes)
MIN_SHAPE = 1e-6
# inner steps per pixel: nanoBragg.c keeps this count in an int, which overflows beyond
MAX_PIXEL_STEPS = 2**31 - 1
# inner steps of the whole image (pixels x steps x layers): about 2.4e8 run per second per core,
# so 1e15 is two days on 24 cores
MAX_TOTAL_STEPS = 10**15


def _g(x):
    return "%g" % x


def _bad(x):
    """True for NaN, +-inf and non-positive values."""
    return not (math.isfinite(x) and x > 0.0)


def _same(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def _named(p, name, flag_text):
    """Where a value came from: a -mask/-img header key (when the header's value is still the one in
    use) or the command-line flag."""
    origin = getattr(p, "header_origin", None) or {}
    if name in origin:
        path, key, text, value = origin[name]
        if _same(getattr(p, name), value):
            return "%s=%s in the header of %s" % (key, text, path)
    return flag_text


# ------------------------------------------------------------------ memory

def available_memory():
    """Bytes this process may still allocate: MemAvailable, lowered by a cgroup limit, else sysconf."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        if limit != "max":
            with open("/sys/fs/cgroup/memory.current") as fh:
                used = int(fh.read().strip())
            avail = min(avail, max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    return avail


def _gib(n):
    return "%.1f GiB" % (n / 2.0**30) if n >= 2**30 else "%.0f MiB" % max(n / 2.0**20, 1)


def check_memory(need, what):
    """Refuses `what` when its estimated `need` (bytes) exceeds the memory available."""
    avail = available_memory()
    if avail is not None and need > avail:
        raise NanoBraggError("%s needs about %s of memory, %s is available" % (what, _gib(need), _gib(avail)))


# bytes per detector pixel: float image 4, int image 2, noise image 2, pgm 1
# bytes per rendered (ROI) pixel: order int64, omega float64, two int8 flags, the ROI index list and
# the mask filter's temporaries
_PER_ROI_PIXEL = 8 + 8 + 1 + 1 + 8 + 9


def pixel_bytes(npix, nroi, noise=True, pgm=True, mask=False):
    return npix * (4 + 2 + (2 if noise else 0) + (1 if pgm else 0) + (2 if mask else 0)) + nroi * _PER_ROI_PIXEL


def frame_bytes(pixels, as_float):
    """A -mask/-img frame (uint16 words and the copy kept) and the run on a detector of that size."""
    return pixels * (2 + (4 if as_float else 2)) + pixel_bytes(pixels, pixels)


# ------------------------------------------------------------------ values

def _detector_axis(p, axis):
    """Where the size of detector axis 'f' or 's' comes from (a pixel count or a size in mm), refused
    when it cannot be a size at all."""
    n = getattr(p, axis + "pixels")
    if n:
        what = _named(p, axis + "pixels", "-detpixels %d" % n)
        if n < 0:
            raise NanoBraggError("%s: the detector size must be a positive number of pixels" % what)
        return what
    size = getattr(p, "detsize_" + axis)
    what = "-detsize_%s %s" % (axis, _g(size * 1000.0))
    if _bad(size):
        raise NanoBraggError("%s: the detector size must be a positive number of mm" % what)
    return what


_DEG = 180.0 / math.pi
# angles, ranges and steps that C feeds to sin/cos or to step counts: infinite or NaN, C's image is NaN
_FINITE = (("phi0", "-phi", _DEG), ("osc", "-osc", _DEG), ("phistep", "-phistep", _DEG),
           ("detector_twotheta", "-twotheta", _DEG), ("detector_rotx", "-detector_rotx", _DEG),
           ("detector_roty", "-detector_roty", _DEG), ("detector_rotz", "-detector_rotz", _DEG),
           ("mosaic_spread", "-mosaic", _DEG), ("hdivrange", "-hdivrange", 1000.0), ("vdivrange", "-vdivrange", 1000.0),
           ("hdivstep", "-hdivstep", 1000.0), ("vdivstep", "-vdivstep", 1000.0), ("dispersion", "-dispersion", 100.0),
           ("dispstep", "-dispstep", 100.0), ("detector_thick", "-detector_thick", 1e6),
           ("detector_thickstep", "-detector_thickstep", 1e6))


def check_values(p):
    """Pixel size, distance, wavelength, detector size, ROI, crystal size, cell and -mat, and the memory
    of the detector arrays: called by make_plan before it derives anything."""
    from .config import SKIPPABLE
    for name in p.skip.split(","):
        if name not in SKIPPABLE + ("none",):
            raise NanoBraggError("skip: %r is not one of %s" % (name, ", ".join(SKIPPABLE)))
    if p.nxs_image == "noise" and not p.calculate_noise and (p.nxsfile or p.cbffile):
        raise NanoBraggError("-nxs_image noise: there is no noise image (-nonoise)")
    if p.nxsfile and p.curved_detector:
        raise NanoBraggError("-nxsfile %s: NXmx cannot describe a curved detector (-curved_det)" % p.nxsfile)
    if _bad(p.pixel_size):
        raise NanoBraggError("%s: the pixel size must be a positive number of mm"
                             % _named(p, "pixel_size", "-pixel %s" % _g(p.pixel_size * 1000.0)))
    if math.isnan(p.close_distance):
        if _bad(p.distance):
            raise NanoBraggError("%s: the detector distance must be a positive number of mm"
                                 % _named(p, "distance", "-distance %s" % _g(p.distance * 1000.0)))
    elif not math.isfinite(p.close_distance) or p.close_distance == 0.0:
        raise NanoBraggError("%s: the detector distance must be a non-zero number of mm"
                             % _named(p, "close_distance", "-close_distance %s" % _g(p.close_distance * 1000.0)))
    if _bad(p.lambda0):
        raise NanoBraggError("%s: the wavelength must be a positive number of Angstrom"
                             % _named(p, "lambda0", "-lambda %s (or -energy)" % _g(p.lambda0 * 1e10)))
    for name, flag, scale in _FINITE:
        v = getattr(p, name)
        if not math.isfinite(v):
            raise NanoBraggError("%s: must be a finite number" % _named(p, name, "%s %s" % (flag, _g(v * scale))))
    if p.flux != 0.0 and p.exposure > 0.0 and p.beamsize == 0.0:
        raise NanoBraggError("-beamsize 0 with -flux %s: the fluence (flux x exposure / beamsize^2) would be infinite"
                             % _g(p.flux))
    if p.misset[0] > 0.0 and not all(math.isfinite(x) for x in p.misset[1:4]):
        raise NanoBraggError("-misset %s %s %s: the misset angles must be finite numbers"
                             % tuple(_g(x * _DEG) for x in p.misset[1:4]))
    for name, flag in (("Xbeam", "-Xbeam"), ("Ybeam", "-Ybeam"), ("Xclose", "-Xclose"), ("Yclose", "-Yclose"),
                       ("ORGX", "-ORGX"), ("ORGY", "-ORGY")):
        v = getattr(p, name)  # NaN means unset (C's default), infinity places the detector nowhere
        if math.isinf(v):
            scale = 1.0 if name.startswith("ORG") else 1000.0
            raise NanoBraggError("%s: the beam centre must be a finite number"
                                 % _named(p, name, "%s %s" % (flag, _g(v * scale))))
    origins = {axis: _detector_axis(p, axis) for axis in "fs"}
    from .detector import detector_size     # the counts make_plan will settle on
    size = detector_size(p)
    fpixels, spixels = size.fpixels, size.spixels
    for axis, count in (("f", fpixels), ("s", spixels)):
        if count < 1:
            raise NanoBraggError("%s with a %s mm pixel: the detector has no pixel"
                                 % (origins[axis], _g(p.pixel_size * 1000.0)))
    # the region of interest as make_plan settles it, clipped to the detector as the render does
    xmin = p.roi_xmin if p.roi_xmin >= 0 else 0
    xmax = p.roi_xmax if p.roi_xmax >= 0 else fpixels
    ymin = p.roi_ymin if p.roi_ymin >= 0 else 0
    ymax = p.roi_ymax if p.roi_ymax >= 0 else spixels
    x0, x1, y0, y1 = xmin, min(xmax, fpixels - 1), ymin, min(ymax, spixels - 1)
    if x0 > x1 or y0 > y1:
        raise NanoBraggError("-roi %d %d %d %d: the region of interest selects no pixel of the %dx%d detector"
                             % (p.roi_xmin, p.roi_xmax, p.roi_ymin, p.roi_ymax, fpixels, spixels))
    for name, flag in (("Na", "-Na"), ("Nb", "-Nb"), ("Nc", "-Nc")):
        if not math.isfinite(getattr(p, name)):
            raise NanoBraggError("%s %s: the crystal size must be a finite number of cells"
                                 % (flag, _g(getattr(p, name))))
    for name in ("sample_x", "sample_y", "sample_z"):
        v = getattr(p, name)
        if math.isinf(v):
            raise NanoBraggError("-xtalsize/-%s %s: the crystal size must be a finite number of mm"
                                 % (name, _g(v * 1000.0)))
    if p.user_cell:
        _check_cell_values(p)
    if p.matfilename is not None:
        check_matrix(p.matfilename)
    npix = fpixels * spixels
    nroi = (x1 - x0 + 1) * (y1 - y0 + 1)
    check_memory(pixel_bytes(npix, nroi, p.calculate_noise, p.write_pgm, p.maskimage is not None),
                 "a %dx%d-pixel detector" % (fpixels, spixels))


def _check_cell_values(p):
    """-cell: C's own volume formula, after its defaults, must give a positive volume."""
    a = p.a[0]
    b = a if p.b[0] <= 0.0 else p.b[0]          # as C: a NaN is not <= 0 and stays
    c = a if p.c[0] <= 0.0 else p.c[0]
    angles = [math.pi / 2 if x <= 0.0 else x for x in (p.alpha, p.beta, p.gamma)]
    deg = [x * 180.0 / math.pi for x in (p.alpha, p.beta, p.gamma)]
    flag = "-cell %s %s %s %s %s %s" % tuple(_g(x) for x in (p.a[0], p.b[0], p.c[0], *deg))
    if not all(math.isfinite(x) for x in (a, b, c, *angles)) or a <= 0.0:
        raise NanoBraggError("%s: the cell lengths and angles must be finite and the lengths positive" % flag)
    if not all(MIN_CELL <= x <= MAX_CELL for x in (a, b, c)):
        raise NanoBraggError("%s: cell lengths must lie between %g and %g A" % (flag, MIN_CELL, MAX_CELL))
    if not all(x < math.pi for x in angles):
        raise NanoBraggError("%s: a degenerate unit cell (angles must lie strictly between 0 and 180 degrees)" % flag)
    alpha, beta, gamma = angles
    s = (alpha + beta + gamma) / 2
    skew = abs(math.sin(s) * math.sin(s - alpha) * math.sin(s - beta) * math.sin(s - gamma))
    V = 2.0 * a * b * c * math.sqrt(skew)
    # the volume over a*b*c is 1 for a rectangular cell and ~0.1 for very oblique real ones
    if not (math.isfinite(V) and V > MIN_SHAPE * a * b * c):
        raise NanoBraggError("%s: a degenerate unit cell (volume %s A^3)" % (flag, _g(V)))


def check_matrix(path):
    """-mat: a readable file whose first nine numbers are finite and span a volume (C ignores a missing
    file and keeps whatever it could not read: a NaN or all-zero image)."""
    from .io.matrix import scan_mat
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise NanoBraggError("-mat %s: %s" % (path, e.strerror or e)) from None
    values, stopped = scan_mat(data)
    if stopped is not None:
        read = values.index(None)
        line = data.count(b"\n", 0, stopped) + 1
        if stopped >= len(data):
            raise NanoBraggError("-mat %s: the file ends after %d of the 9 matrix numbers (line %d)"
                                 % (path, read, line))
        end = data.find(b"\n", stopped)
        word = data[stopped:end if end >= 0 else len(data)].split()[0].decode("latin-1")
        raise NanoBraggError("-mat %s line %d: '%s' is not a number (matrix number %d of 9)"
                             % (path, line, word[:40], read + 1))
    m = np.array(values, dtype=np.float64).reshape(3, 3)
    if not np.isfinite(m).all():
        raise NanoBraggError("-mat %s: the matrix holds a non-finite number" % path)
    cols = [m[:, j] for j in range(3)]
    norms = [float(np.sqrt(np.dot(v, v))) for v in cols]
    scale = norms[0] * norms[1] * norms[2]
    with np.errstate(all="ignore"):
        det = float(np.dot(cols[0], np.cross(cols[1], cols[2])))
    if not (scale > 0.0 and abs(det) > 1e-9 * scale and math.isfinite(det)):
        raise NanoBraggError("-mat %s: a singular matrix (the reciprocal axes a*, b*, c* span no volume)" % path)
    if not all(1e-9 <= x <= 1e9 for x in norms):
        raise NanoBraggError("-mat %s: the reciprocal axes have lengths %s: not an orientation matrix"
                             % (path, " ".join(_g(x) for x in norms)))


def check_geometry(p):
    """After the detector is placed: finite, non-zero axes and distances (a beam along the detector
    plane, or an axis of zero or infinite length, leaves C's geometry NaN or divides by zero)."""
    for name, flag in (("beam_vector", "-beam_vector"), ("fdet_vector", "-fdet_vector"),
                       ("sdet_vector", "-sdet_vector"), ("odet_vector", "-odet_vector (or fdet x sdet)")):
        v = getattr(p, name)
        if not all(math.isfinite(x) for x in v[1:4]) or not any(v[1:4]):
            raise NanoBraggError("%s: the direction must be a finite, non-zero vector (it is %s %s %s)"
                                 % (flag, _g(v[1]), _g(v[2]), _g(v[3])))
    for name, flag in (("polar_vector", "-polar_vector"), ("spindle_vector", "-spindle_axis"),
                       ("twotheta_axis", "-twotheta_axis")):
        v = getattr(p, name)
        if not all(math.isfinite(x) for x in v[1:4]):
            raise NanoBraggError("%s: the direction must be finite (it is %s %s %s)"
                                 % (flag, _g(v[1]), _g(v[2]), _g(v[3])))
    values = (p.distance, p.close_distance, *p.pix0_vector[1:4])
    if not all(math.isfinite(x) for x in values) or p.distance == 0.0 or p.close_distance == 0.0:
        raise NanoBraggError("the detector cannot be placed: distance %s m, close distance %s m, pix0 %s %s %s m "
                             "(is the beam parallel to the detector, or a beam centre out of range?)"
                             % tuple(_g(x) for x in values))


def check_cell(p):
    """After the cell is built (cell, matrix and misset): every vector finite, a non-zero volume."""
    vectors = (p.a0, p.b0, p.c0, p.a_star, p.b_star, p.c_star)
    if (all(math.isfinite(x) for v in vectors for x in v) and math.isfinite(p.V_cell) and p.V_cell != 0.0
            and all(MIN_CELL * 1e-10 <= v[0] <= MAX_CELL * 1e-10 for v in (p.a0, p.b0, p.c0))):
        return
    src = "-mat %s" % p.matfilename if p.matfilename is not None else "-cell"
    if p.misset[0] > 0.0:
        src += " and -misset %s %s %s" % tuple(_g(x * 180.0 / math.pi) for x in p.misset[1:4])
    raise NanoBraggError("%s: a degenerate unit cell (volume %s A^3, cell vectors %s)"
                         % (src, _g(p.V_cell), " ".join(_g(x) for x in (*p.a0[:1], *p.b0[:1], *p.c0[:1]))))


# ------------------------------------------------------------------ step counts

def _limit(count, what, limit, unit):
    if count > limit:
        raise NanoBraggError("%s = %d: more %s than can be done (the limit is %d)" % (what, count, unit, limit))


def check_steps(p):
    """The settled step counts, before the tables built from them in Python."""
    _limit(p.phisteps * p.mosaic_domains, "-mosaic_dom %d x -phisteps %d" % (p.mosaic_domains, p.phisteps),
           MAX_TABLE, "crystal orientations", )
    if p.sourcefilename is None:
        _limit(p.hdivsteps * p.vdivsteps * p.dispsteps, "-hdivsteps %d x -vdivsteps %d x -dispsteps %d"
               % (p.hdivsteps, p.vdivsteps, p.dispsteps), MAX_TABLE, "sources")
    _limit(p.detector_thicksteps, "-thicksteps", MAX_TABLE, "detector layers")


def check_work(p, nsources, fhkl_cells=0):
    """Before the mosaic and phi tables and the render: steps per pixel and in all, and the memory."""
    for name in ("Na", "Nb", "Nc"):
        if not math.isfinite(getattr(p, name)):
            raise NanoBraggError("-xtalsize/-sample_x/y/z %s %s %s mm: a crystal of %s x %s x %s cells"
                                 % (_g(p.sample_x * 1000), _g(p.sample_y * 1000), _g(p.sample_z * 1000),
                                    _g(p.Na), _g(p.Nb), _g(p.Nc)))
    if nsources == 0:
        raise NanoBraggError("no source is left: the round divergence cut removes every point of the %d x %d "
                             "divergence grid (-hdivrange %s -vdivrange %s mrad; -square_div keeps them)"
                             % (p.hdivsteps, p.vdivsteps, _g(p.hdivrange * 1000), _g(p.vdivrange * 1000)))
    os_ = max(int(p.oversample), 1)
    per_pixel = nsources * p.mosaic_domains * p.phisteps * os_ * os_
    what = ("%d sources x %d mosaic domains x %d phi steps x -oversample %d^2"
            % (nsources, p.mosaic_domains, p.phisteps, os_))
    _limit(per_pixel, what, MAX_PIXEL_STEPS, "steps per pixel")
    from .render import roi_bounds          # the region the render walks
    y0, y1, x0, x1 = roi_bounds(p)
    nroi = max(x1 - x0 + 1, 0) * max(y1 - y0 + 1, 0)
    total = nroi * per_pixel * max(p.detector_thicksteps, 1)
    _limit(total, "%d pixels x %s x %d detector layers" % (nroi, what, max(p.detector_thicksteps, 1)),
           MAX_TOTAL_STEPS, "inner steps")
    npix = p.fpixels * p.spixels
    need = (pixel_bytes(npix, nroi, p.calculate_noise, p.write_pgm, p.maskimage is not None)
            + 2 * p.phisteps * p.mosaic_domains * 9 * 8 + p.mosaic_domains * 400 + nsources * 300
            + fhkl_cells * 8                       # the fast kernel's F^2 table beside the grid
            + (os.cpu_count() or 1) * (1 << 20))   # per-thread scratch
    check_memory(need, "this run (%dx%d pixels, %d mosaic domains x %d phi steps)"
                 % (p.fpixels, p.spixels, p.mosaic_domains, p.phisteps))
