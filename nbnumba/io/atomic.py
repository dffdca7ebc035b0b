"""Output files written whole or not at all.

A regular file (or a path that does not exist yet) is written to a temporary file in the same folder,
then renamed into place, so that no partial file is ever seen there. A symbolic link is followed and
its target written that way (the link stays a link). A path that exists and is not a regular file (a
character device such as /dev/null, a FIFO, a socket) is opened and written through, as C's
fopen(path, "wb") does, never replaced.

An OutputTransaction groups several outputs: inside `with OutputTransaction():` every atomic_write
stages its file (a temporary next to the target; bytes kept for a special file) and nothing reaches
any output path until the block ends without an exception. Then the special files are written and the
temporaries renamed into place; on any exception (KeyboardInterrupt and other BaseExceptions
included) every temporary is removed and no output is touched.

Errors are OSErrors that name the output path, never a temporary file.
"""
import contextvars
import errno
import os
import stat
import weakref

_current = contextvars.ContextVar("nbnumba_output_transaction", default=None)

_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)


def output_target(path):
    """(the path that will be written, whether it is a special file written through): symbolic links
    resolved. OSError (naming `path`) for a directory or a path that cannot be examined."""
    path = os.fspath(path)
    target = os.path.realpath(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target, False
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    return target, not stat.S_ISREG(st.st_mode)


def _named(e, path):
    """The OSError `e` as one that names `path` (not a temporary file, and never nothing)."""
    if isinstance(e, OSError) and e.errno is not None:
        return OSError(e.errno, e.strerror or os.strerror(e.errno), path)
    return OSError(errno.EIO, str(e) or os.strerror(errno.EIO), path)


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_parts(fd, parts):
    with os.fdopen(fd, "wb") as fh:
        for part in parts:
            fh.write(part)


def _write_through(target, parts, path):
    """Opens an existing special file as fopen(path, "wb") would and writes the parts into it."""
    try:
        fd = os.open(target, _WRITE_FLAGS, 0o666)
        _write_parts(fd, parts)
    except OSError as e:
        raise _named(e, path) from None


def _write_temp(target, parts, path, temps):
    """A new temporary file next to `target` holding the parts; its path is appended to `temps` (as
    (temporary, target, path)) as it is created, with interrupts held back, so that whoever owns
    `temps` removes it whatever happens next. Removed again (and taken off `temps`) on a failure.

    The file is created with mode 0666 minus the umask, as C's fopen(path, "wb") would create it."""
    folder, name = os.path.split(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, ".%s.%s.tmp" % (name, os.urandom(6).hex()))
        try:
            with _signals_held():
                fd = os.open(tmp, flags, 0o666)
                entry = (tmp, target, path)
                temps.append(entry)
            break
        except FileExistsError:
            continue
        except OSError as e:
            raise _named(e, path) from None
    else:
        raise OSError(errno.EEXIST, "no free temporary file name next to it", path)
    try:
        _write_parts(fd, parts)
    except BaseException as e:
        _unlink(tmp)
        if entry in temps:
            temps.remove(entry)
        if isinstance(e, OSError):
            raise _named(e, path) from None
        raise
    return tmp


def write_now(path, *parts):
    """Writes the bytes-like `parts` (bytes, C-ordered NumPy arrays, written from their own memory)
    one after the other to `path` at once, outside any transaction: atomically for a regular file (or
    a symbolic link's target), through for a special file. OSError propagates (naming `path`)."""
    path = os.fspath(path)
    target, special = output_target(path)
    if special:
        _write_through(target, parts, path)
        return
    temps = []
    try:
        tmp = _write_temp(target, parts, path, temps)
        try:
            os.replace(tmp, target)
        except OSError as e:
            raise _named(e, path) from None
        temps.clear()
    finally:
        _remove_all(temps)


def atomic_write(path, *parts):
    """write_now, or staged in the OutputTransaction this code runs in, if any."""
    txn = _current.get()
    if txn is None:
        write_now(path, *parts)
    else:
        txn.stage(path, *parts)


def can_open_for_writing(path):
    """Whether fopen(path, "wb") would succeed, without creating or changing anything at `path`: a
    special file is assumed writable (opening a FIFO would wait for a reader); for anything else a
    temporary file is created next to the target and removed at once."""
    try:
        target, special = output_target(path)
        if special:
            return True
        temps = []
        try:
            _write_temp(target, (), path, temps)
        finally:
            _remove_all(temps)
        return True
    except OSError:
        return False


class _signals_held:
    """SIGINT and SIGTERM held back (delivered on leaving) while a temporary file is created and
    recorded, and while the renames run: an interrupt can neither leave a temporary file nobody knows
    of nor some outputs renamed and others not.

    Python runs signal handlers in the main thread whichever thread the OS hands a signal to, so
    blocking the signals in this thread alone would not hold them back while other threads run (the
    noise pass, numba's): instead the handlers are swapped for one that notes the signal, and a noted
    signal is raised again on leaving, through the handlers that were there. Main thread only."""

    def __enter__(self):
        import signal
        import threading
        self._old, self._caught = {}, []
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._old[signum] = signal.signal(signum, self._note)
        return self

    def _note(self, signum, frame):
        self._caught.append(signum)

    def __exit__(self, *exc):
        import signal
        for signum, old in self._old.items():
            signal.signal(signum, signal.SIG_DFL if old is None else old)
        if self._caught:
            signal.raise_signal(self._caught[0])
        return False


def _remove_all(temps):
    while temps:
        _unlink(temps.pop()[0])


class OutputTransaction:
    """Outputs staged now and put in place together at the end (see the module's docstring).

    `defer(path, *parts)` records an output to be staged when the transaction is entered (the Fdump
    cache, announced before the images are ready); `stage` writes one now into its temporary file."""

    def __init__(self):
        self._temps = []          # (temporary path, target, output path), in staging order
        self._special = []        # (target, parts, output path)
        self._deferred = []       # (path, parts)
        self._token = None
        self.committed = False      # every output is in place
        # temporaries left by a transaction that is dropped or by an exit are removed all the same
        self._finalizer = weakref.finalize(self, _remove_all, self._temps)

    def __copy__(self):
        return self             # one set of files on disk: a copy is the same transaction

    def __deepcopy__(self, memo):
        return self

    def defer(self, path, *parts):
        self._deferred.append((os.fspath(path), parts))

    def stage(self, path, *parts):
        path = os.fspath(path)
        target, special = output_target(path)
        if special:
            self._special.append((target, parts, path))
        else:
            _write_temp(target, parts, path, self._temps)

    def __enter__(self):
        self._token = _current.set(self)
        try:
            deferred, self._deferred = self._deferred, []
            for path, parts in deferred:
                self.stage(path, *parts)
        except BaseException:
            self._exit()
            self.abort()
            raise
        return self

    def _exit(self):
        if self._token is not None:
            _current.reset(self._token)
            self._token = None

    def __exit__(self, kind, value, tb):
        self._exit()
        if kind is None:
            self.commit()
        else:
            self.abort()
        return False

    def commit(self):
        """Writes the special files, then renames every temporary into place. On a failure the
        temporaries not yet renamed are removed and the OSError propagates."""
        try:
            special, self._special = self._special, []
            for target, parts, path in special:
                _write_through(target, parts, path)
            with _signals_held():
                while self._temps:
                    tmp, target, path = self._temps[0]
                    try:
                        os.replace(tmp, target)
                    except OSError as e:
                        raise _named(e, path) from None
                    self._temps.pop(0)
                self.committed = True       # before a held-back signal can be delivered
        except BaseException:
            self.abort()
            raise

    def abort(self):
        """Removes every temporary file; no output path is touched."""
        self._special = []
        self._deferred = []
        _remove_all(self._temps)
