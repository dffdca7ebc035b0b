"""-cbffile and -pngfile: the CBF's pixels are the SMV image's (noise by default, -nxs_image int the integer
image), its header carries the geometry (miniCBF lines and imgCIF categories that place every pixel where
nanoBragg puts it), the float image is refused; the PNG's pixels are the PGM's."""
import subprocess
import sys

import numpy as np
import pytest

from golden_runner import run_in
from nbnumba import api
from nbnumba.errors import NanoBraggError
from nbnumba.io.cbf import cbf_bytes, imgcif_vector
from nbnumba.io.images import minicbf_keys
from nbnumba.io.pgm import read_pgm
from nbnumba.io.smv import read_smv
from nbnumba.outputs import pgm_image

HKL = "1 0 0 100\n0 1 0 50\n0 0 1 25\n1 1 1 10\n"
BASE = "-hkl small.hkl -cell 100 100 100 90 90 90 -N 5 -default_F 100 -seed 3".split()
GEOM = "-lambda 1.5 -distance 120 -detpixels 48 -pixel 0.172".split()
TILTED = "-lambda 1 -distance 100 -detpixels 40 -pixel 0.1 -detector_rotx 5 -detector_roty -3 -twotheta 10 " \
         "-phi 3 -osc 0.5 -polar 0.9".split()


@pytest.fixture
def work(tmp_path):
    (tmp_path / "small.hkl").write_text(HKL)
    return tmp_path


def simulate_subprocess(folder, args):
    return subprocess.run([sys.executable, "-m", "nbnumba", "simulate", *args], cwd=folder, capture_output=True,
                          text=True, timeout=300)


def cbf(path):
    import fabio
    return fabio.open(str(path))


def tables(header):
    """fabio's imgCIF loops as {item name: [values]}."""
    out = {}
    for keys, rows in header["loop_"]:
        for k in keys:
            name = k.decode() if isinstance(k, bytes) else k
            out[name] = [(r[k].decode() if isinstance(r[k], bytes) else r[k]) for r in rows]
    return out


def row(t, category, key, value):
    """The row of imgCIF `category` whose `key` is `value`, as {item: value}."""
    names = [n for n in t if n.startswith(category + ".")]
    i = t[category + "." + key].index(value)
    return {n.split(".", 1)[1]: t[n][i] for n in names}


# ---------------------------------------------------------------- CBF pixels

def test_cbf_end_to_end_holds_the_noise_image(work):
    res = simulate_subprocess(work, BASE + GEOM + ["-cbffile", "x.cbf", "-intfile", "x.img", "-noisefile", "n.img"])
    assert res.returncode == 0, res.stderr
    assert "writing x.cbf as CBF (the noise image)" in res.stdout
    raw = (work / "x.cbf").read_bytes()
    assert raw.startswith(b"###CBF")
    assert b'conversions="x-CBF_BYTE_OFFSET"' in raw
    img = cbf(work / "x.cbf")
    _, noise = read_smv(work / "n.img")
    _, ints = read_smv(work / "x.img")
    assert img.data.dtype == np.int32 and img.data.shape == (48, 48)
    assert np.array_equal(img.data, noise)
    assert not np.array_equal(img.data, ints)


def test_cbf_int_image_with_nxs_image_int(work):
    res = run_in(work, BASE + GEOM + ["-cbffile", "x.cbf", "-intfile", "x.img", "-nxs_image", "int"])
    assert res.exit_code == 0, res.output
    _, ints = read_smv(work / "x.img")
    assert np.array_equal(cbf(work / "x.cbf").data, ints)
    assert ints.max() > 50000           # the integer image's scale: bright spots are near full scale


def test_cbf_nonoise_writes_the_int_image(work):
    res = run_in(work, BASE + GEOM + ["-cbffile", "x.cbf", "-intfile", "x.img", "-nonoise"])
    assert res.exit_code == 0, res.output
    assert np.array_equal(cbf(work / "x.cbf").data, read_smv(work / "x.img")[1])


def test_cbf_refuses_the_float_image(work):
    res = run_in(work, BASE + GEOM + ["-cbffile", "x.cbf", "-nxs_image", "float"])
    assert res.exit_code == 9
    assert "CBF holds integer counts" in res.output and "-nxs_image int or noise" in res.output
    assert not (work / "x.cbf").exists()
    p = api.params(["-detpixels", "8"])
    with pytest.raises(NanoBraggError, match="integer counts"):
        cbf_bytes(p, np.zeros((8, 8), np.float32), "float")


# ---------------------------------------------------------------- CBF header

