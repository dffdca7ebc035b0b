"""The checks that need a real NVIDIA GPU, in one run (the device machine): every golden case rendered
with -device cuda (the exact kernel's arithmetic, float64, NVVM without FMA contraction) against
nanoBragg.c's float image, and one heavy case timed on the GPU and on the CPU.

    PYTHONPATH=. python3 bench/gpu_check.py [OUT_DIR]

Prints one line per case (pixels identical to C's float32, largest difference relative to the peak)
and a JSON summary; the GPU's libdevice sin/cos/exp may differ from glibc in the last bit, so the
promise checked is the fast kernel's: every pixel within 1e-6 of the peak.
"""
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"
HEAVY = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 1024 -pixel 0.1 "
         "-oversample 2 -mosaic 0.5 -mosaic_dom 10 -phi 0 -osc 0.5 -phisteps 5 -hdivrange 0.1 -vdivrange 0.1 "
         "-hdivsteps 5 -vdivsteps 5 -square_div -roi 448 575 448 575 -nonoise -nopgm -seed 1")


def main(out_dir):
    import nbnumba.api as nb
    from nbnumba.kernels.cuda import cuda_usable
    summary = {"cuda_usable": cuda_usable(), "cases": {}}
    print("cuda usable:", summary["cuda_usable"], flush=True)
    work = Path(tempfile.mkdtemp())
    for f in (GOLDEN / "inputs").iterdir():
        shutil.copy(f, work / f.name)
    os.chdir(work)
    cases = tomllib.loads((GOLDEN / "cases.toml").read_text())["case"]
    for case in cases:
        gdir = GOLDEN / "cases" / case["name"]
        want_file = gdir / "floatimage.bin"
        if case.get("before") or int((gdir / "exit_code").read_text()) != 0 or not want_file.exists():
            continue
        args = shlex.split(case["args"])
        if int(case.get("threads", 1)) > 1:
            args += ["-omp_threads", str(case["threads"])]
        try:
            got = nb.run_simulation(nb.params(args), kernel="exact", device="cuda").image.reshape(-1)
        except Exception as e:          # noqa: BLE001 - reported per case
            summary["cases"][case["name"]] = {"error": "%s: %s" % (type(e).__name__, e)}
            print("%-40s ERROR %s" % (case["name"], e), flush=True)
            continue
        want = np.fromfile(want_file, np.float32)
        peak = float(np.nanmax(np.abs(want))) or 1.0
        same = int((got.view(np.uint32) == want.view(np.uint32)).sum())
        with np.errstate(invalid="ignore"):
            rel = float(np.nanmax(np.abs(got.astype(np.float64) - want)) / peak)
        summary["cases"][case["name"]] = {"identical": same, "pixels": int(want.size), "max_rel_to_peak": rel}
        print("%-40s %7d/%-7d identical  max |diff|/peak %.3g" % (case["name"], same, want.size, rel), flush=True)
    results = list(summary["cases"].values())
    summary["within_1e-6"] = sum(1 for r in results if r.get("max_rel_to_peak", 1.0) <= 1e-6)
    summary["bit_identical"] = sum(1 for r in results if r.get("identical") == r.get("pixels"))
    summary["compared"] = len(results)
    # timing: the heavy case on the GPU and on every CPU core with both kernels (second of two calls:
    # the first compiles)
    p = nb.params(HEAVY.split())
    timings = {}
    for label, kw in (("cuda exact", dict(device="cuda", kernel="exact")),
                      ("cpu exact", dict(device="cpu", kernel="exact")),
                      ("cpu fast", dict(device="cpu", kernel="fast"))):
        for _ in range(2):
            t0 = time.perf_counter()
            nb.run_simulation(p, **kw)
            timings[label] = time.perf_counter() - t0
        print("H1 %-22s %.3f s" % (label, timings[label]), flush=True)
    summary["H1_seconds"] = timings
    print(json.dumps({k: v for k, v in summary.items() if k != "cases"}, indent=1))
    if out_dir:
        Path(out_dir, "gpu_check.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
