"""The Python API: the same simulation as `nbnumba simulate`, without argv or files.

    import nbnumba
    params = nbnumba.params(["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100"],
                            Na=5.0, Nb=5.0, Nc=5.0, distance=0.1, fpixels=128, spixels=128)
    result = nbnumba.run_simulation(params)      # result.image: float32 (spixels, fpixels)
    nbnumba.write_outputs(result)                # optional: the files nanoBragg writes

Keywords are nanoBragg.c's variable names in its internal SI units (meters, radians, photons/m^2);
3-vectors may be given as (x, y, z).
"""
from .cli.argv import Params, parse_argv
from .errors import NanoBraggError
from .outputs import log_run_summary, write_outputs
from .plan import make_plan, save_fdump
from .simulate import resolve_device, run

_VECTORS = {"beam_vector", "fdet_vector", "sdet_vector", "odet_vector", "polar_vector", "spindle_vector",
            "twotheta_axis", "pix0_vector", "misset"}


def params(argv=None, **keywords):
    """A configuration from a nanoBragg argument list (optional) and keyword overrides (SI units)."""
    p = parse_argv(list(argv or []))
    for name, value in keywords.items():
        if not hasattr(p, name):
            raise NanoBraggError("unknown parameter %r" % name)
        if name in _VECTORS and len(value) == 3:
            value = [0.0, *map(float, value)]
        setattr(p, name, value)
    return p


def run_simulation(p, log=None, threads=None, kernel=None, device=None):
    """Builds the plan and renders the image; returns a Result (image, statistics, plan).

    kernel ('exact' or 'fast') and device ('cpu', 'cuda', 'auto') default to the parameters' own."""
    log = (lambda line: None) if log is None else log
    plan = make_plan(p, log)
    return run(plan, threads=p.threads if threads is None else threads, kernel=kernel or p.kernel,
               device=resolve_device(device or p.device, log))


__all__ = ["Params", "params", "run_simulation", "write_outputs", "log_run_summary", "save_fdump",
           "NanoBraggError"]
