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


@pytest.fixture(scope="session", autouse=True)
def dask_default_port_held():
    """Dask's default dashboard port, 8787, held open for the whole session where it is free (on every
    address that can be bound): on a user's machine anything may hold it, and nbnumba's clusters must work
    and stay quiet all the same. Where it is taken already someone else holds it, which is the same."""
    import socket
    held = []
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::")):
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue
        try:
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((host, 8787))
            s.listen(16)
            held.append(s)
        except OSError:
            s.close()
    yield held
    for s in held:
        s.close()
