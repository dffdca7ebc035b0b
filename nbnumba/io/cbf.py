"""-cbffile: the integer image as a CBF written through fabio's CbfImage (byte-offset compression, signed
32-bit integers), with the whole geometry twice:

* imgCIF categories (CBFlib's and so DIALS' full-CBF reader build the beam, detector and goniometer from
  them: DIALS reads the file as a full CBF because _diffrn.id and _diffrn_source are present), in the
  imgCIF laboratory frame: X along nanoBragg's z, Y along its y, Z along -x (nanoBragg's beam travels
  along +x, imgCIF's Z points from the sample to the source). `_axis` chains three detector axes:
  DETECTOR_Z, a translation along the detector normal set to the perpendicular sample-detector distance,
  ELEMENT_X (the fast pixel axis, offset to the first pixel's outer corner, nanoBragg's pix0_vector)
  and ELEMENT_Y (the slow axis); the pixel pitch is in _array_structure_list_axis, with displacement 0:
  CBFlib then puts index (0, 0) at that corner, which DIALS takes as the panel's origin, so DIALS sees
  nanoBragg's DIALS_ORIGIN (an imgCIF reader that puts pixel centres at integer indices sees the
  detector half a pixel further along fast and slow). The goniometer is one rotation axis,
  GONIOMETER_PHI (-spindle_axis), its start and increment in _diffrn_scan_axis.
* the Pilatus-style "# " lines of a miniCBF in _array_data.header_contents (Pixel_size, Wavelength,
  Detector_distance, Beam_xy, Start_angle, Angle_increment, Count_cutoff, ...) for programs that read
  only those (fabio, ADXV, XDS's miniCBF reader). Beam_xy is where the direct beam meets the detector, in
  pixels from the first pixel's outer corner along fast and slow; Detector_distance is the perpendicular
  distance.

The header convention is GENERIC_MINI, not PILATUS_1.2: DIALS' full-CBF Pilatus reader would add the
module gaps of a real Pilatus and refuses other image sizes.

Sensor: no "# Silicon sensor, thickness" line (nanoBragg simulates no material). DIALS reads the file as
a full CBF (FormatCBFFullByteOffset), whose detector has no sensor: thickness 0, mu 0, no parallax
correction and no efficiency correction, which is nanoBragg's detector without -detector_thick. With
-detector_thick the thickness and nanoBragg's attenuation length are in the "# Sensor_thickness" and
"# Sensor_attenuation_length" lines and _diffrn_detector.details, which DIALS does not read: it corrects
for no absorption that nanoBragg simulated (import the NXmx file for that).
"""
import math
import os
import re
import tempfile

import numpy as np

from ..errors import NanoBraggError
from ..sampling import RTD

COUNT_CUTOFF = 65535           # the integer and noise images saturate at 2^16 - 1
# DIALS reads a full CBF's scan only with a frame date; a fixed one keeps the file the same run after run
FRAME_DATE = "1970-01-01T00:00:00.000"


def imgcif_vector(v):
    """A nanoBragg lab-frame vector (x, y, z or C's 4-element list) in the imgCIF frame."""
    x, y, z = (v[1:4] if len(v) == 4 else v)
    return (float(z), float(y), -float(x))


def _unit(v):
    v = np.asarray(v, float)
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def geometry(p):
    """The detector and beam as the header states them: vectors in the imgCIF frame, lengths in mm."""
    fdet = _unit(p.fdet_vector[1:4])
    sdet = _unit(p.sdet_vector[1:4])
    odet = _unit(p.odet_vector[1:4])
    beam = _unit(p.beam_vector[1:4])
    pix0 = np.asarray(p.pix0_vector[1:4], float)
    close = float(np.dot(pix0, odet))            # perpendicular distance, m
    cos_b = float(np.dot(beam, odet))
    if cos_b > 0:
        along_beam = close / cos_b                   # sample to where the direct beam meets the detector
        hit = along_beam * beam - pix0
        beam_f, beam_s = float(np.dot(hit, fdet)), float(np.dot(hit, sdet))
    else:                                            # the detector does not face the beam
        along_beam, beam_f, beam_s = math.nan, math.nan, math.nan
    return dict(fdet=fdet, sdet=sdet, odet=odet, beam=beam, pix0=pix0, close_m=close, along_beam_m=along_beam,
                beam_f_m=beam_f, beam_s_m=beam_s)


