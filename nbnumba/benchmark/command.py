"""The click command behind `nbnumba bench` (registered in nbnumba.cli.main)."""
import json
from pathlib import Path

import click

from .suite import KERNELS, SECTIONS, BenchError


def _names(text):
    return [n.strip() for n in (text or "").split(",") if n.strip()]


@click.command("bench")
@click.option("--reference", type=click.Path(dir_okay=False), metavar="PATH",
              help="Your own nanoBragg.c binary: adds the case table with nbnumba/C ratios.")
@click.option("--threads", type=click.IntRange(min=1), metavar="T",
              help="Threads for whole-process runs (nbnumba -threads T, C OMP_NUM_THREADS=T); default: usable CPUs.")
@click.option("--repeat", type=click.IntRange(min=1), metavar="N", help="Repeats per measurement (default 3, 1 with --quick).")
@click.option("--only", metavar="NAMES", help="Comma-separated: %s, or case names." % ", ".join(SECTIONS))
@click.option("--json", "json_path", type=click.Path(dir_okay=False), metavar="PATH", help="Write the results as JSON.")
@click.option("--quick", is_flag=True, help="Small sizes, one repeat, no cold start: a smoke run of a few seconds.")
@click.option("--inputs", type=click.Path(file_okay=False, exists=True), metavar="DIR",
              help="Input files the cases need (P1.hkl); default: the checkout's golden/inputs, else synthetic.")
@click.option("--kernels", default=",".join(KERNELS), show_default=True, metavar="K[,K]", help="Kernels to time.")
@click.option("--cases", "cases_path", type=click.Path(dir_okay=False, exists=True), metavar="PATH",
              help="Case list (TOML) instead of the shipped one.")
@click.option("--timeout", type=float, default=900.0, show_default=True, help="Seconds per whole-process run.")
def bench(reference, threads, repeat, only, json_path, quick, inputs, kernels, cases_path, timeout):
    """Benchmark this machine (per-core rates, start-up) and, with --reference, compare with nanoBragg.c."""
    from .suite import run_bench
    try:
        out = run_bench(threads=threads, repeat=repeat, only=_names(only), reference=reference, quick=quick,
                        inputs=inputs, cases_path=cases_path, kernels=_names(kernels), timeout=timeout)
    except BenchError as e:
        raise click.UsageError(str(e))
    if report_and_save(out, json_path):
        raise SystemExit(1)


def report_and_save(out, json_path=None, echo=click.echo):
    """Prints the report, writes the JSON (if asked) and lists failures on stderr; returns the failures."""
    from .report import format_report
    from .suite import failures
    echo("\n".join(format_report(out)))
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(out, indent=2) + "\n")
        echo("results written to %s" % json_path)
    bad = failures(out)
    if bad:
        click.echo("%d measurement(s) failed:\n  %s" % (len(bad), "\n  ".join(bad)), err=True)
    return bad
