"""Refining parameters of the model against an observed image: least squares with Poisson weights
(scipy.optimize.least_squares) and the analytic Jacobian of nbnumba.derivatives, one pass per evaluation.

    result = nbnumba.api.refine(params, "noiseimage.img", ["distance", "Na", "rotx"])
    result.refined["distance"], result.sigma["distance"]      # mm, and its standard error

The observed image is an SMV file (counts; the ADC offset is the header's ADC_OFFSET when it has one,
else the model's -adc, 40 by default, as nanoBragg adds it) or a float image (photons, nanoBragg's raw
float32 file, read with the model's detector size), or, from Python, an array of photons of the model's
(spixels, fpixels) shape or its flat size. An image that does not match the model, or that holds NaN or
infinite pixels where the fit looks (the region of interest, unmasked), is refused. Residuals are
(model - observed)/sigma over the model's region of interest, overloaded SMV pixels left out: first with
sigma = sqrt(max(observed, 1)), then, from there, with sigma = sqrt(max(model, 1)) (weights that do not
depend on the noise keep the fit unbiased). Standard errors come from the Jacobian at the solution,
scaled by the reduced chi^2 when it is above 1. A fit whose reduced chi^2 stays above `max_chi2` (a local
minimum, a start too far away) or that scipy stops without convergence is reported as not converged: the
caller must not take its values.
"""
import copy
import math
import numbers
import os
from typing import NamedTuple

import numpy as np

from . import derivatives as D
from .errors import NanoBraggError


class RefineResult(NamedTuple):
    start: dict
    refined: dict
    sigma: dict
    units: dict
    cost: float                  # half the sum of squared weighted residuals, at the solution
    reduced_chi2: float
    iterations: int              # model evaluations
    converged: bool
    message: str

    def as_json(self):
        return {"refined": self.refined, "sigma": self.sigma, "start": self.start, "units": self.units,
                "cost": self.cost, "reduced_chi2": self.reduced_chi2, "iterations": self.iterations,
                "converged": self.converged, "message": self.message}


