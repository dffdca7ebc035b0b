"""nbnumba batch where the cluster side goes wrong or the machine is not ours alone: engine arguments that
cannot work (refused before anything is created), a scheduler nobody runs or that is no Dask scheduler,
a SLURM partition that does not exist, Dask's default port held by someone else, Ctrl-C while the worker
processes start, and nbnumba.api.batch at the top level of a plain script (no `__main__` guard).

Everything runs for real: the command line in a subprocess, a Dask LocalCluster of worker processes over
loopback, a real SLURM where one answers (CI: .ci/slurm.sh, NBNUMBA_REQUIRE_SLURM=1)."""
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nbnumba import api
from nbnumba.errors import NanoBraggError
from test_batch import _live_in_group, manifest, nbnumba, temporaries
from test_batch_slurm import _slurm_up

TINY = "-cell 100 100 100 90 90 90 -default_F 100 -N 3 -lambda 6.2 -distance 100 -detpixels 8 -pixel 0.1"
# about half a second per image on one core: a run long enough to interrupt while its workers start or render
SLOWER = ("-cell 70 80 90 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 64 -pixel 0.2 "
          "-mosaic 1 -mosaic_dom 20 -phisteps 10 -osc 1 -kernel exact")
INTERRUPTED = ("nbnumba batch: interrupted; images already written are complete, run the same command again "
               "to finish")


def tiny_manifest(folder, frames=3, base=TINY):
    return manifest(folder, 'base = "%s"\n[rotation]\nprefix = "r_"\nosc = 1\nframes = %d\n' % (base, frames))


