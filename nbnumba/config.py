"""The configuration of one simulation: every variable nanoBragg.c keeps (its names, its internal units),
our own options, and the checks a value gets when a user sets it by keyword (the Python API).

The fields are grouped as the physics is, each defined once, in its group's dataclass: Beam, Detector,
Crystal, Sampling, Outputs, Noise and Run (ours). Params is their composition (p.beam, p.detector, ...)
and also has every field as a property under its nanoBragg name (p.distance is p.detector.distance,
read and written), generated from the groups, so the C port reads and writes C's names. FIELDS maps
each name to its group.

The command line builds it with C's semantics in nbnumba/cli/argv.py; the API builds it from keywords
(set_value, by nanoBragg name or by group); the plan (nbnumba/plan.py) reads it once.
"""
import copy
import difflib
import math
import numbers
import os
from dataclasses import MISSING, dataclass, field, fields
from operator import attrgetter

import numpy as np

from .errors import NanoBraggError

KERNELS = ("exact", "fast")
DEVICES = ("cpu", "cuda", "auto")
GPU_PRECISIONS = ("double", "mixed")  # mixed: the fast kernel's sines, ratio and F^2 in float32 (fast_pixel.py)


def _vec(*v):
    return field(default_factory=lambda: list(v))


class _Group:
    """What every group shares: construction from its defaults (plain dict updates, no generated code to
    run at import or per call), keyword values checked as Params' are, and a repr."""

    _NAME: str            # the group's name in Params, set below with the registry
    _DEFAULTS: dict = {}
    _FACTORIES: tuple = ()

    def __init__(self, **values):
        d = self.__dict__
        d.update(self._DEFAULTS)
        for name, make in self._FACTORIES:
            d[name] = make()
        for name, value in values.items():
            _set_in_group(self, self._NAME, name, value)

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__,
                           ", ".join("%s=%r" % (n, getattr(self, n)) for n in self.__dataclass_fields__))

    def __deepcopy__(self, memo):
        return _deepcopy(self, memo)


_ATOMS = frozenset((int, float, str, bool, type(None)))


def _deepcopy(obj, memo):
    """copy.deepcopy of a group or a Params, without the generic __reduce_ex__ round trip for each object
    (make_plan copies a Params in every run): immutable values are shared, as deepcopy shares them."""
    new = object.__new__(type(obj))
    memo[id(obj)] = new
    d = new.__dict__
    for name, value in obj.__dict__.items():
        d[name] = value if type(value) in _ATOMS else copy.deepcopy(value, memo)
    return new


def _group(cls):
    """A dataclass of one group; its fields' defaults kept for _Group.__init__."""
    cls = dataclass(init=False, repr=False, eq=False)(cls)
    cls._DEFAULTS = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    cls._FACTORIES = tuple((f.name, f.default_factory) for f in fields(cls) if f.default is MISSING)
    return cls


# Every variable nanoBragg.c initialises (lines 137-395) or that its parser sets, defined once, in the group a
# crystallographer would look in. Names are C's, values in C's internal units (meters, radians, photons/m^2);
# double v[4] vectors are 4-element lists, index 0 = C's magnitude slot ("unit vector": x, y, z in 1..3).
# C's working variables that keep an initial value (statistics, polar, psi) stay with the quantity they belong to.

@_group
class Beam(_Group):
    """The incident beam: wavelength and its spread, divergence, intensity, direction, polarization, sources."""
    lambda0: float = 1.0e-10                 # m, central wavelength (-lambda A, -energy eV)
    dispersion: float = 0.0                  # fractional spectral width, dlambda/lambda (-dispersion %)
    hdivrange: float = -1.0                  # rad, full horizontal divergence (-1: unset)
    vdivrange: float = -1.0                  # rad, full vertical divergence (-1: unset)
    round_div: int = 1                       # 1: cut the divergence grid to an ellipse, 0: keep the rectangle
    source_distance: float = 10.0            # m, sample to the divergent point sources
    far_source: int = 1                      # 1: sources far away (C's flag; no option sets it)
    coherent: int = 0                        # 1: -coherent (accepted, no effect)
    sourcefilename: str | None = None        # -sourcefile: one source per line (position, intensity, lambda)
    beam_vector: list = _vec(0.0, 1.0, 0.0, 0.0)     # unit vector, source -> sample
    fluence: float = 125932015286227086360700780544.0  # photons/m^2 on the sample
    flux: float = 0.0                        # photons/s (with exposure and beamsize sets the fluence)
    exposure: float = 1.0                    # s
    beamsize: float = 1e-4                   # m, side of the square beam (clips the sample)
    r_e_sqr: float = 7.94079248018965e-30    # m^2, classical electron radius squared (Thomson scale)
    polar_vector: list = _vec(0.0, 0.0, 0.0, 1.0)    # unit vector, the E-vector of the polarized beam
    polarization: float = 0.0                # Kahn polarization factor, -1..1 (-polar)
    nopolar: int = 0                         # 1: no polarization correction (factor 1)
    polar: float = 1.0                       # C's working polarization factor (initial value)
    psi: float = 0.0                         # rad, C's working polarization angle (initial value)


