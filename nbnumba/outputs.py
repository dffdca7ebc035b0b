"""nanoBragg.c's output stage (3091-3287): float, int, pgm and noise images with C's scaling."""
import collections
import math
import threading
import time

import numpy as np

from .config import skips
from .io.atomic import OutputTransaction, atomic_write
from .io.pgm import write_pgm
from .io.rawfloat import write_float_image
from .io.smv import smv_header, write_smv
from .progress import interpolation_warning
from .random_numbers import noise_rows
from .sampling import RTD
from .render import roi_bounds
from .kernels.native import kernel as native


def int_image(floatimage, scale, adc, p):
    """C 3140-3156: clip(float*scale + adc) then floorf of the float32-rounded value + 0.5; 0 outside the ROI."""
    out = np.zeros(floatimage.size, np.uint16)
    native("int_image")(floatimage, float(scale), float(adc), p.fpixels, p.roi_xmin, p.roi_xmax, p.roi_ymin,
                        p.roi_ymax, out)
    return out


def pgm_image(floatimage, scale, p):
    """C 3196-3210: (unsigned char) min(float*scale, 255), truncated; 0 outside the ROI."""
    out = np.zeros(floatimage.size, np.uint8)
    native("pgm_image")(floatimage, float(scale), p.fpixels, p.roi_xmin, p.roi_xmax, p.roi_ymin, p.roi_ymax, out)
    return out


def header_for(p, denzo_sign):
    px = p.pixel_size
    return smv_header(
        fpixels=p.fpixels, spixels=p.spixels, pixel_size_mm=px * 1000.0, distance_mm=p.distance * 1000.0,
        wavelength_A=p.lambda0 * 1e10, beam_center_x_mm=p.Xbeam * 1000.0, beam_center_y_mm=p.Ybeam * 1000,
        adxv_center_x_mm=p.Fbeam * 1000.0, adxv_center_y_mm=(p.detsize_s - p.Sbeam) * 1000,
        mosflm_center_x_mm=(p.Sbeam - 0.5 * px) * 1000.0, mosflm_center_y_mm=(p.Fbeam - 0.5 * px) * 1000,
        denzo_x_beam_mm=(p.Sbeam + denzo_sign * 0.0 * px) * 1000.0,
        denzo_y_beam_mm=(p.Fbeam + denzo_sign * 0.0 * px) * 1000,
        dials_origin_mm=tuple(p.dials_origin[1:4]), xds_orgx=p.ORGX, xds_orgy=p.ORGY,
        close_distance_mm=p.close_distance * 1000.0, phi_deg=p.phi0 * RTD, osc_start_deg=p.phi0 * RTD,
        osc_range_deg=p.osc * RTD, twotheta_deg=p.detector_twotheta * RTD)


