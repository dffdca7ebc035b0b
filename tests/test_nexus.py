"""-nxsfile: the NXmx file nbnumba.io.nexus writes, read back through h5py by read_nxmx (which walks the
NeXus transformation chains), against the plan's own geometry for every convention, pivot, rotation and
custom vector; the image bytes; the NXmx fields DIALS needs; and a real `nbnumba simulate` run.

The plan's pixel centres are computed here independently: pix0 + (f + 1/2) pixel fdet + (s + 1/2) pixel
sdet (kernels/pixel.py flat_position with oversample 1 and Odet 0). DIALS itself reads the files in
tests/test_dials_nexus.py.
"""
import datetime
import math
import os
import subprocess
import sys

import fabio
import h5py
import numpy as np
import pytest

from nbnumba.api import params
from nbnumba.errors import NanoBraggError
from nbnumba.io.nexus import MOSFLM_TO_MCSTAS, lab_frame, nxmx_bytes, pixel_positions, read_nxmx
from nbnumba.plan import make_plan

BASE = ("-cell 100 100 100 90 90 90 -default_F 100 -lambda 1.3 -distance 100 -detpixels_x 40 -detpixels_y 28 "
        "-pixel 0.1 -phi 5 -osc 0.3").split()
CUSTOM_AXES = "-fdet_vector 0 0 1 -sdet_vector 0 -1 0 -odet_vector 1 0 0".split()

GEOMETRIES = {
    "default": [],
    "mosflm": ["-mosflm"],
    "xds": ["-xds"],
    "dials": ["-dials"],
    "adxv": ["-adxv"],
    "denzo": ["-denzo"],
    "twotheta": ["-twotheta", "20"],
    "xds_twotheta": ["-xds", "-twotheta", "15"],
    "dials_twotheta": ["-dials", "-twotheta", "-12"],
    "adxv_twotheta": ["-adxv", "-twotheta", "7"],
    "rotations": ["-detector_rotx", "3", "-detector_roty", "-5", "-detector_rotz", "7"],
    "rotations_twotheta_xds": ["-xds", "-detector_rotx", "-2", "-detector_roty", "4", "-detector_rotz", "-6",
                               "-twotheta", "11"],
    "denzo_rotations": ["-denzo", "-detector_rotz", "30", "-twotheta", "5"],
    "beam_centre": ["-Xbeam", "2.3", "-Ybeam", "1.1"],
    "adxv_beam_centre": ["-adxv", "-Xbeam", "3", "-Ybeam", "1.7"],
    "xds_orgx": ["-xds", "-ORGX", "20.5", "-ORGY", "10"],
    "dials_xclose": ["-dials", "-Xclose", "1.5", "-Yclose", "2.5"],
    "close_distance": ["-close_distance", "80"],
    "close_distance_xds_rot": ["-xds", "-close_distance", "90", "-detector_rotx", "5"],
    "custom_pivot_sample": CUSTOM_AXES + ["-pix0_vector", "-0.1", "0.002", "-0.002", "-pivot", "sample",
                                         "-Xbeam", "1.9", "-Ybeam", "2.4", "-detector_roty", "9"],
    "custom_pivot_beam": CUSTOM_AXES + ["-pivot", "beam", "-Xbeam", "1.9", "-Ybeam", "2.4", "-twotheta", "9"],
    "custom_oblique": ["-beam_vector", "0.1", "0", "1", "-fdet_vector", "1", "0", "-0.1", "-sdet_vector", "0", "1",
                       "0", "-odet_vector", "0.1", "0", "1", "-spindle_axis", "1", "0.2", "0", "-polar_vector", "0",
                       "1", "0", "-pivot", "sample", "-detector_rotz", "4", "-twotheta", "8"],
    "custom_skew_axes": ["-fdet_vector", "0", "0.1", "1", "-sdet_vector", "0", "-1", "0.05", "-odet_vector", "1", "0",
                         "0", "-twotheta", "6"],
    "custom_twotheta_axis_not_unit": ["-twotheta_axis", "0", "0", "2", "-twotheta", "10"],
    "spindle_along_beam": ["-spindle_axis", "1", "0", "0"],
}


