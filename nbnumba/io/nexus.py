"""NXmx (NeXus/HDF5) images: `nxmx_bytes` writes one simulated frame with the whole geometry of the
run, `sweep_bytes` a rotation series of frames that share it (one scan), `read_nxmx` reads such a file
back and `pixel_positions` gives its pixel centres (not in C).

Frames. NeXus places everything in the McStas frame: +z along the beam, +y up, x = y cross z; dxtbx
(3.11, DIALS 3.12) turns McStas into its imgCIF lab frame by diag(-1, 1, -1) and always takes the beam along
McStas +z (it ignores NXbeam/depends_on). nanoBragg's lab frame depends on the convention (the beam is
+x for MOSFLM and DENZO, +z for XDS, ADXV and DIALS), so the file's McStas frame is set by the run's
beam and spindle, one proper rotation `lab_frame(p)`:

    McStas z = beam_vector (the direction the beam travels)
    McStas x = minus the unit part of spindle_vector perpendicular to the beam (polar_vector's, then
               any perpendicular, where the spindle is along the beam), so that DIALS's rotation
               axis is its usual +x
    McStas y = z cross x

which for the conventions is

    MOSFLM, DENZO (and CUSTOM with their axes): McStas (x, y, z) = nanoBragg (-z, y, x); DIALS (x, y, z) =
                  nanoBragg (z, y, -x), the frame of nanoBragg's DIALS_ORIGIN header line; +y is up
    XDS, ADXV:    McStas (x, y, z) = nanoBragg (-x, -y, z); DIALS = nanoBragg (x, -y, -z), XDS's usual
                  relation to imgCIF
    DIALS:        McStas (x, y, z) = nanoBragg (-y, x, z) (nanoBragg's DIALS spindle is +y)

The McStas directions of nanoBragg's x, y and z axes are in the file (/entry/nanobragg_lab_frame, an
NXtransformations group of three axes without transformation_type, as NeXus documents coordinate
frames); read_nxmx uses them to turn the geometry back into nanoBragg's frame. For the default MOSFLM
geometry fdet = +z and sdet = -y become McStas -x and -y, i.e. DIALS's usual fast +x and slow -y;
dials.import then reports the SMV header's DIALS_ORIGIN as the panel origin, its DISTANCE, and the
beam centre (Fbeam, Sbeam) in mm from the first pixel's corner (the header's MOSFLM_CENTER_Y and
MOSFLM_CENTER_X plus half a pixel). With -twotheta and pivot BEAM, nanoBragg's recomputed Sbeam
ignores the swing (quirk C3); DIALS reports where the beam really meets the detector.

Detector. One NXdetector_module; the transformation chain (each item depends on the next, the last
on "."):

    fast_pixel_direction, slow_pixel_direction   translations by one pixel along the unrotated fdet, sdet
      -> module_offset                            in-plane offset of the corner of pixel (0, 0)
      -> transformations/distance                 close_distance along the unrotated detector normal odet
      -> transformations/detector_rotx, _roty, _rotz, two_theta   nanoBragg's rotations in C's order

so that T = R_twotheta R_z R_y R_x (distance + offset) is exactly the plan's pix0, and the rotated
pixel vectors are the plan's fdet and sdet. The unrotated vectors are R^-1 applied to the plan's
final ones, so the chain reproduces the plan's pixels (to rounding) whatever the pivot, beam centre,
custom vectors or convention. module_offset is the corner of the first pixel, as dxtbx reads it
(dxtbx puts pixel (i, j)'s centre at origin + (i + 1/2) fast + (j + 1/2) slow, as nanoBragg does).
A pixel vector that is not of unit length (C's -twotheta_axis is used as given, not unitized) is
written as its unit vector with the pixel size times its length as the step.

Beam: NXbeam/incident_wavelength in angstrom, along McStas +z by the choice of frame. Sample:
depends_on the spindle as a rotation `phi` (McStas vector), value phi0, phi_end = phi0 + osc and
phi_increment_set = osc, in degrees: dxtbx's scan is then (phi0, osc).

Sensor. dxtbx (3.11, and its main branch) requires sensor_material (Si, CdTe or GaAs) and a
sensor_thickness > 0, takes the attenuation coefficient mu from its table for that material at the
wavelength (it reads no attenuation length), and always applies a parallax correction
(ParallaxCorrectedPxMmStrategy(mu, thickness)); DIALS then divides intensities by the efficiency
1 - exp(-mu t / cos), cos of the angle to the detector normal. No NXmx file says "no sensor" to it.
Without -detector_thick nanoBragg counts every photon where it meets the detector surface. An opaque
sensor says so to DIALS: 50 mm of whichever of CdTe and GaAs absorbs more at the wavelength
(opaque_material), so DIALS's efficiency 1 - exp(-mu t / cos) is 1 to double precision at every
wavelength from 0.15 A up: DIALS divides no intensity by anything. What is left is dxtbx's parallax
shift, the mean absorption depth 1/mu along the ray projected on the detector, 1/mu sin(angle to the
normal): 1/mu is 12 um at 1 A, 10 um at 1.3 A, 100 um at 0.46 A (a thin sensor instead would leave an
efficiency of mu t / cos, which changes by 1/cos across the detector);
`dials.import x.nxs panel.parallax_correction=False` removes the parallax too. With -detector_thick the
file names the real thickness and Si; nanoBragg's attenuation length (-detector_abs, else the thickness)
is kept in nanobragg_attenuation_length: DIALS's corrections match nanoBragg's absorption (the same
1 - exp(-mu t / cos) capture and mean absorption depth) only where that length is silicon's at the
wavelength. Detector values besides: x/y_pixel_size, count_time = frame_time = the exposure; the integer
images (int, noise) carry saturation_value 65535, underload_value 0 and bit_depth_readout 16 (dxtbx then
reads 65535 and 65534 as invalid pixels); the float image (photons, unbounded) none of them. Pixels
nanoBragg did not simulate (outside -roi, zero in -mask) are flagged in pixel_mask (bit 8, user defined;
gzip-compressed, so that DIALS imports the file even without the bitshuffle filter). A curved detector
(-curved_det) has no NXmx description and is refused.

The frame is /entry/data/data, shape (1, spixels, fpixels), compressed with bitshuffle/LZ4 through
hdf5plugin (gzip when that filter is unavailable, one chunk per frame); /entry/instrument/detector/data
links to it. Times: start_time is now (or SOURCE_DATE_EPOCH, for reproducible files), end_time start +
exposure (times the number of frames).

Sweep (sweep_bytes; `[outputs] sweep` of a batch): the N frames are /entry/data/data (N, spixels,
fpixels), one detector, beam and spindle for all; the sample's phi holds each frame's start angle,
phi_end each start + osc and phi_increment_set osc, so dxtbx reads one scan of N images with
oscillation (phi_starts[0], osc).
"""
import datetime
import io
import math
import os

