"""nbnumba batch: manifests, the runner on a real Dask LocalCluster (worker processes over loopback),
resuming after real kills, shards, failures, the sbatch script, and the API's image stream.

The reference for every image is `nbnumba simulate` of its sidecar argv, run in a fresh folder."""
import glob
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nbnumba.batch import job as batch_job
from nbnumba.batch.manifest import build_jobs, random_misset, read_manifest
from nbnumba.errors import NanoBraggError

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ROOT / "golden" / "inputs"

FAST = "-cell 70 80 90 90 90 90 -N 5 -lambda 1 -distance 100 -detpixels 40 -pixel 0.4 -mosaic 0.5 -mosaic_dom 3 -phisteps 2"
# about 0.3 s per image on one core: long enough to kill something in the middle of a run
SLOW = ("-cell 70 80 90 90 90 90 -N 5 -distance 100 -detpixels 64 -pixel 0.2 -mosaic 1 -mosaic_dom 20 "
        "-phisteps 10 -osc 1 -kernel exact")

MIXED = """
base = "%s"
seed = 10
[outputs]
floatfile = "{id}.bin"
intfile = "{id}.int.img"
noisefile = "{id}.img"
pgmfile = "{id}.pgm"
[[image]]
id = "hkl_still"
args = "-hkl P1.hkl -phi 10"
[[image]]
id = "own_seed"
args = "-default_F 50 -seed 77 -kernel exact"
[rotation]
prefix = "rot_"
start = 1.0
osc = 0.5
frames = 3
args = "-default_F 100"
[orientations]
prefix = "ori_"
count = 2
seed = 7
args = "-hkl P1.hkl"
""" % FAST


def nbnumba(*args, cwd=None, check=True, **kw):
    res = subprocess.run([sys.executable, "-m", "nbnumba", *map(str, args)], cwd=cwd, capture_output=True,
                         text=True, timeout=600, **kw)
    if check and res.returncode != 0:
        raise AssertionError("exit %d\n%s\n%s" % (res.returncode, res.stdout, res.stderr))
    return res


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def outputs_of(out_dir):
    """{file name: sha256} of every image file in out_dir (sidecars and errors left out)."""
    return {os.path.basename(f): sha(f) for f in glob.glob(os.path.join(out_dir, "*"))
            if not f.endswith((".json", ".error", ".out"))}


def manifest(folder, text, name="m.toml"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "P1.hkl").write_bytes((INPUTS / "P1.hkl").read_bytes())
    path = folder / name
    path.write_text(text)
    return path


def resimulate(side, where):
    """Runs `nbnumba simulate <sidecar argv>` in a fresh folder; {file name: sha256} of what it wrote."""
    where.mkdir(parents=True)
    nbnumba("simulate", *side["argv"], cwd=where)
    return {name: sha(where / name) for name in os.listdir(where)}


