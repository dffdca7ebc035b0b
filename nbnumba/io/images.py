"""read_image: any image nbnumba writes, recognised by its first bytes.

    SMV (-intfile, -noisefile)   "{\\nHEADER_BYTES"   nbnumba.io.smv.read_smv            uint16 (big_endian swapped)
    CBF (-cbffile)               "###CBF"            fabio                              int32
    NXmx (-nxsfile)              HDF5 signature      nbnumba.io.nexus.read_nxmx         as stored
    PNG (-pngfile)               "\\x89PNG"           Pillow (IHDR checked here first)   uint8 (or uint16)
    PGM (-pgmfile)               "P5" / "P2"         nbnumba.io.pgm.read_pgm            uint8 (uint16: maxval > 255)
    raw float (-floatfile)       anything else       float32 little-endian, no header   float64

A raw float image has no header: its size is fpixels x spixels when given (one of them is enough), else
a square when the file holds 4*n*n bytes. Integer images come back in their own integer type, float
images as float64. The info dict has "format", "path", "size" (fpixels, spixels), "dtype" (as stored)
and, where the header has them, "pixel_size_mm", "distance_mm", "wavelength_A", "beam_center_px" (where
the direct beam meets the detector, in pixels from the first pixel's outer corner along fast and slow),
"beam_center_note" (where that came from), "osc_start_deg", "osc_range_deg", "scale" (PNG and PGM: the
photons -> grey level scale).

What cannot be read is refused with a NanoBraggError naming the file (`nbnumba show` and `compare` turn it
into one line and exit 9): a path that is missing, unreadable, a directory or not a regular file (a FIFO
or a device is refused unopened: nothing waits for a writer); a header that promises what the file does
not hold (an SMV, PGM or CBF shorter than its header says, a Content-MD5 that does not match), no pixel,
more than 2^31 - 1 pixels or more than the memory available holds (checked from the SMV, PGM and CBF
headers, the PNG's IHDR chunk and the NXmx data set's shape before any pixel is allocated), a pixel type
nbnumba does not read (an SMV TYPE other than unsigned_short), an HDF5 file that is not NXmx, and whatever
the libraries (fabio, h5py, Pillow) raise for a damaged file.
"""
import errno
import math
import os
import stat
import struct
import zlib

import numpy as np

from ..errors import NanoBraggError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = (1 << 31) - 1     # nanoBragg counts pixels in a C int
WORK_BYTES = 48                # bytes per pixel that show and compare use besides the stored pixels
# what read_image catches from the readers (and the libraries they call) as "cannot read it"
READ_ERRORS = (OSError, ValueError, KeyError, IndexError, TypeError, EOFError, SyntaxError, OverflowError,
               AttributeError, AssertionError, struct.error, zlib.error, MemoryError)


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


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def file_kind(mode):
    """'a FIFO', 'a character device', ... for a file that is not regular (nor a directory)."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def regular_file(path):
    """os.stat(path) of an image file; NanoBraggError naming `path` when it is missing, a directory or
    not a regular file (a FIFO, a device: nothing is opened, so nothing waits for a writer)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise NanoBraggError("%s: %s" % (path, e.strerror or e)) from None
    except ValueError:          # a NUL in the name
        raise NanoBraggError("%r: not a file name (a NUL character)" % (path,)) from None
    if stat.S_ISDIR(st.st_mode):
        raise NanoBraggError("%s: a directory, not an image file" % path)
    if not stat.S_ISREG(st.st_mode):
        raise NanoBraggError("%s: %s, not a regular file: images are read from files"
                             % (path, file_kind(st.st_mode)))
    return st


def open_input(path):
    """open(path, "rb") that never waits: a FIFO opens at once (and reads as empty while nobody writes to
    it), a directory is IsADirectoryError. OSError as open's."""
    nonblock = getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, os.O_RDONLY | nonblock | getattr(os, "O_BINARY", 0))
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if nonblock:
            import fcntl
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~nonblock)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_pixels(path, fmt, width, height, stored_bytes):
    """Refuses, before anything is allocated, an image whose header says it has no pixel, more than
    MAX_PIXELS, or more than the memory available holds (stored_bytes per pixel, and what show and
    compare need besides)."""
    from ..checks import check_memory
    if not (width >= 1 and height >= 1):
        raise NanoBraggError("%s: the %s header says %s x %s pixels: an image has at least one pixel"
                             % (path, fmt, width, height))
    if width * height > MAX_PIXELS:
        raise NanoBraggError("%s: the %s header says %d x %d pixels, more than 2^31 - 1: not an image "
                             "nbnumba reads" % (path, fmt, width, height))
    check_memory(width * height * (stored_bytes + WORK_BYTES),
                 "the %dx%d-pixel %s image %s" % (width, height, fmt, path))


