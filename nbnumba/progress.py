"""Progress of a render: nanoBragg.c's "N% done" lines, printed as the render reaches them, and on an
interactive terminal a bar on stderr (tqdm, imported only there)."""
import sys

import numpy as np


def progress_ticks(p, block_starts):
    """(list position, line) for each of C's '%d%% done' lines, in the order C prints them.

    Each OpenMP thread counts its own pixels (one block of list positions each). C prints after the
    pixel at every multiple of P/20 processed pixels, and at every multiple of P/100 in the first and
    last tenth, where P counts the ROI with C's +1 (so it never reaches 100%)."""
    P = (p.roi_xmax - p.roi_xmin + 1) * (p.roi_ymax - p.roi_ymin + 1)
    if p.printout or not p.progress_meter or P // 100 <= 0:
        return []
    ticks = []
    for first, count in zip(block_starts[:-1], np.diff(block_starts)):
        counts = set(range(0, int(count), P // 20))
        counts.update(pp for pp in range(0, int(count), P // 100) if 10 * pp < P or 10 * pp > 9 * P)
        ticks.extend((int(first) + pp, "%d%% done" % (pp * 100 // P)) for pp in sorted(counts))
    return ticks


def progress_lines(p, block_starts):
    return [line for _, line in progress_ticks(p, block_starts)]


def interpolation_warning(p, pixel):
    return ("WARNING: out of range for three point interpolation at pixel %d %d: nearest-neighbour structure "
            "factors from there on (as nanoBragg.c does)" % (pixel % p.fpixels, pixel // p.fpixels))


class LiveProgress:
    """Told how many list positions of the render are final (`update(done)`, in order), prints C's lines
    up to there through `log`, and the interpolation warning where C prints it (after the pixel that
    switched interpolation off, before that pixel's progress line). flush() pushes the lines out as
    they come. With `bar`, also draws a tqdm bar on stderr: done/total pixels, rate and time left."""

    def __init__(self, log, flush=sys.stdout.flush, bar=False):
        self._log, self._flush, self._want_bar = log, flush, bar
        self._p, self._ticks = None, []
        self._next = 0            # first tick not yet printed
        self._done = 0
        self._warn_at = None      # (list position, pixel) of the interpolation switch, while not printed
        self._bar = None

    def start(self, p, block_starts, total):
        """A render of `total` list positions (render.run calls this before rendering)."""
        self._p, self._ticks = p, progress_ticks(p, block_starts)
        if self._want_bar and total > 0:
            from tqdm import tqdm
            self._bar = tqdm(total=int(total), unit="px", unit_scale=True, file=sys.stderr, leave=False,
                             dynamic_ncols=True, mininterval=0.2)

    def interpolation_off(self, position, pixel):
        """The pixel at list position `position` (flat index `pixel`) switched interpolation off."""
        self._warn_at = (position, pixel)

    def update(self, done):
        if done <= self._done:
            return
        while self._next < len(self._ticks) or self._warn_at is not None:
            at = self._ticks[self._next][0] if self._next < len(self._ticks) else None
            if self._warn_at is not None and self._warn_at[0] < done and (at is None or self._warn_at[0] <= at):
                self._say(interpolation_warning(self._p, self._warn_at[1]))
                self._warn_at = None
            elif at is not None and at < done:
                self._say(self._ticks[self._next][1])
                self._next += 1
            else:
                break
        if self._bar is not None:
            self._bar.update(done - self._done)
        self._done = done

    def _say(self, line):
        if self._bar is not None:
            self._bar.clear()
            self._log(line)
            self._flush()
            self._bar.refresh()
        else:
            self._log(line)
            self._flush()

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
