"""The caches never stop a run: a damaged numba or native cache entry is discarded and rebuilt with a
one-line warning, and where no cache folder is writable (a read-only install, an unwritable home) the
kernels still run, from the installed native cache when it is complete, else compiled in memory.

Every run here is a subprocess with its own cache folders. Running as root, chmod would not stop a
write: unwritable folders are paths under a regular file (mkdir fails there for everyone), and the
read-only install is a read-only bind mount in a private mount namespace where `unshare` allows one."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_GAMMLN = """
import sys
from nbnumba.kernels import native
print(native.kernel("gammln")(4.0), "numba" in sys.modules)
"""

_SIMULATE = """
import sys
from nbnumba.api import params, run_simulation
r = run_simulation(params("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 16".split()))
print(repr(r.max_I), "numba" in sys.modules)
"""


def _env(pythonpath=ROOT, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "NBNUMBA_NO_NATIVE_CACHE", "PYTHONPATH")}
    env.update(PYTHONPATH=str(pythonpath), PYTHONDONTWRITEBYTECODE="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _run(code, env, prefix=()):
    # run from a folder without a package of that name (python -c puts the current folder first)
    proc = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900,
                          cwd=os.path.dirname(os.path.dirname(str(env["PYTHONPATH"]))))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return proc.stdout.split(), [l for l in proc.stderr.splitlines() if l.strip()]


def _warnings(lines):
    return [l for l in lines if l.startswith("nbnumba: warning:")]


def _damage(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


# ---------------------------------------------------------------- damaged entries

def test_a_truncated_numba_cache_entry_is_rebuilt_with_a_warning(tmp_path):
    """numba's own cache (what the kernels compile from when there is no native entry)."""
    env = _env(NUMBA_CACHE_DIR=tmp_path, NBNUMBA_NO_NATIVE_CACHE=1)
    first, err = _run(_GAMMLN, env)
    assert not _warnings(err)
    files = sorted(tmp_path.rglob("*.nb[ic]"))
    assert any(f.suffix == ".nbi" for f in files) and any(f.suffix == ".nbc" for f in files)
    for which in (".nbi", ".nbc"):
        for f in files:
            if f.suffix == which:
                _damage(f)
        again, err = _run(_GAMMLN, env)
        assert again[0] == first[0]
        warned = _warnings(err)
        assert len(warned) == 1 and "numba cache entry" in warned[0] and "discarded" in warned[0], err
        clean, err = _run(_GAMMLN, env)          # rebuilt: the next run reads it without a word
        assert clean[0] == first[0] and not _warnings(err)
        files = sorted(tmp_path.rglob("*.nb[ic]"))


@pytest.mark.parametrize("which", [".meta", ".o", ".so", "meta-garbage", "meta-unreadable"])
def test_a_damaged_native_cache_entry_is_rebuilt(tmp_path, which):
    # a package copy without a cache of its own, whose entries would otherwise be used read-only
    env = _env(_package_copy(tmp_path / "pkg"), NUMBA_CACHE_DIR=tmp_path / "cache")
    first, err = _run(_GAMMLN, env)
    native = tmp_path / "cache" / "nbnumba-native"
    meta, = native.glob("gammln-*.meta")
    if which == "meta-garbage":
        meta.write_bytes(b"\xff\xfe\x00 not a metadata file")
    elif which == "meta-unreadable":
        meta.unlink()
        meta.mkdir()                              # reading it fails (IsADirectoryError)
    elif which == ".so":
        so = meta.with_suffix(".so")
        if not so.exists():
            pytest.skip("no system linker: no shared library")
        _damage(so)
        meta.with_suffix(".o").unlink()           # nothing left to fall back on
    else:
        _damage(meta.with_suffix(which))
        if which == ".o":
            meta.with_suffix(".so").unlink(missing_ok=True)     # the damaged object file is what is left
    again, err = _run(_GAMMLN, env)
    assert again[0] == first[0]
    if which != ".so":                           # a lost object file is just absent, not damaged
        warned = _warnings(err)
        assert len(warned) == 1 and "kernel cache entry" in warned[0], err
    clean, err = _run(_GAMMLN, env)
    assert clean == [first[0], "False"] and not _warnings(err)    # rebuilt, and loaded without numba


# ---------------------------------------------------------------- nothing writable

def _package_copy(dest):
    """A copy of the package without any cache (its own __pycache__ folders left out)."""
    shutil.copytree(ROOT / "nbnumba", dest / "nbnumba", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_no_writable_cache_anywhere_still_runs_in_memory(tmp_path):
    """A package whose __pycache__ cannot be made (a regular file stands there), an unwritable home and
    no NUMBA_CACHE_DIR: numba's cache=True alone would raise "cannot cache function"."""
    pkg = _package_copy(tmp_path / "pkg")
    for sub in ("nbnumba", "nbnumba/kernels", "nbnumba/io", "nbnumba/cli"):
        (pkg / sub / "__pycache__").write_text("not a folder")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, so nothing can be made below it")
    env = _env(pkg, HOME=blocker / "home")
    out, err = _run(_GAMMLN, env)
    assert float(out[0]) == pytest.approx(1.7917595, rel=1e-6) and out[1] == "True"
    warned = _warnings(err)
    assert len(warned) == 1 and "compiled in memory" in warned[0], err
    assert not list(tmp_path.rglob("*.nb[ic]")) and not list(tmp_path.rglob("*.meta"))


def _can_mount_read_only(folder):
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0"'
                            ' && ! touch "$0/probe" 2>/dev/null', str(folder)], capture_output=True)
    return probe.returncode == 0 and not (folder / "probe").exists()


def test_a_read_only_install_uses_its_complete_native_cache(tmp_path):
    pkg = _package_copy(tmp_path / "pkg")
    if not _can_mount_read_only(pkg):
        pytest.skip("no read-only bind mount here (unshare -m)")
    installed = ROOT / "nbnumba" / "kernels" / "__pycache__" / "native"
    if installed.is_dir():                     # the same sources and installs: the same keys, no rebuild
        shutil.copytree(installed, pkg / "nbnumba" / "kernels" / "__pycache__" / "native")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    # install time: complete the package's own native cache
    writable, _ = _run(_SIMULATE, _env(pkg, HOME=blocker / "home"))
    assert (pkg / "nbnumba" / "kernels" / "__pycache__" / "native").is_dir()
    mount = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && '
             'exec "$@"', str(pkg)]
    out, err = _run(_SIMULATE, _env(pkg, HOME=blocker / "home"), prefix=mount)
    assert out == [writable[0], "False"] and not _warnings(err), err      # no numba, no compile, no warning
    # with the cache gone, the same read-only install compiles in memory, with one warning
    shutil.rmtree(pkg / "nbnumba" / "kernels" / "__pycache__")
    out, err = _run(_GAMMLN, _env(pkg, HOME=blocker / "home"), prefix=mount)
    warned = _warnings(err)
    assert out[1] == "True" and len(warned) == 1 and "compiled in memory" in warned[0], err


def test_numba_cache_dir_is_the_only_cache_when_set(tmp_path, monkeypatch):
    """With NUMBA_CACHE_DIR set, the package's own native cache is not read either (a cold start there
    compiles, as the bench's cold-start figure assumes); without it, the package's cache is read-only
    reading for a cache elsewhere."""
    from nbnumba.kernels import native
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.delenv("NBNUMBA_NO_NATIVE_CACHE", raising=False)
    assert native._read_only_paths("gammln") is not None
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert native._read_only_paths("gammln") is None
    native._loaded.pop("gammln", None)
    assert native.is_cached("gammln") is False
