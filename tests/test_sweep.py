"""Rotation series in one NXmx file: io.nexus.sweep_bytes (N frames, one detector, phi per frame) read back
through read_nxmx and h5py, and a batch's `[outputs] sweep`: assembled from the frames' noise (or int)
images in manifest order when every image is done, skipped on a rerun while up to date, refused (one line,
before anything is rendered) for a manifest whose images do not form a sweep. DIALS indexes such a sweep
in tests/test_dials_index.py."""
import io
import math
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest

from nbnumba.api import params
from nbnumba.batch.manifest import build_jobs, read_manifest
from nbnumba.batch.runner import SWEEP_DIGEST, run_batch
from nbnumba.errors import NanoBraggError
from nbnumba.io.nexus import nxmx_bytes, pixel_positions, read_nxmx, sweep_bytes
from nbnumba.io.smv import read_smv
from nbnumba.plan import make_plan

ROOT = Path(__file__).resolve().parent.parent
RTD = 180.0 / math.pi
GEOMETRY = ("-cell 70 80 90 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels_x 36 -detpixels_y 28 "
            "-pixel 0.4")
SWEEP = """
base = "%s -xds -twotheta 12 -mosaic 0.2 -mosaic_dom 2"
[outputs]
noisefile = "{id}.img"
floatfile = "{id}.bin"
sweep = "sweep.nxs"
[rotation]
prefix = "rot_"
start = 2.0
osc = 0.5
frames = %d
"""


def _plan_p(flags):
    return make_plan(params(GEOMETRY.split() + flags), lambda line: None).p


def _manifest(folder, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "P1.hkl").write_bytes((ROOT / "golden" / "inputs" / "P1.hkl").read_bytes())
    path = folder / "m.toml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------- sweep_bytes

def test_sweep_bytes_holds_the_frames_as_one_scan(tmp_path):
    p = _plan_p(["-xds", "-twotheta", "15", "-phi", "3", "-osc", "0.25"])
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 60000, (4, p.spixels, p.fpixels), dtype=np.uint16)
    phis = [(3.0 + 0.25 * i) / RTD for i in range(4)]
    path = tmp_path / "s.nxs"
    path.write_bytes(sweep_bytes(p, frames, "noise", phis, 0.25 / RTD, attrs={"made_from": "test"}))

    got = read_nxmx(path)
    assert got["kind"] == "noise" and got["frames"].shape == frames.shape
    assert np.array_equal(got["frames"], frames)
    g = got["geometry"]
    assert np.allclose(g["phi_starts"], phis, rtol=0, atol=1e-15)
    assert abs(g["phi_start"] - 3.0 / RTD) < 1e-15 and abs(g["phi_increment"] - 0.25 / RTD) < 1e-15
    # one detector for all the frames: the single-frame file's pixels
    one = tmp_path / "one.nxs"
    one.write_bytes(nxmx_bytes(p, frames[0], "noise"))
    assert np.allclose(pixel_positions(g), pixel_positions(read_nxmx(one)["geometry"]), rtol=0, atol=1e-15)
    with h5py.File(path, "r") as fh:
        gon = fh["/entry/sample/transformations"]
        assert np.allclose(gon["phi"][()], [3.0, 3.25, 3.5, 3.75], rtol=0, atol=1e-12)
        assert np.allclose(gon["phi_end"][()], [3.25, 3.5, 3.75, 4.0], rtol=0, atol=1e-12)
        assert abs(gon["phi_increment_set"][()] - 0.25) < 1e-12
        assert fh["/entry/data/data"].chunks == (1, p.spixels, p.fpixels)
        assert fh["/entry/instrument/detector/data"].shape == frames.shape
        assert fh.attrs["made_from"] == "test"
        assert "4 frames" in fh["/entry/title"][()].decode()

    # frames given one at a time (a sequence, never stacked) make the same pixels
    class Lazy:
        def __len__(self):
            return len(frames)

        def __getitem__(self, i):
            return frames[i]
    lazy = tmp_path / "lazy.nxs"
    lazy.write_bytes(sweep_bytes(p, Lazy(), "noise", phis, 0.25 / RTD))
    assert np.array_equal(read_nxmx(lazy)["frames"], frames)


