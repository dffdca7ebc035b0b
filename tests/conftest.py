import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"


def golden_cases():
    return tomllib.loads((GOLDEN / "cases.toml").read_text())["case"]


@pytest.fixture
def golden_dir():
    return GOLDEN


def golden_params(case, folder):
    """The configuration of golden case `case` run in `folder`, which must be the working directory: its
    inputs copied there, its `before` runs done (they leave Fdump.bin), -omp_threads for its C threads."""
    import shlex
    import shutil

    from nbnumba.cli.argv import parse_argv
    from nbnumba.plan import make_plan, save_fdump
    for f in (GOLDEN / "inputs").iterdir():
        shutil.copy(f, Path(folder) / f.name)
    tail = ["-omp_threads", str(case["threads"])] if int(case.get("threads", 1)) > 1 else []
    for pre in case.get("before", []):
        save_fdump(make_plan(parse_argv(shlex.split(pre) + tail, warn=lambda m: None), lambda line: None),
                   lambda line: None)
    return parse_argv(shlex.split(case["args"]) + tail, warn=lambda m: None)