@_group
class Detector(_Group):
    """The detector: pixels, position and orientation (convention, pivot, rotations, beam centre), sensor,
    readout, region of interest and the images read from -img/-mask."""
    pixel_size: float = 0.1e-3               # m, side of a square pixel
    fpixels: int = 0                         # pixels along the fast axis (0: from detsize_f)
    spixels: int = 0                         # pixels along the slow axis (0: from detsize_s)
    pixels: int = 0                          # fpixels*spixels; uninitialised in C, only -img/-mask set it early
    detsize_f: float = 102.4e-3              # m, detector width along fast
    detsize_s: float = 102.4e-3              # m, detector height along slow
    distance: float = 100.0e-3               # m, sample to detector along the beam (pivot BEAM)
    close_distance: float = math.nan         # m, sample to detector plane along its normal (NaN: derived)
    beam_convention: str = "MOSFLM"          # MOSFLM, XDS, ADXV, DENZO, DIALS or CUSTOM
    detector_pivot: str = "BEAM"             # BEAM or SAMPLE: what stays put when the detector turns
    fdet_vector: list = _vec(0.0, 0.0, 0.0, 1.0)     # unit vector, fast pixel axis
    sdet_vector: list = _vec(0.0, 0.0, -1.0, 0.0)    # unit vector, slow pixel axis
    odet_vector: list = _vec(0.0, 1.0, 0.0, 0.0)     # unit vector, detector normal
    pix0_vector: list = _vec(0.0, 0.0, 0.0, 0.0)     # m, sample to the first pixel's corner ([0]=1: given)
    detector_rotx: float = 0.0               # rad, rotation about x
    detector_roty: float = 0.0               # rad, rotation about y
    detector_rotz: float = 0.0               # rad, rotation about z
    detector_twotheta: float = 0.0           # rad, swing about twotheta_axis
    twotheta_axis: list = _vec(0.0, 0.0, 1.0, 0.0)   # unit vector, the two-theta swing axis
    twotheta: float = 0.0                    # rad; uninitialised in C, only the TWOTHETA header key sets it (no effect)
    Xbeam: float = math.nan                  # m, beam centre in the convention's X (NaN: convention default)
    Ybeam: float = math.nan                  # m, beam centre in the convention's Y
    Fbeam: float = math.nan                  # m, beam centre along fast
    Sbeam: float = math.nan                  # m, beam centre along slow
    Xclose: float = math.nan                 # m, point of closest approach in the convention's X
    Yclose: float = math.nan                 # m, point of closest approach in the convention's Y
    Fclose: float = math.nan                 # m, point of closest approach along fast
    Sclose: float = math.nan                 # m, point of closest approach along slow
    ORGX: float = math.nan                   # pixels, XDS origin along fast
    ORGY: float = math.nan                   # pixels, XDS origin along slow
    dials_origin: list = _vec(0.0, 0.0, 0.0, 0.0)    # mm, the DIALS origin (printed)
    curved_detector: int = 0                 # 1: pixels on a sphere about the sample
    point_pixel: int = 0                     # 1: solid angle 1/R^2 (no obliquity)
    detector_thick: float = 0.0              # m, sensor thickness
    detector_mu: float = -1.0                # 1/m, sensor attenuation coefficient (-detector_abs um)
    adc_offset: float = 40.0                 # ADU added to the integer images
    roi_xmin: int = -1                       # pixels, region of interest along fast (-1: whole detector)
    roi_xmax: int = -1                       # pixels, last fast pixel of the region (-1: the last)
    roi_ymin: int = -1                       # pixels, region of interest along slow
    roi_ymax: int = -1                       # pixels, last slow pixel of the region (-1: the last)
    imginfilename: str | None = None         # -img: SMV image whose header sets the geometry
    maskfilename: str | None = None          # -mask: SMV image whose zero pixels are skipped
    maskimage: np.ndarray | None = None      # uint16, 1-D, fpixels*spixels (pass 1)
    imginfileimage: np.ndarray | None = None  # float32, 1-D; read but never used by C


