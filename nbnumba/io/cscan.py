"""glibc's text-to-number rules, as nanoBragg.c's inputs meet them (C locale).

nanoBragg reads its text inputs with fscanf("%lg"/"%d"), atof and strtod, and several of its
quirks come from exactly how much input those calls consume. `CStream` is a byte stream with
glibc vfscanf's consumption rules (one character of push-back: a character read and rejected
in the middle of a number stays consumed), `strtod` is the longest-valid-prefix parser.
"""
import math

EOF = -1
SPACE = frozenset(b" \t\n\v\f\r")  # isspace() in the C locale
_DIGITS = frozenset(b"0123456789")
_XDIGITS = frozenset(b"0123456789abcdefABCDEF")
_NAN_CHARS = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
INT_MIN = -(1 << 31)
LONG_MAX = (1 << 63) - 1
LONG_MIN = -(1 << 63)


def wrap_int32(v):
    """Two's-complement wrap of an integer to C int (what gcc's int arithmetic does on x86-64)."""
    return ((int(v) + (1 << 31)) % (1 << 32)) - (1 << 31)


def double_to_int(x):
    """(int) of a double on x86-64 (cvttsd2si): truncation; NaN or out of range gives INT_MIN."""
    if math.isnan(x) or math.isinf(x):
        return INT_MIN
    t = math.trunc(x)
    return t if -(1 << 31) <= t < (1 << 31) else INT_MIN


def c_g(x):
    """printf("%g") of a double: Python's %g, except that a NaN with its sign bit set is "-nan"."""
    x = float(x)
    if math.isnan(x):
        return "-nan" if math.copysign(1.0, x) < 0 else "nan"
    return "%g" % x


def _lower(c):
    return c | 0x20 if 0x41 <= c <= 0x5A else c


def _match_ci(b, pos, word):
    return b[pos:pos + len(word)].lower() == word


def _mantissa(b, j, digit_set):
    """Digits, an optional '.', more digits, from b[j]: (end, number of digits)."""
    n = len(b)
    start = j
    while j < n and b[j] in digit_set:
        j += 1
    digits = j - start
    if j < n and b[j] == 0x2E:
        j += 1
        frac = j
        while j < n and b[j] in digit_set:
            j += 1
        digits += j - frac
    return j, digits


def strtod(b, pos=0):
    """glibc strtod on the C string b[pos:]: (value, end index); end == pos when nothing converts.

    Leading isspace is skipped; accepts decimal, hex (0x...p...), inf/infinity and nan(chars).
    """
    n = len(b)
    i = pos
    while i < n and b[i] in SPACE:
        i += 1
    start = i
    neg = False
    if i < n and b[i] in b"+-":
        neg = b[i] == 0x2D
        i += 1
    sign = -1.0 if neg else 1.0
    if _match_ci(b, i, b"inf"):
        i += 8 if _match_ci(b, i, b"infinity") else 3
        return sign * math.inf, i
    if _match_ci(b, i, b"nan"):
        i += 3
        if i < n and b[i] == 0x28:  # "nan(n-char-sequence)" is taken whole only when closed
            j = i + 1
            while j < n and b[j] in _NAN_CHARS:
                j += 1
            if j < n and b[j] == 0x29:
                i = j + 1
        return math.copysign(math.nan, sign), i
    if i + 1 < n and b[i] == 0x30 and b[i + 1] in b"xX":
        j, digits = _mantissa(b, i + 2, _XDIGITS)
        if digits:
            mant_end = j
            if j < n and b[j] in b"pP":
                k = j + 1
                if k < n and b[k] in b"+-":
                    k += 1
                if k < n and b[k] in _DIGITS:
                    while k < n and b[k] in _DIGITS:
                        k += 1
                    j = k
            text = b[i:j].decode("ascii")
            if j == mant_end:
                text += "p0"
            try:
                v = float.fromhex(text)
            except OverflowError:
                v = math.inf
            return sign * v, j
        # "0x" without hex digits: only the "0" converts
        return sign * 0.0, i + 1
    j, digits = _mantissa(b, i, _DIGITS)
    if not digits:
        return 0.0, pos
    if j < n and b[j] in b"eE":
        k = j + 1
        if k < n and b[k] in b"+-":
            k += 1
        if k < n and b[k] in _DIGITS:
            while k < n and b[k] in _DIGITS:
                k += 1
            j = k
    return float(b[start:j].decode("ascii")), j


def atof(b, pos=0):
    """atof(): strtod's value, 0.0 when nothing converts."""
    return strtod(b, pos)[0]


