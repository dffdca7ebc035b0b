"""Output files: special files written through (never replaced), symbolic links followed, inputs never
overwritten (Fdump.bin included), and the output stage as one transaction: a run that fails or is
interrupted at any point leaves no output and no temporary file."""
import os
import stat
import threading

import numpy as np
import pytest

from golden_runner import run_in
from nbnumba.io import atomic as atomic_mod
from nbnumba.io.atomic import OutputTransaction, atomic_write, write_now

BASE = "-cell 100 100 100 90 90 90 -N 5 -lambda 1 -distance 100 -detpixels 32 -pixel 0.1 -seed 3".split()
HKL = "1 0 0 100\n0 1 0 50\n0 0 1 25\n1 1 1 10\n"
NPX = 32 * 32


@pytest.fixture
def work(tmp_path):
    (tmp_path / "small.hkl").write_text(HKL)
    (tmp_path / "sources.txt").write_text("0 0 -1 1 1e-10\n")
    return tmp_path


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def _reference(tmp_path_factory, args):
    """The files a plain run writes into a fresh folder: {name: bytes}."""
    ref = tmp_path_factory.mktemp("ref")
    (ref / "small.hkl").write_text(HKL)
    (ref / "sources.txt").write_text("0 0 -1 1 1e-10\n")
    res = run_in(ref, args)
    assert res.exit_code == 0, res.output
    return {p.name: p.read_bytes() for p in ref.iterdir()}


# ---------------------------------------------------------------- special files and links

def test_a_fifo_output_is_written_through_not_replaced(work, tmp_path_factory):
    fifo = work / "float.fifo"
    os.mkfifo(fifo)
    got = []

    def reader():
        with open(fifo, "rb") as fh:
            got.append(fh.read())
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    args = BASE + ["-default_F", "100", "-floatfile", "float.fifo"]
    res = run_in(work, args)
    t.join(5)
    if t.is_alive():                      # the run never opened the FIFO: unblock the reader
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(5)
    assert res.exit_code == 0, res.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    ref = _reference(tmp_path_factory, BASE + ["-default_F", "100"])
    assert got == [ref["floatimage.bin"]]
    assert not [n for n in _names(work) if n.endswith(".tmp")]


def test_a_character_device_output_is_written_through(work):
    """A private null device (made with mknod, so that the system's /dev/null is never at risk)."""
    dev = _private_null(work)
    res = run_in(work, BASE + ["-default_F", "100", "-intfile", "null", "-noisefile", str(dev)])
    assert res.exit_code == 0, res.output
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    assert "intimage.img" not in _names(work) and "noiseimage.img" not in _names(work)
    assert not [n for n in _names(work) if n.endswith(".tmp")]


def _private_null(folder):
    """A null device node of our own (never the system's /dev/null, which a broken writer would replace)."""
    dev = folder / "null"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        with open(dev, "wb") as fh:
            fh.write(b"x")
    except OSError:
        pytest.skip("cannot make or open a character device here")
    return dev


def test_a_null_device_stays_a_character_device(work):
    """write_now and a transaction open the device and write into it, as C's fopen does."""
    dev = _private_null(work)
    write_now(dev, b"nothing")
    with OutputTransaction():
        atomic_write(dev, b"nothing either")
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    assert _names(work) == ["null", "small.hkl", "sources.txt"]


def test_a_symbolic_link_is_followed_and_its_target_written(work, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "float.bin").write_bytes(b"old")
    (work / "float.link").symlink_to(elsewhere / "float.bin")
    (work / "dangling.link").symlink_to(elsewhere / "int.img")
    res = run_in(work, BASE + ["-default_F", "100", "-floatfile", "float.link", "-intfile", "dangling.link"])
    assert res.exit_code == 0, res.output
    assert (work / "float.link").is_symlink() and (work / "dangling.link").is_symlink()
    ref = _reference(tmp_path_factory, BASE + ["-default_F", "100"])
    assert (elsewhere / "float.bin").read_bytes() == ref["floatimage.bin"]
    assert (elsewhere / "int.img").read_bytes() == ref["intimage.img"]
    assert _names(elsewhere) == ["float.bin", "int.img"]


