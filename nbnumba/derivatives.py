"""Derivatives of the image with respect to the parameters people refine.

    d = nbnumba.api.derivatives(params, ["distance", "Na", "rotx", "a"], method="analytic")
    d.image            # float64 (spixels, fpixels): the fast kernel's image before its float32 store
    d.d["distance"]    # d image / d distance, per mm

Each parameter is given in the units the command line uses (mm, Angstrom, degrees, unit cells); `fluence`
is a relative scale (1 = the plan's fluence). `method="central"` differences two float64 images per
parameter (optionally with a Richardson step); `method="analytic"` renders the image and every
derivative in one pass of kernels/gradient.py. The analytic pass is told how the plan's inputs move
with each parameter (detector frame, pix0, wavelengths, rotated cells, N, close distance, fluence) by
central differences of the set-up, which is smooth and cheap; what the set-up moves that the kernel's
chain does not carry is refused, never left out.

Both methods render the fast algorithm in float64: a parallelepiped (SQUARE) crystal on a flat detector,
without interpolation or the -oversample_thick/_polar/_omega flags.
"""
import copy
import math
import numbers
from typing import NamedTuple

import numpy as np

from .errors import NanoBraggError
from .sampling import RTD


class Parameter(NamedTuple):
    units: str
    step: float                  # central-difference step, in `units`
    analytic: bool               # the analytic pass can take it
    get: object                  # (params, settled p) -> the current value in `units`
    set: object                  # (params copy, value) -> None


def _setter(field, scale):
    def set_value(q, v):
        setattr(q, field, v * scale)
    return set_value


def _cell_setter(index):
    def set_value(q, v):
        values = effective_cell(q)
        values[index] = v
        _set_cell(q, values)
    return set_value


def effective_cell(q):
    """The six cell values -cell gave, with build_cell's defaults made explicit (b, c = a; angles 90 deg),
    in A and degrees: each is then a parameter of its own."""
    a = q.a[0]
    lengths = [v if v > 0.0 else a for v in (q.a[0], q.b[0], q.c[0])]
    angles = [v * RTD if v > 0.0 else 90.0 for v in (q.alpha, q.beta, q.gamma)]
    return lengths + angles


def _set_cell(q, values):
    for name, v in zip("abc", values[:3]):
        vec = list(getattr(q, name))
        vec[0] = v
        setattr(q, name, vec)
    q.alpha, q.beta, q.gamma = (v / RTD for v in values[3:])


def _cell_getter(index):
    def get(params, settled):
        return effective_cell(params)[index]
    return get


PARAMETERS = {
    # the user's value where the configuration has one (the set-up may settle another, e.g. the distance
    # along the beam with -twotheta), the settled one where it is a convention's default (the beam centre)
    "distance": Parameter("mm", 1e-3, True, lambda p, s: p.distance * 1e3, _setter("distance", 1e-3)),
    "Xbeam": Parameter("mm", 1e-4, True, lambda p, s: (s.Xbeam if math.isnan(p.Xbeam) else p.Xbeam) * 1e3,
                       _setter("Xbeam", 1e-3)),
    "Ybeam": Parameter("mm", 1e-4, True, lambda p, s: (s.Ybeam if math.isnan(p.Ybeam) else p.Ybeam) * 1e3,
                       _setter("Ybeam", 1e-3)),
    "lambda": Parameter("A", 1e-6, True, lambda p, s: p.lambda0 * 1e10, _setter("lambda0", 1e-10)),
    "Na": Parameter("cells", 1e-4, True, lambda p, s: s.Na, _setter("Na", 1.0)),
    "Nb": Parameter("cells", 1e-4, True, lambda p, s: s.Nb, _setter("Nb", 1.0)),
    "Nc": Parameter("cells", 1e-4, True, lambda p, s: s.Nc, _setter("Nc", 1.0)),
    "rotx": Parameter("deg", 1e-4, True, lambda p, s: p.xtal_rotx * RTD, _setter("xtal_rotx", 1.0 / RTD)),
    "roty": Parameter("deg", 1e-4, True, lambda p, s: p.xtal_roty * RTD, _setter("xtal_roty", 1.0 / RTD)),
    "rotz": Parameter("deg", 1e-4, True, lambda p, s: p.xtal_rotz * RTD, _setter("xtal_rotz", 1.0 / RTD)),
    "a": Parameter("A", 1e-5, True, _cell_getter(0), _cell_setter(0)),
    "b": Parameter("A", 1e-5, True, _cell_getter(1), _cell_setter(1)),
    "c": Parameter("A", 1e-5, True, _cell_getter(2), _cell_setter(2)),
    "alpha": Parameter("deg", 1e-4, True, _cell_getter(3), _cell_setter(3)),
    "beta": Parameter("deg", 1e-4, True, _cell_getter(4), _cell_setter(4)),
    "gamma": Parameter("deg", 1e-4, True, _cell_getter(5), _cell_setter(5)),
    "fluence": Parameter("relative", 1e-3, True, lambda p, s: 1.0, None),
    "mosaic": Parameter("deg", 1e-3, False, lambda p, s: s.mosaic_spread * RTD, _setter("mosaic_spread", 1.0 / RTD)),
}
CELL = ("a", "b", "c", "alpha", "beta", "gamma")


