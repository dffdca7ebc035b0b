"""`nbnumba`: the click front end. `nbnumba simulate` takes nanoBragg.c's flags unchanged."""
import sys

import click

from .flags import help_text
from .simulate import simulate as run_simulate


class _Commands(click.Group):
    """`simulate` is defined here; `bench` and `batch` are imported only when asked for (the benchmark
    harness costs about 30 ms that every simulation would otherwise pay, Dask more)."""

    LAZY = {"bench": ("..benchmark.command", "bench"), "batch": ("..batch.command", "batch"),
            "refine": (".refine", "refine"), "show": (".show", "show"), "compare": (".compare", "compare"),
            "example": (".example", "example")}

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.LAZY))

    def get_command(self, ctx, name):
        if name in self.LAZY and name not in self.commands:
            import importlib
            module, attr = self.LAZY[name]
            self.add_command(getattr(importlib.import_module(module, __package__), attr))
        return super().get_command(ctx, name)


@click.group(cls=_Commands)
@click.version_option(package_name="nbnumba")
def main():
    """nbnumba: nanoBragg.c's nanocrystal diffraction simulator in Python and Numba."""


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
    # -h is no flag of nanoBragg.c's (C ignores it); as a token of its own it asks for the help. Not a
    # click option: click would read -hkl as -h -k -l
    if "-h" in args:
        click.echo(help_text(), nl=False)
        return
    code = run_simulate(args)
    if code:
        sys.exit(code)

