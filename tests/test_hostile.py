"""Seeded hostile use of every surface newer than `simulate`: batch manifests (every key, type, range and
template) through `batch run/status/slurm-script`, `refine`, `show`, `compare`, the format outputs of
`simulate` (-nxsfile, -cbffile, -pngfile, -nxs_image), `example`, and every public function of
nbnumba.api, each fed values a careless or hostile user would give.

Each case runs in-process (click's CliRunner; the API called directly) in a folder holding the inputs,
and must:
- end with exit 0, 1 (a batch image failed, a fit did not converge, a threshold not met), 9 (refused)
  or 2 (click's usage error); an API call returns or raises NanoBraggError, nothing else;
- print no traceback;
- leave every input file's bytes and mtime as they were;
- on exit 9 or 2 (and a NanoBraggError), leave no new file or folder;
- finish within HANG_S seconds (an alarm counts it as a hang).

NBNUMBA_HOSTILE_RUNS=N runs N cases per surface (default 40; NBNUMBA_HOSTILE_SEED shifts the seeds), so a
long local run explores further than CI does; the totals are printed (pytest -s) as
"hostile: N cases, T tracebacks, D inputs damaged, H hangs".
"""
import math
import os
import random
import shutil
import signal
import stat
import traceback

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import GOLDEN
from toml_text import toml_value

RUNS = int(os.environ.get("NBNUMBA_HOSTILE_RUNS", "40"))
SEED0 = int(os.environ.get("NBNUMBA_HOSTILE_SEED", "0"))
HANG_S = 60

GOOD = "-cell 100 100 100 90 90 90 -default_F 100 -N 3 -lambda 6.2 -distance 100 -detpixels 8 -pixel 0.1"
INPUTS = ("P1.hkl", "A.mat", "mask.img", "header.img", "sources.txt", "water.stol")

# values people get wrong: types, signs, sizes, non-finite numbers, paths, template and format syntax
VALUES = [-1, 0, 1, 2, -(2 ** 63), 2 ** 63, 2 ** 31, 10 ** 9, 1e308, -0.5, 0.5, math.nan, math.inf, -math.inf,
          True, False, "", " ", "x", "-1", "nan", "1e9", "{id}", "{index}", "{index:05d}", "{id.__class__}",
          "{id[0]}", "{id!r}", "{0}", "{}", "{index:>99999999}", "{unknown}", "{id}/", "dir/", "../{id}.img",
          "/tmp", ".{id}", "{id}.json", "{id}.error", "P1.hkl", "m.toml", "a\nb", "\x00", "é{id}", "x" * 300,
          [], [1, 2], ["a"], {}, {"a": 1}]


class Tally:
    cases = tracebacks = damaged = hangs = left = 0


TALLY = Tally()


class _Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise _Hang()


def _snapshot(folder):
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            out[os.path.relpath(os.path.join(root, name), folder)] = None
        for name in files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):        # a FIFO, a link: its kind and time
                out[os.path.relpath(path, folder)] = (st.st_mode, st.st_mtime_ns)
                continue
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = (fh.read(), st.st_mtime_ns)
    return out


