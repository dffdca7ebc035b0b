"""`nbnumba bench`: per-core kernel rates, sincg/lattice-factor/noise rates, JIT start-up times and,
against a nanoBragg.c binary, whole-process timings on the shipped cases (cases.toml).

    from nbnumba.benchmark import run_bench, format_report
    out = run_bench(quick=True)          # the dict `nbnumba bench --json` writes
    print("\\n".join(format_report(out)))

Importing this package is cheap: numba is loaded only when a benchmark runs.
"""
from .report import format_report
from .suite import KERNELS, MICRO, SECTIONS, BenchError, failures, run_bench

__all__ = ["run_bench", "format_report", "failures", "BenchError", "KERNELS", "MICRO", "SECTIONS"]