def test_cbf_minicbf_header_values(work, monkeypatch):
    res = run_in(work, BASE + GEOM + ["-cbffile", "x.cbf", "-phi", "2", "-osc", "0.25", "-nonoise"])
    assert res.exit_code == 0, res.output
    img = cbf(work / "x.cbf")
    assert img.header["_array_data.header_convention"] == "GENERIC_MINI"
    keys = minicbf_keys(img.header["_array_data.header_contents"])
    assert float(keys["Wavelength"].split()[0]) == pytest.approx(1.5)
    assert keys["Wavelength"].split()[1] == "A"
    assert float(keys["Detector_distance"].split()[0]) == pytest.approx(0.120)
    assert keys["Pixel_size"] == "172e-6 m x 172e-6 m"
    assert keys["Count_cutoff"] == "65535 counts"
    assert float(keys["Start_angle"].split()[0]) == pytest.approx(2.0)
    assert float(keys["Angle_increment"].split()[0]) == pytest.approx(0.25)
    # where the direct beam meets the detector, in pixels from the first pixel's corner: nanoBragg's
    # Fbeam, Sbeam (MOSFLM's default: half a pixel past the middle, as in the SMV's ADXV_CENTER)
    bx, by = (float(v) for v in keys["Beam_xy"].strip("() pixels").split(","))
    monkeypatch.chdir(work)
    p = api.make_plan(api.params(BASE + GEOM), log=lambda *a: None).p
    assert (bx, by) == pytest.approx((p.Fbeam / p.pixel_size, p.Sbeam / p.pixel_size)) == (25.0, 25.0)
    t = tables(img.header)
    assert float(t["_diffrn_radiation_wavelength.wavelength"][0]) == pytest.approx(1.5)
    assert [float(v) for v in t["_array_element_size.size"]] == pytest.approx([172e-6, 172e-6])
    assert [float(v) for v in t["_array_structure_list_axis.displacement_increment"]] == pytest.approx([0.172, 0.172])
    assert t["_array_structure_list.dimension"] == ["48", "48"]
    assert row(t, "_diffrn_scan_frame_axis", "axis_id", "DETECTOR_Z")["displacement"] == "120"
    phi = row(t, "_diffrn_scan_axis", "axis_id", "GONIOMETER_PHI")
    assert (float(phi["angle_start"]), float(phi["angle_increment"])) == pytest.approx((2.0, 0.25))
    assert t["_diffrn.id"] == ["DS1"] and "_diffrn_source.diffrn_id" in t      # DIALS' full-CBF reader
    assert t["_array_structure.compression_type"] == ["byte_offset"]


def _axis(t, name):
    r = row(t, "_axis", "id", name)
    vec = np.array([float(r["vector[%d]" % i]) for i in (1, 2, 3)])
    off = np.array([float(r["offset[%d]" % i]) if r["offset[%d]" % i] != "." else 0.0 for i in (1, 2, 3)])
    return vec, off, r["depends_on"]


def test_cbf_imgcif_axes_place_every_pixel_where_nanobragg_does(work, monkeypatch):
    """Evaluating the _axis chain (DETECTOR_Z <- ELEMENT_X <- ELEMENT_Y) as imgCIF defines it gives each
    pixel's centre at nanoBragg's position, in the imgCIF frame (x_cif = z, y_cif = y, z_cif = -x)."""
    res = run_in(work, BASE + TILTED + ["-cbffile", "x.cbf", "-nonoise"])
    assert res.exit_code == 0, res.output
    t = tables(cbf(work / "x.cbf").header)
    z_vec, z_off, z_dep = _axis(t, "DETECTOR_Z")
    x_vec, x_off, x_dep = _axis(t, "ELEMENT_X")
    y_vec, y_off, y_dep = _axis(t, "ELEMENT_Y")
    assert (z_dep, x_dep, y_dep) == (".", "DETECTOR_Z", "ELEMENT_X")
    dist = float(row(t, "_diffrn_scan_frame_axis", "axis_id", "DETECTOR_Z")["displacement"])
    pitch = [float(v) for v in t["_array_structure_list_axis.displacement_increment"]]
    first = [float(v) for v in t["_array_structure_list_axis.displacement"]]
    monkeypatch.chdir(work)
    p = api.make_plan(api.params(BASE + TILTED), log=lambda *a: None).p
    f, s = np.array(p.fdet_vector[1:]), np.array(p.sdet_vector[1:])
    pix0 = np.array(p.pix0_vector[1:])
    for fi, si in [(0, 0), (39, 0), (0, 39), (17, 23)]:
        # along each element axis: displacement + index * increment, index (0, 0) being the first pixel's
        # outer corner (DIALS' panel origin), so a pixel's centre is at index + 0.5
        cif = (z_off + dist * z_vec + x_off + (first[0] + (fi + 0.5) * pitch[0]) * x_vec
               + y_off + (first[1] + (si + 0.5) * pitch[1]) * y_vec)
        nb = pix0 + (fi + 0.5) * p.pixel_size * f + (si + 0.5) * p.pixel_size * s
        assert cif == pytest.approx(np.array(imgcif_vector(nb)) * 1000.0, abs=1e-6)
    # pixel (0, 0)'s corner is nanoBragg's DIALS origin (mm, DIALS = imgCIF frame)
    corner = z_off + dist * z_vec + x_off
    assert corner == pytest.approx(np.array(p.dials_origin[1:]), abs=1e-6)
    src, _, _ = _axis(t, "SOURCE")
    assert src == pytest.approx([0.0, 0.0, 1.0])          # sample -> source: nanoBragg's beam runs along +x
    spindle, _, _ = _axis(t, "GONIOMETER_PHI")
    assert spindle == pytest.approx(imgcif_vector(p.spindle_vector))
    pol = row(t, "_diffrn_radiation", "diffrn_id", "DS1")
    assert float(pol["polarizn_source_ratio"]) == pytest.approx(0.95)    # (1 + K) / 2 with -polar 0.9


