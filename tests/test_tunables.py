"""The kernel tunables (nbnumba/kernels/tunables.py) change how a render is split, never the image.

Shrunk in-process (monkeypatch), they force many chunks, tiles, pieces and CUDA blocks on small golden
cases, and every output file must still be nanoBragg.c's byte for byte. That works without a rebuild
only because no compiled kernel reads a tunable (each size reaches the kernels at run time), which the
last test checks, so the native cache key need not cover them.
"""
import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import GOLDEN, golden_cases
from golden_runner import compare_case
from nbnumba.kernels import cpu, tunables

KERNELS = Path(cpu.__file__).resolve().parent
ROOT = KERNELS.parent.parent

# fresh (unrotated-cell) pixels of emulated OpenMP threads, an ROI, the interpolation shut-off, a mask,
# detector layers: every rule that depends on a pixel's place in the list
CASES = ["phi_carryover_threads3", "phi_carryover_threads2_roi", "interpolate_shutoff", "mask",
         "detector_thickness"]
SMALL = dict(CHUNK=3, TILE=7, PIECE_S=0.0)


def _case(name):
    return next(c for c in golden_cases() if c["name"] == name)


def _spy_on_entries(monkeypatch):
    """Records, for each call of the render entries: (entry name, units in the call, tile length)."""
    calls = []
    real = cpu.kernel

    def spying(name):
        entry = real(name)
        if name not in ("render_exact", "render_fast"):
            return entry

        def call(*args):
            if name == "render_exact":      # (first, stride, order cut at the chunk's end, start, ...)
                calls.append((name, args[2].shape[0] - args[3], None))
            else:                           # (first, stride, last, ..., fscratch, iscratch)
                calls.append((name, args[2] - args[0], args[-2].shape[1]))
            return entry(*args)
        return call

    monkeypatch.setattr(cpu, "kernel", spying)
    return calls


@pytest.mark.parametrize("kernel", ["exact", "fast"])
@pytest.mark.parametrize("name", CASES)
def test_shrunk_tunables_keep_every_golden_byte(name, kernel, tmp_path, monkeypatch):
    for key, value in SMALL.items():
        monkeypatch.setattr(tunables, key, value)
    calls = _spy_on_entries(monkeypatch)
    problems = compare_case(_case(name), GOLDEN, tmp_path, extra=["-kernel", kernel, "-threads", "3"])
    assert problems == [], problems
    # the shrunk sizes did drive the work: pieces of one unit (PIECE_S 0), units of CHUNK or TILE
    assert len(calls) > 100
    exact = [c for c in calls if c[0] == "render_exact"]
    fast = [c for c in calls if c[0] == "render_fast"]
    assert all(units <= SMALL["CHUNK"] for _, units, _ in exact)
    assert all(units == 1 and tile == SMALL["TILE"] for _, units, tile in fast)
    if kernel == "exact":
        assert not fast
    else:
        # the fast kernel covers these plans (oversample_thick/polar/omega would send them to exact)
        assert fast and not exact


def test_tile_of_one_pixel_and_default_tile_agree(tmp_path, monkeypatch):
    """The extreme split (one pixel a tile, one position a chunk) against the default split."""
    case = _case("phi_carryover_threads3")
    monkeypatch.setattr(tunables, "TILE", 1)
    monkeypatch.setattr(tunables, "CHUNK", 1)
    assert compare_case(case, GOLDEN, tmp_path, extra=["-kernel", "fast", "-threads", "2"]) == []


def test_pieces_of_one_unit_still_report_progress_in_order(monkeypatch):
    monkeypatch.setattr(tunables, "PIECE_S", 0.0)
    seen, reports = [], []
    cpu._in_pieces(3, 50, lambda k, lo, hi: seen.append(hi - lo), reports.append)
    assert seen == [1] * 50
    assert reports == sorted(reports) and reports[-1] == 50


CUDASIM_SCRIPT = textwrap.dedent("""
    import sys
    from click.testing import CliRunner
    from nbnumba.cli.main import main
    from nbnumba.kernels import tunables
    args = sys.argv[1].split()
    for per_block in (5, 128):
        tunables.THREADS_PER_BLOCK = per_block
        res = CliRunner().invoke(main, ["simulate", *args, "-device", "cuda",
                                        "-floatfile", "float_%d.bin" % per_block], catch_exceptions=False)
        assert res.exit_code == 0, res.output
""")


def test_cuda_blocks_do_not_change_the_image(tmp_path):
    """Under numba's CUDA simulator (which must be on before numba.cuda is imported: a subprocess),
    blocks of 5 threads and of 128 give the same float image, and it is the CPU exact kernel's."""
    args = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 13 "
            "-pixel 0.8 -phi 0 -osc 1 -phisteps 3 -oversample 1 -omp_threads 3 -nonoise -nopgm "
            "-intfile int.img -seed 1")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    subprocess.run([sys.executable, "-c", CUDASIM_SCRIPT, args], cwd=tmp_path, env=env, check=True,
                   timeout=600)
    five = np.fromfile(tmp_path / "float_5.bin", np.float32)
    whole = np.fromfile(tmp_path / "float_128.bin", np.float32)
    assert five.size == 13 * 13 and np.count_nonzero(five) > 0
    assert five.tobytes() == whole.tobytes()
    from click.testing import CliRunner
    from nbnumba.cli.main import main
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        res = CliRunner().invoke(main, ["simulate", *args.split(), "-kernel", "exact", "-floatfile", "cpu.bin"],
                                 catch_exceptions=False)
    finally:
        os.chdir(old)
    assert res.exit_code == 0, res.output
    cpu_image = np.fromfile(tmp_path / "cpu.bin", np.float32)
    np.testing.assert_allclose(five, cpu_image, rtol=1e-6, atol=1e-6 * float(np.abs(cpu_image).max()))


def _kernel_imports(module, seen):
    """The nbnumba.kernels modules `module` imports (relative imports), transitively."""
    if module in seen:
        return
    seen.add(module)
    path = KERNELS / (module + ".py")
    if not path.exists():
        return
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                _kernel_imports(node.module.split(".")[0], seen)
            else:
                for alias in node.names:
                    _kernel_imports(alias.name, seen)


def test_no_compiled_kernel_reads_a_tunable():
    """The modules behind every native entry (what the native cache compiles and keys on) never import
    the tunables; only the drivers (cpu.py, cuda.py) do, at call time."""
    from nbnumba.kernels.native import ENTRIES
    modules = set()
    for entry in ENTRIES.values():
        _kernel_imports(entry.module, modules)
    assert "exact" in modules and "fast" in modules
    assert "tunables" not in modules
    # and the drivers read them through the module, so a change (or monkeypatch) takes effect
    for name in ("cpu", "cuda"):
        tree = ast.parse((KERNELS / (name + ".py")).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "tunables":
                pytest.fail("%s.py imports names from tunables; read tunables.NAME at call time" % name)
