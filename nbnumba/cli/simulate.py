"""`nbnumba simulate` itself, without click: the console entry calls it directly for a plain
simulation (click costs ~20 ms of start-up), and the click command in `main` calls it too."""
import os
import sys

from ..errors import NanoBraggError


def _out(line):
    sys.stdout.write(line + "\n")


def _error(message):
    sys.stdout.flush()
    sys.stderr.write("nbnumba simulate: error: %s\n" % message)
    sys.stderr.flush()


def _check_outputs(p):
    """Refuse to run when an output would overwrite an input or cannot be written (before any work)."""
    inputs = {os.path.abspath(f) for f in (p.hklfilename, p.matfilename, p.maskfilename, p.imginfilename,
                                          p.sourcefilename, p.stolfilename) if f}
    outs = [p.floatfilename, p.intfilename]
    if p.write_pgm:
        outs.append(p.pgmfilename)
    if p.calculate_noise:
        outs.append(p.noisefilename)
    for name in outs:
        path = os.path.abspath(name)
        if path in inputs:
            raise NanoBraggError("output file %s would overwrite an input file" % name)
        folder = os.path.dirname(path)
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise NanoBraggError("cannot write %s: no writable directory %s" % (name, folder))


def simulate(args):
    """Runs one simulation from nanoBragg's flags; returns the process exit code."""
    from ..outputs import NoiseStream, log_run_summary, write_outputs
    from ..plan import make_plan, save_fdump
    from ..simulate import resolve_device, run
    from .argv import parse_argv
    try:
        p = parse_argv(list(args))
        _check_outputs(p)
        plan = make_plan(p, _out)
        device = resolve_device(p.device, _out)
        # the serial noise pass follows the render row by row, on whatever CPU time the render leaves
        noise = NoiseStream(plan) if p.calculate_noise else None
        try:
            result = run(plan, threads=p.threads, kernel=p.kernel, device=device, stream=noise)
            save_fdump(plan, _out)
            log_run_summary(result, _out)
        except BaseException:
            if noise is not None:
                noise.cancel()
            raise
        write_outputs(result, _out, noise_job=noise)
    except NanoBraggError as e:
        _error(e)
        return e.exit_code
    except OSError as e:
        _error("%s: %s" % (e.filename or "", e.strerror or e))
        return 9
    sys.stdout.flush()
    return 0