def test_cbf_is_reproducible(work):
    for name in ("a.cbf", "b.cbf"):
        assert run_in(work, BASE + GEOM + ["-cbffile", name]).exit_code == 0
    a, b = (work / "a.cbf").read_bytes(), (work / "b.cbf").read_bytes()
    # the data block is named after the file; nothing else differs
    assert a.replace(b"data_a", b"data_b") == b


# ---------------------------------------------------------------- PNG

@pytest.mark.parametrize("extra", [[], ["-pgmscale", "3"], ["-roi", "5", "30", "10", "40"]])
def test_png_pixels_are_the_pgm_pixels(work, extra):
    from PIL import Image
    res = run_in(work, BASE + GEOM + ["-pngfile", "x.png", "-pgmfile", "x.pgm"] + extra)
    assert res.exit_code == 0, res.output
    with Image.open(work / "x.png") as im:
        assert im.format == "PNG" and im.mode == "L" and im.size == (48, 48)
        png = np.asarray(im)
        text = dict(im.text)
    f, s, scale, pgm = read_pgm(work / "x.pgm")
    assert np.array_equal(png, pgm)
    assert float(text["nbnumba.pgm_scale"]) == pytest.approx(scale, rel=1e-5)
    if not extra:          # nanoBragg's contrast: the spots saturate, the background shows
        assert png.max() == 255 and 0 < np.count_nonzero(png) < png.size


def test_png_bytes_against_pgm_image(work):
    from PIL import Image
    import io
    from nbnumba.io.png import png_bytes, png_scale
    p = api.params(BASE[2:] + ["-detpixels", "32"])
    result = api.run_simulation(p)
    scale = png_scale(result.plan.p, result)
    assert scale == pytest.approx(250.0 / (5.0 * result.rmsd))
    data = png_bytes(result.plan.p, result.image, result)
    with Image.open(io.BytesIO(data)) as im:
        got = np.asarray(im)
    want = pgm_image(result.floatimage, scale, result.plan.p).reshape(32, 32)
    assert np.array_equal(got, want)


def test_cbflib_reads_the_geometry(work, monkeypatch):
    """CBFlib itself (pycbf, where installed: DIALS builds its models through it) puts every pixel where
    nanoBragg does, the beam centre where the direct beam meets the detector, the spindle and the scan."""
    pycbf = pytest.importorskip("pycbf")
    res = run_in(work, BASE + TILTED + ["-cbffile", "x.cbf", "-noisefile", "n.img"])
    assert res.exit_code == 0, res.output
    h = pycbf.cbf_handle_struct()
    h.read_widefile(str(work / "x.cbf").encode(), pycbf.MSG_DIGEST)
    assert h.get_wavelength() == pytest.approx(1.0)
    assert list(h.get_image_size_fs(0)) == [40, 40]
    det = h.construct_detector(0)
    monkeypatch.chdir(work)
    p = api.make_plan(api.params(BASE + TILTED), log=lambda *a: None).p
    f, s = np.array(p.fdet_vector[1:]), np.array(p.sdet_vector[1:])
    pix0 = np.array(p.pix0_vector[1:])
    for fi, si in [(0, 0), (39, 0), (0, 39), (17, 23)]:
        nb = pix0 + (fi + 0.5) * p.pixel_size * f + (si + 0.5) * p.pixel_size * s
        got = det.get_pixel_coordinates_fs(fi + 0.5, si + 0.5)
        assert got == pytest.approx(np.array(imgcif_vector(nb)) * 1000.0, abs=1e-6)
    assert det.get_pixel_coordinates_fs(0, 0) == pytest.approx(p.dials_origin[1:], abs=1e-6)
    assert det.get_detector_distance() == pytest.approx(p.close_distance * 1000.0)
    beam = np.array(p.beam_vector[1:])
    o = np.array(p.odet_vector[1:])
    hit = p.close_distance / beam.dot(o) * beam - pix0
    assert det.get_beam_center_fs()[:2] == pytest.approx([hit.dot(f) / p.pixel_size, hit.dot(s) / p.pixel_size],
                                                         abs=1e-5)
    gonio = h.construct_goniometer()
    assert gonio.get_rotation_axis() == pytest.approx(imgcif_vector(p.spindle_vector))
    assert gonio.get_rotation_range() == pytest.approx([3.0, 0.5])
    h.find_category(b"array_data")
    h.find_column(b"data")
    pixels = np.frombuffer(h.get_integerarray_as_string(), np.int32).reshape(40, 40)
    assert np.array_equal(pixels, read_smv(work / "n.img")[1])


