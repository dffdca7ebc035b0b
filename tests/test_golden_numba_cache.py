"""The golden suite once more without the native kernel cache (NBNUMBA_NO_NATIVE_CACHE=1): every entry
compiled in the process by numba, from numba's own cache. All 63 cases, byte for byte with the exact
kernel, in one subprocess (numba is imported once, each entry compiled once)."""
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

_RUN_ALL = """
import sys, tempfile
from pathlib import Path
from conftest import GOLDEN, golden_cases
from golden_runner import compare_case
from nbnumba.kernels import native
failed = []
cases = golden_cases()
for case in cases:
    with tempfile.TemporaryDirectory() as tmp:
        problems = compare_case(case, GOLDEN, Path(tmp), ["-kernel", "exact"], "last")
    if problems:
        failed.append("%s: %s" % (case["name"], problems))
print(len(cases), native._cache_paths("render_exact") is None, "numba" in sys.modules)   # no native cache: numba
print("\\n".join(failed) or "all identical")
sys.exit(1 if failed else 0)
"""


def test_golden_exact_without_the_native_cache():
    env = dict(os.environ, NBNUMBA_NO_NATIVE_CACHE="1",
               PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", _RUN_ALL], capture_output=True, text=True, env=env, timeout=900,
                          cwd=str(HERE))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "63 True True", lines
    assert lines[-1] == "all identical"