@_group
class Crystal(_Group):
    """The sample: unit cell and orientation, size and shape, mosaicity, the spindle, structure factors,
    and the amorphous (water) background."""
    user_cell: int = 0                       # 1: -cell given
    a: list = _vec(0.0, 0.0, 0.0, 0.0)       # unit-cell edge a; [0] = its length in A (-cell)
    b: list = _vec(0.0, 0.0, 0.0, 0.0)       # unit-cell edge b; [0] = its length in A
    c: list = _vec(0.0, 0.0, 0.0, 0.0)       # unit-cell edge c; [0] = its length in A
    alpha: float = 0.0                       # rad, cell angle
    beta: float = 0.0                        # rad
    gamma: float = 0.0                       # rad
    matfilename: str | None = None           # -mat: MOSFLM A matrix (orientation and cell)
    misset: list = _vec(0.0, 0.0, 0.0, 0.0)  # rad, rotations about x, y, z; [0] = 1 given, -1 random
    xtal_rotx: float = 0.0                   # rad, a further rotation about lab x after the misset (API only:
    xtal_roty: float = 0.0                   # rad   the derivatives' rotx, roty, rotz), then about y,
    xtal_rotz: float = 0.0                   # rad   then about z
    N: int = 1                               # C's int N (the -N keyword sets Na, Nb, Nc)
    Na: float = 1.0                          # unit cells along a (doubles in C, although set with atoi)
    Nb: float = 1.0                          # unit cells along b
    Nc: float = 1.0                          # unit cells along c
    xtal_shape: str = "SQUARE"               # SQUARE, ROUND, GAUSS or TOPHAT lattice transform
    fudge: float = 1.0                       # scale of the shape transform's argument
    sample_x: float = 0.0                    # m, crystal size along x (0: from N)
    sample_y: float = 0.0                    # m, along y
    sample_z: float = 0.0                    # m, along z
    density: float = 1.0e6                   # g/m^3
    molecular_weight: float = 18.0           # g/mol
    volume: float = 0.0                      # m^3 (C's initial value)
    molecules: float = 0.0                   # count (C's initial value)
    integral_form: int = 0                   # C's dead branch: no option sets it
    mosaic_spread: float = -1.0              # rad, full mosaic spread (-1: unset)
    phi0: float = 0.0                        # rad, spindle angle at the start
    osc: float = -1.0                        # rad, oscillation range (-1: unset)
    spindle_vector: list = _vec(0.0, 0.0, 0.0, 1.0)  # unit vector, the spindle (phi) axis
    hklfilename: str | None = None           # -hkl: h k l F per line
    dumpfilename: str = "Fdump.bin"          # binary cache of the hkl table, read when there is no -hkl
    default_F: float = 0.0                   # electrons, F of every hkl not in the table
    hkls: int = 0                            # structure factors in the table
    nearest: int = 0                         # C's working nearest-neighbour flag (initial value)
    interpolate: int = 2                     # tricubic F interpolation: 1 on, 0 off, 2 auto
    stolfilename: str | None = None          # -stol/-4stol/-Q: amorphous scattering curve
    stol_file_mult: float = 1.0e10           # 1/m per unit of the stol file's first column
    water_size: float = 0.0                  # m, thickness of the water background
    water_F: float = 2.57                    # electrons, F of water
    water_MW: float = 18.0                   # g/mol, molecular weight of water


