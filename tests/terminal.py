"""Running a command with stderr on a pseudo-terminal (100+ columns), as a user at a terminal would."""
import fcntl
import os
import pty
import struct
import subprocess
import termios


def run_with_terminal_stderr(cmd, cwd=None, columns=100, timeout=120):
    """(exit code, stdout text, everything written to the terminal) of cmd, stdout a pipe."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:         # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    out = proc.stdout.read().decode()
    code = proc.wait(timeout)
    os.close(master)
    return code, out, seen.decode(errors="replace")