def NO_LOG(line):
    pass


def _plan(flags):
    return make_plan(params(BASE + list(flags)), NO_LOG)


def _plan_centres(p):
    """Every pixel centre of the plan, (spixels, fpixels, 3), from pix0, fdet, sdet and the pixel size."""
    px = p.pixel_size
    f = (np.arange(p.fpixels) + 0.5) * px
    s = (np.arange(p.spixels) + 0.5) * px
    pix0, fdet, sdet = (np.array(v[1:4], dtype=float) for v in (p.pix0_vector, p.fdet_vector, p.sdet_vector))
    return pix0 + f[None, :, None] * fdet + s[:, None, None] * sdet


def _unit(v):
    v = np.array(v[1:4], dtype=float)
    return v / np.linalg.norm(v)


def _write(tmp_path, p, data, kind, name="x.nxs"):
    path = tmp_path / name
    path.write_bytes(nxmx_bytes(p, data, kind))
    return path


@pytest.mark.parametrize("case", sorted(GEOMETRIES))
def test_every_pixel_centre_and_the_image_read_back(case, tmp_path):
    p = _plan(GEOMETRIES[case]).p
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    data = rng.integers(0, 65536, (p.spixels, p.fpixels), dtype=np.uint16)
    data[0, 0], data[0, -1], data[-1, 0] = 0, 65535, 1                 # corners tell the orientation
    got = read_nxmx(_write(tmp_path, p, data, "int"))

    assert got["image"].dtype == np.uint16 and np.array_equal(got["image"], data) and got["kind"] == "int"
    g = got["geometry"]
    assert (g["fpixels"], g["spixels"]) == (p.fpixels, p.spixels) == (40, 28)
    centres = pixel_positions(g)
    assert centres.shape == (p.spixels, p.fpixels, 3)
    assert np.abs(centres - _plan_centres(p)).max() < 1e-9
    # the pieces, in nanoBragg's lab frame
    assert np.allclose(g["origin"], p.pix0_vector[1:4], rtol=0, atol=1e-12)
    assert np.allclose(g["fast"], np.array(p.fdet_vector[1:4]) * p.pixel_size, rtol=0, atol=1e-15)
    assert np.allclose(g["slow"], np.array(p.sdet_vector[1:4]) * p.pixel_size, rtol=0, atol=1e-15)
    assert math.isclose(g["wavelength"], p.lambda0, rel_tol=1e-15)
    assert np.allclose(g["beam"], _unit(p.beam_vector), rtol=0, atol=1e-14)
    assert np.allclose(g["spindle"], _unit(p.spindle_vector), rtol=0, atol=1e-14)
    assert math.isclose(g["phi_start"], p.phi0, rel_tol=1e-14) and math.isclose(g["phi_increment"], p.osc,
                                                                                   rel_tol=1e-14)


def test_the_chain_holds_nanobraggs_rotations_and_close_distance(tmp_path):
    """The detector's transformations are the run's own: rotx, roty, rotz, two-theta (degrees) and the close
    distance along the detector normal; the pixel directions hang from module_offset, which hangs from it."""
    p = _plan(GEOMETRIES["rotations_twotheta_xds"]).p
    path = _write(tmp_path, p, np.zeros((p.spixels, p.fpixels), np.uint16), "int")
    with h5py.File(path) as fh:
        det = fh["/entry/instrument/detector"]
        tr = det["transformations"]
        for name, value in (("detector_rotx", -2), ("detector_roty", 4), ("detector_rotz", -6), ("two_theta", 11)):
            assert tr[name].attrs["transformation_type"] == "rotation" and tr[name].attrs["units"] == "deg"
            assert math.isclose(tr[name][0], value, rel_tol=1e-12), name
        assert [tr[n].attrs["depends_on"] for n in ("detector_rotx", "detector_roty", "detector_rotz", "two_theta")] \
            == [tr.name + "/detector_roty", tr.name + "/detector_rotz", tr.name + "/two_theta", "."]
        dist = tr["distance"]
        assert dist.attrs["transformation_type"] == "translation"
        assert dist.attrs["depends_on"] == tr.name + "/detector_rotx"
        assert math.isclose(dist[0], p.close_distance, rel_tol=1e-12)
        assert det["depends_on"][()].decode() == tr.name + "/distance"
        module = det["module"]
        assert module["module_offset"].attrs["depends_on"] == tr.name + "/distance"
        for name in ("fast_pixel_direction", "slow_pixel_direction"):
            axis = module[name]
            assert axis.attrs["depends_on"] == module.name + "/module_offset"
            assert math.isclose(np.linalg.norm(axis.attrs["vector"]), 1.0, rel_tol=1e-14)
            assert math.isclose(axis[0], p.pixel_size, rel_tol=1e-14)


