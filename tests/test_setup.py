"""The set-up steps take the configuration and return values; nothing mutates a shared object.

Every step make_plan calls (detector.detector_size, plan._exposure, detector.beam_centre_defaults,
apply_convention, normalize_axes, place_detector, plan._auto_interpolate, crystal.build_cell, crystal_size,
plan._structure_factors, plan._sources, plan._mosaic_umats) is wrapped here on every golden case: it must leave its
argument exactly as it found it (deep-compared, lists, arrays and NaNs included), and what it returns must be
what the Plan carries. make_plan must leave the user's Params alone, and two plans from one Params with
different keywords must differ only where the changed value reaches.
"""
import copy
import shutil

import numpy as np
import pytest

import nbnumba.api as nb
from nbnumba import crystal, detector
from nbnumba import plan as plan_module
from nbnumba.config import FIELDS, GROUPS, set_value

from conftest import GOLDEN, golden_cases

ARGV = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 96 -pixel 0.1 "
        "-oversample 1 -seed 4")
QUIET = lambda line: None   # noqa: E731

# step name -> the type it returns
STEPS = {"detector_size": detector.DetectorSize, "_exposure": plan_module.Exposure,
         "beam_centre_defaults": detector.BeamCentreDefaults, "apply_convention": detector.Convention,
         "normalize_axes": detector.Axes,
         "place_detector": detector.DetectorFrame, "build_cell": crystal.Cell,
         "crystal_size": crystal.CrystalSize, "_auto_interpolate": int, "_structure_factors": tuple,
         "_sources": tuple, "_mosaic_umats": list}


def snapshot(x):
    """A deep, comparable image of x: floats by their bits (NaN equals NaN), arrays by dtype, shape and bytes,
    objects by their attributes; types kept (1 is not 1.0, a list is not a tuple)."""
    if isinstance(x, (float, np.floating)):
        return (type(x).__name__, float(x).hex())
    if x is None or isinstance(x, (bool, int, str, np.integer)):
        return (type(x).__name__, x)
    if isinstance(x, np.ndarray):
        return ("ndarray", x.dtype.str, x.shape, x.tobytes())
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [snapshot(v) for v in x])
    if isinstance(x, dict):
        return ("dict", sorted((k, snapshot(v)) for k, v in x.items()))
    if hasattr(x, "__dict__"):
        return (type(x).__name__, snapshot(vars(x)))
    return (type(x).__name__, repr(x))


def settled(p):
    """Every nanoBragg name and every settled attribute make_plan added, by name."""
    out = {name: getattr(p, name) for name in FIELDS}
    out.update((k, v) for k, v in vars(p).items() if k not in GROUPS)
    return out


def _cases():
    out = []
    for case in golden_cases():
        if (GOLDEN / "cases" / case["name"] / "exit_code").read_text().strip() == "0":
            out.append(pytest.param(case, id=case["name"]))
    return out


def _in_inputs(tmp_path, monkeypatch, case):
    for f in (GOLDEN / "inputs").iterdir():
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.chdir(tmp_path)
    for before in case.get("before", []):
        nb.save_fdump(plan_module.make_plan(nb.params(before.split()), QUIET), QUIET)


@pytest.mark.parametrize("case", _cases())
def test_steps_leave_their_input_alone_and_return_what_the_plan_carries(case, tmp_path, monkeypatch):
    _in_inputs(tmp_path, monkeypatch, case)
    calls = []

    def wrap(name, step):
        def checked(p, *args):
            before = snapshot(p)
            out = step(p, *args)
            assert snapshot(p) == before, "%s changed its input" % name
            assert isinstance(out, STEPS[name])
            calls.append((name, out))
            return out
        return checked

    for name in STEPS:
        monkeypatch.setattr(plan_module, name, wrap(name, getattr(plan_module, name)))
    params = nb.params(case["args"].split())
    user = snapshot(params)
    plan = plan_module.make_plan(params, QUIET)
    assert snapshot(params) == user, "make_plan changed the user's Params"
    assert [name for name, _ in calls] == ["detector_size", "_exposure", "beam_centre_defaults", "apply_convention",
                                           "normalize_axes", "place_detector", "_auto_interpolate", "build_cell",
                                           "crystal_size", "_structure_factors", "_sources", "_mosaic_umats"]

    # the fields each step returned, the later step's value where two settle the same name (C's order)
    expected = {}
    for name, out in calls:
        if hasattr(out, "_asdict"):
            expected.update(out._asdict())
    carried = settled(plan.p)
    for field, value in expected.items():
        assert snapshot(carried[field]) == snapshot(value), field
    # nothing the plan carries is the step's own object (a later change to one cannot reach the other)
    for field, value in expected.items():
        if isinstance(value, list):
            assert carried[field] is not value, field
    sources, divsteps = dict(calls)["_sources"]
    assert snapshot(plan.sources) == snapshot(sources)
    assert plan.p.divsteps == divsteps
    table, to_write = dict(calls)["_structure_factors"]
    assert plan.fdump_to_write is to_write
    if table is not None:
        assert np.array_equal(plan.Fhkl, table.Fhkl)
    frame = dict(calls)["place_detector"]
    assert np.array_equal(plan.det[:4], [v[1:4] for v in (frame.fdet_vector, frame.sdet_vector,
                                                          frame.odet_vector, frame.pix0_vector)])
    cell = dict(calls)["build_cell"]
    assert np.array_equal(plan.recip, [*cell.a_star[1:4], *cell.b_star[1:4], *cell.c_star[1:4]])
    assert plan.interpolate == bool(plan.p.interpolate)
    assert snapshot(plan.p.mosaic_umats) == snapshot(dict(calls)["_mosaic_umats"])
    size = dict(calls)["crystal_size"]
    assert (plan.params[0]["Na"], plan.params[0]["Nb"], plan.params[0]["Nc"]) == (size.Na, size.Nb, size.Nc)