def test_sweep_bytes_float_frames_and_refusals():
    p = _plan_p([])
    frames = np.random.default_rng(1).random((2, p.spixels, p.fpixels)).astype(np.float32)
    data = sweep_bytes(p, frames, "float", [0.0, 0.01], 0.01)
    with h5py.File(io.BytesIO(data), "r") as fh:
        assert fh["/entry/data/data"].dtype == np.float32
        assert np.array_equal(fh["/entry/data/data"][()], frames)
        assert "saturation_value" not in fh["/entry/instrument/detector"]
    with pytest.raises(ValueError, match="frames of shape"):
        sweep_bytes(p, frames[:, :-1], "float", [0.0, 0.01], 0.01)
    with pytest.raises(ValueError, match="1 phi starts for 2 frames"):
        sweep_bytes(p, frames, "float", [0.0], 0.01)
    with pytest.raises(ValueError, match="osc > 0"):
        sweep_bytes(p, frames, "float", [0.0, 0.0], 0.0)
    with pytest.raises(ValueError, match="at least one frame"):
        sweep_bytes(p, [], "float", [], 0.01)
    with pytest.raises(ValueError, match="frame 1 of shape"):
        sweep_bytes(p, [frames[0], frames[1][:-1]], "float", [0.0, 0.01], 0.01)
    with pytest.raises(NanoBraggError, match="curved"):
        sweep_bytes(_plan_p(["-curved_det", "-phi", "0"]), frames, "float", [0.0, 0.01], 0.01)


# ---------------------------------------------------------------- the batch

def test_batch_sweep_in_manifest_order_then_up_to_date(tmp_path):
    m = _manifest(tmp_path, SWEEP % (GEOMETRY, 4))
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "nbnumba", "batch", "run", str(m), "--out", str(out),
                          "--engine", "serial"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("4 images: 4 rendered"), res.stdout
    assert "sweep.nxs written (4 frames, the noise images)" in res.stdout

    path = out / "sweep.nxs"
    got = read_nxmx(path)
    ids = ["rot_%05d" % i for i in range(1, 5)]
    assert np.array_equal(got["frames"], np.stack([read_smv(out / (i + ".img"))[1] for i in ids]))
    assert np.allclose(got["geometry"]["phi_starts"] * RTD, [2.0, 2.5, 3.0, 3.5], rtol=0, atol=1e-12)
    assert abs(got["geometry"]["phi_increment"] * RTD - 0.5) < 1e-12
    # the geometry of the frames: what -nxsfile writes for the first one
    jobs = read_manifest(m).jobs
    p = make_plan(params(list(jobs[0].argv)), lambda line: None).p
    one = read_nxmx(io.BytesIO(nxmx_bytes(p, got["frames"][0], "noise")))
    assert np.allclose(pixel_positions(got["geometry"]), pixel_positions(one["geometry"]), rtol=0, atol=1e-15)
    with h5py.File(path, "r") as fh:
        digest = fh.attrs[SWEEP_DIGEST]

    # a rerun renders nothing and leaves the sweep as it is
    before = path.stat().st_mtime_ns, path.read_bytes()
    summary = run_batch(jobs, out, engine="serial", bar=False)
    assert summary.done == 0 and summary.sweep == "sweep.nxs up to date (4 frames)"
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before

    # a frame rendered again (the same bytes): still up to date; a longer rotation: written again
    (out / "rot_00002.img").unlink()
    summary = run_batch(jobs, out, engine="serial", bar=False)
    assert summary.done == 1 and "up to date" in summary.sweep
    jobs5 = read_manifest(_manifest(tmp_path, SWEEP % (GEOMETRY, 5))).jobs
    (out / ".sweep.nxs.0123456789ab.tmp").write_bytes(b"left by a killed run")
    summary = run_batch(jobs5, out, engine="serial", bar=False)
    assert summary.done == 1 and summary.sweep == "sweep.nxs written (5 frames, the noise images)"
    assert not (out / ".sweep.nxs.0123456789ab.tmp").exists()
    with h5py.File(path, "r") as fh:
        assert fh["/entry/data/data"].shape[0] == 5 and fh.attrs[SWEEP_DIGEST] != digest