class Derivatives(NamedTuple):
    image: np.ndarray            # float64 (spixels, fpixels)
    d: dict                      # name -> float64 (spixels, fpixels), per unit of the parameter
    values: dict                 # name -> the parameter's value at which they were taken
    units: dict
    method: str


def _quiet(line):
    pass


def _read_table(path, default_F, log=print, warn=None):
    """-hkl files parsed once per process (the batch workers' cache): derivatives and refine make many
    plans of the same tables."""
    from .batch.job import worker_cache
    return worker_cache().read(path, default_F, log, warn)


def base_plan(params):
    """The plan derivatives are taken on, refused (one line) where the float64 renderer cannot follow it."""
    from .kernels.cpu import covered
    from .kernels.layout import SQUARE
    from .plan import make_plan
    plan = make_plan(params, _quiet, read_table=_read_table)
    p = plan.p
    if plan.interpolate:
        raise NanoBraggError("derivatives need a plan without structure-factor interpolation (-nointerpolate)")
    if not covered(plan.params) or plan.params[0]["xtal_shape"] != SQUARE or p.curved_detector:
        raise NanoBraggError("derivatives need a parallelepiped crystal (-square_xtal) on a flat detector, "
                             "without -oversample_thick, -oversample_polar or -oversample_omega")
    return plan


def perturbed_plan(params, base, name, value, fluence_scale=1.0):
    """The plan of `params` with parameter `name` set to `value` (its units), every setting the base plan
    settled from the geometry (oversampling, interpolation) kept as it was."""
    from .plan import make_plan
    q = copy.deepcopy(params)
    q.oversample = base.p.oversample
    q.interpolate = 0
    if q.user_cell:
        _set_cell(q, effective_cell(q))
    if name is not None:
        if name in CELL and (not q.user_cell or q.matfilename is not None):
            raise NanoBraggError("%s: cell parameters need a cell from -cell (and no -mat)" % name)
        if name in CELL and (q.sample_x > 0 or q.sample_y > 0 or q.sample_z > 0):
            raise NanoBraggError("%s: the crystal size (-xtalsize, -samplesize) makes N a step function of the "
                                 "cell; no derivative" % name)
        PARAMETERS[name].set(q, value)
    plan = make_plan(q, _quiet, read_table=_read_table)
    plan.params[0]["fluence"] *= fluence_scale
    plan.params[0]["I_bg"] *= fluence_scale      # the water background is proportional to fluence too
    if name in ("Na", "Nb", "Nc") and not math.isclose(plan.params[0][name], value, rel_tol=1e-15):
        raise NanoBraggError("%s: the crystal size (-xtalsize, -samplesize) sets N in this plan" % name)
    return plan


