"""The readable report of a results dict (see suite.run_bench)."""


def si(x, unit=""):
    """3 significant digits with a k/M/G prefix: 3.94e8 -> '394 M'."""
    if x is None:
        return "-"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")):
        if abs(x) >= scale or scale == 1.0:
            v = x / scale
            return "%.*f %s%s" % (2 if v < 10 else 1 if v < 100 else 0, v, prefix, unit)


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


MICRO_LABELS = {
    "kernel_exact": ("exact kernel", "inner steps/s"),
    "kernel_fast": ("fast kernel", "inner steps/s"),
    "sincg": ("sincg", "evaluations/s"),
    "lattice_factor": ("lattice factor", "evaluations/s"),
    "noise": ("noise image", "pixels/s"),
    "gpu_fast_double": ("GPU fast double", "inner steps/s"),
    "gpu_fast_mixed": ("GPU fast mixed", "inner steps/s"),
    "gpu_exact_double": ("GPU exact", "inner steps/s"),
}
MICRO_NOTES = {
    "sincg": "sin(N x)/sin(x), N=20",
    "lattice_factor": "square crystal, N=20: three sincg each",
}


def _micro_note(name, r):
    if name.startswith(("kernel_", "gpu_")):
        return "%s steps in %.3f s" % (format(r["count"], ",d"), r["best_s"])
    if name == "noise":
        side = int(round(r["count"] ** 0.5))
        return "%dx%d Poisson image" % (side, side)
    return MICRO_NOTES.get(name, "")


def format_report(out):
    """Lines of text for a results dict."""
    m, s = out["machine"], out["settings"]
    lines = ["nbnumba bench: %s, %s CPUs (%s usable); python %s, numba %s, numpy %s%s" % (
        m["cpu_model"], m["nproc"], m["usable_cpus"], m["python"], m["numba"], m["numpy"],
        ", git %s" % m["nbnumba_git"] if m["nbnumba_git"] else "")]
    if out["micro"]:
        lines.append("")
        lines.append("per core (1 thread, JIT warm, best of %d)%s:" % (s["repeat"], ", --quick sizes" if s["quick"] else ""))
        for name, r in out["micro"].items():
            label, unit = MICRO_LABELS[name]
            if not r["ok"]:
                lines.append("  %-16s unavailable: %s" % (label, r["error"]))
                continue
            note = _micro_note(name, r)
            extra = ""
            ex = out["micro"].get("kernel_exact")
            if name == "kernel_fast" and ex and ex["ok"]:
                extra = ", %.1fx exact" % (r["per_s"] / ex["per_s"])
            lines.append("  %-16s %10s %-15s (%s%s)" % (label, si(r["per_s"]), unit, note, extra))
        kcase = next((r.get("case") for n, r in out["micro"].items() if n.startswith("kernel_") and r["ok"]), None)
        if kcase:
            lines.append("  kernel case: %s" % kcase)
    if out["startup"]:
        lines.append("")
        lines.append("start-up (whole `nbnumba simulate` process on a 64x64 image, %d threads):" % s["threads"])
        for k, v in out["startup"].items():
            if v["error"]:
                lines.append("  %-6s FAILED: %s" % (k, v["error"]))
                continue
            warm = v["warm"]
            cold = ("cold %6.2f s (empty numba cache)" % v["cold_start_s"] if v["cold_start_s"] is not None
                    else "cold      - (skipped by --quick)")
            lines.append("  %-6s %s   warm %5.2f s (median of %d, cache filled)" % (
                k, cold, v["warm_start_s"], len(warm["times_s"])))
    if out["cases"]:
        lines.append("")
        lines += _case_table(out)
    return lines


def _case_table(out):
    s = out["settings"]
    kernels = s["kernels"]
    ref = s["reference"]
    lines = ["cases (whole process, median wall s of %d, %d threads: nbnumba -threads %d%s):" % (
        s["repeat"], s["threads"], s["threads"], ", C OMP_NUM_THREADS=%d" % s["threads"] if ref else "")]
    head = "%-24s%14s" % ("case", "steps")
    if ref:
        head += "%9s" % "C s"
    head += "".join("%10s" % ("%s s" % k) for k in kernels)
    if ref:
        head += "".join("%9s" % ("%s/C" % k) for k in kernels) + "%7s" % "C MiB"
    head += "".join("%11s" % ("%s MiB" % k) for k in kernels)
    lines += [head, "-" * len(head)]
    notes = []
    for r in out["cases"]:
        sides = (["c"] if ref else []) + ["nbnumba_" + k for k in kernels]
        t = {side: (fmt(r[side]["median_s"], ".3f") if r[side]["ok"] else "FAILED") for side in sides}
        line = "%-24s%14s" % (r["name"], fmt(r["steps"], ",d"))
        if ref:
            line += "%9s" % t["c"]
        line += "".join("%10s" % t["nbnumba_" + k] for k in kernels)
        if ref:
            line += "".join("%9s" % fmt(r["ratio"][k], ".2f") for k in kernels) + "%7s" % fmt(r["c"]["peak_mib"], ".0f")
        line += "".join("%11s" % fmt(r["nbnumba_" + k]["peak_mib"], ".0f") for k in kernels)
        lines.append(line)
        notes += ["    %s %s: %s" % (r["name"], side, r[side]["error"]) for side in sides if not r[side]["ok"]]
        synthetic = [f for f, o in r.get("inputs", {}).items() if o == "synthetic"]
        if synthetic:
            notes.append("    %s: %s is a synthetic stand-in (give --inputs DIR for the real file)" % (
                r["name"], ", ".join(synthetic)))
    lines += notes
    if ref:
        lines.append("  nbnumba/C below 1: nbnumba is faster")
    else:
        lines.append("  (give --reference PATH to your own nanoBragg.c build to time it side by side)")
    return lines