@_group
class Sampling(_Group):
    """How the integrals are sampled: sub-pixels, and the steps over divergence, wavelength, mosaic domains,
    spindle rotation and sensor depth (-1: derived from the ranges), and the resolution cut."""
    oversample: int = -1                     # sub-pixels per pixel side (-1: auto)
    oversample_thick: int = 0                # 1: sensor absorption per sub-pixel
    oversample_polar: int = 0                # 1: polarization per sub-pixel
    oversample_omega: int = 0                # 1: solid angle per sub-pixel
    hdivstep: float = -1.0                   # rad, horizontal divergence step
    vdivstep: float = -1.0                   # rad, vertical divergence step
    divsteps: int = -1                       # divergence steps (C's variable)
    hdivsteps: int = -1                      # horizontal divergence steps
    vdivsteps: int = -1                      # vertical divergence steps
    dispstep: float = -1.0                   # fractional wavelength step
    dispsteps: int = -1                      # wavelengths
    mosaic_domains: int = -1                 # mosaic domains
    phistep: float = -1.0                    # rad, spindle step
    phisteps: int = -1                       # spindle steps
    detector_thickstep: float = -1.0         # m, sensor depth step
    detector_thicksteps: int = -1            # sensor depth steps
    dmin: float = 0.0                        # m, resolution limit: finer scattering is skipped (0: none)


@_group
class Outputs(_Group):
    """What is written and printed: file names, scales, the intensity statistics' starting values, the log."""
    floatfilename: str = "floatimage.bin"    # raw float32 photons/pixel
    intfilename: str = "intimage.img"        # SMV, scaled integers
    pgmfilename: str = "image.pgm"           # 8-bit picture
    noisefilename: str = "noiseimage.img"    # SMV with Poisson noise
    stoloutfilename: str = "output.stol"     # -stolout: C's name for the stol curve it would write
    write_pgm: int = 1                       # 1: write the PGM picture
    skip: str = "none"                       # files C always writes that are left out: floatfile,intfile,dumpfile
    nxsfile: str | None = None               # -nxsfile: NXmx (HDF5) with the whole geometry (not in C)
    cbffile: str | None = None               # -cbffile: miniCBF with the imgCIF geometry (not in C)
    pngfile: str | None = None               # -pngfile: 8-bit PNG preview of the float image (not in C)
    nxs_image: str = "auto"                  # what -nxsfile/-cbffile hold: auto (noise; int with -nonoise), float, int, noise
    intfile_scale: float = 0.0               # photons -> ADU of the integer image (0: auto)
    pgm_scale: float = 0.0                   # photons -> grey level of the PGM (0: auto)
    max_I: float = 0.0                       # photons, brightest pixel (C's initial values of its statistics)
    max_I_x: float = 0.0                     # m, where the brightest pixel is, along fast
    max_I_y: float = 0.0                     # m, along slow
    sumn: int = 0                            # pixels counted in the mean
    overloads: int = 0                       # pixels over the 16-bit full scale
    progress_meter: int = 1                  # 1: C's "N% done" lines
    babble: int = 1                          # C's verbosity flag (no option sets it)
    printout: int = 0                        # 1: print per-pixel values
    printout_fpixel: int = -1                # pixels, the one pixel to print (-printout_pixel fast slow)
    printout_spixel: int = -1                # (-1: every pixel)


@_group
class Noise(_Group):
    """Random numbers: the noise image and the seeds of every random draw (C's seeds are negative)."""
    calculate_noise: int = 1                 # 1: make and write the Poisson noise image
    seed: int = 0                            # noise seed; parse_argv sets C's -time(0)
    mosaic_seed: int = -12345678             # seed of the mosaic domains
    misset_seed: int = 0                     # seed of -misset random; parse_argv sets C's seed before parsing


@_group
class Run(_Group):
    """How nbnumba runs the simulation (our own options, not in nanoBragg.c)."""
    kernel: str = "fast"                     # exact or fast
    threads: int = 0                         # CPU threads (0: every CPU this process may use)
    omp_threads: int = 1                     # the C OpenMP thread count whose results are reproduced
    device: str = "cpu"                      # cpu, cuda or auto
    gpu_precision: str = "double"            # GPU arithmetic of the fast kernel: double or mixed


SKIPPABLE = ("floatfile", "intfile", "dumpfile")   # -skip's names (dumpfile: Fdump.bin neither written nor read)


