"""`python -m nbnumba ...`: the same as the `nbnumba` console script."""
try:
    from .cli.entry import entry
except KeyboardInterrupt:           # Ctrl-C while Python loads the entry: one line, as later
    import os
    import sys
    sys.stderr.write("nbnumba: interrupted\n")
    os._exit(130)

entry()
