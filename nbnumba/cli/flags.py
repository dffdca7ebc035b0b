"""Every option, defined once: the table that drives both the parser (cli/argv.py) and `--help`.

Each entry is one `if` of nanoBragg.c's option loops, registered in C's source order with its help
metadata, above the body that the `if` runs:

    @flag("-Na", line=511, nargs="1", units="cells", default="1", section=CRYSTAL, help="unit cells along a")
    def _(p, t):
        if t.need(1):
            p.Na = float(t.n(1))
            return STOP

- names: what the help lists, first name first. A name ending in '*' is a stem that C matches inside
  longer tokens (`-heigh*`); other names are the spellings a user types.
- match: C's test on the token alone, explicit wherever it is not a plain substring of the one name:
  several patterns per branch, exact `strcmp` (-N, -MW), `strlen` conditions. Without it the test is
  `names[0] in tok` (C's `strstr`).
- line: the nanoBragg.c line of the `if`; the registry must be in this order (a test checks it).
- stage: PASS_1 (C 398-414, -img/-mask, read before everything else), PASS_2 (C 505-1115, the
  substring cascade) or OURS (our own options, exact names, taken out of argv before C's parsing).
- listed=False: a parse-only entry, for a second C branch of a name that the help lists once
  (-misset random, the -img of pass 2). A name that two branches test (-width, -heigh*) is listed on
  both; the help lists every name the parser knows, and nothing else (tests/test_flag_table.py).

A body gets the Params and the token (argv._Token): `t.need(k)` is C's `argc > i+k` guard (and marks
the k values as read), `t.need_or_crash()` C's `argc >= i+1`, `t.fire()` a switch without a guard,
`t.s(k)`, `t.f(k)`, `t.n(k)` the k-th value as text, atof and atoi; it returns STOP where C ends the
matching for this token with `continue`. The guard is in the body, because a failed guard lets C go on
to the next test. Our own options' bodies get (p, value) instead.
"""

from __future__ import annotations

import math
import re
from typing import Callable, NamedTuple

from ..config import DEVICES, GPU_PRECISIONS, KERNELS, SKIPPABLE, Params
from ..errors import NanoBraggError
from ..sampling import RTD  # C: RTD = 180.0*M_1_PI

PASS_1, PASS_2, OURS = "pass 1", "pass 2", "ours"
STOP = True  # a body's return value for C's `continue`: no later test sees this token

CRYSTAL = "Crystal: cell, orientation, size"
STRUCTURE_FACTORS = "Structure factors"
BEAM = "Beam"
DETECTOR = "Detector"
SAMPLING = "Sampling"
FILES = "Outputs and inputs"
NOISE = "Noise and random numbers"
DIAGNOSTICS = "Diagnostics"
OUR_SECTION = "nbnumba options (not in nanoBragg.c; taken out before nanoBragg's flags are read)"
SECTIONS = (CRYSTAL, STRUCTURE_FACTORS, BEAM, DETECTOR, SAMPLING, FILES, NOISE, DIAGNOSTICS, OUR_SECTION)

_OURS = Params()   # the defaults of our own options, from the one place that sets them


class Flag(NamedTuple):
    name: str
    aliases: tuple = ()
    nargs: str = "0"  # how many values follow ("0", "1", "3", "1-6", ...)
    units: str = ""  # units of the values as typed
    default: str = ""
    help: str = ""
    section: str = ""
    line: int = 0  # nanoBragg.c line of the test (0: our own options)
    stage: str = PASS_2
    match: Callable[[str], bool] | None = None
    body: Callable | None = None
    listed: bool = True  # in --help (False: a second C branch of a listed name)


REGISTRY: list[Flag] = []


def flag(*names, line, nargs="0", units="", default="", section="", help="", match=None, stage=PASS_2,
         listed=True):
    """Registers the decorated function as the body of one C branch (see the module's docstring)."""
    if match is None:
        if len(names) != 1 or names[0].endswith("*"):
            raise ValueError(f"{names}: C's test must be spelled out (match=) for a branch of several names")
        pattern = names[0]
        match = (lambda tok: tok == pattern) if stage == OURS else (lambda tok: pattern in tok)
    if listed and (section not in SECTIONS or not help):
        raise ValueError(f"{names[0]}: a listed flag needs a section and a help line")

    def register(body):
        REGISTRY.append(Flag(names[0], names[1:], nargs, units, default, help, section, line, stage, match,
                             body, listed))
        return body
    return register


def ours(name, **meta):
    """Our own option: an exact name with one value, set by body(p, value)."""
    return flag(name, line=0, nargs="1", section=OUR_SECTION, stage=OURS, **meta)


# ---------------------------------------------------------------- C arithmetic the bodies need