class NoiseStream:
    """The noise pass fed while the image renders: render.run calls it with the number of list
    positions that are final, and each run of rows before the first unfinished pixel goes to a
    background thread at once (C's noise loop is serial but row after row, so rows done in order give
    the one-pass result). Hand it to write_outputs; cancel() stops it."""

    # seconds per pixel assumed until the first rows are done (about this on a 2020s x86 core)
    GUESS_S_PER_PIXEL = 3e-8

    def __init__(self, plan):
        p = plan.p
        self._p, self._rng = p, plan.rng
        y0, y1, x0, x1 = roi_bounds(p)
        self._first, self._end, self._width = y0, y1 + 1, max(x1 - x0 + 1, 0)
        self._next = self._first               # first row not yet handed over
        self._rows_done = 0
        self._seconds = 0.0
        self._out = np.zeros(p.fpixels * p.spixels, np.uint16)
        self._totals = np.zeros(2)
        self._idum = np.array([p.seed], np.int64)
        self._image = None
        # a deque and a semaphore: the queue module would cost ~1 ms of start-up
        self._jobs = collections.deque()
        self._ready = threading.Semaphore(0)
        self._error = None
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def __call__(self, image, order, done):
        """Positions order[:done] of the flat float32 image are final (calls come in order)."""
        if done >= order.shape[0]:
            self.finish(image)
            return
        self._image = image
        end = min(int(order[done]) // self._p.fpixels, self._end)
        if end > self._next:
            self._put((self._next, end))
            self._next = end

    def finish(self, image):
        """The whole flat float32 image is final."""
        self._image = image
        if self._end > self._next:
            self._put((self._next, self._end))
            self._next = self._end

    def remaining_s(self):
        """Estimated seconds of one CPU that the rows not yet done still need."""
        rows = max(self._end - self._first, 0) - self._rows_done
        if self._rows_done:
            return rows * self._seconds / self._rows_done
        return rows * self._width * self.GUESS_S_PER_PIXEL

    def _work(self):
        p = self._p
        while True:
            self._ready.acquire()
            rows = self._jobs.popleft()
            if rows is None:
                return
            if self._error is None:
                t0 = time.perf_counter()
                try:
                    noise_rows(self._rng, self._image, p.fpixels, p.roi_xmin, p.roi_xmax, rows[0], rows[1] - 1,
                               p.adc_offset, self._idum, self._out, self._totals)
                except BaseException as e:     # re-raised by result(), in the caller's thread
                    self._error = e
                self._seconds += time.perf_counter() - t0
                self._rows_done += rows[1] - rows[0]

    def _put(self, job):
        self._jobs.append(job)
        self._ready.release()

    def cancel(self):
        self._put(None)

    def wait(self):
        self.cancel()
        self._thread.join()

    def result(self):
        if self._next < self._end:
            raise RuntimeError("the noise stream was not given the whole image")
        self.wait()
        if self._error is not None:
            raise self._error
        return self._out, float(self._totals[0]), int(self._totals[1])


def write_outputs(result, log=print, noise_job=None, outputs=None):
    """Writes every output file nanoBragg would, printing its log lines; returns the noise image or None.
    noise_job: the NoiseStream that followed this result's render, if any.

    The files are one transaction (nbnumba.io.atomic): `outputs`, if given (it may hold Fdump.bin from
    save_fdump), else a new one. Each file is staged as it is logged and all are put in place at the
    end; an exception (an interrupt included) leaves no output and no temporary file."""
    plan = result.plan
    p = plan.p
    if noise_job is None and p.calculate_noise:
        noise_job = NoiseStream(plan)
        noise_job.finish(result.floatimage)
    # every file (and the Fdump cache save_fdump announced) goes into place at the end, or none does
    with outputs or OutputTransaction():
        try:
            _write_images(result, log)
        except BaseException:
            if noise_job is not None:
                noise_job.wait()
            raise
        if noise_job is None:
            _write_formats(result, log, None)
            return None
        noise, photons, overloads = noise_job.result()
        log("%.0f photons on noise image (%d overloads)" % (photons, overloads))
        log("writing %s as %d-byte integers" % (p.noisefilename, 2))
        write_smv(p.noisefilename, header_for(p, +1.0), noise)
        _write_formats(result, log, noise)
    return noise


def intfile_scale(result):
    """C's scale of the integer image: -scale, else 55000/max_I (1 for a dark image)."""
    scale = result.plan.p.intfile_scale
    if scale <= 0.0:
        scale = 1.0
        if result.max_I > 0.0:
            scale = 55000.0 / result.max_I
    return scale


def pgm_scale(result):
    """C's scale of the PGM (3190-3195): -pgmscale, else 250/(5 rmsd), else the integer image's scale."""
    scale = result.plan.p.pgm_scale
    if scale <= 0.0:
        scale = intfile_scale(result)
        if result.rmsd > 0.0:
            scale = 250.0 / (5.0 * result.rmsd)
    return scale


def format_image_kind(p):
    """Which image -nxsfile and -cbffile hold: -nxs_image, where auto is the noise image when there is one."""
    if p.nxs_image != "auto":
        return p.nxs_image
    return "noise" if p.calculate_noise else "int"


def _write_formats(result, log, noise):
    """The files of formats nanoBragg.c does not write (-nxsfile, -cbffile, -pngfile), in the transaction."""
    p = result.plan.p
    if not (p.nxsfile or p.cbffile or p.pngfile):
        return
    shape = (p.spixels, p.fpixels)
    if p.nxsfile or p.cbffile:
        kind = format_image_kind(p)
        if kind == "noise":
            data = noise.reshape(shape)
        elif kind == "int":
            data = int_image(result.floatimage, intfile_scale(result), p.adc_offset, p).reshape(shape)
        else:
            data = result.image
        if p.nxsfile:
            from .io.nexus import nxmx_bytes
            log("writing %s as NXmx (the %s image)" % (p.nxsfile, kind))
            atomic_write(p.nxsfile, nxmx_bytes(p, data, kind))
        if p.cbffile:
            from .io.cbf import cbf_bytes
            log("writing %s as CBF (the %s image)" % (p.cbffile, kind))
            atomic_write(p.cbffile, cbf_bytes(p, data, kind))
    if p.pngfile:
        from .io.png import png_bytes
        log("writing %s as PNG" % p.pngfile)
        atomic_write(p.pngfile, png_bytes(p, result.image, result))


def _write_images(result, log):
    """The float, int and PGM images, with their log lines."""
    p = result.plan.p
    flat = result.floatimage
    npx = p.fpixels * p.spixels
    if not skips(p, "floatfile"):
        log("writing %s as %d %d-byte floats" % (p.floatfilename, npx, 4))
        write_float_image(p.floatfilename, flat)
    log("max_I = %g  at %g %g" % (result.max_I, result.max_I_x, result.max_I_y))
    log("mean= %g rms= %g rmsd= %g" % (result.mean, result.rms, result.rmsd))
    scale = intfile_scale(result)
    log("intfile_scale = %g" % scale)
    if not skips(p, "intfile"):
        ints = int_image(flat, scale, p.adc_offset, p)
        log("writing %s as %d-byte integers" % (p.intfilename, 2))
        write_smv(p.intfilename, header_for(p, -1.0), ints)
    if p.write_pgm:
        pscale = pgm_scale(result)
        log("pgm_scale = %g" % pscale)
        log("writing %s as %d-byte integers" % (p.pgmfilename, 1))
        write_pgm(p.pgmfilename, p.fpixels, p.spixels, pscale, pgm_image(flat, pscale, p))


def log_run_summary(result, log=print, progress_shown=False):
    """The lines C prints between the pixel loop and the output files; progress_shown: the progress
    lines and the interpolation warning were printed during the render (progress.LiveProgress)."""
    p = result.plan.p
    if not progress_shown:
        if result.interpolation_off_at >= 0:
            log(interpolation_warning(p, result.interpolation_off_at))
        for line in result.progress:
            log(line)
    if p.printout:
        from .printout import printout
        printout(result, log)
    log("")
    log("solid angle subtended by detector = %g steradian ( %g%% sphere)"
        % (result.omega_sum / p.steps, 100 * result.omega_sum / p.steps / 4 / math.pi))
