"""`nbnumba refine IMAGE --flags "..." --refine NAME[,NAME...]`: fit the model's parameters to an image."""
import json
import shlex
import sys

import click

from ..errors import NanoBraggError


@click.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--flags", "flags", required=True, help="nanoBragg flags of the starting model (one string)")
@click.option("--refine", "names", required=True, help="parameters to refine, comma-separated (e.g. distance,Na,rotx)")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False), help="write the result as JSON")
@click.option("--max-evaluations", default=50, show_default=True, type=click.IntRange(1), help="model evaluations at most")
@click.option("--max-chi2", default=3.0, show_default=True, type=click.FloatRange(0, min_open=True),
              help="a fit ending above this reduced chi^2 is reported as not converged")
def refine(image, flags, names, json_path, max_evaluations, max_chi2):
    """Fit parameters of a model (nanoBragg flags) to IMAGE (SMV counts or a raw float image) by least
    squares with Poisson weights; one line per parameter: start, refined value, standard error. Exit 1 if
    the fit did not converge. Parameters: see nbnumba.derivatives.PARAMETERS (`mosaic` excepted)."""
    from ..api import params as make_params
    from ..refine import refine as run_refine
    try:
        try:
            argv = shlex.split(flags)
        except ValueError as e:
            raise NanoBraggError("--flags: %s" % e) from None
        p = make_params(argv)
        result = run_refine(p, image, [n for n in names.split(",") if n], max_nfev=max_evaluations,
                            max_chi2=max_chi2)
        if json_path:
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
