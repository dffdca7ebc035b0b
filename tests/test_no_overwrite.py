"""No command writes over a file it reads: every (reader, writer) pair of every command.

For each command, each file it reads (an input flag's file, the manifest, the image given to refine, show
or compare) is named again as each path it writes (an output flag, an [outputs] template, a sidecar, an
.error file, the sweep, --log, --json, --png, Fdump.bin). Every such run must stop before any work: exit
9, one line on stderr naming the file and the option that would write it, no traceback, the input's bytes
and mtime as they were, and no new file in the folder.
"""
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from conftest import GOLDEN

SMALL = "-cell 100 100 100 90 90 90 -N 3 -lambda 1 -distance 100 -pixel 0.1 -oversample 1 -seed 2"

# simulate: (input flag, file, flags that make that input meaningful)
SIMULATE_READERS = [
    ("-hkl", "P1.hkl", "-detpixels 16"),
    ("-mat", "A.mat", "-default_F 100 -detpixels 16"),
    ("-mask", "mask.img", "-default_F 100"),
    ("-img", "header.img", "-default_F 100"),
    ("-sourcefile", "sources.txt", "-default_F 100 -detpixels 16"),
    ("-stol", "water.stol", "-default_F 100 -detpixels 16 -water 100"),
]
SIMULATE_WRITERS = ["-floatfile", "-intfile", "-noisefile", "-pgmfile", "-nxsfile", "-cbffile", "-pngfile"]

# batch: the inputs a manifest names (in `base`), and the manifest itself
BATCH_READERS = [("-hkl", "P1.hkl"), ("-mat", "A.mat"), ("-mask", "mask.img"), ("-img", "header.img"),
                 ("-sourcefile", "sources.txt"), ("-stol", "water.stol"), ("manifest", "m.toml")]
BATCH_TEMPLATES = ["floatfile", "intfile", "noisefile", "pgmfile", "nxsfile", "cbffile", "pngfile"]
BATCH_WRITERS = ["[outputs] " + k for k in BATCH_TEMPLATES] + ["sidecar", "error", "sweep", "--log"]


def _snapshot(folder):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()}


def _inputs(folder):
    for name in ("P1.hkl", "A.mat", "mask.img", "header.img", "sources.txt", "water.stol"):
        shutil.copy(GOLDEN / "inputs" / name, folder / name)


