"""nbnumba batch against hostile manifests and options: every key with wrong types and ranges, templates
that are code, names that clash with the inputs, the manifest, --log or each other, sizes past
MAX_IMAGES, option values that would add lines to a job script; Ctrl-C while a big manifest is read; a
write that fails between an image's outputs and its sidecar; and a seeded fuzz over the manifest's keys.

A refusal must be exit 9 (2 for click's own usage errors) with exactly one line on stderr naming the
culprit, no traceback, every file in the folder as it was (bytes and mtime) and no --out made. Most cases
run in this process through click's CliRunner (the real command, `--engine serial` where images are
rendered); the Ctrl-C case is a real process and a real SIGINT."""
import errno
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from nbnumba.batch import job as batch_job
from nbnumba.batch import manifest as mf
from nbnumba.errors import NanoBraggError
from toml_text import toml_value

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ROOT / "golden" / "inputs"
G = "-detpixels 8 -N 3 -default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -distance 100 -pixel 0.1"
ROT = '[rotation]\nprefix = "r"\nosc = 0.1\nframes = 2\n'
ONE = '[[image]]\nid = "a"\n'


def snapshot(folder):
    """{relative path: (bytes, mtime_ns)} of every file under folder (symbolic links as their target text)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, folder)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            else:
                st = os.lstat(path)
                out[rel] = (Path(path).read_bytes(), st.st_mtime_ns)
    return out


@pytest.fixture
def folder(tmp_path, monkeypatch):
    (tmp_path / "P1.hkl").write_bytes((INPUTS / "P1.hkl").read_bytes())
    (tmp_path / "A.mat").write_bytes((INPUTS / "A.mat").read_bytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(argv):
    """nbnumba ARGV in this process: (exit code, stdout, stderr, exception text or "")."""
    from nbnumba.cli.main import main
    r = CliRunner().invoke(main, [str(a) for a in argv], catch_exceptions=True)
    exc = ""
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        import traceback
        exc = "".join(traceback.format_exception(type(r.exception), r.exception, r.exception.__traceback__))
    return r.exit_code, r.stdout, r.stderr, exc


def refused(folder, argv, *names, code=9, out="out"):
    """Runs argv and checks a clean refusal: the exit code, one stderr line naming each of names, no
    traceback, nothing written or changed (and --out not made, unless it was there before)."""
    before = snapshot(folder)
    had_out = os.path.lexists(folder / out)
    rc, stdout, stderr, exc = invoke(argv)
    assert not exc and "Traceback" not in stdout + stderr, exc + stdout + stderr
    assert rc == code, (rc, stdout, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 if code == 9 else lines, stderr
    for name in names:
        assert name in stderr, (name, stderr)
    assert stdout == "" if code == 9 else True, stdout
    assert snapshot(folder) == before, "a file was written or changed"
    assert os.path.lexists(folder / out) == had_out, "--out was made"
    return lines[-1]


def write(folder, text, name="m.toml"):
    (folder / name).write_text(text)
    return name


def run_argv(name="m.toml", out="out", *extra):
    return ["batch", "run", name, "--out", out, "--engine", "serial", *extra]


# ---------------------------------------------------------------- every key, type and range

BASE = 'base = "%s"\n' % G
MANIFESTS = [
    # top level
    ("seed negative", BASE + "seed = -1\n" + ROT, "seed = -1 must be >= 0"),
    ("seed past C int", BASE + "seed = 2147483648\n" + ROT, "seed = 2147483648 must be <= 2147483647"),
    ("seed + images overflow", BASE + "seed = 2147483647\n" + ROT, "seed 2147483647 + 2 images - 1"),
    ("seed huge", BASE + "seed = 9223372036854775807\n" + ROT, "must be <= 2147483647"),
    ("seed float", BASE + "seed = 1.5\n" + ROT, "seed must be an integer, not 1.5"),
    ("seed bool", BASE + "seed = true\n" + ROT, "seed must be an integer, not True"),
    ("seed string", BASE + 'seed = "1"\n' + ROT, "seed must be an integer"),
    ("base number", "base = 3\n" + ROT, "base: flags must be a string"),
    ("base bools", "base = [true]\n" + ROT, "base: flags must be a string"),
    ("base table", "base = {a = 1}\n" + ROT, "base: flags must be a string"),
    ("base quote", BASE[:-2] + " '\"\n" + ROT, "cannot split the flags"),
    ("base NUL", 'base = "%s -hkl a\\u0000b"\n' % G + ROT, "NUL"),
    ("unknown key", BASE + "frames = 3\n" + ROT, "unknown key 'frames'"),
    ("image not table", BASE + "image = 3\n", "[image] must be a table"),
    ("rotation list", BASE + "rotation = [1, 2]\n", "[rotation] must be a table"),
    ("no image", BASE, "no image"),
    # [outputs]
    ("outputs not table", BASE + "outputs = 3\n" + ROT, "[outputs] must name"),
    ("outputs empty", BASE + "[outputs]\n" + ROT, "[outputs] must name"),
    ("outputs only sweep", BASE + '[outputs]\nsweep = "s.nxs"\n' + ROT, "[outputs] must name"),
    ("outputs unknown", BASE + '[outputs]\nfloatfile = "{id}.bin"\ndumpfile = "{id}.x"\n' + ROT,
     "unknown key 'dumpfile'"),
    ("template number", BASE + "[outputs]\nfloatfile = 3\n" + ROT, "floatfile must be a string"),
    ("template attribute", BASE + '[outputs]\nfloatfile = "{id.__class__}"\n' + ROT, "not {id.__class__}"),
    ("template index", BASE + '[outputs]\nfloatfile = "{id[0]}"\n' + ROT, "not {id[0]}"),
    ("template conversion", BASE + '[outputs]\nfloatfile = "{id!r}"\n' + ROT, "{id!r}: no conversion"),
    ("template positional", BASE + '[outputs]\nfloatfile = "{0}{id}"\n' + ROT, "not {0}"),
    ("template empty field", BASE + '[outputs]\nfloatfile = "{}{id}"\n' + ROT, "not {}"),
    ("template unknown field", BASE + '[outputs]\nfloatfile = "{unknown}{id}"\n' + ROT, "not {unknown}"),
    ("template nested", BASE + '[outputs]\nfloatfile = "{id}{index:{id}}"\n' + ROT, "zero-padded width"),
    ("template padded id", BASE + '[outputs]\nfloatfile = "{id:>9}"\n' + ROT, "{id} takes no format"),
    ("template spaces", BASE + '[outputs]\nfloatfile = "{id}{index:>9}"\n' + ROT, "zero-padded width"),
    ("template huge width", BASE + '[outputs]\nfloatfile = "{id}{index:099999999}"\n' + ROT, "zero-padded width"),
    ("template brace", BASE + '[outputs]\nfloatfile = "{id}{"\n' + ROT, "not a file name template"),
    ("template folder", BASE + '[outputs]\nfloatfile = "dir/{id}"\n' + ROT, "no '/'"),
    ("template dir/", BASE + '[outputs]\nfloatfile = "{id}/"\n' + ROT, "no '/'"),
    ("template parent", BASE + '[outputs]\nfloatfile = "../{id}.bin"\n' + ROT, "no '/'"),
    ("template empty", BASE + '[outputs]\nfloatfile = ""\n' + ROT, "must contain {id}"),
    ("template no id", BASE + '[outputs]\nfloatfile = "{index}.bin"\n' + ROT, "must contain {id}"),
    ("template newline", BASE + '[outputs]\nfloatfile = "{id}\\n.bin"\n' + ROT, "control characters"),
    ("template hidden", BASE + '[outputs]\nfloatfile = ".{id}"\n' + ROT, "must not start with '.' or '-'"),
    ("template dash", BASE + '[outputs]\nfloatfile = "-{id}"\n' + ROT, "must not start with '.' or '-'"),
    ("template long", BASE + '[outputs]\nfloatfile = "%s{id}"\n' % ("x" * 300) + ROT, "longer than 255 bytes"),
    # names that collide
    ("output is sidecar", BASE + '[outputs]\nfloatfile = "{id}.json"\n' + ROT, "r00001.json as its sidecar"),
    ("output is error file", BASE + '[outputs]\nnoisefile = "{id}.error"\n' + ROT, "r00001.error as its error file"),
    ("two outputs one name", BASE + '[outputs]\nfloatfile = "{id}.x"\nintfile = "{id}.x"\n' + ROT,
     "which is also the [outputs] floatfile"),
    ("output of one, sidecar of another", BASE + '[outputs]\nfloatfile = "{id}"\n[[image]]\nid = "a"\n[[image]]\n'
     'id = "a.json"\n', "the sidecar of id 'a'"),
    ("sweep is an output", BASE + '[outputs]\nnoisefile = "{id}.img"\nsweep = "r00002.img"\n' + ROT,
     "id 'r00002' writes a file of that name"),
    ("sweep is an error file", BASE + '[outputs]\nnoisefile = "{id}.img"\nsweep = "r00001.error"\n' + ROT,
     "id 'r00001' writes a file of that name"),
    ("sweep folder", BASE + '[outputs]\nnoisefile = "{id}.img"\nsweep = "dir/"\n' + ROT, "plain file name"),
    ("sweep empty", BASE + '[outputs]\nnoisefile = "{id}.img"\nsweep = ""\n' + ROT, "sweep = '' is no file name"),
    # [rotation]
    ("frames zero", BASE + "[rotation]\nosc = 0.1\nframes = 0\n", "frames = 0 must be >= 1"),
    ("frames negative", BASE + "[rotation]\nosc = 0.1\nframes = -1\n", "frames = -1 must be >= 1"),
    ("frames float", BASE + "[rotation]\nosc = 0.1\nframes = 2.0\n", "frames must be an integer"),
    ("frames bool", BASE + "[rotation]\nosc = 0.1\nframes = true\n", "frames must be an integer"),
    ("frames string", BASE + '[rotation]\nosc = 0.1\nframes = "2"\n', "frames must be an integer"),
    ("frames billion", BASE + "[rotation]\nosc = 0.1\nframes = 1000000000\n", "MAX_IMAGES"),
    ("frames past int64", BASE + "[rotation]\nosc = 0.1\nframes = 9223372036854775807\n", "MAX_IMAGES"),
    ("frames in total", BASE + "[[rotation]]\nosc = 0.1\nframes = 60000\n[[rotation]]\nprefix = \"b\"\nosc = 0.1\n"
     "frames = 60000\n", "120000 images: more than 100000 (MAX_IMAGES)"),
    ("osc zero", BASE + "[rotation]\nosc = 0.0\nframes = 2\n", "osc = 0.0 must be > 0"),
    ("osc negative", BASE + "[rotation]\nosc = -0.1\nframes = 2\n", "osc = -0.1 must be > 0"),
    ("osc nan", BASE + "[rotation]\nosc = nan\nframes = 2\n", "osc must be a finite number"),
    ("osc inf", BASE + "[rotation]\nosc = inf\nframes = 2\n", "osc must be a finite number"),
    ("osc huge", BASE + "[rotation]\nosc = 1e300\nframes = 3\n", "not a finite number"),
    ("osc missing", BASE + "[rotation]\nframes = 2\n", "osc is required"),
    ("start nan", BASE + "[rotation]\nstart = nan\nosc = 0.1\nframes = 2\n", "start must be a finite number"),
    ("start string", BASE + '[rotation]\nstart = "0"\nosc = 0.1\nframes = 2\n', "start must be a finite number"),
    ("prefix number", BASE + "[rotation]\nprefix = 3\nosc = 0.1\nframes = 2\n", "prefix must be a string"),
    ("prefix path", BASE + '[rotation]\nprefix = "../"\nosc = 0.1\nframes = 2\n', "cannot name files"),
    ("prefix space", BASE + '[rotation]\nprefix = "a b"\nosc = 0.1\nframes = 2\n', "cannot name files"),
    ("rotation unknown", BASE + "[rotation]\nosc = 0.1\nframes = 2\nphi = 3\n", "unknown key 'phi'"),
    ("rotation args", BASE + "[rotation]\nosc = 0.1\nframes = 2\nargs = 5\n", "args: flags must be a string"),
    # [orientations]
    ("count zero", BASE + "[orientations]\ncount = 0\n", "count = 0 must be >= 1"),
    ("count billion", BASE + "[orientations]\ncount = 1000000000\n", "MAX_IMAGES"),
    ("count float", BASE + "[orientations]\ncount = 1e3\n", "count must be an integer"),
    ("orientation seed negative", BASE + "[orientations]\ncount = 2\nseed = -1\n",
     "[orientations]: seed = -1 must be >= 0"),
    ("orientation seed huge", BASE + "[orientations]\ncount = 2\nseed = 18446744073709551616\n",
     "must be <= 2147483647"),
    ("orientation seeds overflow", BASE + "[orientations]\ncount = 2\nseed = 2147483647\n",
     "seed 2147483647 + count 2 - 1"),
    ("orientation seed float", BASE + "[orientations]\ncount = 2\nseed = 7.0\n", "seed must be an integer"),
    ("orientation prefix", BASE + '[orientations]\ncount = 2\nprefix = ".x"\n', "cannot name files"),
    # [[image]]
    ("id number", BASE + "[[image]]\nid = 3\n", "id must be a string, not 3"),
    ("id missing", BASE + '[[image]]\nargs = "-phi 1"\n', "id must be a string, not None"),
    ("id empty", BASE + '[[image]]\nid = ""\n', "cannot name files"),
    ("id path", BASE + '[[image]]\nid = "../a"\n', "cannot name files"),
    ("id long", BASE + '[[image]]\nid = "%s"\n' % ("a" * 300), "longer than 255 bytes"),
    ("id duplicate", BASE + ONE + ONE, "duplicate id 'a'"),
    ("id of a frame", BASE + '[[image]]\nid = "r00002"\n' + ROT, "duplicate id 'r00002'"),
    ("args bools", BASE + '[[image]]\nid = "a"\nargs = [true]\n', "args: flags must be a string"),
    ("args table", BASE + '[[image]]\nid = "a"\nargs = {x = 1}\n', "args: flags must be a string"),
    ("image unknown", BASE + '[[image]]\nid = "a"\n_where = "x"\n', "unknown key '_where'"),
    ("args not latin-1", BASE + '[[image]]\nid = "a"\nargs = "-distance \u20ac"\n', "[[image]] 1"),
    ("args output flag", BASE + '[[image]]\nid = "a"\nargs = "-floatfile x.bin"\n', "-floatfile is not allowed"),
]


@pytest.mark.parametrize("text,problem", [m[1:] for m in MANIFESTS], ids=[m[0] for m in MANIFESTS])
def test_a_bad_manifest_is_one_line_and_exit_9(folder, text, problem):
    write(folder, text)
    line = refused(folder, run_argv(), problem, "m.toml")
    assert line.startswith("nbnumba batch: error: ")
    # status and slurm-script read the manifest the same way
    refused(folder, ["batch", "status", "m.toml", "--out", "out"], problem)
    refused(folder, ["batch", "slurm-script", "m.toml", "--out", "out", "--array", "2"], problem)


JSONL = [
    ("not JSON", '{"id": "a"\n', "line 1: not JSON"),
    ("not an object", '[1, 2]\n', "line 1: each line must be an object"),
    ("unknown key", '{"id": "a", "seed": 3}\n', "line 1: unknown key 'seed'"),
    ("id number", '{"id": 1}\n', "line 1: id must be a string"),
    ("args nan", '{"id": "a", "args": "%s"}\n{"id": "b", "args": [NaN]}\n' % G, "line 2"),
    ("deep", "[" * 100000 + "]" * 100000 + "\n", "line 1"),
]


@pytest.mark.parametrize("text,problem", [m[1:] for m in JSONL], ids=[m[0] for m in JSONL])
def test_a_bad_jsonl_manifest_is_one_line(folder, text, problem):
    write(folder, text, "m.jsonl")
    refused(folder, run_argv("m.jsonl"), problem, "m.jsonl")


def test_a_missing_or_unreadable_manifest(folder):
    refused(folder, run_argv("none.toml"), "none.toml", "No such file")
    (folder / "bad.toml").write_bytes(b"base = '\xff'\n")
    refused(folder, run_argv("bad.toml"), "not UTF-8")
    refused(folder, run_argv("/dev/zero"), "/dev/zero", "more than %d bytes" % mf.MAX_MANIFEST_BYTES)
    write(folder, "a = " + "[" * 5000 + "]" * 5000 + "\n", "deep.toml")
    rc, stdout, stderr, exc = invoke(run_argv("deep.toml"))
    assert rc == 9 and not exc and len(stderr.strip().splitlines()) == 1 and "deep.toml" in stderr


# ---------------------------------------------------------------- nothing read is written over

def _base_with(inputs):
    return 'base = "%s %s"\n' % (G, inputs)


def test_an_output_named_as_an_input_is_refused(folder):
    """[outputs] floatfile = "{id}.hkl" with --out the manifest's folder would write P1.hkl over the -hkl."""
    write(folder, _base_with("-hkl P1.hkl") + '[outputs]\nfloatfile = "{id}.hkl"\n[[image]]\nid = "P1"\n')
    refused(folder, run_argv(out="."), "P1.hkl", "-hkl", "floatfile", out=".")
    refused(folder, ["batch", "slurm-script", "m.toml", "--out", ".", "--array", "1"], "P1.hkl", out=".")
    # the same manifest into another folder is fine (and reads the input from beside the manifest)
    rc, stdout, stderr, exc = invoke(run_argv(out="frames"))
    assert rc == 0 and not exc, stderr
    assert (folder / "frames" / "P1.hkl").is_file()
    assert (folder / "P1.hkl").read_bytes() == (INPUTS / "P1.hkl").read_bytes()


