"""Running a batch: which jobs are left, and an engine to run them. Engines only schedule jobs
(job.run_job does the work): Dask (a LocalCluster of worker processes, a running scheduler, or
dask-jobqueue's SLURMCluster), or this process alone (`serial`, and `--shard I/N` for job arrays).
When every image of a manifest with [outputs] sweep is done, the run that sees it so assembles the
sweep (write_sweep)."""
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from ..errors import NanoBraggError
from . import job as jobs_mod


class Summary(NamedTuple):
    total: int          # jobs in this run (this shard's, with --shard)
    done: int           # rendered now
    skipped: int        # already complete
    failed: list        # [(id, error)]
    seconds: float
    sweep: str = ""     # what became of the manifest's [outputs] sweep (write_sweep), "" without one

    def line(self):
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        text = ("%d images: %d rendered, %d already done, %d failed in %.1f s (%.2f images/s)"
                % (self.total, self.done, self.skipped, len(self.failed), self.seconds, rate))
        return text + ("; " + self.sweep if self.sweep else "")


class SlurmOptions(NamedTuple):
    queue: str = None
    cores: int = 1
    memory: str = "4GB"
    walltime: str = "01:00:00"
    jobs: int = 1
    job_extra: tuple = ()       # extra #SBATCH directives
    account: str = None


