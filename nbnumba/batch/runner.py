"""Running a batch: which jobs are left, and an engine to run them. Engines only schedule jobs
(job.run_job does the work): Dask (a LocalCluster of worker processes, a running scheduler, or
dask-jobqueue's SLURMCluster), or this process alone (`serial`, and `--shard I/N` for job arrays).
When every image of a manifest with [outputs] sweep is done, the run that sees it so assembles the
sweep (write_sweep)."""
import contextlib
import gc
import hashlib
import json
import logging
import numbers
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Mapping
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


# ---------------------------------------------------------------- the engine's arguments, checked first

ENGINES = ("dask", "serial")
CLUSTERS = ("slurm",)
SCHEDULER_PROTOCOLS = ("tcp", "tls", "ws", "wss", "ucx")


def _whole(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _count(option, value):
    """None, or a whole number >= 1 (not a bool, a float or a string)."""
    if value is None:
        return None
    if not _whole(value) or value < 1:
        raise NanoBraggError("%s: %r is not a whole number >= 1" % (option, value))
    return int(value)


def check_shard(shard):
    """None, (I, N) with whole numbers 0 <= I < N, or the text 'I/N'."""
    if shard is None:
        return None
    if isinstance(shard, str):
        return parse_shard(shard)
    try:
        i, n = shard
    except (TypeError, ValueError):
        raise NanoBraggError("--shard: %r is not a pair (I, N) of whole numbers" % (shard,)) from None
    if not (_whole(i) and _whole(n)):
        raise NanoBraggError("--shard: %r is not a pair (I, N) of whole numbers" % (shard,))
    if n < 1 or not 0 <= i < n:
        raise NanoBraggError("--shard: %r needs 0 <= I < N" % (tuple(shard),))
    return int(i), int(n)


def check_scheduler(address):
    """A Dask scheduler address PROTOCOL://HOST:PORT (or HOST:PORT, tcp), checked without connecting."""
    if address is None:
        return None
    hint = "is not a scheduler address such as tcp://host:8786"
    if not isinstance(address, str):
        raise NanoBraggError("--scheduler: %r %s" % (address, hint))
    text = address.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    if scheme not in SCHEDULER_PROTOCOLS:
        raise NanoBraggError("--scheduler: %r %s (protocol %r is not one of %s)"
                             % (address, hint, scheme, ", ".join(SCHEDULER_PROTOCOLS)))
    if rest.startswith("["):                        # [IPv6]:port
        host, _, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
    else:
        host, colon, port = rest.rpartition(":")
        if not colon:
            host, port = rest, ""
    if not host or any(c.isspace() or c in "/?#@[]" for c in host):
        raise NanoBraggError("--scheduler: %r %s (no host)" % (address, hint))
    if not port:
        raise NanoBraggError("--scheduler: %r %s (no port)" % (address, hint))
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise NanoBraggError("--scheduler: %r %s (the port must be a number 1..65535)" % (address, hint))
    return text


def check_slurm(slurm):
    """SlurmOptions (or a mapping of its fields) with sensible types; None means the defaults. Errors name
    the command line's options (queue: --partition, cores: --cpus-per-task, memory: --mem, walltime:
    --time, job_extra: --extra)."""
    if slurm is None:
        return SlurmOptions()
    if isinstance(slurm, Mapping):
        unknown = sorted(set(map(str, slurm)) - set(SlurmOptions._fields))
        if unknown:
            raise NanoBraggError("slurm: unknown option %s (known: %s)" % (unknown[0], ", ".join(SlurmOptions._fields)))
        slurm = SlurmOptions(**slurm)
    if not isinstance(slurm, SlurmOptions):
        raise NanoBraggError("slurm: %r is not SlurmOptions or a mapping of its fields" % (slurm,))
    for option, value in (("--partition", slurm.queue), ("--account", slurm.account)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise NanoBraggError("%s: %r is not a name" % (option, value))
    _count("--cpus-per-task", slurm.cores)
    _count("--jobs", slurm.jobs)
    for option, value in (("--mem", slurm.memory), ("--time", slurm.walltime)):
        if not isinstance(value, str) or not value.strip():
            raise NanoBraggError("%s: %r is not a SLURM value such as 4GB or 01:00:00" % (option, value))
    memory = slurm_memory(slurm.memory)
    try:
        from dask.utils import parse_bytes
        if parse_bytes(memory) < 1 << 20:
            raise ValueError
    except (ValueError, TypeError):
        raise NanoBraggError("--mem: %r is not an amount of memory such as 4GB (at least 1 MiB)"
                             % (slurm.memory,)) from None
    extra = slurm.job_extra
    if isinstance(extra, str) or not isinstance(extra, (list, tuple)) or not all(isinstance(e, str) for e in extra):
        raise NanoBraggError("--extra: %r is not a list of #SBATCH directives" % (extra,))
    from .manifest import CONTROL
    for option, value in (("--partition", slurm.queue), ("--account", slurm.account), ("--mem", slurm.memory),
                          ("--time", slurm.walltime)) + tuple(("--extra", e) for e in extra):
        if value is not None and CONTROL.search(value):
            # each goes into a line of the worker job script: a newline would add a line of its own
            raise NanoBraggError("%s %r: a control character is not allowed" % (option, value))
    return slurm._replace(job_extra=tuple(extra), memory=memory)


def slurm_memory(text):
    """--mem as dask-jobqueue takes it: a plain number or one with a single-letter unit is read as sbatch
    reads it (megabytes by default; K, M, G, T binary): '8000' -> '8000MiB', '8G' -> '8GiB'. Dask's own
    forms ('4GB', '3.5GiB') are kept (dask would read '8000' as 8000 bytes)."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGTkmgt]?)\s*", text)
    return "%s%siB" % (m.group(1), (m.group(2) or "M").upper()) if m else text.strip()


def check_engine(engine="dask", workers=None, threads_per_worker=None, scheduler=None, cluster=None, slurm=None,
                 shard=None):
    """The engine's arguments checked and normalised, before anything is created or started: a
    NanoBraggError naming the first that is wrong. Returns them as a dict."""
    if not isinstance(engine, str) or engine not in ENGINES:
        raise NanoBraggError("--engine: %r is not one of %s" % (engine, ", ".join(ENGINES)))
    workers = _count("--workers", workers)
    threads_per_worker = _count("--threads-per-worker", threads_per_worker)
    if cluster is not None and (not isinstance(cluster, str) or cluster not in CLUSTERS):
        raise NanoBraggError("--cluster: %r is not one of %s" % (cluster, ", ".join(CLUSTERS)))
    scheduler = check_scheduler(scheduler)
    shard = check_shard(shard)
    if scheduler and cluster:
        raise NanoBraggError("--scheduler and --cluster: give one (a running scheduler, or workers as SLURM jobs)")
    if shard is not None and (scheduler or cluster):
        raise NanoBraggError("--shard renders its slice in this process: not with --%s"
                             % ("scheduler" if scheduler else "cluster"))
    if engine == "serial" and (scheduler or cluster):
        raise NanoBraggError("--engine serial renders in this process: not with --%s"
                             % ("scheduler" if scheduler else "cluster"))
    slurm = check_slurm(slurm) if cluster == "slurm" else slurm
    return dict(engine=engine, workers=workers, threads_per_worker=threads_per_worker, scheduler=scheduler,
                cluster=cluster, slurm=slurm, shard=shard)


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
    only the I-th of N slices, in this process, without Dask. The arguments are checked (check_engine)
    before anything is created; a run that fails or is interrupted before it wrote anything leaves no
    folder it created."""
    t0 = time.perf_counter()
    args = check_engine(engine, workers, threads_per_worker, scheduler, cluster, slurm, shard)
    engine, shard = args["engine"], args["shard"]
    if not isinstance(out_dir, (str, bytes, os.PathLike)):
        raise NanoBraggError("--out: %r is not a folder name" % (out_dir,))
    manifest_jobs = jobs
    if shard is not None:
        jobs, engine = shard_of(jobs, shard), "serial"
    out_dir = os.path.abspath(os.fsdecode(out_dir))
    if "\0" in out_dir:
        raise NanoBraggError("--out %r: not a folder name (a NUL character)" % out_dir)
    created = _make_folder(out_dir)
    try:
        if not os.access(out_dir, os.W_OK):
            raise NanoBraggError("--out %s: not writable" % out_dir)
        summary = _run_in(jobs, manifest_jobs, out_dir, engine, args, bar, log_file, t0)
    except BaseException:
        _remove_empty(created)
        raise
    return summary


def _make_folder(path):
    """Creates folder `path` and its missing parents; returns those it created, deepest first."""
    created, probe = [], path
    while not os.path.lexists(probe):
        created.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        _remove_empty(created)
        raise NanoBraggError("--out %s: %s" % (path, e.strerror or e)) from None
    return created


def _remove_empty(created):
    """Removes the folders _make_folder created (deepest first) while they are empty."""
    for path in created:
        try:
            os.rmdir(path)
        except OSError:
            return


def _run_in(jobs, manifest_jobs, out_dir, engine, args, bar, log_file, t0):
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
            records = _run_dask(pending, out_dir, args, progress)
    finally:
        progress.close()
        jobs_mod.remove_temporaries(jobs, out_dir)
    failed = [(r["id"], r["error"]) for r in records if r["status"] == "failed"]
    done = sum(r["status"] == "done" for r in records)
    skipped = len(jobs) - len(pending) + sum(r["status"] == "skipped" for r in records)
    sweep = write_sweep(manifest_jobs, out_dir) if _sweep_set(manifest_jobs) else ""
    return Summary(len(jobs), done, skipped, failed, time.perf_counter() - t0, sweep)


# ---------------------------------------------------------------- the sweep

SWEEP_DIGEST = "nbnumba_sweep_sha256"     # root attribute of the sweep file: sweep_digest of what it holds


def _sweep_set(jobs):
    """The jobs whose images make the manifest's [outputs] sweep, in manifest order (its [rotation]
    frames: manifest.sweep_jobs); [] without a sweep."""
    return [job for job in jobs if getattr(job, "sweep", None)]


def _remove_sweep_temporaries(jobs, out_dir):
    """The sweep's temporary files a killed run left (io.atomic's .NAME.HEX.tmp)."""
    jobs = _sweep_set(jobs)
    if not jobs:
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
    jobs = _sweep_set(jobs)
    if not jobs:
        return None
    sweep = jobs[0].sweep
    frames, waiting, _ = _sweep_frames(jobs, out_dir)
    if waiting:
        return "sweep %s: waiting for %d of %d images" % (sweep, waiting, len(jobs))
    if _recorded_digest(os.path.join(out_dir, sweep)) == sweep_digest(frames):
        return "sweep %s: up to date (%d frames)" % (sweep, len(frames))
    return "sweep %s: to be written by the next run" % sweep


def write_sweep(jobs, out_dir):
    """Assembles the [outputs] sweep of a manifest's `jobs` (all of them, in manifest order: the frames are
    those that carry the sweep, its [rotation]) in out_dir from their noise (else int) images, once every
    frame is done: one NXmx rotation series
    (io.nexus.sweep_bytes) written atomically, with the geometry of the first image settled as
    `nbnumba simulate` settles it. A sweep whose SWEEP_DIGEST is that of the frames there now is left
    as it is. Returns a one-line status; NanoBraggError when the file cannot be made."""
    from ..io.atomic import write_now
    from ..io.nexus import sweep_bytes
    from ..plan import make_plan
    jobs = _sweep_set(jobs)
    if not jobs:
        return ""
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
    its runner module), which would turn Ctrl-C into a silent exit 0: the handler in place is put back.
    (So the first import must be in the main thread: signal.signal works only there.)"""
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main else None
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise NanoBraggError("--cluster slurm needs dask-jobqueue: pip install 'nbnumba[cluster]'") from None
    except ValueError as e:         # signal only works in main thread
        raise NanoBraggError("--cluster slurm: dask_jobqueue cannot be imported here: %s" % e) from None
    finally:
        if main and handler is not None:
            signal.signal(signal.SIGINT, handler)
    return SLURMCluster


# ---------------------------------------------------------------- Dask, quietly and interruptibly
#
# What the user sees of a Dask run is nbnumba's: the bar, the summary, one line for an error. Dask's log
# lines and warnings are kept off the terminal while nbnumba's cluster lives (_quiet), in this process
# and in the worker processes (worker_setup). The scheduler's HTTP server (health and metrics routes,
# bound even without a dashboard) takes a free port: Dask's default, 8787, may be anyone's.
#
# Ctrl-C at a terminal reaches every process of the foreground group. The worker processes must not take
# it: a worker killed while it imports prints a KeyboardInterrupt traceback. So the cluster is started
# from a thread that blocks SIGINT; the event-loop thread it starts inherits the mask, and so do the
# threads that thread starts and every worker process they spawn (a signal mask survives fork and exec:
# the worker's Python starts with SIGINT blocked, before it imports anything). The main thread keeps
# SIGINT and waits for the start; interrupted, it lets the start finish, closes what was started and
# raises (a cluster half-started cannot be closed cleanly).
#
# Worker processes are spawned: a fresh Python that, by multiprocessing's rules, runs the main script
# again as __mp_main__ (a script that calls nbnumba.api.batch at its top level, without
# `if __name__ == "__main__":`, would start a cluster in each worker). Workers need only nbnumba, so
# while nbnumba's own cluster lives, Dask's worker processes are spawned without the main script
# (_MainHidden).

_WORKER_PROCESS = "Dask Worker process"       # the name distributed's Nanny gives its worker processes
_QUIET_LOGGERS = ("distributed", "dask_jobqueue", "tornado", "bokeh")
_QUIET_WARNINGS = r"(distributed|dask_jobqueue|dask|tornado|bokeh)(\..*)?\Z"
_CONNECT_SECONDS = 10                         # a --scheduler that takes no connection in this is an error
_ANSWER_SECONDS = 15                          # ... and one that does not say it is a Dask scheduler in this
_START_TIMEOUT = 120.0                        # seconds an interrupted start is waited for before it is left
_SBATCH_TIMEOUT = 20.0


def _dask_record(name):
    return any(name == root or name.startswith(root + ".") for root in _QUIET_LOGGERS)


class _DaskRecords(logging.Filter):
    def filter(self, record):
        return not _dask_record(record.name)


class _quiet:
    """Within the block, Dask's log records are dropped and its warnings ignored. The records by a filter on
    every handler they can reach (the root logger's, logging.lastResort, those of Dask's loggers): a
    logger's level would not do, for the children with levels of their own (distributed.client) and
    those made later (distributed.http.proxy). Blocks may overlap (batches in several threads): the first
    in silences, the last out restores."""

    _depth = 0
    _lock = threading.Lock()
    _saved = None

    @staticmethod
    def _handlers():
        loggers = [logging.getLogger()] + [lg for name, lg in list(logging.Logger.manager.loggerDict.items())
                                           if _dask_record(name) and isinstance(lg, logging.Logger)]
        handlers = [h for lg in loggers for h in lg.handlers]
        if logging.lastResort is not None:
            handlers.append(logging.lastResort)
        return list({id(h): h for h in handlers}.values())

    def __enter__(self):
        with self._lock:
            if _quiet._depth == 0:
                drop = _DaskRecords()
                handlers = self._handlers()
                for h in handlers:
                    h.addFilter(drop)
                warnings.filterwarnings("ignore", module=_QUIET_WARNINGS)
                _quiet._saved = (drop, handlers, warnings.filters[0])
            _quiet._depth += 1
        return self

    def __exit__(self, *exc):
        with self._lock:
            _quiet._depth -= 1
            if _quiet._depth == 0 and _quiet._saved is not None:
                drop, handlers, entry = _quiet._saved
                _quiet._saved = None
                for h in handlers:
                    h.removeFilter(drop)
                with contextlib.suppress(ValueError):
                    warnings.filters.remove(entry)
                    getattr(warnings, "_filters_mutated", lambda: None)()
        return False


class _MainHidden:
    """While any is entered, Dask's worker processes are spawned without running the main module again
    (multiprocessing.spawn.get_preparation_data without init_main_from_path / init_main_from_name)."""

    _count = 0
    _lock = threading.Lock()

    @classmethod
    def _install(cls):
        import multiprocessing.spawn as spawn
        if getattr(spawn.get_preparation_data, "_nbnumba_main_hidden", False):
            return
        original = spawn.get_preparation_data

        def get_preparation_data(name):
            data = original(name)
            if cls._count and isinstance(name, str) and name.startswith(_WORKER_PROCESS):
                data.pop("init_main_from_path", None)
                data.pop("init_main_from_name", None)
            return data

        get_preparation_data._nbnumba_main_hidden = True
        get_preparation_data.__wrapped__ = original
        spawn.get_preparation_data = get_preparation_data

    def __enter__(self):
        with self._lock:
            self._install()
            _MainHidden._count += 1
        return self

    def __exit__(self, *exc):
        with self._lock:
            _MainHidden._count -= 1
        return False


def _started(start, close):
    """start() run in a thread that blocks SIGINT (see above); its value. A signal in this thread while it
    runs (Interrupted, KeyboardInterrupt) waits for start to end, close()s what it made, and is raised."""
    box, done = {}, threading.Event()

    def target():
        try:
            if hasattr(signal, "pthread_sigmask"):
                # multiprocessing's resource tracker, when it starts, unblocks SIGINT in the thread that
                # starts it (it blocks it around its own spawn, then unblocks it whatever it was): start
                # it first
                with contextlib.suppress(Exception):
                    from multiprocessing import resource_tracker
                    resource_tracker.ensure_running()
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            box["value"] = start()
        except BaseException as e:      # noqa: BLE001 - raised again in the calling thread
            box["error"] = e
        finally:
            done.set()

    # waited for with an Event: Thread.join interrupted by a signal can take a live thread for ended
    threading.Thread(target=target, name="nbnumba batch: starting Dask", daemon=True).start()
    try:
        while not done.wait(0.05):
            pass
    except BaseException:
        done.wait(_START_TIMEOUT)
        if "value" in box:
            with contextlib.suppress(Exception):
                close(box["value"])
        raise
    if "error" in box:
        raise box.pop("error")
    return box["value"]


def _start_failed(what, e):
    """A NanoBraggError for a cluster or client that did not start (Dask's exceptions carry several lines)."""
    if isinstance(e, NanoBraggError):
        return e
    return NanoBraggError("%s: %s" % (what, jobs_mod.one_line(e)))


async def _identity(address, seconds):
    from distributed.comm import connect
    comm = await connect(address, timeout=seconds)
    try:
        await comm.write({"op": "identity"})
        return await comm.read()
    finally:
        comm.abort()


def _connect(scheduler):
    """A Client of the Dask scheduler at `scheduler`, which is asked who it is first: an address where
    nothing listens, or something that is not a Dask scheduler, is an error within _ANSWER_SECONDS
    (distributed.Client would wait on a listener that never answers)."""
    import asyncio

    from distributed import Client
    what = "--scheduler %s" % scheduler
    try:
        ident = asyncio.run(asyncio.wait_for(_identity(scheduler, _CONNECT_SECONDS), _ANSWER_SECONDS))
    except (asyncio.TimeoutError, TimeoutError):
        raise NanoBraggError("%s: no Dask scheduler answered in %d s" % (what, _ANSWER_SECONDS)) from None
    except OSError as e:
        raise NanoBraggError("%s: cannot connect (%s)" % (what, jobs_mod.one_line(e))) from None
    except Exception as e:      # noqa: BLE001 - a stranger on the port, a bad address
        raise _start_failed("%s: cannot connect" % what, e) from None
    kind = ident.get("type") if isinstance(ident, dict) else None
    if kind != "Scheduler":
        raise NanoBraggError("%s: not a Dask scheduler (it answers as %s)" % (what, kind or "something else"))
    try:
        return Client(scheduler, timeout=_CONNECT_SECONDS, set_as_default=False), None
    except Exception as e:      # noqa: BLE001
        raise _start_failed("%s: cannot connect" % what, e) from None


def _local_cluster(workers, threads_per_worker):
    from distributed import Client, LocalCluster
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    tpw = threads_per_worker or 1
    n = workers or max(1, cores // tpw)
    try:
        cluster = LocalCluster(n_workers=n, threads_per_worker=tpw, processes=True, host="127.0.0.1",
                               dashboard_address=None, worker_dashboard_address=None,
                               scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                               silence_logs=logging.CRITICAL + 1, preload=["nbnumba.batch.worker_setup"])
    except Exception as e:      # noqa: BLE001 - "Nanny failed to start" and the like
        raise _start_failed("the Dask workers did not start", e) from None
    try:
        return Client(cluster, set_as_default=False), cluster
    except BaseException as e:
        with contextlib.suppress(Exception):
            cluster.close()
        if isinstance(e, Exception):
            raise _start_failed("the Dask workers did not start", e) from None
        raise


def _sbatch_errors(text):
    """sbatch's error lines as one line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line.split("error:", 1)[1].strip() for line in lines if "error:" in line]
    return "; ".join(errors or lines) or "no message"


def _sbatch_test(script):
    """sbatch --test-only of the worker job: refuses what submitting it would (a partition, account, time
    or memory SLURM does not have), without queueing anything."""
    try:
        res = subprocess.run(["sbatch", "--test-only"], input=script, capture_output=True, text=True,
                             timeout=_SBATCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise NanoBraggError("--cluster slurm: sbatch --test-only did not answer in %.0f s (is slurmctld up?)"
                             % _SBATCH_TIMEOUT) from None
    except OSError as e:
        raise NanoBraggError("--cluster slurm: cannot run sbatch: %s" % (e.strerror or e)) from None
    if res.returncode != 0:
        raise NanoBraggError("--cluster slurm: SLURM refuses the worker job: %s" % _sbatch_errors(res.stderr))


def _slurm_cluster(SLURMCluster, s):
    from distributed import Client
    if shutil.which("sbatch") is None:
        raise NanoBraggError("--cluster slurm: sbatch is not on PATH (run on a SLURM login node)")
    try:
        cluster = SLURMCluster(queue=s.queue, account=s.account, cores=s.cores, processes=s.cores, memory=s.memory,
                               walltime=s.walltime, job_extra_directives=list(s.job_extra),
                               scheduler_options={"dashboard": False, "dashboard_address": ":0"})
    except Exception as e:      # noqa: BLE001 - dask-jobqueue's checks of the options
        raise _start_failed("--cluster slurm", e) from None
    try:
        _sbatch_test(cluster.job_script())
        # the jobs are submitted here and now, so that a refusal is an error of this run (scale() would
        # submit in the background and log its failures, again and again)
        while len(cluster.worker_spec) < s.jobs:
            cluster.worker_spec.update(cluster.new_worker_spec())
        try:
            cluster.sync(cluster._correct_state)
        except Exception as e:      # noqa: BLE001 - sbatch's RuntimeError, with its output
            text = str(e)
            raise NanoBraggError("--cluster slurm: the worker jobs could not be submitted: %s"
                                 % (_sbatch_errors(text.split("stderr:", 1)[1]) if "stderr:" in text
                                    else jobs_mod.one_line(e))) from None
        return Client(cluster, set_as_default=False), cluster
    except BaseException:
        with contextlib.suppress(Exception):
            cluster.close()
        raise


def _stop(client, own):
    with contextlib.suppress(Exception):
        client.close()
    if own is not None:
        with contextlib.suppress(Exception):
            own.close()
        _release_worker_queues()


def _release_worker_queues(seconds=5.0):
    """Waits (a little) until the closed cluster's worker-process queues are finalized. Their semaphores
    are registered with multiprocessing's resource tracker, which calls any not finalized when this
    process ends leaked, on stderr; the command line ends with os._exit, which runs no finalizer. Each
    queue is held by distributed's thread that watches its process until the process object is collected."""
    deadline = time.monotonic() + seconds
    while True:
        gc.collect()
        watchers = [t for t in threading.enumerate() if t.name.startswith("AsyncProcess " + _WORKER_PROCESS)]
        if not watchers or time.monotonic() > deadline:
            break
        for t in watchers:
            t.join(max(0.0, min(0.1, deadline - time.monotonic())))
    gc.collect()


def dask_client(workers=None, threads_per_worker=None, scheduler=None, cluster=None, slurm=None):
    """A distributed.Client and the cluster this process started for it (None for a scheduler address).
    Use it within _quiet() and _MainHidden(); dask_session does all of this."""
    args = check_engine("dask", workers, threads_per_worker, scheduler, cluster, slurm)
    if args["scheduler"]:
        return _started(lambda: _connect(args["scheduler"]), lambda pair: _stop(*pair))
    if args["cluster"] == "slurm":
        SLURMCluster = _import_slurm_cluster()          # in the main thread: it sets a signal handler
        return _started(lambda: _slurm_cluster(SLURMCluster, args["slurm"]), lambda pair: _stop(*pair))
    return _started(lambda: _local_cluster(args["workers"], args["threads_per_worker"]), lambda pair: _stop(*pair))


@contextlib.contextmanager
def dask_session(workers=None, threads_per_worker=None, scheduler=None, cluster=None, slurm=None):
    """A distributed.Client (dask_client) for the block, quiet, closed with its cluster at the end."""
    import distributed  # noqa: F401 - imported before _quiet looks for Dask's loggers
    if cluster == "slurm":
        _import_slurm_cluster()
    with _quiet(), _MainHidden():
        client, own = dask_client(workers, threads_per_worker, scheduler, cluster, slurm)
        try:
            yield client
        finally:
            _stop(client, own)


_SLURM_ALIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
                "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT"}
_WATCH_SECONDS = 10.0           # a run with no image finished in this long is looked at (SLURM)


def _squeue_states(ids):
    """{job id: state} of the jobs SLURM still lists, or None where squeue gives no answer."""
    try:
        res = subprocess.run(["squeue", "-h", "-j", ",".join(ids), "-o", "%i %T"], capture_output=True,
                             text=True, timeout=_SBATCH_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return {} if "invalid job id" in res.stderr.lower() else None
    return dict(line.split(None, 1) for line in res.stdout.splitlines() if len(line.split(None, 1)) == 2)


def _slurm_watch(client):
    """For a run on SLURM workers: a check that raises NanoBraggError when no Dask worker is connected
    and none of the worker jobs is queued or running any more (they ended, e.g. at once, without ever
    starting a worker; or their time ran out). Dask itself would wait for workers forever."""
    cluster = getattr(client, "cluster", None)

    def check():
        if cluster is None or client.nthreads():
            return
        ids = [str(job.job_id) for job in list(cluster.workers.values()) if getattr(job, "job_id", None)]
        states = _squeue_states(ids) if ids else None
        if states is None or any(state.strip() in _SLURM_ALIVE for state in states.values()):
            return
        ended = ", ".join("job %s: %s" % (i, states.get(i, "no longer listed").strip()) for i in ids)
        raise NanoBraggError("--cluster slurm: the worker jobs ended and no Dask worker is connected (%s); "
                             "their output: slurm-<id>.out in %s" % (ended, os.getcwd()))

    return check


def _completed(client, futures, check=None):
    """distributed.as_completed over futures; with a check, called whenever no future has finished for
    _WATCH_SECONDS."""
    from distributed import as_completed
    done = as_completed(futures, loop=client.loop)
    if check is None:
        yield from done
        return
    since = time.monotonic()
    while not done.is_empty():
        if done.has_ready():
            yield next(done)
            since = time.monotonic()
            continue
        time.sleep(0.05)
        if time.monotonic() - since >= _WATCH_SECONDS:
            check()
            since = time.monotonic()


def _watch(client, args):
    return _slurm_watch(client) if args["cluster"] == "slurm" else None


def _slots(client, args):
    if args["cluster"] == "slurm":
        s = args["slurm"]
        return max(1, s.jobs * s.cores)
    return max(1, sum(client.nthreads().values()))


def _run_dask(pending, out_dir, args, progress):
    records, by_future = [], {}
    with dask_session(args["workers"], args["threads_per_worker"], args["scheduler"], args["cluster"],
                      args["slurm"]) as client:
        try:
            chunks = _chunks(pending, _slots(client, args))
            futures = client.map(jobs_mod.run_chunk, chunks, out_dir=out_dir, threads=1, pure=False)
            by_future = dict(zip(futures, chunks))
            for fut in _completed(client, futures, _watch(client, args)):
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
            with contextlib.suppress(Exception):
                client.cancel(list(by_future))
            raise
    return records


def stream_images(jobs, engine="dask", workers=None, threads_per_worker=None, scheduler=None, cluster=None,
                  slurm=None, shard=None):
    """An iterator of (id, image, statistics) as images finish, writing nothing. The arguments are
    checked now (check_engine); the work starts when the iterator is first advanced."""
    args = check_engine(engine, workers, threads_per_worker, scheduler, cluster, slurm, shard)
    jobs = list(jobs)
    if args["shard"] is not None:
        jobs, args["engine"] = shard_of(jobs, args["shard"]), "serial"
    return _stream(jobs, args)


def _stream(jobs, args):
    if args["engine"] == "serial":
        for job in jobs:
            yield jobs_mod.image_of(job, threads=0)
        return
    if not jobs:
        return
    with dask_session(args["workers"], args["threads_per_worker"], args["scheduler"], args["cluster"],
                      args["slurm"]) as client:
        futures = client.map(jobs_mod.image_chunk, _chunks(jobs, _slots(client, args)), threads=1, pure=False)
        try:
            for fut in _completed(client, futures, _watch(client, args)):
                yield from fut.result()
        finally:
            with contextlib.suppress(Exception):
                client.cancel(futures)