def free_port():
    """A loopback port nothing listens on (bound by the system, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_line_error(res, *words):
    lines = res.stderr.splitlines()
    assert res.returncode == 9, (res.returncode, res.stdout, res.stderr)
    assert len(lines) == 1 and lines[0].startswith("nbnumba batch: error: "), res.stderr
    assert "Traceback" not in res.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# ---------------------------------------------------------------- arguments refused before anything is made

BAD_ARGUMENTS = [
    (dict(shard=(0, 0)), "--shard"),
    (dict(shard=(2, 2)), "--shard"),
    (dict(shard=(-1, 2)), "--shard"),
    (dict(shard=5), "--shard"),
    (dict(shard=(0, 1, 2)), "--shard"),
    (dict(shard=(0.0, 1)), "--shard"),
    (dict(shard=(True, 2)), "--shard"),
    (dict(shard="1/x"), "--shard"),
    (dict(workers=-1), "--workers"),
    (dict(workers=0), "--workers"),
    (dict(workers=1.5), "--workers"),
    (dict(workers=2.0), "--workers"),
    (dict(workers="2"), "--workers"),
    (dict(workers=True), "--workers"),
    (dict(threads_per_worker=-1), "--threads-per-worker"),
    (dict(threads_per_worker=0), "--threads-per-worker"),
    (dict(threads_per_worker=0.5), "--threads-per-worker"),
    (dict(threads_per_worker="1"), "--threads-per-worker"),
    (dict(engine="bogus"), "--engine"),
    (dict(engine=None), "--engine"),
    (dict(cluster="pbs"), "--cluster"),
    (dict(cluster=1), "--cluster"),
    (dict(scheduler="nonsense"), "--scheduler"),
    (dict(scheduler="tcp://"), "--scheduler"),
    (dict(scheduler="tcp://host:notaport"), "--scheduler"),
    (dict(scheduler="tcp://host:0"), "--scheduler"),
    (dict(scheduler="tcp://host:70000"), "--scheduler"),
    (dict(scheduler="tcp://:8786"), "--scheduler"),
    (dict(scheduler="pbs://host:8786"), "--scheduler"),
    (dict(scheduler=123), "--scheduler"),
    (dict(scheduler=["tcp://host:8786"]), "--scheduler"),
    (dict(scheduler="tcp://host:8786", cluster="slurm"), "--scheduler and --cluster"),
    (dict(scheduler="tcp://host:8786", shard=(0, 2)), "--shard"),
    (dict(scheduler="tcp://host:8786", engine="serial"), "--engine serial"),
    (dict(cluster="slurm", slurm={"jobs": 0}), "--jobs"),
    (dict(cluster="slurm", slurm={"cores": "4"}), "--cpus-per-task"),
    (dict(cluster="slurm", slurm={"memory": "lots"}), "--mem"),
    (dict(cluster="slurm", slurm={"walltime": ""}), "--time"),
    (dict(cluster="slurm", slurm={"job_extra": "--qos=x"}), "--extra"),
    (dict(cluster="slurm", slurm={"queue": 3}), "--partition"),
    (dict(cluster="slurm", slurm={"partition": "debug"}), "slurm: unknown option partition"),
    (dict(cluster="slurm", slurm="debug"), "slurm"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["files", "stream"])
@pytest.mark.parametrize("kwargs,named", BAD_ARGUMENTS, ids=[repr(k) for k, _ in BAD_ARGUMENTS])
def test_api_refuses_engine_arguments_before_anything_is_made(tmp_path, kwargs, named, stream):
    out = tmp_path / "never" / "made"
    before = set(os.listdir(tmp_path))
    with pytest.raises(NanoBraggError) as info:
        result = api.batch([TINY], out=None if stream else str(out), **kwargs)
        next(iter(result))      # a stream is checked when it is made, not when it is first read
    message = str(info.value)
    assert named in message and "\n" not in message, message
    assert set(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("bad", [42, None, 3.5, {"id": "a", "args": TINY}, object()])
def test_api_refuses_a_manifest_that_is_neither_a_file_nor_a_list(tmp_path, bad):
    with pytest.raises(NanoBraggError, match="manifest"):
        api.batch(bad, out=str(tmp_path / "o"))
    with pytest.raises(NanoBraggError, match="manifest"):
        api.batch(bad)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("bad", [42, ["o"], 4.5])
def test_api_refuses_an_out_that_is_no_folder_name(tmp_path, bad):
    with pytest.raises(NanoBraggError, match="out"):
        api.batch([TINY], out=bad)


@pytest.mark.parametrize("address", ["nonsense", "tcp://", "tcp://host:notaport", "udp://host:1"])
def test_cli_refuses_a_scheduler_that_is_no_address(tmp_path, address):
    path = tiny_manifest(tmp_path)
    res = nbnumba("batch", "run", path, "--out", tmp_path / "out", "--scheduler", address, check=False)
    one_line_error(res, "--scheduler", repr(address))
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- clusters that are not there

def test_unreachable_scheduler_is_one_line_and_quick(tmp_path):
    path = tiny_manifest(tmp_path)
    address = "tcp://127.0.0.1:%d" % free_port()
    t0 = time.monotonic()
    res = nbnumba("batch", "run", path, "--out", tmp_path / "a" / "out", "--scheduler", address, check=False)
    seconds = time.monotonic() - t0
    one_line_error(res, "--scheduler " + address)
    assert seconds < 30, seconds
    assert not (tmp_path / "a").exists()          # nothing was rendered: no folder made for it
    # an --out that was there stays, and holds nothing new
    (tmp_path / "b").mkdir()
    res = nbnumba("batch", "run", path, "--out", tmp_path / "b", "--scheduler", address, check=False)
    one_line_error(res, "--scheduler " + address)
    assert os.listdir(tmp_path / "b") == []


def test_a_listener_that_is_no_dask_scheduler(tmp_path):
    """Something listens on the port and never answers (a scheduler that hangs, another service):
    refused within the connect timeout, not waited on forever."""
    path = tiny_manifest(tmp_path)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        address = "tcp://127.0.0.1:%d" % listener.getsockname()[1]
        t0 = time.monotonic()
        res = nbnumba("batch", "run", path, "--out", tmp_path / "out", "--scheduler", address, check=False)
        seconds = time.monotonic() - t0
    one_line_error(res, "--scheduler " + address)
    assert seconds < 30, seconds
    assert not (tmp_path / "out").exists()


def test_api_unreachable_scheduler_leaves_nothing(tmp_path):
    address = "tcp://127.0.0.1:%d" % free_port()
    with pytest.raises(NanoBraggError, match="--scheduler"):
        api.batch([TINY], out=str(tmp_path / "out"), scheduler=address)
    assert not (tmp_path / "out").exists()
    with pytest.raises(NanoBraggError, match="--scheduler"):
        list(api.batch([TINY], scheduler=address))


# ---------------------------------------------------------------- SLURM

def _needs_slurm():
    import importlib.util
    up = _slurm_up()
    if not up and os.environ.get("NBNUMBA_REQUIRE_SLURM") == "1":
        pytest.fail("NBNUMBA_REQUIRE_SLURM=1 but no SLURM answers (sinfo); start it with .ci/slurm.sh")
    if not up:
        pytest.skip("no SLURM cluster answers here (CI starts one: .ci/slurm.sh)")
    if importlib.util.find_spec("dask_jobqueue") is None:       # not imported here: it sets a SIGINT handler
        if os.environ.get("NBNUMBA_REQUIRE_SLURM") == "1":
            pytest.fail("NBNUMBA_REQUIRE_SLURM=1 but dask-jobqueue is not installed")
        pytest.skip("dask-jobqueue is not installed")


def _jobs_of_this_user():
    res = subprocess.run(["squeue", "-h", "-u", str(os.getuid()), "-o", "%i"], capture_output=True, text=True,
                         timeout=30)
    return set(res.stdout.split())


def test_slurm_mem_is_read_as_sbatch_reads_it():
    """--mem takes sbatch's forms (a plain number is megabytes; K, M, G, T binary); dask-jobqueue would read
    '8000' as 8000 bytes and ask SLURM for 8K. Dask's own forms stay as they are."""
    from nbnumba.batch.runner import SlurmOptions, check_slurm, slurm_memory
    assert [slurm_memory(m) for m in ("8000", "8G", "16g", "512M", "4GB", "3.5GiB")] == \
        ["8000MiB", "8GiB", "16GiB", "512MiB", "4GB", "3.5GiB"]
    assert check_slurm(SlurmOptions(memory="8000")).memory == "8000MiB"
    for bad in ("100K", "0", "lots", "-5G"):
        with pytest.raises(NanoBraggError, match="--mem"):
            check_slurm(SlurmOptions(memory=bad))