def test_reader_walks_any_equivalent_chain(tmp_path):
    """read_nxmx follows the chain itself: other units, offsets and relative depends_on paths that describe
    the same detector give the same pixels, and a changed axis moves them."""
    p = _plan(GEOMETRIES["rotations_twotheta_xds"]).p
    path = _write(tmp_path, p, np.zeros((p.spixels, p.fpixels), np.uint16), "int")
    with h5py.File(path, "r+") as fh:
        tr = fh["/entry/instrument/detector/transformations"]
        module = fh["/entry/instrument/detector/module"]
        tt = tr["two_theta"]
        tt[0] = math.radians(tt[0])
        tt.attrs["units"] = "rad"
        off = module["module_offset"]
        off[0] = off[0] * 1000.0
        off.attrs["units"] = "mm"
        dist = tr["distance"]                          # 1 cm of it as the offset, in cm
        dist[0] = dist[0] - 0.01
        dist.attrs["offset"] = dist.attrs["vector"] * 1.0
        dist.attrs["offset_units"] = "cm"
        module["fast_pixel_direction"].attrs["depends_on"] = "module_offset"
        tr["detector_rotx"].attrs["depends_on"] = "detector_roty"
    assert np.abs(pixel_positions(read_nxmx(path)["geometry"]) - _plan_centres(p)).max() < 1e-9
    with h5py.File(path, "r+") as fh:
        rotz = fh["/entry/instrument/detector/transformations/detector_rotz"]
        rotz.attrs["vector"] = -rotz.attrs["vector"]
    assert np.abs(pixel_positions(read_nxmx(path)["geometry"]) - _plan_centres(p)).max() > 1e-4


def test_mosflm_frame_gives_nanobraggs_dials_origin(tmp_path):
    """MOSFLM: McStas (x, y, z) = nanoBragg (-z, y, x); the beam is McStas +z, the detector's fast axis -x,
    slow -y, and the panel origin in DIALS's frame (diag(-1, 1, -1) of McStas) is the DIALS_ORIGIN nanoBragg
    prints in its SMV header."""
    for flags in ([], ["-twotheta", "20"]):
        p = _plan(flags).p
        M = lab_frame(p)
        assert np.array_equal(M, MOSFLM_TO_MCSTAS) and np.linalg.det(M) == 1.0
        path = _write(tmp_path, p, np.zeros((p.spixels, p.fpixels), np.uint16), "int")
        with h5py.File(path) as fh:
            frame = fh["/entry/nanobragg_lab_frame"]
            assert np.array_equal(np.array([frame[n].attrs["vector"] for n in "xyz"]).T, M)
            module = fh["/entry/instrument/detector/module"]
            if not flags:
                assert np.array_equal(module["fast_pixel_direction"].attrs["vector"], [-1, 0, 0])
                assert np.array_equal(module["slow_pixel_direction"].attrs["vector"], [0, -1, 0])
        origin_mcstas = M @ np.array(p.pix0_vector[1:4])
        dials_mm = np.diag([-1.0, 1.0, -1.0]) @ origin_mcstas * 1000.0
        assert np.allclose(dials_mm, p.dials_origin[1:4], rtol=0, atol=1e-12)


