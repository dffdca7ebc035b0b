"""Atomic file writes: a temporary file in the same folder, renamed into place."""
import os


def atomic_write(path, *parts):
    """Writes the bytes-like `parts` (bytes, C-ordered NumPy arrays), one after the other, to `path`
    so that no partial file is ever seen there. Arrays are written from their own memory, uncopied.

    The temporary file is created with mode 0666 minus the umask, as C's fopen(path, "wb") would
    create the file. OSError propagates (C's callers exit 9 or warn; ours decide).
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, ".%s.%s.tmp" % (name, os.urandom(6).hex()))
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError("no free temporary name for %s" % path)
    try:
        with os.fdopen(fd, "wb") as fh:
            for part in parts:
                fh.write(part)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
