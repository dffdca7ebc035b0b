"""The configuration: fields grouped as the physics is, each defined once and reachable both by its
nanoBragg name (p.distance) and in its group (p.detector.distance); keywords checked either way."""
import copy
import dataclasses
import math
import re

import numpy as np
import pytest

import nbnumba.api as nb
from nbnumba import config
from nbnumba.cli.argv import parse_argv
from nbnumba.config import FIELDS, GROUPS, Params
from nbnumba.errors import NanoBraggError
from conftest import ROOT

ARGV = ("-cell 70 80 90 85 95 105 -default_F 100 -N 5 -lambda 1.5 -distance 120 -detpixels 64 -misset 1 2 3 "
        "-mosaic 0.5 -mosaic_dom 3 -dispersion 1 -divergence 0.1 -oversample 2 -roi 1 60 2 50 -phi 1 -osc 2 "
        "-phisteps 2 -seed 7 -mosaic_seed 9 -nopgm -kernel exact -threads 2").split()


def _same(a, b):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, np.ndarray):
        return a is b
    return a == b


def test_every_field_is_defined_in_exactly_one_group():
    per_group = {g: [f.name for f in dataclasses.fields(cls)] for g, cls in GROUPS.items()}
    names = [n for group in per_group.values() for n in group]
    assert len(names) == len(set(names)) == len(FIELDS)
    assert {n: g for g, group in per_group.items() for n in group} == FIELDS
    assert not set(GROUPS) & set(FIELDS)                      # a group's name is no field's name
    assert [f.name for f in dataclasses.fields(Params)] == list(GROUPS)
    # the groups a crystallographer expects, with what they are known for
    for group, names in {"beam": ("lambda0", "dispersion", "hdivrange", "fluence", "flux", "exposure",
                                  "beamsize", "beam_vector", "polar_vector", "polarization", "sourcefilename"),
                         "detector": ("fpixels", "pixel_size", "distance", "beam_convention", "detector_pivot",
                                      "detector_rotx", "Xbeam", "detector_thick", "detector_mu",
                                      "curved_detector", "point_pixel", "adc_offset", "roi_xmin", "maskimage"),
                         "crystal": ("a", "alpha", "misset", "matfilename", "Na", "xtal_shape", "fudge",
                                     "mosaic_spread", "phi0", "spindle_vector", "hklfilename", "default_F",
                                     "interpolate", "water_size"),
                         "sampling": ("oversample", "oversample_thick", "phisteps", "mosaic_domains",
                                      "dispsteps", "hdivsteps", "detector_thicksteps"),
                         "outputs": ("floatfilename", "intfilename", "write_pgm", "pgm_scale", "printout",
                                     "progress_meter"),
                         "noise": ("calculate_noise", "seed", "mosaic_seed", "misset_seed"),
                         "run": ("kernel", "threads", "omp_threads", "device", "gpu_precision")}.items():
        assert all(FIELDS[n] == group for n in names), [(n, FIELDS[n]) for n in names if FIELDS[n] != group]


def test_each_field_has_a_comment_with_its_unit_or_meaning():
    source = (ROOT / "nbnumba" / "config.py").read_text()
    for cls in GROUPS.values():
        assert cls.__doc__
    assert [n for n in FIELDS if not re.search(r"^    %s: [^\n]*#" % n, source, re.M)] == []


def test_flat_names_are_explicit_descriptors_not_getattr():
    assert "__getattr__" not in vars(Params)
    for name, group in FIELDS.items():
        d = vars(Params)[name]
        assert isinstance(d, config.FlatName) and (d.group, d.name) == (group, name)
        assert d.__doc__ == "%s.%s" % (group, name)


@pytest.mark.parametrize("p", [Params(), parse_argv(ARGV, now=1, warn=lambda m: None)], ids=["defaults", "argv"])
def test_each_field_reachable_flat_and_grouped_and_equal(p):
    for name, group in FIELDS.items():
        flat, grouped = getattr(p, name), getattr(getattr(p, group), name)
        assert flat is grouped, name
        assert name not in vars(p)                            # stored once, in the group
    q = copy.deepcopy(p)
    for name, group in FIELDS.items():                        # written flat, read grouped; and back
        marker = object()
        setattr(q, name, marker)
        assert getattr(getattr(q, group), name) is marker
        other = object()
        setattr(getattr(q, group), name, other)
        assert getattr(q, name) is other


def test_defaults_are_nanobraggs_and_fresh_per_instance():
    p, q = Params(), Params()
    assert (p.lambda0, p.distance, p.pixel_size, p.Na, p.kernel, p.seed) == (1e-10, 0.1, 1e-4, 1.0, "fast", 0)
    assert p.beam_vector == [0.0, 1.0, 0.0, 0.0] and p.beam_vector is not q.beam_vector
    assert p.detector is not q.detector


def test_parsed_flags_land_in_their_groups():
    p = parse_argv(ARGV, now=1, warn=lambda m: None)
    assert p.detector.distance == pytest.approx(0.12) and p.detector.fpixels == p.detector.spixels == 64
    assert p.beam.lambda0 == pytest.approx(1.5e-10) and p.beam.dispersion == pytest.approx(0.01)
    assert p.crystal.Na == p.crystal.Nb == p.crystal.Nc == 5.0 and p.crystal.misset[0] == 1.0
    assert (p.sampling.oversample, p.sampling.mosaic_domains, p.sampling.phisteps) == (2, 3, 2)
    assert (p.outputs.write_pgm, p.noise.seed, p.run.kernel, p.run.threads) == (0, -7, "exact", 2)