def skips(p, name):
    """Whether the run leaves out file `name` (one of SKIPPABLE), which nanoBragg.c always writes."""
    return name in p.skip.split(",")


GROUPS = {"beam": Beam, "detector": Detector, "crystal": Crystal, "sampling": Sampling, "outputs": Outputs,
          "noise": Noise, "run": Run}


@dataclass(init=False, repr=False, eq=False)
class Params:
    """The configuration of one simulation: the groups, and every field also under its nanoBragg name.

    p.detector.distance and p.distance are the same value (the flat names are properties generated from the
    groups below, so the C-port code reads and writes C's names). Params(name=value, ...) starts from C's
    defaults with those overridden, each checked by set_value; a group may be given whole, as a mapping or a
    group object: Params(detector={"distance": 0.1}). The parser (cli/argv.py) assigns fields directly, with
    C's semantics; values that cannot describe an experiment are refused when the plan is made
    (nbnumba.checks). Attributes that are not fields (the plan's settled values) may be set too.
    """
    beam: Beam
    detector: Detector
    crystal: Crystal
    sampling: Sampling
    outputs: Outputs
    noise: Noise
    run: Run

    def __init__(self, **values):
        d = self.__dict__
        for name, cls in GROUPS.items():
            d[name] = cls()
        for name, value in values.items():
            set_value(self, name, value)

    def __repr__(self):
        return "Params(%s)" % ", ".join("%s=%r" % (g, getattr(self, g)) for g in GROUPS)

    def __deepcopy__(self, memo):
        return _deepcopy(self, memo)


class FlatName(property):
    """Params.<nanoBragg name>: the field `name` of group `group`, read and written through."""

    def __init__(self, group, name):
        def fset(p, value):
            setattr(p.__dict__[group], name, value)
        super().__init__(attrgetter(group + "." + name), fset)   # reading is C code: one attrgetter call
        self.group, self.name, self.__doc__ = group, name, "%s.%s" % (group, name)


FIELDS: dict[str, str] = {}   # nanoBragg name -> its group
for _g, _cls in GROUPS.items():
    _cls._NAME = _g
    for _f in fields(_cls):
        if _f.name in FIELDS or hasattr(Params, _f.name):
            raise TypeError("%s is defined twice (%s, %s)" % (_f.name, FIELDS.get(_f.name, "Params"), _g))
        FIELDS[_f.name] = _g
        setattr(Params, _f.name, FlatName(_g, _f.name))
del _g, _cls, _f
# what a field holds, from its annotation (real types: string annotations cost dataclass() a regex per field)
_KINDS = {int: "int", float: "float", list: "vector", str: "str", str | None: "path", np.ndarray | None: "array"}
_FIELD_KINDS = {f.name: _KINDS[f.type] for cls in GROUPS.values() for f in fields(cls)}


# ---------------------------------------------------------------- values set by keyword

CHOICES = {"nxs_image": ("auto", "float", "int", "noise"), "kernel": KERNELS, "device": DEVICES, "gpu_precision": GPU_PRECISIONS,
           "xtal_shape": ("SQUARE", "ROUND", "GAUSS", "TOPHAT"), "detector_pivot": ("BEAM", "SAMPLE"),
           "beam_convention": ("MOSFLM", "XDS", "ADXV", "DENZO", "DIALS", "CUSTOM")}
AT_LEAST = {"threads": 0, "omp_threads": 1}
# keywords that stand for several fields, as their flags do (-N sets Na, Nb and Nc)
ALIASES = {"N": ("Na", "Nb", "Nc")}


def _kind(name):
    """'int', 'float', 'vector', 'str', 'path' or 'array': what a field holds, from its annotation."""
    return _FIELD_KINDS[name]


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise NanoBraggError("%s must be a number, not %r" % (name, value))
    return float(value)


