#!/usr/bin/env python3
"""The repository's benchmark suite: `nbnumba bench` with the case table always on, run from this
checkout (the code is nbnumba/benchmark/). NB_C_BIN (or --reference) names your own nanoBragg.c build.

Usage: python3 bench/run.py [--threads 2] [--repeat 3] [--only S1_simple_1024,...] [--quick]
See bench/README.md for what each number means.
"""
import argparse
import os
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nbnumba.benchmark import KERNELS, MICRO, BenchError, run_bench  # noqa: E402
from nbnumba.benchmark.command import report_and_save  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", default=os.environ.get("NB_C_BIN") or None,
                    help="nanoBragg.c binary to time side by side (default: $NB_C_BIN)")
    ap.add_argument("--cases", default=None, help="case list (default: the one shipped in nbnumba/benchmark)")
    ap.add_argument("--inputs", default=None, help="folder with the cases' input files (default: golden/inputs)")
    ap.add_argument("--only", default="", help="comma-separated benchmark and/or case names")
    ap.add_argument("--repeat", type=int, default=None, help="repeats per measurement (default 3)")
    ap.add_argument("--threads", type=int, default=None, help="threads per whole-process run (default: usable CPUs)")
    ap.add_argument("--kernel", default=",".join(KERNELS), help="kernel(s) to time, comma-separated")
    ap.add_argument("--extra", default="", help="extra arguments for nbnumba only")
    ap.add_argument("--nb-cmd", default=None,
                    help="command prefix that runs nbnumba (default: this Python with -m nbnumba simulate)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per whole-process run")
    ap.add_argument("--no-startup", action="store_true", help="skip the cold/warm start runs")
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat, no cold start")
    ap.add_argument("--json", default=str(REPO / "bench" / "out" / "results.json"))
    opt = ap.parse_args(argv)

    only = [n for n in opt.only.split(",") if n]
    if opt.no_startup:
        only = [n for n in only if n != "startup"] or list(MICRO) + ["cases"]
    try:
        out = run_bench(threads=opt.threads, repeat=opt.repeat, only=only, reference=opt.reference,
                        quick=opt.quick, inputs=opt.inputs, cases_path=opt.cases,
                        kernels=[k for k in opt.kernel.split(",") if k], extra=shlex.split(opt.extra),
                        nb_cmd=shlex.split(opt.nb_cmd) if opt.nb_cmd else None, timeout=opt.timeout,
                        run_cases=True)
    except BenchError as e:
        sys.exit(str(e))
    return 1 if report_and_save(out, opt.json, echo=print) else 0


if __name__ == "__main__":
    sys.exit(main())