def _live_in_group(pgid):
    """Pids of the processes of process group pgid that still run (zombies left out: where PID 1 does
    not reap orphans they stay listed after they exited)."""
    live = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path("/proc", entry, "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] not in "ZX":
                live.append(int(entry))
    return live


def temporaries(out_dir):
    return [f for f in os.listdir(out_dir) if f.endswith(".tmp")]


# ---------------------------------------------------------------- the manifest

def test_manifest_generators_ids_seeds_and_inputs(tmp_path):
    m = read_manifest(manifest(tmp_path, MIXED))
    ids = [j.id for j in m.jobs]
    assert ids == ["hkl_still", "own_seed", "rot_00001", "rot_00002", "rot_00003", "ori_00001", "ori_00002"]
    by = {j.id: j for j in m.jobs}
    # the seed: manifest seed + index unless the flags set -seed
    assert [j.seed for j in m.jobs] == [10, 77, 12, 13, 14, 15, 16]
    # rotation frames: -phi start + i*osc, -osc osc
    for i in range(3):
        argv = list(by["rot_%05d" % (i + 1)].argv)
        at = argv.index("-phi")
        assert float(argv[at + 1]) == 1.0 + 0.5 * i and argv[argv.index("-osc") + 1] == "0.5"
    # inputs absolute, relative to the manifest's folder; outputs plain names
    argv = list(by["hkl_still"].argv)
    assert argv[argv.index("-hkl") + 1] == str(tmp_path / "P1.hkl")
    assert dict(by["hkl_still"].outputs) == {"floatfile": "hkl_still.bin", "intfile": "hkl_still.int.img",
                                              "noisefile": "hkl_still.img", "pgmfile": "hkl_still.pgm"}
    # orientations from seed + i, reproducibly
    assert read_manifest(tmp_path / "m.toml").jobs == m.jobs
    ori = list(by["ori_00002"].argv)
    at = ori.index("-misset")
    assert tuple(float(v) for v in ori[at + 1:at + 4]) == pytest.approx(random_misset(8), abs=0)


def _rotation(rx, ry, rz):
    cx, sx, cy, sy, cz, sz = (f(math.radians(a)) for a in (rx, ry, rz) for f in (math.cos, math.sin))
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def test_random_orientations_are_uniform():
    """nanoBragg's -misset turns x, then y, then z: the angles must describe rotations spread uniformly,
    whose average matrix vanishes and whose c axes cover the sphere evenly (1/sqrt(n) statistics)."""
    n = 4000
    mats = np.array([_rotation(*random_misset(s)) for s in range(n)])
    assert np.allclose(np.einsum("nij,nkj->nik", mats, mats), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(mats), 1.0)
    assert np.abs(mats.mean(axis=0)).max() < 4 / math.sqrt(n)
    z = mats[:, 2, 2]                        # cos of the tilt of c: uniform on [-1, 1] for a uniform sphere
    counts = np.histogram(z, bins=8, range=(-1, 1))[0]
    assert np.abs(counts - n / 8).max() < 5 * math.sqrt(n / 8)


def test_jsonl_manifest(tmp_path):
    (tmp_path / "P1.hkl").write_bytes((INPUTS / "P1.hkl").read_bytes())
    lines = [json.dumps({"id": "a", "args": FAST + " -hkl P1.hkl"}),
             "", json.dumps({"id": "b", "args": FAST.split() + ["-default_F", "10"]})]
    (tmp_path / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    m = read_manifest(tmp_path / "jobs.jsonl")
    assert [j.id for j in m.jobs] == ["a", "b"]
    assert str(tmp_path / "P1.hkl") in m.jobs[0].argv


BAD = [
    ('base = "-cell 70 80 90 90 90 90\n', "bad TOML", "line 1"),
    ('base = "-default_F 1"\nframes = 3\n[[image]]\nid = "a"\n', "unknown key 'frames'", ""),
    ('base = "%s -default_F 1"\n[[image]]\nid = "a"\n[[image]]\nid = "a"\n' % FAST, "duplicate id 'a'", "[[image]] 2"),
    ('base = "%s -default_F 1"\n[[image]]\nid = "a"\nargs = "-pixel 0"\n' % FAST, "pixel size", "[[image]] 1"),
    ('base = "%s"\n[[image]]\nid = "a"\nargs = "-hkl missing.hkl"\n' % FAST, "no such file", "missing.hkl"),
    ('base = "%s -default_F 1 -floatfile x.bin"\n[[image]]\nid = "a"\n' % FAST, "-floatfile is not allowed", "base"),
    ('base = "%s -default_F 1 -misset random"\n[[image]]\nid = "a"\n' % FAST, "needs -misset_seed", "[[image]] 1"),
    ('base = "%s -default_F 1"\n[[image]]\nid = "../a"\n' % FAST, "cannot name files", "'../a'"),
    ('base = "%s -default_F 1"\n[rotation]\nframes = 2\n' % FAST, "osc is required", "[rotation]"),
    ('base = "%s -default_F 1"\n[outputs]\nfloatfile = "same.bin"\n[[image]]\nid = "a"\n[[image]]\nid = "b"\n'
     % FAST, "must contain {id}", "[outputs]"),
]


@pytest.mark.parametrize("text,problem,where", BAD, ids=[b[1] for b in BAD])
def test_malformed_manifest_is_refused_before_rendering(tmp_path, text, problem, where):
    path = manifest(tmp_path, text)
    res = nbnumba("batch", "run", path, "--out", tmp_path / "out", check=False)
    assert res.returncode == 9, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert problem in lines[0] and where in lines[0] and str(path) in lines[0], lines[0]
    assert not (tmp_path / "out").exists()
    assert res.stdout == ""


def test_build_jobs_refuses_misset_seed_at_the_end():
    with pytest.raises(NanoBraggError, match="must not end the flags"):
        build_jobs({"base": FAST + " -default_F 1 -misset_seed 5", "image": [{"id": "a"}]}, "/", "m")


# ---------------------------------------------------------------- the runner on a real LocalCluster

def test_dask_batch_matches_simulate_and_resumes(tmp_path):
    path = manifest(tmp_path, MIXED)
    out = tmp_path / "out"
    res = nbnumba("batch", "run", path, "--out", out, "--workers", "2")
    assert res.stdout.startswith("7 images: 7 rendered, 0 already done, 0 failed"), res.stdout
    assert res.stderr == ""                 # no bar on a pipe, nothing else
    files = outputs_of(out)
    assert len(files) == 7 * 4 and not temporaries(out)
    for side_path in sorted(out.glob("*.json")):
        side = json.loads(side_path.read_text())
        assert side["nbnumba"] and side["kernel"] in ("fast", "exact") and side["device"] == "cpu"
        assert set(side["statistics"]) >= {"max_I", "mean", "rms", "rmsd"}
        again = resimulate(side, tmp_path / "re" / side["id"])
        # byte for byte the same files, and no other (the batch leaves the Fdump cache out)
        assert again == {o["file"]: o["sha256"] for o in side["outputs"].values()}
        assert again == {o["file"]: files[o["file"]] for o in side["outputs"].values()}
    # the image that asked for the exact kernel got it, the others the default
    assert json.loads((out / "own_seed.json").read_text())["kernel"] == "exact"
    assert json.loads((out / "rot_00001.json").read_text())["kernel"] == "fast"

    # a second run renders nothing
    mtimes = {f: os.stat(out / f).st_mtime_ns for f in os.listdir(out)}
    res = nbnumba("batch", "run", path, "--out", out, "--workers", "2")
    assert res.stdout.startswith("7 images: 0 rendered, 7 already done, 0 failed"), res.stdout
    assert {f: os.stat(out / f).st_mtime_ns for f in os.listdir(out)} == mtimes
    assert nbnumba("batch", "status", path, "--out", out).stdout == "7 images: 7 done, 0 failed, 0 pending\n"

    # one worker, one image at a time: the same bytes
    out1 = tmp_path / "out1"
    nbnumba("batch", "run", path, "--out", out1, "--workers", "1")
    assert outputs_of(out1) == files
    # a changed output makes that image pending and it is rendered again, the same
    (out / "rot_00002.img").write_bytes(b"garbage")
    assert "6 done, 0 failed, 1 pending" in nbnumba("batch", "status", path, "--out", out).stdout
    res = nbnumba("batch", "run", path, "--out", out, "--engine", "serial", "--log", "-")
    assert "rot_00002 done" in res.stdout and "1 rendered, 6 already done" in res.stdout
    assert outputs_of(out) == files


def _slow_manifest(tmp_path, count=16):
    return manifest(tmp_path, 'base = "%s -hkl P1.hkl"\nseed = 3\n[rotation]\nprefix = "f"\nosc = 0.5\nframes = %d\n'
                    % (SLOW, count))


@pytest.fixture
def slow_reference(tmp_path_factory):
    """The images of the slow manifest, rendered once in this process (serial engine)."""
    from nbnumba.api import batch
    folder = tmp_path_factory.mktemp("ref")
    path = _slow_manifest(folder)
    summary = batch(str(path), out=str(folder / "out"), engine="serial")
    assert summary.done == 16
    return outputs_of(folder / "out")


def test_killed_worker_is_replaced_and_the_batch_completes(tmp_path, slow_reference):
    from distributed import Client, LocalCluster
    from nbnumba.api import batch
    import threading
    path = _slow_manifest(tmp_path)
    out = tmp_path / "out"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}) as cluster, \
            Client(cluster) as client:
        pids = client.run(os.getpid)
        result = {}
        runner = threading.Thread(target=lambda: result.setdefault(
            "summary", batch(str(path), out=str(out), scheduler=cluster.scheduler_address)))
        runner.start()
        deadline = time.time() + 120
        while len(list(out.glob("*.json"))) < 2 and time.time() < deadline:
            time.sleep(0.05)
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)
        runner.join(300)
        assert not runner.is_alive()
        assert victim not in client.run(os.getpid).values()      # the nanny started a new worker
    summary = result["summary"]
    # images the killed worker had finished are not rendered again when its task is retried
    assert summary.failed == [] and summary.done + summary.skipped == 16 and summary.done >= 14, summary
    assert outputs_of(out) == slow_reference
    assert not temporaries(out)


