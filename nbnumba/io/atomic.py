"""Atomic file writes: a temporary file in the same folder, renamed into place."""
import os
import tempfile


def atomic_write(path, data):
    """Writes bytes to `path` so that readers never see a partial file."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".nbnumba-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
