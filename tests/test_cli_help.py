"""Every subcommand's --help documents every option and argument it takes."""
import pytest
from click.testing import CliRunner

from nbnumba.cli.main import main


def _commands():
    out = []
    ctx = main.make_context("nbnumba", [], resilient_parsing=True)
    for name in main.list_commands(ctx):
        cmd = main.get_command(ctx, name)
        subs = getattr(cmd, "commands", None)
        if subs is not None:
            out += [((name, sub), c) for sub, c in sorted(cmd.commands.items())]
        else:
            out.append(((name,), cmd))
    return out


COMMANDS = _commands()


def test_every_command_is_listed():
    names = {path for path, _ in COMMANDS}
    assert {("simulate",), ("batch", "run"), ("batch", "status"), ("batch", "slurm-script"), ("refine",), ("show",),
            ("compare",), ("example",), ("bench",)} <= names


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_has_help(path, cmd):
    r = CliRunner().invoke(main, list(path) + ["--help"])
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    if path == ("simulate",):
        assert r.output.startswith("Usage: nbnumba simulate")
        return
    assert cmd.help, "%s has no description" % " ".join(path)
    for param in cmd.params:
        if param.param_type_name == "option" and not param.hidden:
            assert param.help, "nbnumba %s %s has no help text" % (" ".join(path), param.opts[0])
            assert param.opts[0] in r.output


def test_simulate_dash_h_prints_the_help():
    r = CliRunner().invoke(main, ["simulate", "-h"])
    assert r.exit_code == 0 and r.output.startswith("Usage: nbnumba simulate")
    # -h only as a token of its own: -hkl is nanoBragg's structure-factor flag
    assert "-hkl" in r.output


def test_refine_help_lists_the_parameters():
    from nbnumba.derivatives import PARAMETERS
    r = CliRunner().invoke(main, ["refine", "--help"])
    text = " ".join(r.output.split())
    for name in PARAMETERS:
        if name != "mosaic":
            assert name in text, name
