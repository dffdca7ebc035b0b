"""`python -m nbnumba ...`: the same as the `nbnumba` console script."""
from .cli.entry import entry

entry()