@pytest.mark.parametrize("kind", ["-mat", "sidecar", "error", "sweep", "manifest"])
def test_every_written_name_is_checked_against_every_input(folder, kind):
    outputs = '[outputs]\nnoisefile = "{id}.img"\n'
    name = "m.toml"
    if kind == "-mat":
        target, image = "A.mat", '[[image]]\nid = "A"\n'
        text = _base_with("-mat A.mat").replace("-cell 100 100 100 90 90 90 ", "")
        outputs += 'floatfile = "{id}.mat"\n'
    elif kind == "sidecar":
        target, image = "a.json", ONE
        text = _base_with("-hkl a.json")
        (folder / "a.json").write_bytes((INPUTS / "P1.hkl").read_bytes())
    elif kind == "error":
        target, image = "a.error", ONE
        text = _base_with("-sourcefile a.error")
        (folder / "a.error").write_bytes((INPUTS / "sources.txt").read_bytes())
    elif kind == "sweep":
        target, image = "P1.hkl", ROT
        text = _base_with("-hkl P1.hkl")
        outputs += 'sweep = "P1.hkl"\n'
    else:
        target, image, name, text = "a.json", ONE, "a.json", BASE
    write(folder, text + outputs + image, name)
    refused(folder, run_argv(name, "."), target, out=".")


