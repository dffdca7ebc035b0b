"""One batch job: render image `job` of a manifest into its files in the output folder, atomically, with
a sidecar `{id}.json` written last (or `{id}.error` when it fails). Pure in the sense that matters: the
same job gives the same bytes on any worker, and a job whose files are complete is not rendered again.

What images share is kept per process (a batch worker renders many): the kernels stay loaded, and
parsed -hkl tables are cached by file content within a memory budget (TableCache)."""
import hashlib
import json
import os
import re
import socket
import threading
import time

from ..errors import NanoBraggError

SIDECAR_VERSION = 1
_TEMP = re.compile(r"\.(.+)\.[0-9a-f]{12}\.tmp\Z")     # io.atomic's temporary files: .NAME.HEX.tmp


class TableCache:
    """Parsed structure-factor tables keyed by (file content, default_F), least recently used first out
    beyond `budget` bytes. A file is hashed once per (path, inode, size, mtime); its log lines and
    warnings are replayed on every hit, so each image logs what `nbnumba simulate` would."""

    def __init__(self, budget=1 << 30):
        self.budget = budget
        self._lock = threading.Lock()
        self._digests = {}       # (path, dev, ino, size, mtime_ns) -> sha256 of the content
        self._tables = {}        # (sha256, default_F) -> (table, log lines, warnings, bytes)
        self.hits = self.misses = 0

    def _digest(self, path):
        st = os.stat(path)
        key = (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        digest = self._digests.get(key)
        if digest is None:
            digest = self._digests[key] = sha256_file(path)
        return digest

    def read(self, path, default_F, log=print, warn=None):
        """io.hkl.read_hkl, from the cache when the same content was read before."""
        from ..io.hkl import read_hkl
        try:
            key = (self._digest(path), float(default_F))
        except OSError:
            return read_hkl(path, default_F, log, warn)     # its own message for a missing file
        with self._lock:
            entry = self._tables.pop(key, None)
            if entry is not None:
                self._tables[key] = entry                     # most recently used last
                self.hits += 1
        if entry is None:
            lines, warnings = [], []
            table = read_hkl(path, default_F, lines.append, warnings.append)
            entry = (table, lines, warnings, table.Fhkl.nbytes, path)
            with self._lock:
                self.misses += 1
                self._tables[key] = entry
                total = sum(e[3] for e in self._tables.values())
                while total > self.budget and len(self._tables) > 1:
                    total -= self._tables.pop(next(iter(self._tables)))[3]
        table, lines, warnings, _, first_path = entry
        # the lines name the file: this one, not the copy that was read first
        for line in lines:
            log(line.replace(first_path, path) if first_path != path else line)
        if warn is not None:
            for w in warnings:
                warn(w.replace(first_path, path) if first_path != path else w)
        return table


_cache = None
_cache_lock = threading.Lock()


def worker_cache():
    """This process's TableCache (a Dask worker keeps it between tasks). Budget: NBNUMBA_BATCH_CACHE_MB."""
    global _cache
    with _cache_lock:
        if _cache is None:
            _cache = TableCache(int(os.environ.get("NBNUMBA_BATCH_CACHE_MB", "1024")) << 20)
        return _cache


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_sidecar(job, out_dir):
    """The sidecar of `job` in out_dir as a dict, or None (missing, unreadable or not JSON)."""
    try:
        with open(os.path.join(out_dir, job.id + ".json"), "rb") as fh:
            return json.loads(fh.read())
    except (OSError, ValueError):
        return None


def is_done(job, out_dir):
    """Whether job's files are complete: the sidecar is there, for this argv, and every output it lists
    exists with the sha256 it records."""
    side = read_sidecar(job, out_dir)
    if not isinstance(side, dict) or side.get("argv") != list(job.argv):
        return False
    recorded = side.get("outputs", {})
    if sorted(recorded) != sorted(kind for kind, _ in job.outputs):
        return False
    for kind, name in job.outputs:
        entry = recorded[kind]
        if not isinstance(entry, dict) or entry.get("file") != name:
            return False
        try:
            if sha256_file(os.path.join(out_dir, name)) != entry.get("sha256"):
                return False
        except OSError:
            return False
    return True


def remove_temporaries(jobs, out_dir):
    """Removes the temporary files that a killed run of these jobs left in out_dir (only theirs: other
    shards may be writing into the same folder). Returns how many."""
    names = {name for job in jobs for name in job.files()} | {job.id + ".error" for job in jobs}
    removed = 0
    try:
        entries = os.listdir(out_dir)
    except OSError:
        return 0
    for entry in entries:
        m = _TEMP.match(entry)
        if m and m.group(1) in names:
            try:
                os.unlink(os.path.join(out_dir, entry))
                removed += 1
            except OSError:
                pass
    return removed


def one_line(e):
    """An exception as the one-line message the batch records for a failed image."""
    if isinstance(e, NanoBraggError):
        text = str(e)
    elif isinstance(e, OSError):
        text = "%s: %s" % (e.filename or "", e.strerror or e) if e.filename else str(e.strerror or e)
    elif isinstance(e, MemoryError):
        text = "out of memory"
    else:
        text = "%s: %s" % (type(e).__name__, e)
    return " ".join(text.split()) or type(e).__name__


def render(p, threads, log, with_noise=True):
    """(result, noise stream or None, plan seconds, render seconds) of the configuration p."""
    from ..outputs import NoiseStream
    from ..plan import make_plan
    from ..render import resolve_device, run
    t0 = time.perf_counter()
    plan = make_plan(p, log, read_table=worker_cache().read)
    device = resolve_device(p.device, log)
    t1 = time.perf_counter()
    noise = NoiseStream(plan) if (with_noise and p.calculate_noise) else None
    try:
        result = run(plan, threads=threads, kernel=p.kernel, device=device, stream=noise)
    except BaseException:
        if noise is not None:
            noise.cancel()
        raise
    return result, noise, device, t1 - t0, time.perf_counter() - t1


def statistics(result, noise=None):
    stats = {name: float(getattr(result, name)) for name in ("max_I", "max_I_x", "max_I_y", "mean", "rms", "rmsd")}
    if noise is not None:
        _, photons, overloads = noise.result()
        stats["noise_photons"] = photons
        stats["noise_overloads"] = overloads
    return stats


def parse_job(job, out_dir, log):
    """The Params of job's argv, with its output names placed in out_dir."""
    from ..cli.argv import parse_argv
    p = parse_argv(list(job.argv), warn=log, out=log)
    if out_dir is not None:
        from .manifest import OUTPUT_FIELDS
        for kind, name in job.outputs:
            setattr(p, OUTPUT_FIELDS[kind], os.path.join(out_dir, name))
    return p


def _remove_files(job, out_dir):
    """Removes job's outputs and sidecar from out_dir (those there); whether none is left."""
    clean = True
    for name in job.files():
        try:
            os.unlink(os.path.join(out_dir, name))
        except FileNotFoundError:
            pass
        except OSError:
            clean = False
    return clean


def run_job(job, out_dir, threads=0):
    """Renders job into out_dir unless its files are already complete; returns a record
    {"id", "status": "done" | "skipped" | "failed", "seconds", "error"?, "statistics"?}. Never raises for a
    problem of the image itself: that is recorded in {id}.error.

    The sidecar is written last. Whatever fails once the outputs are being written (a full disk, an I/O
    error, the sidecar itself) leaves the image with its {id}.error and none of its outputs, or, where
    even the error file cannot be written, with no file at all: never outputs without a sidecar or an
    error file. An interrupt there removes the outputs too (the next run renders the image again)."""
    from .. import __version__
    from ..io.atomic import OutputTransaction, write_now
    from ..outputs import write_outputs
    t0 = time.perf_counter()
    if is_done(job, out_dir):
        return {"id": job.id, "status": "skipped", "seconds": 0.0}
    lines = []
    writing = False         # from here to the sidecar, some of the job's outputs may be in place
    try:
        p = parse_job(job, out_dir, lines.append)
        result, noise, device, plan_s, render_s = render(p, threads, lines.append)
        t2 = time.perf_counter()
        writing = True
        write_outputs(result, lines.append, noise_job=noise, outputs=OutputTransaction())
        stats = statistics(result, noise)
        outputs = {kind: {"file": name, "sha256": sha256_file(os.path.join(out_dir, name))}
                   for kind, name in job.outputs}
        t3 = time.perf_counter()
        sidecar = {"id": job.id, "index": job.index, "argv": list(job.argv), "seed": job.seed,
                   "nbnumba": __version__, "kernel": p.kernel, "device": device, "statistics": stats,
                   "timings": {"plan_s": plan_s, "render_s": render_s, "write_s": t3 - t2, "total_s": t3 - t0},
                   "outputs": outputs, "host": socket.gethostname(), "pid": os.getpid(), "version": SIDECAR_VERSION}
        write_now(os.path.join(out_dir, job.id + ".json"), json.dumps(sidecar, indent=1).encode() + b"\n")
        writing = False
    except Exception as e:        # noqa: BLE001 - any failure of one image is recorded, the batch goes on
        message = one_line(e)
        if writing:
            _remove_files(job, out_dir)
        try:
            write_now(os.path.join(out_dir, job.id + ".error"), (message + "\n").encode())
        except OSError:
            pass
        return {"id": job.id, "status": "failed", "seconds": time.perf_counter() - t0, "error": message}
    except BaseException:
        if writing:
            _remove_files(job, out_dir)
        raise
    try:
        os.unlink(os.path.join(out_dir, job.id + ".error"))
    except OSError:
        pass                # the sidecar says the image is done: a stale error file does not change that
    return {"id": job.id, "status": "done", "seconds": time.perf_counter() - t0, "statistics": stats}


def run_chunk(jobs, out_dir, threads=1):
    """run_job for each job in turn (one Dask task): their records."""
    return [run_job(job, out_dir, threads) for job in jobs]


def image_of(job, threads=1):
    """(id, float image (spixels, fpixels), statistics) of a job, rendered without writing any file.
    `job` is a Job or (id, Params)."""
    lines = []
    if isinstance(job, tuple) and not hasattr(job, "argv"):
        ident, p = job
    else:
        ident, p = job.id, parse_job(job, None, lines.append)
    result, noise, _, _, _ = render(p, threads, lines.append, with_noise=False)
    return ident, result.image, statistics(result)


def image_chunk(jobs, threads=1):
    return [image_of(job, threads) for job in jobs]
