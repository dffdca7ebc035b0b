"""The Python API: the same simulation as `nbnumba simulate`, without argv or files.

    import nbnumba
    params = nbnumba.params(["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100"],
                            Na=5.0, Nb=5.0, Nc=5.0, distance=0.1, fpixels=128, spixels=128)
    result = nbnumba.run_simulation(params)      # result.image: float32 (spixels, fpixels)
    nbnumba.write_outputs(result)                # optional: the files nanoBragg writes

Keywords are nanoBragg.c's variable names in its internal SI units (meters, radians, photons/m^2);
3-vectors may be given as (x, y, z); N sets Na, Nb and Nc, as -N does. A group may be given as a mapping
of its fields (detector={"distance": 0.1, "fpixels": 128}); the configuration is read and written either
way (params.detector.distance is params.distance). Each keyword is checked (nbnumba.config.set_value): an
unknown name, a wrong type or an impossible value is a NanoBraggError naming it. So is every argument of
every function here: a wrong type, range or shape is a NanoBraggError naming the argument, and a
configuration's fields are checked (config.check_fields) before a run.
"""
import numbers
import os

from . import outputs as _outputs
from . import plan as _plan
from .config import Beam, Crystal, Detector, Noise, Outputs, Params, Run, Sampling, checked_value, set_value
from .errors import NanoBraggError
from .plan import make_plan
from .render import Result, resolve_device, run


def _argv_item(i, a):
    """argv[i] as the parser's string: a string, a path or a number (not a bool)."""
    if isinstance(a, os.PathLike):
        a = os.fspath(a)
    if isinstance(a, str):
        return a
    if isinstance(a, numbers.Real) and not isinstance(a, bool):
        return str(a)
    raise NanoBraggError("argv[%d] must be a string or a number, not %r" % (i, a))


def _quiet(line):
    pass


def _check_log(log):
    if not callable(log):
        raise NanoBraggError("log must be a function of one line (or None), not %r" % (log,))


def _check_result(result):
    if not isinstance(result, Result):
        raise NanoBraggError("result must be what run_simulation returns, not %s" % type(result).__name__)


def params(argv=None, **keywords):
    """A configuration from a nanoBragg argument list (optional: a list of strings, numbers allowed) and
    keyword overrides (SI units): nanoBragg names (distance=0.1) or groups given as mappings
    (detector={"distance": 0.1})."""
    from .cli.argv import parse_argv    # nanoBragg's argv semantics (and seed defaults) live with the command line
    if argv is None:
        argv = []
    elif isinstance(argv, (str, bytes)):
        raise NanoBraggError("argv must be a list of strings, not the string %r (split it: %r.split())"
                             % (argv, argv))
    elif not isinstance(argv, (list, tuple)):
        raise NanoBraggError("argv must be a list of strings, not %s" % type(argv).__name__)
    p = parse_argv([_argv_item(i, a) for i, a in enumerate(argv)])
    for name, value in keywords.items():
        set_value(p, name, value)
    return p


def run_simulation(p, log=None, threads=None, kernel=None, device=None):
    """Builds the plan and renders the image; returns a Result (image, statistics, plan).

    kernel ('exact' or 'fast') and device ('cpu', 'cuda', 'auto') default to the parameters' own."""
    from .derivatives import check_params
    check_params(p, "p")
    log = _quiet if log is None else log
    _check_log(log)
    threads = p.threads if threads is None else checked_value("threads", threads)
    kernel = p.kernel if kernel is None else checked_value("kernel", kernel)
    device = p.device if device is None else checked_value("device", device)
    plan = make_plan(p, log)
    return run(plan, threads=threads, kernel=kernel, device=resolve_device(device, log))


