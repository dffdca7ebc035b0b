"""A plain hkl file read in one compiled pass (see nbnumba.io.hkl): records of `h k l F` with integer
indices of at most nine digits and a decimal F, separated by any whitespace. Anything else is left
to the fscanf emulation, and an F this pass cannot convert exactly to NumPy's parser."""
import numpy as np

from .jit import jit
from .layout import HKL_NOT_PLAIN as NOT_PLAIN, HKL_SLOW_F as SLOW_F

# 10**0..10**22 are exact doubles, so one multiply or divide by them is correctly rounded when the
# digits form an integer below 2**53 (Clinger's fast path): the same double as strtod gives
_POW10 = np.array([10.0 ** i for i in range(23)])
_EXACT = 2 ** 53


@jit
def _space(c):
    # Python's bytes \s: space, \t \n \v \f \r
    return c == 32 or (c >= 9 and c <= 13)


@jit
def _digit(c):
    return c >= 48 and c <= 57


@jit
def _take_digit(d, mantissa, significant, slow):
    """One more decimal digit of F: leading zeros add nothing; past 19 significant digits the value
    needs the full conversion (slow)."""
    if mantissa > 0 or d > 0:
        if significant < 19:
            return mantissa * 10 + d, significant + 1, slow
        return mantissa, significant, True
    return mantissa, significant, slow


@jit
def scan_plain(data, hkl, F):
    """Fills hkl[i] = (h, k, l) and F[i]; returns the number of records, NOT_PLAIN or SLOW_F."""
    n = data.shape[0]
    pos = 0
    count = 0
    slow = False
    while True:
        while pos < n and _space(data[pos]):
            pos += 1
        if pos == n:
            break
        if count >= hkl.shape[0]:
            return NOT_PLAIN
        for col in range(4):
            if col > 0:
                start = pos
                while pos < n and _space(data[pos]):
                    pos += 1
                if pos == start:
                    return NOT_PLAIN
            negative = False
            if pos < n and (data[pos] == 43 or data[pos] == 45):
                negative = data[pos] == 45
                pos += 1
            if col < 3:
                digits = 0
                value = 0
                while pos < n and _digit(data[pos]):
                    value = value * 10 + (data[pos] - 48)
                    digits += 1
                    pos += 1
                    if digits > 9:
                        return NOT_PLAIN
                if digits == 0:
                    return NOT_PLAIN
                hkl[count, col] = -value if negative else value
                continue
            # F = mantissa * 10**scale, keeping at most 19 significant digits exactly
            mantissa = 0
            significant = 0
            scale = 0
            digits = 0
            while pos < n and _digit(data[pos]):
                mantissa, significant, slow = _take_digit(data[pos] - 48, mantissa, significant, slow)
                digits += 1
                pos += 1
            if pos < n and data[pos] == 46:
                pos += 1
                while pos < n and _digit(data[pos]):
                    mantissa, significant, slow = _take_digit(data[pos] - 48, mantissa, significant, slow)
                    scale -= 1
                    digits += 1
                    pos += 1
            if digits == 0:
                return NOT_PLAIN
            if pos < n and (data[pos] == 101 or data[pos] == 69):
                pos += 1
                exp_negative = False
                if pos < n and (data[pos] == 43 or data[pos] == 45):
                    exp_negative = data[pos] == 45
                    pos += 1
                exp_digits = 0
                exponent = 0
                while pos < n and _digit(data[pos]):
                    if exponent < 100000:
                        exponent = exponent * 10 + (data[pos] - 48)
                    exp_digits += 1
                    pos += 1
                if exp_digits == 0:
                    return NOT_PLAIN
                scale += -exponent if exp_negative else exponent
            if pos < n and not _space(data[pos]):
                return NOT_PLAIN
            if mantissa == 0:
                v = 0.0
            elif mantissa < _EXACT and scale >= 0 and scale <= 22:
                v = np.float64(mantissa) * _POW10[scale]
            elif mantissa < _EXACT and scale < 0 and scale >= -22:
                v = np.float64(mantissa) / _POW10[-scale]
            else:
                slow = True
                v = 0.0
            F[count] = -v if negative else v
        count += 1
    return SLOW_F if slow else count