def _check_names(wrt, method, arg="wrt"):
    """The parameter names `wrt` (argument `arg`) as a list, each known and differentiable by `method`,
    none twice; NanoBraggError naming the argument otherwise."""
    if not isinstance(method, str) or method not in ("analytic", "central"):
        raise NanoBraggError("method must be 'analytic' or 'central', not %r" % (method,))
    if isinstance(wrt, (str, bytes)):
        raise NanoBraggError("%s must be a list of parameter names, not the string %r (give [%r])" % (arg, wrt, wrt))
    try:
        names = list(wrt)
    except TypeError:
        raise NanoBraggError("%s must be a list of parameter names, not %r" % (arg, wrt)) from None
    if not names:
        raise NanoBraggError("%s: name at least one parameter; choose from %s" % (arg, ", ".join(_choices(method))))
    for name in names:
        if not isinstance(name, str) or name not in PARAMETERS:
            raise NanoBraggError("%s: cannot differentiate with respect to %r; choose from %s"
                                 % (arg, name, ", ".join(PARAMETERS if arg == "wrt" else _choices(method))))
        if method == "analytic" and not PARAMETERS[name].analytic:
            raise NanoBraggError("%s: no analytic derivative (%s); analytic: %s"
                                 % (name, "use method='central'" if arg == "wrt" else "refine needs one",
                                    ", ".join(_choices(method))))
    if len(set(names)) != len(names):
        raise NanoBraggError("%s: a parameter is named twice in %r" % (arg, names))
    return names


def _choices(method):
    return [n for n, v in PARAMETERS.items() if v.analytic or method == "central"]


def check_params(params, arg="params"):
    """NanoBraggError naming `arg` unless `params` is a configuration (nbnumba.api.params) whose every field
    holds a value of its kind (config.check_fields)."""
    from .config import check_fields
    check_fields(params, arg)
    return params


def check_threads(threads):
    """CPU threads as the `threads` argument gives them (None or 0: every CPU this process may use)."""
    from .config import checked_value
    return 0 if threads is None else checked_value("threads", threads)


def _check_steps(steps, names, values, method):
    """{name: step} of the finite differences, each a positive finite number of a parameter in `names`
    that moves its value; NanoBraggError naming `steps` otherwise."""
    if steps is None:
        return {}
    if not hasattr(steps, "items"):
        raise NanoBraggError("steps must be a mapping {name: step}, not %r" % (steps,))
    out = {}
    for name, h in steps.items():
        if name not in names:
            raise NanoBraggError("steps: %r is not one of the parameters differentiated (%s)"
                                 % (name, ", ".join(names)))
        if isinstance(h, bool) or not isinstance(h, numbers.Real):
            raise NanoBraggError("steps[%r] must be a number, not %r" % (name, h))
        h = float(h)
        if not (math.isfinite(h) and h > 0.0):
            raise NanoBraggError("steps[%r] must be a positive finite number of %s, not %r"
                                 % (name, PARAMETERS[name].units, h))
        v = float(values[name])
        if v + h == v or v - h == v:
            raise NanoBraggError("steps[%r] = %g is too small to move the value %g" % (name, h, v))
        if name == "fluence" and h >= 1.0:
            raise NanoBraggError("steps['fluence'] must be below 1 (a relative step), not %g" % h)
        out[name] = h
    return out


def derivatives(params, wrt, method="analytic", threads=0, richardson=False, steps=None, check=True, finite=True):
    """The float64 image of `params` and its derivative with respect to each parameter in `wrt` (see the
    module's docstring). steps: {name: step} to override the central-difference steps (positive, in the
    parameter's units, of parameters in `wrt`). check=False skips checking that each parameter's own value
    gives this plan (refine checks its start once); finite=False returns an image or derivatives that
    are not finite instead of refusing them (refine lets its trial steps find out)."""
    names = _check_names(wrt, method)
    check_params(params)
    threads = check_threads(threads)
    if not isinstance(richardson, (bool, np.bool_)):
        raise NanoBraggError("richardson must be True or False, not %r" % (richardson,))
    base = base_plan(params)
    values = {n: PARAMETERS[n].get(params, base.p) for n in names}
    steps = _check_steps(steps, names, values, method)
    for n in names:
        if n in ("Na", "Nb", "Nc") and values[n] <= 1.0:
            raise NanoBraggError("%s = %g: nanoBragg leaves the lattice factor of an axis with N <= 1 out; "
                                 "no derivative there" % (n, values[n]))
        if check:
            _check_base_point(params, base, n, values[n])
    shape = (base.p.spixels, base.p.fpixels)
    if method == "analytic":
        image, d = render(base, setup_jacobian(params, base, names, values, steps), threads)
        out = {n: d[i].reshape(shape) for i, n in enumerate(names)}
    else:
        image = render(base, None, threads)[0]
        out = {}
        for n in names:
            h = steps.get(n, PARAMETERS[n].step)
            diff = _central(params, base, n, values[n], h, threads)
            if richardson:
                diff = (4.0 * _central(params, base, n, values[n], h / 2.0, threads) - diff) / 3.0
            out[n] = diff.reshape(shape)
    if finite:
        check_finite(image, out)
    return Derivatives(image.reshape(shape), out, values, {n: PARAMETERS[n].units for n in names}, method)


