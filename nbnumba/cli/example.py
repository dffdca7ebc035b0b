"""`nbnumba example`: write the inputs the README's examples use into a folder, so that every example
runs as written on a fresh install."""
import os
import sys

import click

from ..errors import NanoBraggError

# the README's batch manifest (README.md, "Many images"), verbatim
SERIES_TOML = '''\
# series.toml (relative input files are found beside the manifest)
base = "-hkl P1.hkl -cell 70 80 90 90 90 90 -N 5 -lambda 1 -distance 100 -detpixels 256 -pixel 0.1 -mosaic 0.5 -mosaic_dom 25 -phisteps 10"
seed = 1                                # image i without its own -seed gets -seed 1+i
[outputs]                               # the default: floatfile and noisefile; intfile, pgmfile, nxsfile,
floatfile = "{id}.bin"                  # cbffile, pngfile too if named
noisefile = "{id}.img"
sweep = "series.nxs"                    # the [rotation] frames as one NXmx scan, written when they are all done
[rotation]                              # frame i: -phi start+i*osc -osc osc, ids rot_00001 ...
prefix = "rot_"
start = 0.0
osc = 0.1
frames = 40
[orientations]                          # image i: a uniformly random -misset drawn from seed+i
prefix = "ori_"
count = 100
seed = 7
# [[image]] tables add single images: id = "still", args = "-phi 10 -N 10"
'''

HKL_RANGE = 12          # h, k, l from -12 to 12: every reflection of the README's cells and detectors


def p1_hkl_text(seed=1, scale=20.0):
    """A P1 structure-factor table (nanoBragg's "h k l F" text): every h, k, l in -12..12 with |F| drawn
    from Wilson's acentric distribution (Rayleigh, <F^2> = 2 scale^2), reproducibly from `seed`."""
    import numpy as np
    r = np.arange(-HKL_RANGE, HKL_RANGE + 1)
    h, k, l = (a.reshape(-1) for a in np.meshgrid(r, r, r, indexing="ij"))
    F = np.random.default_rng(seed).rayleigh(scale, h.size)
    return "".join("%4d %4d %4d %10.4f\n" % row for row in zip(h, k, l, F))


FILES = {"P1.hkl": p1_hkl_text, "series.toml": lambda: SERIES_TOML}


def write_examples(folder, names=None):
    """Writes the example inputs into `folder` (created if needed); refuses, writing nothing, when any of
    them is there already. Returns the paths written."""
    from ..io.atomic import write_now
    names = list(FILES) if names is None else names
    paths = [os.path.join(folder, n) for n in names]
    there = [p for p in paths if os.path.lexists(p)]
    if there:
        raise NanoBraggError("%s already exists: nbnumba example writes over nothing (remove it, or give "
                             "another --out)" % there[0])
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise NanoBraggError("--out %s: %s" % (folder, e.strerror)) from None
    for name, path in zip(names, paths):
        write_now(path, FILES[name]().encode())
    return paths


@click.command()
@click.option("--out", "folder", default=".", show_default=True, type=click.Path(file_okay=False),
              help="folder to write the example inputs into (created if needed)")
def example(folder):
    """Write the inputs the README's examples use: P1.hkl (a P1 structure-factor table, h, k, l in -12..12)
    and series.toml (the batch manifest). Existing files are never written over."""
    try:
        for path in write_examples(folder):
            click.echo("wrote %s" % path)
    except NanoBraggError as e:
        click.echo("nbnumba example: error: %s" % e, err=True)
        sys.exit(e.exit_code)
    except OSError as e:
        click.echo("nbnumba example: error: %s: %s" % (e.filename or folder, e.strerror or e), err=True)
        sys.exit(9)