def _g(x, digits=10):
    return "%.*g" % (digits, x)


def _vec_strings(v):
    return [_g(c + 0.0) for c in imgcif_vector(v)]  # + 0.0: no "-0"


def polarization(p):
    """(fraction, angle in degrees) as imgCIF's _diffrn_radiation.polarizn_source_ratio and _norm are read by
    DIALS: the fraction of the intensity polarized along nanoBragg's E-vector, (1 + K)/2 for its Kahn
    factor K (-polar), and the angle from +Y of the normal to the plane of polarization."""
    k = 0.0 if p.nopolar else float(p.polarization)
    e = np.asarray(imgcif_vector(p.polar_vector))
    src = -np.asarray(imgcif_vector(p.beam_vector))
    n = np.cross(e, src)
    if np.linalg.norm(n) == 0.0:
        return 0.5 * (1.0 + k), 0.0
    if n[1] < 0 or (n[1] == 0 and n[0] < 0):
        n = -n
    return 0.5 * (1.0 + k), math.degrees(math.atan2(n[0], n[1])) + 0.0


def minicbf_lines(p, g=None):
    """The "# " lines of the Pilatus miniCBF header."""
    g = g or geometry(p)
    px = float(p.pixel_size)
    frac, _ = polarization(p)
    osc = max(float(p.osc), 0.0) * RTD
    lines = [
        "# Detector: nbnumba simulation (nanoBragg), S/N 0",
        "# Pixel_size %se-6 m x %se-6 m" % (_g(px * 1e6), _g(px * 1e6)),
        "# Exposure_time %.7f s" % p.exposure,
        "# Exposure_period %.7f s" % p.exposure,
        "# Tau = 0 s",
        "# Count_cutoff %d counts" % COUNT_CUTOFF,
        "# N_excluded_pixels = 0",
        "# Wavelength %s A" % _g(p.lambda0 * 1e10),
        "# Detector_distance %s m" % _g(g["close_m"]),
        "# Beam_xy (%s, %s) pixels" % (_g(g["beam_f_m"] / px), _g(g["beam_s_m"] / px)),
        "# Flux %s" % _g(p.flux),
        "# Filter_transmission 1.0000",
        "# Start_angle %s deg." % _g(p.phi0 * RTD),
        "# Angle_increment %s deg." % _g(osc),
        "# Detector_2theta %s deg." % _g(p.detector_twotheta * RTD),
        "# Polarization %s" % _g(frac, 6),
        "# Alpha 0.0000 deg.",
        "# Kappa 0.0000 deg.",
        "# Phi %s deg." % _g(p.phi0 * RTD),
        "# Phi_increment %s deg." % _g(osc),
        "# Chi 0.0000 deg.",
        "# Oscillation_axis SPINDLE (imgCIF %s %s %s)" % tuple(_vec_strings(p.spindle_vector)),
        "# N_oscillations 1",
    ]
    # not the Pilatus "# Silicon sensor, thickness" line: nanoBragg's sensor has no material
    if p.detector_thick > 0:
        lines.append("# Sensor_thickness %s m" % _g(p.detector_thick))
        if p.detector_mu > 0:
            lines.append("# Sensor_attenuation_length %s m" % _g(1.0 / p.detector_mu))
    return lines


def _loop(keys, rows):
    return [keys, [dict(zip(keys, (str(v) for v in row))) for row in rows]]