def check_finite(image, d, where="at this point"):
    """NanoBraggError unless the image and every derivative in `d` ({name: array}) are finite."""
    if not np.all(np.isfinite(image)):
        raise NanoBraggError("the model's image has %d pixels NaN or infinite %s: an overflow of F, N or the "
                             "fluence" % (np.count_nonzero(~np.isfinite(image)), where))
    for n, a in d.items():
        if not np.all(np.isfinite(a)):
            raise NanoBraggError("the derivative in %s has %d pixels NaN or infinite %s"
                                 % (n, np.count_nonzero(~np.isfinite(a)), where))


def _check_base_point(params, base, name, value):
    """The plan with `name` set to its own value must be the base plan (or the derivative would be taken
    somewhere else): refused where it is not."""
    if name == "fluence":
        return
    same = perturbed_plan(params, base, name, value)
    for a, b in ((same.det, base.det), (same.sources, base.sources), (same.cells, base.cells)):
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-12, atol=0.0):
            raise NanoBraggError("%s: setting it to its own value (%g %s) changes this plan; no derivative"
                                 % (name, value, PARAMETERS[name].units))
    for field in FOLLOWED + CONSTANT:
        if not math.isclose(same.params[0][field], base.params[0][field], rel_tol=1e-12, abs_tol=0.0):
            raise NanoBraggError("%s: setting it to its own value (%g %s) changes this plan's %s; no derivative"
                                 % (name, value, PARAMETERS[name].units, field))


def _central(params, base, name, value, h, threads):
    if name == "fluence":
        up = perturbed_plan(params, base, None, None, fluence_scale=1.0 + h)
        down = perturbed_plan(params, base, None, None, fluence_scale=1.0 - h)
    else:
        up = perturbed_plan(params, base, name, value + h)
        down = perturbed_plan(params, base, name, value - h)
    return (render(up, None, threads)[0] - render(down, None, threads)[0]) / (2.0 * h)


# the plan's scalars the gradient kernel follows (kernels/gradient.SC_*), and those it takes as constants
FOLLOWED = ("close_distance", "Na", "Nb", "Nc", "fluence", "I_bg")
CONSTANT = ("subpixel_size", "pixel_size", "detector_thickstep", "detector_thick", "detector_mu", "dmin",
            "polarization", "default_F", "r_e_sqr", "steps")


def setup_jacobian(params, base, names, values, steps=None):
    """(d_det, d_sources, d_cells, d_scalars): how the plan's inputs move per unit of each parameter, by
    central differences of the set-up; NanoBraggError if a parameter moves an input the kernel's chain
    does not carry (which would otherwise be a term silently left out)."""
    P = len(names)
    ncells = base.cells.shape[1] * base.cells.shape[2]
    d_det = np.zeros((P, 5, 3))
    d_sources = np.zeros((P,) + base.sources.shape)
    d_cells = np.zeros((P, 2 * ncells, 9))
    d_scalars = np.zeros((P, len(FOLLOWED)))
    for t, name in enumerate(names):
        if name == "fluence":
            d_scalars[t, FOLLOWED.index("fluence")] = base.params[0]["fluence"]
            d_scalars[t, FOLLOWED.index("I_bg")] = base.params[0]["I_bg"]
            continue
        h = (steps or {}).get(name, PARAMETERS[name].step)
        up = perturbed_plan(params, base, name, values[name] + h)
        down = perturbed_plan(params, base, name, values[name] - h)
        for a, b in ((up.cells, base.cells), (up.sources, base.sources), (up.Fhkl, base.Fhkl)):
            if a.shape != b.shape:
                raise NanoBraggError("%s: changing it changes the plan's sampling; no derivative" % name)
        d_det[t] = (up.det - down.det) / (2 * h)
        d_sources[t] = (up.sources - down.sources) / (2 * h)
        d_cells[t] = ((up.cells - down.cells) / (2 * h)).reshape(2 * ncells, 9)
        for i, field in enumerate(FOLLOWED):
            d_scalars[t, i] = (up.params[0][field] - down.params[0][field]) / (2 * h)
        _refuse_untracked(name, up, down, base)
    return d_det, d_sources, d_cells, d_scalars