def test_slurm_partition_that_does_not_exist(tmp_path):
    _needs_slurm()
    path = tiny_manifest(tmp_path)
    before = _jobs_of_this_user()
    t0 = time.monotonic()
    res = nbnumba("batch", "run", path, "--out", tmp_path / "out", "--cluster", "slurm", "--partition",
                  "nosuchpartition", "--time", "00:05:00", "--mem", "1GB", cwd=tmp_path, check=False)
    seconds = time.monotonic() - t0
    line = one_line_error(res, "--cluster slurm", "nosuchpartition")
    assert "partition" in line.lower()
    assert seconds < 30, seconds
    assert not (tmp_path / "out").exists()
    assert _jobs_of_this_user() <= before          # nothing was queued
    assert not list(tmp_path.glob("slurm-*.out"))


def test_slurm_worker_jobs_that_die_before_a_worker_connects(tmp_path):
    """A job SLURM accepts but that ends at once (here: a working directory that does not exist on the
    node): the run stops with one line instead of waiting for workers forever."""
    _needs_slurm()
    path = tiny_manifest(tmp_path)
    t0 = time.monotonic()
    res = nbnumba("batch", "run", path, "--out", tmp_path / "out", "--cluster", "slurm", "--time", "00:05:00",
                  "--mem", "1GB", "--extra=--chdir=/nonexistent/nbnumba/folder", cwd=tmp_path,
                  check=False)
    seconds = time.monotonic() - t0
    one_line_error(res, "--cluster slurm", "ended")
    assert seconds < 120, seconds
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- Dask's default port is someone else's

def _something_listens(port):
    with socket.socket() as s:
        s.settimeout(5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_port_8787_held_by_someone_else(tmp_path, dask_default_port_held):
    """conftest holds 8787 for the session (or someone else does): a LocalCluster batch runs, and no line of
    Dask's (\"Port 8787 is already in use\", log lines, warnings) reaches stderr."""
    assert _something_listens(8787)
    path = tiny_manifest(tmp_path)
    res = nbnumba("batch", "run", path, "--out", tmp_path / "out", "--workers", "1", check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("3 images: 3 rendered"), res.stdout
    assert res.stderr == "", res.stderr
    # the API too, in this process: no warning, no log line
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = api.batch(str(path), out=str(tmp_path / "api"), workers=1)
    assert summary.done == 3 and not summary.failed
    assert [str(w.message) for w in caught] == []


# ---------------------------------------------------------------- Ctrl-C while the workers start

def _children(pid):
    kids = []
    for task in Path("/proc", str(pid), "task").glob("*"):
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            pass
    return kids


@pytest.mark.parametrize("delay", [0.0, 0.3, 1.0, 2.0])
def test_ctrl_c_while_workers_start(tmp_path, delay):
    """SIGINT to the whole process group, as a terminal sends it, `delay` seconds after the run made its
    --out folder (its handlers are in place by then): the worker processes are starting, or have just
    started. One line, exit 130, no traceback from the driver or a worker, no process left, no temporary."""
    path = manifest(tmp_path, 'base = "%s"\n[rotation]\nprefix = "f"\nosc = 0.5\nframes = 12\n' % SLOWER)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "nbnumba", "batch", "run", str(path), "--out", str(out),
                             "--workers", "2"], start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, stdout, stderr)
    assert stderr.splitlines() == [INTERRUPTED], stderr
    assert stdout == ""
    deadline = time.monotonic() + 15
    while _live_in_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _live_in_group(proc.pid) == []           # every worker process is gone
    if out.exists():
        assert not temporaries(out)
        assert os.listdir(out), "an --out the run made and left empty"