def test_log_is_checked_against_reads_and_writes(folder):
    write(folder, _base_with("-hkl P1.hkl") + ONE)
    refused(folder, run_argv("m.toml", "out", "--log", "m.toml"), "--log m.toml", "the manifest")
    refused(folder, run_argv("m.toml", "out", "--log", "P1.hkl"), "--log P1.hkl", "-hkl")
    refused(folder, run_argv("m.toml", "out", "--log", "out/a.json"), "--log out/a.json", "the sidecar of id 'a'")
    refused(folder, run_argv("m.toml", "out", "--log", "out/a.bin"), "the [outputs] floatfile of id 'a'")
    refused(folder, run_argv("m.toml", "out", "--log", "out"), "--out folder itself")
    # a log beside them is fine, appended to
    (folder / "log.txt").write_text("earlier\n")
    rc, stdout, stderr, exc = invoke(run_argv("m.toml", "out", "--log", "log.txt"))
    assert rc == 0 and not exc, stderr
    assert (folder / "log.txt").read_text().splitlines()[0] == "earlier"
    assert (folder / "log.txt").read_text().splitlines()[1].startswith("a done")


def test_links_in_out_are_followed_when_checking(folder):
    """An output name in --out that is a symbolic link to an input, or a hard link of it: refused."""
    write(folder, _base_with("-hkl P1.hkl") + ONE)
    out = folder / "out"
    out.mkdir()
    os.symlink(folder / "P1.hkl", out / "a.bin")
    refused(folder, run_argv(), "a.bin", "-hkl")
    os.unlink(out / "a.bin")
    os.link(folder / "P1.hkl", out / "a.img")
    refused(folder, run_argv(), "a.img", "-hkl")
    os.unlink(out / "a.img")
    # two written names that are one file through a link
    os.symlink("a.bin", out / "a.img")
    refused(folder, run_argv(), "a.img", "would be one file")