def test_steps_called_on_a_users_params_change_nothing(tmp_path, monkeypatch):
    """Each step on a Params as the user holds it (nothing settled yet): same input after, values out."""
    monkeypatch.chdir(tmp_path)
    for argv in (ARGV, ARGV + " -xds -ORGX 40.5 -ORGY 52.25", ARGV + " -adxv -twotheta 10 -detector_rotx 5",
                 ARGV + " -fdet_vector 0 0 2 -sdet_vector 0 -1 0 -odet_vector 2 0 0 -misset random",
                 ARGV + " -divergence 2 -divsteps 5 -dispersion 1 -dispsteps 3"):
        p = nb.params(argv.split())
        # the step counts the sampling rules would settle, so the sources can be built
        p.phisteps, p.phistep = 1, 0.0
        for name, value in (("hdivsteps", 3), ("vdivsteps", 3), ("dispsteps", 1)):
            if getattr(p, name) <= 0:
                setattr(p, name, value)
        before = snapshot(p)
        q = copy.deepcopy(p)      # make_plan's way: each result applied to a private copy for the next step
        rng = plan_module.NanoRNG()
        results = []
        for step, args in ((detector.detector_size, ()), (plan_module._exposure, (QUIET,)),
                           (detector.beam_centre_defaults, ()), (detector.apply_convention, ()),
                           (detector.normalize_axes, (QUIET,)), (detector.place_detector, (QUIET,)),
                           (crystal.build_cell, (rng, QUIET)), (crystal.crystal_size, (QUIET,))):
            settled_before = snapshot(q)
            results.append(step(q, *args))
            assert snapshot(q) == settled_before, step.__name__
            plan_module._settle(q, results[-1])
            if step is not crystal.crystal_size:            # (it needs the cell build_cell settles)
                step(p, *args)                              # on the user's own, unsettled Params too
            assert snapshot(p) == before, step.__name__
        settled_before = snapshot(q)
        results.append(plan_module._sources(q, QUIET))
        assert snapshot(q) == settled_before
        assert [type(r) for r in results] == [detector.DetectorSize, plan_module.Exposure, detector.BeamCentreDefaults,
                                              detector.Convention, detector.Axes, detector.DetectorFrame,
                                              crystal.Cell, crystal.CrystalSize, tuple]


def _diff(a, b):
    sa, sb = settled(a), settled(b)
    return {k for k in sa.keys() | sb.keys() if snapshot(sa.get(k)) != snapshot(sb.get(k))}


@pytest.mark.parametrize("name, value, may_differ, must_differ, arrays", [
    ("distance", 0.12, {"distance", "close_distance", "pix0_vector", "dials_origin", "Fclose", "Sclose", "Fbeam",
                        "Sbeam", "ORGX", "ORGY"}, {"distance", "close_distance", "pix0_vector", "dials_origin"},
     {"params", "det"}),
    ("lambda0", 1.2e-10, {"lambda0"}, {"lambda0"}, {"sources"}),
    ("N", 7, {"Na", "Nb", "Nc"}, {"Na", "Nb", "Nc"}, {"params"}),
])
def test_two_plans_from_one_params_differ_only_where_they_should(tmp_path, monkeypatch, name, value, may_differ,
                                                                 must_differ, arrays):
    monkeypatch.chdir(tmp_path)
    base = nb.params(ARGV.split())
    user = snapshot(base)
    plan_a = plan_module.make_plan(base, QUIET)
    settled_a = snapshot(plan_a.p)
    other = copy.deepcopy(base)
    set_value(other, name, value)
    plan_b = plan_module.make_plan(other, QUIET)
    assert snapshot(base) == user
    assert snapshot(plan_a.p) == settled_a          # the second plan shares nothing with the first
    changed = _diff(plan_a.p, plan_b.p)
    assert must_differ <= changed <= may_differ, changed
    for array in ("params", "det", "polar_axis", "sources", "cells", "recip", "Fhkl"):
        same = snapshot(getattr(plan_a, array)) == snapshot(getattr(plan_b, array))
        assert same == (array not in arrays), array
    # the user's Params, run again, gives the first plan's settled record back
    assert snapshot(plan_module.make_plan(base, QUIET).p) == settled_a
