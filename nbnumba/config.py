"""The configuration of one simulation: every variable nanoBragg.c keeps (its names, its internal units),
our own options, and the checks a value gets when a user sets it by keyword (the Python API).

The command line builds it with C's semantics in nbnumba/cli/argv.py; the API builds it from keywords
(set_value); the plan (nbnumba/plan.py) reads it once. Fields are grouped below as the physics is.
"""
from __future__ import annotations

import difflib
import math
import numbers
import os
from dataclasses import MISSING, dataclass, field, fields

import numpy as np

from .errors import NanoBraggError

KERNELS = ("exact", "fast")
DEVICES = ("cpu", "cuda", "auto")
GPU_PRECISIONS = ("double",)  # mixed/single precision: not implemented yet


def _vec(*v):
    return field(default_factory=lambda: list(v))


@dataclass(init=False, repr=False, eq=False)   # generated methods for ~150 fields: ~10 ms per process
class Params:
    """Every variable that nanoBragg.c initialises (lines 137-395) or that its parser sets.

    Names are C's, in C's internal units (meters, radians, photons/m^2). double v[4] vectors are
    4-element lists, index 0 = C's magnitude slot. Params(name=value, ...) starts from C's defaults with
    those overridden, each checked by set_value. The parser (cli/argv.py) assigns fields directly, with
    C's semantics; values that cannot describe an experiment are refused when the plan is made
    (nbnumba.checks).
    """

    def __init__(self, **values):
        for f in fields(self):
            setattr(self, f.name, f.default_factory() if f.default is MISSING else f.default)
        for name, value in values.items():
            set_value(self, name, value)

    # progress / printout
    progress_meter: int = 1
    babble: int = 1
    printout: int = 0
    printout_spixel: int = -1
    printout_fpixel: int = -1
    # beam
    beam_vector: list = _vec(0.0, 1.0, 0.0, 0.0)
    coherent: int = 0
    far_source: int = 1
    round_div: int = 1
    mosaic_spread: float = -1.0
    dispersion: float = 0.0
    dispstep: float = -1.0
    lambda0: float = 1.0e-10
    hdivstep: float = -1.0
    hdivrange: float = -1.0
    vdivstep: float = -1.0
    vdivrange: float = -1.0
    source_distance: float = 10.0
    divsteps: int = -1
    hdivsteps: int = -1
    vdivsteps: int = -1
    dispsteps: int = -1
    mosaic_domains: int = -1
    r_e_sqr: float = 7.94079248018965e-30
    fluence: float = 125932015286227086360700780544.0
    flux: float = 0.0
    exposure: float = 1.0
    beamsize: float = 1e-4
    # sample
    N: int = 1
    Na: float = 1.0  # doubles in C, although set with atoi
    Nb: float = 1.0
    Nc: float = 1.0
    xtal_shape: str = "SQUARE"
    fudge: float = 1.0
    sample_x: float = 0.0
    sample_y: float = 0.0
    sample_z: float = 0.0
    density: float = 1.0e6
    molecular_weight: float = 18.0
    volume: float = 0.0
    molecules: float = 0.0
    water_size: float = 0.0
    water_F: float = 2.57
    water_MW: float = 18.0
    # detector
    pixel_size: float = 0.1e-3
    fpixels: int = 0
    spixels: int = 0
    pixels: int = 0  # uninitialised in C; only -img/-mask set it before line 1125
    distance: float = 100.0e-3
    detsize_f: float = 102.4e-3
    detsize_s: float = 102.4e-3
    detector_mu: float = -1.0
    detector_thick: float = 0.0
    detector_thickstep: float = -1.0
    detector_thicksteps: int = -1
    fdet_vector: list = _vec(0.0, 0.0, 0.0, 1.0)
    sdet_vector: list = _vec(0.0, 0.0, -1.0, 0.0)
    odet_vector: list = _vec(0.0, 1.0, 0.0, 0.0)
    pix0_vector: list = _vec(0.0, 0.0, 0.0, 0.0)
    detector_rotx: float = 0.0
    detector_roty: float = 0.0
    detector_rotz: float = 0.0
    twotheta_axis: list = _vec(0.0, 0.0, 1.0, 0.0)
    detector_pivot: str = "BEAM"
    beam_convention: str = "MOSFLM"
    detector_twotheta: float = 0.0
    curved_detector: int = 0
    point_pixel: int = 0
    Xbeam: float = math.nan
    Ybeam: float = math.nan
    Fbeam: float = math.nan
    Sbeam: float = math.nan
    Xclose: float = math.nan
    Yclose: float = math.nan
    close_distance: float = math.nan
    Fclose: float = math.nan
    Sclose: float = math.nan
    ORGX: float = math.nan
    ORGY: float = math.nan
    dials_origin: list = _vec(0.0, 0.0, 0.0, 0.0)
    adc_offset: float = 40.0
    # diffraction geometry
    twotheta: float = 0.0  # uninitialised in C; only the TWOTHETA header key sets it (no effect)
    psi: float = 0.0
    dmin: float = 0.0
    integral_form: int = 0
    # polarization
    polar_vector: list = _vec(0.0, 0.0, 0.0, 1.0)
    polar: float = 1.0
    polarization: float = 0.0
    nopolar: int = 0
    # sampling
    roi_xmin: int = -1
    roi_xmax: int = -1
    roi_ymin: int = -1
    roi_ymax: int = -1
    oversample: int = -1
    oversample_thick: int = 0
    oversample_polar: int = 0
    oversample_omega: int = 0
    # spindle
    phi0: float = 0.0
    phistep: float = -1.0
    osc: float = -1.0
    phisteps: int = -1
    spindle_vector: list = _vec(0.0, 0.0, 0.0, 1.0)
    # structure factors
    default_F: float = 0.0
    hkls: int = 0
    nearest: int = 0
    stol_file_mult: float = 1.0e10
    interpolate: int = 2
    # intensity statistics (C's initial values of its accumulators and scales)
    max_I: float = 0.0
    max_I_x: float = 0.0
    max_I_y: float = 0.0
    intfile_scale: float = 0.0
    pgm_scale: float = 0.0
    sumn: int = 0
    overloads: int = 0
    # image data from -mask / -img (pass 1)
    maskimage: np.ndarray | None = None  # uint16, 1-D, fpixels*spixels
    imginfileimage: np.ndarray | None = None  # float32, 1-D; read but never used by C
    # random seeds: seed = -time(0) and misset_seed = seed are set in parse_argv
    seed: int = 0
    mosaic_seed: int = -12345678
    misset_seed: int = 0
    # unit cell
    user_cell: int = 0
    a: list = _vec(0.0, 0.0, 0.0, 0.0)
    b: list = _vec(0.0, 0.0, 0.0, 0.0)
    c: list = _vec(0.0, 0.0, 0.0, 0.0)
    alpha: float = 0.0
    beta: float = 0.0
    gamma: float = 0.0
    misset: list = _vec(0.0, 0.0, 0.0, 0.0)
    # special options
    calculate_noise: int = 1
    write_pgm: int = 1
    # file names (C globals, lines 137-150)
    matfilename: str | None = None
    hklfilename: str | None = None
    dumpfilename: str = "Fdump.bin"
    stolfilename: str | None = None
    imginfilename: str | None = None
    maskfilename: str | None = None
    stoloutfilename: str = "output.stol"
    sourcefilename: str | None = None
    floatfilename: str = "floatimage.bin"
    intfilename: str = "intimage.img"
    pgmfilename: str = "image.pgm"
    noisefilename: str = "noiseimage.img"
    # our own options (not in nanoBragg.c)
    omp_threads: int = 1
    kernel: str = "fast"
    threads: int = 0
    device: str = "cpu"
    gpu_precision: str = "double"