def read_image(path, fpixels=None, spixels=None):
    """(image, info) of the image file `path` (see the module's docstring); NanoBraggError naming the file
    when it cannot be read: missing, unreadable, a directory, not a regular file (a FIFO or a device is
    refused unopened), a header that promises what the file does not hold (truncated, no pixel, more
    pixels than memory), a pixel type or layout nbnumba does not read. Nothing is allocated for the pixels
    before the header has been checked against the file's size and the memory available."""
    path = os.fspath(path)
    st = regular_file(path)
    try:
        with open_input(path) as fh:
            head = fh.read(64)
    except OSError as e:
        raise NanoBraggError("%s: %s" % (path, e.strerror or e)) from None
    fmt = detect_format(head)
    reader = {"SMV": _read_smv, "CBF": _read_cbf, "NXmx": _read_nxmx, "PNG": _read_png, "PGM": _read_pgm}.get(fmt)
    try:
        if reader is not None:
            image, info = reader(path, st.st_size, head)
        else:
            image, info = _read_raw_float(path, st.st_size, fpixels, spixels)
    except NanoBraggError as e:
        if path in str(e):
            raise
        raise NanoBraggError("%s: %s" % (path, e)) from None      # a reader's message that names no file
    except READ_ERRORS as e:
        raise NanoBraggError("%s: cannot read it as %s: %s" % (path, fmt or "a raw float image",
                                                                _one_line(e))) from None
    if image.ndim != 2 or image.size == 0:
        raise NanoBraggError("%s: the %s file holds an array of shape %s, not an image"
                             % (path, fmt or "raw float", image.shape))
    info = {"format": info.pop("format", fmt), "path": path, "size": (image.shape[1], image.shape[0]),
            "dtype": info.pop("dtype", str(image.dtype)), **info}
    return image, info


def printable(text):
    """Text from a file made safe for one line of a terminal: control characters escaped."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(text))


def _one_line(e):
    """An exception's message on one line (a library's may have several), never empty."""
    text = printable(" ".join(str(e).split()) or type(e).__name__)
    return text if len(text) <= 300 else text[:297] + "..."


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


def _read_smv(path, nbytes, head):
    from .smv import read_smv
    header, pixels = read_smv(path, byte_order=True)
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


CBF_BINARY_START = b"\x0c\x1a\x04\xd5"
_CBF_ELEMENT_BYTES = {"signed 8-bit integer": 1, "unsigned 8-bit integer": 1, "signed 16-bit integer": 2,
                      "unsigned 16-bit integer": 2, "signed 32-bit integer": 4, "unsigned 32-bit integer": 4,
                      "signed 64-bit integer": 8, "unsigned 64-bit integer": 8,
                      "signed 32-bit real IEEE": 4, "signed 64-bit real IEEE": 8}


def _cbf_binary_header(path, nbytes):
    """The MIME header of the CBF's first binary section, checked against the file before fabio reads it:
    {X-Binary-... key: value}. Refuses a file without a binary section, dimensions of no pixel or more
    than memory holds, and a binary section longer than what follows it in the file."""
    with open_input(path) as fh:
        raw = fh.read()
    start = raw.find(CBF_BINARY_START)
    mime = raw.rfind(b"--CIF-BINARY-FORMAT-SECTION--", 0, start if start >= 0 else len(raw))
    if start < 0 or mime < 0:
        raise NanoBraggError("%s: a CBF without a binary image section (damaged or truncated)" % path)
    keys = {}
    for line in raw[mime:start].decode("latin-1").replace("\r", "\n").split("\n"):
        if ":" in line:
            key, value = line.split(":", 1)
            keys.setdefault(key.strip(), value.strip().strip('"').strip())
        elif "conversions=" in line:
            keys.setdefault("conversions", line.split("=", 1)[1].strip().strip(";").strip('"'))

    def count(key):
        try:
            return int(keys[key])
        except (KeyError, ValueError):
            raise NanoBraggError("%s: the CBF binary header has no valid %s" % (path, key)) from None
    fast, slow = count("X-Binary-Size-Fastest-Dimension"), count("X-Binary-Size-Second-Dimension")
    size = count("X-Binary-Size")
    element = keys.get("X-Binary-Element-Type", "signed 32-bit integer")
    if element not in _CBF_ELEMENT_BYTES:
        raise NanoBraggError("%s: CBF pixels of type %r are not read" % (path, element))
    check_pixels(path, "CBF", fast, slow, _CBF_ELEMENT_BYTES[element] + 8)
    elements = keys.get("X-Binary-Number-of-Elements")
    if elements is not None and elements.strip() != str(fast * slow):
        raise NanoBraggError("%s: the CBF binary header says %s elements for %d x %d pixels"
                             % (path, elements, fast, slow))
    have = len(raw) - (start + len(CBF_BINARY_START))
    if size < 0 or size > have:
        raise NanoBraggError("%s: truncated CBF: its binary section says %d bytes, %d follow it"
                             % (path, size, max(have, 0)))
    md5 = keys.get("Content-MD5")
    if md5:
        import base64
        import hashlib
        body = raw[start + len(CBF_BINARY_START):start + len(CBF_BINARY_START) + size]
        if base64.b64encode(hashlib.md5(body).digest()).decode("ascii") != md5:
            raise NanoBraggError("%s: damaged CBF: the binary section does not match its Content-MD5" % path)
    if "byte_offset" in keys.get("conversions", "x-CBF_BYTE_OFFSET").lower() and size < fast * slow:
        # byte-offset compression spends at least one byte per pixel
        raise NanoBraggError("%s: damaged CBF: %d bytes of byte-offset data cannot hold %d x %d pixels"
                             % (path, size, fast, slow))
    return keys, (slow, fast)


def _read_cbf(path, nbytes, head):
    import logging
    from ..checks import check_memory
    check_memory(2 * nbytes, "the %d-byte CBF file %s" % (nbytes, path))
    _, shape = _cbf_binary_header(path, nbytes)
    import fabio.cbfimage
    logger = logging.getLogger("fabio")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)   # fabio logs every header item it finds unusual, and its errors
    try:
        img = fabio.cbfimage.CbfImage()
        img.read(path)
        data = np.asarray(img.data)
        header = dict(img.header)
    except Exception as e:                # fabio raises anything for a damaged file
        raise NanoBraggError("%s: fabio cannot read this CBF: %s" % (path, _one_line(e))) from None
    finally:
        logger.setLevel(level)
    if data.shape != shape:
        raise NanoBraggError("%s: fabio read %s pixels from a CBF that says %d x %d"
                             % (path, data.shape, shape[1], shape[0]))
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

def _read_nxmx(path, nbytes, head):
    from .nexus import read_nxmx
    try:
        d = read_nxmx(path, first_frame=True, check=lambda shape, itemsize: _check_nxmx(path, shape, itemsize))
    except NanoBraggError:
        raise
    except Exception as e:                # h5py raises its own types for damaged files
        raise NanoBraggError("%s: cannot read it as NXmx: %s" % (path, _one_line(e))) from None
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


def _check_nxmx(path, shape, itemsize):
    """read_nxmx's check of the data set before a frame is read: 2-D frames, or a stack of them."""
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[0] < 1):
        raise NanoBraggError("%s: the NXmx data set is %s, not frames of an image" % (path, tuple(shape)))
    check_pixels(path, "NXmx", int(shape[-1]), int(shape[-2]), itemsize + 8)


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