def checked_value(name, value):
    """`value` as field `name` holds it; NanoBraggError naming the field for an unknown name, a wrong
    type or an impossible value."""
    if name not in FIELDS:
        raise NanoBraggError("unknown parameter %r%s" % (name, _did_you_mean(name, [*FIELDS, *ALIASES, *GROUPS])))
    kind = _kind(name)
    if kind == "int":
        v = _number(name, value)
        if not v.is_integer():
            raise NanoBraggError("%s must be a whole number, not %r" % (name, value))
        value = int(v)
        if name in AT_LEAST and value < AT_LEAST[name]:
            raise NanoBraggError("%s must be >= %d, not %d" % (name, AT_LEAST[name], value))
    elif kind == "float":
        value = _number(name, value)
    elif kind == "vector":
        try:
            parts = [_number(name, v) for v in value]
        except TypeError:
            raise NanoBraggError("%s must be 3 numbers (x, y, z), not %r" % (name, value)) from None
        if len(parts) == 3:
            parts = [0.0, *parts]
        elif len(parts) != 4:
            raise NanoBraggError("%s must be 3 numbers (x, y, z), not %d" % (name, len(parts)))
        if not all(math.isfinite(v) for v in parts[1:]):
            raise NanoBraggError("%s must be finite, not %r" % (name, value))
        value = parts
    elif kind == "str":
        if name in CHOICES and (not isinstance(value, str) or value not in CHOICES[name]):
            raise NanoBraggError("%s must be one of %s, not %r" % (name, ", ".join(CHOICES[name]), value))
        if not isinstance(value, str):
            raise NanoBraggError("%s must be a string, not %r" % (name, value))
    elif kind == "path":
        if value is not None:
            if not isinstance(value, (str, os.PathLike)):
                raise NanoBraggError("%s must be a file name, not %r" % (name, value))
            value = os.fspath(value)
    elif value is not None and not isinstance(value, np.ndarray):
        raise NanoBraggError("%s must be a NumPy array, not %r" % (name, type(value).__name__))
    return value


def check_fields(p, arg="params"):
    """NanoBraggError naming the field unless every field of the configuration `p` holds a value of its kind
    in the form the parser stores it (vectors as C's 4 numbers): the check the Python API's functions give a
    configuration whose attributes were assigned directly, before any work (values are not changed)."""
    if not isinstance(p, Params):
        raise NanoBraggError("%s must be a configuration (nbnumba.api.params(...)), not %s" % (arg, type(p).__name__))
    for group, cls in GROUPS.items():
        g = p.__dict__.get(group)
        if not isinstance(g, cls):
            raise NanoBraggError("%s.%s must be a %s, not %s" % (arg, group, cls.__name__, type(g).__name__))
        for f in g.__dataclass_fields__:
            value = getattr(g, f)
            if _FIELD_KINDS[f] != "vector":
                checked_value(f, value)
            elif (not isinstance(value, (list, tuple, np.ndarray)) or len(value) != 4
                    or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)):
                # the parser's values are taken as they are (the plan judges them); their form is C's
                raise NanoBraggError("%s must hold C's 4 numbers (magnitude, x, y, z) when assigned directly, not %r; "
                                     "set_value(p, %r, (x, y, z)) takes 3" % (f, value, f))


def _did_you_mean(name, names):
    near = difflib.get_close_matches(str(name), names, 1)
    return " (did you mean %r?)" % near[0] if near else ""


def set_value(p, name, value):
    """Sets field `name` of `p` (or the fields an alias such as N stands for), checked. `name` may also be a
    group (beam, detector, ...), `value` then a mapping of that group's fields or a group object, each of
    its fields checked."""
    if name in GROUPS:
        if isinstance(value, GROUPS[name]):
            value = {f: getattr(value, f) for f in value.__dataclass_fields__}
        elif not hasattr(value, "items"):
            raise NanoBraggError("%s must be a mapping of its fields or a %s, not %r"
                                 % (name, GROUPS[name].__name__, value))
        for field_name, field_value in value.items():
            _set_in_group(getattr(p, name), name, field_name, field_value)
    else:
        for target in ALIASES.get(name, (name,)):
            setattr(p, target, checked_value(target, value))


def _set_in_group(g, group, name, value):
    """Sets field `name` (or the fields an alias stands for) of g, the `group` object, checked."""
    for target in ALIASES.get(name, (name,)):
        if FIELDS.get(target) != group:
            hint = (" (it is in %s)" % FIELDS[target] if target in FIELDS
                    else _did_you_mean(name, [f for f in FIELDS if FIELDS[f] == group]))
            raise NanoBraggError("%s has no parameter %r%s" % (group, name, hint))
        setattr(g, target, checked_value(target, value))