def test_driver_killed_then_rerun_completes_without_rendering_twice(tmp_path, slow_reference):
    path = _slow_manifest(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "nbnumba", "batch", "run", str(path), "--out", str(out),
                             "--workers", "2"], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while len(list(out.glob("*.json"))) < 3 and time.time() < deadline:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)        # the driver and its worker processes
        proc.wait()
    time.sleep(0.5)
    complete = {f.stem for f in out.glob("*.json")}
    assert 3 <= len(complete) < 16
    before = {f: (os.stat(out / f).st_ino, os.stat(out / f).st_mtime_ns) for f in os.listdir(out)
              if f.split(".")[0] in complete}
    status = nbnumba("batch", "status", path, "--out", out).stdout
    assert status.startswith("16 images: %d done, 0 failed, %d pending" % (len(complete), 16 - len(complete)))
    res = nbnumba("batch", "run", path, "--out", out, "--workers", "2")
    assert "%d rendered, %d already done, 0 failed" % (16 - len(complete), len(complete)) in res.stdout
    after = {f: (os.stat(out / f).st_ino, os.stat(out / f).st_mtime_ns) for f in before}
    assert after == before                          # nothing complete was rendered twice
    assert outputs_of(out) == slow_reference
    assert not temporaries(out)


def test_shards_one_after_another_give_the_whole_set(tmp_path):
    path = manifest(tmp_path, MIXED)
    whole, shards = tmp_path / "whole", tmp_path / "shards"
    nbnumba("batch", "run", path, "--out", whole, "--engine", "serial")
    seen = []
    for i in range(3):
        res = nbnumba("batch", "run", path, "--out", shards, "--shard", "%d/3" % i)
        seen.append(int(res.stdout.split()[0]))
    assert sum(seen) == 7 and all(seen)
    assert outputs_of(shards) == outputs_of(whole)
    assert nbnumba("batch", "run", path, "--out", tmp_path / "x", "--shard", "3/3", check=False).returncode == 9