def test_grouped_keywords_set_the_same_fields_as_flat_ones():
    flat = nb.params(["-cell", "100", "100", "100", "90", "90", "90"], distance=0.1, fpixels=32, lambda0=2e-10, N=3,
                     kernel="exact")
    grouped = nb.params(["-cell", "100", "100", "100", "90", "90", "90"], detector={"distance": 0.1, "fpixels": 32},
                        beam=nb.Beam(lambda0=2e-10), crystal={"N": 3}, run={"kernel": "exact"})
    for name in FIELDS:
        assert _same(getattr(flat, name), getattr(grouped, name)), name
    assert (grouped.detector.distance, grouped.Nb, grouped.beam.lambda0) == (0.1, 3.0, 2e-10)
    assert Params(detector={"distance": 0.25}).distance == 0.25


@pytest.mark.parametrize("keywords, message", [
    ({"detector": {"fpixels": 32.5}}, "fpixels must be a whole number"),
    ({"detector": {"beam_vector": (1, 0)}}, "detector has no parameter 'beam_vector' (it is in beam)"),
    ({"beam": {"beam_vector": (1, 0)}}, "beam_vector must be 3 numbers"),
    ({"run": {"kernel": "turbo"}}, "kernel must be one of exact, fast"),
    ({"run": {"threads": -3}}, "threads must be >= 0"),
    ({"detector": {"distanse": 0.1}}, "detector has no parameter 'distanse' (did you mean 'distance'?)"),
    ({"crystal": {"N": "five"}}, "Na must be a number"),
    ({"detector": 0.1}, "detector must be a mapping of its fields or a Detector"),
    ({"detectr": {"distance": 0.1}}, "unknown parameter 'detectr' (did you mean 'detector'?)"),
    ({"beam": {"lambda0": True}}, "lambda0 must be a number"),
])
def test_grouped_keywords_are_checked(keywords, message):
    with pytest.raises(NanoBraggError) as err:
        nb.params([], **keywords)
    assert message in str(err.value)
    with pytest.raises(NanoBraggError):
        Params(**keywords)


def test_group_objects_are_checked_when_built_and_when_given():
    with pytest.raises(NanoBraggError, match="kernel must be one of"):
        nb.Run(kernel="turbo")
    with pytest.raises(NanoBraggError, match="run has no parameter 'distance'"):
        nb.Run(distance=0.1)
    run = nb.Run()
    run.kernel = "turbo"                                      # direct assignment is not checked...
    with pytest.raises(NanoBraggError, match="kernel must be one of"):
        Params(run=run)                                       # ...but giving the group is
    detector = nb.Detector(distance=0.3, fdet_vector=(0, 1, 0))
    p = Params(detector=detector)
    assert p.distance == 0.3 and p.fdet_vector == [0.0, 0.0, 1.0, 0.0]
    assert p.detector is not detector and p.fdet_vector is not detector.fdet_vector   # copied in


def test_flat_keywords_are_still_checked_and_aliases_still_work():
    with pytest.raises(NanoBraggError, match="unknown parameter 'wavelength'"):
        Params(wavelength=1e-10)
    with pytest.raises(NanoBraggError, match="fpixels must be a whole number"):
        Params(fpixels=32.5)
    p = Params(N=4, beam_vector=(1, 0, 0))
    assert (p.Na, p.Nb, p.Nc, p.N) == (4.0, 4.0, 4.0, 1) and p.beam_vector == [0.0, 1.0, 0.0, 0.0]
    assert config.checked_value("distance", 1) == 1.0


def test_deepcopy_is_independent():
    p = parse_argv(ARGV, now=1, warn=lambda m: None)
    p.maskimage = np.ones(4, np.uint16)
    p.steps = 12                                              # an attribute that is not a field (the plan's)
    q = copy.deepcopy(p)
    assert q.steps == 12 and q.detector is not p.detector and q.maskimage is not p.maskimage
    for name in FIELDS:
        assert _same(getattr(q, name), getattr(p, name)) or isinstance(getattr(p, name), np.ndarray), name
    q.distance = 9.0
    q.crystal.misset[1] = 9.0
    q.beam_vector[2] = 9.0
    q.maskimage[0] = 9
    q.crystal.Na = 9.0
    q.steps = 1
    assert p.distance == pytest.approx(0.12) and p.misset[1] != 9.0 and p.beam_vector[2] != 9.0
    assert p.maskimage[0] == 1 and p.Na == 5.0 and p.steps == 12


def test_the_plan_leaves_the_configuration_alone():
    p = nb.params(["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "2", "-seed", "1"],
                  detector={"fpixels": 8, "spixels": 8})
    before = repr(p)
    plan = nb.make_plan(p, log=lambda line: None)
    assert repr(p) == before and not hasattr(p, "steps")
    assert plan.p is not p and plan.p.detector is not p.detector and plan.p.steps >= 1
    assert plan.p.fpixels == plan.p.detector.fpixels == 8


def test_readme_python_api_shows_grouped_access(monkeypatch):
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API"):]
    section = section[:section.index("\n## ", 1)]
    code = section.split("```python\n")[1].split("```")[0]
    assert re.search(r"\bdetector=\{", code) and re.search(r"\bp\.(beam|detector|crystal)\.\w+", code)
    ran = []
    monkeypatch.setattr(nb, "run_simulation", lambda p: ran.append(p) or "result")
    monkeypatch.setattr(nb, "write_outputs", lambda result: ran.append(result))
    exec(compile(code, "README.md", "exec"), {})            # the example runs (rendering stubbed out)
    p = ran[0]
    assert p.detector.distance == p.distance == 0.1 and p.beam.fluence == p.fluence == 1e30
    assert ran[1] == "result"
