"""nbnumba batch on a real SLURM: the generated sbatch job array, and Dask workers started as SLURM jobs by
dask-jobqueue. CI starts a single-node SLURM (.ci/slurm.sh) and sets NBNUMBA_REQUIRE_SLURM=1, so there these
tests run or fail; elsewhere they are skipped when no SLURM answers."""
import os
import shutil
import subprocess

import pytest

from test_batch import MIXED, manifest, nbnumba, outputs_of, temporaries


def _slurm_up():
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return False
    try:
        res = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0 and any(s in res.stdout for s in ("idle", "mix", "alloc"))


UP = _slurm_up()
if not UP and os.environ.get("NBNUMBA_REQUIRE_SLURM") == "1":
    raise RuntimeError("NBNUMBA_REQUIRE_SLURM=1 but no SLURM answers (sinfo); start it with .ci/slurm.sh")
pytestmark = pytest.mark.skipif(not UP, reason="no SLURM cluster answers here (CI starts one: .ci/slurm.sh)")


@pytest.fixture
def reference(tmp_path):
    path = manifest(tmp_path / "ref", MIXED)
    nbnumba("batch", "run", path, "--out", tmp_path / "ref" / "out", "--engine", "serial")
    return outputs_of(tmp_path / "ref" / "out")


def test_sbatch_job_array_renders_the_set(tmp_path, reference):
    path = manifest(tmp_path, MIXED)
    out = tmp_path / "out"
    script = nbnumba("batch", "slurm-script", path, "--out", out, "--array", "3", "--time", "00:10:00").stdout
    (tmp_path / "job.sh").write_text(script)
    out.mkdir()         # for the tasks' own log files (#SBATCH --output)
    res = subprocess.run(["sbatch", "--wait", str(tmp_path / "job.sh")], capture_output=True, text=True,
                         timeout=600, cwd=tmp_path)
    logs = "\n".join(p.read_text() for p in out.glob("slurm-*.out"))
    assert res.returncode == 0, (res.stdout, res.stderr, logs)
    assert len(list(out.glob("slurm-*_*.out"))) == 3          # one per array task
    assert "7 images: 7 done, 0 failed, 0 pending" in nbnumba("batch", "status", path, "--out", out).stdout
    assert outputs_of(out) == reference and not temporaries(out)


def test_dask_workers_as_slurm_jobs(tmp_path, reference):
    import importlib.util
    if importlib.util.find_spec("dask_jobqueue") is None:      # not imported here: it sets a SIGINT handler
        pytest.skip("dask-jobqueue is not installed")
    path = manifest(tmp_path, MIXED)
    out = tmp_path / "out"
    res = nbnumba("batch", "run", path, "--out", out, "--cluster", "slurm", "--jobs", "1", "--cores", "1",
                  "--memory", "2GB", "--walltime", "00:10:00", cwd=tmp_path)
    assert res.stdout.startswith("7 images: 7 rendered"), (res.stdout, res.stderr)
    assert outputs_of(out) == reference and not temporaries(out)

