"""Refining parameters of the model against an observed image: least squares with Poisson weights
(scipy.optimize.least_squares) and the analytic Jacobian of nbnumba.derivatives, one pass per evaluation.

    result = nbnumba.api.refine(params, "noiseimage.img", ["distance", "Na", "rotx"])
    result.refined["distance"], result.sigma["distance"]      # mm, and its standard error

The observed image is an SMV file (counts; the ADC offset is the header's ADC_OFFSET when it has one,
else the model's -adc, 40 by default, as nanoBragg adds it) or a float image (photons, nanoBragg's raw
float32 file, read with the model's detector size). Residuals are (model - observed)/sigma over the
model's region of interest, overloaded SMV pixels left out: first with sigma = sqrt(max(observed, 1)),
then, from there, with sigma = sqrt(max(model, 1)) (weights that do not depend on the noise keep the fit
unbiased). Standard errors come from the Jacobian at the solution, scaled by the reduced chi^2 when it is
above 1. A fit whose reduced chi^2 stays above `max_chi2`
(a local minimum, a start too far away) or that scipy stops without convergence is reported as not
converged: the caller must not take its values.
"""
import copy
import math
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
    the model p; SMV pixels at the 16-bit full scale (overloads: their true count is unknown) are not."""
    from .io.smv import read_smv, value_of
    with open(path, "rb") as fh:
        start = fh.read(16)
    npx = p.fpixels * p.spixels
    if start.startswith(b"{\nHEADER_BYT"):
        header, pixels = read_smv(path)
        if pixels is None or pixels.size != npx:
            raise NanoBraggError("%s: %s pixels, the model has %dx%d" % (
                path, "no" if pixels is None else pixels.size, p.fpixels, p.spixels))
        adc = value_of(header, "ADC_OFFSET", nan=True)
        adc = p.adc_offset if math.isnan(adc) else adc
        counts = pixels.reshape(-1)
        return counts.astype(np.float64) - adc, counts < 65535
    size = os.path.getsize(path)
    if size != 4 * npx:
        raise NanoBraggError("%s: neither an SMV image nor a %dx%d float image (%d bytes)"
                             % (path, p.fpixels, p.spixels, size))
    from .io.rawfloat import read_float_image
    photons = read_float_image(path, p.fpixels, p.spixels).reshape(-1).astype(np.float64)
    return photons, np.isfinite(photons)


def _with_values(params, names, x, start_fluence):
    q = copy.deepcopy(params)
    for name, v in zip(names, x):
        if name == "fluence":
            q.fluence = start_fluence * v
        else:
            D.PARAMETERS[name].set(q, float(v))
    return q


def refine(params, observed, names, max_nfev=50, max_chi2=3.0, threads=0):
    """Fits parameters `names` of the model `params` to `observed` (a path or a flat array of photons)."""
    try:
        from scipy.optimize import least_squares
    except ImportError:
        raise NanoBraggError("refine needs scipy: pip install 'nbnumba[refine]'") from None
    from .render import roi_pixels
    names = D._check_names(names, "analytic")
    base = D.base_plan(params)
    if "fluence" in names and params.flux != 0.0:
        raise NanoBraggError("fluence: the model sets it from -flux; give -fluence to refine it")
    if isinstance(observed, (str, os.PathLike)):
        obs, usable = read_observed(observed, base.p)
    else:
        obs = np.asarray(observed, np.float64).reshape(-1)
        usable = np.isfinite(obs)
    pixels = roi_pixels(base.p)
    if base.p.maskimage is not None:
        pixels = pixels[base.p.maskimage[pixels] != 0]
    pixels = pixels[usable[pixels]]
    y = obs[pixels]
    start = {n: float(D.PARAMETERS[n].get(params, base.p)) for n in names}
    x0 = np.array([start[n] for n in names])
    cache = {}

    def evaluate(x):
        """(model photons, Jacobian) on the fitted pixels, one analytic pass per distinct x."""
        key = x.tobytes()
        if key not in cache:
            cache.clear()
            # each parameter's own value is checked to give its plan once, at the start
            d = D.derivatives(_with_values(params, names, x, params.fluence), names, "analytic", threads,
                              check=key == x0.tobytes())
            jac = np.empty((pixels.size, len(names)))
            for i, n in enumerate(names):
                col = d.d[n].reshape(-1)[pixels]
                # the derivative in fluence is per unit of the fluence it was taken at: per unit of x here
                jac[:, i] = col / x[i] if n == "fluence" else col
            cache[key] = (d.image.reshape(-1)[pixels], jac)
        return cache[key]

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


def _units(names):
    return {n: D.PARAMETERS[n].units for n in names}
