"""nanoBragg.c's command-line handling (C lines 186-1115): defaults, pass 1 (-img/-mask), pass 2.

The semantics are C's: every token that starts with '-' is tested against every pattern with a
substring match (strstr), in source order; values are never consumed; only some branches end the
matching for a token. See nanoBragg-flags.md section 0. The branches themselves, each with its test,
its body and its help, are the table in cli/flags.py; this module runs them (and our own options,
taken out first). What we add on top: errors for values that are not numbers at all, and warnings for
unknown options, collisions and ignored flags.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import time

import numpy as np

from nbnumba.config import Params
from nbnumba.errors import NanoBraggError
from nbnumba.io import cscan

from .flags import OUR_FLAGS, PASS1, PASS2, RTD
from .flags import c_int32 as _int32

def print_to_stderr(msg):
    print(msg, file=sys.stderr)


# ---------------------------------------------------------------- C number conversions

_CSPACE = " \t\n\v\f\r"
_INT = re.compile(r"[+-]?[0-9]+")


def strtod(s: str) -> tuple[float, int]:
    """glibc strtod: (value, characters used); 0 characters used means no conversion (value 0.0)."""
    # the bytes C's argv holds (what it consumes is ASCII, so characters used = bytes used)
    v, end = cscan.strtod(s.encode("utf-8", "surrogateescape"))
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


def _is_number(tok: str) -> bool:
    v, n = strtod(tok)
    return n > 0 and not tok[n:].strip(_CSPACE)


# ---------------------------------------------------------------- pass 1: -mask / -img headers

def _read_frame(path, warn, out, is_mask=True):
    """nanoBragg.c's GetFrame (4124-4233) through io.smv.read_smv: (header_text, pixels) or None.

    None where C goes on without the file: it cannot be opened (C: perror only) or it does not
    start like an ADSC header. Where C exits 9 (header unreadable) read_smv raises.
    """
    from nbnumba.io.images import open_input
    from nbnumba.io.smv import read_smv

    try:
        with open_input(path):      # never waits on a FIFO nobody writes to
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


# Our own options (not nanoBragg.c's): exact names, each with one value (cli/flags.py, stage OURS).
OUR_OPTIONS = tuple(OUR_FLAGS)


def take_our_options(p: Params, argv):
    """Sets our own options from argv and returns the rest: exactly the arguments nanoBragg.c would be
    given. C's rules that count or look at following arguments (-misset_seed acting as -misset when
    three more follow, -cell reading up to six) must never see ours, wherever they stand."""
    rest = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok in OUR_FLAGS:
            if i + 1 >= len(argv):
                raise NanoBraggError(f"{tok} needs a value")
            OUR_FLAGS[tok].body(p, argv[i + 1])
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
        t = _Token(args, i, warn, values1)
        for f in PASS1:
            if f.match(tok):
                f.body(p, t)
        if t.fired:
            pass1.add(i)
        if t.short:
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
        for f in _cascade(tok):
            if f.body(p, t):  # C's `continue`
                break
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


@functools.lru_cache(maxsize=4096)
def _cascade(tok: str) -> tuple:
    """The pass-2 branches whose test matches tok, in C's order (a test reads the token alone; each
    branch's guard, on the values that follow, runs in its body)."""
    return tuple(f for f in PASS2 if f.match(tok))
