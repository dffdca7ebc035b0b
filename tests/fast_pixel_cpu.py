"""The GPU fast kernel's per-pixel function (kernels/fast_pixel.fast_pixel_value) compiled for the CPU, as a
third target of the same source: what a GPU computes, at CPU speed, so that the mixed precision can be
measured on every golden case in CI, and the simulated GPU kernel checked against it bit for bit.

fast_pixel's functions are rebuilt over a copy of its namespace with SPEC_MIXED set, each compiled with
njit; their callees (pixel.py's, vecmath's, the fma intrinsic) are the CPU's."""
from types import FunctionType

import numpy as np
from numba import njit

from nbnumba.kernels import fast_pixel
from nbnumba.kernels.jit import plain_functions

_built = {}


def functions(mixed):
    if mixed not in _built:
        space = dict(vars(fast_pixel))
        space["SPEC_MIXED"] = int(mixed)
        compile = njit(error_model="numpy")
        for name, f in plain_functions[fast_pixel.__name__].items():
            space[name] = compile(FunctionType(f.__code__, space, f.__name__, f.__defaults__, f.__closure__))
        _built[mixed] = (space["fast_pixel_value"], space["fast_pixel_finish"], _driver(space))
    return _built[mixed]


def _driver(space):
    value, finish = space["fast_pixel_value"], space["fast_pixel_finish"]

    @njit(error_model="numpy")
    def render(order, positions, parts, plan, tables, image, omega):
        params = plan[0]
        fpixels = params[0].fpixels
        for m in positions:
            idx = order[m]
            sp = idx // fpixels
            total = 0.0
            cap = pol = opx = om = 0.0
            for part in range(parts):
                acc, o, c, p, x = value(idx - sp * fpixels, sp, part, parts, plan, tables)
                total += acc
                if part == 0:
                    om, cap, pol, opx = o, c, p, x
            image[idx] = np.float32(0.0 + finish(total, cap, pol, opx, params[0]))
            omega[m] = om
    return render


def render(plan, mixed=False, parts=1):
    """The plan's float image as the GPU fast kernel makes it: the CPU fast kernel's image (its fresh and
    interpolating pixels are the exact kernel's, as on the GPU), every other pixel from
    fast_pixel_value. Returns (image, omega per list position)."""
    from nbnumba.kernels import cpu
    from nbnumba.render import run
    result = run(plan, kernel="fast")
    image = result.floatimage.copy()
    if not cpu.covered(plan.params) or plan.interpolate:
        return image, None
    from nbnumba.render import pixel_order
    order, block_starts = pixel_order(plan.p)
    n = order.shape[0]
    fresh = np.zeros(n, np.int8)
    firsts = cpu.first_phi_positions(order, block_starts, plan.params, plan.det, plan.sources)
    fresh[firsts[firsts >= 0]] = 1
    positions = np.flatnonzero(fresh == 0)
    f2, dims = cpu.padded_f2(plan.params, plan.Fhkl)
    if mixed:
        with np.errstate(over="ignore"):
            f2 = f2.astype(np.float32)
    cell_list = np.ascontiguousarray(plan.cells[1].reshape(-1, 9))
    omega = np.zeros(n)
    functions(mixed)[2](order, positions, parts, tuple(np.ascontiguousarray(a) for a in plan.arrays()),
                        (cell_list, f2, dims), image, omega)
    return image, omega
