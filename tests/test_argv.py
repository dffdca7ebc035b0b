"""nbnumba.cli.argv against nanoBragg.c.

The expected values were dumped from an instrumented copy of nanoBragg.c that prints every parsed
variable right after its parse loop (C line 1115) and exits; time(0) was fixed at NOW. Only the
variables that differ from the C defaults are listed.
"""

import math
import pathlib
import re
import shlex
import struct
import tomllib

import pytest

from nbnumba.cli.argv import Params, c_atof, c_atoi, parse_argv
from nbnumba.cli.flags import all_flags, help_text
from nbnumba.config import FIELDS
from nbnumba.errors import NanoBraggError

NOW = 1700000000
NAN = math.nan
INF = math.inf
ROOT = pathlib.Path(__file__).resolve().parents[1]
INPUTS = ROOT / "golden" / "inputs"
C_VARIABLES_NOT_DUMPED = {"omp_threads", "kernel", "threads", "device", "gpu_precision", "maskimage", "imginfileimage"}

GOLDEN = {
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 128 -pixel 0.1 -seed 1': {'lambda0': 6.2e-10, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 128, 'spixels': 128, 'default_F': 100.0, 'seed': -1, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -seed 2': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'default_F': 100.0, 'seed': -2, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 90 90 90 90 90 90 -default_F 50 -N 4 -lambda 1.2 -distance 110 -detpixels 96 -pixel 0.1 -xds -ORGX 40.5 -ORGY 52.25 -oversample 1 -seed 3': {'lambda0': 1.2e-10, 'Na': 4.0, 'Nb': 4.0, 'Nc': 4.0, 'fpixels': 96, 'spixels': 96, 'distance': 0.11, 'detector_pivot': 'SAMPLE', 'beam_convention': 'XDS', 'ORGX': 40.5, 'ORGY': 52.25, 'oversample': 1, 'default_F': 50.0, 'seed': -3, 'user_cell': 1, 'a': [90.0, 0.0, 0.0, 0.0], 'b': [90.0, 0.0, 0.0, 0.0], 'c': [90.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 90 90 90 90 90 90 -default_F 50 -N 4 -lambda 1.2 -distance 110 -detpixels 96 -pixel 0.1 -adxv -Xbeam 5.1 -Ybeam 4.2 -oversample 1 -seed 3': {'lambda0': 1.2e-10, 'Na': 4.0, 'Nb': 4.0, 'Nc': 4.0, 'fpixels': 96, 'spixels': 96, 'distance': 0.11, 'beam_convention': 'ADXV', 'Xbeam': 0.0050999999999999995, 'Ybeam': 0.004200000000000001, 'oversample': 1, 'default_F': 50.0, 'seed': -3, 'user_cell': 1, 'a': [90.0, 0.0, 0.0, 0.0], 'b': [90.0, 0.0, 0.0, 0.0], 'c': [90.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 90 90 90 90 90 90 -default_F 50 -N 4 -lambda 1.2 -distance 110 -detpixels 96 -pixel 0.1 -denzo -Xbeam 4.4 -Ybeam 5.3 -oversample 1 -seed 3': {'lambda0': 1.2e-10, 'Na': 4.0, 'Nb': 4.0, 'Nc': 4.0, 'fpixels': 96, 'spixels': 96, 'distance': 0.11, 'beam_convention': 'DENZO', 'Xbeam': 0.0044, 'Ybeam': 0.0053, 'oversample': 1, 'default_F': 50.0, 'seed': -3, 'user_cell': 1, 'a': [90.0, 0.0, 0.0, 0.0], 'b': [90.0, 0.0, 0.0, 0.0], 'c': [90.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 90 90 90 90 90 90 -default_F 50 -N 4 -lambda 1.2 -distance 110 -detpixels 96 -pixel 0.1 -dials -twotheta 8 -oversample 1 -seed 3': {'lambda0': 1.2e-10, 'Na': 4.0, 'Nb': 4.0, 'Nc': 4.0, 'fpixels': 96, 'spixels': 96, 'distance': 0.11, 'detector_pivot': 'SAMPLE', 'beam_convention': 'DIALS', 'detector_twotheta': 0.13962634015954636, 'oversample': 1, 'default_F': 50.0, 'seed': -3, 'user_cell': 1, 'a': [90.0, 0.0, 0.0, 0.0], 'b': [90.0, 0.0, 0.0, 0.0], 'c': [90.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 128 -pixel 0.1 -detector_rotx 5 -detector_roty 3 -detector_rotz 2 -twotheta 10 -oversample 1 -seed 4': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 128, 'spixels': 128, 'detector_rotx': 0.08726646259971647, 'detector_roty': 0.05235987755982988, 'detector_rotz': 0.03490658503988659, 'detector_pivot': 'SAMPLE', 'detector_twotheta': 0.17453292519943295, 'oversample': 1, 'default_F': 100.0, 'seed': -4, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -detpixels 128 -pixel 0.1 -fdet_vector 0 0 1 -sdet_vector 0 -1 0 -odet_vector 1 0 0 -beam_vector 1 0 0 -polar_vector 0 0 1 -spindle_axis 0 0 1 -Xbeam 5 -Ybeam 6 -close_distance 95 -twotheta 12 -pivot sample -oversample 1 -seed 5': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 128, 'spixels': 128, 'detector_pivot': 'SAMPLE', 'beam_convention': 'CUSTOM', 'detector_twotheta': 0.20943951023931953, 'Xbeam': 0.005, 'Ybeam': 0.006, 'close_distance': 0.095, 'oversample': 1, 'default_F': 100.0, 'seed': -5, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -detpixels 128 -pixel 0.1 -beam_vector 1 0 0 -Xbeam 7 -Ybeam 5.5 -distance 80 -detector_rotx 10 -pivot beam -oversample 1 -seed 5': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 128, 'spixels': 128, 'distance': 0.08, 'detector_rotx': 0.17453292519943295, 'beam_convention': 'CUSTOM', 'Xbeam': 0.007, 'Ybeam': 0.0055, 'oversample': 1, 'default_F': 100.0, 'seed': -5, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -pix0_vector 0.1 0.005 -0.005 -oversample 1 -seed 5': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'pix0_vector': [1.0, 0.1, 0.005, -0.005], 'beam_convention': 'CUSTOM', 'oversample': 1, 'default_F': 100.0, 'seed': -5, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 60 -detpixels 96 -pixel 0.2 -curved_det -oversample 1 -seed 6': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'pixel_size': 0.0002, 'fpixels': 96, 'spixels': 96, 'distance': 0.06, 'curved_detector': 1, 'oversample': 1, 'default_F': 100.0, 'seed': -6, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -point_pixel -oversample 1 -seed 6': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'point_pixel': 1, 'oversample': 1, 'default_F': 100.0, 'seed': -6, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detsize_f 14.4 -detsize_s 9.6 -pixel 0.12 -oversample 1 -seed 6': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'pixel_size': 0.00011999999999999999, 'detsize_f': 0.0144, 'detsize_s': 0.0096, 'oversample': 1, 'default_F': 100.0, 'seed': -6, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels_f 120 -detpixels_s 80 -pixel 0.1 -oversample 1 -seed 6': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 120, 'spixels': 80, 'oversample': 1, 'default_F': 100.0, 'seed': -6, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 70 80 90 75 85 95 -misset 10 5 3 -default_F 100 -N 5 -lambda 1.5 -distance 100 -detpixels 128 -pixel 0.1 -oversample 1 -seed 7': {'lambda0': 1.5e-10, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 128, 'spixels': 128, 'oversample': 1, 'default_F': 100.0, 'seed': -7, 'user_cell': 1, 'a': [70.0, 0.0, 0.0, 0.0], 'b': [80.0, 0.0, 0.0, 0.0], 'c': [90.0, 0.0, 0.0, 0.0], 'alpha': 1.3089969389957472, 'beta': 1.4835298641951802, 'gamma': 1.658062789394613, 'misset': [1.0, 0.17453292519943295, 0.08726646259971647, 0.05235987755982988]},
    '-mat A.mat -hkl P1.hkl -lambda 1.0 -N 8 -distance 150 -detpixels 128 -pixel 0.1 -oversample 1 -seed 8': {'Na': 8.0, 'Nb': 8.0, 'Nc': 8.0, 'fpixels': 128, 'spixels': 128, 'distance': 0.15, 'oversample': 1, 'seed': -8, 'matfilename': 'A.mat', 'hklfilename': 'P1.hkl'},
    '-mat B.mat -cell 61.2 72.4 83.9 84 96 102 -hkl small.hkl -default_F 3 -lambda 1.3 -N 6 -distance 120 -detpixels 96 -pixel 0.1 -oversample 1 -seed 9': {'lambda0': 1.3000000000000002e-10, 'Na': 6.0, 'Nb': 6.0, 'Nc': 6.0, 'fpixels': 96, 'spixels': 96, 'distance': 0.12, 'oversample': 1, 'default_F': 3.0, 'seed': -9, 'user_cell': 1, 'a': [61.2, 0.0, 0.0, 0.0], 'b': [72.4, 0.0, 0.0, 0.0], 'c': [83.9, 0.0, 0.0, 0.0], 'alpha': 1.4660765716752369, 'beta': 1.6755160819145563, 'gamma': 1.7802358370342162, 'matfilename': 'B.mat', 'hklfilename': 'small.hkl'},
    '-cell 50 50 50 90 90 90 -hkl tiny.hkl -default_F 7 -N 3 -lambda 1 -distance 80 -detpixels 96 -pixel 0.1 -oversample 1 -seed 9': {'Na': 3.0, 'Nb': 3.0, 'Nc': 3.0, 'fpixels': 96, 'spixels': 96, 'distance': 0.08, 'oversample': 1, 'default_F': 7.0, 'seed': -9, 'user_cell': 1, 'a': [50.0, 0.0, 0.0, 0.0], 'b': [50.0, 0.0, 0.0, 0.0], 'c': [50.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966, 'hklfilename': 'tiny.hkl'},
    '-cell 80 90 100 90 90 90 -misset random -misset_seed 777 -default_F 30 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -oversample 1 -seed 10': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 30.0, 'seed': -10, 'misset_seed': -777, 'user_cell': 1, 'a': [80.0, 0.0, 0.0, 0.0], 'b': [90.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966, 'misset': [1.0, 13.56120828799594, 0.0, 0.5235987755982988]},
    '-cell 100 100 100 90 90 90 -default_F 100 -Na 3 -Nb 7 -Nc 11 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -oversample 1 -seed 10': {'Na': 3.0, 'Nb': 7.0, 'Nc': 11.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 100.0, 'seed': -10, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -xtalsize 0.0004 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -oversample 1 -seed 10': {'sample_x': 4.0000000000000003e-07, 'sample_y': 4.0000000000000003e-07, 'sample_z': 4.0000000000000003e-07, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 100.0, 'seed': -10, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -round_xtal -fudge 1.5 -oversample 1 -seed 11': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'xtal_shape': 'ROUND', 'fudge': 1.5, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 100.0, 'seed': -11, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -gauss_xtal -oversample 1 -seed 11': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'xtal_shape': 'GAUSS', 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 100.0, 'seed': -11, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -tophat_spots -fudge 0.8 -oversample 1 -seed 11': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'xtal_shape': 'TOPHAT', 'fudge': 0.8, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 100.0, 'seed': -11, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -hkl small.hkl -N 2 -lambda 6.2 -distance 100 -detpixels 96 -pixel 0.1 -seed 12': {'lambda0': 6.2e-10, 'Na': 2.0, 'Nb': 2.0, 'Nc': 2.0, 'fpixels': 96, 'spixels': 96, 'seed': -12, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966, 'hklfilename': 'small.hkl'},
    '-cell 100 100 100 90 90 90 -hkl small.hkl -default_F 2 -N 4 -interpolate -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -oversample 1 -seed 12': {'Na': 4.0, 'Nb': 4.0, 'Nc': 4.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 2.0, 'interpolate': 1, 'seed': -12, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966, 'hklfilename': 'small.hkl'},
    '-cell 100 100 100 90 90 90 -hkl small.hkl -N 2 -nointerpolate -lambda 6.2 -distance 100 -detpixels 96 -pixel 0.1 -seed 12': {'lambda0': 6.2e-10, 'Na': 2.0, 'Nb': 2.0, 'Nc': 2.0, 'fpixels': 96, 'spixels': 96, 'interpolate': 0, 'seed': -12, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966, 'hklfilename': 'small.hkl'},
    '-cell 100 100 100 90 90 90 -hkl small.hkl -N 5 -lambda 6.2 -distance 100 -detpixels 32 -pixel 0.1 -seed 1': {'lambda0': 6.2e-10, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 32, 'spixels': 32, 'seed': -1, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966, 'hklfilename': 'small.hkl'},
    '-cell 100 100 100 90 90 90 -N 5 -lambda 6.2 -distance 100 -detpixels 96 -pixel 0.1 -seed 13': {'lambda0': 6.2e-10, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'seed': -13, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -energy 9000 -distance 100 -detpixels 96 -pixel 0.1 -oversample 1 -seed 14': {'lambda0': 1.377602222222222e-10, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 100.0, 'seed': -14, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -divergence 2 -divsteps 5 -oversample 1 -seed 15': {'hdivrange': 0.002, 'vdivrange': 0.002, 'hdivsteps': 5, 'vdivsteps': 5, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 100.0, 'seed': -15, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -hdivrange 1 -vdivrange 2 -hdivsteps 3 -vdivsteps 4 -square_div -oversample 1 -seed 15': {'round_div': 0, 'hdivrange': 0.001, 'vdivrange': 0.002, 'hdivsteps': 3, 'vdivsteps': 4, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 100.0, 'seed': -15, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -dispersion 2 -dispsteps 5 -oversample 1 -seed 15': {'dispersion': 0.02, 'dispsteps': 5, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 100.0, 'seed': -15, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -sourcefile sources.txt -oversample 1 -seed 16': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 100.0, 'seed': -16, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966, 'sourcefilename': 'sources.txt'},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 60 -detpixels 96 -pixel 0.2 -polar 0.95 -oversample 1 -seed 17': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'pixel_size': 0.0002, 'fpixels': 96, 'spixels': 96, 'distance': 0.06, 'polarization': 0.95, 'oversample': 1, 'default_F': 100.0, 'seed': -17, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 60 -detpixels 96 -pixel 0.2 -nopolar -oversample 1 -seed 17': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'pixel_size': 0.0002, 'fpixels': 96, 'spixels': 96, 'distance': 0.06, 'nopolar': 1, 'oversample': 1, 'default_F': 100.0, 'seed': -17, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 60 -detpixels 96 -pixel 0.2 -polar_vector 0 1 0 -polar 0.9 -oversample 1 -seed 17': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'pixel_size': 0.0002, 'fpixels': 96, 'spixels': 96, 'distance': 0.06, 'beam_convention': 'CUSTOM', 'polar_vector': [0.0, 0.0, 1.0, 0.0], 'polarization': 0.9, 'oversample': 1, 'default_F': 100.0, 'seed': -17, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -flux 1e12 -exposure 0.1 -beamsize 0.005 -oversample 1 -seed 18': {'flux': 1000000000000.0, 'exposure': 0.1, 'beamsize': 5e-06, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 100.0, 'seed': -18, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -phi 0 -osc 1 -phisteps 5 -oversample 1 -seed 19': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'osc': 0.017453292519943295, 'phisteps': 5, 'default_F': 100.0, 'seed': -19, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -phi 0 -osc 1 -phisteps 5 -roi 10 80 5 70 -oversample 1 -seed 19': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'roi_xmin': 10, 'roi_xmax': 80, 'roi_ymin': 5, 'roi_ymax': 70, 'oversample': 1, 'osc': 0.017453292519943295, 'phisteps': 5, 'default_F': 100.0, 'seed': -19, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -phi 10 -osc 2 -phisteps 4 -oversample 1 -seed 19': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'phi0': 0.17453292519943295, 'osc': 0.03490658503988659, 'phisteps': 4, 'default_F': 100.0, 'seed': -19, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -phi -0.2 -osc 0.5 -phisteps 5 -oversample 1 -seed 19': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'phi0': -0.003490658503988659, 'osc': 0.008726646259971648, 'phisteps': 5, 'default_F': 100.0, 'seed': -19, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -osc 0.3 -oversample 1 -seed 19': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'osc': 0.005235987755982988, 'default_F': 100.0, 'seed': -19, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -mosaic 0.5 -mosaic_dom 8 -mosaic_seed 1234 -oversample 1 -seed 20': {'mosaic_spread': 0.008726646259971648, 'mosaic_domains': 8, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 100.0, 'seed': -20, 'mosaic_seed': -1234, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -mosaic 0.3 -oversample 1 -seed 20': {'mosaic_spread': 0.005235987755982988, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 100.0, 'seed': -20, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -oversample 3 -seed 21': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'oversample': 3, 'default_F': 100.0, 'seed': -21, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 60 -detpixels 96 -pixel 0.2 -oversample 2 -oversample_omega -oversample_polar -polar 0.5 -seed 21': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'pixel_size': 0.0002, 'fpixels': 96, 'spixels': 96, 'distance': 0.06, 'polarization': 0.5, 'oversample': 2, 'oversample_polar': 1, 'oversample_omega': 1, 'default_F': 100.0, 'seed': -21, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 60 -detpixels 96 -pixel 0.2 -detector_thick 300 -detector_abs 250 -thicksteps 3 -oversample 1 -seed 22': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'pixel_size': 0.0002, 'fpixels': 96, 'spixels': 96, 'distance': 0.06, 'detector_mu': 4000.0, 'detector_thick': 0.0003, 'detector_thicksteps': 3, 'oversample': 1, 'default_F': 100.0, 'seed': -22, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 60 -detpixels 96 -pixel 0.2 -detector_thick 300 -detector_abs 250 -thicksteps 3 -oversample 2 -oversample_thick -seed 22': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'pixel_size': 0.0002, 'fpixels': 96, 'spixels': 96, 'distance': 0.06, 'detector_mu': 4000.0, 'detector_thick': 0.0003, 'detector_thicksteps': 3, 'oversample': 2, 'oversample_thick': 1, 'default_F': 100.0, 'seed': -22, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 60 -detpixels 96 -pixel 0.2 -dmin 8 -oversample 1 -seed 23': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'pixel_size': 0.0002, 'fpixels': 96, 'spixels': 96, 'distance': 0.06, 'dmin': 8e-10, 'oversample': 1, 'default_F': 100.0, 'seed': -23, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -roi 20 70 10 90 -oversample 1 -seed 24': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'roi_xmin': 20, 'roi_xmax': 70, 'roi_ymin': 10, 'roi_ymax': 90, 'oversample': 1, 'default_F': 100.0, 'seed': -24, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-mask mask.img -cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -oversample 1 -seed 25': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'pixels': 9216, 'distance': 0.11, 'detsize_f': 0.009600000000000001, 'detsize_s': 0.009600000000000001, 'Xbeam': 0.0047, 'Ybeam': 0.004500000000000001, 'oversample': 1, 'default_F': 100.0, 'maskimage': (9216, 8252, 964), 'seed': -25, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966, 'maskfilename': 'mask.img'},
    '-img header.img -cell 100 100 100 90 90 90 -default_F 100 -N 5 -oversample 1 -seed 25': {'lambda0': 1.1000000000000001e-10, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'pixel_size': 0.00011999999999999999, 'fpixels': 80, 'spixels': 72, 'pixels': 5760, 'distance': 0.094, 'detsize_f': 0.0096, 'detsize_s': 0.008639999999999998, 'Xbeam': 0.0043, 'Ybeam': 0.0039, 'close_distance': 0.094, 'ORGX': 40.2, 'ORGY': 35.7, 'oversample': 1, 'phi0': 0.05235987755982988, 'osc': 0.008726646259971648, 'default_F': 100.0, 'imginfileimage': '7', 'seed': -25, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966, 'imginfilename': 'header.img'},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -water 100 -oversample 1 -seed 26': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'water_size': 0.0001, 'fpixels': 96, 'spixels': 96, 'oversample': 1, 'default_F': 100.0, 'seed': -26, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -water 20 -fluence 3e28 -oversample 2 -seed 26': {'fluence': 3e+28, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'water_size': 2e-05, 'fpixels': 96, 'spixels': 96, 'oversample': 2, 'default_F': 100.0, 'seed': -26, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 -spindle_axis 0 1 0 -phi 5 -osc 3 -phisteps 3 -oversample 1 -seed 27': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'beam_convention': 'CUSTOM', 'oversample': 1, 'phi0': 0.08726646259971647, 'osc': 0.05235987755982988, 'phisteps': 3, 'spindle_vector': [0.0, 0.0, 1.0, 0.0], 'default_F': 100.0, 'seed': -27, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 96 -pixel 0.1 -fluence 2e34 -seed 7': {'lambda0': 6.2e-10, 'fluence': 2e+34, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'default_F': 100.0, 'seed': -7, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 96 -pixel 0.1 -scale 100 -adc 10 -pgmscale 3 -seed 28': {'lambda0': 6.2e-10, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 96, 'spixels': 96, 'adc_offset': 10.0, 'default_F': 100.0, 'intfile_scale': 100.0, 'pgm_scale': 3.0, 'seed': -28, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 64 -pixel 0.1 -nonoise -nopgm': {'lambda0': 6.2e-10, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 64, 'spixels': 64, 'default_F': 100.0, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966, 'calculate_noise': 0, 'write_pgm': 0},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 64 -pixel 0.1 -floatfile f.bin -intfile i.img -noisefile n.img -pgmfile p.pgm -seed 29': {'lambda0': 6.2e-10, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 64, 'spixels': 64, 'default_F': 100.0, 'seed': -29, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966, 'floatfilename': 'f.bin', 'intfilename': 'i.img', 'pgmfilename': 'p.pgm', 'noisefilename': 'n.img'},
    '-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 64 -pixel 0.1 -printout_pixel 20 30 -oversample 1 -seed 30': {'printout': 1, 'printout_spixel': 30, 'printout_fpixel': 20, 'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 64, 'spixels': 64, 'oversample': 1, 'default_F': 100.0, 'seed': -30, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -N 5 -lambda 1 -distance 100 -detpixels 64': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 64, 'spixels': 64, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
    '-cell 100 100 100 90 90 90 -default_F 1 -N 5 -stol nothere.stol -detpixels 64': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'fpixels': 64, 'spixels': 64, 'default_F': 1.0, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966, 'stolfilename': 'nothere.stol'},
}

TRICKY = {
    '-twotheta_axis 5 0 -1 -cell 100': {'twotheta_axis': [0.0, 5.0, 0.0, -1.0], 'detector_pivot': 'SAMPLE', 'beam_convention': 'CUSTOM', 'detector_twotheta': 0.08726646259971647, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0]},
    '-twotheta_axis 5': {'detector_pivot': 'SAMPLE', 'detector_twotheta': 0.08726646259971647},
    '-misset_seed 5 1 2': {'misset_seed': -5, 'misset': [1.0, 0.08726646259971647, 0.017453292519943295, 0.03490658503988659]},
    '-misset_seed 5': {'misset_seed': -5},
    '-misset_seed random': {'misset': [-1.0, 0.0, 0.0, 0.0]},
    '-misset_seed 5 -lambda 2': {'lambda0': 2e-10, 'misset_seed': -5, 'misset': [1.0, 0.08726646259971647, 0.0, 0.03490658503988659]},
    '-misset random -misset_seed 3': {'misset_seed': -3, 'misset': [-1.0, 0.0, 0.0, 0.0]},
    '-misset 10 20 30 -misset random': {'misset': [-1.0, 0.17453292519943295, 0.3490658503988659, 0.5235987755982988]},
    '-misset random': {'misset': [-1.0, 0.0, 0.0, 0.0]},
    '-misset 10 20': {},
    '-curved_det': {},
    '-curved_det -N 3': {'Na': 3.0, 'Nb': 3.0, 'Nc': 3.0, 'curved_detector': 1},
    '-curved_detector 1': {'curved_detector': 1},
    '-lambda': {},
    '-cell 100 90': {'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [90.0, 0.0, 0.0, 0.0]},
    '-cell 100 -N 3': {'Na': 3.0, 'Nb': 3.0, 'Nc': 3.0, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0]},
    '-cell -N 3': {'Na': 3.0, 'Nb': 3.0, 'Nc': 3.0, 'user_cell': 1},
    '-cell 10 20 30 40 50': {'user_cell': 1, 'a': [10.0, 0.0, 0.0, 0.0], 'b': [20.0, 0.0, 0.0, 0.0], 'c': [30.0, 0.0, 0.0, 0.0], 'alpha': 0.6981317007977318, 'beta': 0.8726646259971648},
    '-cell 10 20 30 40 50 60 70': {'user_cell': 1, 'a': [10.0, 0.0, 0.0, 0.0], 'b': [20.0, 0.0, 0.0, 0.0], 'c': [30.0, 0.0, 0.0, 0.0], 'alpha': 0.6981317007977318, 'beta': 0.8726646259971648, 'gamma': 1.0471975511965976},
    '-nopgm -pgmfile x.pgm': {'pgmfilename': 'x.pgm'},
    '-pgmfile x.pgm -nopgm': {'write_pgm': 0, 'pgmfilename': 'x.pgm'},
    '-nopgm -pgmscale 3': {'pgm_scale': 3.0},
    '-nonoise -noisefile n.img': {'noisefilename': 'n.img'},
    '-polar 0.5 -nopolar': {'polarization': 0.5, 'nopolar': 1},
    '-nopolar -polar 0.5': {'polarization': 0.5},
    '-flux 1e12 -fluence 3e28': {'fluence': 3e+28, 'flux': 1000000000000.0},
    '-pix0_vector_mm 1 2 3': {'pix0_vector': [1.0, 1.0, 2.0, 3.0], 'beam_convention': 'CUSTOM'},
    '-mat A.mat -hkl P1.hkl -dump dd.bin': {'matfilename': 'A.mat', 'hklfilename': 'P1.hkl', 'dumpfilename': 'dd.bin'},
    '-dumpfile x.bin -matrix foo': {'matfilename': 'foo', 'dumpfilename': 'x.bin'},
    '-img header.img -mask mask.img': {'lambda0': 1.1000000000000001e-10, 'pixel_size': 0.00011999999999999999, 'fpixels': 80, 'spixels': 72, 'pixels': 5760, 'distance': 0.094, 'detsize_f': 0.0096, 'detsize_s': 0.008639999999999998, 'Xbeam': 0.0043, 'Ybeam': 0.0039, 'close_distance': 0.094, 'ORGX': 40.2, 'ORGY': 35.7, 'phi0': 0.05235987755982988, 'osc': 0.008726646259971648, 'maskimage': (5760, 5000, 760), 'imginfileimage': '7', 'imginfilename': 'header.img', 'maskfilename': 'mask.img'},
    '-mask mask.img -img header.img -distance 77 -Xbeam 3 -pixel 0.2 -lambda 2': {'lambda0': 2e-10, 'pixel_size': 0.0002, 'fpixels': 80, 'spixels': 72, 'pixels': 5760, 'distance': 0.077, 'detsize_f': 0.0096, 'detsize_s': 0.008639999999999998, 'Xbeam': 0.003, 'Ybeam': 0.0039, 'close_distance': 0.094, 'ORGX': 40.2, 'ORGY': 35.7, 'phi0': 0.05235987755982988, 'osc': 0.008726646259971648, 'maskimage': (5760, 5000, 760), 'imginfileimage': '7', 'imginfilename': 'header.img', 'maskfilename': 'mask.img'},
    '-img header.img': {'lambda0': 1.1000000000000001e-10, 'pixel_size': 0.00011999999999999999, 'fpixels': 80, 'spixels': 72, 'pixels': 5760, 'distance': 0.094, 'detsize_f': 0.0096, 'detsize_s': 0.008639999999999998, 'Xbeam': 0.0043, 'Ybeam': 0.0039, 'close_distance': 0.094, 'ORGX': 40.2, 'ORGY': 35.7, 'phi0': 0.05235987755982988, 'osc': 0.008726646259971648, 'imginfileimage': '7', 'imginfilename': 'header.img'},
    '-mask mask.img': {'lambda0': 1.3000000000000002e-10, 'fpixels': 96, 'spixels': 96, 'pixels': 9216, 'distance': 0.11, 'detsize_f': 0.009600000000000001, 'detsize_s': 0.009600000000000001, 'Xbeam': 0.0047, 'Ybeam': 0.004500000000000001, 'maskimage': (9216, 8252, 964), 'maskfilename': 'mask.img'},
    '-img nothere.img': {'imginfilename': 'nothere.img'},
    '-wavelength 1.5': {'lambda0': 1.5e-10},
    '-lambda 1 -energy 12000': {'lambda0': 1.0332016666666666e-10},
    '-energy 12000 -lambda 2': {'lambda0': 2e-10},
    '-energy 0': {'lambda0': INF},
    '-N 3 -Na 5': {'Na': 5.0, 'Nb': 3.0, 'Nc': 3.0},
    '-Na 5 -N 3': {'Na': 3.0, 'Nb': 3.0, 'Nc': 3.0},
    '-N 3.7': {'Na': 3.0, 'Nb': 3.0, 'Nc': 3.0},
    '-detector_absorb inf -detector_thick 300': {'detector_mu': 0.0, 'detector_thick': 0.0003},
    '-detector_abs 500 -detector_thicksteps 4': {'detector_mu': 2000.0, 'detector_thicksteps': 4},
    '-detector_thickx 3': {},
    '-detsize 50 -detsizex 3': {'detsize_f': 0.05, 'detsize_s': 0.05},
    '-detpixels 20 -detsize_f 30': {'fpixels': 20, 'spixels': 20, 'detsize_f': 0.03},
    '-detpixels_x 100 -detpixels_y 50': {'fpixels': 100, 'spixels': 50},
    '-stol water.stol -Q water.stol': {'stol_file_mult': 795774715.4594767, 'stolfilename': 'water.stol'},
    '-4stol water.stol -stolout x': {'stol_file_mult': 2500000000.0, 'stolfilename': 'water.stol', 'stoloutfilename': 'x'},
    '-printout_pixel 3 4': {'printout': 1, 'printout_spixel': 4, 'printout_fpixel': 3},
    '-mosaic 0.5 -mosaic_spread 0.7 -mosaicity 0.9 -mosaic_domains 4 -mosaic_seed 99': {'mosaic_spread': 0.015707963267948967, 'mosaic_domains': 4, 'mosaic_seed': -99},
    '-seed 99999999999': {'seed': -1215752191},
    '-hdivstep 0.1 -hdivsteps 3 -vdivstep 0.2 -vdivsteps 4 -divsteps 2 -divergence 1 -hdivrange 2': {'hdivstep': 0.0001, 'hdivrange': 0.002, 'vdivstep': 0.0002, 'vdivrange': 0.001, 'hdivsteps': 2, 'vdivsteps': 2},
    '-phi 3 -phistep 0.1 -phisteps 5 -osc 2': {'phi0': 0.05235987755982988, 'phistep': 0.0017453292519943296, 'osc': 0.03490658503988659, 'phisteps': 5},
    '-Xbeam 3 -xds': {'detector_pivot': 'SAMPLE', 'beam_convention': 'XDS', 'Xbeam': 0.003},
    '-dials': {'beam_convention': 'DIALS'},
    '-pivot beamsample': {},
    '-xtal_width 5 -xtal_height 6 -width 0.4 -heigh 0.5 -sample_x 0.6': {'sample_x': 0.0006, 'sample_y': 0.0004, 'sample_z': 0.0005},
    '-density 1.2 -MW 500 -molecular 300': {'density': 1200000.0, 'molecular_weight': 300.0},
    '-lambda 0x1.8p0 -distance 1e5x': {'lambda0': 1.5e-10, 'distance': 100.0},
    '-lambda inf -distance .5': {'lambda0': INF, 'distance': 0.0005},
    '-roi 1 2 3 4': {'roi_xmin': 1, 'roi_xmax': 2, 'roi_ymin': 3, 'roi_ymax': 4},
    '-oversample_thick -oversample 2': {'oversample': 2, 'oversample_thick': 1},
    '-round_xtal -binary_spots -fudge 2': {'xtal_shape': 'TOPHAT', 'fudge': 2.0},
    '-nointerpolate -interpolate': {'interpolate': 1},
    '-noprogress -coherent -printout': {'progress_meter': 0, 'printout': 1, 'coherent': 1},
    '-ORGX 10 -ORGY 20 -Xclose 3 -Yclose 4 -close_distance 90': {'detector_pivot': 'SAMPLE', 'Xclose': 0.003, 'Yclose': 0.004, 'close_distance': 0.09, 'ORGX': 10.0, 'ORGY': 20.0},
    '-detector_rotx 1 -detector_roty 2 -detector_rotz 3 -twotheta 4': {'detector_rotx': 0.017453292519943295, 'detector_roty': 0.03490658503988659, 'detector_rotz': 0.05235987755982988, 'detector_pivot': 'SAMPLE', 'detector_twotheta': 0.06981317007977318},
    '-fdet_vector 1 0 0 -sdet_vector 0 1 0 -odet_vector 0 0 1 -beam_vector 0 0 1 -polar_vector 0 1 0 -spindle_axis 1 0 0': {'beam_vector': [0.0, 0.0, 0.0, 1.0], 'fdet_vector': [0.0, 1.0, 0.0, 0.0], 'sdet_vector': [0.0, 0.0, 1.0, 0.0], 'odet_vector': [0.0, 0.0, 0.0, 1.0], 'beam_convention': 'CUSTOM', 'polar_vector': [0.0, 0.0, 1.0, 0.0], 'spindle_vector': [0.0, 1.0, 0.0, 0.0]},
    '-floatfile -xds.bin': {'detector_pivot': 'SAMPLE', 'beam_convention': 'XDS', 'floatfilename': '-xds.bin'},
    '-phi -0.2 -water 10 -adc 5 -scale 3 -dmin 2 -exposure 2 -beamsize 0.05': {'exposure': 2.0, 'beamsize': 5e-05, 'water_size': 1e-05, 'adc_offset': 5.0, 'dmin': 2e-10, 'phi0': -0.003490658503988659, 'intfile_scale': 3.0},
    '-dispersion 1 -dispsteps 3 -sourcefile sources.txt': {'dispersion': 0.01, 'dispsteps': 3, 'sourcefilename': 'sources.txt'},
    '-foo -bar 3': {},
    '-cell 100 100 100 90 90 90 -N 5 -omp_threads 4 -kernel fast -threads 3 -device auto -gpu_precision double': {'Na': 5.0, 'Nb': 5.0, 'Nc': 5.0, 'user_cell': 1, 'a': [100.0, 0.0, 0.0, 0.0], 'b': [100.0, 0.0, 0.0, 0.0], 'c': [100.0, 0.0, 0.0, 0.0], 'alpha': 1.5707963267948966, 'beta': 1.5707963267948966, 'gamma': 1.5707963267948966},
}


def _same(x, y):
    """Bitwise float equality (NaN equals NaN of the same sign)."""
    if isinstance(x, float) or isinstance(y, float):
        x, y = float(x), float(y)
        if math.isnan(x) and math.isnan(y):
            return math.copysign(1, x) == math.copysign(1, y)
        return struct.pack("<d", x) == struct.pack("<d", y)
    return x == y and type(x) is type(y)


def _parse(args, monkeypatch):
    if "-img" in args or "-mask" in args:
        pytest.importorskip("nbnumba.io.smv")
    monkeypatch.chdir(INPUTS)
    warnings = []
    p = parse_argv(shlex.split(args), now=NOW, warn=warnings.append)
    return p, warnings


def _check(args, expected, monkeypatch):
    p, _ = _parse(args, monkeypatch)
    want = Params(seed=-NOW, misset_seed=-NOW)
    for name, value in expected.items():
        if name != "maskimage":
            setattr(want, name, value)
    for f in FIELDS:                    # every nanoBragg name, flat
        if f in C_VARIABLES_NOT_DUMPED:
            continue
        got, exp = getattr(p, f), getattr(want, f)
        if isinstance(exp, list):
            assert len(got) == 4 and all(_same(float(a), b) for a, b in zip(got, exp)), (f, got, exp)
        else:
            assert _same(got, exp), (f, got, exp)
    if "maskimage" in expected:
        # C dumps its final `pixels` mask values: (count, sum, number of zeros)
        n, total, zeros = expected["maskimage"]
        m = p.maskimage
        assert m.dtype.name == "uint16" and m.ndim == 1 and len(m) >= n
        assert (int(m[:n].sum()), int((m[:n] == 0).sum())) == (total, zeros)
    else:
        assert p.maskimage is None


def _golden_args():
    cases = tomllib.loads((ROOT / "golden" / "cases.toml").read_text())["case"]
    out = []
    for case in cases:
        for a in case.get("before", []) + [case["args"]]:
            if a not in out:
                out.append(a)
    return out


@pytest.mark.parametrize("args", _golden_args())
def test_golden_case_args_match_c(args, monkeypatch):
    _check(args, GOLDEN[args], monkeypatch)


@pytest.mark.parametrize("args", list(TRICKY))
def test_tricky_args_match_c(args, monkeypatch):
    _check(args, TRICKY[args], monkeypatch)


def test_time_seed_default():
    p = parse_argv(["-seed", "3"], now=1234)
    assert p.seed == -3 and p.misset_seed == -1234  # misset_seed is captured before parsing
    p = parse_argv([], now=None)
    assert p.seed == p.misset_seed < -1_600_000_000


@pytest.mark.parametrize(
    "args, warning",
    [
        ("-twotheta_axis 5 0 -1", "WARNING: -twotheta_axis also sets -twotheta 5 and pivot SAMPLE (as nanoBragg.c does)"),
        ("-misset_seed 5 1 2", "WARNING: -misset_seed also sets -misset 5 1 2 (as nanoBragg.c does)"),
        ("-foo 3", "WARNING: unknown option -foo ignored"),
        ("-detector_twotheta 5", "WARNING: unknown option -detector_twotheta ignored"),
        ("-curved_det", "WARNING: -curved_det as the last argument is ignored (as nanoBragg.c does)"),
        ("-lambda", "WARNING: -lambda needs a value; ignored"),
        ("-roi 1 2 3", "WARNING: -roi needs 4 values; ignored"),
        ("-distance 1e5x", "WARNING: -distance: '1e5x' read as 100000.0"),
        ("-N 3.7", "WARNING: -N: '3.7' read as the integer 3"),
        ("-lambda 1 extra", "WARNING: argument 'extra' ignored"),
        ("-floatfile -xds.bin", "WARNING: '-xds.bin' is read both as a value and as an option (as nanoBragg.c does)"),
        ("-img nothere.img", "WARNING: nothere.img: No such file or directory; ignored (as nanoBragg.c does)"),
    ],
)
def test_warnings(args, warning, monkeypatch):
    _, warnings = _parse(args, monkeypatch)
    assert warning in warnings


def test_no_warnings_for_golden_args(monkeypatch):
    for args in _golden_args():
        _, warnings = _parse(args, monkeypatch)
        assert all("-misset_seed also sets -misset" in w for w in warnings), (args, warnings)


@pytest.mark.parametrize(
    "args, message",
    [
        # C crashes (SIGSEGV) when these are the last token
        ("-detector_abs", "-detector_abs needs a value"),
        ("-detector_absorb", "-detector_absorb needs a value"),
        ("-N 3 -detector_thick", "-detector_thick needs a value"),
        ("-detector_thicksteps", "-detector_thicksteps needs a value"),
        ("-thicksteps", "-thicksteps needs a value"),
        # values that are not numbers at all (C would read 0)
        ("-lambda abc", "-lambda: 'abc' is not a number"),
        ("-lambda -energy 12000", "-lambda: '-energy' is not a number"),
        ("-N x", "-N: 'x' is not a number"),
        ("-cell 100 abc", "-cell: 'abc' is not a number"),
        ("-misset 1 2 -N 5", "-misset: '-N' is not a number"),
        ("-detector_abs abc", "-detector_abs: 'abc' is not a number"),
        ("-roi 1 2 3 x", "-roi: 'x' is not a number"),
        ("-wavelength ''", "-wavelength: '' is not a number"),
        ("-pivot sideways", "-pivot: 'sideways' is not sample or beam"),
        # our own options
        ("-omp_threads 0", "-omp_threads: '0' must be >= 1"),
        ("-omp_threads two", "-omp_threads: 'two' is not an integer"),
        ("-threads -1", "-threads: '-1' must be >= 0"),
        ("-kernel slow", "-kernel: 'slow' is not one of exact, fast"),
        ("-device tpu", "-device: 'tpu' is not one of cpu, cuda, auto"),
        ("-gpu_precision half", "-gpu_precision: 'half' is not one of double, mixed"),
        ("-kernel", "-kernel needs a value"),
    ],
)
def test_errors(args, message):
    with pytest.raises(NanoBraggError) as exc:
        parse_argv(shlex.split(args), now=NOW, warn=lambda m: None)
    assert str(exc.value) == message
    assert exc.value.exit_code == 9


def test_short_smv_file_is_an_error(tmp_path):
    pytest.importorskip("nbnumba.io.smv")
    bad = tmp_path / "short.img"
    bad.write_bytes((INPUTS / "mask.img").read_bytes()[:100])
    for flag in ("-mask", "-img"):
        with pytest.raises(NanoBraggError) as exc:
            parse_argv([flag, str(bad)], now=NOW, warn=lambda m: None)
        assert exc.value.exit_code == 9 and "short.img" in str(exc.value)


def test_our_options():
    p = parse_argv(shlex.split("-omp_threads 4 -kernel fast -threads 3 -device auto -gpu_precision double -N 2"), now=NOW)
    assert (p.omp_threads, p.kernel, p.threads, p.device, p.gpu_precision) == (4, "fast", 3, "auto", "double")
    assert p.Na == 2.0
    p = parse_argv([], now=NOW)
    assert (p.omp_threads, p.kernel, p.threads, p.device, p.gpu_precision) == (1, "fast", 0, "cpu", "double")


@pytest.mark.parametrize("ours", [[], ["-kernel", "exact"], ["-threads", "2", "-device", "cpu"],
                                  ["-omp_threads", "3", "-gpu_precision", "double", "-kernel", "fast"]])
def test_our_options_are_invisible_to_c_lookahead(ours):
    # -misset_seed also acts as -misset when three more arguments follow it (C); ours must not count
    base = shlex.split("-misset random -misset_seed 54321 -nonoise")
    for at in range(len(base) + 1):
        p = parse_argv(base[:at] + ours + base[at:], now=NOW, warn=lambda m: None)
        assert p.misset[0] == -1.0 and p.misset[1:] == [0.0, 0.0, 0.0]
        assert p.misset_seed == -54321 and p.calculate_noise == 0
    # -cell stops reading at an argument that starts with '-', whoever's it is
    p = parse_argv(["-cell", "50", "60"] + ours + ["70", "90", "90", "90"], now=NOW, warn=lambda m: None)
    assert [p.a[0], p.b[0], p.c[0]] == [50.0, 60.0, 70.0]


@pytest.mark.parametrize(
    "text, value",
    [("abc", 0.0), ("1e5x", 1e5), ("100.", 100.0), ("1e-3", 1e-3), (" -2.5e-3", -2.5e-3), (".5", 0.5),
     ("1e", 1.0), ("-", 0.0), ("0x", 0.0), ("0x1.8p1", 3.0), ("-0x10", -16.0), ("inf", INF),
     ("-Infinity", -INF), ("1e400", INF), ("nan", NAN), ("nan(123)x", NAN), ("1,5", 1.0)],
)
def test_c_atof(text, value):
    got = c_atof(text)
    assert (math.isnan(got) and math.isnan(value)) or got == value


@pytest.mark.parametrize(
    "text, value",
    [("12abc", 12), ("-7", -7), (" +3", 3), ("abc", 0), ("3.9", 3), ("1e3", 1), ("0x10", 0),
     ("99999999999", 1215752191), ("-2147483649", 2147483647), ("9" * 5000, -1), ("-" + "9" * 5000, 0),
     ("0" * 5000 + "12", 12), ("9223372036854775808", -1), ("-9223372036854775809", 0)],
)
def test_c_atoi(text, value):
    assert c_atoi(text) == value


# every flag of the catalog (nanoBragg-flags.md, sections 1-8)
CATALOG = """
-4stol -MW -N -Na -Nb -Nc -ORGX -ORGY -Q -Xbeam -Xclose -Ybeam -Yclose -adc -adxv -beam_vector -beamsize
-binary_spots -cell -close_distance -coherent -curved_det -default_F -density -denzo -detector_abs
-detector_absorb -detector_rotx -detector_roty -detector_rotz -detector_thick -detector_thicksteps
-detpixels -detpixels_f -detpixels_s -detpixels_x -detpixels_y -detsize -detsize_f -detsize_s -dials
-dispersion -dispsteps -distance -divergence -divsteps -dmin -dump -energy -exposure -fdet_vector
-floatfile -floatimage -fluence -flux -fudge -gauss_xtal -hdivrange -hdivstep -hdivsteps -heigh -hkl -img
-interpolate -intfile -intimage -lambda -mask -mat -misset -misset_seed -molec -mosaic -mosaic_dom
-mosaic_seed -mosaic_spr -mosaici -mosflm -nointerpolate -noisefile -noiseimage -nonoise -nopgm -nopolar
-noprogress -odet_vector -osc -oversample -oversample_omega -oversample_polar -oversample_thick -pgmfile
-pgmimage -pgmscale -phi -phistep -phisteps -pivot -pix0_vector -pixel -point_pixel -polar -polar_vector
-printout -printout_pixel -progress -roi -round_div -round_xtal -sample_den -sample_heigh -sample_size
-sample_thick -sample_width -sample_x -sample_y -sample_z -samplesize -scale -sdet_vector -seed
-sourcefile -spindle_axis -square_div -square_xtal -stol -stolout -thicksteps -tophat_spots -twotheta
-twotheta_axis -vdivrange -vdivstep -vdivsteps -water -wave -width -xds -xtal_heigh -xtal_size
-xtal_thick -xtal_width -xtal_x -xtal_y -xtal_z -xtalsize
-wavelength -dumpfile -curved_detector -pix0_vector_mm -mosaic_domains -mosaic_spread -mosaicity
-omp_threads -kernel -threads -device -gpu_precision
""".split()


def test_help_mentions_every_flag():
    text = help_text()
    for flag in CATALOG:
        assert re.search(r"(?<![\w-])" + re.escape(flag), text), flag  # prefixes like -heigh* count
    assert len({f.name for f in all_flags()}) == len(all_flags())


def test_every_catalog_flag_is_accepted():
    """No catalog flag is reported as unknown (each fires a C branch, given enough values)."""
    for flag in CATALOG:
        if flag in ("-omp_threads", "-threads", "-kernel", "-device", "-gpu_precision", "-img", "-mask", "-pivot"):
            continue
        warnings = []
        parse_argv([flag, "1", "1", "1", "1", "-N", "1"], now=NOW, warn=warnings.append)
        assert not [w for w in warnings if "unknown" in w], (flag, warnings)


def test_frame_stdout_lines(monkeypatch):
    pytest.importorskip("nbnumba.io.smv")
    monkeypatch.chdir(INPUTS)
    lines = []
    parse_argv(["-mask", "mask.img", "-img", "header.img"], now=NOW, warn=lambda m: None, out=lines.append)
    assert lines[0] == "reading mask.img" and lines[1].startswith("mmap(mask.img) = 0x")
    assert lines[2] == "reading header.img" and lines[3].startswith("mmap(header.img) = 0x")
