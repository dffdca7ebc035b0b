"""The flag table (cli/flags.py), which drives both the parser and `--help`, against the reference catalog
of nanoBragg.c's flags (tests/data/nanoBragg-flags.md, copied from the project's shared reference): every
flag C has is in the table, and the table lists nothing C lacks but our own options; each entry carries
C's line, in C's order; the help lists exactly the table and the parser runs exactly its branches."""
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


# ---------------------------------------------------------------- one table drives both (cli/flags.py)

def _row_names(cell):
    """The flag names of a catalog row's first cell (as _catalog reads them), '*' stems kept."""
    names = []
    for quoted in re.findall(r"`(-[^`]*)`", cell):
        head, *rest = quoted.split()[0].split("/")
        names.append(head)
        names += [head[:len(head) - len(r) + 1] + r[1:] if r.startswith("-") else r for r in rest]
    return names


def _line_numbers(text):
    """nanoBragg.c line numbers in a catalog cell; a range such as 769-780 gives every line in it."""
    lines = set()
    for lo, hi in re.findall(r"\b(\d{3,4})(?:-(\d{3,4}))?\b", text):
        lines.update(range(int(lo), int(hi or lo) + 1))
    return {n for n in lines if 398 <= n <= 1115}


def _catalog_lines():
    """{name: C lines the catalog gives for it} from the tables of sections 1-8 (the Line column)."""
    text = CATALOG.read_text()
    by_name, single, every = {}, set(), set()
    for line in text[text.index("## 1. "):].splitlines():
        if not line.startswith("| `-"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        lines = _line_numbers(cells[2])
        every |= lines
        single |= _line_numbers(re.sub(r"\d+-\d+", "", cells[2]))
        for name in _row_names(cells[0]):
            by_name.setdefault(name.rstrip("*"), set()).update(lines)
    return by_name, single, every


def _help_entries(text):
    """(names, value text) of each flag line of the help."""
    return [tuple(line.strip().split(" <")[0].split(", ")) for line in text.splitlines()
            if line.startswith("  -")]


def test_help_lists_exactly_the_registry():
    from nbnumba.cli import flags
    listed = [f for f in flags.REGISTRY if f.listed]
    assert sorted(all_flags(), key=flags.REGISTRY.index) == listed
    shown = _help_entries(flags.help_text())
    assert sorted(shown) == sorted((f.name, *f.aliases) for f in listed)
    # within each section, C's order
    assert shown == [(f.name, *f.aliases) for title in flags.SECTIONS for f in listed if f.section == title]
    # every name the parser knows is shown; a parse-only entry is a second C branch of a shown name
    shown_names = {n for names in shown for n in names}
    assert {n for f in flags.REGISTRY for n in (f.name, *f.aliases)} == shown_names
    assert all(f.stage != flags.OURS for f in flags.REGISTRY if not f.listed)


def test_every_name_fires_its_own_entry():
    """The names an entry shows are what its C test accepts ('-heigh*': the stem and anything longer)."""
    from nbnumba.cli import flags
    for f in flags.REGISTRY:
        for name in (f.name, *f.aliases):
            assert f.match(name.rstrip("*")), (f.line, name)
            if name.endswith("*"):
                assert f.match(name.rstrip("*") + "xyz"), (f.line, name)


def test_registry_is_in_c_order_and_is_what_the_parser_runs():
    from nbnumba.cli import argv, flags
    pass1 = [f.line for f in flags.PASS1]
    pass2 = [f.line for f in flags.PASS2]
    assert pass1 == sorted(set(pass1)) and all(398 <= n <= 414 for n in pass1) and len(pass1) == 2
    assert pass2 == sorted(set(pass2)) and all(505 <= n <= 1115 for n in pass2)
    assert [f for f in flags.REGISTRY if f.stage in (flags.PASS_1, flags.PASS_2)] == list(flags.PASS1 + flags.PASS2)
    assert argv.PASS1 is flags.PASS1 and argv.PASS2 is flags.PASS2
    assert set(argv.OUR_OPTIONS) == {f.name for f in flags.REGISTRY if f.stage == flags.OURS}
    for f in flags.REGISTRY:
        for name in (f.name, *f.aliases):
            tok = name.rstrip("*")
            assert argv._cascade(tok) == tuple(g for g in flags.PASS2 if g.match(tok))


def test_each_entry_has_the_catalogs_c_line():
    """Each entry's line is one the catalog gives for one of its names, and every line the catalog
    names (outside ranges such as 769-780) is an entry's: no C branch missing, none invented."""
    from nbnumba.cli import flags
    by_name, single, every = _catalog_lines()
    for f in flags.PASS1 + flags.PASS2:
        lines = set().union(*(by_name.get(n.rstrip("*"), set()) for n in (f.name, *f.aliases)))
        assert f.line in lines, (f.name, f.line, sorted(lines))
    lines = {f.line for f in flags.PASS1 + flags.PASS2}
    assert single <= lines <= every


def test_the_catalogs_accidental_matches():
    """Section 0's table of accidental substring matches: which C branches each token's tests pass."""
    from nbnumba.cli.argv import _cascade
    text = CATALOG.read_text()
    table = text[text.index("### Accidental substring matches"):text.index("These do **not** collide")]
    checked = 0
    for line in table.splitlines():
        if not line.startswith("| `-"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        names = _row_names(cells[0])
        if "nothing" in cells[1]:
            expected = {n: [] for n in names}
        else:
            groups = cells[1].split(" / ")
            assert len(groups) in (1, len(names)), line
            expected = {n: sorted(_line_numbers(groups[k if len(groups) > 1 else 0])) for k, n in enumerate(names)}
        for name, lines in expected.items():
            assert [f.line for f in _cascade(name)] == lines, (name, lines)
            checked += 1
    assert checked >= 20


def test_the_parser_runs_only_the_registrys_bodies(monkeypatch):
    """With every body of the registry recorded, a command line runs exactly the matching entries of
    each token in C's order, up to the first that ends the matching (C's `continue`); with every body
    a no-op, the parser sets nothing at all."""
    from nbnumba.cli import argv, flags
    args = ("-misset_seed 4 5 6 -twotheta_axis 1 0 0 -Na 3 -cell 10 20 -30 -printout_pixel 1 2 "
            "-oversample_thick -width 2 -N 2 -img nofile.img -mask nofile.img -lambda 1 -mosaic 1").split()
    calls = []

    def recorded(f, run):
        def body(p, t):
            stop = f.body(p, t) if run else None
            calls.append((t.i, f.line, bool(stop)))
            return stop
        return f._replace(body=body)

    def expected():
        out = []
        full = ["nanoBragg"] + args
        for i, tok in enumerate(full):
            if i == 0 or not tok.startswith("-"):
                continue
            for f in flags.PASS2:
                if f.match(tok):
                    stop = next(s for j, line, s in calls if j == i and line == f.line)
                    out.append((i, f.line, stop))
                    if stop:
                        break
        return out

    for run in (True, False):
        calls.clear()
        monkeypatch.setattr(argv, "PASS1", tuple(recorded(f, run) for f in flags.PASS1))
        monkeypatch.setattr(argv, "PASS2", tuple(recorded(f, run) for f in flags.PASS2))
        argv._cascade.cache_clear()
        try:
            p = argv.parse_argv(args, now=1, warn=lambda m: None)
        finally:
            argv._cascade.cache_clear()
        pass1 = [c for c in calls if c[1] < 500]
        assert [(i, line) for i, line, _ in pass1] == [(23, 405), (25, 409)]
        assert [c for c in calls if c[1] > 500] == expected()
        assert (15, 1045, False) in calls and (15, 1094, False) in calls  # -printout_pixel: both branches
        assert ((11, 531, True) in calls) == run  # -cell stops at -30 (C's `continue`)
        assert (1, 553, False) in calls and (1, 561, False) in calls and (1, 1107, False) in calls
        if not run:
            untouched = argv.Params()
            untouched.seed = untouched.misset_seed = -1
            assert {k: repr(v) for k, v in vars(p).items()} == {k: repr(v) for k, v in vars(untouched).items()}
    argv._cascade.cache_clear()
