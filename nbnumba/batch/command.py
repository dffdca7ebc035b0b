"""`nbnumba batch run | status | slurm-script`: the command line of batch generation.

Every subcommand reads the manifest under nbnumba.interrupt.stopping_on_signals: Ctrl-C (or SIGTERM)
while a big manifest is read and checked ends with one line and exit 130 (143), never a traceback. A run
compares what it would write with what it reads (manifest.check_writes) before it writes anything. SLURM
options are named as sbatch names them (--partition, --time, --mem, --cpus-per-task) in both `run
--cluster slurm` and `slurm-script`; `run` also takes dask-jobqueue's names (--queue, --walltime,
--memory, --cores). A value with a control character (a newline would start a line of its own in the
job script) is refused."""
import os
import shlex
import sys
from contextlib import contextmanager

import click

from ..errors import NanoBraggError
from .manifest import CONTROL

_INTERRUPTED = {
    "run": "nbnumba batch: interrupted; images already written are complete, run the same command again to finish",
}


def _fail(e):
    click.echo("nbnumba batch: error: %s" % " ".join(str(e).split()), err=True)
    sys.exit(e.exit_code if isinstance(e, NanoBraggError) else 9)


@contextmanager
def _guarded(command):
    """Ctrl-C and SIGTERM as one line and exit 128+signal; NanoBraggError as one line and its exit code."""
    from ..interrupt import Interrupted, stopping_on_signals
    try:
        with stopping_on_signals():
            yield
    except NanoBraggError as e:
        _fail(e)
    except (Interrupted, KeyboardInterrupt) as e:
        click.echo(_INTERRUPTED.get(command, "nbnumba batch %s: interrupted" % command), err=True)
        sys.exit(getattr(e, "exit_code", 130))