def imgcif_loops(p, g=None):
    """fabio's representation of the imgCIF loops: [[keys, [row dicts]], ...]."""
    g = g or geometry(p)
    px_mm = float(p.pixel_size) * 1000.0
    dist_mm = g["close_m"] * 1000.0
    # ELEMENT_X's offset: the first pixel's corner less the DETECTOR_Z translation
    corner = (g["pix0"] - g["close_m"] * g["odet"]) * 1000.0
    frac, norm = polarization(p)
    phi0 = float(p.phi0) * RTD
    osc = max(float(p.osc), 0.0) * RTD
    thick = "."                 # no sensor: every photon counted at the surface (dxtbx: thickness 0, mu 0)
    if p.detector_thick > 0:
        thick = "sensor thickness %s mm" % _g(p.detector_thick * 1000)
        if p.detector_mu > 0:
            thick += ", attenuation length %s mm" % _g(1000.0 / p.detector_mu)

    def vec(v):
        return _vec_strings(v)

    axis_rows = [
        ["GONIOMETER_PHI", "rotation", "goniometer", "."] + vec(p.spindle_vector) + ["0", "0", "0"],
        ["SOURCE", "general", "source", "."] + [_g(-c + 0.0) for c in imgcif_vector(g["beam"])] + [".", ".", "."],
        ["GRAVITY", "general", "gravity", ".", "0", "-1", "0", ".", ".", "."],
        ["DETECTOR_Z", "translation", "detector", "."] + vec(g["odet"]) + ["0", "0", "0"],
        ["ELEMENT_X", "translation", "detector", "DETECTOR_Z"] + vec(g["fdet"]) + vec(corner),
        ["ELEMENT_Y", "translation", "detector", "ELEMENT_X"] + vec(g["sdet"]) + ["0", "0", "0"],
    ]
    # imgcif_vector() of the corner maps lab (x, y, z) to imgCIF, the same as for the unit vectors
    return [
        _loop(["_diffrn.id", "_diffrn.crystal_id"], [["DS1", "XTAL1"]]),
        _loop(["_diffrn_source.diffrn_id", "_diffrn_source.source", "_diffrn_source.type"],
              [["DS1", "simulation", "nbnumba (nanoBragg)"]]),
        _loop(["_diffrn_radiation.diffrn_id", "_diffrn_radiation.wavelength_id", "_diffrn_radiation.probe",
               "_diffrn_radiation.polarizn_source_ratio", "_diffrn_radiation.polarizn_source_norm"],
              [["DS1", "WAVELENGTH1", "x-ray", _g(frac, 6), _g(norm, 6)]]),
        _loop(["_diffrn_radiation_wavelength.id", "_diffrn_radiation_wavelength.wavelength",
               "_diffrn_radiation_wavelength.wt"], [["WAVELENGTH1", _g(p.lambda0 * 1e10), "1.0"]]),
        _loop(["_diffrn_detector.diffrn_id", "_diffrn_detector.id", "_diffrn_detector.type",
               "_diffrn_detector.details", "_diffrn_detector.number_of_axes"],
              [["DS1", "DETECTOR", "nbnumba simulated detector", thick, "1"]]),
        _loop(["_diffrn_detector_axis.detector_id", "_diffrn_detector_axis.axis_id"], [["DETECTOR", "DETECTOR_Z"]]),
        _loop(["_diffrn_detector_element.id", "_diffrn_detector_element.detector_id"], [["ELEMENT1", "DETECTOR"]]),
        _loop(["_diffrn_data_frame.id", "_diffrn_data_frame.detector_element_id", "_diffrn_data_frame.array_id",
               "_diffrn_data_frame.binary_id"], [["FRAME1", "ELEMENT1", "ARRAY1", "1"]]),
        _loop(["_diffrn_measurement.diffrn_id", "_diffrn_measurement.id", "_diffrn_measurement.number_of_axes",
               "_diffrn_measurement.method"], [["DS1", "GONIOMETER", "1", "rotation"]]),
        _loop(["_diffrn_measurement_axis.measurement_id", "_diffrn_measurement_axis.axis_id"],
              [["GONIOMETER", "GONIOMETER_PHI"]]),
        _loop(["_diffrn_scan.id", "_diffrn_scan.frame_id_start", "_diffrn_scan.frame_id_end", "_diffrn_scan.frames"],
              [["SCAN1", "FRAME1", "FRAME1", "1"]]),
        _loop(["_diffrn_scan_axis.scan_id", "_diffrn_scan_axis.axis_id", "_diffrn_scan_axis.angle_start",
               "_diffrn_scan_axis.angle_range", "_diffrn_scan_axis.angle_increment",
               "_diffrn_scan_axis.displacement_start", "_diffrn_scan_axis.displacement_range",
               "_diffrn_scan_axis.displacement_increment"],
              [["SCAN1", "GONIOMETER_PHI", _g(phi0), _g(osc), _g(osc), "0", "0", "0"],
               ["SCAN1", "DETECTOR_Z", "0", "0", "0", _g(dist_mm), "0", "0"]]),
        _loop(["_diffrn_scan_frame.frame_id", "_diffrn_scan_frame.frame_number", "_diffrn_scan_frame.integration_time",
               "_diffrn_scan_frame.scan_id", "_diffrn_scan_frame.date"],
              [["FRAME1", "1", _g(p.exposure), "SCAN1", FRAME_DATE]]),
        _loop(["_diffrn_scan_frame_axis.frame_id", "_diffrn_scan_frame_axis.axis_id", "_diffrn_scan_frame_axis.angle",
               "_diffrn_scan_frame_axis.displacement"],
              [["FRAME1", "GONIOMETER_PHI", _g(phi0), "0"], ["FRAME1", "DETECTOR_Z", "0", _g(dist_mm)]]),
        _loop(["_axis.id", "_axis.type", "_axis.equipment", "_axis.depends_on", "_axis.vector[1]", "_axis.vector[2]",
               "_axis.vector[3]", "_axis.offset[1]", "_axis.offset[2]", "_axis.offset[3]"], axis_rows),
        _loop(["_array_structure_list.array_id", "_array_structure_list.index", "_array_structure_list.dimension",
               "_array_structure_list.precedence", "_array_structure_list.direction",
               "_array_structure_list.axis_set_id"],
              [["ARRAY1", "1", str(p.fpixels), "1", "increasing", "ELEMENT_X"],
               ["ARRAY1", "2", str(p.spixels), "2", "increasing", "ELEMENT_Y"]]),
        _loop(["_array_structure_list_axis.axis_set_id", "_array_structure_list_axis.axis_id",
               "_array_structure_list_axis.displacement", "_array_structure_list_axis.displacement_increment"],
              [["ELEMENT_X", "ELEMENT_X", "0", _g(px_mm)], ["ELEMENT_Y", "ELEMENT_Y", "0", _g(px_mm)]]),
        _loop(["_array_element_size.array_id", "_array_element_size.index", "_array_element_size.size"],
              [["ARRAY1", "1", _g(p.pixel_size)], ["ARRAY1", "2", _g(p.pixel_size)]]),
        _loop(["_array_intensities.array_id", "_array_intensities.binary_id", "_array_intensities.linearity",
               "_array_intensities.gain", "_array_intensities.overload", "_array_intensities.undefined_value"],
              [["ARRAY1", "1", "linear", "1.0", str(COUNT_CUTOFF), "-1"]]),
        _loop(["_array_structure.id", "_array_structure.encoding_type", "_array_structure.compression_type",
               "_array_structure.byte_order"], [["ARRAY1", "signed 32-bit integer", "byte_offset", "little_endian"]]),
    ]