_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def png_size(path, head):
    """(width, height, bytes per pixel) from a PNG's IHDR chunk, which must come first, whole, with its CRC."""
    if len(head) < 33 or head[8:16] != b"\x00\x00\x00\x0dIHDR":
        raise NanoBraggError("%s: a PNG without its IHDR chunk (damaged or truncated)" % path)
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    if zlib.crc32(head[12:29]) != struct.unpack(">I", head[29:33])[0]:
        raise NanoBraggError("%s: damaged PNG: the IHDR chunk's CRC is wrong" % path)
    if colour not in _PNG_CHANNELS or depth not in (1, 2, 4, 8, 16):
        raise NanoBraggError("%s: a PNG of colour type %d, bit depth %d is not read" % (path, colour, depth))
    return width, height, _PNG_CHANNELS[colour] * max(1, depth // 8)


def _read_png(path, nbytes, head):
    import warnings
    from PIL import Image
    width, height, stored = png_size(path, head)
    check_pixels(path, "PNG", width, height, stored + 1)
    try:
        with warnings.catch_warnings():
            # the size was checked against the memory available: Pillow's warning adds nothing
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=["PNG"]) as im:
                if im.size != (width, height):
                    raise NanoBraggError("%s: Pillow reads %d x %d pixels, the IHDR says %d x %d"
                                         % (path, *im.size, width, height))
                im.load()
                text = dict(getattr(im, "text", {}) or {})
                if im.mode in ("L", "I;16", "I;16B", "I", "F"):
                    data = np.asarray(im)
                else:
                    data = np.asarray(im.convert("L"))
    except NanoBraggError:
        raise
    except Image.DecompressionBombError as e:
        raise NanoBraggError("%s: Pillow refuses it: %s" % (path, _one_line(e))) from None
    except Exception as e:                # Pillow raises SyntaxError, OSError, zlib.error, ... for damaged files
        raise NanoBraggError("%s: Pillow cannot read this PNG: %s" % (path, _one_line(e))) from None
    info = {"format": "PNG", "dtype": str(data.dtype)}
    _put(info, "scale", _float(text.get("nbnumba.pgm_scale")))
    _put(info, "pixel_size_mm", _float(text.get("nbnumba.pixel_size_mm")))
    _put(info, "distance_mm", _float(text.get("nbnumba.distance_mm")))
    _put(info, "wavelength_A", _float(text.get("nbnumba.wavelength_A")))
    return data, info


def _read_pgm(path, nbytes, head):
    from .pgm import read_pgm
    f, s, scale, data = read_pgm(path)
    info = {"format": "PGM", "dtype": str(data.dtype)}
    _put(info, "scale", _float(scale) if scale is not None else None)
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
    check_pixels(path, "raw float", fpixels, spixels, 4 + 8)
    with open_input(path) as fh:
        data = np.fromfile(fh, dtype="<f4", count=n)
    if data.size != n:
        raise NanoBraggError("%s: %d floats read of %d (the file changed while it was read)" % (path, data.size, n))
    return data.reshape(spixels, fpixels).astype(np.float64), {"format": "raw float", "dtype": "float32"}