def test_sbatch_script_runs_every_shard(tmp_path):
    """The printed script, run by bash once per array task (the #SBATCH lines are comments to bash):
    together the tasks render the set."""
    path = manifest(tmp_path, MIXED)
    out = tmp_path / "out"
    script = nbnumba("batch", "slurm-script", path, "--out", out, "--array", "2", "--partition", "debug",
                     "--time", "00:10:00", "--gpus", "1").stdout
    assert script.startswith("#!/bin/bash\n")
    assert "#SBATCH --array=0-1\n" in script and "#SBATCH --partition=debug\n" in script
    assert "#SBATCH --gpus-per-task=1\n" in script and "--shard \"${SLURM_ARRAY_TASK_ID}/2\"" in script
    (tmp_path / "job.sh").write_text(script)
    for task in range(2):
        subprocess.run(["bash", str(tmp_path / "job.sh")], env=dict(os.environ, SLURM_ARRAY_TASK_ID=str(task)),
                       check=True, capture_output=True, timeout=300)
    assert "7 images: 7 done, 0 failed, 0 pending" in nbnumba("batch", "status", path, "--out", out).stdout


def test_a_failing_image_is_recorded_and_the_others_go_on(tmp_path):
    text = MIXED.replace('id = "own_seed"\nargs = "', 'id = "own_seed"\nargs = "-hkl bad.hkl ')
    path = manifest(tmp_path, text)
    (tmp_path / "bad.hkl").write_text("1 2 3 100\n1e10 0 0 5\n")       # an index C's int cannot hold
    out = tmp_path / "out"
    res = nbnumba("batch", "run", path, "--out", out, "--workers", "2", check=False)
    assert res.returncode == 1
    assert res.stdout.startswith("7 images: 6 rendered, 0 already done, 1 failed"), res.stdout
    error = (out / "own_seed.error").read_text()
    assert "bad.hkl" in error and error.count("\n") == 1
    assert not (out / "own_seed.json").exists() and not (out / "own_seed.bin").exists()
    status = nbnumba("batch", "status", path, "--out", out).stdout
    assert status.splitlines() == ["7 images: 6 done, 1 failed, 0 pending", "failed own_seed: " + error.strip()]
    # the input fixed, a rerun renders just that image and clears its error
    (tmp_path / "bad.hkl").write_text("1 2 3 100\n")
    res = nbnumba("batch", "run", path, "--out", out, "--engine", "serial")
    assert "1 rendered, 6 already done, 0 failed" in res.stdout
    assert not (out / "own_seed.error").exists()


