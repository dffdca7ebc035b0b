"""`nbnumba batch run | status | slurm-script`: the command line of batch generation."""
import os
import shlex
import sys

import click

from ..errors import NanoBraggError


def _fail(e):
    click.echo("nbnumba batch: error: %s" % e, err=True)
    sys.exit(e.exit_code if isinstance(e, NanoBraggError) else 9)


def _manifest(path):
    from .manifest import read_manifest
    try:
        return read_manifest(path)
    except NanoBraggError as e:
        _fail(e)


@click.group()
def batch():
    """Render many images from a manifest (TOML or JSON Lines), resumably, through Dask or SLURM."""


@batch.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="folder for every image's files")
@click.option("--engine", type=click.Choice(["dask", "serial"]), default="dask", show_default=True,
              help="dask: worker processes (or --scheduler / --cluster); serial: this process alone")
@click.option("--workers", type=click.IntRange(1), default=None, help="LocalCluster worker processes [every core]")
@click.option("--threads-per-worker", type=click.IntRange(1), default=None, help="images at once per worker [1]")
@click.option("--scheduler", default=None, help="address of a running Dask scheduler (tcp://host:port)")
@click.option("--cluster", type=click.Choice(["slurm"]), default=None, help="start Dask workers as SLURM jobs (dask-jobqueue)")
@click.option("--queue", default=None, help="SLURM partition (with --cluster slurm)")
@click.option("--account", default=None, help="SLURM account (with --cluster slurm)")
@click.option("--cores", type=click.IntRange(1), default=1, show_default=True, help="cores per SLURM job")
@click.option("--memory", default="4GB", show_default=True, help="memory per SLURM job")
@click.option("--walltime", default="01:00:00", show_default=True, help="wall time per SLURM job")
@click.option("--jobs", type=click.IntRange(1), default=1, show_default=True, help="SLURM jobs to start")
@click.option("--job-extra", multiple=True, help="extra #SBATCH directive (repeatable), e.g. --job-extra='--gres=gpu:1'")
@click.option("--shard", default=None, help="I/N: render the I-th of N slices in this process, without Dask")
@click.option("--log", "log_path", default=None, type=click.Path(dir_okay=False),
              help="write one line per image (id, status, seconds) to this file ('-': stdout)")
def run(manifest, out_dir, engine, workers, threads_per_worker, scheduler, cluster, queue, account, cores, memory,
        walltime, jobs, job_extra, shard, log_path):
    """Render every image of MANIFEST into --out that is not already there; exit 1 if any failed."""
    from ..interrupt import Interrupted, stopping_on_signals
    from .runner import SlurmOptions, parse_shard, run_batch
    try:
        shard_ix = parse_shard(shard) if shard else None
    except NanoBraggError as e:
        _fail(e)
    m = _manifest(manifest)
    log_file = None
    if log_path == "-":
        log_file = sys.stdout
    elif log_path:
        try:
            log_file = open(log_path, "a", encoding="utf-8")
        except OSError as e:
            _fail(NanoBraggError("--log %s: %s" % (log_path, e.strerror)))
    slurm = SlurmOptions(queue, cores, memory, walltime, jobs, tuple(job_extra), account)
    try:
        with stopping_on_signals():
            summary = run_batch(m.jobs, out_dir, engine=engine, workers=workers, threads_per_worker=threads_per_worker,
                                scheduler=scheduler, cluster=cluster, slurm=slurm, shard=shard_ix, log_file=log_file)
    except NanoBraggError as e:
        _fail(e)
    except (Interrupted, KeyboardInterrupt) as e:
        code = getattr(e, "exit_code", 130)
        click.echo("nbnumba batch: interrupted; images already written are complete, run the same command "
                   "again to finish", err=True)
        sys.exit(code)
    click.echo(summary.line())
    for ident, error in summary.failed[:20]:
        click.echo("  failed %s: %s" % (ident, error), err=True)
    if summary.failed:
        sys.exit(1)


@batch.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
def status(manifest, out_dir):
    """Done, failed and pending counts of MANIFEST in --out, and the failed ids with their errors."""
    from .runner import job_states
    m = _manifest(manifest)
    states, errors = job_states(m.jobs, os.path.abspath(out_dir))
    counts = {s: sum(v == s for v in states.values()) for s in ("done", "failed", "pending")}
    click.echo("%d images: %d done, %d failed, %d pending" % (len(m.jobs), counts["done"], counts["failed"],
                                                            counts["pending"]))
    for ident, state in states.items():
        if state == "failed":
            click.echo("failed %s: %s" % (ident, errors[ident]))
    from .runner import sweep_status
    line = sweep_status(m.jobs, os.path.abspath(out_dir))
    if line:
        click.echo(line)


@batch.command("slurm-script")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--array", "array", required=True, type=click.IntRange(1), help="number of array tasks (shards)")
@click.option("--partition", default=None, help="#SBATCH --partition")
@click.option("--account", default=None, help="#SBATCH --account")
@click.option("--cpus-per-task", type=click.IntRange(1), default=None, help="#SBATCH --cpus-per-task")
@click.option("--mem", default=None, help="#SBATCH --mem, e.g. 8G")
@click.option("--time", "walltime", default=None, help="#SBATCH --time, e.g. 01:00:00")
@click.option("--gpus", type=click.IntRange(1), default=None, help="#SBATCH --gpus-per-task (one GPU per task)")
@click.option("--extra", multiple=True, help="extra #SBATCH directive (repeatable)")
@click.option("--job-name", default="nbnumba", show_default=True)
def slurm_script(manifest, out_dir, array, partition, account, cpus_per_task, mem, walltime, gpus, extra, job_name):
    """Print an sbatch script whose array task I renders shard I/N of MANIFEST into --out."""
    m = _manifest(manifest)
    click.echo(sbatch_script(m.path, os.path.abspath(out_dir), array, partition=partition, account=account,
                             cpus_per_task=cpus_per_task, mem=mem, walltime=walltime, gpus=gpus, extra=extra,
                             job_name=job_name), nl=False)


def sbatch_script(manifest, out_dir, array, partition=None, account=None, cpus_per_task=None, mem=None,
                  walltime=None, gpus=None, extra=(), job_name="nbnumba", python=None):
    """The text of an sbatch script: a job array of `array` tasks, task I running shard I/array."""
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