# ---------------------------------------------------------------- values set by keyword

CHOICES = {"kernel": KERNELS, "device": DEVICES, "gpu_precision": GPU_PRECISIONS,
           "xtal_shape": ("SQUARE", "ROUND", "GAUSS", "TOPHAT"), "detector_pivot": ("BEAM", "SAMPLE"),
           "beam_convention": ("MOSFLM", "XDS", "ADXV", "DENZO", "DIALS", "CUSTOM")}
AT_LEAST = {"threads": 0, "omp_threads": 1}
# keywords that stand for several fields, as their flags do (-N sets Na, Nb and Nc)
ALIASES = {"N": ("Na", "Nb", "Nc")}


def _kind(name):
    """'int', 'float', 'vector', 'str', 'path' or 'array': what a field holds, from its annotation."""
    annotation = Params.__dataclass_fields__[name].type
    if annotation.startswith("np.ndarray"):
        return "array"
    if annotation == "str | None":
        return "path"
    return {"int": "int", "float": "float", "list": "vector", "str": "str"}[annotation]


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise NanoBraggError("%s must be a number, not %r" % (name, value))
    return float(value)


def checked_value(name, value):
    """`value` as field `name` holds it; NanoBraggError naming the field for an unknown name, a wrong
    type or an impossible value."""
    if name not in Params.__dataclass_fields__:
        near = difflib.get_close_matches(name, list(Params.__dataclass_fields__) + list(ALIASES), 1)
        raise NanoBraggError("unknown parameter %r%s" % (name, " (did you mean %r?)" % near[0] if near else ""))
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
        if not isinstance(value, str) or (name in CHOICES and value not in CHOICES[name]):
            raise NanoBraggError("%s must be one of %s, not %r" % (name, ", ".join(CHOICES.get(name, ("a string",))),
                                                                   value))
    elif kind == "path":
        if value is not None:
            if not isinstance(value, (str, os.PathLike)):
                raise NanoBraggError("%s must be a file name, not %r" % (name, value))
            value = os.fspath(value)
    elif value is not None and not isinstance(value, np.ndarray):
        raise NanoBraggError("%s must be a NumPy array, not %r" % (name, type(value).__name__))
    return value


def set_value(p, name, value):
    """Sets field `name` (or the fields an alias such as N stands for) of `p`, checked."""
    for target in ALIASES.get(name, (name,)):
        setattr(p, target, checked_value(target, value))