def cbf_bytes(p, data, kind):
    """The CBF file of the (spixels, fpixels) integer image `data` (kind "int" or "noise") as bytes."""
    if kind == "float":
        raise NanoBraggError("-cbffile: a CBF holds integer counts, not the float image (-nxs_image float); "
                             "use -nxs_image int or noise (-nxsfile or -floatfile keep the floats)")
    data = np.asarray(data)
    if data.ndim != 2 or data.shape != (p.spixels, p.fpixels):
        raise NanoBraggError("-cbffile: the image is %s, not %d x %d pixels" % (data.shape, p.spixels, p.fpixels))
    if not np.issubdtype(data.dtype, np.integer):
        raise NanoBraggError("-cbffile: a CBF holds integer counts, not %s values" % data.dtype)
    pixels = np.ascontiguousarray(data, dtype=np.int32)
    if not np.array_equal(pixels, data):
        raise NanoBraggError("-cbffile: pixel values do not fit in 32-bit integers")
    from fabio.cbfimage import CbfImage
    g = geometry(p)
    header = {
        "_array_data.header_convention": "GENERIC_MINI",
        "_array_data.header_contents": "\n".join(minicbf_lines(p, g)),
        "_array_data.array_id": "ARRAY1",
        "_array_data.binary_id": "1",
    }
    image = CbfImage(data=pixels, header=header)
    image.cif["loop_"] = imgcif_loops(p, g)
    # fabio names the data block after the file: the output's name, made a CIF block code
    stem = os.path.splitext(os.path.basename(p.cbffile or "image.cbf"))[0]
    block = re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "image"
    with tempfile.TemporaryDirectory(prefix="nbnumba-cbf-") as folder:
        path = os.path.join(folder, block + ".cbf")
        image.write(path)
        with open(path, "rb") as fh:
            return fh.read()
