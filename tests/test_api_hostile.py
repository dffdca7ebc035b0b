"""Hostile arguments to every public function of nbnumba.api (batch excepted) and to `nbnumba refine`.

The API: a table of wrong types, ranges and shapes, each a NanoBraggError (exit code 9) whose message names
the argument; then a seeded fuzz that draws each argument from a pool of good and bad values: a call with
a bad value must raise NanoBraggError (never IndexError, TypeError, ... or a hang), a call with only good
values must succeed, each within a bounded time. The command line: each bad request is exit 9 with one
line on stderr and no traceback, every file in the folder unchanged (bytes and mtime) and no --json left.
"""
import contextlib
import math
import os
import random
import signal
import time
from types import SimpleNamespace

import numpy as np
import pytest

import nbnumba.api as nb
from nbnumba.errors import NanoBraggError

TINY = "-cell 100 100 100 90 90 90 -default_F 100 -N 3 -lambda 6.2 -distance 100 -detpixels 8 -pixel 0.1".split()
BRIGHT = TINY + ["-fluence", "1e33"]
CALL_LIMIT_S = 30.0          # a call on an 8x8 model takes milliseconds once compiled; this is a hang


@contextlib.contextmanager
def bounded(seconds=CALL_LIMIT_S):
    """Fails a call that runs longer than `seconds` (an alarm stops a Python-level hang as well)."""
    def stop(signum, frame):
        raise TimeoutError("call ran past %g s" % (2 * seconds))
    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(max(1, int(2 * seconds)))
    t0 = time.monotonic()
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        elapsed = time.monotonic() - t0
        if elapsed >= seconds:          # a call that ended (returned or raised) too late fails too
            raise AssertionError("call took %.1f s (limit %g s)" % (elapsed, seconds))


def _smv_bytes(fpixels, spixels, counts):
    header = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
              "SIZE1=%d;\nSIZE2=%d;\nADC_OFFSET=40;\n}\n" % (fpixels, spixels)).encode()
    return header.ljust(512, b" ") + np.asarray(counts, "<u2").tobytes()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Good objects for the calls (compiled once) and files good and bad for refine's `observed`."""
    d = tmp_path_factory.mktemp("hostile")
    p = nb.params(BRIGHT)
    result = nb.run_simulation(p)
    image = nb.derivatives(p, ["distance"]).image           # float64 (8, 8): a noiseless observation
    (d / "obs.bin").write_bytes(image.astype("<f4").tobytes())
    (d / "obs.img").write_bytes(_smv_bytes(8, 8, np.round(image).astype(int) + 40))
    (d / "nine.img").write_bytes(_smv_bytes(9, 9, np.full(81, 50)))
    (d / "truncated.img").write_bytes(_smv_bytes(8, 8, np.full(64, 50))[:600])
    nan = image.astype("<f4")
    nan[3, 5] = np.nan
    (d / "nan.bin").write_bytes(nan.tobytes())
    (d / "short.bin").write_bytes(b"\0" * 100)
    (d / "text.txt").write_text("not an image\n")
    (d / "folder").mkdir()
    nb.refine(p, image, ["distance"], max_nfev=2)           # scipy imported, the refine path compiled
    bad_field = nb.params(BRIGHT)
    bad_field.distance = "x"
    return SimpleNamespace(dir=d, p=p, result=result, plan=result.plan, image=image, bad_field=bad_field)


def test_a_call_past_its_limit_fails():
    """The time bound itself: a call that runs too long is a failure, not a pass."""
    with pytest.raises((TimeoutError, AssertionError)):
        with bounded(0.5):
            time.sleep(1.2)


# ---------------------------------------------------------------- the table: each bad argument named

def _with(w, **kw):
    base = dict(params=w.p, observed=w.image, names=["distance"])
    base.update(kw)
    return base