def test_batch_sweep_waits_for_every_shard_and_takes_int_images(tmp_path):
    text = (SWEEP % (GEOMETRY, 4)).replace('noisefile = "{id}.img"', 'intfile = "{id}.int.img"')
    text = text.replace("-mosaic_dom 2", "-mosaic_dom 2 -scale 3")
    jobs = read_manifest(_manifest(tmp_path, text)).jobs
    out = tmp_path / "out"
    first = run_batch(jobs, out, engine="serial", shard=(0, 2), bar=False)
    assert first.total == 2 and first.sweep == "sweep.nxs not written: 2 of 4 images are not done"
    assert not (out / "sweep.nxs").exists()
    from nbnumba.batch.runner import sweep_status
    assert sweep_status(jobs, str(out)) == "sweep sweep.nxs: waiting for 2 of 4 images"
    second = run_batch(jobs, out, engine="serial", shard=(1, 2), bar=False)
    assert second.sweep == "sweep.nxs written (4 frames, the int images)"
    assert sweep_status(jobs, str(out)) == "sweep sweep.nxs: up to date (4 frames)"
    res = subprocess.run([sys.executable, "-m", "nbnumba", "batch", "status", str(tmp_path / "m.toml"), "--out",
                          str(out)], capture_output=True, text=True, timeout=300)
    assert res.stdout.splitlines() == ["4 images: 4 done, 0 failed, 0 pending",
                                       "sweep sweep.nxs: up to date (4 frames)"], res.stdout
    assert "sweep.nxs written" in second.line()
    got = read_nxmx(out / "sweep.nxs")
    assert got["kind"] == "int"
    assert np.array_equal(got["frames"], np.stack([read_smv(out / ("rot_%05d.int.img" % i))[1] for i in range(1, 5)]))


def test_a_changed_frame_is_not_put_in_the_sweep(tmp_path):
    jobs = read_manifest(_manifest(tmp_path, SWEEP % (GEOMETRY, 2))).jobs
    out = tmp_path / "out"
    run_batch(jobs, out, engine="serial", bar=False)
    (out / "sweep.nxs").unlink()
    data = bytearray((out / "rot_00002.img").read_bytes())
    data[-1] ^= 1
    (out / "rot_00002.img").write_bytes(bytes(data))
    from nbnumba.batch.runner import write_sweep
    with pytest.raises(NanoBraggError, match="rot_00002.img changed since its sidecar"):
        write_sweep(jobs, str(out))
    assert not (out / "sweep.nxs").exists() and not [f for f in os.listdir(out) if f.endswith(".tmp")]


ROT = '[rotation]\nprefix = "r"\nosc = 0.5\nframes = 2\n'
# two [rotation]s, the second's start and osc (%s) and args (%s) given: their frames join one sweep
TWO = ('[outputs]\nnoisefile = "{id}.img"\nsweep = "s.nxs"\n[[rotation]]\nprefix = "a"\nstart = 0.0\nosc = 1.0\n'
       'frames = 1\n[[rotation]]\nprefix = "b"\n%s\nframes = 1\nargs = "%s"\n')
