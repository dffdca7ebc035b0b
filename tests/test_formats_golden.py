"""-nxsfile, -cbffile and -pngfile on every golden case that writes an image: each file read back (NXmx with
h5py through our reader, CBF with fabio, PNG with Pillow) holds exactly the image it should: the noise
SMV's pixels (the int SMV's with -nonoise) and the PGM's grey levels."""

import fabio
import numpy as np
import pytest
from PIL import Image

from conftest import GOLDEN, golden_cases, golden_params
from nbnumba.io.atomic import OutputTransaction
from nbnumba.io.nexus import read_nxmx
from nbnumba.io.smv import read_smv
from nbnumba.outputs import NoiseStream, format_image_kind, intfile_scale, pgm_image, write_outputs
from nbnumba.plan import make_plan
from nbnumba.render import run

CASES = [c for c in golden_cases()
         if (GOLDEN / "cases" / c["name"] / "exit_code").read_text().strip() == "0"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_every_format_on_golden_case(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = golden_params(case, tmp_path)
    p.cbffile, p.pngfile = "x.cbf", "x.png"
    p.nxsfile = None if p.curved_detector else "x.nxs"      # NXmx cannot describe a curved detector
    plan = make_plan(p, lambda line: None)
    noise = NoiseStream(plan) if plan.p.calculate_noise else None
    result = run(plan, kernel="fast", stream=noise)
    write_outputs(result, lambda line: None, noise_job=noise, outputs=OutputTransaction())
    q = plan.p
    kind = format_image_kind(q)
    if kind == "noise":
        want = read_smv(q.noisefilename)[1]
    else:
        from nbnumba.outputs import int_image
        want = int_image(result.floatimage, intfile_scale(result), q.adc_offset, q).reshape(q.spixels, q.fpixels)
    got_cbf = fabio.open("x.cbf").data
    assert np.array_equal(got_cbf, want.astype(got_cbf.dtype))
    if q.nxsfile:
        assert np.array_equal(np.asarray(read_nxmx("x.nxs")["image"]).reshape(want.shape), want)
    pscale = q.pgm_scale if q.pgm_scale > 0 else (250.0 / (5.0 * result.rmsd) if result.rmsd > 0
                                                  else intfile_scale(result))
    grey = np.asarray(Image.open("x.png"))
    assert np.array_equal(grey.reshape(-1), pgm_image(result.floatimage, pscale, q))
