"""nanoBragg's automatic step/range rules, as documented in the quirks catalogue (A15-A17, D6)."""
import math

from nbnumba import sampling


def test_phi_rules():
    assert sampling.phi_steps(-1, -1.0, -1.0) == (1, 0.0, 0.0)
    osc = math.radians(0.3)
    assert sampling.phi_steps(-1, osc, -1.0) == (2, osc, osc / 2.0)          # -osc alone: 2 steps (A16)
    n, o, st = sampling.phi_steps(4, -1.0, -1.0)                             # -phisteps alone: osc = 1 deg
    assert n == 4 and o == 1.0 / sampling.RTD and st == o / 4
    assert sampling.phi_steps(-1, -1.0, 0.01) == (2, 0.01, 0.01)             # -phistep alone
    assert sampling.phi_steps(0, osc, -1.0)[0] == 1


def test_divergence_and_dispersion_rules():
    assert sampling.range_steps(-1, 0.002, -1.0) == (2, 0.002, 0.002)        # range alone: 2x2 corners (A17)
    assert sampling.range_steps(5, -1.0, -1.0) == (5, 1.0, 0.2)               # steps alone: 1 rad (A15)
    assert sampling.range_steps(5, 0.002, -1.0) == (5, 0.002, 0.002 / 4)
    assert sampling.range_steps(1, 0.002, -1.0) == (2, 0.002, 0.002)
    assert sampling.sanitize(*sampling.range_steps(-1, 0.0, -1.0)) == (1, 0.0, 0.0)


def test_thickness_rules():
    assert sampling.thickness_steps(-1, 300e-6, -1.0) == (2, 300e-6, 150e-6)  # lone thickness: t/2 (D6)
    assert sampling.thickness_steps(3, 300e-6, -1.0) == (3, 300e-6, 150e-6)   # t/(n-1)
    assert sampling.thickness_steps(1, 300e-6, -1.0) == (2, 300e-6, 300e-6)   # n=1 promoted to 2
    assert sampling.thickness_steps(4, -1.0, -1.0) == (4, 0.5e-6, 0.5e-6 / 4)
    assert sampling.sanitize(*sampling.thickness_steps(-1, 0.0, -1.0)) == (1, 0.0, 0.0)


def test_mosaic_rules():
    log = []
    assert sampling.mosaic_domains(-1, -1.0, log.append) == (1, 0.0)
    assert sampling.mosaic_domains(-1, 0.01, log.append) == (10, 0.01)
    assert sampling.mosaic_domains(8, -1.0, log.append) == (1, 0.0)
    assert len(log) == 2