BAD = [
    ('[outputs]\nnoisefile = "{id}.img"\nsweep = "{id}.nxs"\n' + ROT, "without {id}"),
    ('[outputs]\nnoisefile = "{id}.img"\nsweep = "sub/s.nxs"\n' + ROT, "plain file name"),
    ('[outputs]\nnoisefile = "{id}.img"\nsweep = 3\n' + ROT, "must be a string"),
    ('[outputs]\nfloatfile = "{id}.bin"\nsweep = "s.nxs"\n' + ROT, "name noisefile"),
    ('[outputs]\nnoisefile = "{id}.img"\nsweep = "r00001.img"\n' + ROT, "id 'r00001' writes a file of that name"),
    ('[outputs]\nintfile = "{id}.img"\nsweep = "s.nxs"\n' + ROT, "give -scale"),
    (TWO % ("start = 1.0\nosc = 1.0", "-distance 90"), "image 'b00001' has distance = 0.09, image 'a00001' 0.1"),
    (TWO % ("start = 1.0\nosc = 1.0", "-detector_rotz 5"), "image 'b00001' has detector_rotz = 0.0872"),
    (TWO % ("start = 2.0\nosc = 1.0", ""), "image 'b00001' starts at phi 2, not 1"),
    (TWO % ("start = 1.0\nosc = 2.0", ""), "a sweep has one oscillation"),
    ('[outputs]\nnoisefile = "{id}.img"\nsweep = "s.nxs"\n[orientations]\ncount = 2\n', "the manifest has none"),
    ('[outputs]\nnoisefile = "{id}.img"\nsweep = "s.nxs"\n[[image]]\nid = "a"\nargs = "-phi 0 -osc 1"\n',
     "collects the frames of a [rotation]"),
    ('[outputs]\nnoisefile = "{id}.img"\nsweep = "s.nxs"\n' + ROT.replace("frames", 'args = "-curved_det"\nframes'),
     "curved detector"),
]


@pytest.mark.parametrize("text, problem", BAD, ids=[str(i) for i in range(len(BAD))])
def test_a_manifest_that_is_no_sweep_is_refused(text, problem):
    with pytest.raises(NanoBraggError) as e:
        build_jobs(tomllib.loads('base = "%s"\n' % GEOMETRY + text), str(ROOT), "m.toml")
    assert problem in str(e.value) and "\n" not in str(e.value)


def test_a_bad_sweep_manifest_exits_before_rendering(tmp_path):
    m = _manifest(tmp_path, 'base = "%s"\n' % GEOMETRY + BAD[8][0])
    res = subprocess.run([sys.executable, "-m", "nbnumba", "batch", "run", str(m), "--out", str(tmp_path / "out"),
                          "--engine", "serial"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 9 and res.stderr.count("\n") == 1 and "starts at phi 2, not 1" in res.stderr
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_jobs_without_a_sweep_are_as_before():
    jobs = build_jobs(tomllib.loads('base = "%s"\n' % GEOMETRY + ROT), str(ROOT), "m.toml")
    assert all(j.sweep is None for j in jobs)


def test_the_sweep_takes_the_rotation_frames_only():
    """A manifest with [[image]], [rotation] and [orientations] (the README's): the sweep is the rotation."""
    from nbnumba.batch.manifest import sweep_file, sweep_jobs
    text = ('base = "%s"\n[outputs]\nnoisefile = "{id}.img"\nsweep = "s.nxs"\n[[image]]\nid = "still"\n'
            'args = "-phi 10"\n' % GEOMETRY) + ROT + '[orientations]\nprefix = "o"\ncount = 2\nseed = 7\n'
    jobs = build_jobs(tomllib.loads(text), str(ROOT), "m.toml")
    rotation = [j.id for j in jobs if j.id.startswith("r0")]
    assert len(rotation) >= 2 and len(jobs) == len(rotation) + 3
    assert [j.id for j in sweep_jobs(jobs)] == rotation
    assert sweep_file(jobs) == "s.nxs"
    assert all(j.sweep is None for j in jobs if j.id not in rotation)