def _plain(option, value):
    """A text option that goes into a job script: no control character (a newline would end the line)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if v is not None and CONTROL.search(v):
            raise NanoBraggError("%s %r: a control character (a newline would start a line of its own in the job "
                                 "script) is not allowed" % (option, v))
        if v is not None and not v.strip():
            raise NanoBraggError("%s %r: empty" % (option, v))


@click.group()
def batch():
    """Render many images from a manifest (TOML or JSON Lines), resumably, through Dask or SLURM."""


_OUT_HELP = "folder of the images' files (made if missing); relative inputs are found beside the manifest"


@batch.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help=_OUT_HELP)
@click.option("--engine", type=click.Choice(["dask", "serial"]), default="dask", show_default=True,
              help="dask: worker processes (or --scheduler / --cluster); serial: this process alone")
@click.option("--workers", type=click.IntRange(1), default=None, help="LocalCluster worker processes [every core]")
@click.option("--threads-per-worker", type=click.IntRange(1), default=None, help="images at once per worker [1]")
@click.option("--scheduler", default=None, help="address of a running Dask scheduler (tcp://host:port)")
@click.option("--cluster", type=click.Choice(["slurm"]), default=None,
              help="start Dask workers as SLURM jobs (dask-jobqueue); the options below set those jobs")
@click.option("--partition", "--queue", "queue", default=None, help="SLURM partition of the worker jobs")
@click.option("--account", default=None, help="SLURM account of the worker jobs")
@click.option("--cpus-per-task", "--cores", "cores", type=click.IntRange(1), default=1, show_default=True,
              help="cores per SLURM worker job (one worker process per core)")
@click.option("--mem", "--memory", "memory", default="4GB", show_default=True, help="memory per SLURM worker job")
@click.option("--time", "--walltime", "walltime", default="01:00:00", show_default=True,
              help="wall time per SLURM worker job")
@click.option("--jobs", type=click.IntRange(1), default=1, show_default=True, help="SLURM worker jobs to start")
@click.option("--extra", "--job-extra", "job_extra", multiple=True,
              help="extra #SBATCH directive of the worker jobs (repeatable), e.g. --extra='--gres=gpu:1'")
@click.option("--shard", default=None, help="I/N: render the I-th of N slices in this process, without Dask")
@click.option("--log", "log_path", default=None, type=click.Path(dir_okay=False),
              help="append one line per image (id, status, seconds) to this file ('-': stdout)")
def run(manifest, out_dir, engine, workers, threads_per_worker, scheduler, cluster, queue, account, cores, memory,
        walltime, jobs, job_extra, shard, log_path):
    """Render every image of MANIFEST into --out that is not already there; exit 1 if any failed.

    Nothing is written when the manifest has an error, or when a file it would write is one it reads
    (an input, the manifest, --log) or one another image writes: exit 9 with one line."""
    from .manifest import check_writes, read_manifest
    from .runner import SlurmOptions, parse_shard, run_batch
    with _guarded("run"):
        shard_ix = parse_shard(shard) if shard else None
        for option, value in (("--partition", queue), ("--account", account), ("--mem", memory),
                              ("--time", walltime), ("--extra", job_extra)):
            _plain(option, value)
        m = read_manifest(manifest)
        writes = [("--log " + log_path, log_path)] if log_path and log_path != "-" else []
        check_writes(m.jobs, out_dir, reads=[("the manifest " + m.path, m.path)], writes=writes)
        log_file, made = None, False
        if log_path == "-":
            log_file = sys.stdout
        elif log_path:
            made = not os.path.lexists(log_path)
            try:
                log_file = open(log_path, "a", encoding="utf-8")
            except OSError as e:
                raise NanoBraggError("--log %s: %s" % (log_path, e.strerror)) from None
        slurm = SlurmOptions(queue, cores, memory, walltime, jobs, tuple(job_extra), account)
        try:
            summary = run_batch(m.jobs, out_dir, engine=engine, workers=workers, threads_per_worker=threads_per_worker,
                                scheduler=scheduler, cluster=cluster, slurm=slurm, shard=shard_ix, log_file=log_file)
        except NanoBraggError:
            # refused before any image: the log this run made is not left behind
            if made and log_file is not None:
                log_file.close()
                if os.path.getsize(log_path) == 0:
                    os.unlink(log_path)
            raise
    click.echo(summary.line())
    for ident, error in summary.failed[:20]:
        click.echo("  failed %s: %s" % (ident, error), err=True)
    if summary.failed:
        sys.exit(1)


@batch.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="the folder `batch run --out` renders into (only read)")
def status(manifest, out_dir):
    """Done, failed and pending counts of MANIFEST in --out, and the failed ids with their errors."""
    from .manifest import read_manifest
    from .runner import job_states, sweep_status
    with _guarded("status"):
        m = read_manifest(manifest)
        states, errors = job_states(m.jobs, os.path.abspath(out_dir))
        line = sweep_status(m.jobs, os.path.abspath(out_dir))
    counts = {s: sum(v == s for v in states.values()) for s in ("done", "failed", "pending")}
    click.echo("%d images: %d done, %d failed, %d pending" % (len(m.jobs), counts["done"], counts["failed"],
                                                            counts["pending"]))
    for ident, state in states.items():
        if state == "failed":
            click.echo("failed %s: %s" % (ident, errors[ident]))
    if line:
        click.echo(line)


@batch.command("slurm-script")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="folder the array tasks render into (as `batch run --out`; also their slurm-*.out logs)")
@click.option("--array", "array", required=True, type=click.IntRange(1),
              help="number of array tasks (shards): task I renders slice I of N")
@click.option("--partition", default=None, help="#SBATCH --partition")
@click.option("--account", default=None, help="#SBATCH --account")
@click.option("--cpus-per-task", type=click.IntRange(1), default=None, help="#SBATCH --cpus-per-task")
@click.option("--mem", default=None, help="#SBATCH --mem, e.g. 8G")
@click.option("--time", "walltime", default=None, help="#SBATCH --time, e.g. 01:00:00")
@click.option("--gpus", type=click.IntRange(1), default=None, help="#SBATCH --gpus-per-task (one GPU per task)")
@click.option("--extra", multiple=True, help="extra #SBATCH directive (repeatable), e.g. --extra='--qos=long'")
@click.option("--job-name", default="nbnumba", show_default=True, help="#SBATCH --job-name")
def slurm_script(manifest, out_dir, array, partition, account, cpus_per_task, mem, walltime, gpus, extra, job_name):
    """Print an sbatch script whose array task I renders shard I/N of MANIFEST into --out.

    The manifest is read and checked first (as `batch run` does); nothing is written."""
    from .manifest import check_writes, read_manifest
    with _guarded("slurm-script"):
        for option, value in (("--partition", partition), ("--account", account), ("--mem", mem),
                              ("--time", walltime), ("--extra", extra), ("--job-name", job_name)):
            _plain(option, value)
        m = read_manifest(manifest)
        out = os.path.abspath(out_dir)
        _plain("--out", out)
        _plain("MANIFEST", m.path)
        check_writes(m.jobs, out, reads=[("the manifest " + m.path, m.path)])
        text = sbatch_script(m.path, out, array, partition=partition, account=account, cpus_per_task=cpus_per_task,
                             mem=mem, walltime=walltime, gpus=gpus, extra=extra, job_name=job_name)
    click.echo(text, nl=False)


def sbatch_script(manifest, out_dir, array, partition=None, account=None, cpus_per_task=None, mem=None,
                  walltime=None, gpus=None, extra=(), job_name="nbnumba", python=None):
    """The text of an sbatch script: a job array of `array` tasks, task I running shard I/array.
    NanoBraggError for a value with a control character (it would add a line to the script)."""
    for option, value in (("--partition", partition), ("--account", account), ("--mem", mem), ("--time", walltime),
                          ("--extra", tuple(extra)), ("--job-name", job_name), ("--out", out_dir),
                          ("MANIFEST", manifest)):
        _plain(option, value if isinstance(value, (tuple, list)) or value is None else str(value))
    q = shlex.quote
    lines = ["#!/bin/bash", "#SBATCH --job-name=%s" % job_name, "#SBATCH --array=0-%d" % (array - 1),
             "#SBATCH --output=%s" % os.path.join(out_dir, "slurm-%A_%a.out")]
    for name, value in (("partition", partition), ("account", account), ("cpus-per-task", cpus_per_task),
                        ("mem", mem), ("time", walltime), ("gpus-per-task", gpus)):
        if value is not None:
            lines.append("#SBATCH --%s=%s" % (name, value))
    lines += ["#SBATCH %s" % e for e in extra]
    lines += ["set -euo pipefail",
              "# task I renders the I-th of %d slices; rerunning a task skips the images it finished" % array,
              "exec %s -m nbnumba batch run %s --out %s --shard \"${SLURM_ARRAY_TASK_ID}/%d\""
              % (q(python or sys.executable), q(manifest), q(out_dir), array), ""]
    return "\n".join(lines)
