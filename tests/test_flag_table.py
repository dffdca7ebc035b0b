"""The flag table behind `--help` (cli/flags.py) against the reference catalog of nanoBragg.c's flags
(tests/data/nanoBragg-flags.md, copied from the project's shared reference): every flag C has is in the
table, and the table lists nothing C lacks but our own options."""
import fnmatch
import re
from pathlib import Path

from nbnumba.cli.argv import OUR_OPTIONS
from nbnumba.cli.flags import all_flags

CATALOG = Path(__file__).parent / "data" / "nanoBragg-flags.md"


def _catalog():
    """(flags C has, names the catalog says match nothing) from the catalog's table rows."""
    known, nothing = set(), set()
    for line in CATALOG.read_text().splitlines():
        if not line.startswith("| `-"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        names = set()
        for quoted in re.findall(r"`(-[^`]*)`", cells[0]):
            first = quoted.split()[0]
            head, *rest = first.split("/")
            names.add(head)
            # "-detector_rotx/-roty/-rotz": the later parts share the first one's stem
            names.update(head[:len(head) - len(r) + 1] + r[1:] if r.startswith("-") else r for r in rest)
        (nothing if "nothing" in cells[1] else known).update(names)
    return known, nothing


def test_every_flag_of_c_is_in_the_table_and_nothing_else():
    known, nothing = _catalog()
    table = {n for f in all_flags() for n in (f.name, *f.aliases)}
    assert len(known) > 140
    assert not known - table, "flags of nanoBragg.c missing from cli/flags.py"
    # a concrete spelling of a catalog pattern such as -sample_heigh* is one of C's flags too
    extra = {n for n in table - known - set(OUR_OPTIONS) if not any(fnmatch.fnmatchcase(n, k) for k in known)}
    assert not extra, "flags in cli/flags.py that nanoBragg.c does not have"
    assert not nothing & table, "names that match nothing in C are listed as flags"


def test_the_parser_knows_every_flag_of_the_table():
    """Each name and alias in the --help table is taken by the parser (no "unknown option" warning):
    the table and argv.py's cascade agree on what exists."""
    from nbnumba.cli.argv import parse_argv
    for f in all_flags():
        for name in (f.name, *f.aliases):
            if name in OUR_OPTIONS:
                continue
            values = {"0": [], "1": ["1"], "2": ["1", "1"], "3": ["1", "1", "1"], "4": ["1"] * 4}.get(f.nargs, ["1"] * 6)
            if name == "-pivot":
                values = ["beam"]
            said = []
            parse_argv([name.replace("*", "t"), *values, "-N", "1"], now=1, warn=said.append)
            assert not [w for w in said if "unknown option" in w], (name, said)