def test_check_writes_is_callable_without_the_command(folder):
    m = mf.read_manifest(write(folder, _base_with("-hkl P1.hkl") + '[outputs]\nfloatfile = "{id}.hkl"\n'
                               '[[image]]\nid = "P1"\n'))
    with pytest.raises(NanoBraggError, match="P1.hkl.*written over -hkl"):
        mf.check_writes(m.jobs, str(folder))
    mf.check_writes(m.jobs, str(folder / "elsewhere"), reads=[("the manifest", m.path)])
    assert m.jobs[0].inputs == (("-hkl", str(folder / "P1.hkl")),)
    names = mf.written_names(m.jobs)
    assert set(names) == {"P1.hkl", "P1.json", "P1.error"}


# ---------------------------------------------------------------- the job script and the options

@pytest.mark.parametrize("option", ["--job-name", "--mem", "--time", "--partition", "--account", "--extra"])
@pytest.mark.parametrize("value", ["x\n#SBATCH --wrap=rm", "x\ry", "\x1b[31m", ""])
def test_slurm_script_options_cannot_add_lines(folder, option, value):
    write(folder, BASE + ROT)
    refused(folder, ["batch", "slurm-script", "m.toml", "--out", "out", "--array", "2", option, value], option)


@pytest.mark.parametrize("option", ["--partition", "--queue", "--account", "--mem", "--memory", "--time",
                                    "--walltime", "--extra", "--job-extra"])