def c_string(b):
    """The C string a buffer holds: everything before its first NUL."""
    k = b.find(b"\0")
    return b if k < 0 else b[:k]


class CStream:
    """A read-only FILE* over bytes, with glibc vfscanf's %d / %lg / whitespace rules."""

    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def _getc(self):
        if self.pos < len(self.data):
            self.pos += 1
            return self.data[self.pos - 1]
        return EOF

    def _ungetc(self, c):
        if c != EOF:
            self.pos -= 1

    def skip_space(self):
        while self.pos < len(self.data) and self.data[self.pos] in SPACE:
            self.pos += 1

    def rest(self):
        return self.data[self.pos:]

    def _scan_int(self):
        """One %d after leading whitespace was skipped: the int, or None (conversion failed)."""
        buf = bytearray()
        c = self._getc()
        if c in (0x2B, 0x2D):
            buf.append(c)
            c = self._getc()
        while c != EOF and c in _DIGITS:
            buf.append(c)
            c = self._getc()
        self._ungetc(c)
        if not buf or buf in (b"+", b"-"):
            return None
        digits = buf.lstrip(b"+-").lstrip(b"0")
        if len(digits) > 19:  # beyond any long (and Python's int-from-text limit): strtol saturates
            v = LONG_MIN if buf[:1] == b"-" else LONG_MAX
        else:
            v = int(buf.decode("ascii"))
        v = min(max(v, LONG_MIN), LONG_MAX)  # strtol saturates, then the long is cut to int
        return wrap_int32(v)

    def _scan_float(self):
        """One %lg after leading whitespace was skipped: the double, or None (conversion failed)."""
        buf = bytearray()
        got_sign = 0
        c = self._getc()
        if c in (0x2B, 0x2D):
            got_sign = 1
            buf.append(c)
            c = self._getc()
            if c == EOF:
                return None
        lc = _lower(c) if c != EOF else EOF
        if lc in (0x6E, 0x69):  # 'n' or 'i': each letter read is consumed even if it does not fit
            word = b"nan" if lc == 0x6E else b"inf"
            buf.append(c)
            for want in word[1:]:
                c = self._getc()
                if c == EOF or _lower(c) != want:
                    return None
                buf.append(c)
            if word == b"inf":
                c = self._getc()
                if c != EOF and _lower(c) == 0x69:
                    buf.append(c)
                    for want in b"nity":
                        c = self._getc()
                        if c == EOF or _lower(c) != want:
                            return None
                        buf.append(c)
                else:
                    self._ungetc(c)
            return strtod(bytes(buf))[0]
        exp_char = 0x65
        hexa = False
        got_digit = got_dot = got_e = False
        if c == 0x30:
            buf.append(c)
            c = self._getc()
            if c != EOF and _lower(c) == 0x78:
                buf.append(c)
                hexa = True
                exp_char = 0x70
                c = self._getc()
            else:
                got_digit = True
        while True:
            if c != EOF and c in _DIGITS:
                buf.append(c)
                got_digit = True
            elif c != EOF and not got_e and hexa and c in _XDIGITS:
                buf.append(c)
                got_digit = True
            elif got_e and buf[-1] == exp_char and c in (0x2B, 0x2D):
                buf.append(c)
            elif c != EOF and got_digit and not got_e and _lower(c) == exp_char:
                buf.append(exp_char)
                got_e = got_dot = True
            elif c == 0x2E and not got_dot:
                buf.append(c)
                got_dot = True
            else:
                self._ungetc(c)
                break
            c = self._getc()
            if c == EOF:
                break
        if len(buf) == got_sign or (hexa and len(buf) == 2 + got_sign):
            return None
        v, end = strtod(bytes(buf))
        return None if end == 0 else v

    def scanf(self, fmt):
        """fscanf(stream, fmt) for formats made of %d, %lg and whitespace directives.

        Returns (count, values): count is fscanf's return (EOF = -1 when input ends before the
        first conversion), values the converted values in order (only the successful ones).
        """
        values = []
        skip = False
        i = 0
        while i < len(fmt):
            ch = fmt[i]
            if ch in " \t\n\v\f\r":
                skip = True
                i += 1
                continue
            if fmt.startswith("%lg", i):
                conv, i = self._scan_float, i + 3
            elif fmt.startswith("%d", i):
                conv, i = self._scan_int, i + 2
            else:
                raise ValueError("unsupported scanf directive in %r" % fmt)
            skip = False
            self.skip_space()
            if self.pos >= len(self.data):
                return (len(values) if values else EOF), values
            v = conv()
            if v is None:
                return len(values), values
            values.append(v)
        if skip:
            self.skip_space()
        return len(values), values