CASES = [
    # params
    ("params argv an int", lambda w: nb.params(5), "argv must be a list of strings, not int"),
    ("params argv a dict", lambda w: nb.params({"-N": 3}), "argv must be a list of strings, not dict"),
    ("params argv a string", lambda w: nb.params("-N 3"), "argv must be a list of strings, not the string"),
    ("params argv bytes", lambda w: nb.params(b"-N 3"), "argv must be a list of strings"),
    ("params argv None item", lambda w: nb.params(["-N", None]), "argv[1] must be a string or a number, not None"),
    ("params argv bytes item", lambda w: nb.params([b"-N"]), "argv[0] must be a string or a number"),
    ("params argv bool item", lambda w: nb.params(["-N", True]), "argv[1] must be a string or a number"),
    ("params argv list item", lambda w: nb.params([["-N", "3"]]), "argv[0] must be a string or a number"),
    ("params argv bad number", lambda w: nb.params(["-N", "x"]), "-N: 'x' is not a number"),
    ("params keyword type", lambda w: nb.params(TINY, distance="x"), "distance must be a number"),
    ("params keyword unknown", lambda w: nb.params(TINY, distnce=0.1), "unknown parameter 'distnce'"),
    ("params group not a mapping", lambda w: nb.params(TINY, detector=5), "detector must be a mapping"),
    # run_simulation
    ("run_simulation a string", lambda w: nb.run_simulation("x"), "p must be a configuration"),
    ("run_simulation None", lambda w: nb.run_simulation(None), "p must be a configuration"),
    ("run_simulation threads -1", lambda w: nb.run_simulation(w.p, threads=-1), "threads must be >= 0"),
    ("run_simulation threads 'a'", lambda w: nb.run_simulation(w.p, threads="a"), "threads must be a number"),
    ("run_simulation threads 1.5", lambda w: nb.run_simulation(w.p, threads=1.5), "threads must be a whole number"),
    ("run_simulation kernel", lambda w: nb.run_simulation(w.p, kernel=5), "kernel must be one of"),
    ("run_simulation device", lambda w: nb.run_simulation(w.p, device="tpu"), "device must be one of"),
    ("run_simulation log", lambda w: nb.run_simulation(w.p, log=5), "log must be a function"),
    ("run_simulation a field assigned a string", lambda w: nb.run_simulation(w.bad_field),
     "distance must be a number, not 'x'"),
    # write_outputs, log_run_summary, save_fdump
    ("write_outputs not a result", lambda w: nb.write_outputs(5), "result must be what run_simulation returns"),
    ("write_outputs a configuration", lambda w: nb.write_outputs(w.p), "result must be what run_simulation returns"),
    ("write_outputs log", lambda w: nb.write_outputs(w.result, log="x"), "log must be a function"),
    ("write_outputs noise_job", lambda w: nb.write_outputs(w.result, noise_job=5), "noise_job must be None"),
    ("write_outputs outputs", lambda w: nb.write_outputs(w.result, outputs="x"), "outputs must be None"),
    ("log_run_summary not a result", lambda w: nb.log_run_summary(None), "result must be what run_simulation"),
    ("log_run_summary progress_shown", lambda w: nb.log_run_summary(w.result, progress_shown="yes"),
     "progress_shown must be True or False"),
    ("save_fdump not a plan", lambda w: nb.save_fdump(5), "plan must be a Plan"),
    ("save_fdump a result", lambda w: nb.save_fdump(w.result), "plan must be a Plan"),
    ("save_fdump outputs", lambda w: nb.save_fdump(w.plan, outputs=3), "outputs must be None"),
    # derivatives
    ("derivatives params None", lambda w: nb.derivatives(None, ["distance"]), "params must be a configuration"),
    ("derivatives wrt empty", lambda w: nb.derivatives(w.p, []), "wrt: name at least one parameter"),
    ("derivatives wrt a string", lambda w: nb.derivatives(w.p, "distance"),
     "wrt must be a list of parameter names, not the string 'distance'"),
    ("derivatives wrt None", lambda w: nb.derivatives(w.p, None), "wrt must be a list of parameter names"),
    ("derivatives wrt an int", lambda w: nb.derivatives(w.p, 5), "wrt must be a list of parameter names"),
    ("derivatives wrt unknown", lambda w: nb.derivatives(w.p, ["spin"]), "wrt: cannot differentiate with respect to 'spin'"),
    ("derivatives wrt not a name", lambda w: nb.derivatives(w.p, [5]), "wrt: cannot differentiate with respect to 5"),
    ("derivatives wrt twice", lambda w: nb.derivatives(w.p, ["Na", "Na"]), "wrt: a parameter is named twice"),
    ("derivatives method", lambda w: nb.derivatives(w.p, ["Na"], method="bogus"), "method must be 'analytic' or 'central'"),
    ("derivatives threads", lambda w: nb.derivatives(w.p, ["Na"], threads=-1), "threads must be >= 0"),
    ("derivatives threads type", lambda w: nb.derivatives(w.p, ["Na"], threads="a"), "threads must be a number"),
    ("derivatives richardson", lambda w: nb.derivatives(w.p, ["Na"], "central", richardson="x"),
     "richardson must be True or False"),
    ("derivatives step 0", lambda w: nb.derivatives(w.p, ["distance"], "central", steps={"distance": 0}),
     "steps['distance'] must be a positive finite number of mm, not 0.0"),
    ("derivatives step 0 analytic", lambda w: nb.derivatives(w.p, ["distance"], steps={"distance": 0}),
     "steps['distance'] must be a positive finite number"),
    ("derivatives step negative", lambda w: nb.derivatives(w.p, ["distance"], "central", steps={"distance": -1e-3}),
     "steps['distance'] must be a positive finite number"),
    ("derivatives step NaN", lambda w: nb.derivatives(w.p, ["distance"], "central", steps={"distance": math.nan}),
     "steps['distance'] must be a positive finite number"),
    ("derivatives step inf", lambda w: nb.derivatives(w.p, ["distance"], "central", steps={"distance": math.inf}),
     "steps['distance'] must be a positive finite number"),
    ("derivatives step not a number", lambda w: nb.derivatives(w.p, ["distance"], "central", steps={"distance": "x"}),
     "steps['distance'] must be a number"),
    ("derivatives step too small", lambda w: nb.derivatives(w.p, ["distance"], "central", steps={"distance": 1e-300}),
     "steps['distance'] = 1e-300 is too small"),
    ("derivatives step unknown key", lambda w: nb.derivatives(w.p, ["distance"], "central", steps={"zzz": 1}),
     "steps: 'zzz' is not one of the parameters differentiated"),
    ("derivatives step key not in wrt", lambda w: nb.derivatives(w.p, ["distance"], "central", steps={"Na": 1e-3}),
     "steps: 'Na' is not one of the parameters differentiated"),
    ("derivatives steps a list", lambda w: nb.derivatives(w.p, ["distance"], steps=[1e-3]), "steps must be a mapping"),
    ("derivatives fluence step 1", lambda w: nb.derivatives(w.p, ["fluence"], "central", steps={"fluence": 1.0}),
     "steps['fluence'] must be below 1"),
    ("derivatives a model not finite", lambda w: nb.derivatives(nb.params(TINY + ["-default_F", "1e200"]), ["Na"]),
     "NaN or infinite"),
    # refine
    ("refine names empty", lambda w: nb.refine(w.p, w.image, []), "names: name at least one parameter"),
    ("refine names unknown", lambda w: nb.refine(w.p, w.image, ["spin"]), "names: cannot differentiate with respect to 'spin'"),
    ("refine names twice", lambda w: nb.refine(w.p, w.image, ["Na", "Na"]), "names: a parameter is named twice"),
    ("refine names mosaic", lambda w: nb.refine(w.p, w.image, ["mosaic"]), "mosaic: no analytic derivative"),
    ("refine names a string", lambda w: nb.refine(w.p, w.image, "Na"), "names must be a list of parameter names"),
    ("refine params", lambda w: nb.refine("p", w.image, ["Na"]), "params must be a configuration"),
    ("refine max_nfev 0", lambda w: nb.refine(w.p, w.image, ["Na"], max_nfev=0), "max_nfev must be a whole number >= 1"),
    ("refine max_nfev float", lambda w: nb.refine(w.p, w.image, ["Na"], max_nfev=2.5), "max_nfev must be a whole number"),
    ("refine max_nfev str", lambda w: nb.refine(w.p, w.image, ["Na"], max_nfev="a"), "max_nfev must be a whole number"),
    ("refine max_chi2 0", lambda w: nb.refine(w.p, w.image, ["Na"], max_chi2=0), "max_chi2 must be a number > 0"),
    ("refine max_chi2 NaN", lambda w: nb.refine(w.p, w.image, ["Na"], max_chi2=math.nan), "max_chi2 must be a number > 0"),
    ("refine threads", lambda w: nb.refine(w.p, w.image, ["Na"], threads=-2), "threads must be >= 0"),
    ("refine observed wrong shape", lambda w: nb.refine(w.p, w.image[:4], ["Na"]),
     "observed has shape (4, 8); the model's image is (8, 8)"),
    ("refine observed transposed flat", lambda w: nb.refine(w.p, w.image.reshape(4, 16), ["Na"]), "observed has shape (4, 16)"),
    ("refine observed complex", lambda w: nb.refine(w.p, w.image.astype(complex), ["Na"]), "dtype complex128"),
    ("refine observed bool", lambda w: nb.refine(w.p, w.image > 1, ["Na"]), "dtype bool"),
    ("refine observed None", lambda w: nb.refine(w.p, None, ["Na"]), "observed must be a file name or an array"),
    ("refine observed ragged", lambda w: nb.refine(w.p, [[1.0], [1.0, 2.0]], ["Na"]), "observed must be a file name or an array"),
    ("refine observed NaN", lambda w: nb.refine(w.p, np.where(np.arange(64).reshape(8, 8) == 21, np.nan, w.image), ["Na"]),
     "observed: 1 of the pixels fitted are NaN or infinite (the first at fast 5, slow 2)"),
    ("refine observed inf", lambda w: nb.refine(w.p, np.full(64, np.inf), ["Na"]), "observed: 64 of the pixels fitted are NaN"),
    ("refine observed missing", lambda w: nb.refine(w.p, str(w.dir / "missing.img"), ["Na"]), "missing.img: No such file"),
    ("refine observed a folder", lambda w: nb.refine(w.p, w.dir / "folder", ["Na"]), "folder: Is a directory"),
    ("refine observed short", lambda w: nb.refine(w.p, w.dir / "short.bin", ["Na"]),
     "short.bin: neither an SMV image nor a 8x8 float image (100 bytes)"),
    ("refine observed text", lambda w: nb.refine(w.p, w.dir / "text.txt", ["Na"]), "neither an SMV image nor"),
    ("refine observed SMV of another size", lambda w: nb.refine(w.p, w.dir / "nine.img", ["Na"]),
     "nine.img: 9x9 pixels, the model has 8x8"),
    ("refine observed truncated SMV", lambda w: nb.refine(w.p, w.dir / "truncated.img", ["Na"]), "truncated.img: truncated"),
    ("refine observed float file with NaN", lambda w: nb.refine(w.p, w.dir / "nan.bin", ["Na"]),
     "nan.bin: 1 of the pixels fitted are NaN or infinite"),
    ("refine a model not finite at the start", lambda w: nb.refine(nb.params(BRIGHT + ["-default_F", "1e200"]), w.image, ["Na"]),
     "NaN or infinite at the start (Na 3 cells)"),
]


