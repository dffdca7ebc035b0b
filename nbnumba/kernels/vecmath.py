"""Scalar vector and lattice formulas shared by the set-up code and every kernel.

Each function is written once, as plain scalar arithmetic on (x, y, z) tuples, in nanoBragg.c's
exact operation order (left to right, no fused multiply-adds), so that the NumPy set-up, the CPU
kernels and the CUDA kernel all produce the same bits. This module does not import numba: the set-up
runs these functions in CPython (Python floats are IEEE doubles and `math` calls the same libm), and
nbnumba.kernels.jit compiles them for the kernels, which the CUDA target then compiles again as
device functions.
"""
import math


def dot(ax, ay, az, bx, by, bz):
    return ax * bx + ay * by + az * bz


def cross(ax, ay, az, bx, by, bz):
    # nanoBragg.c cross_product (~4028)
    return (ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx)


def magnitude(x, y, z):
    return math.sqrt(x * x + y * y + z * z)


def unitize(x, y, z):
    """Returns (magnitude, ux, uy, uz); a zero vector stays zero (C divides, never multiplies by 1/mag)."""
    mag = math.sqrt(x * x + y * y + z * z)
    if mag != 0.0:
        return mag, x / mag, y / mag, z / mag
    return mag, 0.0, 0.0, 0.0


def rotate_xyz(x, y, z, phix, phiy, phiz):
    """nanoBragg.c rotate(): about x, then y, then z; an axis whose angle is 0 is skipped."""
    if phix != 0.0:
        c = math.cos(phix)
        s = math.sin(phix)
        ny = y * c + z * (-s)
        nz = y * s + z * c
        y = ny
        z = nz
    if phiy != 0.0:
        c = math.cos(phiy)
        s = math.sin(phiy)
        nx = x * c + y * 0.0 + z * s
        nz = x * (-s) + y * 0.0 + z * c
        x = nx
        z = nz
    if phiz != 0.0:
        c = math.cos(phiz)
        s = math.sin(phiz)
        nx = x * c + y * (-s)
        ny = x * s + y * c
        x = nx
        y = ny
    return x, y, z


def rotate_axis(x, y, z, ax, ay, az, phi):
    """Rodrigues rotation of v about the unit axis a by phi (nanoBragg.c rotate_axis)."""
    sinphi = math.sin(phi)
    cosphi = math.cos(phi)
    d = (ax * x + ay * y + az * z) * (1.0 - cosphi)
    nx = ax * d + x * cosphi + (-az * y + ay * z) * sinphi
    ny = ay * d + y * cosphi + (+az * x - ax * z) * sinphi
    nz = az * d + z * cosphi + (-ay * x + ax * y) * sinphi
    return nx, ny, nz


def rotate_umat(x, y, z, u):
    """v' = U v with U a row-major 9-vector (nanoBragg.c rotate_umat)."""
    return (u[0] * x + u[1] * y + u[2] * z,
            u[3] * x + u[4] * y + u[5] * z,
            u[6] * x + u[7] * y + u[8] * z)


def polarization_factor(kahn, ix, iy, iz, dx, dy, dz, px, py, pz):
    """Kahn polarization factor; the caller has already unitized incident, diffracted and axis."""
    c2t = ix * dx + iy * dy + iz * dz
    c2t_sqr = c2t * c2t
    s2t_sqr = 1.0 - c2t_sqr
    psi = 0.0
    if kahn != 0.0:
        bx, by, bz = cross(px, py, pz, ix, iy, iz)
        _, bx, by, bz = unitize(bx, by, bz)
        ex, ey, ez = cross(ix, iy, iz, bx, by, bz)
        _, ex, ey, ez = unitize(ex, ey, ez)
        e_out = dx * ex + dy * ey + dz * ez
        b_out = dx * bx + dy * by + dz * bz
        psi = -math.atan2(b_out, e_out)
    return 0.5 * (1.0 + c2t_sqr - kahn * math.cos(2.0 * psi) * s2t_sqr)


def sincg(x, n):
    """Grating transform sin(N x)/sin(x), N when x == 0 (nanoBragg.c sincg)."""
    if x == 0.0:
        return n
    return math.sin(x * n) / math.sin(x)


def sinc3(x):
    """Sphere transform 3(sin x/x - cos x)/x^2 (nanoBragg.c sinc3)."""
    if x == 0.0:
        return 1.0
    return 3.0 * (math.sin(x) / x - math.cos(x)) / (x * x)


def polint4(x0, x1, x2, x3, y0, y1, y2, y3, x):
    """Four-point Lagrange interpolation with nanoBragg.c polint's operation order."""
    t0 = (x - x1) * (x - x2) * (x - x3) * y0 / ((x0 - x1) * (x0 - x2) * (x0 - x3))
    t1 = (x - x0) * (x - x2) * (x - x3) * y1 / ((x1 - x0) * (x1 - x2) * (x1 - x3))
    t2 = (x - x0) * (x - x1) * (x - x3) * y2 / ((x2 - x0) * (x2 - x1) * (x2 - x3))
    t3 = (x - x0) * (x - x1) * (x - x2) * y3 / ((x3 - x0) * (x3 - x1) * (x3 - x2))
    return t0 + t1 + t2 + t3


# ---------------------------------------------------------------- nanoBragg's 4-slot vectors
# The set-up (detector, crystal, plan) is ported from C statement by statement, so it keeps C's layout
# v[0] = magnitude, v[1..3] = x, y, z; these run the formulas above in CPython (Python floats are IEEE
# doubles and `math` calls the same libm). Not compiled for the kernels.


def unitize_v4(v, out=None):
    """C unitize(v, out): out = v/|v|; v[0] (and out[0]) get |v|; returns |v|."""
    out = v if out is None else out
    mag, x, y, z = unitize(v[1], v[2], v[3])
    v[0] = mag
    if mag != 0.0:
        out[1], out[2], out[3] = x, y, z
        out[0] = mag if out is v else out[0]
    else:
        out[0] = out[1] = out[2] = out[3] = 0.0
    return mag


def magnitude_v4(v):
    v[0] = magnitude(v[1], v[2], v[3])
    return v[0]


def dot_v4(a, b):
    return dot(a[1], a[2], a[3], b[1], b[2], b[3])


def cross_v4(a, b):
    x, y, z = cross(a[1], a[2], a[3], b[1], b[2], b[3])
    return [0.0, x, y, z]


def scale_v4(v, s):
    """C vector_scale: a new vector s*v with its magnitude in slot 0."""
    out = [0.0, s * v[1], s * v[2], s * v[3]]
    magnitude_v4(out)
    return out


def rescale_v4(v, new_mag):
    """C vector_rescale: v scaled to length new_mag (computed as new_mag/old*v_i)."""
    old = magnitude_v4(v)
    if old <= 0.0:
        old = 1.0
    out = [0.0, new_mag / old * v[1], new_mag / old * v[2], new_mag / old * v[3]]
    magnitude_v4(out)
    return out


def rotate_v4(v, rx, ry, rz):
    x, y, z = rotate_xyz(v[1], v[2], v[3], rx, ry, rz)
    return [v[0], x, y, z]


def rotate_axis_v4(v, axis, phi):
    x, y, z = rotate_axis(v[1], v[2], v[3], axis[1], axis[2], axis[3], phi)
    return [v[0], x, y, z]