@pytest.fixture
def folder(tmp_path, monkeypatch, observed):
    for name in INPUTS:
        shutil.copy(GOLDEN / "inputs" / name, tmp_path / name)
    for name in os.listdir(observed):
        shutil.copy(os.path.join(observed, name), tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    """Images of every format nbnumba writes (8x8), and damaged copies of each."""
    d = tmp_path_factory.mktemp("observed")
    cwd = os.getcwd()
    os.chdir(d)
    try:
        from nbnumba.cli.main import main
        r = CliRunner().invoke(main, ["simulate"] + GOOD.split() + ["-seed", "3", "-osc", "0.1", "-nxsfile", "x.nxs",
                                                                    "-cbffile", "x.cbf", "-pngfile", "x.png"])
        assert r.exit_code == 0, r.output
    finally:
        os.chdir(cwd)
    rng = random.Random(1)
    for name in ("noiseimage.img", "x.cbf", "x.nxs", "x.png", "image.pgm", "floatimage.bin"):
        data = (d / name).read_bytes()
        stem, ext = os.path.splitext(name)
        (d / ("%s_short%s" % (stem, ext))).write_bytes(data[:len(data) // 2])
        flipped = bytearray(data)
        for _ in range(8):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        (d / ("%s_flip%s" % (stem, ext))).write_bytes(bytes(flipped))
    (d / "nan.bin").write_bytes(np.full(64, np.nan, "<f4").tobytes())
    (d / "empty.bin").write_bytes(b"")
    (d / "huge.pgm").write_bytes(b"P5\n2000000000 2000000000\n255\n\0")
    header = (d / "noiseimage.img").read_bytes()[:512].replace(b"SIZE1=8;", b"SIZE1=99999;")
    (d / "big_header.img").write_bytes(header + b"\0" * 128)
    return str(d)


# options whose value a command writes, and the files `simulate` (and the API's write_outputs) write by
# default: a file there before is the user's earlier output, which a run may replace; every other file
# in the folder (inputs, images read) must stay as it was
OUTPUT_OPTIONS = ("--png", "--json", "--log", "-floatfile", "-intfile", "-noisefile", "-pgmfile", "-nxsfile",
                  "-cbffile", "-pngfile")
DEFAULT_OUTPUTS = ("floatimage.bin", "intimage.img", "noiseimage.img", "image.pgm", "Fdump.bin")


INPUT_FLAGS = ("-hkl", "-mat", "-mask", "-img", "-sourcefile", "-stol")


def _read(argv):
    """The files a command line reads: images, the manifest, the inputs its flags name."""
    words = list(argv)
    if argv[:1] == ["refine"] and "--flags" in argv:
        words += argv[argv.index("--flags") + 1].split()
    read = {words[i + 1] for i, a in enumerate(words[:-1]) if a in INPUT_FLAGS}
    read |= {"show": set(argv[1:2]), "compare": set(argv[1:3]), "refine": set(argv[1:2]),
             "batch": set(argv[2:3]) | {"P1.hkl"}}.get(argv[0], set())
    return {os.path.normpath(n) for n in read if n}


def _written(argv):
    """The files a command line may replace: what it is told to write, less what it reads."""
    named = {os.path.normpath(argv[i + 1]) for i, a in enumerate(argv[:-1]) if a in OUTPUT_OPTIONS and argv[i + 1]}
    named |= set(DEFAULT_OUTPUTS) if argv[:1] == ["simulate"] else set()
    return named - _read(argv)


def _check(folder, before, code, output, exc_text, allowed_new, written=()):
    TALLY.cases += 1
    if "Traceback" in output or exc_text:
        TALLY.tracebacks += 1
        pytest.fail("traceback:\n%s\n%s" % (output[-3000:], exc_text))
    after = _snapshot(folder)
    for name, value in before.items():
        if name not in written and after.get(name) != value:
            TALLY.damaged += 1
            pytest.fail("input %s changed or removed (exit %s):\n%s" % (name, code, output[-2000:]))
    if not allowed_new and set(after) != set(before):
        TALLY.left += 1
        pytest.fail("refused (exit %s) but left %s:\n%s" % (code, sorted(set(after) - set(before)), output[-2000:]))


def _invoke(folder, argv):
    from nbnumba.cli.main import main
    before = _snapshot(folder)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_S)
    try:
        r = CliRunner().invoke(main, argv, catch_exceptions=True)
    except _Hang:
        TALLY.hangs += 1
        pytest.fail("hang: nbnumba %s" % argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    exc_text = ""
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        exc_text = "".join(traceback.format_exception(type(r.exception), r.exception, r.exception.__traceback__))
    output = r.output + (r.stderr if r.stderr_bytes is not None else "")
    code = r.exit_code
    if not exc_text:
        assert code in (0, 1, 2, 9), "exit %s: nbnumba %s\n%s" % (code, argv, output[-2000:])
    _check(folder, before, code, output, exc_text, allowed_new=code in (0, 1), written=_written(argv))
    return code, output


# ------------------------------------------------------------------ batch manifests

def _toml(doc):
    lines = ["%s = %s" % (k, toml_value(v)) for k, v in doc.items() if not isinstance(v, (dict, list))
             or (isinstance(v, list) and not all(isinstance(t, dict) for t in v)) or (isinstance(v, list) and not v)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append("[%s]" % k)
            lines += ["%s = %s" % (kk, toml_value(vv)) for kk, vv in v.items()]
        elif isinstance(v, list) and v and all(isinstance(t, dict) for t in v):
            for t in v:
                lines.append("[[%s]]" % k)
                lines += ["%s = %s" % (kk, toml_value(vv)) for kk, vv in t.items()]
    return "\n".join(lines) + "\n"


def _manifest(rng):
    doc = {"base": "-hkl P1.hkl -cell 100 100 100 90 90 90 -N 3 -lambda 6.2 -distance 100 -detpixels 8 -pixel 0.1",
           "seed": 1,
           "outputs": {"floatfile": "{id}.bin", "noisefile": "{id}.img"},
           "image": [{"id": "still", "args": "-phi 10"}],
           "rotation": {"prefix": "rot_", "start": 0.0, "osc": 0.1, "frames": 2},
           "orientations": {"prefix": "ori_", "count": 2, "seed": 7}}
    for _ in range(rng.randint(1, 3)):
        table = rng.choice(["", "outputs", "image", "rotation", "orientations"])
        if table == "":
            key = rng.choice(["base", "seed", "outputs", "image", "rotation", "orientations", "bogus"])
            doc[key] = rng.choice(VALUES)
            continue
        target = doc.get(table)
        if isinstance(target, list):
            target = target[0] if target and isinstance(target[0], dict) else None
        if not isinstance(target, dict):
            continue
        keys = {"outputs": ["floatfile", "intfile", "noisefile", "pgmfile", "nxsfile", "cbffile", "pngfile", "sweep",
                            "bogus"],
                "image": ["id", "args", "bogus"], "rotation": ["prefix", "start", "osc", "frames", "args", "bogus"],
                "orientations": ["prefix", "count", "seed", "args", "bogus"]}[table]
        key = rng.choice(keys)
        if rng.random() < 0.15:
            target.pop(key, None)
        else:
            target[key] = rng.choice(VALUES)
    return doc


def test_batch_manifests(folder):
    initial = set(os.listdir(folder)) | {"m.toml"}
    for case in range(RUNS):
        rng = random.Random(SEED0 * 7919 + case)
        doc = _manifest(rng)
        try:
            text = _toml(doc)
        except TypeError:
            continue
        (folder / "m.toml").write_text(text)
        command = rng.choice(["run", "run", "status", "slurm-script"])
        out = rng.choice(["frames", "frames", ".", "P1.hkl", "m.toml", "frames/sub"])
        argv = ["batch", command, "m.toml", "--out", out]
        if command == "run":
            argv += ["--engine", "serial"] if rng.random() < 0.7 else ["--shard", rng.choice(["0/1", "1/2", "2/1", "x"])]
            if rng.random() < 0.3:
                argv += ["--log", rng.choice(["log.txt", "m.toml", "P1.hkl", "-", "frames"])]
        elif command == "slurm-script":
            argv += ["--array", str(rng.choice([1, 2, 0, -1]))]
            if rng.random() < 0.5:
                argv += [rng.choice(["--job-name", "--mem", "--time", "--partition"]), rng.choice(["x", "a\nb", "", "8G"])]
        code, output = _invoke(folder, argv)
        # what this case wrote goes, so that the next case's outputs are new files, not its inputs
        for name in set(os.listdir(folder)) - initial:
            path = folder / name
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


# ------------------------------------------------------------------ refine, show, compare

IMAGES = ["noiseimage.img", "intimage.img", "floatimage.bin", "x.cbf", "x.nxs", "x.png", "image.pgm", "nan.bin",
          "empty.bin", "huge.pgm", "big_header.img", "noiseimage_short.img", "noiseimage_flip.img", "x_short.cbf",
          "x_flip.cbf", "x_short.nxs", "x_flip.nxs", "x_short.png", "x_flip.png", "image_short.pgm",
          "floatimage_short.bin", "P1.hkl", "missing.img", ".", "/dev/null"]
PARAMETERS = ["distance", "Xbeam", "Ybeam", "lambda", "Na", "Nb", "Nc", "rotx", "roty", "rotz", "a", "b", "c",
              "alpha", "beta", "gamma", "fluence", "mosaic", "bogus", "", " "]


def test_refine(folder):
    for case in range(max(4, RUNS // 3)):
        rng = random.Random(SEED0 * 7919 + 100 + case)
        flags = GOOD.split()
        for _ in range(rng.randint(0, 2)):
            i = rng.randrange(1, len(flags))
            flags[i] = str(rng.choice(VALUES[:20]))
        names = ",".join(rng.sample(PARAMETERS, rng.randint(0, 3)))
        argv = ["refine", rng.choice(IMAGES[:12]), "--flags", " ".join(flags), "--refine", names,
                "--max-evaluations", str(rng.choice([1, 3, 0, -1]))]
        if rng.random() < 0.4:
            argv += ["--json", rng.choice(["fit.json", "noiseimage.img", "P1.hkl", "frames/", ""])]
        _invoke(folder, argv)


def test_show_and_compare(folder):
    for case in range(RUNS):
        rng = random.Random(SEED0 * 7919 + 200 + case)
        if rng.random() < 0.4:
            argv = ["show", rng.choice(IMAGES)]
        else:
            argv = ["compare", rng.choice(IMAGES), rng.choice(IMAGES)]
            for opt in ("--min-corr", "--max-rel", "--radius"):
                if rng.random() < 0.3:
                    argv += [opt, str(rng.choice(VALUES[:14]))]
        if rng.random() < 0.3:
            argv += ["--size", rng.choice(["8x8", "0x8", "x", "4x16", "-8x-8", "99999x99999"])]
        if rng.random() < 0.3:
            argv += ["--png", rng.choice(["p.png", "noiseimage.img", "", "frames/", "x.nxs"])]
        _invoke(folder, argv)


def test_format_outputs(folder):
    for case in range(RUNS):
        rng = random.Random(SEED0 * 7919 + 300 + case)
        argv = ["simulate"] + GOOD.split() + ["-seed", "1"]
        for flag in ("-nxsfile", "-cbffile", "-pngfile", "-floatfile", "-intfile", "-noisefile", "-pgmfile"):
            if rng.random() < 0.4:
                argv += [flag, rng.choice(["o.nxs", "o.cbf", "o.png", "o.bin", "P1.hkl", "", "frames/", "/dev/null",
                                           "o.nxs", "noiseimage.img"])]
        if rng.random() < 0.3:
            argv += ["-nxs_image", rng.choice(["auto", "float", "int", "noise", "bogus", ""])]
        if rng.random() < 0.2:
            argv += [rng.choice(["-curved_det", "-nonoise", "-nopgm", "-roi", "-mask"]),
                     rng.choice(["1", "mask.img", "0", "-1"])]
        if rng.random() < 0.2:
            argv += ["-detector_thick", rng.choice(["0", "100", "-1", "nan"])]
        _invoke(folder, argv)


def test_example_command(folder):
    for case in range(3):
        rng = random.Random(SEED0 * 7919 + 400 + case)
        _invoke(folder, ["example", "--out", rng.choice([".", "new", "P1.hkl", "new/deeper"])])


# ------------------------------------------------------------------ the API

def _api_calls(rng, nb):
    p = nb.params(GOOD.split())
    bad = rng.choice(VALUES + [None, object(), np.zeros(3), np.full((8, 8), np.nan), "P1.hkl"])
    names = rng.sample(PARAMETERS, rng.randint(0, 3))
    return rng.choice([
        lambda: nb.params(bad),
        lambda: nb.params(GOOD.split(), **{rng.choice(["distance", "Na", "fpixels", "bogus", "detector"]): bad}),
        lambda: nb.run_simulation(bad),
        lambda: nb.run_simulation(p, threads=bad),
        lambda: nb.run_simulation(p, kernel=bad),
        lambda: nb.write_outputs(bad),
        lambda: nb.log_run_summary(bad),
        lambda: nb.save_fdump(bad),
        lambda: nb.derivatives(p, names or bad),
        lambda: nb.derivatives(p, ["distance"], method=bad),
        lambda: nb.derivatives(p, ["distance"], steps={rng.choice(["distance", "Na", "bogus"]): bad}),
        lambda: nb.derivatives(bad, ["distance"]),
        lambda: nb.refine(p, rng.choice(IMAGES[:12] + [bad]), names or ["distance"]),
        lambda: nb.refine(p, np.ones((8, 8)), names or [bad]),
        lambda: nb.refine(p, np.ones((8, 8)), ["distance"], max_nfev=bad),
        lambda: nb.refine(p, np.ones((8, 8)), ["distance"], max_chi2=bad),
        lambda: nb.batch(bad, out="frames"),
        lambda: nb.batch([GOOD], out="frames", engine=bad),
        lambda: nb.batch([GOOD], out="frames", engine="serial", shard=bad),
        lambda: nb.batch([GOOD], out="frames", workers=bad, engine="serial"),
        lambda: nb.batch([GOOD], out=bad, engine="serial"),
        lambda: list(nb.batch([bad], out=None, engine="serial")),
    ])


def test_api(folder):
    import nbnumba.api as nb
    from nbnumba.errors import NanoBraggError
    for case in range(RUNS * 2):
        rng = random.Random(SEED0 * 7919 + 500 + case)
        call = _api_calls(rng, nb)
        before = _snapshot(folder)
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(HANG_S)
        exc_text, refused = "", False
        try:
            call()
        except NanoBraggError:
            refused = True
        except _Hang:
            TALLY.hangs += 1
            pytest.fail("hang in API case %d" % case)
        except Exception as e:      # noqa: BLE001 - what this test looks for
            exc_text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        _check(folder, before, "NanoBraggError" if refused else 0, "", exc_text, allowed_new=not refused,
               written=DEFAULT_OUTPUTS)
        shutil.rmtree(folder / "frames", ignore_errors=True)
        for name in ("floatimage.bin", "intimage.img", "noiseimage.img", "image.pgm", "Fdump.bin"):
            if name not in before and os.path.exists(name):
                os.unlink(name)


def test_zz_totals():
    """The totals of this module's cases (printed with -s)."""
    print("\nhostile: %d cases, %d tracebacks, %d inputs damaged, %d hangs, %d refusals that left files"
          % (TALLY.cases, TALLY.tracebacks, TALLY.damaged, TALLY.hangs, TALLY.left))
    assert TALLY.tracebacks == TALLY.damaged == TALLY.hangs == TALLY.left == 0


@pytest.mark.parametrize("value", ["€", "1e2€", "\udcff", "１２", "nan€"])
def test_simulate_values_beyond_latin1(folder, value):
    """C's argv is bytes: a value of any characters is read as C reads their UTF-8 bytes, never a traceback."""
    code, output = _invoke(folder, ["simulate"] + GOOD.split() + ["-distance", value, "-nonoise", "-nopgm"])
    assert code in (0, 9)


@pytest.mark.parametrize("command", ["run", "status", "slurm-script"])
def test_a_fifo_nobody_writes_to_is_no_manifest(folder, command):
    """A FIFO as the manifest is read without waiting for a writer: empty, so refused."""
    os.mkfifo(folder / "m.toml")
    argv = ["batch", command, "m.toml", "--out", "frames"] + (["--array", "2"] if command == "slurm-script" else [])
    code, output = _invoke(folder, argv)
    assert code == 9 and "no image" in output


def test_refine_refuses_a_fifo_without_waiting(folder):
    os.mkfifo(folder / "obs.img")
    code, output = _invoke(folder, ["refine", "obs.img", "--flags", GOOD, "--refine", "distance"])
    assert code == 9 and "not a regular file" in output
