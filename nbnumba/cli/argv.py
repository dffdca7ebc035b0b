"""nanoBragg.c's command-line handling (C lines 186-1115): defaults, pass 1 (-img/-mask), pass 2.

The semantics are C's: every token that starts with '-' is tested against every pattern with a
substring match (strstr), in source order; values are never consumed; only some branches end the
matching for a token. See nanoBragg-flags.md section 0. What we add on top: errors for values that
are not numbers at all, and warnings for unknown options, collisions and ignored flags.
"""

from __future__ import annotations

import math
import re
import sys
import time

import numpy as np

from nbnumba.config import DEVICES, GPU_PRECISIONS, KERNELS, Params
from nbnumba.errors import NanoBraggError
from nbnumba.io import cscan

# C: RTD = 180.0*M_1_PI, with M_1_PI written as the math.h literal (1/math.pi may round differently).
M_1_PI = 0.318309886183790671537767526745028724
RTD = 180.0 * M_1_PI

def print_to_stderr(msg):
    print(msg, file=sys.stderr)


# ---------------------------------------------------------------- C number conversions

_CSPACE = " \t\n\v\f\r"
_INT = re.compile(r"[+-]?[0-9]+")


def strtod(s: str) -> tuple[float, int]:
    """glibc strtod: (value, characters used); 0 characters used means no conversion (value 0.0)."""
    v, end = cscan.strtod(s.encode("latin-1"))
    return (v, end) if end > 0 else (0.0, 0)


def c_atof(s: str) -> float:
    """C atof: the longest valid prefix, 0.0 when there is none."""
    return strtod(s)[0]


def strtol_int(s: str) -> tuple[int, int]:
    """glibc atoi: (int)strtol(s, NULL, 10): clamped to long, then the low 32 bits."""
    start = len(s) - len(s.lstrip(_CSPACE))
    m = _INT.match(s, start)
    if not m:
        return 0, 0
    negative = m.group(0).startswith("-")
    digits = m.group(0).lstrip("+-").lstrip("0") or "0"
    if len(digits) > 19:    # past any long (and past what Python's int() converts): strtol saturates
        v = -(1 << 63) if negative else (1 << 63) - 1
    else:
        v = max(-(1 << 63), min((1 << 63) - 1, -int(digits) if negative else int(digits)))
    return _int32(v), m.end()


def c_atoi(s: str) -> int:
    """C atoi: the longest valid decimal prefix, 0 when there is none."""
    return strtol_int(s)[0]


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= (1 << 31) else v


def _is_number(tok: str) -> bool:
    v, n = strtod(tok)
    return n > 0 and not tok[n:].strip(_CSPACE)


# ---------------------------------------------------------------- pass 1: -mask / -img headers

def _read_frame(path, warn, out, is_mask=True):
    """nanoBragg.c's GetFrame (4124-4233) through io.smv.read_smv: (header_text, pixels) or None.

    None where C goes on without the file: it cannot be opened (C: perror only) or it does not
    start like an ADSC header. Where C exits 9 (header unreadable) read_smv raises.
    """
    from nbnumba.io.smv import read_smv

    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        warn(f"WARNING: {path}: {exc.strerror}; ignored (as nanoBragg.c does)")
        return None
    header_text, pixels = read_smv(path, as_float=not is_mask)
    if pixels is None:
        if out:
            out(f"ERROR: {path} does not look like an ADSC frame!")
        warn(f"WARNING: {path} does not look like an ADSC frame; ignored (as nanoBragg.c does)")
        return None
    if out:  # C's GetFrame prints these two lines on stdout (the second with a heap address)
        out(f"reading {path}")
        out(f"mmap({path}) = 0x{id(pixels):x}")
    return header_text, pixels


