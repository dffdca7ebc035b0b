"""`nbnumba show FILE [--png OUT]`: what an image file holds, in a few lines."""
import math
import sys

import click
import numpy as np

from ..errors import NanoBraggError


def fail(command, e):
    """The one-line error of `nbnumba COMMAND` and its exit code (9, nanoBragg's for bad input)."""
    click.echo("nbnumba %s: error: %s" % (command, e), err=True)
    sys.exit(e.exit_code if isinstance(e, NanoBraggError) else 9)


def parse_size(text):
    """--size FxS -> (fpixels, spixels); None for None."""
    if text is None:
        return None, None
    parts = text.lower().replace("*", "x").split("x")
    try:
        f, s = (int(v) for v in parts)
    except ValueError:
        raise NanoBraggError("--size %s: give FAST x SLOW pixels, e.g. 1024x1024" % text) from None
    if f <= 0 or s <= 0:
        raise NanoBraggError("--size %s: the sizes must be positive" % text)
    return f, s


def number(x):
    """A pixel value or statistic: integers as integers, others with 6 significant digits."""
    x = float(x)
    if x.is_integer() and abs(x) < 1e15:
        return "%d" % x
    return "%.6g" % x


def preview_grey(image, lo=None, scale=None):
    """An 8-bit preview: (value - lo) * scale, truncated and clipped to 0..255, with lo the minimum and
    scale nanoBragg's PGM contrast 250 / (5 * rmsd) (rmsd: the standard deviation of the pixels), or
    255 / (max - min) for a flat image; lo and scale from the finite pixels, NaN and -inf black, +inf
    white. Returns (grey, lo, scale)."""
    a = np.asarray(image, dtype=np.float64)
    finite = a[np.isfinite(a)]
    if lo is None:
        lo = float(finite.min()) if finite.size else 0.0
    if scale is None:
        sd = float(finite.std()) if finite.size else 0.0
        span = float(finite.max()) - lo if finite.size else 0.0
        scale = 250.0 / (5.0 * sd) if sd > 0 and math.isfinite(sd) else (
            255.0 / span if span > 0 and math.isfinite(span) else 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        grey = np.clip((a - lo) * scale, 0.0, 255.0)
    grey[np.isnan(grey)] = 0.0
    return grey.astype(np.uint8), lo, scale


def non_finite(image):
    """(NaN, +inf, -inf) pixel counts of an image (all 0 for integers)."""
    a = np.asarray(image)
    if not np.issubdtype(a.dtype, np.floating):
        return 0, 0, 0
    return int(np.count_nonzero(np.isnan(a))), int(np.count_nonzero(a == np.inf)), int(np.count_nonzero(a == -np.inf))


def non_finite_text(counts):
    """'3 non-finite pixels (NaN 2, +inf 1, -inf 0)'."""
    return "%d non-finite pixel%s (NaN %d, +inf %d, -inf %d)" % (sum(counts), "" if sum(counts) == 1 else "s",
                                                                 *counts)


def check_preview_output(png_out, inputs):
    """--png OUT: refused (NanoBraggError naming both) when it is one of the input files (the same file
    through a symbolic or hard link too), or cannot be a file that can be written, before any work."""
    from .simulate import check_output_name, same_file
    check_output_name(png_out, "--png")
    for source in inputs:
        if same_file(png_out, source):
            raise NanoBraggError("--png %s would overwrite the input file %s" % (png_out, source))


def geometry_lines(info):
    parts = []
    if "pixel_size_mm" in info:
        parts.append("pixel %s mm" % number(info["pixel_size_mm"]))
    if "distance_mm" in info:
        parts.append("distance %s mm" % number(info["distance_mm"]))
    if "wavelength_A" in info:
        parts.append("wavelength %s A" % number(info["wavelength_A"]))
    if "beam_center_px" in info:
        f, s = info["beam_center_px"]
        parts.append("beam centre %s, %s px (fast, slow; %s)" % (number(f), number(s), info.get("beam_center_note", "")))
    elif "beam_center_mm_header" in info:
        x, y = info["beam_center_mm_header"]
        parts.append("beam centre %s, %s mm (%s)" % (number(x), number(y), info.get("beam_center_note", "")))
    lines = []
    if parts:
        lines.append("  geometry: " + ", ".join(parts))
    if "osc_start_deg" in info or "osc_range_deg" in info:
        lines.append("  rotation: start %s deg, range %s deg" % (number(info.get("osc_start_deg", 0.0)),
                                                               number(info.get("osc_range_deg", 0.0))))
    if "scale" in info:
        lines.append("  grey levels: photons x %s" % number(info["scale"]))
    if "kind" in info:
        lines.append("  image: %s" % info["kind"])
    return lines


def summary_lines(image, info):
    a = np.asarray(image)
    f, s = info["size"]
    lines = ["%s: %s, %d x %d pixels (fast x slow), %s" % (info["path"], info["format"], f, s, info["dtype"])]
    if a.size:
        v = a.astype(np.float64)
        counts = non_finite(a)
        finite = np.isfinite(v)
        if sum(counts):
            lines.append("  %s: the statistics are of the %d finite ones" % (non_finite_text(counts),
                                                                            int(np.count_nonzero(finite))))
        w = v[finite]
        if w.size:
            above = int(np.count_nonzero(w > 0))
            lines.append("  min %s  max %s  mean %s  sum %s" % (number(w.min()), number(w.max()), number(w.mean()),
                                                               number(w.sum())))
            iy, ix = np.unravel_index(int(np.argmax(np.where(finite, v, -np.inf))), v.shape)
            lines.append("  pixels above zero %d (%.1f%%), brightest at fast %d slow %d" % (
                above, 100.0 * above / v.size, ix, iy))
    return lines + geometry_lines(info)


@click.command()
@click.argument("file", type=click.Path())
@click.option("--png", "png_out", default=None, type=click.Path(),
              help="write an 8-bit preview: (value - min) x 250/(5 rmsd), clipped at 255")
@click.option("--size", "size", default=None, metavar="FxS", help="size of a raw float image that is not square")
def show(file, png_out, size):
    """Summarise an image file: SMV, CBF, NXmx, PNG, PGM or raw float (format, size, value statistics and the
    geometry its header holds). Bad input (a file that is missing, not an image, damaged or truncated, a
    --png that is the image itself) exits 9 with one line on stderr."""
    from ..io.images import read_image
    try:
        fpixels, spixels = parse_size(size)
        if png_out is not None:
            check_preview_output(png_out, [file])
        image, info = read_image(file, fpixels, spixels)
        for line in summary_lines(image, info):
            click.echo(line)
        if png_out is not None:
            from ..io.atomic import write_now
            from ..io.png import grey_to_png
            grey, lo, scale = preview_grey(image)
            write_now(png_out, grey_to_png(grey, [("Software", "nbnumba show"),
                                                  ("Comment", "(value - %s) x %s" % (number(lo), number(scale)))]))
            click.echo("wrote %s (grey = (value - %s) x %s)" % (png_out, number(lo), number(scale)))
    except NanoBraggError as e:
        fail("show", e)
    except OSError as e:
        fail("show", NanoBraggError("%s: %s" % (e.filename or png_out or file, e.strerror or e)))
