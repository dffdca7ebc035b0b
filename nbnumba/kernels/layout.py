"""What the kernels read, by name: the plan's parameter record and arrays, the crystal-shape codes, the
fast kernel's scratch rows and the random-number state. Plain constants (no numba), shared by the set-up
and every kernel."""
import numpy as np

SQUARE, ROUND, GAUSS, TOPHAT = 0, 1, 2, 3

# The plan's scalar parameters as one record that the kernels read by field name (numba and numba.cuda
# both type structured records): nanoBragg.c's names, its internal units (meters, radians). A plan holds
# one element (an array of length 1; kernels take params[0]).
PARAMS_DTYPE = np.dtype([
    ("oversample", np.int64),             # sub-pixels per pixel edge
    ("detector_thicksteps", np.int64),
    ("curved_detector", np.int64),
    ("point_pixel", np.int64),
    ("oversample_thick", np.int64),       # per-sub-pixel capture, polarization, solid angle (C's switches)
    ("oversample_polar", np.int64),
    ("oversample_omega", np.int64),
    ("nopolar", np.int64),
    ("xtal_shape", np.int64),             # SQUARE, ROUND, GAUSS or TOPHAT below
    ("hkls", np.int64),                   # structure factors in the table (0: default_F everywhere)
    ("h_min", np.int64), ("h_max", np.int64), ("h_range", np.int64),
    ("k_min", np.int64), ("k_max", np.int64), ("k_range", np.int64),
    ("l_min", np.int64), ("l_max", np.int64), ("l_range", np.int64),
    ("phisteps", np.int64),
    ("mosaic_domains", np.int64),
    ("fpixels", np.int64),
    ("subpixel_size", np.float64),        # m
    ("pixel_size", np.float64),           # m
    ("detector_thickstep", np.float64),   # m
    ("detector_thick", np.float64),       # m
    ("detector_mu", np.float64),          # attenuation depth, m (C's name)
    ("distance", np.float64),             # m
    ("close_distance", np.float64),       # m
    ("dmin", np.float64),                 # m
    ("polarization", np.float64),         # Kahn factor
    ("Na", np.float64), ("Nb", np.float64), ("Nc", np.float64),
    ("fudge", np.float64),
    ("default_F", np.float64),
    ("water_size", np.float64),           # m
    ("I_bg", np.float64),                 # water background per step
    ("r_e_sqr", np.float64),              # m^2
    ("fluence", np.float64),              # photons/m^2
    ("steps", np.float64),                # C's steps: sources x mosaic domains x phi steps x oversample^2
])

# The plan's arrays, in the order every kernel and driver takes them: (name, dtype, rank). The plan
# (nbnumba/plan.py), the native cache's ABI (native.py) and the CUDA copy list (cuda.py) come from this.
PLAN_ARRAYS = (
    ("params", PARAMS_DTYPE, 1),
    ("det", np.dtype(np.float64), 2),          # rows fdet, sdet, odet, pix0, beam
    ("polar_axis", np.dtype(np.float64), 1),
    ("sources", np.dtype(np.float64), 2),      # (n, 4): unit direction toward the source, lambda (m)
    ("cells", np.dtype(np.float64), 4),        # (2, phisteps, domains, 9): a, b, c per phi step and domain
    ("recip", np.dtype(np.float64), 1),        # a*, b*, c* (1/Angstrom), unrotated
    ("Fhkl", np.dtype(np.float64), 3),
)

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