@pytest.mark.parametrize("call,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_bad_argument_is_a_nanobragg_error_naming_it(world, call, message):
    with bounded(), pytest.raises(NanoBraggError) as err:
        call(world)
    assert message in str(err.value)
    assert err.value.exit_code == 9


def test_good_calls_succeed(world, tmp_path, monkeypatch):
    """What the table refuses is refused for the argument, not for the function: the same calls with good
    values run (arrays of the model's shape flat or not, int photons, paths as str or Path)."""
    monkeypatch.chdir(tmp_path)
    w = world
    assert nb.params(tuple(TINY) + ("-N", 4)).Na == 4.0
    assert nb.run_simulation(w.p, log=None, threads=1, kernel="fast", device="cpu").image.shape == (8, 8)
    nb.write_outputs(w.result, log=None)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["floatimage.bin", "image.pgm", "intimage.img",
                                                          "noiseimage.img"]
    nb.log_run_summary(w.result, log=None, progress_shown=True)
    nb.save_fdump(w.plan, log=None)
    d = nb.derivatives(w.p, ("distance", "Na"), "central", threads=None, richardson=np.bool_(True),
                       steps={"distance": 2e-3})
    assert set(d.d) == {"distance", "Na"} and np.all(np.isfinite(d.d["distance"]))
    for observed in (w.image, w.image.reshape(-1), np.round(w.image).astype(np.int32), w.dir / "obs.bin",
                     str(w.dir / "obs.img")):
        r = nb.refine(w.p, observed, ["distance"], max_nfev=np.int64(3), max_chi2=math.inf)
        assert math.isfinite(r.refined["distance"])


# ---------------------------------------------------------------- the seeded fuzz

class Bad:
    """A value an argument must refuse."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return "Bad(%r)" % (self.value,)


def _pools(w):
    """{function: (callable, {argument: [good values..., Bad(value)...]})}; lambdas build fresh values."""
    no_cell = nb.Params()
    nan_image = w.image.copy()
    nan_image[0, 0] = np.nan
    return {
        "params": (nb.params, {
            "argv": [None, [], list(TINY), tuple(TINY), TINY + ["-N", 4], TINY + ["-distance", 100.5]]
            + [Bad(v) for v in (5, 2.5, "-N 3", b"-N", {"-N": 3}, {1, 2}, [None], [b"x"], [object()], [True],
                                [["-N"]], ["-N", "x"], TINY + [None])],
            "keywords": [{}, {"distance": 0.1}, {"N": 4}, {"detector": {"fpixels": 8}}, {"beam_vector": (0, 1, 0)}]
            + [Bad(v) for v in ({"distance": "x"}, {"distance": None}, {"nope": 1}, {"detector": 5},
                                {"detector": {"nope": 1}}, {"N": [1]}, {"threads": -1}, {"beam_vector": (1, 2)},
                                {"fpixels": 2.5}, {"maskimage": "x"}, {"kernel": None}, {"hklfilename": 3})],
        }),
        "run_simulation": (nb.run_simulation, {
            "p": [w.p] + [Bad(v) for v in (None, "x", 5, no_cell, w.result, w.bad_field)],
            "log": [None, print] + [Bad(v) for v in (5, "x")],
            "threads": [None, 0, 1, 2, np.int64(1)] + [Bad(v) for v in (-1, "a", 1.5, True, [1])],
            "kernel": [None, "fast"] + [Bad(v) for v in ("turbo", 5, "")],
            "device": [None, "cpu"] + [Bad(v) for v in ("tpu", 5, 3.0)],
        }),
        "write_outputs": (nb.write_outputs, {
            "result": [w.result] + [Bad(v) for v in (None, 5, w.p, w.plan, w.image)],
            "log": [None, lambda line: None] + [Bad(v) for v in (5, "x")],
            "noise_job": [None] + [Bad(v) for v in (5, "x", w.image)],
            "outputs": [None] + [Bad(v) for v in (5, "x", [])],
        }),
        "log_run_summary": (nb.log_run_summary, {
            "result": [w.result] + [Bad(v) for v in (None, 5, w.p, w.plan)],
            "log": [None, lambda line: None] + [Bad(v) for v in (5, "x")],
            "progress_shown": [False, True, 0] + [Bad(v) for v in ("x", None, [1], 0.5)],
        }),
        "save_fdump": (nb.save_fdump, {
            "plan": [w.plan] + [Bad(v) for v in (None, 5, w.p, w.result)],
            "log": [None, lambda line: None] + [Bad(v) for v in (5,)],
            "outputs": [None] + [Bad(v) for v in (5, "x")],
        }),
        "derivatives": (nb.derivatives, {
            "params": [w.p] + [Bad(v) for v in (None, "x", 5, no_cell, w.bad_field, w.result)],
            "wrt": [["distance"], ["distance", "Na"], ("distance", "rotx")]
            + [Bad(v) for v in ([], "distance", None, 5, ["spin"], ["distance", "distance"], [5], [None], [["Na"]])],
            "method": ["analytic", "central"] + [Bad(v) for v in ("bogus", 5, None, "")],
            "threads": [0, 1, None] + [Bad(v) for v in (-1, "a", 2.5, True)],
            "richardson": [False, True, np.bool_(False)] + [Bad(v) for v in ("x", None, 1, [True])],
            "steps": [None, {}, {"distance": 1e-3}]
            + [Bad(v) for v in ({"distance": 0}, {"distance": -1.0}, {"distance": math.nan}, {"distance": math.inf},
                                {"distance": "x"}, {"distance": True}, {"zzz": 1.0}, {"lambda": 1e-6},
                                {"distance": 1e-300}, {"distance": 200.0}, 5, [1e-3], "distance")],
        }),
        "refine": (nb.refine, {
            "params": [w.p] + [Bad(v) for v in (None, "x", no_cell, w.bad_field)],
            "observed": [w.image, w.image.reshape(-1), np.round(w.image).astype(np.uint16), w.dir / "obs.bin",
                         str(w.dir / "obs.img")]
            + [Bad(v) for v in (w.image[:4], w.image.astype(complex), w.image.astype(object), nan_image,
                                np.full((8, 8), np.inf), np.zeros(0), None, 5, [1.0, 2.0], "missing.img",
                                w.dir / "folder", w.dir / "short.bin", w.dir / "nine.img", w.dir / "nan.bin",
                                w.dir / "truncated.img", w.dir / "text.txt", np.array(["a"] * 64))],
            "names": [["distance"], ["Na"], ["distance", "Na"]]
            + [Bad(v) for v in ([], ["x"], ["Na", "Na"], ["mosaic"], "Na", None, 5, [3])],
            "max_nfev": [1, 3, np.int64(2)] + [Bad(v) for v in (0, -1, 2.5, "a", True, None)],
            "max_chi2": [3.0, 1e9, math.inf] + [Bad(v) for v in (0, -1.0, math.nan, "x", None, True)],
            "threads": [0, 1] + [Bad(v) for v in (-1, "a")],
        }),
    }


FUZZ_RUNS = 40       # per function


@pytest.mark.parametrize("function", ["params", "run_simulation", "write_outputs", "log_run_summary", "save_fdump",
                                      "derivatives", "refine"])
def test_seeded_fuzz_only_nanobragg_errors(world, function, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    call, pools = _pools(world)[function]
    rng = random.Random("hostile-%s" % function)
    before = repr(world.p)
    counts = {"good": 0, "bad": 0}
    for run in range(FUZZ_RUNS):
        chosen = {}
        for arg, pool in pools.items():
            chosen[arg] = rng.choice([v for v in pool if not isinstance(v, Bad)])
        # one bad value in three cases of four, none in the fourth (the good path must keep working)
        if run % 4:
            arg = rng.choice(sorted(a for a, pool in pools.items() if any(isinstance(v, Bad) for v in pool)))
            chosen[arg] = rng.choice([v for v in pools[arg] if isinstance(v, Bad)])
        is_bad = any(isinstance(v, Bad) for v in chosen.values())
        args = {a: (v.value if isinstance(v, Bad) else v) for a, v in chosen.items()}
        if function == "params":
            args = dict(argv=args["argv"], **args["keywords"])
        try:
            with bounded():
                call(**args)
        except NanoBraggError as e:
            assert is_bad, "good arguments refused: %r: %s" % (chosen, e)
            assert e.exit_code == 9 and str(e) and "\n" not in str(e)
        else:
            assert not is_bad, "bad arguments taken: %r" % (chosen,)
        counts["bad" if is_bad else "good"] += 1
    assert counts["good"] >= FUZZ_RUNS // 5 and counts["bad"] >= FUZZ_RUNS // 2
    assert repr(world.p) == before          # no call changed the configuration it was given


# ---------------------------------------------------------------- nbnumba refine, in process

@pytest.fixture
def folder(world, tmp_path, monkeypatch):
    """A working folder with the observed images and an input file for each of --flags' file options."""
    monkeypatch.chdir(tmp_path)
    for name in ("obs.bin", "obs.img", "nine.img", "nan.bin", "short.bin"):
        (tmp_path / name).write_bytes((world.dir / name).read_bytes())
    (tmp_path / "mask.img").write_bytes(_smv_bytes(8, 8, np.ones(64, int)))
    (tmp_path / "header.img").write_bytes((world.dir / "obs.img").read_bytes())
    for name in ("P1.hkl", "A.mat", "sources.txt", "water.stol"):
        (tmp_path / name).write_text("1 2 3\n")
    (tmp_path / "sub").mkdir()
    os.symlink("obs.img", tmp_path / "link.img")
    return tmp_path


def _snapshot(folder):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()}