@pytest.mark.parametrize("conv,expected", [
    ("-xds", [[-1, 0, 0], [0, -1, 0], [0, 0, 1]]),          # McStas = nanoBragg (-x, -y, z)
    ("-adxv", [[-1, 0, 0], [0, -1, 0], [0, 0, 1]]),
    ("-dials", [[0, -1, 0], [1, 0, 0], [0, 0, 1]]),         # McStas = nanoBragg (-y, x, z)
    ("-denzo", MOSFLM_TO_MCSTAS.tolist()),
])
def test_frame_of_each_convention(conv, expected):
    M = lab_frame(_plan([conv]).p)
    assert np.array_equal(M, np.array(expected, dtype=float))
    assert math.isclose(np.linalg.det(M), 1.0)


def test_nxmx_fields_dials_reads(tmp_path):
    p = _plan(["-roi", "2", "30", "3", "20", "-detector_thick", "320"]).p
    data = np.arange(p.spixels * p.fpixels, dtype=np.uint16).reshape(p.spixels, p.fpixels)
    path = _write(tmp_path, p, data, "noise")
    with h5py.File(path) as fh:
        entry = fh["entry"]
        assert entry.attrs["NX_class"] == "NXentry" and entry["definition"][()] == b"NXmx"
        start = datetime.datetime.fromisoformat(entry["start_time"][()].decode())
        end = datetime.datetime.fromisoformat(entry["end_time"][()].decode())
        assert start.tzinfo is not None and end - start == datetime.timedelta(seconds=p.exposure)
        frames = entry["data/data"]
        assert entry["data"].attrs["NX_class"] == "NXdata" and entry["data"].attrs["signal"] == "data"
        assert frames.shape == (1, p.spixels, p.fpixels) and frames.dtype == np.uint16
        assert frames.chunks == (1, p.spixels, p.fpixels)
        hdf5plugin = pytest.importorskip("hdf5plugin")
        if h5py.h5z.filter_avail(hdf5plugin.BSHUF_ID):
            assert hdf5plugin.BSHUF_ID in frames._filters or str(hdf5plugin.BSHUF_ID) in frames._filters
        else:
            assert frames.compression == "gzip"
        inst = entry["instrument"]
        assert inst.attrs["NX_class"] == "NXinstrument"
        beam = inst["beam"]
        assert beam.attrs["NX_class"] == "NXbeam" and beam["incident_wavelength"].attrs["units"] == "angstrom"
        assert math.isclose(beam["incident_wavelength"][()], 1.3, rel_tol=1e-15)
        det = inst["detector"]
        assert det.attrs["NX_class"] == "NXdetector" and det["data"] == frames
        assert det["sensor_material"][()] == b"Si"
        assert math.isclose(det["sensor_thickness"][()], 320e-6) and det["sensor_thickness"].attrs["units"] == "m"
        assert (det["saturation_value"][()], det["underload_value"][()], det["bit_depth_readout"][()]) == (65535, 0, 16)
        assert det["x_pixel_size"][()] == det["y_pixel_size"][()] == p.pixel_size
        assert det["count_time"][()] == p.exposure
        module = det["module"]
        assert module.attrs["NX_class"] == "NXdetector_module"
        assert list(module["data_origin"][()]) == [0, 0] and list(module["data_size"][()]) == [p.spixels, p.fpixels]
        # pixels outside -roi (inclusive 2..30 fast, 3..20 slow) are flagged, the rest not
        mask = det["pixel_mask"][()]
        inside = np.zeros_like(mask, dtype=bool)
        inside[3:21, 2:31] = True
        assert np.all(mask[inside] == 0) and np.all(mask[~inside] == 256)
        sample = entry["sample"]
        assert sample.attrs["NX_class"] == "NXsample"
        phi = fh[sample["depends_on"][()].decode()]
        assert phi.attrs["transformation_type"] == "rotation" and phi.attrs["depends_on"] == "."
        assert math.isclose(phi[0], 5.0, rel_tol=1e-14) and math.isclose(fh[phi.name + "_end"][0], 5.3, rel_tol=1e-14)
        assert math.isclose(fh[phi.name + "_increment_set"][()], 0.3, rel_tol=1e-14)
    assert read_nxmx(path)["kind"] == "noise"