def test_run_cluster_options_cannot_add_lines(folder, option):
    write(folder, BASE + ROT)
    refused(folder, run_argv("m.toml", "out", "--cluster", "slurm", option, "a\nb"), "control character")


def test_slurm_names_are_sbatch_names_with_the_old_ones_as_aliases(folder):
    from nbnumba.batch.command import batch
    write(folder, BASE + ROT)
    for name in ("run", "slurm-script"):
        opts = {o for p in batch.commands[name].params for o in p.opts}
        assert {"--partition", "--time", "--mem", "--cpus-per-task", "--extra", "--account"} <= opts, (name, opts)
    aliases = {p.name: set(p.opts) for p in batch.commands["run"].params}
    assert aliases["queue"] == {"--partition", "--queue"} and aliases["walltime"] == {"--time", "--walltime"}
    assert aliases["memory"] == {"--mem", "--memory"} and aliases["cores"] == {"--cpus-per-task", "--cores"}
    # the old names still work (a serial run ignores them), the new ones too
    for argv in (["--queue", "q", "--cores", "2", "--memory", "2GB", "--walltime", "00:10:00"],
                 ["--partition", "q", "--cpus-per-task", "2", "--mem", "2GB", "--time", "00:10:00"]):
        rc, stdout, stderr, exc = invoke(run_argv("m.toml", "out", *argv))
        assert rc == 0 and not exc, stderr
    rc, script, stderr, exc = invoke(["batch", "slurm-script", "m.toml", "--out", "out", "--array", "2",
                                      "--partition", "p", "--cpus-per-task", "4", "--mem", "8G", "--time", "01:00:00",
                                      "--job-name", "series", "--extra=--qos=long"])
    assert rc == 0 and not exc, stderr
    for line in ("#SBATCH --partition=p", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=8G", "#SBATCH --time=01:00:00",
                 "#SBATCH --job-name=series", "#SBATCH --qos=long"):
        assert line + "\n" in script, script
    assert sum(line.startswith("#SBATCH") for line in script.splitlines()) == 8