# ---------------------------------------------------------------- inputs are never overwritten

@pytest.mark.parametrize("args, named", [
    ("-hkl Fdump.bin", ("Fdump.bin (-dumpfile)", "Fdump.bin (-hkl)")),
    ("-hkl small.hkl -sourcefile Fdump.bin", ("Fdump.bin (-dumpfile)", "Fdump.bin (-sourcefile)")),
    ("-hkl small.hkl -dumpfile ./sub/../sources.txt -sourcefile sources.txt", ("(-dumpfile)", "(-sourcefile)")),
    ("-hkl small.hkl -floatfile hard.hkl", ("hard.hkl (-floatfile)", "small.hkl (-hkl)")),
    ("-hkl link.hkl -intfile small.hkl", ("small.hkl (-intfile)", "link.hkl (-hkl)")),
    ("-default_F 1 -noisefile Fdump.bin", ("Fdump.bin (-noisefile)", "Fdump.bin (-dumpfile)")),
])
def test_an_output_over_an_input_is_refused_before_any_work(work, args, named):
    (work / "sub").mkdir()
    (work / "Fdump.bin").write_bytes(b"0 1 0 1 0 1\n\f" + bytes(8 * 8))
    os.link(work / "small.hkl", work / "hard.hkl")
    (work / "link.hkl").symlink_to("small.hkl")
    before = {p.name: p.read_bytes() if p.is_file() else None for p in work.iterdir()}
    res = run_in(work, BASE + args.split())
    assert res.exit_code == 9, res.output
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and "would overwrite an input file" in err[0]
    assert all(n in err[0] for n in named), err[0]
    assert {p.name: p.read_bytes() if p.is_file() else None for p in work.iterdir()} == before
    assert res.stdout == ""               # refused before the first line of work


def test_a_directory_as_output_is_refused_before_any_work(work):
    (work / "adir").mkdir()
    res = run_in(work, BASE + ["-default_F", "1", "-floatfile", "adir"])
    assert res.exit_code == 9 and "adir" in res.stderr and res.stdout == ""
    assert _names(work) == ["adir", "small.hkl", "sources.txt"]


# ---------------------------------------------------------------- the output stage is a transaction

class Interrupted(BaseException):
    """What an interrupt handler might raise: not an Exception."""


def _fail_at(monkeypatch, where, exc):
    def boom(*a, **k):
        raise exc
    monkeypatch.setattr(where, boom)


@pytest.mark.parametrize("where", [
    "nbnumba.outputs.log_run_summary",          # after the dump was announced, before any image
    "nbnumba.outputs.int_image",                # the float image already staged
    "nbnumba.outputs.pgm_image",                # float and int staged
    "nbnumba.outputs.write_smv",                # int or noise image being written
    "nbnumba.outputs.noise_rows",               # the noise pass (its own thread) fails
    "nbnumba.io.atomic._write_through",         # commit: a special file fails
])
@pytest.mark.parametrize("exc", [KeyboardInterrupt(), Interrupted(), OSError(28, "No space left on device")])
def test_a_failure_anywhere_leaves_no_file(work, monkeypatch, where, exc):
    from nbnumba.cli.simulate import simulate
    (work / "Fdump.bin").write_bytes(b"not yet")     # the user's own file of that name
    _fail_at(monkeypatch, where, exc)
    args = BASE + ["-hkl", "small.hkl", "-pgmfile", "p.pgm"]
    if where.endswith("_write_through"):
        os.mkfifo(work / "f.fifo")
        args += ["-floatfile", "f.fifo"]
    before = _names(work)
    old = os.getcwd()
    os.chdir(work)
    try:
        try:
            rc = simulate(args)
        except BaseException as e:       # an interrupt may also leave simulate() as it came
            assert type(e) is type(exc) and not isinstance(exc, OSError)
        else:
            assert rc != 0 and (rc == 9 or not isinstance(exc, OSError))
    finally:
        os.chdir(old)
    assert _names(work) == before
    assert (work / "Fdump.bin").read_bytes() == b"not yet"


