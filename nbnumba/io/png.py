"""-pngfile: the float image as an 8-bit grey PNG (Pillow), with nanoBragg's PGM contrast.

Each pixel is (unsigned char) min(photons * scale, 255), truncated, and 0 outside the region of interest:
the very pixels of nanoBragg's PGM (nbnumba.outputs.pgm_image). The scale is the PGM's: -pgmscale when
given, else 250 / (5 * rmsd) (pixels brighter than about 5 rmsd saturate: the Bragg spots are white and
the background still shows), else (a flat image) the integer image's scale. The scale and the
image statistics are kept in the PNG's text chunks ("pixels scaled by" as in the PGM's comment).
"""
import io

import numpy as np

from .cscan import c_g


def png_scale(p, result):
    """The PGM's scale (outputs.pgm_scale; p is result's settled configuration)."""
    from ..outputs import pgm_scale
    return pgm_scale(result)


def grey_to_png(grey, text=()):
    """A (rows, columns) uint8 array as PNG bytes, with (key, value) text chunks."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    for key, value in text:
        info.add_text(key, value)
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(grey, dtype=np.uint8)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def png_bytes(p, image, result):
    """The PNG file of the (spixels, fpixels) float image as bytes."""
    from ..outputs import pgm_image
    scale = png_scale(p, result)
    flat = np.ascontiguousarray(image, dtype=np.float32).reshape(-1)
    grey = pgm_image(flat, scale, p).reshape(p.spixels, p.fpixels)
    text = [("Software", "nbnumba (nanoBragg)"),
            ("Comment", "pixels scaled by %s" % c_g(scale)),
            ("nbnumba.pgm_scale", repr(float(scale))),
            ("nbnumba.max_I", repr(float(result.max_I))),
            ("nbnumba.mean", repr(float(result.mean))),
            ("nbnumba.rmsd", repr(float(result.rmsd))),
            ("nbnumba.pixel_size_mm", repr(float(p.pixel_size) * 1000.0)),
            ("nbnumba.distance_mm", repr(float(p.distance) * 1000.0)),
            ("nbnumba.wavelength_A", repr(float(p.lambda0) * 1e10))]
    return grey_to_png(grey, text)