def test_usage_errors_are_click_exit_2(folder):
    write(folder, BASE + ROT)
    refused(folder, ["batch", "slurm-script", "m.toml", "--out", "out", "--array", "0"], "--array", code=2)
    refused(folder, run_argv("m.toml", "out", "--workers", "0"), "--workers", code=2)
    refused(folder, ["batch", "status", "m.toml"], "--out", code=2)


def test_every_option_of_every_subcommand_has_help():
    from nbnumba.batch.command import batch
    for name, command in batch.commands.items():
        rc, stdout, stderr, exc = invoke(["batch", name, "--help"])
        assert rc == 0 and not exc, stderr
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help and param.help.strip(), (name, param.opts)
                assert param.opts[0] in stdout, (name, param.opts)
        assert command.help and command.help.strip()


# ---------------------------------------------------------------- sizes and Ctrl-C

def test_the_limit_is_checked_before_anything_is_built(monkeypatch):
    """A billion frames is refused at once: nothing of it is built (the generator is never asked)."""
    built = []
    monkeypatch.setattr(mf, "frame_id", lambda prefix, i: built.append(i) or "%s%05d" % (prefix, i + 1))
    t0 = time.perf_counter()
    with pytest.raises(NanoBraggError, match="MAX_IMAGES"):
        mf.build_jobs({"base": G, "rotation": {"osc": 0.1, "frames": 10 ** 9}}, "/", "m")
    with pytest.raises(NanoBraggError, match="MAX_IMAGES"):
        mf.build_jobs({"base": G, "image": [{"id": "a"}], "rotation": {"osc": 0.1, "frames": mf.MAX_IMAGES}}, "/", "m")
    assert built == [] and time.perf_counter() - t0 < 30


def test_max_images_frames_build_in_reasonable_time():
    """MAX_IMAGES rotation frames: built (parsed for a few, the rest from them) and checked in seconds."""
    t0 = time.perf_counter()
    jobs = mf.build_jobs({"base": G, "rotation": {"prefix": "r", "start": -10.0, "osc": 0.001,
                                                  "frames": mf.MAX_IMAGES}}, "/", "m")
    mf.check_writes(jobs, "/nonexistent-out")
    assert len(jobs) == mf.MAX_IMAGES and time.perf_counter() - t0 < 120
    last = jobs[-1]
    assert last.id == "r%05d" % mf.MAX_IMAGES and last.seed == mf.MAX_IMAGES
    assert float(last.argv[last.argv.index("-phi") + 1]) == -10.0 + (mf.MAX_IMAGES - 1) * 0.001


def _slow_path(monkeypatch):
    monkeypatch.setattr(mf._Generator, "_alike", lambda self, parsed: False)


@pytest.mark.parametrize("doc", [
    {"base": G, "seed": 5, "rotation": {"prefix": "r", "start": -0.35, "osc": 0.1, "frames": 9}},
    {"base": G + " -seed 4", "rotation": {"start": -0.0, "osc": 0.25, "frames": 5}},
    {"base": G, "orientations": {"prefix": "o", "count": 12, "seed": 3}},
    {"base": G + " -phi 3 -osc 1", "outputs": {"noisefile": "{id}-{index:03d}.img", "floatfile": "{index:d}{id}.bin"},
     "image": [{"id": "still"}], "orientations": {"count": 4}},
    {"base": G, "outputs": {"noisefile": "{id}.img", "sweep": "s.nxs"},
     "image": [{"id": "a", "args": "-phi -0.2 -osc 0.1"}], "rotation": {"start": -0.1, "osc": 0.1, "frames": 6}},
])
def test_frames_built_from_probes_equal_frames_parsed_one_by_one(monkeypatch, doc):
    fast = mf.build_jobs(json.loads(json.dumps(doc)), "/", "m")
    calls = []
    real = mf.check_argv
    monkeypatch.setattr(mf, "check_argv", lambda argv, where: calls.append(argv) or real(argv, where))
    _slow_path(monkeypatch)
    slow = mf.build_jobs(json.loads(json.dumps(doc)), "/", "m")
    assert len(calls) == len(slow)                       # the slow path parsed every frame
    assert fast == slow
    for job in slow:
        p = real(job.argv, "x")
        assert -p.seed == job.seed