def parse_shard(text):
    """'I/N' -> (I, N), 0 <= I < N."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except (ValueError, AttributeError):
        raise NanoBraggError("--shard: %r is not I/N (e.g. 0/4)" % (text,)) from None
    if n < 1 or not 0 <= i < n:
        raise NanoBraggError("--shard: %r needs 0 <= I < N" % (text,))
    return i, n


def shard_of(jobs, shard):
    """The I-th of N contiguous slices of jobs (neighbours share the most: tables, geometry)."""
    i, n = shard
    return jobs[i * len(jobs) // n:(i + 1) * len(jobs) // n]


def job_states(jobs, out_dir):
    """{id: "done" | "failed" | "pending"} and {id: error} of jobs in out_dir (outputs hashed in threads)."""
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
        done = list(pool.map(lambda j: jobs_mod.is_done(j, out_dir), jobs))
    states, errors = {}, {}
    for job, ok in zip(jobs, done):
        if ok:
            states[job.id] = "done"
            continue
        try:
            with open(os.path.join(out_dir, job.id + ".error"), encoding="utf-8", errors="replace") as fh:
                errors[job.id] = fh.read().strip()
            states[job.id] = "failed"
        except OSError:
            states[job.id] = "pending"
    return states, errors


def _chunks(jobs, slots):
    """Jobs in tasks of a few images: enough tasks to keep every slot busy to the end (4 per slot),
    at most 16 images each, so the scheduler sees hundreds of tasks rather than thousands."""
    size = max(1, min(16, len(jobs) // max(1, 4 * slots)))
    return [jobs[i:i + size] for i in range(0, len(jobs), size)]


class _Progress:
    """Images done of total on stderr (tqdm, on a terminal only), and per-image lines to a log file."""

    def __init__(self, total, initial, bar, log_file):
        self._bar = None
        if bar:
            from tqdm import tqdm
            self._bar = tqdm(total=total, initial=initial, unit="image", file=sys.stderr, dynamic_ncols=True,
                             desc="nbnumba batch")
        self._log = log_file

    def record(self, rec):
        if self._bar is not None:
            self._bar.update(1)
        if self._log is not None:
            extra = rec.get("error", "")
            if "statistics" in rec:
                extra = "max_I=%g mean=%g" % (rec["statistics"]["max_I"], rec["statistics"]["mean"])
            self._log.write("%s %s %.3f s %s\n" % (rec["id"], rec["status"], rec["seconds"], extra))
            self._log.flush()

    def close(self):
        if self._bar is not None:
            self._bar.close()


def run_batch(jobs, out_dir, engine="dask", workers=None, threads_per_worker=None, scheduler=None,
              cluster=None, slurm=None, shard=None, bar=None, log_file=None):
    """Renders every job of `jobs` not yet complete in out_dir; returns a Summary.

    engine: "dask" (LocalCluster of `workers` processes x `threads_per_worker`, or the cluster at
    `scheduler`, or cluster="slurm" with SlurmOptions `slurm`) or "serial" (this process). shard=(I, N):
    only the I-th of N slices, in this process, without Dask."""
    t0 = time.perf_counter()
    manifest_jobs = jobs
    if shard is not None:
        jobs, engine = shard_of(jobs, shard), "serial"
    out_dir = os.path.abspath(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise NanoBraggError("--out %s: %s" % (out_dir, e.strerror)) from None
    if not os.access(out_dir, os.W_OK):
        raise NanoBraggError("--out %s: not writable" % out_dir)
    jobs_mod.remove_temporaries(jobs, out_dir)
    _remove_sweep_temporaries(manifest_jobs, out_dir)
    states, _ = job_states(jobs, out_dir)
    pending = [j for j in jobs if states[j.id] != "done"]
    progress = _Progress(len(jobs), len(jobs) - len(pending),
                         sys.stderr.isatty() if bar is None else bar, log_file)
    records = []
    try:
        if pending and engine == "serial":
            for job in pending:
                rec = jobs_mod.run_job(job, out_dir, threads=0)
                records.append(rec)
                progress.record(rec)
        elif pending:
            records = _run_dask(pending, out_dir, workers, threads_per_worker, scheduler, cluster, slurm, progress)
    finally:
        progress.close()
        jobs_mod.remove_temporaries(jobs, out_dir)
    failed = [(r["id"], r["error"]) for r in records if r["status"] == "failed"]
    done = sum(r["status"] == "done" for r in records)
    skipped = len(jobs) - len(pending) + sum(r["status"] == "skipped" for r in records)
    sweep = write_sweep(manifest_jobs, out_dir) if manifest_jobs and manifest_jobs[0].sweep else ""
    return Summary(len(jobs), done, skipped, failed, time.perf_counter() - t0, sweep)


# ---------------------------------------------------------------- the sweep

SWEEP_DIGEST = "nbnumba_sweep_sha256"     # root attribute of the sweep file: sweep_digest of what it holds


def _remove_sweep_temporaries(jobs, out_dir):
    """The sweep's temporary files a killed run left (io.atomic's .NAME.HEX.tmp)."""
    if not jobs or not jobs[0].sweep:
        return
    head = "." + jobs[0].sweep + "."
    try:
        entries = os.listdir(out_dir)
    except OSError:
        return
    for entry in entries:
        if entry.startswith(head) and entry.endswith(".tmp") and len(entry) == len(head) + 16:
            try:
                os.unlink(os.path.join(out_dir, entry))
            except OSError:
                pass


def sweep_digest(frames):
    """sha256 of [(id, argv, file, sha256)] of the frames in order: what the sweep file was made from."""
    text = json.dumps([[job.id, list(job.argv), name, sha] for job, name, sha in frames])
    return hashlib.sha256(text.encode()).hexdigest()


def _recorded_digest(path):
    """The SWEEP_DIGEST attribute of an existing sweep file, or None."""
    if not os.path.isfile(path):
        return None
    try:
        import h5py
        with h5py.File(path, "r") as fh:
            value = fh.attrs.get(SWEEP_DIGEST)
    except Exception:       # noqa: BLE001 - not HDF5, unreadable: it is written again
        return None
    return value.decode() if isinstance(value, bytes) else (str(value) if value is not None else None)


class _SweepFrames:
    """The frames of a sweep, read one at a time (io.nexus.sweep_bytes takes them so): each file's
    sha256 must still be the one its sidecar recorded."""

    def __init__(self, frames, out_dir):
        self.frames, self.out_dir = frames, out_dir

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, i):
        from ..io.smv import read_smv
        job, name, sha = self.frames[i]
        path = os.path.join(self.out_dir, name)
        if jobs_mod.sha256_file(path) != sha:
            raise NanoBraggError("%s changed since its sidecar %s.json was written: run the batch again"
                                 % (name, job.id))
        return read_smv(path)[1]


def _sweep_frames(jobs, out_dir):
    """([(job, file, sha256)] of the frames done, how many are not, the image kind the sweep takes)."""
    from .manifest import sweep_source
    frames, waiting, kind = [], 0, None
    for job in jobs:
        kind, output, name = sweep_source(job.outputs)
        side = jobs_mod.read_sidecar(job, out_dir)
        entry = None
        if isinstance(side, dict) and side.get("argv") == list(job.argv) and isinstance(side.get("outputs"), dict):
            entry = side["outputs"].get(output)
        if not isinstance(entry, dict) or entry.get("file") != name or not entry.get("sha256"):
            waiting += 1
            continue
        frames.append((job, name, entry["sha256"]))
    return frames, waiting, kind


def sweep_status(jobs, out_dir):
    """One line on the manifest's sweep file in out_dir (`nbnumba batch status`), or None without one."""
    if not jobs or not getattr(jobs[0], "sweep", None):
        return None
    sweep = jobs[0].sweep
    frames, waiting, _ = _sweep_frames(jobs, out_dir)
    if waiting:
        return "sweep %s: waiting for %d of %d images" % (sweep, waiting, len(jobs))
    if _recorded_digest(os.path.join(out_dir, sweep)) == sweep_digest(frames):
        return "sweep %s: up to date (%d frames)" % (sweep, len(frames))
    return "sweep %s: to be written by the next run" % sweep


