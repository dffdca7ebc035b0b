"""`nbnumba simulate` itself, without click: the console entry calls it directly for a plain
simulation (click costs ~20 ms of start-up), and the click command in `main` calls it too."""
import os
import sys

from ..errors import NanoBraggError


def _out(line):
    try:
        sys.stdout.write(line + "\n")
    except BrokenPipeError:
        _stdout_gone()


def _flush():
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_gone()


def _stdout_gone():
    """The reader of stdout went away (`| head`): the run goes on and writes its files, silently."""
    sys.stdout = open(os.devnull, "w")


def _error(message):
    _flush()
    sys.stderr.write("nbnumba simulate: error: %s\n" % message)
    sys.stderr.flush()


_INPUT_FLAGS = (("-hkl", "hklfilename"), ("-mat", "matfilename"), ("-mask", "maskfilename"),
                ("-img", "imginfilename"), ("-sourcefile", "sourcefilename"), ("-stol", "stolfilename"))


def same_file(a, b):
    """Whether paths a and b name one file: the same inode (through symbolic or hard links), or (where one
    does not exist yet) the same path once symbolic links are resolved."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return os.path.realpath(a) == os.path.realpath(b)



def check_output_name(name, flag):
    """(the path that will be written, whether it is a special file written through) of the output `name`
    of option `flag`; NanoBraggError naming both where it cannot be an output file: an empty name, a name
    ending in '/' (a directory's), a directory, a path that cannot be examined, a folder that does not
    exist or cannot be written."""
    from ..io.atomic import output_target
    name = os.fspath(name)
    if name == "":
        raise NanoBraggError("%s '': an empty file name" % flag)
    if name.endswith(os.sep) or (os.altsep and name.endswith(os.altsep)):
        raise NanoBraggError("%s %s: a name ending in '%s' is a directory's, not a file's" % (flag, name, name[-1]))
    try:
        target, special = output_target(name)
    except OSError as e:
        raise NanoBraggError("cannot write %s (%s): %s" % (name, flag, e.strerror)) from None
    if not special:
        folder = os.path.dirname(target)
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise NanoBraggError("cannot write %s (%s): no writable directory %s" % (name, flag, folder))
    return target, special


def _check_outputs(p):
    """Refuse to run when an output would overwrite an input or another output, or cannot be written
    (before any work).

    Outputs: the four images, -nxsfile, -cbffile, -pngfile and, with -hkl, the structure-factor dump;
    inputs: every file flag and, without -hkl, the dump that will be read. An output that is a special
    file (a device, a FIFO) is written through, not replaced, so it overwrites nothing, needs no
    writable folder and may be shared by several outputs (each write goes through). Two outputs that
    are one file (the same name, or one reached through a link) are refused naming both options: the
    later would silently replace the earlier."""
    from ..config import skips
    inputs = [(flag, getattr(p, name)) for flag, name in _INPUT_FLAGS if getattr(p, name)]
    if p.hklfilename is None and not skips(p, "dumpfile") and os.path.isfile(p.dumpfilename):
        inputs.append(("-dumpfile", p.dumpfilename))
    outs = []
    if not skips(p, "floatfile"):
        outs.append(("-floatfile", p.floatfilename))
    if not skips(p, "intfile"):
        outs.append(("-intfile", p.intfilename))
    if p.write_pgm:
        outs.append(("-pgmfile", p.pgmfilename))
    if p.calculate_noise:
        outs.append(("-noisefile", p.noisefilename))
    for flag, name in (("-nxsfile", p.nxsfile), ("-cbffile", p.cbffile), ("-pngfile", p.pngfile)):
        if name is not None:            # None: not asked for; "" is refused below
            outs.append((flag, name))
    if p.hklfilename is not None and not skips(p, "dumpfile"):
        outs.append(("-dumpfile", p.dumpfilename))      # written with -hkl; unwritable only warns (as in C)
    written = []
    for out_flag, name in outs:
        if out_flag == "-dumpfile":
            try:
                target, special = check_output_name(name, out_flag)
            except NanoBraggError:
                continue            # C only warns that it cannot open the dump file
        else:
            target, special = check_output_name(name, out_flag)
        if special:
            continue
        for in_flag, source in inputs:
            if same_file(name, source):
                raise NanoBraggError("output file %s (%s) would overwrite an input file: %s (%s)"
                                     % (name, out_flag, source, in_flag))
        for other_flag, other in written:
            if same_file(name, other):
                both = name if name == other else "%s and %s" % (other, name)
                raise NanoBraggError("%s and %s both write %s: one output would replace the other; give each "
                                     "its own file" % (other_flag, out_flag, both))
        written.append((out_flag, name))


def _say_if_compiling(p):
    """When a first run is about to compile a kernel, it compiles every kernel this run needs at once
    (about 10 s, once per machine), saying so on stderr: one line with an estimate for this machine as
    loaded as it is, a count of kernels updated in place on a terminal, one line when done; nothing
    when nothing compiles (kernels/buildtime.py)."""
    from ..kernels import native
    from ..kernels.buildtime import compile_first, entries_for

    def first_build(_name):
        compile_first(entries_for(p.kernel, p.hklfilename, p.write_pgm, p.calculate_noise), sys.stderr)
    native.before_first_build = first_build


def simulate(args):
    """Runs one simulation from nanoBragg's flags; returns the process exit code."""
    from ..interrupt import Interrupted, stopping_on_signals
    state = {}
    try:
        with stopping_on_signals():
            return _simulate(args, state)
    except Interrupted as e:
        done = "outputs" in state and state["outputs"].committed
        # a signal held back while the outputs were put in place arrives once they all are
        _error("interrupted by %s; %s" % (e.name, "after every output was written" if done else "no output written"))
        return e.exit_code


def _simulate(args, state):
    from ..io.atomic import OutputTransaction
    from ..outputs import NoiseStream, log_run_summary, write_outputs
    from ..plan import make_plan, save_fdump
    from ..progress import LiveProgress
    from ..render import resolve_device, run
    from .argv import parse_argv
    try:
        p = parse_argv(list(args))
        _check_outputs(p)
        # every output (Fdump.bin too) is staged and put in place at the end, or none is (io.atomic)
        outputs = state["outputs"] = OutputTransaction()
        if p.device == "cpu":
            _say_if_compiling(p)
        plan = make_plan(p, _out)
        device = resolve_device(p.device, _out)
        # the serial noise pass follows the render row by row, on whatever CPU time the render leaves
        noise = NoiseStream(plan) if p.calculate_noise else None
        # C's "N% done" lines as the render reaches them; a bar too where stderr is a terminal
        progress = LiveProgress(_out, _flush, bar=sys.stderr.isatty())
        try:
            result = run(plan, threads=p.threads, kernel=p.kernel, device=device, stream=noise, progress=progress)
            progress.close()
            save_fdump(plan, _out, outputs)
            log_run_summary(result, _out, progress_shown=True)
        except BaseException:
            progress.close()
            if noise is not None:
                noise.cancel()
            raise
        write_outputs(result, _out, noise_job=noise, outputs=outputs)
    except NanoBraggError as e:
        _error(e)
        return e.exit_code
    except OSError as e:
        _error("%s: %s" % (e.filename or "", e.strerror or e))
        return 9
    _flush()
    return 0