# ---------------------------------------------------------------- the API and the worker's cache

def test_api_streams_images_without_writing(tmp_path):
    from nbnumba import api
    from nbnumba.io.rawfloat import read_float_image
    path = manifest(tmp_path, MIXED)
    out = tmp_path / "out"
    api.batch(str(path), out=str(out), engine="serial")
    before = set(os.listdir(tmp_path))
    got = {ident: (image, stats) for ident, image, stats in api.batch(str(path), workers=2)}
    assert set(os.listdir(tmp_path)) == before
    assert len(got) == 7
    for ident, (image, stats) in got.items():
        side = json.loads((out / (ident + ".json")).read_text())
        assert np.array_equal(image, read_float_image(out / (ident + ".bin"), 40, 40))
        assert stats["max_I"] == side["statistics"]["max_I"]
    # configurations too (streamed only)
    p = api.params((FAST + " -default_F 100 -seed 3").split())
    [(ident, image, stats)] = list(api.batch([("cfg", p)], engine="serial"))
    assert ident == "cfg" and np.array_equal(image, api.run_simulation(p).image)
    with pytest.raises(NanoBraggError, match="streamed"):
        api.batch([("cfg", p)], out=str(tmp_path / "o"))


def test_table_cache_shares_content_and_replays_the_log(tmp_path):
    from nbnumba.io.hkl import read_hkl
    a, b = tmp_path / "a.hkl", tmp_path / "b.hkl"
    a.write_bytes((INPUTS / "P1.hkl").read_bytes())
    b.write_bytes(a.read_bytes())
    cache = batch_job.TableCache()
    for path in (a, b, a):
        plain, lines = [], []
        ref = read_hkl(str(path), 0.0, plain.append)
        table = cache.read(str(path), 0.0, lines.append)
        assert lines == plain and any(str(path) in line for line in lines)
        assert np.array_equal(table.Fhkl, ref.Fhkl)
    assert (cache.hits, cache.misses) == (2, 1)
    # another default_F is another table; a tiny budget keeps only the last
    small = batch_job.TableCache(budget=1)
    small.read(str(a), 0.0, lambda line: None)
    small.read(str(a), 5.0, lambda line: None)
    small.read(str(a), 0.0, lambda line: None)
    assert (small.hits, small.misses) == (0, 3)


# ---------------------------------------------------------------- -skip, in `nbnumba simulate` itself