def write_sweep(jobs, out_dir):
    """Assembles the [outputs] sweep of a manifest's `jobs` (all of them, in manifest order) in out_dir
    from their noise (else int) images, once every image is done: one NXmx rotation series
    (io.nexus.sweep_bytes) written atomically, with the geometry of the first image settled as
    `nbnumba simulate` settles it. A sweep whose SWEEP_DIGEST is that of the frames there now is left
    as it is. Returns a one-line status; NanoBraggError when the file cannot be made."""
    from ..io.atomic import write_now
    from ..io.nexus import sweep_bytes
    from ..plan import make_plan
    sweep = jobs[0].sweep
    path = os.path.join(out_dir, sweep)
    frames, waiting, kind = _sweep_frames(jobs, out_dir)
    if waiting:
        return "%s not written: %d of %d images are not done" % (sweep, waiting, len(jobs))
    digest = sweep_digest(frames)
    if _recorded_digest(path) == digest:
        return "%s up to date (%d frames)" % (sweep, len(frames))
    try:
        p = make_plan(jobs_mod.parse_job(jobs[0], None, lambda line: None), lambda line: None,
                      read_table=jobs_mod.worker_cache().read).p
        phis = [float(p.phi0) + i * float(p.osc) for i in range(len(frames))]
        write_now(path, sweep_bytes(p, _SweepFrames(frames, out_dir), kind, phis, float(p.osc),
                                    attrs={SWEEP_DIGEST: digest}))
    except (NanoBraggError, OSError, ValueError) as e:
        raise NanoBraggError("every image is done, but the sweep %s could not be written: %s"
                             % (path, jobs_mod.one_line(e))) from None
    return "%s written (%d frames, the %s images)" % (sweep, len(frames), kind)


def _import_slurm_cluster():
    """dask_jobqueue.SLURMCluster. Importing dask_jobqueue sets a SIGINT handler of its own (sys.exit, in
    its runner module), which would turn Ctrl-C into a silent exit 0: the handler in place is put back."""
    import signal
    import threading
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main else None
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise NanoBraggError("--cluster slurm needs dask-jobqueue: pip install 'nbnumba[cluster]'") from None
    finally:
        if main and handler is not None:
            signal.signal(signal.SIGINT, handler)
    return SLURMCluster


def dask_client(workers=None, threads_per_worker=None, scheduler=None, cluster=None, slurm=None):
    """A distributed.Client and the cluster this process started for it (None for a scheduler address)."""
    import logging
    from distributed import Client, LocalCluster
    if scheduler:
        try:
            return Client(scheduler, timeout="30s"), None
        except (OSError, TimeoutError) as e:
            raise NanoBraggError("--scheduler %s: cannot connect: %s" % (scheduler, e)) from None
    if cluster == "slurm":
        SLURMCluster = _import_slurm_cluster()
        s = slurm or SlurmOptions()
        c = SLURMCluster(queue=s.queue, account=s.account, cores=s.cores, processes=s.cores, memory=s.memory,
                         walltime=s.walltime, job_extra_directives=list(s.job_extra))
        c.scale(jobs=s.jobs)
        return Client(c), c
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    tpw = threads_per_worker or 1
    n = workers or max(1, cores // tpw)
    # Dask's own log lines (a worker that outlives a closing scheduler, a slow event loop) would land on the
    # user's terminal; what matters about an image is in its record, .error file and the summary
    c = LocalCluster(n_workers=n, threads_per_worker=tpw, processes=True, dashboard_address=None,
                     silence_logs=logging.CRITICAL, preload=["nbnumba.batch.worker_setup"])
    return Client(c), c


def _run_dask(pending, out_dir, workers, threads_per_worker, scheduler, cluster, slurm, progress):
    from distributed import as_completed
    client, own = dask_client(workers, threads_per_worker, scheduler, cluster, slurm)
    records, by_future = [], {}
    try:
        slots = max(1, sum(client.nthreads().values())) if not cluster else max(1, (slurm or SlurmOptions()).jobs)
        chunks = _chunks(pending, slots)
        futures = client.map(jobs_mod.run_chunk, chunks, out_dir=out_dir, threads=1, pure=False)
        by_future = dict(zip(futures, chunks))
        for fut in as_completed(futures):
            try:
                recs = fut.result()
            except Exception as e:  # noqa: BLE001 - a task Dask gave up on (its workers kept dying)
                message = "worker lost: %s" % jobs_mod.one_line(e)
                recs = []
                for job in by_future[fut]:
                    if jobs_mod.is_done(job, out_dir):
                        recs.append({"id": job.id, "status": "done", "seconds": 0.0})
                        continue
                    try:
                        from ..io.atomic import write_now
                        write_now(os.path.join(out_dir, job.id + ".error"), (message + "\n").encode())
                    except OSError:
                        pass
                    recs.append({"id": job.id, "status": "failed", "seconds": 0.0, "error": message})
            for rec in recs:
                records.append(rec)
                progress.record(rec)
    except BaseException:
        client.cancel(list(by_future))
        raise
    finally:
        client.close()
        if own is not None:
            own.close()
    return records


def stream_images(jobs, engine="dask", workers=None, threads_per_worker=None, scheduler=None, cluster=None,
                  slurm=None):
    """Yields (id, image, statistics) as images finish, writing nothing."""
    if engine == "serial":
        for job in jobs:
            yield jobs_mod.image_of(job, threads=0)
        return
    from distributed import as_completed
    client, own = dask_client(workers, threads_per_worker, scheduler, cluster, slurm)
    try:
        slots = max(1, sum(client.nthreads().values()))
        futures = client.map(jobs_mod.image_chunk, _chunks(list(jobs), slots), threads=1, pure=False)
        for fut in as_completed(futures):
            yield from fut.result()
    finally:
        client.close()
        if own is not None:
            own.close()