def _refine_cli(args):
    from click.testing import CliRunner

    from nbnumba.cli.refine import refine
    with bounded():
        return CliRunner().invoke(refine, [str(a) for a in args])


FLAGS = " ".join(BRIGHT)
CLI_CASES = [
    ("empty --refine", ["obs.img", "--flags", FLAGS, "--refine", ""], "--refine: name at least one parameter"),
    ("--refine of commas", ["obs.img", "--flags", FLAGS, "--refine", ",,"], "--refine: name at least one parameter"),
    ("unknown name", ["obs.img", "--flags", FLAGS, "--refine", "distance,dist"],
     "--refine: cannot differentiate with respect to 'dist'; choose from distance"),
    ("mosaic", ["obs.img", "--flags", FLAGS, "--refine", "mosaic"], "mosaic: no analytic derivative"),
    ("a name twice", ["obs.img", "--flags", FLAGS, "--refine", "Na,Na"], "a parameter is named twice"),
    ("image with NaN", ["nan.bin", "--flags", FLAGS, "--refine", "distance"], "nan.bin: 1 of the pixels fitted are NaN"),
    ("image of the wrong size", ["short.bin", "--flags", FLAGS, "--refine", "distance"],
     "short.bin: neither an SMV image nor a 8x8 float image"),
    ("SMV of another shape", ["nine.img", "--flags", FLAGS, "--refine", "distance"], "nine.img: 9x9 pixels"),
    ("missing image", ["none.img", "--flags", FLAGS, "--refine", "distance"], "none.img: No such file"),
    ("image a folder", ["sub", "--flags", FLAGS, "--refine", "distance"], "sub: is a directory"),
    ("model not finite", ["obs.img", "--flags", FLAGS + " -default_F 1e200", "--refine", "distance"],
     "NaN or infinite at the start"),
    ("flags unbalanced quote", ["obs.img", "--flags", FLAGS + " '", "--refine", "distance"], "--flags: No closing quotation"),
    ("flags empty", ["obs.img", "--flags", " ", "--refine", "distance"], "--flags: give the nanoBragg flags"),
    ("flags bad number", ["obs.img", "--flags", FLAGS + " -N x", "--refine", "distance"], "-N: 'x' is not a number"),
    ("flags simulate refuses", ["obs.img", "--flags", FLAGS + " -distance -5", "--refine", "distance"], "-distance -5"),
    ("flags derivatives refuse", ["obs.img", "--flags", FLAGS + " -round_xtal", "--refine", "distance"],
     "parallelepiped crystal"),
    ("--max-chi2 NaN", ["obs.img", "--flags", FLAGS, "--refine", "distance", "--max-chi2", "nan"], "--max-chi2 must be"),
    ("--json the image", ["obs.img", "--flags", FLAGS, "--refine", "distance", "--json", "obs.img"],
     "--json obs.img would overwrite an input file: obs.img (IMAGE)"),
    ("--json the image by another path", ["obs.img", "--flags", FLAGS, "--refine", "distance", "--json", "sub/../obs.img"],
     "would overwrite an input file: obs.img (IMAGE)"),
    ("--json a link to the image", ["obs.img", "--flags", FLAGS, "--refine", "distance", "--json", "link.img"],
     "would overwrite an input file"),
    ("--json the image read through a link", ["link.img", "--flags", FLAGS, "--refine", "distance", "--json", "obs.img"],
     "would overwrite an input file"),
    ("--json a float image", ["obs.bin", "--flags", FLAGS, "--refine", "distance", "--json", "obs.bin"],
     "would overwrite an input file: obs.bin (IMAGE)"),
    ("--json the -hkl file", ["obs.img", "--flags", FLAGS + " -hkl P1.hkl", "--refine", "distance", "--json", "P1.hkl"],
     "(-hkl)"),
    ("--json the -mat file", ["obs.img", "--flags", FLAGS + " -mat A.mat", "--refine", "distance", "--json", "A.mat"],
     "(-mat)"),
    ("--json the -mask file", ["obs.img", "--flags", FLAGS + " -mask mask.img", "--refine", "distance", "--json",
                               "mask.img"], "(-mask)"),
    ("--json the -img file", ["obs.img", "--flags", FLAGS + " -img header.img", "--refine", "distance", "--json",
                              "header.img"], "(-img)"),
    ("--json the -sourcefile", ["obs.img", "--flags", FLAGS + " -sourcefile sources.txt", "--refine", "distance",
                                "--json", "sources.txt"], "(-sourcefile)"),
    ("--json the -stol file", ["obs.img", "--flags", FLAGS + " -stol water.stol", "--refine", "distance", "--json",
                               "water.stol"], "(-stol)"),
    ("--json a folder", ["obs.img", "--flags", FLAGS, "--refine", "distance", "--json", "sub"], "--json sub: cannot write it"),
    ("--json in no folder", ["obs.img", "--flags", FLAGS, "--refine", "distance", "--json", "nowhere/fit.json"],
     "no writable directory"),
    ("--json under a file", ["obs.img", "--flags", FLAGS, "--refine", "distance", "--json", "obs.bin/fit.json"],
     "--json obs.bin/fit.json: cannot write it"),
    ("--json empty", ["obs.img", "--flags", FLAGS, "--refine", "distance", "--json", ""], "--json: give a file name"),
]