def test_a_sweep_takes_the_rotation_not_the_image_before_it():
    """An [[image]] before a [rotation] is no frame of the sweep (it may stand anywhere in phi); the
    rotation's frames are, and are checked among themselves."""
    doc = {"base": G, "outputs": {"noisefile": "{id}.img", "sweep": "s.nxs"},
           "image": [{"id": "a", "args": "-phi 5 -osc 0.1"}], "rotation": {"start": 0.0, "osc": 0.1, "frames": 6}}
    jobs = mf.build_jobs(doc, "/", "m")
    assert [j.id for j in mf.sweep_jobs(jobs)] == ["%05d" % i for i in range(1, 7)]
    doc["rotation"] = [{"start": 0.0, "osc": 0.1, "frames": 2},
                       {"prefix": "b", "start": 0.5, "osc": 0.1, "frames": 2}]
    with pytest.raises(NanoBraggError, match="image 'b00001' starts at phi 0.5, not 0.2"):
        mf.build_jobs(doc, "/", "m")


def test_ctrl_c_while_a_big_manifest_is_read(tmp_path):
    """SIGINT to a real `batch run` while it parses and checks thousands of [[image]]s: exit 130, one line,
    no traceback, no --out."""
    lines = [json.dumps({"id": "i%05d" % i, "args": "%s -phi %d" % (G, i)}) for i in range(40000)]
    (tmp_path / "big.jsonl").write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "nbnumba", "batch", "run", str(tmp_path / "big.jsonl"), "--out",
                             str(tmp_path / "out"), "--engine", "serial"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # CPU seconds of the process: past its imports, into the manifest (which takes many seconds more)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        fields = Path("/proc/%d/stat" % proc.pid).read_text().rsplit(")", 1)[1].split()
        if (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") > 2.5:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert "interrupted" in stderr and stdout == ""
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- a write that fails

def _one_job(folder):
    m = mf.read_manifest(write(folder, _base_with("-hkl P1.hkl") + '[outputs]\nfloatfile = "{id}.bin"\n'
                               'noisefile = "{id}.img"\npgmfile = "{id}.pgm"\n' + ONE))
    out = folder / "out"
    out.mkdir()
    return m.jobs[0], out


def _failing_write_now(monkeypatch, suffixes):
    from nbnumba.io import atomic
    real = atomic.write_now

    def write_now(path, *parts):
        if str(path).endswith(suffixes):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real(path, *parts)
    monkeypatch.setattr(atomic, "write_now", write_now)


def test_a_failed_sidecar_leaves_the_error_file_and_no_output(folder, monkeypatch):
    job, out = _one_job(folder)
    _failing_write_now(monkeypatch, (".json",))
    rec = batch_job.run_job(job, str(out))
    assert rec["status"] == "failed" and "No space left" in rec["error"] and "a.json" in rec["error"]
    assert sorted(os.listdir(out)) == ["a.error"]
    assert (out / "a.error").read_text() == rec["error"] + "\n"
    monkeypatch.undo()
    # the next run renders it and clears the error
    monkeypatch.chdir(folder)
    assert batch_job.run_job(job, str(out))["status"] == "done"
    assert sorted(os.listdir(out)) == ["a.bin", "a.img", "a.json", "a.pgm"]


def test_a_failed_sidecar_and_error_file_leave_nothing(folder, monkeypatch):
    job, out = _one_job(folder)
    _failing_write_now(monkeypatch, (".json", ".error"))
    rec = batch_job.run_job(job, str(out))
    assert rec["status"] == "failed"
    assert os.listdir(out) == []


def test_a_failed_read_back_leaves_the_error_file(folder, monkeypatch):
    job, out = _one_job(folder)

    def sha256_file(path):
        raise OSError(errno.EIO, os.strerror(errno.EIO), path)
    monkeypatch.setattr(batch_job, "sha256_file", sha256_file)
    rec = batch_job.run_job(job, str(out))
    assert rec["status"] == "failed" and "Input/output error" in rec["error"]
    assert sorted(os.listdir(out)) == ["a.error"]


def test_an_interrupt_before_the_sidecar_leaves_nothing(folder, monkeypatch):
    from nbnumba.interrupt import Interrupted
    from nbnumba.io import atomic
    job, out = _one_job(folder)
    real = atomic.write_now

    def write_now(path, *parts):
        if str(path).endswith(".json"):
            raise Interrupted(signal.SIGINT)
        return real(path, *parts)
    monkeypatch.setattr(atomic, "write_now", write_now)
    with pytest.raises(Interrupted):
        batch_job.run_job(job, str(out))
    assert os.listdir(out) == []


def test_a_failed_sidecar_through_the_command(folder, monkeypatch):
    """The serial engine in this process, the sidecar of the second frame failing: exit 1, that frame has
    its error file and none of its outputs, `batch status` says failed, a rerun finishes it."""
    write(folder, BASE + '[rotation]\nprefix = "r"\nosc = 0.1\nframes = 3\n')
    _failing_write_now(monkeypatch, ("r00002.json",))
    rc, stdout, stderr, exc = invoke(run_argv())
    assert rc == 1 and not exc, stderr
    assert stdout.startswith("3 images: 2 rendered, 0 already done, 1 failed"), stdout
    names = sorted(os.listdir(folder / "out"))
    assert [n for n in names if n.startswith("r00002")] == ["r00002.error"], names
    monkeypatch.undo()
    monkeypatch.chdir(folder)
    rc, stdout, stderr, exc = invoke(["batch", "status", "m.toml", "--out", "out"])
    assert stdout.splitlines()[0] == "3 images: 2 done, 1 failed, 0 pending"
    rc, stdout, stderr, exc = invoke(run_argv())
    assert rc == 0 and "1 rendered, 2 already done" in stdout
    assert not (folder / "out" / "r00002.error").exists()


# ---------------------------------------------------------------- a seeded fuzz of the manifest's keys

VALUES = [-1, 0, 1, 3, 2 ** 31, -(2 ** 63), 10 ** 12, 0.5, -0.5, 1e308, math.nan, math.inf, True, "", "x", "-1",
          "{id}", "{index:05d}{id}", "{id.real}", "{id}/", "{id}.json", "{id}.error", "P1.hkl", "m.toml", "a\nb",
          "\x00", "é{id}", "-hkl P1.hkl", "-floatfile {id}", [], ["-phi", 1], [True], {}, {"a": 1}]


def _toml(doc):
    lines = ["%s = %s" % (k, toml_value(v)) for k, v in doc.items() if not isinstance(v, dict) or k == "bogus"]
    for k, v in doc.items():
        if isinstance(v, dict) and k != "bogus":
            lines.append("[[%s]]" % k if k == "image" else "[%s]" % k)
            lines += ["%s = %s" % (kk, toml_value(vv)) for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def test_seeded_fuzz_of_manifest_keys(folder):
    keys = {"": ["base", "seed", "bogus"], "outputs": ["floatfile", "noisefile", "intfile", "sweep", "bogus"],
            "image": ["id", "args"], "rotation": ["prefix", "start", "osc", "frames", "args"],
            "orientations": ["prefix", "count", "seed", "args"]}
    codes = {}
    for case in range(60):
        rng = random.Random(1000 + case)
        doc = {"base": G + " -hkl P1.hkl", "seed": 1, "outputs": {"floatfile": "{id}.bin", "noisefile": "{id}.img"},
               "image": {"id": "still", "args": "-phi 10"},
               "rotation": {"prefix": "rot_", "start": 0.0, "osc": 0.1, "frames": 2},
               "orientations": {"prefix": "ori_", "count": 1, "seed": 7}}
        for _ in range(rng.randint(1, 2)):
            table = rng.choice(sorted(keys))
            key = rng.choice(keys[table])
            target = doc if table == "" else doc[table]
            if rng.random() < 0.15:
                target.pop(key, None)
            else:
                target[key] = rng.choice(VALUES)
        write(folder, _toml(doc))
        out = rng.choice(["out", "out", "."])
        argv = {0: run_argv("m.toml", out), 1: ["batch", "status", "m.toml", "--out", out],
                2: ["batch", "slurm-script", "m.toml", "--out", out, "--array", "2"]}[rng.randrange(3)]
        before = snapshot(folder)           # the inputs and the manifest: nothing else
        rc, stdout, stderr, exc = invoke(argv)
        assert not exc and "Traceback" not in stdout + stderr, (doc, exc, stderr)
        assert rc in (0, 1, 2, 9), (doc, rc, stderr)
        after = snapshot(folder)
        assert {n: after.get(n) for n in before} == before, (doc, argv, stderr)
        if rc in (2, 9):
            assert len(stderr.strip().splitlines()) == 1 or rc == 2, (doc, stderr)
            assert set(after) == set(before), (doc, argv, sorted(set(after) - set(before)))
        codes[rc] = codes.get(rc, 0) + 1
        # a fresh folder for the next case
        for name in os.listdir(folder):
            if name not in ("P1.hkl", "A.mat", "m.toml"):
                path = folder / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
    assert codes.get(9, 0) >= 20 and codes.get(0, 0) >= 5, codes