def _apply_header(p: Params, path, warn, out, is_mask):
    """C 418-500: the header keys of -mask (is_mask) or -img set geometry before pass 2."""
    frame = _read_frame(path, warn, out, is_mask)
    if frame is None:
        return
    header_text, pixels = frame
    height, width = pixels.shape
    from nbnumba.io.smv import value_of  # C's ValueOf (4236)

    def val(key):
        v = value_of(header_text, key)
        return math.nan if v is None else v

    # where each geometry value came from, for the messages of nbnumba.checks (C 418-500 take them as given)
    origin = p.__dict__.setdefault("header_origin", {})

    def came_from(name, key, t):
        origin[name] = (path, key, "%g" % t, getattr(p, name))

    p.fpixels, p.spixels = width, height
    came_from("fpixels", "SIZE1", width)
    came_from("spixels", "SIZE2", height)
    p.pixels = _int32(width * height)
    t = val("PIXEL_SIZE")
    if not math.isnan(t):
        p.pixel_size = t / 1000.0
        came_from("pixel_size", "PIXEL_SIZE", t)
    p.detsize_f = p.pixel_size * p.fpixels
    p.detsize_s = p.pixel_size * p.spixels
    t = val("DISTANCE")  # last occurrence: matches CLOSE_DISTANCE= in nanoBragg headers
    if not math.isnan(t):
        p.distance = t / 1000.0
        came_from("distance", "DISTANCE", t)
    t = val("CLOSE_DISTANCE")
    if not math.isnan(t):
        p.close_distance = t / 1000.0
        came_from("close_distance", "CLOSE_DISTANCE", t)
    t = val("WAVELENGTH")
    if not math.isnan(t):
        p.lambda0 = t / 1e10
        came_from("lambda0", "WAVELENGTH", t)
    t = val("BEAM_CENTER_X")
    if not math.isnan(t):
        p.Xbeam = t / 1000.0
        came_from("Xbeam", "BEAM_CENTER_X", t)
    t = val("BEAM_CENTER_Y")
    if not math.isnan(t):
        # only the mask flips Y (C 437 vs 478)
        p.Ybeam = (p.detsize_s - t / 1000.0) if is_mask else t / 1000.0
        came_from("Ybeam", "BEAM_CENTER_Y", t)
    t = val("ORGX")
    if not math.isnan(t):
        p.ORGX = t
        came_from("ORGX", "ORGX", t)
    t = val("ORGY")
    if not math.isnan(t):
        p.ORGY = t
        came_from("ORGY", "ORGY", t)
    t = val("PHI")
    if not math.isnan(t):
        p.phi0 = t / RTD
        came_from("phi0", "PHI", t)
    t = val("OSC_RANGE")
    if not math.isnan(t):
        p.osc = t / RTD
        came_from("osc", "OSC_RANGE", t)
    t = val("TWOTHETA")  # C stores it in `twotheta`, not detector_twotheta: no effect
    if not math.isnan(t):
        p.twotheta = t / RTD
    if is_mask:
        p.maskimage = pixels.reshape(-1).astype(np.uint16)
    else:
        p.imginfileimage = pixels.reshape(-1).astype(np.float32)


# ---------------------------------------------------------------- the parser

class _Token:
    """Book-keeping for one argv token: what fired, which guards failed, which values it read."""

    def __init__(self, args, i, warn, values):
        self.args, self.i, self.warn, self.values = args, i, warn, values
        self.tok = args[i]
        self.argc = len(args)
        self.fired = False
        self.short = 0  # largest value count a matching branch wanted but did not get
        self._said = set()

    def say(self, msg):
        """warn() once per token (a value can be read by several branches)."""
        if msg not in self._said:
            self._said.add(msg)
            self.warn(msg)

    def need(self, k, mark=True):
        """C's `argc > i+k` guard, for a branch whose pattern already matched."""
        if self.argc > self.i + k:
            self.fired = True
            if mark:
                self.values.update(range(self.i + 1, self.i + k + 1))
            return True
        self.short = max(self.short, k)
        return False

    def need_or_crash(self):
        """C's `argc >= i+1` guard (always true): the last token makes C dereference argv[argc]."""
        if self.argc <= self.i + 1:
            raise NanoBraggError(f"{self.tok} needs a value")
        return self.need(1)

    def fire(self):
        self.fired = True
        return True

    def s(self, k):
        return self.args[self.i + k]

    def f(self, k, strict=True):
        """atof(argv[i+k]), refusing text that is not a number at all (unless not strict)."""
        text = self.args[self.i + k]
        v, n = strtod(text)
        if strict:
            if n == 0:
                raise NanoBraggError(f"{self.tok}: '{text}' is not a number")
            if text[n:].strip(_CSPACE):
                self.say(f"WARNING: {self.tok}: '{text}' read as {v!r}")
        return v

    def n(self, k):
        """atoi(argv[i+k]), refusing text that is not a number at all."""
        text = self.args[self.i + k]
        v, n = strtol_int(text)
        if n == 0:
            raise NanoBraggError(f"{self.tok}: '{text}' is not a number")
        if text[n:].strip(_CSPACE):
            self.say(f"WARNING: {self.tok}: '{text}' read as the integer {v}")
        return v