@pytest.mark.parametrize("args,message", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_requests_exit_9_with_one_line_and_touch_nothing(folder, args, message):
    before = _snapshot(folder)
    res = _refine_cli(args)
    assert res.exit_code == 9, (res.stdout, res.stderr, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nbnumba refine: error: "), res.stderr
    assert message in lines[0]
    assert "Traceback" not in res.stdout + res.stderr
    assert _snapshot(folder) == before          # every input unchanged, no --json file left


def test_cli_json_over_the_dump_read_is_refused(folder):
    """Without -hkl the model reads Fdump.bin (as nanoBragg does): an input --json must not overwrite."""
    (folder / "Fdump.bin").write_text("1 2 3\n")
    test_cli_bad_requests_exit_9_with_one_line_and_touch_nothing(
        folder, ["obs.img", "--flags", FLAGS, "--refine", "distance", "--json", "Fdump.bin"],
        "--json Fdump.bin would overwrite an input file: Fdump.bin (-dumpfile)")


def test_cli_fits_and_writes_the_json(folder):
    flags = FLAGS.replace("-distance 100", "-distance 101")
    res = _refine_cli(["obs.bin", "--flags", flags, "--refine", "distance", "--json", "fit.json"])
    assert res.exit_code == 0, (res.stdout, res.stderr)
    import json
    assert abs(json.loads((folder / "fit.json").read_text())["refined"]["distance"] - 100.0) < 1e-3


def test_cli_help_lists_what_refine_can_fit():
    from click.testing import CliRunner

    from nbnumba.cli.refine import refine
    from nbnumba.derivatives import PARAMETERS
    res = CliRunner().invoke(refine, ["--help"])
    assert res.exit_code == 0
    listed = res.stdout.split("Parameters (--refine)")[1].split("Options:")[0].split()
    assert [n for n in listed if n in PARAMETERS] == [n for n, v in PARAMETERS.items() if n != "mosaic"]
    assert "mosaic" not in res.stdout