import numpy as np

from ..errors import NanoBraggError
from ..sampling import RTD

# the MOSFLM frame: rows are McStas x, y, z in nanoBragg components (a proper rotation)
MOSFLM_TO_MCSTAS = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])

ENTRY = "/entry"
LAB_FRAME = ENTRY + "/nanobragg_lab_frame"
INSTRUMENT = ENTRY + "/instrument"
DETECTOR = INSTRUMENT + "/detector"
DET_TRANSFORMS = DETECTOR + "/transformations"
MODULE = DETECTOR + "/module"
BEAM = INSTRUMENT + "/beam"
SAMPLE = ENTRY + "/sample"
USER_MASK_BIT = 1 << 8
OPAQUE_SENSOR = 0.05        # m: the sensor_thickness of a run without -detector_thick (dxtbx refuses 0)
CD_K_EDGE = 0.4642e-10      # m: 26.71 keV
AS_K_EDGE = 1.0448e-10      # m: 11.87 keV


def opaque_material(lambda0):
    """Of the sensor materials dxtbx knows (Si, CdTe, GaAs), the one that absorbs most at wavelength
    lambda0 (m): CdTe above cadmium's K edge (below 0.4642 A), GaAs from there to arsenic's K edge
    (1.0448 A), CdTe beyond. Its attenuation length is then at most 100 um from 0.46 A up (0.46 A, GaAs),
    12 um at 1 A and 10 um at 1.3 A."""
    return "GaAs" if CD_K_EDGE <= lambda0 < AS_K_EDGE else "CdTe"


_LENGTH = {"m": 1.0, "meter": 1.0, "metre": 1.0, "meters": 1.0, "metres": 1.0, "mm": 1e-3, "millimeter": 1e-3,
           "millimetre": 1e-3, "cm": 1e-2, "um": 1e-6, "µm": 1e-6, "micron": 1e-6, "microns": 1e-6,
           "micrometer": 1e-6, "nm": 1e-9, "nanometer": 1e-9, "angstrom": 1e-10, "Angstrom": 1e-10, "A": 1e-10,
           "Å": 1e-10}
