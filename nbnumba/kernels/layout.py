"""The plan's parameter vectors as the kernels read them: slots of the integer (ip) and float (fp)
arrays, and the crystal-shape codes. Plain constants (no numba), shared by the set-up and every kernel."""
import numpy as np

SQUARE, ROUND, GAUSS, TOPHAT = 0, 1, 2, 3

# integer parameters (ip)
I_OVERSAMPLE, I_THICKSTEPS, I_CURVED, I_POINT, I_OS_THICK, I_OS_POLAR, I_OS_OMEGA, I_NOPOLAR, \
    I_SHAPE, I_HKLS, I_HMIN, I_HMAX, I_HRANGE, I_KMIN, I_KMAX, I_KRANGE, I_LMIN, I_LMAX, I_LRANGE, \
    I_PHISTEPS, I_DOMAINS, I_FPIXELS = range(22)
N_IP = 22
# float parameters (fp)
F_SUBPIXEL, F_PIXEL, F_THICKSTEP, F_THICK, F_MU, F_DISTANCE, F_CLOSE, F_DMIN, F_KAHN, F_NA, F_NB, \
    F_NC, F_FUDGE, F_DEFAULT_F, F_WATER, F_IBG, F_RE2, F_FLUENCE, F_STEPS = range(19)
N_FP = 19

# the fast kernel's per-thread scratch (kernels/cpu.render_fast allocates it, fast._tile names its
# rows by these indices): float rows, then integer rows, each one tile long; F_ROWS and I_ROWS count
# them. How long a tile is, is a tunable (kernels/tunables.TILE), not part of the layout.
(S_ACC, S_POLAR, S_OMEGA_PX, S_OMEGA_SUM, S_CAPTURE, S_UX, S_UY, S_UZ, S_SX, S_SY, S_SZ, S_W, S_AIRPATH,
 S_VAL, F_ROWS) = range(15)
S_POS, S_FI, S_SI, S_SLOT, S_ON, I_ROWS = range(6)

# what kernels/hkltext.scan_plain returns instead of a record count
HKL_NOT_PLAIN = -1   # some text is not a plain record: the caller uses the fscanf emulation
HKL_SLOW_F = -2      # plain, but some F needs a full decimal conversion (>19 digits or a large exponent)

# nanoBragg's random-number generator state (nbnumba.random_numbers, kernels/rng.py)
NTAB = 32   # ran1's shuffle table (C's NTAB)

# All of C's statics in one record, so the kernels pass a single pointer around (numba passes
# records without the reference counting that array arguments cost on every call).
# `idum` is a scratch copy of the caller's seed while a kernel runs.
STATE_DTYPE = np.dtype([
    ("idum", np.int64),
    ("iy", np.int64),                 # ran1's iy; 0 means "table never loaded"
    ("iv", np.int64, (NTAB,)),        # ran1's shuffle table
    ("iset", np.int64),               # gaussdev holds a spare deviate
    ("gset", np.float32),             # ... and this is it
    ("sq", np.float32),               # poidev's cache for a repeated mean (oldm)
    ("alxm", np.float32),
    ("g", np.float32),
    ("oldm", np.float32),
    ("overflow", np.int64),           # set when ran1 meets a seed beyond C's int range
])