# Our own options (not nanoBragg.c's): exact names, each with one value.
OUR_OPTIONS = ("-omp_threads", "-kernel", "-threads", "-device", "-gpu_precision")


def _set_our_option(p: Params, tok, v):
    if tok in ("-omp_threads", "-threads"):
        if not re.fullmatch(r"[+-]?[0-9]+", v):
            raise NanoBraggError(f"{tok}: '{v}' is not an integer")
        n = int(v)
        lo = 1 if tok == "-omp_threads" else 0
        if n < lo:
            raise NanoBraggError(f"{tok}: '{v}' must be >= {lo}")
        setattr(p, tok[1:], n)
        return
    allowed = {"-kernel": KERNELS, "-device": DEVICES, "-gpu_precision": GPU_PRECISIONS}[tok]
    if v not in allowed:
        raise NanoBraggError(f"{tok}: '{v}' is not one of {', '.join(allowed)}")
    setattr(p, tok[1:], v)


def take_our_options(p: Params, argv):
    """Sets our own options from argv and returns the rest: exactly the arguments nanoBragg.c would be
    given. C's rules that count or look at following arguments (-misset_seed acting as -misset when
    three more follow, -cell reading up to six) must never see ours, wherever they stand."""
    rest = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok in OUR_OPTIONS:
            if i + 1 >= len(argv):
                raise NanoBraggError(f"{tok} needs a value")
            _set_our_option(p, tok, argv[i + 1])
            i += 2
        else:
            rest.append(tok)
            i += 1
    return rest


def parse_argv(argv: list[str], now: int | None = None, warn=print_to_stderr, out=None) -> Params:
    """Parse nanoBragg arguments (without the program name) exactly as nanoBragg.c lines 186-1115.

    now replaces time(0) in the seed defaults; warn(msg) gets our warnings; out(line), if given,
    gets the lines nanoBragg.c prints on stdout while reading -mask/-img files.
    """
    p = Params()
    if now is None:
        now = int(time.time())
    p.seed = -int(now)
    p.misset_seed = p.seed  # captured before parsing (C 358), not taken from -seed
    # C indices: argv[0] is the program; our own options are gone before any of C's rules runs
    args = ["nanoBragg"] + take_our_options(p, [str(a) for a in argv])
    argc = len(args)

    # pass 1 (C 398-414): only -img and -mask, last one wins
    pass1 = set()  # tokens that fired in pass 1
    values1 = set()  # their values
    short1 = set()
    for i in range(1, argc):
        tok = args[i]
        if not tok.startswith("-"):
            continue
        for pat in ("-img", "-mask"):
            if pat in tok:
                if argc > i + 1:
                    pass1.add(i)
                    values1.add(i + 1)
                    if pat == "-img":
                        p.imginfilename = args[i + 1]
                    else:
                        p.maskfilename = args[i + 1]
                else:
                    short1.add(i)
    # C 418-500: the mask first, then the image, whatever the argv order
    if p.maskfilename is not None:
        _apply_header(p, p.maskfilename, warn, out, is_mask=True)
    if p.imginfilename is not None:
        _apply_header(p, p.imginfilename, warn, out, is_mask=False)

    # pass 2 (C 505-1115)
    values = set(values1)  # indices of tokens read as values of an earlier option
    after_ignored = False  # non-option tokens right after an ignored option: no second warning
    for i in range(1, argc):
        tok = args[i]
        if not tok.startswith("-"):
            if i not in values and not after_ignored:
                warn(f"WARNING: argument '{tok}' ignored")  # C skips it silently
            continue
        after_ignored = False
        t = _Token(args, i, warn, values)
        _pass2_token(p, t)
        if i in pass1:
            t.fired = True
        if i in short1:
            t.short = max(t.short, 1)
        if t.short:
            after_ignored = True
            if "-curved_det" in tok:
                warn(f"WARNING: {tok} as the last argument is ignored (as nanoBragg.c does)")
            else:
                what = "a value" if t.short == 1 else f"{t.short} values"
                warn(f"WARNING: {tok} needs {what}" + ("" if t.fired else "; ignored"))
        if t.fired:
            if i in values and i not in values1:
                warn(f"WARNING: '{tok}' is read both as a value and as an option (as nanoBragg.c does)")
        elif not t.short and i not in values and not _is_number(tok):
            after_ignored = True
            warn(f"WARNING: unknown option {tok} ignored")
    return p