def test_transaction_puts_everything_in_place_at_the_end(tmp_path):
    (tmp_path / "b").write_bytes(b"old b")
    with OutputTransaction() as txn:
        atomic_write(tmp_path / "a", b"new ", np.arange(3, dtype="<u2"))
        atomic_write(tmp_path / "b", b"new b")
        txn.stage(tmp_path / "c", b"c")
        assert (tmp_path / "b").read_bytes() == b"old b" and not (tmp_path / "a").exists()
        assert len([n for n in _names(tmp_path) if n.endswith(".tmp")]) == 3
    assert _names(tmp_path) == ["a", "b", "c"]
    assert (tmp_path / "a").read_bytes() == b"new \0\0\1\0\2\0" and (tmp_path / "b").read_bytes() == b"new b"


def test_transaction_aborted_leaves_nothing(tmp_path):
    (tmp_path / "b").write_bytes(b"old b")
    txn = OutputTransaction()
    txn.defer(tmp_path / "dump", b"deferred")
    with pytest.raises(Interrupted):
        with txn:
            atomic_write(tmp_path / "a", b"a")
            atomic_write(tmp_path / "b", b"b")
            raise Interrupted()
    assert _names(tmp_path) == ["b"] and (tmp_path / "b").read_bytes() == b"old b"
    atomic_write(tmp_path / "after", b"x")           # outside: written at once again
    assert (tmp_path / "after").read_bytes() == b"x"


def test_a_transaction_is_shared_by_copies_of_the_parameters(tmp_path):
    """A transaction stands for one set of files on disk: a copy is the transaction itself."""
    import copy
    txn = OutputTransaction()
    assert copy.deepcopy({"t": txn})["t"] is txn and copy.copy(txn) is txn


def test_a_dropped_transaction_removes_its_temporaries(tmp_path):
    txn = OutputTransaction()
    txn.stage(tmp_path / "a", b"a")
    assert len(_names(tmp_path)) == 1
    del txn
    import gc
    gc.collect()
    assert _names(tmp_path) == []


def test_errors_name_the_output_never_a_temporary(tmp_path, monkeypatch):
    def too_large(fd, parts):
        os.close(fd)
        raise OSError(27, "File too large")
    monkeypatch.setattr(atomic_mod, "_write_parts", too_large)
    with pytest.raises(OSError) as e:
        write_now(tmp_path / "out.bin", b"x")
    assert e.value.filename == str(tmp_path / "out.bin") and e.value.strerror == "File too large"
    assert _names(tmp_path) == []
    with pytest.raises(OSError) as e:
        write_now(tmp_path / "no" / "dir.bin", b"x")
    assert e.value.filename == str(tmp_path / "no" / "dir.bin")


def test_cli_error_message_names_the_output(work, monkeypatch):
    def too_large(fd, parts):
        os.close(fd)
        raise OSError(27, "File too large")
    monkeypatch.setattr(atomic_mod, "_write_parts", too_large)
    res = run_in(work, BASE + ["-default_F", "100", "-intfile", "i.img"])
    assert res.exit_code == 9
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and "floatimage.bin: File too large" in err[0] and ".tmp" not in err[0]
    assert _names(work) == ["small.hkl", "sources.txt"]


def test_fdump_written_with_the_images_and_logged_in_place(work, tmp_path_factory):
    args = BASE + ["-hkl", "small.hkl"]
    res = run_in(work, args)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert "writing dump file for next time: Fdump.bin" in lines
    assert lines.index("writing dump file for next time: Fdump.bin") < [i for i, l in enumerate(lines)
                                                                       if l.startswith("writing floatimage")][0]
    from nbnumba.io.fdump import read_fdump
    assert read_fdump(str(work / "Fdump.bin")).Fhkl.any()
    # an unwritable dump (its folder is a file) only warns, as in C, and the images are written
    res = run_in(work, args + ["-dumpfile", "small.hkl/Fdump.bin"])
    assert res.exit_code == 0, res.output
    assert "WARNING: unable to open dump file: small.hkl/Fdump.bin" in res.stdout