def c_int32(v: int) -> int:
    """The low 32 bits of v as a signed C int."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= (1 << 31) else v


def c_div(x: float, y: float) -> float:
    """IEEE division (C), where Python would raise ZeroDivisionError."""
    if y == 0.0:
        if x == 0.0 or math.isnan(x):
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)
    return x / y


# ---------------------------------------------------------------- pass 1 (C 398-414)

@flag("-img", line=405, stage=PASS_1, nargs="1", units="file", default="none", section=FILES,
      help="SMV image whose header sets the geometry")
def _img(p, t):
    if t.need(1):
        p.imginfilename = t.s(1)


@flag("-mask", line=409, stage=PASS_1, nargs="1", units="file", default="none", section=FILES,
      help="SMV mask: pixels with value 0 are skipped; header sets the geometry")
def _(p, t):
    if t.need(1):
        p.maskfilename = t.s(1)


# ---------------------------------------------------------------- pass 2 (C 505-1115), in C's order

@flag("-Na", line=511, nargs="1", units="cells", default="1", section=CRYSTAL, help="unit cells along a")
def _(p, t):
    if t.need(1):
        p.Na = float(t.n(1))
        return STOP


@flag("-Nb", line=516, nargs="1", units="cells", default="1", section=CRYSTAL, help="unit cells along b")
def _(p, t):
    if t.need(1):
        p.Nb = float(t.n(1))
        return STOP


@flag("-Nc", line=521, nargs="1", units="cells", default="1", section=CRYSTAL, help="unit cells along c")
def _(p, t):
    if t.need(1):
        p.Nc = float(t.n(1))
        return STOP


@flag("-N", line=526, match=lambda tok: tok == "-N", nargs="1", units="cells", default="1", section=CRYSTAL,
      help="unit cells along each axis (exact name)")
def _(p, t):
    if t.need(1):
        p.Na = p.Nb = p.Nc = float(t.n(1))
        return STOP


@flag("-cell", line=531, nargs="1-6", units="A, deg", default="none", section=CRYSTAL,
      help="unit cell a b c alpha beta gamma; stops at a value starting with '-'")
def _(p, t):
    if not t.need(1, mark=False):
        return None
    p.user_cell = 1
    # up to 6 values; C stops (and ends this token's matching) at one that starts with '-'
    for k in range(1, 7):
        if t.argc <= t.i + k or t.s(k).startswith("-"):
            return STOP
        t.values.add(t.i + k)
        v = t.f(k)
        if k == 1:
            p.a[0] = v
        elif k == 2:
            p.b[0] = v
        elif k == 3:
            p.c[0] = v
        elif k == 4:
            p.alpha = v / RTD
        elif k == 5:
            p.beta = v / RTD
        else:
            p.gamma = v / RTD
    return None


# C 553 and 561 also run for "-misset_seed", which contains "-misset" (a collision, reproduced with a warning)
@flag("-misset", line=553, listed=False)  # -misset random: listed with the -misset of C 561
def _(p, t):
    if t.argc > t.i + 1 and "rand" in t.s(1):
        t.need(1)
        if "-misset_seed" in t.tok:
            t.warn(f"WARNING: {t.tok} {t.s(1)} sets -misset random and leaves the misset seed (as nanoBragg.c does)")
        p.misset[0] = -1.0
        return STOP
    return None


@flag("-misset", line=561, nargs="3", units="deg", default="off", section=CRYSTAL,
      help="rotate the crystal about x, y, z; '-misset random' for a random orientation")
def _(p, t):
    if "-misset_seed" in t.tok:
        if t.argc > t.i + 3:
            t.fire()
            t.values.update(t.i + k for k in (1, 2, 3) if not t.s(k).startswith("-"))
            t.warn(f"WARNING: {t.tok} also sets -misset {t.s(1)} {t.s(2)} {t.s(3)} (as nanoBragg.c does)")
            p.misset[0] = 1.0
            p.misset[1] = t.f(1, strict=False) / RTD
            p.misset[2] = t.f(2, strict=False) / RTD
            p.misset[3] = t.f(3, strict=False) / RTD
    elif t.need(3):
        p.misset[0] = 1.0
        p.misset[1] = t.f(1) / RTD
        p.misset[2] = t.f(2) / RTD
        p.misset[3] = t.f(3) / RTD


@flag("-samplesize", "-sample_size", line=568, match=lambda tok: "-samplesize" in tok or "-sample_size" in tok,
      nargs="1", units="mm", default="0", section=CRYSTAL, help="crystal size along all axes; sets Na, Nb, Nc")
def _sample_size(p, t):
    if t.need(1):
        p.sample_x = t.f(1) / 1000
        p.sample_y = t.f(1) / 1000
        p.sample_z = t.f(1) / 1000


@flag("-sample_thick", "-sample_x", line=574, match=lambda tok: "-sample_thick" in tok or "-sample_x" in tok,
      nargs="1", units="mm", default="0", section=CRYSTAL, help="crystal size along x (sets Na)")
def _sample_x(p, t):
    if t.need(1):
        p.sample_x = t.f(1) / 1000


@flag("-sample_width", "-sample_y", "-width", line=578,
      match=lambda tok: "-sample_width" in tok or "-sample_y" in tok or "-width" in tok,
      nargs="1", units="mm", default="0", section=CRYSTAL,
      help="crystal size along y (sets Nb; clipped to -beamsize)")
def _sample_y(p, t):
    if t.need(1):
        p.sample_y = t.f(1) / 1000


@flag("-sample_height", "-sample_heigh*", "-sample_z", "-height", "-heigh*", line=582,
      match=lambda tok: "-sample_heigh" in tok or "-sample_z" in tok or "-heigh" in tok,
      nargs="1", units="mm", default="0", section=CRYSTAL,
      help="crystal size along z (sets Nc; clipped to -beamsize)")
def _sample_z(p, t):
    if t.need(1):
        p.sample_z = t.f(1) / 1000


# C repeats the four -sample_ branches for -xtal_ (586-603): the same bodies
flag("-xtalsize", "-xtal_size", line=586, match=lambda tok: "-xtalsize" in tok or "-xtal_size" in tok,
     nargs="1", units="mm", default="0", section=CRYSTAL,
     help="crystal size along all axes; sets Na, Nb, Nc")(_sample_size)


flag("-xtal_thick", "-xtal_x", line=592, match=lambda tok: "-xtal_thick" in tok or "-xtal_x" in tok,
     nargs="1", units="mm", default="0", section=CRYSTAL, help="crystal size along x (sets Na)")(_sample_x)


flag("-xtal_width", "-xtal_y", "-width", line=596,
     match=lambda tok: "-xtal_width" in tok or "-xtal_y" in tok or "-width" in tok,
     nargs="1", units="mm", default="0", section=CRYSTAL,
     help="crystal size along y (sets Nb; clipped to -beamsize)")(_sample_y)


flag("-xtal_height", "-xtal_heigh*", "-xtal_z", "-height", "-heigh*", line=600,
     match=lambda tok: "-xtal_heigh" in tok or "-xtal_z" in tok or "-heigh" in tok,
     nargs="1", units="mm", default="0", section=CRYSTAL,
     help="crystal size along z (sets Nc; clipped to -beamsize)")(_sample_z)


@flag("-density", "-sample_den*", line=604, match=lambda tok: "-density" in tok or "-sample_den" in tok,
      nargs="1", units="g/cm^3", default="1", section=CRYSTAL, help="crystal density (informational only)")
def _(p, t):
    if t.need(1):
        p.density = t.f(1) * 1e6


@flag("-MW", "-molec*", line=608, match=lambda tok: tok == "-MW" or "-molec" in tok,
      nargs="1", units="g/mol", default="18", section=CRYSTAL, help="molecular weight (informational only)")
def _(p, t):
    if t.need(1):
        p.molecular_weight = t.f(1)


@flag("-Xbeam", line=612, nargs="1", units="mm", default="convention", section=DETECTOR,
      help="beam centre, fast; pivot BEAM")
def _(p, t):
    if t.need(1):
        p.Xbeam = t.f(1) / 1000.0
        p.detector_pivot = "BEAM"


@flag("-Ybeam", line=617, nargs="1", units="mm", default="convention", section=DETECTOR,
      help="beam centre, slow; pivot BEAM")
def _(p, t):
    if t.need(1):
        p.Ybeam = t.f(1) / 1000.0
        p.detector_pivot = "BEAM"


@flag("-Xclose", line=622, nargs="1", units="mm", default="convention", section=DETECTOR,
      help="near point, fast; pivot SAMPLE")
def _(p, t):
    if t.need(1):
        p.Xclose = t.f(1) / 1000.0
        p.detector_pivot = "SAMPLE"


@flag("-Yclose", line=627, nargs="1", units="mm", default="convention", section=DETECTOR,
      help="near point, slow; pivot SAMPLE")
def _(p, t):
    if t.need(1):
        p.Yclose = t.f(1) / 1000.0
        p.detector_pivot = "SAMPLE"


@flag("-ORGX", line=632, nargs="1", units="pixels", default="none", section=DETECTOR,
      help="XDS origin, fast; pivot SAMPLE")
def _(p, t):
    if t.need(1):
        p.ORGX = t.f(1)
        p.detector_pivot = "SAMPLE"


@flag("-ORGY", line=637, nargs="1", units="pixels", default="none", section=DETECTOR,
      help="XDS origin, slow; pivot SAMPLE")
def _(p, t):
    if t.need(1):
        p.ORGY = t.f(1)
        p.detector_pivot = "SAMPLE"


@flag("-pivot", line=642, nargs="1", units="sample|beam", default="beam", section=DETECTOR,
      help="detector pivot (honoured only in the CUSTOM convention)")
def _(p, t):
    if t.need(1):
        v = t.s(1)
        if "sample" not in v and "beam" not in v:
            raise NanoBraggError(f"{t.tok}: '{v}' is not sample or beam")
        if "sample" in v:
            p.detector_pivot = "SAMPLE"
        if "beam" in v:
            p.detector_pivot = "BEAM"


@flag("-mosflm", line=647, default="on", section=DETECTOR, help="MOSFLM convention")
def _(p, t):
    t.fire()
    p.beam_convention = "MOSFLM"
    p.detector_pivot = "BEAM"


@flag("-xds", line=652, default="off", section=DETECTOR, help="XDS convention")
def _(p, t):
    t.fire()
    p.beam_convention = "XDS"
    p.detector_pivot = "SAMPLE"


@flag("-adxv", line=657, default="off", section=DETECTOR, help="ADXV convention")
def _(p, t):
    t.fire()
    p.beam_convention = "ADXV"
    p.detector_pivot = "BEAM"


@flag("-denzo", line=662, default="off", section=DETECTOR, help="DENZO convention")
def _(p, t):
    t.fire()
    p.beam_convention = "DENZO"
    p.detector_pivot = "BEAM"


@flag("-dials", line=667, default="off", section=DETECTOR, help="DIALS convention")
def _(p, t):
    t.fire()
    p.beam_convention = "DIALS"
    p.detector_pivot = "BEAM"  # C 670 says BEAM here; the convention forces SAMPLE later


def _custom_vector(p, t, vector):
    """C 672-720: three components of a unit vector, and the CUSTOM convention."""
    if t.need(3):
        p.beam_convention = "CUSTOM"
        vector[1], vector[2], vector[3] = t.f(1), t.f(2), t.f(3)


@flag("-fdet_vector", line=672, nargs="3", units="unit vector", default="convention", section=DETECTOR,
      help="fast axis; CUSTOM")
def _(p, t):
    _custom_vector(p, t, p.fdet_vector)


@flag("-sdet_vector", line=679, nargs="3", units="unit vector", default="convention", section=DETECTOR,
      help="slow axis; CUSTOM")
def _(p, t):
    _custom_vector(p, t, p.sdet_vector)


@flag("-odet_vector", line=686, nargs="3", units="unit vector", default="convention", section=DETECTOR,
      help="detector normal; CUSTOM")
def _(p, t):
    _custom_vector(p, t, p.odet_vector)


@flag("-beam_vector", line=693, nargs="3", units="unit vector", default="1 0 0", section=BEAM,
      help="beam direction; selects the CUSTOM convention")
def _(p, t):
    _custom_vector(p, t, p.beam_vector)


@flag("-polar_vector", line=700, nargs="3", units="unit vector", default="0 0 1", section=BEAM,
      help="E-vector; selects the CUSTOM convention")
def _(p, t):
    _custom_vector(p, t, p.polar_vector)


@flag("-spindle_axis", line=707, nargs="3", units="unit vector", default="0 0 1", section=DETECTOR,
      help="phi rotation axis; CUSTOM")
def _(p, t):
    _custom_vector(p, t, p.spindle_vector)


@flag("-twotheta_axis", line=714, nargs="3", units="unit vector", default="convention", section=DETECTOR,
      help="two-theta axis; CUSTOM (also fires -twotheta with the first value)")
def _(p, t):
    _custom_vector(p, t, p.twotheta_axis)


@flag("-pix0_vector", "-pix0_vector_mm", line=721, match=lambda tok: "-pix0_vector" in tok,
      nargs="3", units="m", default="none", section=DETECTOR, help="selects CUSTOM; the values are not used")
def _(p, t):
    if t.need(3):
        p.beam_convention = "CUSTOM"
        p.pix0_vector[0] = 1.0
        p.pix0_vector[1], p.pix0_vector[2], p.pix0_vector[3] = t.f(1), t.f(2), t.f(3)


@flag("-distance", line=729, nargs="1", units="mm", default="100", section=DETECTOR,
      help="sample to beam spot along the beam; pivot BEAM")
def _(p, t):
    if t.need(1):
        p.distance = t.f(1) / 1000.0
        p.detector_pivot = "BEAM"


@flag("-close_distance", line=734, nargs="1", units="mm", default="auto", section=DETECTOR,
      help="sample to detector plane (perpendicular); pivot SAMPLE")
def _(p, t):
    if t.need(1):
        p.close_distance = t.f(1) / 1000.0
        p.detector_pivot = "SAMPLE"


@flag("-detector_abs", "-detector_absorb", line=743, match=lambda tok: "-detector_abs" in tok,
      nargs="1", units="um", default="off", section=DETECTOR,
      help="attenuation length; inf or 0 turns absorption off")
def _(p, t):
    if t.need_or_crash():
        v = t.s(1)
        if "inf" in v or t.f(1) == 0.0:
            p.detector_thick = 0.0
            p.detector_mu = 0.0
        else:
            p.detector_mu = 1.0 / (t.f(1) * 1e-6)


@flag("-detector_thick", line=752, match=lambda tok: "-detector_thick" in tok and len(tok) == 15,
      nargs="1", units="um", default="0", section=DETECTOR, help="sensor thickness (exact name)")
def _(p, t):
    if t.need_or_crash():
        p.detector_thick = t.f(1) * 1e-6


@flag("-detector_thicksteps", line=756, nargs="1", units="int", default="auto", section=DETECTOR,
      help="number of sensor layers")
def _(p, t):
    if t.need_or_crash():
        p.detector_thicksteps = t.n(1)


@flag("-thicksteps", line=760, nargs="1", units="int", default="auto", section=DETECTOR,
      help="number of sensor layers (as -detector_thicksteps)")
def _(p, t):
    if t.need_or_crash():
        p.detector_thicksteps = t.n(1)


@flag("-twotheta", line=764, nargs="1", units="deg", default="0", section=DETECTOR,
      help="detector two-theta swing; pivot SAMPLE")
def _(p, t):
    if t.need(1):
        if "-twotheta_axis" in t.tok:
            t.warn(f"WARNING: {t.tok} also sets -twotheta {t.s(1)} and pivot SAMPLE (as nanoBragg.c does)")
        p.detector_twotheta = t.f(1) / RTD
        p.detector_pivot = "SAMPLE"


@flag("-detector_rotx", line=769, nargs="1", units="deg", default="0", section=DETECTOR,
      help="detector rotation about x")
def _(p, t):
    if t.need(1):
        p.detector_rotx = t.f(1) / RTD


@flag("-detector_roty", line=773, nargs="1", units="deg", default="0", section=DETECTOR,
      help="detector rotation about y")
def _(p, t):
    if t.need(1):
        p.detector_roty = t.f(1) / RTD


@flag("-detector_rotz", line=777, nargs="1", units="deg", default="0", section=DETECTOR,
      help="detector rotation about z")
def _(p, t):
    if t.need(1):
        p.detector_rotz = t.f(1) / RTD


@flag("-detsize", line=781, match=lambda tok: "-detsize" in tok and len(tok) == 8,
      nargs="1", units="mm", default="102.4", section=DETECTOR, help="detector size, both axes (exact name)")
def _(p, t):
    if t.need(1):
        p.detsize_f = t.f(1) / 1000.0
        p.detsize_s = t.f(1) / 1000.0


@flag("-detsize_f", line=786, nargs="1", units="mm", default="102.4", section=DETECTOR,
      help="detector size along fast")
def _(p, t):
    if t.need(1):
        p.detsize_f = t.f(1) / 1000.0


@flag("-detsize_s", line=790, nargs="1", units="mm", default="102.4", section=DETECTOR,
      help="detector size along slow")
def _(p, t):
    if t.need(1):
        p.detsize_s = t.f(1) / 1000.0


@flag("-detpixels", line=794, match=lambda tok: "-detpixels" in tok and len(tok) == 10,
      nargs="1", units="pixels", default="auto", section=DETECTOR, help="pixels along both axes (exact name)")
def _(p, t):
    if t.need(1):
        p.fpixels = p.spixels = t.n(1)


@flag("-detpixels_f", "-detpixels_x", line=798, match=lambda tok: "-detpixels_f" in tok or "-detpixels_x" in tok,
      nargs="1", units="pixels", default="auto", section=DETECTOR, help="pixels along the fast axis")
def _(p, t):
    if t.need(1):
        p.fpixels = t.n(1)


@flag("-detpixels_s", "-detpixels_y", line=802, match=lambda tok: "-detpixels_s" in tok or "-detpixels_y" in tok,
      nargs="1", units="pixels", default="auto", section=DETECTOR, help="pixels along the slow axis")
def _(p, t):
    if t.need(1):
        p.spixels = t.n(1)


@flag("-curved_det", "-curved_detector", line=806, match=lambda tok: "-curved_det" in tok,
      default="off", section=DETECTOR, help="spherical detector (ignored as the last argument)")
def _(p, t):
    if t.need(1, mark=False):  # a switch, but C wants a token after it
        p.curved_detector = 1


@flag("-pixel", line=810, nargs="1", units="mm", default="0.1", section=DETECTOR, help="pixel size")
def _(p, t):
    if t.need(1):
        p.pixel_size = t.f(1) / 1000.0


@flag("-point_pixel", line=814, default="off", section=DETECTOR, help="solid angle 1/R^2 (no obliquity)")
def _(p, t):
    t.fire()
    p.point_pixel = 1


@flag("-polar", line=818, match=lambda tok: "-polar" in tok and len(tok) == 6,
      nargs="1", default="0", section=BEAM, help="Kahn polarization factor (exact name)")
def _(p, t):
    if t.need(1):
        p.polarization = t.f(1)
        p.nopolar = 0


@flag("-nopolar", line=823, default="off", section=BEAM, help="no polarization correction")
def _(p, t):
    t.fire()
    p.nopolar = 1


@flag("-oversample_thick", line=827, default="off", section=SAMPLING, help="sensor absorption per sub-pixel")
def _(p, t):
    t.fire()
    p.oversample_thick = 1
    return STOP


@flag("-oversample_polar", line=832, default="off", section=SAMPLING, help="polarization per sub-pixel")
def _(p, t):
    t.fire()
    p.oversample_polar = 1
    return STOP


@flag("-oversample_omega", line=837, default="off", section=SAMPLING, help="solid angle per sub-pixel")
def _(p, t):
    t.fire()
    p.oversample_omega = 1
    return STOP


@flag("-oversample", line=842, nargs="1", units="int", default="auto", section=SAMPLING,
      help="sub-pixels per pixel edge")
def _(p, t):
    if t.need(1):
        p.oversample = t.n(1)


@flag("-roi", line=846, nargs="4", units="pixels", default="whole detector", section=SAMPLING,
      help="xmin xmax ymin ymax, inclusive")
def _(p, t):
    if t.need(4):
        p.roi_xmin, p.roi_xmax, p.roi_ymin, p.roi_ymax = t.n(1), t.n(2), t.n(3), t.n(4)


@flag("-lambda", "-wavelength", "-wave*", line=853, match=lambda tok: "-lambda" in tok or "-wave" in tok,
      nargs="1", units="A", default="1", section=BEAM, help="wavelength")
def _(p, t):
    if t.need(1):
        p.lambda0 = t.f(1) / 1.0e10


@flag("-energy", line=857, nargs="1", units="eV", section=BEAM, help="photon energy (lambda = 12398.42/E A)")
def _(p, t):
    if t.need(1):
        e = t.f(1)
        p.lambda0 = c_div(12398.42, e) / 1.0e10


@flag("-fluence", line=861, nargs="1", units="photons/m^2", default="1.25932e29", section=BEAM,
      help="incident fluence")
def _(p, t):
    if t.need(1):
        p.fluence = t.f(1)


@flag("-flux", line=865, nargs="1", units="photons/s", default="0", section=BEAM,
      help="incident flux; sets fluence = flux*exposure/beamsize^2 (wins over -fluence)")
def _(p, t):
    if t.need(1):
        p.flux = t.f(1)


@flag("-exposure", line=869, nargs="1", units="s", default="1", section=BEAM, help="exposure time")
def _(p, t):
    if t.need(1):
        p.exposure = t.f(1)


@flag("-beamsize", line=873, nargs="1", units="mm", default="0.1", section=BEAM, help="beam size (square)")
def _(p, t):
    if t.need(1):
        p.beamsize = t.f(1) / 1000


@flag("-mosaic", "-mosaicity", "-mosaici*", "-mosaic_spread", "-mosaic_spr*", line=877,
      match=lambda tok: ("-mosaic" in tok and len(tok) == 7) or "-mosaici" in tok or "-mosaic_spr" in tok,
      nargs="1", units="deg", default="none", section=SAMPLING, help="mosaic spread ('-mosaic' is an exact name)")
def _(p, t):
    if t.need(1):
        p.mosaic_spread = t.f(1) / RTD


@flag("-mosaic_domains", "-mosaic_dom*", line=881, match=lambda tok: "-mosaic_dom" in tok,
      nargs="1", units="int", default="10 with a spread", section=SAMPLING, help="number of mosaic domains")
def _(p, t):
    if t.need(1):
        p.mosaic_domains = t.n(1)


@flag("-dispersion", line=885, nargs="1", units="%", default="0", section=BEAM,
      help="spectral width dlambda/lambda")
def _(p, t):
    if t.need(1):
        p.dispersion = t.f(1) / 100.0


@flag("-dispsteps", line=889, nargs="1", units="int", default="auto", section=BEAM, help="number of wavelengths")
def _(p, t):
    if t.need(1):
        p.dispsteps = t.n(1)


@flag("-divergence", line=893, nargs="1", units="mrad", default="none", section=BEAM,
      help="horizontal and vertical divergence range")
def _(p, t):
    if t.need(1):
        p.hdivrange = p.vdivrange = t.f(1) / 1000.0


@flag("-hdivrange", line=897, nargs="1", units="mrad", default="none", section=BEAM,
      help="horizontal divergence range")
def _(p, t):
    if t.need(1):
        p.hdivrange = t.f(1) / 1000.0


@flag("-vdivrange", line=901, nargs="1", units="mrad", default="none", section=BEAM,
      help="vertical divergence range")
def _(p, t):
    if t.need(1):
        p.vdivrange = t.f(1) / 1000.0


@flag("-hdivstep", line=905, match=lambda tok: "-hdivstep" in tok and len(tok) == 9,
      nargs="1", units="mrad", default="auto", section=BEAM, help="horizontal divergence step (exact name)")
def _(p, t):
    if t.need(1):
        p.hdivstep = t.f(1) / 1000.0


@flag("-hdivsteps", line=909, nargs="1", units="int", default="auto", section=BEAM,
      help="number of horizontal divergence steps")
def _(p, t):
    if t.need(1):
        p.hdivsteps = t.n(1)


@flag("-vdivstep", line=913, match=lambda tok: "-vdivstep" in tok and len(tok) == 9,
      nargs="1", units="mrad", default="auto", section=BEAM, help="vertical divergence step (exact name)")
def _(p, t):
    if t.need(1):
        p.vdivstep = t.f(1) / 1000.0


@flag("-vdivsteps", line=917, nargs="1", units="int", default="auto", section=BEAM,
      help="number of vertical divergence steps")
def _(p, t):
    if t.need(1):
        p.vdivsteps = t.n(1)


@flag("-divsteps", line=921, nargs="1", units="int", default="auto", section=BEAM,
      help="number of divergence steps, both directions")
def _(p, t):
    if t.need(1):
        p.hdivsteps = p.vdivsteps = t.n(1)


@flag("-round_div", line=925, default="on", section=BEAM, help="cut the divergence grid to an ellipse")
def _(p, t):
    t.fire()
    p.round_div = 1


@flag("-square_div", line=930, default="off", section=BEAM, help="keep the full rectangular divergence grid")
def _(p, t):
    t.fire()
    p.round_div = 0


@flag("-adc", line=935, nargs="1", units="ADU", default="40", section=FILES,
      help="offset added to int and noise pixels")
def _(p, t):
    if t.need(1):
        p.adc_offset = t.f(1)


@flag("-phi", line=939, match=lambda tok: "-phi" in tok and len(tok) == 4,
      nargs="1", units="deg", default="0", section=SAMPLING, help="spindle start angle (exact name)")
def _(p, t):
    if t.need(1):
        p.phi0 = t.f(1) / RTD


@flag("-osc", line=943, nargs="1", units="deg", default="none", section=SAMPLING, help="oscillation range")
def _(p, t):
    if t.need(1):
        p.osc = t.f(1) / RTD


@flag("-phistep", line=947, match=lambda tok: "-phistep" in tok and len(tok) == 8,
      nargs="1", units="deg", default="auto", section=SAMPLING, help="phi step (exact name)")
def _(p, t):
    if t.need(1):
        p.phistep = t.f(1) / RTD


@flag("-phisteps", line=951, nargs="1", units="int", default="auto", section=SAMPLING,
      help="number of phi steps")
def _(p, t):
    if t.need(1):
        p.phisteps = t.n(1)


@flag("-dmin", line=955, nargs="1", units="A", default="0", section=SAMPLING, help="resolution limit (0: none)")
def _(p, t):
    if t.need(1):
        p.dmin = t.f(1) * 1e-10


@flag("-mat", line=959, nargs="1", units="file", default="none", section=CRYSTAL,
      help="MOSFLM orientation matrix (A-matrix, divided by lambda)")
def _(p, t):
    if t.need(1):
        p.matfilename = t.s(1)


@flag("-hkl", line=963, nargs="1", units="file", default="none", section=STRUCTURE_FACTORS,
      help="text file of h k l F")
def _(p, t):
    if t.need(1):
        p.hklfilename = t.s(1)


@flag("-default_F", line=967, nargs="1", units="electrons", default="0", section=STRUCTURE_FACTORS,
      help="F for reflections not in the file")
def _(p, t):
    if t.need(1):
        p.default_F = t.f(1)


@flag("-dump", "-dumpfile", line=971, match=lambda tok: "-dump" in tok, nargs="1", units="file",
      default="Fdump.bin", section=STRUCTURE_FACTORS,
      help="binary structure-factor cache to write (and read when there is no -hkl)")
def _(p, t):
    if t.need(1):
        p.dumpfilename = t.s(1)


flag("-img", line=975, listed=False)(_img)  # pass 2 sets the name again: the last -img wins in both passes


@flag("-stolout", line=979, match=lambda tok: "-stolout" in tok and len(tok) > 7,
      nargs="1", units="file", default="output.stol", section=FILES, help="accepted, never written")
def _(p, t):
    if t.need(1):
        p.stoloutfilename = t.s(1)


@flag("-stol", line=983, match=lambda tok: "-stol" in tok and len(tok) == 5,
      nargs="1", units="file", default="none", section=FILES,
      help="two-column stol/F file (read, then unused; exact name)")
def _(p, t):
    if t.need(1):
        p.stolfilename = t.s(1)
        p.stol_file_mult = 1e10


@flag("-4stol", line=988, match=lambda tok: "-4stol" in tok and len(tok) == 6,
      nargs="1", units="file", default="none", section=FILES, help="as -stol with 4*stol (exact name)")
def _(p, t):
    if t.need(1):
        p.stolfilename = t.s(1)
        p.stol_file_mult = 1e10 / 4


@flag("-Q", line=993, match=lambda tok: "-Q" in tok and len(tok) == 2,
      nargs="1", units="file", default="none", section=FILES, help="as -stol with Q = 4*pi*stol (exact name)")
def _(p, t):
    if t.need(1):
        p.stolfilename = t.s(1)
        p.stol_file_mult = 1e10 / math.pi / 4


@flag("-sourcefile", line=998, nargs="1", units="file", default="none", section=BEAM,
      help="sources, columns X Y Z I lambda (lambda in m)")
def _(p, t):
    if t.need(1):
        p.sourcefilename = t.s(1)


@flag("-floatfile", "-floatimage", line=1002, match=lambda tok: "-floatfile" in tok or "-floatimage" in tok,
      nargs="1", units="file", default="floatimage.bin", section=FILES, help="raw float32 image")
def _(p, t):
    if t.need(1):
        p.floatfilename = t.s(1)


@flag("-intfile", "-intimage", line=1006, match=lambda tok: "-intfile" in tok or "-intimage" in tok,
      nargs="1", units="file", default="intimage.img", section=FILES, help="SMV image of scaled integers")
def _(p, t):
    if t.need(1):
        p.intfilename = t.s(1)


@flag("-pgmfile", "-pgmimage", line=1010, match=lambda tok: "-pgmfile" in tok or "-pgmimage" in tok,
      nargs="1", units="file", default="image.pgm", section=FILES, help="8-bit PGM picture (turns it back on)")
def _(p, t):
    if t.need(1):
        p.pgmfilename = t.s(1)
        p.write_pgm = 1


@flag("-noisefile", "-noiseimage", line=1015, match=lambda tok: "-noisefile" in tok or "-noiseimage" in tok,
      nargs="1", units="file", default="noiseimage.img", section=FILES,
      help="SMV image with Poisson noise (turns noise back on)")
def _(p, t):
    if t.need(1):
        p.noisefilename = t.s(1)
        p.calculate_noise = 1


@flag("-nonoise", line=1020, default="off", section=FILES, help="do not write the noise image")
def _(p, t):
    t.fire()
    p.calculate_noise = 0


@flag("-nopgm", line=1025, default="off", section=FILES, help="do not write the PGM picture")
def _(p, t):
    t.fire()
    p.write_pgm = 0


@flag("-scale", line=1029, nargs="1", default="auto", section=FILES,
      help="scale of the intfile (<= 0: auto, 55000/max)")
def _(p, t):
    if t.need(1):
        p.intfile_scale = t.f(1)


@flag("-pgmscale", line=1034, nargs="1", default="auto", section=FILES, help="scale of the PGM picture")
def _(p, t):
    if t.need(1):
        p.pgm_scale = t.f(1)
        p.write_pgm = 1


@flag("-coherent", line=1040, default="off", section=BEAM, help="accepted, no effect")
def _(p, t):
    t.fire()
    p.coherent = 1


@flag("-printout", line=1045, default="off", section=DIAGNOSTICS, help="print per-pixel values")
def _(p, t):
    t.fire()
    p.printout = 1


@flag("-noprogress", line=1050, default="off", section=DIAGNOSTICS, help="no progress meter")
def _(p, t):
    t.fire()
    p.progress_meter = 0


@flag("-progress", line=1055, default="on", section=DIAGNOSTICS, help="progress meter")
def _(p, t):
    t.fire()
    p.progress_meter = 1


@flag("-interpolate", line=1060, default="auto", section=STRUCTURE_FACTORS,
      help="tricubic interpolation of F (auto: when any of Na, Nb, Nc <= 2)")
def _(p, t):
    t.fire()
    p.interpolate = 1


@flag("-nointerpolate", line=1065, default="auto", section=STRUCTURE_FACTORS, help="nearest-neighbour F only")
def _(p, t):
    t.fire()
    p.interpolate = 0


@flag("-round_xtal", line=1070, default="off", section=CRYSTAL, help="spherical crystal shape (sinc3)")
def _(p, t):
    t.fire()
    p.xtal_shape = "ROUND"


@flag("-square_xtal", line=1075, default="on", section=CRYSTAL,
      help="parallelepiped crystal shape (sincg lattice factor)")
def _(p, t):
    t.fire()
    p.xtal_shape = "SQUARE"


@flag("-gauss_xtal", line=1080, default="off", section=CRYSTAL, help="Gaussian spot shape")
def _(p, t):
    t.fire()
    p.xtal_shape = "GAUSS"


@flag("-tophat_spots", "-binary_spots", line=1085,
      match=lambda tok: "-binary_spots" in tok or "-tophat_spots" in tok,
      default="off", section=CRYSTAL, help="top-hat spot shape")
def _(p, t):
    t.fire()
    p.xtal_shape = "TOPHAT"


@flag("-fudge", line=1090, nargs="1", default="1", section=CRYSTAL,
      help="scale of the hkl-space radius for round, gauss and tophat shapes")
def _(p, t):
    if t.need(1):
        p.fudge = t.f(1)


@flag("-printout_pixel", line=1094, nargs="2", units="fast slow", default="none", section=DIAGNOSTICS,
      help="print one pixel only")
def _(p, t):
    if t.need(2):
        p.printout_fpixel = t.n(1)
        p.printout_spixel = t.n(2)


@flag("-seed", line=1099, nargs="1", units="int", default="-time", section=NOISE, help="noise seed")
def _(p, t):
    if t.need(1):
        p.seed = c_int32(-t.n(1))


@flag("-mosaic_seed", line=1103, nargs="1", units="int", default="12345678", section=SAMPLING,
      help="seed of the mosaic domain orientations")
def _(p, t):
    if t.need(1):
        p.mosaic_seed = c_int32(-t.n(1))


@flag("-misset_seed", line=1107, nargs="1", units="int", default="-time", section=CRYSTAL,
      help="seed for -misset random (also fires -misset when 3 tokens follow)")
def _(p, t):
    if t.need(1):
        p.misset_seed = c_int32(-t.n(1))


@flag("-water", line=1111, nargs="1", units="um", default="0", section=FILES, help="water background thickness")
def _(p, t):
    if t.need(1):
        p.water_size = t.f(1) / 1e6


# ---------------------------------------------------------------- our own options

def _count(tok, v, lowest):
    if not re.fullmatch(r"[+-]?[0-9]+", v):
        raise NanoBraggError(f"{tok}: '{v}' is not an integer")
    n = int(v)
    if n < lowest:
        raise NanoBraggError(f"{tok}: '{v}' must be >= {lowest}")
    return n


def _one_of(tok, v, allowed):
    if v not in allowed:
        raise NanoBraggError(f"{tok}: '{v}' is not one of {', '.join(allowed)}")
    return v


@ours("-kernel", units="|".join(KERNELS), default=_OURS.kernel,
      help="pixel kernel: fast (nanoBragg.c's image to 1e-6 of the peak, most images bit for bit) or exact "
           "(nanoBragg.c's arithmetic, bit for bit)")
def _(p, v):
    p.kernel = _one_of("-kernel", v, KERNELS)


@ours("-threads", units="int >= 0", default=str(_OURS.threads), help="CPU threads (0: every CPU this process may use)")
def _(p, v):
    p.threads = _count("-threads", v, 0)


@ours("-omp_threads", units="int >= 1", default=str(_OURS.omp_threads),
      help="the image of nanoBragg.c built with OpenMP and OMP_NUM_THREADS=T")
def _(p, v):
    p.omp_threads = _count("-omp_threads", v, 1)


@ours("-device", units="|".join(DEVICES), default=_OURS.device,
      help="where to render: the CPU, an NVIDIA GPU, or the GPU when one is usable")
def _(p, v):
    p.device = _one_of("-device", v, DEVICES)


@ours("-gpu_precision", units="|".join(GPU_PRECISIONS), default=_OURS.gpu_precision, help="GPU arithmetic precision")
def _(p, v):
    p.gpu_precision = _one_of("-gpu_precision", v, GPU_PRECISIONS)


@ours("-skip", units=",".join(SKIPPABLE), default=_OURS.skip,
      help="files nanoBragg.c always writes that this run leaves out, comma-separated: the float image, the "
           "integer image, the Fdump.bin cache (then neither written with -hkl nor read without it)")
def _(p, v):
    names = [n for n in v.split(",") if n]
    for name in names:
        if name not in SKIPPABLE and name != "none":
            raise NanoBraggError(f"-skip: '{name}' is not one of {', '.join(SKIPPABLE)}")
    p.skip = ",".join(n for n in SKIPPABLE if n in names) or "none"


@ours("-nxsfile", units="file", default="none",
      help="also write the image (see -nxs_image) as NXmx (NeXus/HDF5) with the whole detector and beam geometry")
def _(p, v):
    p.nxsfile = v


@ours("-cbffile", units="file", default="none",
      help="also write the image (see -nxs_image) as a miniCBF with the imgCIF geometry")
def _(p, v):
    p.cbffile = v


@ours("-pngfile", units="file", default="none", help="also write an 8-bit PNG preview of the float image")
def _(p, v):
    p.pngfile = v


@ours("-nxs_image", units="auto|float|int|noise", default=_OURS.nxs_image,
      help="the image -nxsfile and -cbffile hold: auto is the noise image, or the int image with -nonoise")
def _(p, v):
    p.nxs_image = _one_of("-nxs_image", v, ("auto", "float", "int", "noise"))


# ---------------------------------------------------------------- what the parser and --help read

PASS1 = tuple(f for f in REGISTRY if f.stage == PASS_1)   # C 398-414, in C's order
PASS2 = tuple(f for f in REGISTRY if f.stage == PASS_2)   # C 505-1115, in C's order: the substring cascade
OUR_FLAGS = {f.name: f for f in REGISTRY if f.stage == OURS}


def all_flags() -> list[Flag]:
    """The entries --help lists, grouped by section (in C's order within each)."""
    return [f for title in SECTIONS for f in REGISTRY if f.listed and f.section == title]


def help_text() -> str:
    """Every option with its values, units and default, grouped like nanoBragg-flags.md."""
    out = [
        "Usage: nbnumba simulate [FLAGS...]   (e.g. nbnumba simulate -cell 100 100 100 90 90 90 "
        "-default_F 100 -N 5)",
        "",
        "Simulate one diffraction image with nanoBragg.c's flags; -h or --help prints this.",
        "Options are matched as in nanoBragg.c: by substring, in a fixed order, and a value",
        "is never consumed. Unknown options are ignored with a warning.",
    ]
    for title in SECTIONS:
        out.append("")
        out.append(title + ":")
        for f in REGISTRY:
            if not f.listed or f.section != title:
                continue
            names = ", ".join((f.name,) + f.aliases)
            if f.nargs == "0":
                vals = ""
            elif f.nargs == "1":
                vals = f" <{f.units or 'value'}>"
            else:
                vals = f" <{f.nargs} values{', ' + f.units if f.units else ''}>"
            default = f" [default: {f.default}]" if f.default else ""
            out.append(f"  {names}{vals}")
            out.append(f"      {f.help}{default}")
    return "\n".join(out) + "\n"