def _pass2_token(p: Params, t: _Token):
    """All of C's tests for one token, in source order; `return` is C's `continue`."""
    tok = t.tok
    if "-Na" in tok and t.need(1):
        p.Na = float(t.n(1))
        return
    if "-Nb" in tok and t.need(1):
        p.Nb = float(t.n(1))
        return
    if "-Nc" in tok and t.need(1):
        p.Nc = float(t.n(1))
        return
    if tok == "-N" and t.need(1):
        p.Na = p.Nb = p.Nc = float(t.n(1))
        return
    if "-cell" in tok and t.need(1, mark=False):
        p.user_cell = 1
        # up to 6 values; C stops (and ends this token's matching) at one that starts with '-'
        for k in range(1, 7):
            if t.argc <= t.i + k or t.s(k).startswith("-"):
                return
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
    # C 553-566; "-misset_seed" contains "-misset": C also runs these for it (a collision)
    collision = "-misset_seed" in tok
    if "-misset" in tok and t.argc > t.i + 1 and "rand" in t.s(1):
        t.need(1)
        if collision:
            t.warn(f"WARNING: {tok} {t.s(1)} sets -misset random and leaves the misset seed (as nanoBragg.c does)")
        p.misset[0] = -1.0
        return
    if collision:
        if t.argc > t.i + 3:
            t.fire()
            t.values.update(t.i + k for k in (1, 2, 3) if not t.s(k).startswith("-"))
            t.warn(f"WARNING: {tok} also sets -misset {t.s(1)} {t.s(2)} {t.s(3)} (as nanoBragg.c does)")
            p.misset[0] = 1.0
            p.misset[1] = t.f(1, strict=False) / RTD
            p.misset[2] = t.f(2, strict=False) / RTD
            p.misset[3] = t.f(3, strict=False) / RTD
    elif "-misset" in tok and t.need(3):
        p.misset[0] = 1.0
        p.misset[1] = t.f(1) / RTD
        p.misset[2] = t.f(2) / RTD
        p.misset[3] = t.f(3) / RTD
    if ("-samplesize" in tok or "-sample_size" in tok) and t.need(1):
        p.sample_x = t.f(1) / 1000
        p.sample_y = t.f(1) / 1000
        p.sample_z = t.f(1) / 1000
    if ("-sample_thick" in tok or "-sample_x" in tok) and t.need(1):
        p.sample_x = t.f(1) / 1000
    if ("-sample_width" in tok or "-sample_y" in tok or "-width" in tok) and t.need(1):
        p.sample_y = t.f(1) / 1000
    if ("-sample_heigh" in tok or "-sample_z" in tok or "-heigh" in tok) and t.need(1):
        p.sample_z = t.f(1) / 1000
    if ("-xtalsize" in tok or "-xtal_size" in tok) and t.need(1):
        p.sample_x = t.f(1) / 1000
        p.sample_y = t.f(1) / 1000
        p.sample_z = t.f(1) / 1000
    if ("-xtal_thick" in tok or "-xtal_x" in tok) and t.need(1):
        p.sample_x = t.f(1) / 1000
    if ("-xtal_width" in tok or "-xtal_y" in tok or "-width" in tok) and t.need(1):
        p.sample_y = t.f(1) / 1000
    if ("-xtal_heigh" in tok or "-xtal_z" in tok or "-heigh" in tok) and t.need(1):
        p.sample_z = t.f(1) / 1000
    if ("-density" in tok or "-sample_den" in tok) and t.need(1):
        p.density = t.f(1) * 1e6
    if (tok == "-MW" or "-molec" in tok) and t.need(1):
        p.molecular_weight = t.f(1)
    if "-Xbeam" in tok and t.need(1):
        p.Xbeam = t.f(1) / 1000.0
        p.detector_pivot = "BEAM"
    if "-Ybeam" in tok and t.need(1):
        p.Ybeam = t.f(1) / 1000.0
        p.detector_pivot = "BEAM"
    if "-Xclose" in tok and t.need(1):
        p.Xclose = t.f(1) / 1000.0
        p.detector_pivot = "SAMPLE"
    if "-Yclose" in tok and t.need(1):
        p.Yclose = t.f(1) / 1000.0
        p.detector_pivot = "SAMPLE"
    if "-ORGX" in tok and t.need(1):
        p.ORGX = t.f(1)
        p.detector_pivot = "SAMPLE"
    if "-ORGY" in tok and t.need(1):
        p.ORGY = t.f(1)
        p.detector_pivot = "SAMPLE"
    if "-pivot" in tok and t.need(1):
        v = t.s(1)
        if "sample" not in v and "beam" not in v:
            raise NanoBraggError(f"{tok}: '{v}' is not sample or beam")
        if "sample" in v:
            p.detector_pivot = "SAMPLE"
        if "beam" in v:
            p.detector_pivot = "BEAM"
    if "-mosflm" in tok and t.fire():
        p.beam_convention = "MOSFLM"
        p.detector_pivot = "BEAM"
    if "-xds" in tok and t.fire():
        p.beam_convention = "XDS"
        p.detector_pivot = "SAMPLE"
    if "-adxv" in tok and t.fire():
        p.beam_convention = "ADXV"
        p.detector_pivot = "BEAM"
    if "-denzo" in tok and t.fire():
        p.beam_convention = "DENZO"
        p.detector_pivot = "BEAM"
    if "-dials" in tok and t.fire():
        p.beam_convention = "DIALS"
        p.detector_pivot = "BEAM"  # C 670 says BEAM here; the convention forces SAMPLE later
    for pat, name in (
        ("-fdet_vector", "fdet_vector"),
        ("-sdet_vector", "sdet_vector"),
        ("-odet_vector", "odet_vector"),
        ("-beam_vector", "beam_vector"),
        ("-polar_vector", "polar_vector"),
        ("-spindle_axis", "spindle_vector"),
        ("-twotheta_axis", "twotheta_axis"),
    ):
        if pat in tok and t.need(3):
            p.beam_convention = "CUSTOM"
            vec = getattr(p, name)
            vec[1], vec[2], vec[3] = t.f(1), t.f(2), t.f(3)
    if "-pix0_vector" in tok and t.need(3):
        p.beam_convention = "CUSTOM"
        p.pix0_vector[0] = 1.0
        p.pix0_vector[1], p.pix0_vector[2], p.pix0_vector[3] = t.f(1), t.f(2), t.f(3)
    if "-distance" in tok and t.need(1):
        p.distance = t.f(1) / 1000.0
        p.detector_pivot = "BEAM"
    if "-close_distance" in tok and t.need(1):
        p.close_distance = t.f(1) / 1000.0
        p.detector_pivot = "SAMPLE"
    if "-detector_abs" in tok and t.need_or_crash():
        v = t.s(1)
        if "inf" in v or t.f(1) == 0.0:
            p.detector_thick = 0.0
            p.detector_mu = 0.0
        else:
            p.detector_mu = 1.0 / (t.f(1) * 1e-6)
    if "-detector_thick" in tok and len(tok) == 15 and t.need_or_crash():
        p.detector_thick = t.f(1) * 1e-6
    if "-detector_thicksteps" in tok and t.need_or_crash():
        p.detector_thicksteps = t.n(1)
    if "-thicksteps" in tok and t.need_or_crash():
        p.detector_thicksteps = t.n(1)
    if "-twotheta" in tok and t.need(1):
        if "-twotheta_axis" in tok:
            t.warn(f"WARNING: {tok} also sets -twotheta {t.s(1)} and pivot SAMPLE (as nanoBragg.c does)")
        p.detector_twotheta = t.f(1) / RTD
        p.detector_pivot = "SAMPLE"
    if "-detector_rotx" in tok and t.need(1):
        p.detector_rotx = t.f(1) / RTD
    if "-detector_roty" in tok and t.need(1):
        p.detector_roty = t.f(1) / RTD
    if "-detector_rotz" in tok and t.need(1):
        p.detector_rotz = t.f(1) / RTD
    if "-detsize" in tok and len(tok) == 8 and t.need(1):
        p.detsize_f = t.f(1) / 1000.0
        p.detsize_s = t.f(1) / 1000.0
    if "-detsize_f" in tok and t.need(1):
        p.detsize_f = t.f(1) / 1000.0
    if "-detsize_s" in tok and t.need(1):
        p.detsize_s = t.f(1) / 1000.0
    if "-detpixels" in tok and len(tok) == 10 and t.need(1):
        p.fpixels = p.spixels = t.n(1)
    if ("-detpixels_f" in tok or "-detpixels_x" in tok) and t.need(1):
        p.fpixels = t.n(1)
    if ("-detpixels_s" in tok or "-detpixels_y" in tok) and t.need(1):
        p.spixels = t.n(1)
    if "-curved_det" in tok and t.need(1, mark=False):  # a switch, but C wants a token after it
        p.curved_detector = 1
    if "-pixel" in tok and t.need(1):
        p.pixel_size = t.f(1) / 1000.0
    if "-point_pixel" in tok and t.fire():
        p.point_pixel = 1
    if "-polar" in tok and len(tok) == 6 and t.need(1):
        p.polarization = t.f(1)
        p.nopolar = 0
    if "-nopolar" in tok and t.fire():
        p.nopolar = 1
    if "-oversample_thick" in tok and t.fire():
        p.oversample_thick = 1
        return
    if "-oversample_polar" in tok and t.fire():
        p.oversample_polar = 1
        return
    if "-oversample_omega" in tok and t.fire():
        p.oversample_omega = 1
        return
    if "-oversample" in tok and t.need(1):
        p.oversample = t.n(1)
    if "-roi" in tok and t.need(4):
        p.roi_xmin, p.roi_xmax, p.roi_ymin, p.roi_ymax = t.n(1), t.n(2), t.n(3), t.n(4)
    if ("-lambda" in tok or "-wave" in tok) and t.need(1):
        p.lambda0 = t.f(1) / 1.0e10
    if "-energy" in tok and t.need(1):
        e = t.f(1)
        p.lambda0 = _c_div(12398.42, e) / 1.0e10
    if "-fluence" in tok and t.need(1):
        p.fluence = t.f(1)
    if "-flux" in tok and t.need(1):
        p.flux = t.f(1)
    if "-exposure" in tok and t.need(1):
        p.exposure = t.f(1)
    if "-beamsize" in tok and t.need(1):
        p.beamsize = t.f(1) / 1000
    if (("-mosaic" in tok and len(tok) == 7) or "-mosaici" in tok or "-mosaic_spr" in tok) and t.need(1):
        p.mosaic_spread = t.f(1) / RTD
    if "-mosaic_dom" in tok and t.need(1):
        p.mosaic_domains = t.n(1)
    if "-dispersion" in tok and t.need(1):
        p.dispersion = t.f(1) / 100.0
    if "-dispsteps" in tok and t.need(1):
        p.dispsteps = t.n(1)
    if "-divergence" in tok and t.need(1):
        p.hdivrange = p.vdivrange = t.f(1) / 1000.0
    if "-hdivrange" in tok and t.need(1):
        p.hdivrange = t.f(1) / 1000.0
    if "-vdivrange" in tok and t.need(1):
        p.vdivrange = t.f(1) / 1000.0
    if "-hdivstep" in tok and len(tok) == 9 and t.need(1):
        p.hdivstep = t.f(1) / 1000.0
    if "-hdivsteps" in tok and t.need(1):
        p.hdivsteps = t.n(1)
    if "-vdivstep" in tok and len(tok) == 9 and t.need(1):
        p.vdivstep = t.f(1) / 1000.0
    if "-vdivsteps" in tok and t.need(1):
        p.vdivsteps = t.n(1)
    if "-divsteps" in tok and t.need(1):
        p.hdivsteps = p.vdivsteps = t.n(1)
    if "-round_div" in tok and t.fire():
        p.round_div = 1
    if "-square_div" in tok and t.fire():
        p.round_div = 0
    if "-adc" in tok and t.need(1):
        p.adc_offset = t.f(1)
    if "-phi" in tok and len(tok) == 4 and t.need(1):
        p.phi0 = t.f(1) / RTD
    if "-osc" in tok and t.need(1):
        p.osc = t.f(1) / RTD
    if "-phistep" in tok and len(tok) == 8 and t.need(1):
        p.phistep = t.f(1) / RTD
    if "-phisteps" in tok and t.need(1):
        p.phisteps = t.n(1)
    if "-dmin" in tok and t.need(1):
        p.dmin = t.f(1) * 1e-10
    if "-mat" in tok and t.need(1):
        p.matfilename = t.s(1)
    if "-hkl" in tok and t.need(1):
        p.hklfilename = t.s(1)
    if "-default_F" in tok and t.need(1):
        p.default_F = t.f(1)
    if "-dump" in tok and t.need(1):
        p.dumpfilename = t.s(1)
    if "-img" in tok and t.need(1):
        p.imginfilename = t.s(1)
    if "-stolout" in tok and len(tok) > 7 and t.need(1):
        p.stoloutfilename = t.s(1)
    if "-stol" in tok and len(tok) == 5 and t.need(1):
        p.stolfilename = t.s(1)
        p.stol_file_mult = 1e10
    if "-4stol" in tok and len(tok) == 6 and t.need(1):
        p.stolfilename = t.s(1)
        p.stol_file_mult = 1e10 / 4
    if "-Q" in tok and len(tok) == 2 and t.need(1):
        p.stolfilename = t.s(1)
        p.stol_file_mult = 1e10 / math.pi / 4
    if "-sourcefile" in tok and t.need(1):
        p.sourcefilename = t.s(1)
    if ("-floatfile" in tok or "-floatimage" in tok) and t.need(1):
        p.floatfilename = t.s(1)
    if ("-intfile" in tok or "-intimage" in tok) and t.need(1):
        p.intfilename = t.s(1)
    if ("-pgmfile" in tok or "-pgmimage" in tok) and t.need(1):
        p.pgmfilename = t.s(1)
        p.write_pgm = 1
    if ("-noisefile" in tok or "-noiseimage" in tok) and t.need(1):
        p.noisefilename = t.s(1)
        p.calculate_noise = 1
    if "-nonoise" in tok and t.fire():
        p.calculate_noise = 0
    if "-nopgm" in tok and t.fire():
        p.write_pgm = 0
    if "-scale" in tok and t.need(1):
        p.intfile_scale = t.f(1)
    if "-pgmscale" in tok and t.need(1):
        p.pgm_scale = t.f(1)
        p.write_pgm = 1
    if "-coherent" in tok and t.fire():
        p.coherent = 1
    if "-printout" in tok and t.fire():
        p.printout = 1
    if "-noprogress" in tok and t.fire():
        p.progress_meter = 0
    if "-progress" in tok and t.fire():
        p.progress_meter = 1
    if "-interpolate" in tok and t.fire():
        p.interpolate = 1
    if "-nointerpolate" in tok and t.fire():
        p.interpolate = 0
    if "-round_xtal" in tok and t.fire():
        p.xtal_shape = "ROUND"
    if "-square_xtal" in tok and t.fire():
        p.xtal_shape = "SQUARE"
    if "-gauss_xtal" in tok and t.fire():
        p.xtal_shape = "GAUSS"
    if ("-binary_spots" in tok or "-tophat_spots" in tok) and t.fire():
        p.xtal_shape = "TOPHAT"
    if "-fudge" in tok and t.need(1):
        p.fudge = t.f(1)
    if "-printout_pixel" in tok and t.need(2):
        p.printout_fpixel = t.n(1)
        p.printout_spixel = t.n(2)
    if "-seed" in tok and t.need(1):
        p.seed = _int32(-t.n(1))
    if "-mosaic_seed" in tok and t.need(1):
        p.mosaic_seed = _int32(-t.n(1))
    if "-misset_seed" in tok and t.need(1):
        p.misset_seed = _int32(-t.n(1))
    if "-water" in tok and t.need(1):
        p.water_size = t.f(1) / 1e6


def _c_div(x: float, y: float) -> float:
    """IEEE division (C), where Python would raise ZeroDivisionError."""
    if y == 0.0:
        if x == 0.0 or math.isnan(x):
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)
    return x / y
