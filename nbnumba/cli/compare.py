"""`nbnumba compare A B`: how far apart two images are, with thresholds for scripts.

Exit 0 when every threshold given is met, 1 when one is not, 9 for bad input (a file missing or not an
image, images of different sizes, a threshold or radius that is not a number, --png naming A or B), with a
one-line error and no traceback.

Non-finite pixels (NaN, +-inf: a float image can hold them) are not compared: one warning line on stderr
gives their counts in A and B, the numbers are computed over the pixels finite in both (a line says how
many), and every threshold given fails (exit 1), since the images cannot be said to agree. Images with no
pixel finite in both are refused (exit 9).
"""
import math

import click
import numpy as np

from ..errors import NanoBraggError
from .show import check_preview_output, fail, non_finite, non_finite_text, number, parse_size, preview_grey

MAX_PEAKS = 2000               # the brightest local maxima of each image that are matched
TOP_DIFFERENCES = 5


def correlation(a, b):
    """Pearson's correlation of the pixels; 1 for two identical flat images, NaN for other flat ones."""
    sa, sb = float(a.std()), float(b.std())
    if sa == 0.0 or sb == 0.0:
        return 1.0 if np.array_equal(a, b) else math.nan
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))


def peak_threshold(a):
    """median + max(5 robust sigmas (1.4826 x the median absolute deviation), 5% of (max - median)): a spot
    must stand out of the background's noise and be more than a ripple of the brightest spot."""
    med = float(np.median(a))
    sigma = 1.4826 * float(np.median(np.abs(a - med)))
    return med + max(5.0 * sigma, 0.05 * (float(a.max()) - med))


def find_peaks(a, threshold=None, limit=MAX_PEAKS):
    """Local maxima above `threshold`: (N, 2) float array of (fast, slow) positions, brightest first. A pixel
    is a maximum when no pixel of its 3x3 neighbourhood is brighter (of a flat top, the first in reading
    order)."""
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return np.zeros((0, 2))
    if threshold is None:
        threshold = peak_threshold(a)
    pad = np.pad(a, 1, constant_values=-np.inf)
    centre = pad[1:-1, 1:-1]
    keep = centre > threshold
    rows, cols = a.shape
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            neighbour = pad[1 + dy:1 + dy + rows, 1 + dx:1 + dx + cols]
            before = dy < 0 or (dy == 0 and dx < 0)
            keep &= (centre > neighbour) if before else (centre >= neighbour)
    ys, xs = np.nonzero(keep)
    order = np.argsort(-a[ys, xs], kind="stable")[:limit]
    return np.stack([xs[order], ys[order]], axis=1).astype(np.float64)


def match_peaks(pa, pb, radius):
    """Greedy one-to-one matching, nearest pairs first, of peaks within `radius` pixels: list of (i, j)."""
    if len(pa) == 0 or len(pb) == 0:
        return []
    d = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(axis=2))
    ii, jj = np.nonzero(d <= radius)
    order = np.argsort(d[ii, jj], kind="stable")
    used_a, used_b, pairs = set(), set(), []
    for k in order:
        i, j = int(ii[k]), int(jj[k])
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return pairs


