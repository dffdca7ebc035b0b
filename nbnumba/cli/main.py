"""`nbnumba`: the click front end. `nbnumba simulate` takes nanoBragg.c's flags unchanged."""
import os
import sys

import click

from ..errors import NanoBraggError
from .argv import parse_argv
from .flags import help_text


class _Commands(click.Group):
    """`simulate` is defined here; `bench` is imported only when asked for (it pulls in the benchmark
    harness, about 30 ms that every simulation would otherwise pay)."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | {"bench"})

    def get_command(self, ctx, name):
        if name == "bench" and name not in self.commands:
            from ..benchmark.command import bench
            self.add_command(bench)
        return super().get_command(ctx, name)


@click.group(cls=_Commands)
@click.version_option(package_name="nbnumba")
def main():
    """nbnumba: nanoBragg.c's nanocrystal diffraction simulator in Python and Numba."""


def _out(line):
    sys.stdout.write(line + "\n")


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


def _print_help(ctx, _param, value):
    if value and not ctx.resilient_parsing:
        click.echo(help_text())
        ctx.exit(0)


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                "help_option_names": []})
@click.option("--help", is_flag=True, expose_value=False, is_eager=True, callback=_print_help,
              help="List every flag with its units and default.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def simulate(args):
    """Simulate a diffraction image; takes nanoBragg's flags (see --help)."""
    from ..outputs import log_run_summary, write_outputs
    from ..plan import make_plan, save_fdump
    from ..simulate import resolve_device, run
    try:
        p = parse_argv(list(args))
        _check_outputs(p)
        plan = make_plan(p, _out)
        result = run(plan, threads=p.threads, kernel=p.kernel, device=resolve_device(p.device, _out))
        save_fdump(plan, _out)
        log_run_summary(result, _out)
        write_outputs(result, _out)
    except NanoBraggError as e:
        sys.stdout.flush()
        click.echo("nbnumba simulate: error: %s" % e, err=True)
        sys.exit(e.exit_code)
    except OSError as e:
        sys.stdout.flush()
        click.echo("nbnumba simulate: error: %s: %s" % (e.filename or "", e.strerror or e), err=True)
        sys.exit(9)
    sys.stdout.flush()


def entry():
    """Console-script entry: the CLI, then os._exit, which skips the interpreter's and numba's
    teardown (about 0.35 s per process). In-process callers (tests, CliRunner) use `main`."""
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