def test_skip_leaves_out_files_and_the_fdump_cache(tmp_path):
    flags = FAST.split() + ["-hkl", str(INPUTS / "P1.hkl"), "-seed", "4", "-nopgm"]
    full, skipped = tmp_path / "full", tmp_path / "skipped"
    full.mkdir()
    skipped.mkdir()
    nbnumba("simulate", *flags, cwd=full)
    nbnumba("simulate", *flags, "-skip", "intfile,dumpfile", cwd=skipped)
    assert sorted(os.listdir(full)) == ["Fdump.bin", "floatimage.bin", "intimage.img", "noiseimage.img"]
    assert sorted(os.listdir(skipped)) == ["floatimage.bin", "noiseimage.img"]
    for name in ("floatimage.bin", "noiseimage.img"):
        assert sha(full / name) == sha(skipped / name)
    # without -hkl, an Fdump.bin in the folder is read by default (as C does) and not with -skip dumpfile
    plain = FAST.split() + ["-default_F", "3", "-seed", "4", "-nonoise", "-nopgm"]
    nbnumba("simulate", *plain, "-skip", "floatfile", cwd=full)
    assert sha(full / "floatimage.bin") == sha(skipped / "floatimage.bin")      # untouched: skipped
    nbnumba("simulate", *plain, cwd=full)
    assert sha(full / "floatimage.bin") == sha(skipped / "floatimage.bin")      # the dump's F, not 3
    nbnumba("simulate", *plain, "-skip", "dumpfile", cwd=full)
    assert sha(full / "floatimage.bin") != sha(skipped / "floatimage.bin")      # default_F 3
    res = nbnumba("simulate", *plain, "-skip", "noisefile", cwd=full, check=False)
    assert res.returncode == 9 and "-skip: 'noisefile' is not one of" in res.stderr


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_stops_cleanly_and_a_rerun_finishes(tmp_path, slow_reference, sig, code):
    """Ctrl-C at a terminal reaches the whole process group (driver and workers); SIGTERM the driver
    alone. Either way: one line on stderr, exit 128+signal, no temporary file, no process left behind."""
    path = _slow_manifest(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "nbnumba", "batch", "run", str(path), "--out", str(out),
                             "--workers", "2"], start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(list(out.glob("*.json"))) < 2 and time.time() < deadline:
        time.sleep(0.02)
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert stderr.strip().splitlines() == ["nbnumba batch: interrupted; images already written are complete, "
                                           "run the same command again to finish"], stderr
    assert stdout == "" and not temporaries(out)
    deadline = time.time() + 10
    while _live_in_group(proc.pid) and time.time() < deadline:
        time.sleep(0.1)
    assert _live_in_group(proc.pid) == []           # every worker process is gone
    nbnumba("batch", "run", path, "--out", out, "--engine", "serial")
    assert outputs_of(out) == slow_reference


def test_progress_bar_on_a_terminal(tmp_path):
    """stderr a terminal: a bar of images done of total with a rate; stdout keeps the one-line summary."""
    from terminal import run_with_terminal_stderr
    path = manifest(tmp_path, MIXED)
    code, out, text = run_with_terminal_stderr([sys.executable, "-m", "nbnumba", "batch", "run", str(path), "--out",
                                                str(tmp_path / "o"), "--engine", "serial"], columns=120)
    assert code == 0
    assert "7/7" in text and "image/s" in text and "%|" in text, text[-500:]
    assert out.startswith("7 images: 7 rendered") and "%|" not in out


def test_readme_manifest_is_valid(tmp_path):
    """The manifest the README shows reads as it says: 40 frames and 100 orientations."""
    text = (ROOT / "README.md").read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    jobs = read_manifest(manifest(tmp_path, block, "series.toml")).jobs
    assert [j.id for j in jobs][:2] == ["rot_00001", "rot_00002"] and jobs[39].id == "rot_00040"
    assert jobs[-1].id == "ori_00100" and len(jobs) == 140
    assert jobs[3].seed == 4


def test_importing_dask_jobqueue_keeps_our_ctrl_c():
    """dask_jobqueue sets SIGINT to sys.exit when imported; the runner puts the handler in place back, so
    an interrupted SLURM run still stops through nbnumba's handler (exit 130 and its message)."""
    import importlib.util
    if importlib.util.find_spec("dask_jobqueue") is None:
        pytest.skip("dask-jobqueue is not installed")
    code = ("import signal; from nbnumba.interrupt import stopping_on_signals\n"
            "from nbnumba.batch.runner import _import_slurm_cluster\n"
            "with stopping_on_signals() as s:\n"
            "    _import_slurm_cluster()\n"
            "    print(signal.getsignal(signal.SIGINT) == s._handle)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout == "True\n", res.stderr
