"""read_image: any image nbnumba writes, recognised by its first bytes.

    SMV (-intfile, -noisefile)   "{\\nHEADER_BYTES"   nbnumba.io.smv.read_smv            uint16
    CBF (-cbffile)               "###CBF"            fabio                              int32
    NXmx (-nxsfile)              HDF5 signature      nbnumba.io.nexus.read_nxmx         as stored
    PNG (-pngfile)               "\\x89PNG"           Pillow                             uint8 (or uint16)
    PGM (-pgmfile)               "P5" / "P2"         nbnumba.io.pgm.read_pgm, Pillow    uint8
    raw float (-floatfile)       anything else       float32 little-endian, no header   float64

A raw float image has no header: its size is fpixels x spixels when given (one of them is enough), else
a square when the file holds 4*n*n bytes. Integer images come back in their own integer type, float
images as float64. The info dict has "format", "path", "size" (fpixels, spixels), "dtype" (as stored)
and, where the header has them, "pixel_size_mm", "distance_mm", "wavelength_A", "beam_center_px" (where
the direct beam meets the detector, in pixels from the first pixel's outer corner along fast and slow),
"beam_center_note" (where that came from), "osc_start_deg", "osc_range_deg", "scale" (PNG and PGM: the
photons -> grey level scale).
"""
import math
import os

import numpy as np

from ..errors import NanoBraggError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def detect_format(head):
    """The format's name from a file's first bytes, or None (a raw float image, or unknown)."""
    if head.startswith(b"{\nHEADER_BYT") or head.startswith(b"{\r\nHEADER_BYT"):
        return "SMV"
    if head.startswith(b"###CBF") or head.startswith(b"###_CBF"):
        return "CBF"
    if head.startswith(HDF5_SIGNATURE):
        return "NXmx"
    if head.startswith(PNG_SIGNATURE):
        return "PNG"
    if head[:2] in (b"P5", b"P2") and head[2:3].isspace():
        return "PGM"
    return None