def test_float_image_kept_as_float32_without_saturation(tmp_path):
    p = _plan([]).p
    rng = np.random.default_rng(5)
    data = (rng.standard_normal((p.spixels, p.fpixels)) * 1e6).astype(np.float32)
    data[0, :4] = [0.0, np.float32(1e-45), np.finfo(np.float32).max, 65535.0]
    path = _write(tmp_path, p, data, "float")
    got = read_nxmx(path)
    assert got["image"].dtype == np.float32 and np.array_equal(got["image"], data) and got["kind"] == "float"
    with h5py.File(path) as fh:
        det = fh["/entry/instrument/detector"]
        assert "saturation_value" not in det and "bit_depth_readout" not in det


def test_reproducible_bytes_with_source_date_epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    p = _plan(["-twotheta", "5"]).p
    data = np.ones((p.spixels, p.fpixels), np.uint16)
    assert nxmx_bytes(p, data, "int") == nxmx_bytes(p, data, "int")


def test_curved_detector_refused():
    p = make_plan(params(["-curved_det"] + BASE), NO_LOG).p     # (C ignores -curved_det as the last argument)
    assert p.curved_detector
    with pytest.raises(NanoBraggError) as err:
        nxmx_bytes(p, np.zeros((p.spixels, p.fpixels), np.uint16), "int")
    text = str(err.value)
    assert "\n" not in text and "NXmx" in text and "curved" in text and err.value.exit_code == 9


def test_wrong_image_shape_refused():
    p = _plan([]).p
    with pytest.raises(ValueError):
        nxmx_bytes(p, np.zeros((p.fpixels, p.spixels), np.uint16), "int")


# ---------------------------------------------------------------- a real run

RUN = BASE + ["-N", "5", "-seed", "7", "-Xbeam", "1.3", "-Ybeam", "2.1", "-twotheta", "4"]


def _simulate(folder, *extra, first=()):
    res = subprocess.run([sys.executable, "-m", "nbnumba", "simulate", *first, *RUN, *extra], cwd=folder,
                         capture_output=True, text=True, timeout=600, env=dict(os.environ))
    return res


def test_simulate_writes_the_noise_image_then_the_int_image(tmp_path):
    noisy, quiet, flt = (tmp_path / n for n in ("noisy", "quiet", "float"))
    for d in (noisy, quiet, flt):
        d.mkdir()
    res = _simulate(noisy, "-nxsfile", "x.nxs")
    assert res.returncode == 0, res.stderr
    assert "writing x.nxs as NXmx (the noise image)" in res.stdout
    got = read_nxmx(noisy / "x.nxs")
    smv = fabio.open(str(noisy / "noiseimage.img")).data
    assert got["kind"] == "noise" and got["image"].dtype == np.uint16 and np.array_equal(got["image"], smv)
    p = _plan(RUN[len(BASE):]).p
    assert np.abs(pixel_positions(got["geometry"]) - _plan_centres(p)).max() < 1e-9

    res = _simulate(quiet, "-nonoise", "-nxsfile", "x.nxs")
    assert res.returncode == 0, res.stderr
    got = read_nxmx(quiet / "x.nxs")
    assert got["kind"] == "int" and np.array_equal(got["image"], fabio.open(str(quiet / "intimage.img")).data)

    res = _simulate(flt, "-nonoise", "-nxs_image", "float", "-nxsfile", "x.nxs")
    assert res.returncode == 0, res.stderr
    got = read_nxmx(flt / "x.nxs")
    raw = np.fromfile(flt / "floatimage.bin", np.float32).reshape(p.spixels, p.fpixels)
    assert got["kind"] == "float" and np.array_equal(got["image"], raw)


def test_simulate_refuses_nxsfile_with_a_curved_detector(tmp_path):
    res = _simulate(tmp_path, "-nxsfile", "x.nxs", first=["-curved_det"])
    assert res.returncode == 9
    lines = [l for l in res.stderr.splitlines() if "NXmx" in l]
    assert len(lines) == 1 and "curved" in lines[0]
    assert not any(tmp_path.iterdir())                  # the output transaction left nothing