def _run(argv, cwd):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run([sys.executable, "-m", "nbnumba"] + argv, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _refused(r, before, folder, *names):
    """Exit 9, one line naming each of `names`, nothing written, nothing changed."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 9, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    assert len(lines) == 1, r.stderr
    for n in names:
        assert n in lines[0], (n, lines[0])
    assert _snapshot(folder) == before, "a file was written or changed"
    assert sorted(p.name for p in folder.iterdir()) == sorted(before), "a file or folder was left"


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    """An SMV noise image and its raw float image, 16x16 (for refine, show and compare)."""
    folder = tmp_path_factory.mktemp("observed")
    r = _run(["simulate"] + shlex.split("-default_F 100 -detpixels 16 -nopgm " + SMALL), folder)
    assert r.returncode == 0, r.stderr
    return folder


@pytest.mark.parametrize("writer", SIMULATE_WRITERS)
@pytest.mark.parametrize("flag,name,extra", SIMULATE_READERS)
def test_simulate(tmp_path, flag, name, extra, writer):
    _inputs(tmp_path)
    before = _snapshot(tmp_path)
    r = _run(["simulate"] + shlex.split("%s %s %s %s" % (flag, name, extra, SMALL)) + [writer, name], tmp_path)
    _refused(r, before, tmp_path, name, writer)


@pytest.mark.parametrize("flag,name,extra", SIMULATE_READERS[1:])
def test_simulate_fdump(tmp_path, flag, name, extra):
    """With -hkl, the Fdump.bin cache is written: an input of that name is refused."""
    _inputs(tmp_path)
    shutil.copy(tmp_path / name, tmp_path / "Fdump.bin")
    before = _snapshot(tmp_path)
    args = "-hkl P1.hkl %s Fdump.bin %s %s" % (flag, extra.replace("-default_F 100", ""), SMALL)
    r = _run(["simulate"] + shlex.split(args), tmp_path)
    _refused(r, before, tmp_path, "Fdump.bin")


def _target(writer, name):
    """The name the batch writes for `writer` in the first image (id img00001), given the input `name`."""
    if writer.startswith("[outputs]"):
        return "img00001_" + name
    return {"sidecar": "img00001.json", "error": "img00001.error"}.get(writer, name)


@pytest.mark.parametrize("writer", BATCH_WRITERS)
@pytest.mark.parametrize("flag,name", BATCH_READERS)
def test_batch_run(tmp_path, flag, name, writer):
    """The input is named as what the batch would write for the first image (or the sweep, or the log);
    --out is the manifest's own folder, where its inputs are."""
    _inputs(tmp_path)
    target = _target(writer, name)
    manifest = target if flag == "manifest" else "m.toml"
    if flag != "manifest":
        os.replace(tmp_path / name, tmp_path / target)
    reads = "" if flag == "manifest" else "%s %s" % (flag, target)
    extra = {"-hkl": "", "-stol": "-default_F 100 -water 100"}.get(flag, "-default_F 100")
    size = "" if flag in ("-mask", "-img") else "-detpixels 16"
    outputs = {"noisefile": "{id}.img"}
    cli = ["batch", "run", manifest, "--out", ".", "--engine", "serial"]
    if writer.startswith("[outputs]"):
        outputs[writer.split()[1]] = "{id}_" + name
    elif writer == "sweep":
        outputs["sweep"] = target
    elif writer == "--log":
        cli += ["--log", target]
    lines = ['base = "%s %s %s %s"' % (reads, extra, size, SMALL), "[outputs]"]
    lines += ['%s = "%s"' % kv for kv in outputs.items()]
    lines += ["[rotation]", 'prefix = "img"', "osc = 0.1", "frames = 2"]
    (tmp_path / manifest).write_text("\n".join(lines) + "\n")
    before = _snapshot(tmp_path)
    r = _run(cli, tmp_path)
    _refused(r, before, tmp_path, target)


@pytest.mark.parametrize("reader", ["image", "-hkl", "-mat"])
def test_refine_json(tmp_path, observed, reader):
    _inputs(tmp_path)
    shutil.copy(observed / "noiseimage.img", tmp_path / "noiseimage.img")
    flags = "-default_F 100 -detpixels 16 " + SMALL
    target = "noiseimage.img"
    if reader == "-hkl":
        flags, target = "-hkl P1.hkl -detpixels 16 " + SMALL, "P1.hkl"
    elif reader == "-mat":
        flags, target = "-mat A.mat -default_F 100 -detpixels 16 " + SMALL.replace("-cell 100 100 100 90 90 90", ""), "A.mat"
    before = _snapshot(tmp_path)
    r = _run(["refine", "noiseimage.img", "--flags", flags, "--refine", "distance", "--json", target], tmp_path)
    _refused(r, before, tmp_path, target, "--json")


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "dot"])
def test_show_png(tmp_path, observed, how):
    shutil.copy(observed / "noiseimage.img", tmp_path / "a.img")
    png = {"same": "a.img", "dot": "./a.img"}.get(how, "b.img")
    if how == "symlink":
        os.symlink("a.img", tmp_path / "b.img")
    elif how == "hardlink":
        os.link(tmp_path / "a.img", tmp_path / "b.img")
    before = _snapshot(tmp_path)
    r = _run(["show", "a.img", "--png", png], tmp_path)
    _refused(r, before, tmp_path, "a.img", "--png")


@pytest.mark.parametrize("which", ["A", "B"])
def test_compare_png(tmp_path, observed, which):
    shutil.copy(observed / "noiseimage.img", tmp_path / "a.img")
    shutil.copy(observed / "intimage.img", tmp_path / "b.img")
    png = "a.img" if which == "A" else "b.img"
    before = _snapshot(tmp_path)
    r = _run(["compare", "a.img", "b.img", "--png", png], tmp_path)
    _refused(r, before, tmp_path, png, "--png")


@pytest.mark.parametrize("name", ["P1.hkl", "series.toml"])
def test_example(tmp_path, name):
    (tmp_path / name).write_text("mine\n")
    before = _snapshot(tmp_path)
    r = _run(["example"], tmp_path)
    _refused(r, before, tmp_path, name)