_ANGLE = {"rad": 1.0, "radian": 1.0, "radians": 1.0, "deg": math.pi / 180.0, "degree": math.pi / 180.0,
          "degrees": math.pi / 180.0}


# ---------------------------------------------------------------- writing

def _nb(v4):
    """A nanoBragg 4-list (magnitude, x, y, z) as a float64 3-vector."""
    return np.array([float(v4[1]), float(v4[2]), float(v4[3])])


def lab_frame(p):
    """3x3 proper rotation M with McStas = M @ nanoBragg for this run (rows: McStas x, y, z in nanoBragg
    components): z along the beam, x against the spindle's part perpendicular to it, y = z cross x."""
    z, _ = _unit(_nb(p.beam_vector), (1.0, 0.0, 0.0))
    for v in (_nb(p.spindle_vector), _nb(p.polar_vector), np.identity(3)[int(np.argmin(np.abs(z)))]):
        perp = v - (v @ z) * z
        if np.linalg.norm(perp) > 1e-9:
            break
    x = -_unit(perp)[0]
    return np.array([x, np.cross(z, x), z])


def _rotation(axis, angle):
    """Right-handed rotation matrix about a unit axis (nanoBragg's rotate_axis, NeXus's rotation)."""
    x, y, z = axis
    c, s = math.cos(angle), math.sin(angle)
    t = 1.0 - c
    return np.array([[c + x * x * t, x * y * t - z * s, x * z * t + y * s],
                     [y * x * t + z * s, c + y * y * t, y * z * t - x * s],
                     [z * x * t - y * s, z * y * t + x * s, c + z * z * t]])


def _unit(v, fallback=(0.0, 0.0, 1.0)):
    n = float(np.linalg.norm(v))
    if not n > 0.0 or not math.isfinite(n):
        return np.array(fallback, dtype=float), 0.0
    return np.asarray(v, dtype=float) / n, n


def _detector_rotations(p, M):
    """[(name, unit McStas axis, angle rad)] in the order they act (x, y, z, two-theta), and their product
    R (McStas) with lab = R @ unrotated; M: lab_frame(p)."""
    tt_axis, tt_norm = _unit(_nb(p.twotheta_axis), (0.0, 0.0, 1.0))
    steps = [("detector_rotx", np.array([1.0, 0.0, 0.0]), float(p.detector_rotx)),
             ("detector_roty", np.array([0.0, 1.0, 0.0]), float(p.detector_roty)),
             ("detector_rotz", np.array([0.0, 0.0, 1.0]), float(p.detector_rotz)),
             ("two_theta", tt_axis, float(p.detector_twotheta) if tt_norm > 0.0 else 0.0)]
    out = []
    R = np.identity(3)
    for name, axis_nb, angle in steps:
        axis = M @ axis_nb
        out.append((name, axis, angle))
        R = _rotation(axis, angle) @ R
    return out, R


def _time_stamps(exposure):
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    start = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch and epoch.isdigit()
             else datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0))
    end = start + datetime.timedelta(seconds=max(float(exposure), 0.0))
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return start.strftime(fmt), end.strftime(fmt)