def test_ctrl_c_while_python_imports_the_command(tmp_path):
    """SIGINT while Python imports nbnumba's command line (0.1 s in): one line, exit 130. A signal that
    lands still earlier, in the interpreter's own start-up (no nbnumba frame yet: site, encodings), is
    Python's to report; such a try is made again a little later."""
    path = tiny_manifest(tmp_path)
    for attempt in range(6):
        proc = subprocess.Popen([sys.executable, "-m", "nbnumba", "batch", "run", str(path), "--out",
                                 str(tmp_path / ("out%d" % attempt)), "--workers", "1"], start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.1 + 0.05 * attempt)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
        if "Traceback" in stderr and "nbnumba" not in stderr:
            continue            # CPython's own start-up
        break
    assert proc.returncode == 130 and "Traceback" not in stderr, (proc.returncode, stderr)
    assert len(stderr.splitlines()) == 1 and "interrupted" in stderr, stderr


# ---------------------------------------------------------------- a plain script, no __main__ guard

SCRIPT_ARGS = [TINY + " -phi 1", TINY + " -phi 2"]


def _run_script(folder, body, timeout=300):
    (folder / "script.py").write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, "script.py"], cwd=folder, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("guard", [False, True], ids=["no_guard", "guard"])
def test_api_batch_in_a_plain_script(tmp_path, guard):
    body = "import nbnumba.api as nb\n"
    call = ("s = nb.batch(%r, out='frames', workers=1)\nprint(s.line())\n"
            "for ident, image, stats in nb.batch(%r, workers=1):\n    print(ident, image.shape)\n"
            % (SCRIPT_ARGS, SCRIPT_ARGS))
    if guard:
        body += "if __name__ == '__main__':\n" + textwrap.indent(call, "    ")
    else:
        body += call
    res = _run_script(tmp_path, body)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("2 images: 2 rendered, 0 already done, 0 failed"), res.stdout
    assert sorted(lines[1:]) == ["00001 (8, 8)", "00002 (8, 8)"], res.stdout      # printed once: no rerun
    assert res.stderr == "", res.stderr
    for ident in ("00001", "00002"):
        for ext in (".bin", ".img", ".json"):
            assert (tmp_path / "frames" / (ident + ext)).is_file()
    assert not temporaries(tmp_path / "frames")


def test_plain_script_worker_killed_is_replaced(tmp_path):
    """Without the guard, a worker that is killed is restarted by its nanny (spawned again, still without
    rerunning the script) and the batch completes."""
    body = """\
        import nbnumba.api as nb
        s = nb.batch(["%s -phi %%d" %% i for i in range(12)], out="frames", workers=2)
        print(s.line())
        print("failed", s.failed)
        """ % SLOWER
    (tmp_path / "script.py").write_text(textwrap.dedent(body))
    proc = subprocess.Popen([sys.executable, "script.py"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while len(list((tmp_path / "frames").glob("*.json"))) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = [pid for pid in _children(proc.pid)
                   if "--multiprocessing-fork" in Path("/proc", str(pid), "cmdline").read_text(errors="replace")]
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "12 images: " in stdout and "failed []" in stdout, stdout
    assert len(list((tmp_path / "frames").glob("*.json"))) == 12
    assert stderr == "", stderr


# ---------------------------------------------------------------- the runner and the sweep's frames

def test_sweep_of_a_manifest_that_starts_with_other_images(tmp_path):
    """The [outputs] sweep is the [rotation]'s frames only (manifest.sweep_jobs): the runner writes it and
    `status` reports it also when an [[image]] comes first and [orientations] follow."""
    text = ('base = "%s"\n[outputs]\nnoisefile = "{id}.img"\nsweep = "s.nxs"\n[[image]]\nid = "still"\n'
            'args = "-phi 10"\n[rotation]\nprefix = "r"\nosc = 1\nframes = 3\n[orientations]\nprefix = "o"\n'
            'count = 2\nseed = 7\n' % TINY)
    path = manifest(tmp_path, text)
    out = tmp_path / "out"
    res = nbnumba("batch", "run", path, "--out", out, "--engine", "serial")
    assert res.stdout.startswith("6 images: 6 rendered") and "s.nxs written (3 frames" in res.stdout, res.stdout
    status = nbnumba("batch", "status", path, "--out", out).stdout
    assert "sweep s.nxs: up to date (3 frames)" in status, status