def batch(manifest, out=None, engine="dask", workers=None, threads_per_worker=None, scheduler=None, cluster=None,
          slurm=None, shard=None, folder=None):
    """Many images, as `nbnumba batch run` renders them.

    manifest: a manifest file (TOML or JSON Lines) or a list of jobs: argv strings or lists, {"id", "args"}
    mappings (inputs relative to `folder`, default the working directory), or, with out=None only,
    (id, Params) pairs. With `out` (a folder), renders every image not already there into its files
    and returns a runner.Summary; with out=None, returns an iterator of (id, image, statistics) in the
    order images finish, writing nothing. engine, workers, ...: as the command's options (runner.run_batch)."""
    import os
    from collections.abc import Iterable, Mapping

    from .batch.manifest import jobs_from_list, read_manifest
    from .batch.runner import check_engine, run_batch, stream_images
    check_engine(engine, workers, threads_per_worker, scheduler, cluster, slurm, shard)
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise NanoBraggError("out: %r is not a folder name (a str or a path), nor None to stream" % (out,))
    if isinstance(manifest, (str, bytes)) or hasattr(manifest, "__fspath__"):
        jobs = read_manifest(manifest).jobs
    elif isinstance(manifest, Mapping) or not isinstance(manifest, Iterable):
        raise NanoBraggError("manifest: %r is neither a manifest file (a str or a path) nor a list of jobs"
                             % (manifest,))
    else:
        items = list(manifest)
        configs = [j for j in items if isinstance(j, tuple) and len(j) == 2 and isinstance(j[1], Params)]
        if configs and out is not None:
            raise NanoBraggError("configurations can only be streamed (out=None); give argv to write files")
        jobs = configs if len(configs) == len(items) else jobs_from_list(items, folder)
    if out is None:
        return stream_images(jobs, engine, workers, threads_per_worker, scheduler, cluster, slurm, shard)
    return run_batch(jobs, out, engine, workers, threads_per_worker, scheduler, cluster, slurm, shard, bar=False)


def write_outputs(result, log=print, noise_job=None, outputs=None):
    """Writes the files nanoBragg would for `result` (from run_simulation), printing its log lines with
    `log`; returns the noise image or None (nbnumba.outputs.write_outputs)."""
    from .io.atomic import OutputTransaction
    _check_result(result)
    log = _quiet if log is None else log
    _check_log(log)
    if noise_job is not None and not isinstance(noise_job, _outputs.NoiseStream):
        raise NanoBraggError("noise_job must be None or an outputs.NoiseStream, not %s" % type(noise_job).__name__)
    if outputs is not None and not isinstance(outputs, OutputTransaction):
        raise NanoBraggError("outputs must be None or an io.atomic.OutputTransaction, not %s"
                             % type(outputs).__name__)
    return _outputs.write_outputs(result, log, noise_job, outputs)


def log_run_summary(result, log=print, progress_shown=False):
    """The lines nanoBragg prints between its pixel loop and its output files, for `result`
    (nbnumba.outputs.log_run_summary)."""
    _check_result(result)
    log = _quiet if log is None else log
    _check_log(log)
    if not isinstance(progress_shown, (bool, int)):
        raise NanoBraggError("progress_shown must be True or False, not %r" % (progress_shown,))
    return _outputs.log_run_summary(result, log, bool(progress_shown))


def save_fdump(plan, log=print, outputs=None):
    """Writes the structure-factor cache (Fdump.bin) a plan read from -hkl, as nanoBragg does
    (nbnumba.plan.save_fdump); `plan` is result.plan or make_plan's."""
    from .io.atomic import OutputTransaction
    if not isinstance(plan, _plan.Plan):
        raise NanoBraggError("plan must be a Plan (run_simulation(...).plan), not %s" % type(plan).__name__)
    log = _quiet if log is None else log
    _check_log(log)
    if outputs is not None and not isinstance(outputs, OutputTransaction):
        raise NanoBraggError("outputs must be None or an io.atomic.OutputTransaction, not %s"
                             % type(outputs).__name__)
    return _plan.save_fdump(plan, log, outputs)


def derivatives(params, wrt, method="analytic", threads=0, richardson=False, steps=None):
    """The float64 image and its derivative with respect to each named parameter (nbnumba.derivatives)."""
    from .derivatives import derivatives as run
    return run(params, wrt, method, threads, richardson, steps)


def refine(params, observed, names, max_nfev=50, max_chi2=3.0, threads=0):
    """Least-squares fit of the named parameters of `params` to an observed image (nbnumba.refine)."""
    from .refine import refine as run
    return run(params, observed, names, max_nfev, max_chi2, threads)


__all__ = ["batch", "derivatives", "refine", "Params", "Beam", "Detector", "Crystal", "Sampling", "Outputs", "Noise", "Run", "params", "run_simulation",
           "write_outputs", "log_run_summary", "save_fdump", "NanoBraggError"]
