"""`nbnumba refine IMAGE --flags "..." --refine NAME[,NAME...]`: fit the model's parameters to an image."""
import json
import os
import shlex
import sys

import click

from ..derivatives import PARAMETERS
from ..errors import NanoBraggError

REFINABLE = [n for n, v in PARAMETERS.items() if v.analytic]


def _names(text):
    """The --refine list: known parameters that refine can fit, each once."""
    from ..derivatives import _check_names
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise NanoBraggError("--refine: name at least one parameter (comma-separated): %s" % ", ".join(REFINABLE))
    try:
        return _check_names(names, "analytic", "names")
    except NanoBraggError as e:
        raise NanoBraggError("--refine: %s" % str(e).replace("names: ", "", 1)) from None


def _model(flags):
    """The starting model from --flags, refused where `nbnumba simulate` would refuse it."""
    from ..api import params as make_params
    try:
        argv = shlex.split(flags)
    except ValueError as e:
        raise NanoBraggError("--flags: %s" % e) from None
    if not argv:
        raise NanoBraggError("--flags: give the nanoBragg flags of the starting model")
    return make_params(argv)


def _check_json(json_path, image, p):
    """Refuse (before any work) a --json that cannot be written or that would overwrite the image or an
    input file of the model."""
    from ..config import skips
    from ..io.atomic import output_target
    from .simulate import _INPUT_FLAGS, same_file
    if not json_path:
        raise NanoBraggError("--json: give a file name")
    try:
        target, special = output_target(json_path)
    except OSError as e:
        raise NanoBraggError("--json %s: cannot write it: %s" % (json_path, e.strerror or e)) from None
    if special:
        return          # written through (/dev/stdout, a FIFO): overwrites nothing
    inputs = [("IMAGE", image)] + [(flag, getattr(p, name)) for flag, name in _INPUT_FLAGS if getattr(p, name)]
    if p.hklfilename is None and not skips(p, "dumpfile") and os.path.isfile(p.dumpfilename):
        inputs.append(("-dumpfile", p.dumpfilename))
    for what, source in inputs:
        if same_file(json_path, source):
            raise NanoBraggError("--json %s would overwrite an input file: %s (%s)" % (json_path, source, what))
    folder = os.path.dirname(target)
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise NanoBraggError("--json %s: cannot write it: no writable directory %s" % (json_path, folder))


@click.command(help="""Fit parameters of a model (nanoBragg flags) to IMAGE (SMV counts or a raw float image) by
least squares with Poisson weights; one line per parameter: start, refined value, standard error. Exit 1 if
the fit did not converge, 9 for a request that cannot be fitted.

\b
Parameters (--refine), in the command line's units:
  %s
""" % "\n  ".join("%-9s %s" % (n, PARAMETERS[n].units) for n in REFINABLE))
@click.argument("image")
@click.option("--flags", "flags", required=True, help="nanoBragg flags of the starting model (one string)")
@click.option("--refine", "names", required=True,
              help="parameters to refine, comma-separated (e.g. distance,Na,rotx): those listed above")
@click.option("--json", "json_path", default=None, help="write the result as JSON (never over IMAGE or an input)")
@click.option("--max-evaluations", default=50, show_default=True, type=click.IntRange(1), help="model evaluations at most")
@click.option("--max-chi2", default=3.0, show_default=True, type=click.FloatRange(0, min_open=True),
              help="a fit ending above this reduced chi^2 is reported as not converged")
def refine(image, flags, names, json_path, max_evaluations, max_chi2):
    from ..refine import refine as run_refine
    try:
        if not max_chi2 > 0.0:
            raise NanoBraggError("--max-chi2 must be a number > 0, not %g" % max_chi2)
        names = _names(names)
        p = _model(flags)
        if json_path is not None:
            _check_json(json_path, image, p)
        if os.path.isdir(image):
            raise NanoBraggError("%s: is a directory, not an image" % image)
        result = run_refine(p, image, names, max_nfev=max_evaluations, max_chi2=max_chi2)
        if json_path is not None:
            from ..io.atomic import write_now
            write_now(json_path, (json.dumps(result.as_json(), indent=1) + "\n").encode())
    except NanoBraggError as e:
        click.echo("nbnumba refine: error: %s" % e, err=True)
        sys.exit(e.exit_code)
    except OSError as e:
        click.echo("nbnumba refine: error: %s: %s" % (e.filename or "", e.strerror or e), err=True)
        sys.exit(9)
    for n in result.refined:
        click.echo("%-9s %14.8g -> %14.8g  +- %.3g %s" % (n, result.start[n], result.refined[n], result.sigma[n],
                                                        result.units[n]))
    click.echo("reduced chi^2 %.4g after %d evaluations: %s" % (result.reduced_chi2, result.iterations,
                                                               result.message))
    if not result.converged:
        sys.exit(1)