def read_observed(path, p):
    """(observed photons per pixel, which pixels can be used) (flat) from an SMV or raw float image matching
    the model p; SMV pixels at the 16-bit full scale (overloads: their true count is unknown) are not.
    NanoBraggError naming the file for one that cannot be read or does not match the model."""
    from .io.cscan import double_to_int
    from .io.smv import read_smv, value_of
    import stat
    from .io.images import open_input
    shown = os.fspath(path)
    if "\0" in os.fsdecode(shown):
        raise NanoBraggError("%r: not a file name (a NUL character)" % shown)
    try:
        with open_input(path) as fh:        # a FIFO is opened without waiting for a writer, and refused
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise NanoBraggError("%s: not a regular file" % shown)
            start = fh.read(16)
        size = os.path.getsize(path)
    except OSError as e:
        raise NanoBraggError("%s: %s" % (shown, e.strerror or e)) from None
    npx = p.fpixels * p.spixels
    if start.startswith(b"{\nHEADER_BYT"):
        header, pixels = read_smv(path)
        if pixels is None or pixels.shape != (p.spixels, p.fpixels):
            raise NanoBraggError("%s: %s pixels, the model has %dx%d" % (
                shown, "no" if pixels is None else "%dx%d" % pixels.shape[::-1], p.fpixels, p.spixels))
        header_bytes = double_to_int(value_of(header, "HEADER_BYTES", nan=True))
        if size < 2 * (header_bytes // 2) + 2 * npx:
            raise NanoBraggError("%s: truncated: %d bytes, its header and %d pixels need %d"
                                 % (shown, size, npx, 2 * (header_bytes // 2) + 2 * npx))
        adc = value_of(header, "ADC_OFFSET", nan=True)
        adc = p.adc_offset if math.isnan(adc) else adc
        if not math.isfinite(adc):
            raise NanoBraggError("%s: ADC_OFFSET=%g is not a number of counts" % (shown, adc))
        counts = pixels.reshape(-1)
        return counts.astype(np.float64) - adc, counts < 65535
    if size != 4 * npx:
        raise NanoBraggError("%s: neither an SMV image nor a %dx%d float image (%d bytes)"
                             % (shown, p.fpixels, p.spixels, size))
    from .io.rawfloat import read_float_image
    try:
        photons = read_float_image(path, p.fpixels, p.spixels).reshape(-1).astype(np.float64)
    except OSError as e:
        raise NanoBraggError("%s: %s" % (shown, e.strerror or e)) from None
    return photons, np.ones(npx, bool)


def observed_array(observed, p):
    """A NumPy array of photons as `observed`: flat float64, the model's (spixels, fpixels) or flat size."""
    try:
        a = np.asarray(observed)
    except (TypeError, ValueError) as e:
        raise NanoBraggError("observed must be a file name or an array of photons, not %s (%s)"
                             % (type(observed).__name__, e)) from None
    if a.dtype.kind not in "iuf":
        raise NanoBraggError("observed must be a file name or an array of real numbers (photons), not %s "
                             "of dtype %s" % (type(observed).__name__, a.dtype))
    if a.shape not in ((p.spixels, p.fpixels), (p.spixels * p.fpixels,)):
        raise NanoBraggError("observed has shape %s; the model's image is (%d, %d) (spixels, fpixels), "
                             "or %d pixels flat" % (a.shape, p.spixels, p.fpixels, p.spixels * p.fpixels))
    return a.astype(np.float64).reshape(-1), np.ones(a.size, bool)


def _with_values(params, names, x, start_fluence, oversample):
    """params with the parameters at x; the oversampling the start settled kept at every point (nanoBragg's
    auto-selection follows the crystal's size: a model whose sampling jumps as a cell length moves is
    no smooth function, and a trial step to a huge cell would ask for millions of sub-pixels)."""
    q = copy.deepcopy(params)
    q.oversample = oversample
    for name, v in zip(names, x):
        if name == "fluence":
            q.fluence = start_fluence * v
        else:
            D.PARAMETERS[name].set(q, float(v))
    return q


def refine(params, observed, names, max_nfev=50, max_chi2=3.0, threads=0):
    """Fits parameters `names` (a list of nbnumba.derivatives.PARAMETERS, mosaic excepted) of the model
    `params` to `observed`: a path (SMV or raw float image) or an array of photons, (spixels, fpixels) or
    flat. NanoBraggError, naming the argument, for a request that cannot be fitted: an unknown name, an
    observed image that does not match the model or holds NaN or infinite pixels where the fit looks, a
    model that is not finite at the start, max_nfev < 1, max_chi2 <= 0."""
    try:
        from scipy.optimize import least_squares
    except ImportError:
        raise NanoBraggError("refine needs scipy: pip install 'nbnumba[refine]'") from None
    from .render import roi_pixels
    names = D._check_names(names, "analytic", "names")
    D.check_params(params)
    if isinstance(max_nfev, bool) or not isinstance(max_nfev, numbers.Integral) or max_nfev < 1:
        raise NanoBraggError("max_nfev must be a whole number >= 1, not %r" % (max_nfev,))
    max_nfev = int(max_nfev)
    if isinstance(max_chi2, bool) or not isinstance(max_chi2, numbers.Real) or not max_chi2 > 0.0:
        raise NanoBraggError("max_chi2 must be a number > 0, not %r" % (max_chi2,))
    max_chi2 = float(max_chi2)
    threads = D.check_threads(threads)
    base = D.base_plan(params)
    if "fluence" in names and params.flux != 0.0:
        raise NanoBraggError("fluence: the model sets it from -flux; give -fluence to refine it")
    if isinstance(observed, (str, os.PathLike)):
        what = os.fspath(observed)
        obs, usable = read_observed(observed, base.p)
    else:
        what = "observed"
        obs, usable = observed_array(observed, base.p)
    pixels = roi_pixels(base.p)
    if base.p.maskimage is not None:
        pixels = pixels[base.p.maskimage[pixels] != 0]
    pixels = pixels[usable[pixels]]
    if pixels.size == 0:
        raise NanoBraggError("%s: no pixel to fit (the region of interest, the mask and the overloads leave "
                             "none)" % what)
    y = obs[pixels]
    bad = ~np.isfinite(y)
    if bad.any():
        first = int(pixels[np.argmax(bad)])
        raise NanoBraggError("%s: %d of the pixels fitted are NaN or infinite (the first at fast %d, slow %d); "
                             "leave them out with -mask or -roi" % (what, int(bad.sum()), first % base.p.fpixels,
                                                                  first // base.p.fpixels))
    start = {n: float(D.PARAMETERS[n].get(params, base.p)) for n in names}
    x0 = np.array([start[n] for n in names])
    cache = {}

    def evaluate(x):
        """(model photons, Jacobian) on the fitted pixels, one analytic pass per distinct x."""
        key = x.tobytes()
        if key not in cache:
            cache.clear()
            # each parameter's own value is checked to give its plan once, at the start
            at_start = key == x0.tobytes()
            q = _with_values(params, names, x, params.fluence, base.p.oversample)
            d = D.derivatives(q, names, "analytic", threads, check=at_start, finite=False)
            jac = np.empty((pixels.size, len(names)))
            for i, n in enumerate(names):
                col = d.d[n].reshape(-1)[pixels]
                # the derivative in fluence is per unit of the fluence it was taken at: per unit of x here
                jac[:, i] = col / x[i] if n == "fluence" else col
            model = d.image.reshape(-1)[pixels]
            if at_start:
                # scipy would stop with "Residuals are not finite in the initial point"
                D.check_finite(model, dict(zip(names, jac.T)), "at the start (%s)" % _point(names, x))
            elif np.all(np.isfinite(model)) and not np.all(np.isfinite(jac)):
                # a trial point whose image is not finite is a step too far, which least_squares shortens;
                # a finite image with a Jacobian that is not cannot be followed
                D.check_finite(model, dict(zip(names, jac.T)), "at %s" % _point(names, x))
            cache[key] = (model, jac)
        return cache[key]

    evaluate(x0)        # the start point checked (its plan, a finite image and Jacobian) before scipy sees it

    def fit_with(sigma, x):
        return least_squares(lambda x: (evaluate(x)[0] - y) / sigma, x,
                             jac=lambda x: evaluate(x)[1] / sigma[:, None], x_scale="jac", max_nfev=max_nfev,
                             method="trf")

    try:
        # weights from the data first (robust far from the solution), then from the model there: weights
        # that do not depend on the noise keep the fit unbiased (the data's own weights pull it low)
        fit = fit_with(np.sqrt(np.maximum(y, 1.0)), x0)
        nfev = fit.nfev
        if fit.status > 0:
            fit = fit_with(np.sqrt(np.maximum(evaluate(fit.x)[0], 1.0)), fit.x)
            nfev += fit.nfev
    except NanoBraggError as e:
        return RefineResult(start, dict(start), {n: math.nan for n in names}, _units(names), math.nan, math.nan,
                            0, False, "the model left its valid range: %s" % e)
    dof = max(1, pixels.size - len(names))
    chi2 = float(2.0 * fit.cost / dof)
    J = fit.jac
    try:
        # scaled by a reduced chi^2 above 1 (a misfit); not shrunk below it (the weights' floor of one
        # photon overstates the low pixels' variance, so chi^2 < 1 is no sign of a better model)
        cov = np.linalg.inv(J.T @ J) * max(chi2, 1.0)
        errors = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    except np.linalg.LinAlgError:
        errors = np.full(len(names), math.nan)
    converged = bool(fit.status > 0 and chi2 <= max_chi2 and np.all(np.isfinite(errors)))
    if fit.status <= 0:
        message = "did not converge in %d evaluations" % nfev
    elif chi2 > max_chi2:
        message = "stopped at reduced chi^2 %.3g (above %g): a local minimum, the start is too far" % (chi2, max_chi2)
    elif not np.all(np.isfinite(errors)):
        message = "the parameters are not determined by this image (a singular Jacobian)"
    else:
        message = "converged: %s" % fit.message
    refined = {n: float(v) for n, v in zip(names, fit.x)}
    return RefineResult(start, refined, {n: float(e) for n, e in zip(names, errors)}, _units(names),
                        float(fit.cost), chi2, int(nfev), converged, message)


def _point(names, x):
    return ", ".join("%s %.8g %s" % (n, v, D.PARAMETERS[n].units) for n, v in zip(names, x))


def _units(names):
    return {n: D.PARAMETERS[n].units for n in names}
