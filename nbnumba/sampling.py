"""nanoBragg.c's automatic step/range rules for phi, divergence, dispersion, thickness and mosaic.

Each rule takes the parsed values (with C's "unset" markers, -1) and returns the settled ones;
the statements follow nanoBragg.c 1380-1694 so that every default lands on the same bits.
"""
import math

M_1_PI = 0.318309886183790671537767526745028724  # math.h literal
RTD = 180.0 * M_1_PI


def phi_steps(phisteps, osc, phistep):
    """(phisteps, osc, phistep) after C's auto rules (1381-1428)."""
    if phisteps < 0:
        if osc < 0.0:
            if phistep <= 0.0:
                return 1, 0.0, 0.0
            return 2, phistep, phistep
        if phistep <= 0.0:
            return 2, osc, osc / 2.0
        return math.ceil(osc / phistep), osc, phistep
    if phisteps == 0:
        phisteps = 1
    if osc < 0.0:
        if phistep <= 0.0:
            osc = 1.0 / RTD
            return phisteps, osc, osc / phisteps
        return 2, phistep, phistep
    if phistep < 0.0:
        return phisteps, osc, osc / phisteps
    return phisteps, osc, phistep


def range_steps(steps, rng, step, unset_range=1.0, lone_range_divisor=1):
    """(steps, range, step) for divergence, dispersion (C 1430-1580) and sensor thickness (1582-1631).

    The thickness rule differs in two constants: a lone thickness is split in 2 layers of half of it,
    and a layer count without a thickness means 0.5 um (quirk D6)."""
    if steps <= 0:
        if rng < 0.0:
            if step <= 0.0:
                return 1, 0.0, 0.0
            return 2, step, step
        if step <= 0.0:
            return 2, rng, rng / lone_range_divisor
        return math.ceil(rng / step), rng, step
    if rng < 0.0:
        if step <= 0.0:
            rng = unset_range
            return steps, rng, rng / steps
        return 2, step, step
    if step <= 0.0:
        if steps <= 1:
            steps = 2
        return steps, rng, rng / (steps - 1)
    return steps, rng, step


def thickness_steps(steps, thick, step):
    """(thicksteps, thick, thickstep)."""
    return range_steps(steps, thick, step, unset_range=0.5e-6, lone_range_divisor=2)


def mosaic_domains(domains, spread, log):
    """(domains, spread) after C's rules (1639-1671), with its warnings."""
    if domains <= 0:
        if spread < 0.0:
            return 1, 0.0
        if spread == 0.0:
            return 1, spread
        log("WARNING: finite mosaicity with only one domain! upping to 10 mosaic domains")
        return 10, spread
    if spread < 0.0:
        log("WARNING: no mosaic spread specified.  setting mosaic_domains = 1")
        return 1, 0.0
    if spread == 0.0:
        log("WARNING: zero mosaic spread specified.  setting mosaic_domains = 1")
        return 1, spread
    return domains, spread


def sanitize(steps, rng, step):
    """C 1675-1694: any non-positive range, step or count means one step of zero range."""
    if rng <= 0.0 or step <= 0.0 or steps <= 0:
        return 1, 0.0, 0.0
    return steps, rng, step