def read_image(path, fpixels=None, spixels=None):
    """(image, info) of the image file `path` (see the module's docstring); NanoBraggError when it cannot
    be read."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
        nbytes = os.path.getsize(path)
    except OSError as e:
        raise NanoBraggError("%s: %s" % (path, e.strerror or e)) from None
    fmt = detect_format(head)
    reader = {"SMV": _read_smv, "CBF": _read_cbf, "NXmx": _read_nxmx, "PNG": _read_png, "PGM": _read_pgm}.get(fmt)
    try:
        if reader is not None:
            image, info = reader(path)
        else:
            image, info = _read_raw_float(path, nbytes, fpixels, spixels)
    except NanoBraggError:
        raise
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        raise NanoBraggError("%s: cannot read it as %s: %s" % (path, fmt or "a raw float image", e)) from None
    info = {"format": info.pop("format", fmt), "path": path, "size": (image.shape[1], image.shape[0]),
            "dtype": info.pop("dtype", str(image.dtype)), **info}
    return image, info


# ------------------------------------------------------------------ SMV

def smv_keys(header_text):
    """KEY=VALUE; pairs of an SMV header (the first value of each key)."""
    keys = {}
    for line in header_text.replace("\r", "").split("\n"):
        if "=" in line:
            key, value = line.split("=", 1)
            keys.setdefault(key.strip(), value.split(";", 1)[0].strip())
    return keys


def _float(value):
    try:
        x = float(str(value).replace(",", " ").split()[0])
    except (ValueError, IndexError, TypeError):
        return None
    return x if math.isfinite(x) else None


def _read_smv(path):
    from .smv import read_smv
    header, pixels = read_smv(path)
    if pixels is None:
        raise NanoBraggError("%s: does not look like an SMV (ADSC) frame" % path)
    keys = smv_keys(header)
    info = {"format": "SMV"}
    px = _float(keys.get("PIXEL_SIZE"))
    _put(info, "pixel_size_mm", px)
    _put(info, "distance_mm", _float(keys.get("DISTANCE")))
    _put(info, "wavelength_A", _float(keys.get("WAVELENGTH")))
    _put(info, "osc_start_deg", _float(keys.get("OSC_START")))
    _put(info, "osc_range_deg", _float(keys.get("OSC_RANGE")))
    ax, ay = _float(keys.get("ADXV_CENTER_X")), _float(keys.get("ADXV_CENTER_Y"))
    if px and ax is not None and ay is not None:
        # nanoBragg's ADXV centre: Fbeam, and the slow distance from the far edge
        info["beam_center_px"] = (ax / px, pixels.shape[0] - ay / px)
        info["beam_center_note"] = "ADXV_CENTER_X/Y"
    else:
        bx, by = _float(keys.get("BEAM_CENTER_X")), _float(keys.get("BEAM_CENTER_Y"))
        if bx is not None and by is not None:
            info["beam_center_mm_header"] = (bx, by)
            info["beam_center_note"] = "BEAM_CENTER_X/Y in mm, in the header's own convention"
    return pixels, info


def _put(info, key, value):
    if value is not None:
        info[key] = value


# ------------------------------------------------------------------ CBF

def minicbf_keys(contents):
    """The "# Keyword value" lines of a miniCBF header: {keyword: rest of the line}."""
    keys = {}
    for line in str(contents).replace("\r", "").split("\n"):
        line = line.strip()
        if not line.startswith("#"):
            continue
        parts = line[1:].replace("=", " ").replace(":", " ", 1).split(None, 1)
        if len(parts) == 2:
            keys.setdefault(parts[0], parts[1].strip())
    return keys


def _read_cbf(path):
    import logging
    import fabio
    logger = logging.getLogger("fabio")
    level = logger.level
    logger.setLevel(logging.ERROR)        # fabio logs every header item it finds unusual
    try:
        img = fabio.open(path)
        data = np.asarray(img.data)
        header = dict(img.header)
    except Exception as e:                # fabio raises anything for a damaged file
        raise NanoBraggError("%s: fabio cannot read this CBF: %s" % (path, e)) from None
    finally:
        logger.setLevel(level)
    info = {"format": "CBF", "dtype": str(data.dtype)}
    keys = minicbf_keys(header.get("_array_data.header_contents", ""))
    px = None
    if "Pixel_size" in keys:
        px = _float(keys["Pixel_size"].replace("m", " ").replace("x", " "))
        _put(info, "pixel_size_mm", px * 1000.0 if px is not None else None)
    if "Detector_distance" in keys:
        d = _float(keys["Detector_distance"])
        _put(info, "distance_mm", d * 1000.0 if d is not None else None)
    _put(info, "wavelength_A", _float(keys.get("Wavelength")))
    _put(info, "osc_start_deg", _float(keys.get("Start_angle")))
    _put(info, "osc_range_deg", _float(keys.get("Angle_increment")))
    if "Beam_xy" in keys:
        xy = keys["Beam_xy"].replace("(", " ").replace(")", " ").replace(",", " ").split()
        if len(xy) >= 2 and _float(xy[0]) is not None and _float(xy[1]) is not None:
            info["beam_center_px"] = (_float(xy[0]), _float(xy[1]))
            info["beam_center_note"] = "Beam_xy"
    if "wavelength_A" not in info:        # a full CBF without the miniCBF lines
        for loop in header.get("loop_", []) or []:
            try:
                for row in loop[1]:
                    w = row.get("_diffrn_radiation_wavelength.wavelength",
                                row.get(b"_diffrn_radiation_wavelength.wavelength"))
                    if w is not None:
                        _put(info, "wavelength_A", _float(w.decode() if isinstance(w, bytes) else w))
            except (AttributeError, IndexError, TypeError):
                pass
    if data.ndim != 2:
        raise NanoBraggError("%s: the CBF holds a %d-dimensional array, not an image" % (path, data.ndim))
    return data, info


# ------------------------------------------------------------------ NXmx

def _read_nxmx(path):
    from .nexus import read_nxmx
    try:
        d = read_nxmx(path)
    except NanoBraggError:
        raise
    except Exception as e:                # h5py raises its own types for damaged files
        raise NanoBraggError("%s: cannot read it as NXmx: %s" % (path, e)) from None
    image = np.asarray(d["image"])
    while image.ndim > 2 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 2:
        raise NanoBraggError("%s: the NXmx image is %s, not one 2-D frame" % (path, image.shape))
    info = {"format": "NXmx", "dtype": str(image.dtype)}
    _nxmx_geometry(info, d["geometry"])
    if d.get("kind"):
        info["kind"] = str(d["kind"])
    return image if not np.issubdtype(image.dtype, np.floating) else image.astype(np.float64), info


def _nxmx_geometry(info, g):
    """read_nxmx's geometry (SI units, nanoBragg's lab frame) as the info entries."""
    px = _scalar(np.atleast_1d(g["pixel_size"])[0]) if g.get("pixel_size") is not None else None
    _put(info, "pixel_size_mm", px * 1000.0 if px else None)
    wl = _scalar(g.get("wavelength"))
    _put(info, "wavelength_A", wl * 1e10 if wl else None)
    try:
        origin = np.asarray(g["origin"], float)
        normal = np.asarray(g["normal"], float)
        beam = np.asarray(g["beam"], float)
        fast, slow = np.asarray(g["fast_axis"], float), np.asarray(g["slow_axis"], float)
        pf, ps = (float(v) for v in g["pixel_size"])
    except (KeyError, TypeError, ValueError):
        origin = None
    close = None
    if origin is not None and origin.shape == (3,):
        close = abs(float(np.dot(origin, normal)))
        cos_b = float(np.dot(beam, normal))
        if cos_b != 0 and pf > 0 and ps > 0:
            hit = float(np.dot(origin, normal)) / cos_b * beam - origin
            info["beam_center_px"] = (float(np.dot(hit, fast)) / pf, float(np.dot(hit, slow)) / ps)
            info["beam_center_note"] = "from the NXmx transformations"
    dist = _scalar(g.get("distance"))
    if dist is None:
        dist = close
    _put(info, "distance_mm", dist * 1000.0 if dist is not None else None)
    for key, name in (("phi_start", "osc_start_deg"), ("phi_increment", "osc_range_deg")):
        v = _scalar(g.get(key))
        _put(info, name, math.degrees(v) if v is not None else None)


def _scalar(v):
    try:
        a = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        return None
    if a.size != 1 or not np.isfinite(a).all():
        return None
    return float(a.reshape(-1)[0])


# ------------------------------------------------------------------ PNG and PGM

def _read_png(path):
    from PIL import Image
    with Image.open(path) as im:
        im.load()
        text = dict(getattr(im, "text", {}) or {})
        if im.mode in ("L", "I;16", "I;16B", "I", "F"):
            data = np.asarray(im)
        else:
            data = np.asarray(im.convert("L"))
    info = {"format": "PNG", "dtype": str(data.dtype)}
    _put(info, "scale", _float(text.get("nbnumba.pgm_scale")))
    _put(info, "pixel_size_mm", _float(text.get("nbnumba.pixel_size_mm")))
    _put(info, "distance_mm", _float(text.get("nbnumba.distance_mm")))
    _put(info, "wavelength_A", _float(text.get("nbnumba.wavelength_A")))
    return data, info


def _read_pgm(path):
    from .pgm import read_pgm
    try:
        f, s, scale, data = read_pgm(path)
        data = np.array(data)
    except (ValueError, IndexError):      # not the layout nanoBragg writes: ask Pillow
        from PIL import Image
        with Image.open(path) as im:
            data = np.asarray(im.convert("L"))
        scale = None
    info = {"format": "PGM", "dtype": str(data.dtype)}
    _put(info, "scale", scale)
    return data, info


# ------------------------------------------------------------------ raw float

def _read_raw_float(path, nbytes, fpixels, spixels):
    if nbytes == 0 or nbytes % 4:
        raise NanoBraggError("%s: not a known image format (SMV, CBF, NXmx, PNG, PGM) nor raw 4-byte floats "
                             "(%d bytes)" % (path, nbytes))
    n = nbytes // 4
    if fpixels and spixels:
        if fpixels * spixels != n:
            raise NanoBraggError("%s: %d floats, not %d x %d" % (path, n, fpixels, spixels))
    elif fpixels or spixels:
        given = fpixels or spixels
        if n % given:
            raise NanoBraggError("%s: %d floats are not rows of %d" % (path, n, given))
        fpixels, spixels = (given, n // given) if fpixels else (n // given, given)
    else:
        side = math.isqrt(n)
        if side * side != n:
            raise NanoBraggError("%s: a raw float image of %d pixels is not square: give its size (FxS)" % (path, n))
        fpixels = spixels = side
    data = np.fromfile(path, dtype="<f4", count=n).reshape(spixels, fpixels)
    return data.astype(np.float64), {"format": "raw float", "dtype": "float32"}