def comparison(a, b, radius=2.0):
    """The numbers `nbnumba compare` prints, as a dict; over the pixels finite in both images (`compared`
    of `pixels`) when some are not."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    valid = np.isfinite(a) & np.isfinite(b)
    every = bool(valid.all())
    if not every:                       # the pixels left out count as nothing and are never peaks
        a, b = np.where(valid, a, 0.0), np.where(valid, b, 0.0)
    va, vb = (a, b) if every else (a[valid], b[valid])
    diff = b - a
    absdiff = np.abs(diff)
    max_diff = float(absdiff.max()) if diff.size else 0.0
    max_a = float(np.abs(va).max()) if va.size else 0.0
    if max_a > 0:
        max_rel = max_diff / max_a
    else:
        max_rel = 0.0 if max_diff == 0 else math.inf
    sum_a, sum_b = float(va.sum()), float(vb.sum())
    if sum_a != 0:
        sum_ratio = sum_b / sum_a
    else:
        sum_ratio = 1.0 if sum_b == 0 else math.inf
    top = []
    if max_diff > 0:
        flat = absdiff.reshape(-1)
        k = min(TOP_DIFFERENCES, flat.size)
        idx = np.argpartition(-flat, k - 1)[:k]
        idx = idx[np.lexsort((idx, -flat[idx]))]
        for i in idx:
            if flat[i] == 0:
                break
            y, x = divmod(int(i), a.shape[1])
            top.append((x, y, float(a[y, x]), float(b[y, x]), float(diff[y, x])))
    if every:
        pa, pb = find_peaks(a), find_peaks(b)
    else:
        pa = find_peaks(np.where(valid, a, -np.inf), peak_threshold(va) if va.size else 0.0)
        pb = find_peaks(np.where(valid, b, -np.inf), peak_threshold(vb) if vb.size else 0.0)
    pairs = match_peaks(pa, pb, radius)
    if pairs:
        offsets = np.array([pb[j] - pa[i] for i, j in pairs])
        mean_offset = tuple(float(v) for v in offsets.mean(axis=0))
        mean_distance = float(np.sqrt((offsets ** 2).sum(axis=1)).mean())
    else:
        mean_offset, mean_distance = (math.nan, math.nan), math.nan
    d = vb - va
    return dict(correlation=correlation(va, vb), rmse=float(np.sqrt(np.mean(d ** 2))) if d.size else 0.0,
                mean_abs=float(np.abs(d).mean()) if d.size else 0.0, sum_a=sum_a, sum_b=sum_b, sum_ratio=sum_ratio,
                max_diff=max_diff, max_rel=max_rel, top=top, peaks_a=len(pa), peaks_b=len(pb), matched=len(pairs),
                radius=radius, mean_offset=mean_offset, mean_distance=mean_distance,
                pixels=int(valid.size), compared=int(np.count_nonzero(valid)))


def report_lines(r):
    lines = []
    if r.get("compared", r.get("pixels")) != r.get("pixels"):
        lines.append("pixels compared: %d of %d (those finite in both images)" % (r["compared"], r["pixels"]))
    lines += ["correlation %.6f" % r["correlation"],
             "RMSE %s  mean |B-A| %s" % (number(r["rmse"]), number(r["mean_abs"])),
             "sum A %s  sum B %s  sum B / sum A %.6f" % (number(r["sum_a"]), number(r["sum_b"]), r["sum_ratio"]),
             "max |B-A| %s = %.6g of max |A|" % (number(r["max_diff"]), r["max_rel"])]
    if r["top"]:
        lines.append("largest differences (fast, slow: A, B, B-A):")
        for x, y, va, vb, d in r["top"]:
            lines.append("  %d, %d: %s, %s, %s" % (x, y, number(va), number(vb), number(d)))
    else:
        lines.append("no pixel differs")
    peaks = "peaks (local maxima above threshold): A %d, B %d, matched %d within %s px" % (
        r["peaks_a"], r["peaks_b"], r["matched"], number(r["radius"]))
    if r["matched"]:
        peaks += ", mean offset B-A %.3f, %.3f px (fast, slow), mean distance %.3f px" % (
            r["mean_offset"][0], r["mean_offset"][1], r["mean_distance"])
    lines.append(peaks)
    return lines


def side_by_side(a, b, gap=2):
    """A | B | B-A as one 8-bit picture: A and B on one scale (preview_grey of A, from the smaller minimum),
    the difference as mid-grey 128 + (B-A) x that scale; white columns between."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    finite = np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)]])
    lo = float(finite.min()) if finite.size else 0.0
    grey_a, lo, scale = preview_grey(a, lo=lo)
    grey_b, _, _ = preview_grey(b, lo=lo, scale=scale)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.clip(128.0 + (b - a) * scale, 0.0, 255.0)
    d[np.isnan(d)] = 128.0                  # a pixel not finite in both: no difference shown
    grey_d = d.astype(np.uint8)
    sep = np.full((a.shape[0], gap), 255, np.uint8)
    return np.hstack([grey_a, sep, grey_b, sep, grey_d]), lo, scale


def check_number(option, value):
    """A threshold or radius that is a number (not NaN; finite where `option` is --radius)."""
    if value is not None and (math.isnan(value) or (option == "--radius" and math.isinf(value))):
        raise NanoBraggError("%s %s: give a %snumber" % (option, value, "finite " if option == "--radius" else ""))


