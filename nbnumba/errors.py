"""The one exception type that the command line turns into a one-line message and an exit code."""


class NanoBraggError(Exception):
    """A user-facing error: the message is printed on one line, the program exits with `exit_code`.

    nanoBragg.c exits 9 for every input problem (missing file, missing structure factors, ...),
    so 9 is the default.
    """

    def __init__(self, message, exit_code=9):
        super().__init__(message)
        self.exit_code = exit_code