DIALS_IMPORT = "/usr/bin/dials.import"
DIALS_REPORT = r"""
import json, sys
import numpy as np
from dxtbx.model.experiment_list import ExperimentListFactory
expt = ExperimentListFactory.from_json_file(sys.argv[1], check_format=True)[0]
panel = expt.detector[0]
np.save(sys.argv[2], expt.imageset.get_raw_data(0)[0].as_numpy_array())
print(json.dumps(dict(
    format=expt.imageset.get_format_class().__name__, origin=list(panel.get_origin()),
    fast=list(panel.get_fast_axis()), slow=list(panel.get_slow_axis()), pixel_size=list(panel.get_pixel_size()),
    image_size=list(panel.get_image_size()), beam_px=list(panel.get_beam_centre_px(expt.beam.get_s0())),
    wavelength=expt.beam.get_wavelength(), direction=list(expt.beam.get_sample_to_source_direction()),
    oscillation=list(expt.scan.get_oscillation()), axis=list(expt.goniometer.get_rotation_axis()))))
"""


def test_dials_import_reads_the_cbf(work, monkeypatch):
    """dials.import takes the CBF as a full CBF (FormatCBFFullByteOffset) with nanoBragg's geometry (the
    panel's origin is nanoBragg's DIALS_ORIGIN) and our pixels. Skipped without DIALS unless
    NBNUMBA_REQUIRE_DIALS=1."""
    import json
    import os
    if not os.path.exists(DIALS_IMPORT):
        if os.environ.get("NBNUMBA_REQUIRE_DIALS") == "1":
            pytest.fail("NBNUMBA_REQUIRE_DIALS=1 but %s is absent" % DIALS_IMPORT)
        pytest.skip("DIALS is not installed")
    # a scan's file name needs a number (dxtbx's template)
    res = run_in(work, BASE + TILTED + ["-detpixels_x", "48", "-cbffile", "x_0001.cbf", "-noisefile", "n.img"])
    assert res.exit_code == 0, res.output
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = "/usr/bin:/bin"
    run = subprocess.run([DIALS_IMPORT, "x_0001.cbf"], cwd=work, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    (work / "report.py").write_text(DIALS_REPORT)
    run = subprocess.run(["/usr/bin/python3", "report.py", "imported.expt", "raw.npy"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    monkeypatch.chdir(work)
    p = api.make_plan(api.params(BASE + TILTED + ["-detpixels_x", "48"]), log=lambda *a: None).p
    assert got["format"] == "FormatCBFFullByteOffset"
    assert got["image_size"] == [48, 40] and got["pixel_size"] == pytest.approx([0.1, 0.1])
    assert got["origin"] == pytest.approx(p.dials_origin[1:], abs=1e-6)
    assert got["fast"] == pytest.approx(imgcif_vector(p.fdet_vector), abs=1e-9)
    assert got["slow"] == pytest.approx(imgcif_vector(p.sdet_vector), abs=1e-9)
    f, s = np.array(p.fdet_vector[1:]), np.array(p.sdet_vector[1:])
    beam, o, pix0 = np.array(p.beam_vector[1:]), np.array(p.odet_vector[1:]), np.array(p.pix0_vector[1:])
    hit = p.close_distance / beam.dot(o) * beam - pix0
    assert got["beam_px"] == pytest.approx([hit.dot(f) / p.pixel_size, hit.dot(s) / p.pixel_size], abs=1e-5)
    assert got["wavelength"] == pytest.approx(1.0)
    assert got["direction"] == pytest.approx([0.0, 0.0, 1.0])
    assert got["oscillation"] == pytest.approx([3.0, 0.5])
    assert got["axis"] == pytest.approx(imgcif_vector(p.spindle_vector))
    assert np.array_equal(np.load(work / "raw.npy"), read_smv(work / "n.img")[1])