def _refuse_untracked(name, up, down, base):
    def moved(a, b, ref):
        a, b, ref = (np.asarray(x, np.float64) for x in (a, b, ref))
        return not np.allclose(a, b, rtol=1e-13, atol=1e-13 * max(1e-300, float(np.abs(ref).max(initial=0.0))))
    what = [field for field in CONSTANT if moved(up.params[0][field], down.params[0][field], base.params[0][field])]
    if moved(up.sources[:, :3], down.sources[:, :3], base.sources[:, :3]):
        what.append("the beam's direction")
    if moved(up.polar_axis, down.polar_axis, base.polar_axis):
        what.append("the polarization axis")
    if moved(up.Fhkl, down.Fhkl, base.Fhkl):
        what.append("the structure factors")
    if what:
        raise NanoBraggError("%s: it also moves %s, which the analytic pass does not follow; use method='central'"
                             % (name, ", ".join(what)))


def work_arrays(P, ncells):
    """One thread's scratch for kernels/gradient._pixel."""
    return (np.zeros((2 * ncells, 9)), np.zeros((P, 3)), np.zeros((P, 3)), np.zeros((P, 3)), np.zeros(P),
            np.zeros(P), np.zeros(P), np.zeros(P), np.zeros(3))


def render(plan, dplan=None, threads=0):
    """(float64 flat image, derivatives (P, pixels)) of a plan by the gradient kernel; dplan None: the
    image alone. Pixels outside the ROI or masked are 0, as in the float image."""
    from .kernels import cpu
    from .kernels.gradient import render_derivatives
    from .render import pixel_order
    p = plan.p
    order, block_starts = pixel_order(p)
    n = order.shape[0]
    fresh = np.zeros(n, np.int8)
    firsts = cpu.first_phi_positions(order, block_starts, plan.params, plan.det, plan.sources)
    fresh[firsts[firsts >= 0]] = 1
    ncells = plan.cells.shape[1] * plan.cells.shape[2]
    if dplan is None:
        dplan = (np.zeros((0, 5, 3)), np.zeros((0,) + plan.sources.shape), np.zeros((0, 2 * ncells, 9)),
                 np.zeros((0, len(FOLLOWED))))
    P = dplan[3].shape[0]
    moves_cells = np.array([bool(np.any(dplan[2][t])) for t in range(P)], np.int8)
    dplan = tuple(dplan) + (moves_cells,)
    npx = p.fpixels * p.spixels
    image = np.zeros(npx)
    dimage = np.zeros((P, npx))
    f2, dims = cpu.padded_f2(plan.params, plan.Fhkl)
    arrays = tuple(np.ascontiguousarray(a) for a in plan.arrays())
    nthreads = max(1, min(cpu.usable_threads(threads), (n + 63) // 64))
    works = [work_arrays(P, ncells) for _ in range(nthreads)]
    chunk = 64

    def run_units(k, lo, hi):
        positions = np.arange(lo * chunk, min(hi * chunk, n), dtype=np.int64)
        render_derivatives(order, positions, fresh, arrays, (f2, dims), dplan, image, dimage, works[k])

    cpu._in_pieces(nthreads, (n + chunk - 1) // chunk, run_units)
    return image, dimage
