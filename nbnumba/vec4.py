"""nanoBragg.c's 4-slot vectors (v[0] = magnitude, v[1..3] = x, y, z) for the set-up code.

The set-up is ported from C statement by statement, so it keeps C's vector layout; the arithmetic
itself is the shared scalar code of nbnumba.kernels.vecmath, run here by CPython (Python floats are
IEEE doubles and `math` calls the same libm).
"""
from .kernels import vecmath as vm


def unitize(v, out=None):
    """C unitize(v, out): out = v/|v|; v[0] (and out[0]) get |v|; returns |v|."""
    out = v if out is None else out
    mag, x, y, z = vm.unitize(v[1], v[2], v[3])
    v[0] = mag
    if mag != 0.0:
        out[1], out[2], out[3] = x, y, z
        out[0] = mag if out is v else out[0]
    else:
        out[0] = out[1] = out[2] = out[3] = 0.0
    return mag


def magnitude(v):
    v[0] = vm.magnitude(v[1], v[2], v[3])
    return v[0]


def dot(a, b):
    return vm.dot(a[1], a[2], a[3], b[1], b[2], b[3])


def cross(a, b):
    x, y, z = vm.cross(a[1], a[2], a[3], b[1], b[2], b[3])
    return [0.0, x, y, z]


def scale(v, s):
    """C vector_scale: a new vector s*v with its magnitude in slot 0."""
    out = [0.0, s * v[1], s * v[2], s * v[3]]
    magnitude(out)
    return out


def rescale(v, new_mag):
    """C vector_rescale: v scaled to length new_mag (computed as new_mag/old*v_i)."""
    old = magnitude(v)
    if old <= 0.0:
        old = 1.0
    out = [0.0, new_mag / old * v[1], new_mag / old * v[2], new_mag / old * v[3]]
    magnitude(out)
    return out


def rotate(v, rx, ry, rz):
    x, y, z = vm.rotate_xyz(v[1], v[2], v[3], rx, ry, rz)
    return [v[0], x, y, z]


def rotate_axis(v, axis, phi):
    x, y, z = vm.rotate_axis(v[1], v[2], v[3], axis[1], axis[2], axis[3], phi)
    return [v[0], x, y, z]