@click.command()
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@click.option("--size", default=None, metavar="FxS", help="size of raw float images that are not square")
@click.option("--min-corr", type=float, default=None, help="exit 1 unless the correlation is at least this")
@click.option("--max-rel", type=float, default=None, help="exit 1 unless max|B-A| / max|A| is at most this")
@click.option("--radius", type=click.FloatRange(0), default=2.0, show_default=True,
              help="pixels within which peaks of A and B are matched")
@click.option("--png", "png_out", default=None, type=click.Path(),
              help="write A | B | B-A side by side (8-bit; the difference about mid-grey)")
def compare(a, b, size, min_corr, max_rel, radius, png_out):
    """Compare two images (any format `nbnumba show` reads): correlation, RMSE, ratio of sums, the largest
    differences and their pixels, peaks matched within --radius. Exit 1 when --min-corr or --max-rel is
    not met (or an image has NaN or infinite pixels: they are left out of the numbers, with a warning), 9
    for bad input."""
    from ..io.images import read_image
    try:
        check_number("--min-corr", min_corr)
        check_number("--max-rel", max_rel)
        check_number("--radius", radius)
        fpixels, spixels = parse_size(size)
        if png_out is not None:
            check_preview_output(png_out, [a, b])
        img_a, info_a = read_image(a, fpixels, spixels)
        img_b, info_b = read_image(b, fpixels, spixels)
        if img_a.shape != img_b.shape:
            raise NanoBraggError("the images differ in size: %s is %d x %d, %s is %d x %d (fast x slow)" % (
                a, info_a["size"][0], info_a["size"][1], b, info_b["size"][0], info_b["size"][1]))
        bad_a, bad_b = non_finite(img_a), non_finite(img_b)
        if sum(bad_a) or sum(bad_b):
            both = np.isfinite(np.asarray(img_a, dtype=np.float64)) & np.isfinite(np.asarray(img_b, dtype=np.float64))
            if not both.any():
                raise NanoBraggError("no pixel is finite in both %s (%s) and %s (%s): nothing to compare"
                                     % (a, non_finite_text(bad_a), b, non_finite_text(bad_b)))
        for name, info in (("A", info_a), ("B", info_b)):
            click.echo("%s: %s (%s, %d x %d, %s)" % (name, info["path"], info["format"], info["size"][0],
                                                     info["size"][1], info["dtype"]))
        if sum(bad_a) or sum(bad_b):
            click.echo("nbnumba compare: warning: %s has %s, %s has %s; they are left out of the comparison "
                       "and every threshold fails" % (a, non_finite_text(bad_a), b, non_finite_text(bad_b)), err=True)
        r = comparison(img_a, img_b, radius)
        for line in report_lines(r):
            click.echo(line)
        if png_out is not None:
            from ..io.atomic import write_now
            from ..io.png import grey_to_png
            grey, lo, scale = side_by_side(img_a, img_b)
            write_now(png_out, grey_to_png(grey, [("Software", "nbnumba compare"),
                                                  ("Comment", "A | B | B-A: (value - %s) x %s; B-A: 128 + (B-A) x %s"
                                                   % (number(lo), number(scale), number(scale)))]))
            click.echo("wrote %s (A | B | B-A)" % png_out)
    except NanoBraggError as e:
        fail("compare", e)
    except OSError as e:
        fail("compare", NanoBraggError("%s: %s" % (e.filename or png_out, e.strerror or e)))
    failed = []
    unusable = r["compared"] != r["pixels"]
    why = " (non-finite pixels)" if unusable else ""
    if min_corr is not None:
        ok = r["correlation"] >= min_corr and not unusable          # NaN fails
        click.echo("correlation %.6f >= %s: %s" % (r["correlation"], number(min_corr), "ok" if ok else "FAILED" + why))
        if not ok:
            failed.append("--min-corr")
    if max_rel is not None:
        ok = r["max_rel"] <= max_rel and not unusable
        click.echo("max |B-A| / max |A| %.6g <= %s: %s" % (r["max_rel"], number(max_rel),
                                                          "ok" if ok else "FAILED" + why))
        if not ok:
            failed.append("--max-rel")
    if failed:
        raise SystemExit(1)