def _compression():
    """h5py dataset keywords: bitshuffle/LZ4 through hdf5plugin when it loads, else gzip."""
    try:
        import hdf5plugin  # noqa: F401 - importing it registers the bitshuffle/LZ4 filter
        import h5py
        if h5py.h5z.filter_avail(hdf5plugin.BSHUF_ID):
            return dict(hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
    except Exception:       # no hdf5plugin, or its filter cannot be registered: gzip is built in
        pass
    return {"compression": "gzip", "compression_opts": 4, "shuffle": True}


def _axis(group, name, values, ttype, vector, units, depends_on, offset=(0.0, 0.0, 0.0), offset_units=None):
    ds = group.create_dataset(name, data=np.atleast_1d(np.asarray(values, dtype=np.float64)))
    ds.attrs["transformation_type"] = ttype
    ds.attrs["vector"] = np.asarray(vector, dtype=np.float64)
    ds.attrs["offset"] = np.asarray(offset, dtype=np.float64)
    ds.attrs["offset_units"] = offset_units or "m"
    ds.attrs["units"] = units
    ds.attrs["depends_on"] = depends_on
    return ds


def _group(parent, name, nx_class, **attrs):
    g = parent.create_group(name)
    g.attrs["NX_class"] = nx_class
    for key, value in attrs.items():
        g.attrs[key] = value
    return g


def _field(group, name, value, units=None):
    ds = group.create_dataset(name, data=value)
    if units is not None:
        ds.attrs["units"] = units
    return ds


def _simulated_mask(p):
    """uint32 (spixels, fpixels): USER_MASK_BIT where nanoBragg did not simulate (outside -roi, -mask zero)."""
    mask = np.full((p.spixels, p.fpixels), USER_MASK_BIT, np.uint32)
    from ..render import roi_bounds
    y0, y1, x0, x1 = roi_bounds(p)
    if y1 >= y0 and x1 >= x0:
        mask[y0:y1 + 1, x0:x1 + 1] = 0
    maskimage = getattr(p, "maskimage", None)
    if maskimage is not None:
        flat = np.asarray(maskimage).reshape(-1)[:p.spixels * p.fpixels].reshape(p.spixels, p.fpixels)
        mask[flat == 0] = USER_MASK_BIT
    return mask


def nxmx_bytes(p, data, kind):
    """The bytes of an NXmx HDF5 file holding `data` (spixels, fpixels) as one frame and the geometry of the
    settled configuration `p` (plan.p). kind: "int", "noise" (uint16) or "float" (float32)."""
    data = np.asarray(data)
    if data.shape != (p.spixels, p.fpixels):
        raise ValueError("image of shape %s for a %dx%d detector" % (data.shape, p.fpixels, p.spixels))
    return _nxmx_file(p, data[np.newaxis], kind, [float(p.phi0)], max(float(p.osc), 0.0))


def sweep_bytes(p, frames, kind, phi_starts, osc, attrs=None):
    """The bytes of an NXmx HDF5 file holding a rotation series: `frames` (N, spixels, fpixels), frame i
    exposed from phi_starts[i] to phi_starts[i] + osc (radians, as p.phi0 and p.osc), all with the detector,
    beam and spindle of the settled configuration `p` (plan.p of any of the frames: they must share them).
    kind as for nxmx_bytes. The goniometer's phi holds the N start angles, phi_end their ends and
    phi_increment_set osc, so that dxtbx reads one scan of N images, oscillation (phi_starts[0], osc).

    `frames` may also be a sequence of N (spixels, fpixels) images (len and indexing), taken one at a
    time, so that a long series is never in memory uncompressed. attrs: more attributes of the file's
    root (a batch records there what the sweep was made from)."""
    if isinstance(frames, np.ndarray) or not hasattr(frames, "__getitem__"):
        frames = np.asarray(frames)
        if frames.ndim != 3 or frames.shape[1:] != (p.spixels, p.fpixels):
            raise ValueError("frames of shape %s for a %dx%d detector: give (N, %d, %d)"
                             % (frames.shape, p.fpixels, p.spixels, p.spixels, p.fpixels))
    if len(frames) < 1:
        raise ValueError("a rotation series needs at least one frame")
    phis = [float(v) for v in np.asarray(phi_starts, dtype=float).reshape(-1)]
    if len(phis) != len(frames):
        raise ValueError("%d phi starts for %d frames" % (len(phis), len(frames)))
    osc = float(osc)
    if not (osc > 0.0 and math.isfinite(osc)) or not all(math.isfinite(v) for v in phis):
        raise ValueError("a rotation series needs finite phi starts and osc > 0 (osc %r)" % osc)
    return _nxmx_file(p, frames, kind, phis, osc, attrs)


def _nxmx_file(p, stack, kind, phis, osc, attrs=None):
    """nxmx_bytes and sweep_bytes: the file of the frames `stack` (N, spixels, fpixels: an array, or a
    sequence of N images), frame i from phis[i] to phis[i] + osc (rad)."""
    import h5py

    if p.curved_detector:
        raise NanoBraggError("-nxsfile: NXmx cannot describe a curved detector (-curved_det); "
                             "leave out -nxsfile or -curved_det")
    integer = kind in ("int", "noise")
    dtype = np.uint16 if integer else np.float32
    count = len(stack)
    shape = (p.spixels, p.fpixels)
    px = float(p.pixel_size)

    # the plan's final geometry, in McStas
    M = lab_frame(p)
    fdet, sdet, odet = (M @ _nb(v) for v in (p.fdet_vector, p.sdet_vector, p.odet_vector))
    pix0 = M @ _nb(p.pix0_vector)
    rotations, R = _detector_rotations(p, M)
    Rinv = R.T
    f_local, f_len = _unit(Rinv @ fdet, (-1.0, 0.0, 0.0))
    s_local, s_len = _unit(Rinv @ sdet, (0.0, -1.0, 0.0))
    o_local, _ = _unit(Rinv @ odet, (0.0, 0.0, 1.0))
    close = float(pix0 @ odet) if np.linalg.norm(odet) > 0 else 0.0
    in_plane = Rinv @ pix0 - close * o_local
    offset_dir, offset_len = _unit(in_plane, (1.0, 0.0, 0.0))

    start, end = _time_stamps(float(p.exposure) * count)
    bio = io.BytesIO()
    with h5py.File(bio, "w") as fh:
        fh.attrs["default"] = "entry"
        fh.attrs["creator"] = "nbnumba (nanoBragg)"
        fh.attrs["file_time"] = start
        for key, value in (attrs or {}).items():
            fh.attrs[key] = value
        entry = _group(fh, "entry", "NXentry", default="data")
        _field(entry, "definition", "NXmx")
        _field(entry, "start_time", start)
        _field(entry, "end_time", end)
        _field(entry, "title", "nanoBragg simulation (%s image)" % kind if count == 1 else
               "nanoBragg rotation series of %d frames (%s images)" % (count, kind))

        nxdata = _group(entry, "data", "NXdata", signal="data")
        if isinstance(stack, np.ndarray):
            frames = nxdata.create_dataset("data", data=np.ascontiguousarray(stack, dtype=dtype), chunks=(1,) + shape,
                                           **_compression())
        else:
            frames = nxdata.create_dataset("data", shape=(count,) + shape, dtype=dtype, chunks=(1,) + shape,
                                           **_compression())
            for i in range(count):
                frame = np.asarray(stack[i])
                if frame.shape != shape:
                    raise ValueError("frame %d of shape %s for a %dx%d detector" % (i, frame.shape, *shape[::-1]))
                frames[i] = np.ascontiguousarray(frame, dtype=dtype)
        frames.attrs["nbnumba_image"] = kind
        if integer:
            frames.attrs["units"] = "counts"

        frame = _group(entry, "nanobragg_lab_frame", "NXtransformations")
        frame.attrs["description"] = "McStas directions of nanoBragg's lab x, y and z axes in this run"
        for i, name in enumerate("xyz"):
            axis = _field(frame, name, 1.0, "m")
            axis.attrs["vector"] = M[:, i]
            axis.attrs["depends_on"] = "."

        source = _group(entry, "source", "NXsource")
        _field(source, "name", "nanoBragg simulation").attrs["short_name"] = "nanoBragg"

        instrument = _group(entry, "instrument", "NXinstrument")
        _field(instrument, "name", "nbnumba nanoBragg simulator").attrs["short_name"] = "nbnumba"

        # beam
        beam = _group(instrument, "beam", "NXbeam")
        _field(beam, "incident_wavelength", float(p.lambda0) * 1e10, "angstrom")
        if float(p.flux) > 0.0:
            _field(beam, "total_flux", float(p.flux), "Hz")
        if float(p.beamsize) > 0.0:
            _field(beam, "incident_beam_size", np.array([p.beamsize, p.beamsize], dtype=float), "m")
        # detector
        det = _group(instrument, "detector", "NXdetector")
        det["data"] = frames                         # a hard link to /entry/data/data
        _field(det, "description", "nanoBragg simulated pixel detector")
        _field(det, "type", "pixel")
        opaque = not p.detector_thick > 0
        material = _field(det, "sensor_material", opaque_material(float(p.lambda0)) if opaque else "Si")
        thick = _field(det, "sensor_thickness", OPAQUE_SENSOR if opaque else float(p.detector_thick), "m")
        if opaque:
            thick.attrs["comment"] = ("nanoBragg simulated no sensor: every photon is counted at the detector "
                                      "surface. NXmx readers need a material and a thickness > 0: this opaque one "
                                      "has efficiency 1 at every angle, and a parallax of at most its attenuation "
                                      "length (import with panel.parallax_correction=False for none)")
            material.attrs["comment"] = ("nanoBragg simulated no sensor material: this is the one NXmx readers know "
                                         "that absorbs most at the wavelength")
        else:
            material.attrs["comment"] = ("nanoBragg simulated no material: its sensor absorbs with the attenuation "
                                         "length nanobragg_attenuation_length; readers take silicon's")
        _field(det, "x_pixel_size", px, "m")
        _field(det, "y_pixel_size", px, "m")
        _field(det, "distance", float(p.distance), "m")
        _field(det, "beam_center_x", float(p.Fbeam), "m").attrs["long_name"] = "Fbeam: fast from pixel (0,0)'s corner"
        _field(det, "beam_center_y", float(p.Sbeam), "m").attrs["long_name"] = "Sbeam: slow from pixel (0,0)'s corner"
        _field(det, "count_time", float(p.exposure), "s")
        _field(det, "frame_time", float(p.exposure), "s")
        if integer:
            _field(det, "saturation_value", np.int64(65535))
            _field(det, "underload_value", np.int64(0))
            _field(det, "bit_depth_readout", np.int64(16))
        # gzip, built into every HDF5: dxtbx reads the mask when it imports, before any pixel
        det.create_dataset("pixel_mask", data=_simulated_mask(p), chunks=shape, compression="gzip",
                           shuffle=True)
        det.attrs["nanobragg_convention"] = str(p.beam_convention)
        det.attrs["nanobragg_pivot"] = str(p.detector_pivot)
        if float(p.detector_thick) > 0.0 and float(p.detector_mu) > 0.0:     # nanoBragg's own sensor absorption
            _field(det, "nanobragg_attenuation_length", 1.0 / float(p.detector_mu), "m")

        tr = _group(det, "transformations", "NXtransformations")
        below = "."
        for name, axis, angle in reversed(rotations):          # two_theta depends on ".", rotx on roty
            _axis(tr, name, angle * RTD, "rotation", axis, "deg", below)
            below = DET_TRANSFORMS + "/" + name
        _axis(tr, "distance", close, "translation", o_local, "m", below)
        _field(det, "depends_on", DET_TRANSFORMS + "/distance")

        module = _group(det, "module", "NXdetector_module")
        _field(module, "data_origin", np.array([0, 0], dtype=np.int64))
        _field(module, "data_size", np.array([p.spixels, p.fpixels], dtype=np.int64))
        _field(module, "data_stride", np.array([1, 1], dtype=np.int64))
        _axis(module, "module_offset", offset_len, "translation", offset_dir, "m", DET_TRANSFORMS + "/distance")
        _axis(module, "fast_pixel_direction", px * f_len, "translation", f_local, "m", MODULE + "/module_offset")
        _axis(module, "slow_pixel_direction", px * s_len, "translation", s_local, "m", MODULE + "/module_offset")

        # sample and goniometer
        sample = _group(entry, "sample", "NXsample")
        _field(sample, "name", "simulated crystal")
        _field(sample, "depends_on", SAMPLE + "/transformations/phi")
        gon = _group(sample, "transformations", "NXtransformations")
        spindle, _ = _unit(M @ _nb(p.spindle_vector), (-1.0, 0.0, 0.0))
        phis = np.asarray(phis, dtype=np.float64)
        _axis(gon, "phi", phis * RTD, "rotation", spindle, "deg", ".")
        _field(gon, "phi_end", (phis + osc) * RTD, "deg")
        _field(gon, "phi_increment_set", osc * RTD, "deg")
    return bio.getvalue()


# ---------------------------------------------------------------- reading

def _text(value):
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8")
    return str(value)


def _scale(units, table, what):
    units = _text(units).strip() if units is not None else ""
    if units not in table:
        raise NanoBraggError("NXmx: unknown %s units %r" % (what, units))
    return table[units]


def _resolve(fh, node, ref):
    """The object `ref` names: absolute, or relative to the group that holds `node`."""
    ref = _text(ref)
    if ref.startswith("/"):
        return fh[ref]
    parent = node if hasattr(node, "keys") else node.parent
    return parent[ref]


def _transformation(ds, index=0, value=None):
    """The 4x4 matrix of one NXtransformations axis (SI: metres), at frame `index` (or at `value`, in the
    axis's units)."""
    ttype = _text(ds.attrs.get("transformation_type", ""))
    vector = np.asarray(ds.attrs["vector"], dtype=float).reshape(3)
    if value is None:
        values = np.atleast_1d(ds[()]).astype(float)
        value = values[min(index, values.size - 1)]
    units = ds.attrs.get("units")
    A = np.identity(4)
    if ttype == "rotation":
        axis, _ = _unit(vector)
        A[:3, :3] = _rotation(axis, value * _scale(units, _ANGLE, "angle"))
    elif ttype == "translation":
        A[:3, 3] = vector * value * _scale(units, _LENGTH, "length")
    else:
        raise NanoBraggError("NXmx: %s has no transformation_type translation or rotation" % ds.name)
    offset = np.asarray(ds.attrs.get("offset", (0.0, 0.0, 0.0)), dtype=float).reshape(3)
    if np.any(offset):      # offset_units, else units (as dxtbx reads files that leave it out)
        A[:3, 3] += offset * _scale(ds.attrs.get("offset_units", units), _LENGTH, "length")
    return A


def _chain(fh, first):
    """The datasets of a depends_on chain, from `first` (a dataset or None for ".") to the last."""
    out = []
    ds = first
    while ds is not None:
        if len(out) > 64 or any(d.name == ds.name for d in out):
            raise NanoBraggError("NXmx: the depends_on chain of %s loops" % first.name)
        out.append(ds)
        ref = _text(ds.attrs.get("depends_on", "."))
        ds = None if ref in (".", "") else _resolve(fh, ds, ref)
    return out


def _chain_of(fh, group, field="depends_on"):
    """The chain a group's depends_on field starts; [] when it has none or it is "."."""
    if field not in group:
        return []
    ref = _text(group[field][()])
    return [] if ref in (".", "") else _chain(fh, _resolve(fh, group, ref))


def _cumulative(chain, index=0):
    """T = T_last ... T_first: maps the first item's local frame to McStas."""
    A = np.identity(4)
    for ds in chain:
        A = _transformation(ds, index) @ A
    return A


def _classes(group, nx_class):
    import h5py
    return [v for v in group.values() if isinstance(v, h5py.Group) and _text(v.attrs.get("NX_class", "")) == nx_class]


def _first(group, nx_class, path):
    """The first `nx_class` group in `group`; NanoBraggError naming the file when there is none."""
    found = _classes(group, nx_class)
    if not found:
        raise NanoBraggError("%s: no %s group in %s (not an NXmx file nbnumba reads)" % (path, nx_class, group.name))
    return found[0]


def read_nxmx(path, first_frame=False, check=None):
    """Reads an NXmx file (as nxmx_bytes writes it) by walking its NeXus structure and transformation chains.

    first_frame: read the first frame only (frames then holds just that one). check(shape, itemsize), when
    given, is called with the image data set's shape and bytes per value before any pixel is read (to
    refuse what cannot be read or held); the data set must hold numbers (NanoBraggError otherwise).

    Returns a dict: image (the first frame, (spixels, fpixels)), frames (all of them), kind, and geometry
    (pixel_positions' argument): fpixels, spixels, fast and slow (pixel step vectors, m, nanoBragg frame),
    fast_axis and slow_axis (unit), pixel_size (fast, slow) m, origin (corner of pixel (0, 0), m),
    normal, wavelength (m), beam (unit direction of travel), spindle, phi_start and phi_increment (rad),
    phi_starts (every frame's, rad), plus the detector's distance (m) when written; all vectors in
    nanoBragg's lab frame."""
    import h5py
    try:
        import hdf5plugin  # noqa: F401  (registers the bitshuffle filter)
    except ImportError:
        pass

    with h5py.File(path, "r") as fh:
        entries = [g for g in _classes(fh, "NXentry") if "definition" in g and _text(g["definition"][()]) == "NXmx"]
        if not entries:
            raise NanoBraggError("%s: no NXentry with definition NXmx" % path)
        entry = entries[0]
        nxdata = _first(entry, "NXdata", path)
        signal = _text(nxdata.attrs.get("signal", "data"))
        dataset = nxdata[signal]
        if not isinstance(dataset, h5py.Dataset) or dataset.dtype.kind not in "iuf":
            raise NanoBraggError("%s: the NXmx signal %s is not a data set of numbers" % (path, dataset.name))
        if check is not None:
            check(dataset.shape, dataset.dtype.itemsize)
        frames = dataset[:1] if first_frame and dataset.ndim == 3 else dataset[()]
        kind = _text(dataset.attrs.get("nbnumba_image", ""))
        instrument = _first(entry, "NXinstrument", path)
        beam = _first(instrument, "NXbeam", path)
        detector = _first(instrument, "NXdetector", path)
        module = _first(detector, "NXdetector_module", path)
        samples = _classes(entry, "NXsample")
        if LAB_FRAME in fh:
            M = np.array([np.asarray(fh[LAB_FRAME][name].attrs["vector"], dtype=float) for name in "xyz"]).T
        else:
            M = MOSFLM_TO_MCSTAS
        to_nb = M.T

        wl = beam["incident_wavelength"]
        wavelength = float(np.atleast_1d(wl[()])[0]) * _scale(wl.attrs.get("units", "angstrom"), _LENGTH, "length")
        beam_dir = _cumulative(_chain_of(fh, beam))[:3, :3] @ np.array([0.0, 0.0, 1.0])

        steps = {}
        origin = None
        for name in ("fast_pixel_direction", "slow_pixel_direction"):
            ds = module[name]
            chain = _chain(fh, ds)
            base = _cumulative(chain[1:])           # the module's frame
            A = base @ _transformation(ds)          # one pixel step along this axis
            here = (base @ _transformation(ds, value=0.0))[:3, 3]     # the corner of pixel (0, 0)
            if origin is None:
                origin = here
            elif not np.allclose(origin, here, rtol=0.0, atol=1e-12):
                raise NanoBraggError("%s: fast and slow pixel directions start from different origins" % path)
            steps[name] = A[:3, 3] - here
        size = np.asarray(module["data_size"][()], dtype=np.int64)
        fast, slow = steps["fast_pixel_direction"], steps["slow_pixel_direction"]

        phi_start = phi_increment = 0.0
        phi_starts = np.zeros(0)
        spindle = None
        if samples:
            chain = _chain_of(fh, samples[0])
            rotations = [ds for ds in chain if _text(ds.attrs.get("transformation_type", "")) == "rotation"]
            if rotations:
                axis = rotations[0]
                to_rad = _scale(axis.attrs.get("units"), _ANGLE, "angle")
                values = np.atleast_1d(axis[()]).astype(float)
                phi_start = values[0] * to_rad
                phi_starts = values * to_rad
                end_name = axis.name + "_end"
                inc_name = axis.name + "_increment_set"
                if end_name in fh:
                    phi_increment = float(np.atleast_1d(fh[end_name][()])[0]) * to_rad - phi_start
                elif inc_name in fh:
                    phi_increment = float(np.atleast_1d(fh[inc_name][()])[0]) * to_rad
                elif values.size > 1:
                    phi_increment = (values[1] - values[0]) * to_rad
                # the axis in McStas: the rotations it depends on turn it
                outer = _cumulative(_chain(fh, axis)[1:])[:3, :3]
                spindle = to_nb @ (outer @ np.asarray(axis.attrs["vector"], dtype=float))

        distance = None
        if "distance" in detector:
            d = detector["distance"]
            distance = float(np.atleast_1d(d[()])[0]) * _scale(d.attrs.get("units", "m"), _LENGTH, "length")

    fast_nb, slow_nb = to_nb @ fast, to_nb @ slow
    normal, _ = _unit(np.cross(fast_nb, slow_nb))
    geometry = dict(fpixels=int(size[1]), spixels=int(size[0]), fast=fast_nb, slow=slow_nb,
                    fast_axis=_unit(fast_nb)[0], slow_axis=_unit(slow_nb)[0],
                    pixel_size=(float(np.linalg.norm(fast_nb)), float(np.linalg.norm(slow_nb))),
                    origin=to_nb @ origin, normal=normal, wavelength=wavelength,
                    beam=to_nb @ beam_dir, spindle=spindle, phi_start=phi_start, phi_starts=phi_starts,
                    phi_increment=phi_increment, distance=distance)
    return dict(image=frames[0], frames=frames, kind=kind, geometry=geometry)


def pixel_positions(geometry):
    """(spixels, fpixels, 3): each pixel's centre in nanoBragg's lab frame (m), from read_nxmx's geometry."""
    f = np.arange(geometry["fpixels"], dtype=float) + 0.5
    s = np.arange(geometry["spixels"], dtype=float) + 0.5
    return (np.asarray(geometry["origin"])[None, None, :] + f[None, :, None] * geometry["fast"][None, None, :]
            + s[:, None, None] * geometry["slow"][None, None, :])
