"""The fast CPU kernel (-kernel fast): the same serial-order rules as exact.render_chunks, with
the arithmetic reorganised for speed. Values differ from C's only at rounding level (every golden
float image still comes out bit for bit), but bit-identity is not guaranteed.

Work is done in tiles of up to tunables.TILE consecutive pixels (C's serial order). For each sub-pixel
and source the tile's scattering vectors are laid out in arrays, and the innermost loop runs over the
tile's pixels for one rotated cell at a time, so LLVM vectorises it while every pixel still sums its
steps in C's order. The lattice factor uses an exact index-space reduction (below; no libm call),
the structure factor comes from a padded flat table of F^2 indexed without a branch, and the
per-pixel factors (solid angle, capture fraction, polarization) are computed once per pixel/sub-pixel.
The driver (nbnumba.kernels.cpu) deals tiles out to threads; the kernel allocates nothing.

Pixels this path does not cover are rendered with the exact pixel_value: each emulated thread's first
phi-looping pixel (it starts from the unrotated cell, `fresh`), pixels that still interpolate, and
whole plans with oversample_thick/polar/omega (C's running-sum quirks) or a non-integer N.
"""
import numpy as np

from .fast_pixel import polarization_fast, polarization_frame, square_latt2, table_frame, table_slot
from .jit import jit, magnitude, unitize
from .layout import (S_ACC, S_AIRPATH, S_CAPTURE, S_FI, S_OMEGA_PX, S_OMEGA_SUM, S_ON, S_POLAR, S_POS, S_SI, S_SLOT,
                     S_SX, S_SY, S_SZ, S_UX, S_UY, S_UZ, S_VAL, S_W, SQUARE)
from .pixel import (detector_frame, flat_position, layer_capture, lattice_factor, pixel_value, solid_angle,
                    subpixel_position)

# The scalar formulas (the exact index-space reduction of the lattice factor, the polynomial sinpi, the
# padded F^2 table's slots, the polarization without atan2) are in fast_pixel.py, shared with the GPU.


@jit
def render_tiles(first, stride, last, order, start, fresh, interp_until, plan, tables, out, scratch):
    """exact.render_chunks' contract for tiles first, first+stride, ... (below `last`) of order[start:],
    with the tiled arithmetic where it applies. tables = (cell_list, f2, dims): the carried cells as a
    list and the padded F^2 table (cpu.render_fast); scratch = (fscratch, iscratch): this thread's
    F_ROWS x tile and I_ROWS x tile work space (layout.py). The tile length is the scratch rows' length,
    a run-time value the driver chooses (tunables.TILE), so no tunable is compiled in."""
    fscratch, iscratch = scratch
    n = order.shape[0]
    tile = min(fscratch.shape[1], iscratch.shape[1])
    for t in range(first, min(last, (n - start + tile - 1) // tile), stride):
        lo = start + t * tile
        _positions(lo, min(lo + tile, n), order, fresh, interp_until, plan, tables, out, scratch)


@jit
def _positions(lo, hi, order, fresh, interp_until, plan, tables, out, scratch):
    """List positions lo..hi-1: the exact pixel_value where the tiled path does not apply, else _tile."""
    image, omega, switched = out
    iscratch = scratch[1]
    fpixels = plan[0][0].fpixels
    interp_on = interp_until >= 0
    pos = iscratch[S_POS]
    npx = 0
    for m in range(lo, hi):
        idx = order[m]
        interp = interp_on and m <= interp_until
        if fresh[m] != 0 or interp:
            sp = idx // fpixels
            value, om, sw = pixel_value(idx - sp * fpixels, sp, fresh[m] != 0, interp, plan)
            image[idx] = np.float32(0.0 + value)
            omega[m] = om
            switched[m] = sw
        else:
            pos[npx] = m
            npx += 1
    if npx > 0:
        _tile(npx, order, plan, tables, out, scratch)


@jit
def _tile(npx, order, plan, tables, out, scratch):
    """The pixels at list positions iscratch[S_POS, :npx] (none fresh, none interpolating), C 2640-3040
    reorganised; every work array is a row of this thread's scratch (the kernel allocates nothing)."""
    params, det, polar_axis, sources, cells, recip, Fhkl = plan
    cell_list, f2, dims = tables
    image, omega, switched = out
    fscratch, iscratch = scratch
    prm = params[0]
    fpixels = prm.fpixels
    oversample = prm.oversample
    curved = prm.curved_detector != 0
    dmin = prm.dmin
    table = prm.hkls != 0
    F2 = f2[0]
    pos = iscratch[S_POS][:npx]
    fi = iscratch[S_FI][:npx]
    si = iscratch[S_SI][:npx]
    slot = iscratch[S_SLOT][:npx]
    on = iscratch[S_ON][:npx]
    acc = fscratch[S_ACC][:npx]
    polar = fscratch[S_POLAR][:npx]
    omega_px = fscratch[S_OMEGA_PX][:npx]
    omega_sum = fscratch[S_OMEGA_SUM][:npx]
    capture = fscratch[S_CAPTURE][:npx]
    ux = fscratch[S_UX][:npx]
    uy = fscratch[S_UY][:npx]
    uz = fscratch[S_UZ][:npx]
    sx = fscratch[S_SX][:npx]
    sy = fscratch[S_SY][:npx]
    sz = fscratch[S_SZ][:npx]
    w = fscratch[S_W][:npx]
    airpath = fscratch[S_AIRPATH][:npx]
    val = fscratch[S_VAL][:npx]
    for j in range(npx):
        idx = order[pos[j]]
        si[j] = idx // fpixels
        fi[j] = idx - si[j] * fpixels
    acc[:] = prm.I_bg
    polar[:] = 1.0 if prm.nopolar != 0 else 0.0
    omega_px[:] = 0.0
    omega_sum[:] = 0.0
    wbase = 1.0 if table else F2
    polar_pending = prm.nopolar == 0
    omega_pending = True
    frame = detector_frame(det)
    for thick_tic in range(prm.detector_thicksteps):
        Odet = thick_tic * prm.detector_thickstep
        capture[:] = 1.0 if prm.detector_thick == 0.0 else 0.0
        capture_pending = prm.detector_thick != 0.0
        for subS in range(oversample):
            for subF in range(oversample):
                if curved:
                    for j in range(npx):
                        x, y, z = subpixel_position(fi[j], si[j], subF, subS, Odet, prm.subpixel_size, oversample,
                                                    det, curved, prm.distance)
                        airpath[j], ux[j], uy[j], uz[j] = unitize(x, y, z)
                else:
                    # the flat detector inline, so that this loop vectorises
                    for j in range(npx):
                        x, y, z = flat_position(fi[j], si[j], subF, subS, Odet, prm.subpixel_size, oversample, frame)
                        airpath[j], ux[j], uy[j], uz[j] = unitize(x, y, z)
                # C computes these for a pixel's first sub-pixel only (without -oversample_*): each
                # is redone while it is still exactly 0, as C's test does
                if omega_pending:
                    omega_pending = _solid_angles(omega_px, airpath, prm, prm.point_pixel != 0)
                for j in range(npx):
                    omega_sum[j] += omega_px[j]
                if capture_pending:
                    capture_pending = _capture_fractions(capture, ux, uy, uz, det, prm, thick_tic)
                for src in range(sources.shape[0]):
                    ix = -sources[src, 0]
                    iy = -sources[src, 1]
                    iz = -sources[src, 2]
                    lam = sources[src, 3]
                    for j in range(npx):
                        sx[j] = (ux[j] - ix) / lam
                        sy[j] = (uy[j] - iy) / lam
                        sz[j] = (uz[j] - iz) / lam
                        w[j] = wbase
                        on[j] = 1
                    live = True
                    if dmin > 0.0:
                        live = _dmin_cut(sx, sy, sz, w, on, dmin)
                    if polar_pending:
                        polar_pending = _polarizations(polar, on, (ux, uy, uz), (ix, iy, iz), prm.polarization,
                                                       polar_axis)
                    if live:
                        _steps(acc, (sx, sy, sz), w, prm, recip, tables, (val, slot))
    scale = prm.r_e_sqr * prm.fluence
    for j in range(npx):
        test = scale * acc[j] / prm.steps
        test *= capture[j]
        test *= polar[j]
        test *= omega_px[j]
        m = pos[j]
        image[order[m]] = np.float32(0.0 + test)
        omega[m] = omega_sum[j]
        switched[m] = 0


@jit
def _solid_angles(omega_px, airpath, prm, point):
    """omega for pixels whose value is still 0; returns whether any is still 0. Written with selects
    rather than branches so that it vectorises."""
    pending = 0
    for j in range(omega_px.shape[0]):
        v = omega_px[j]
        v = solid_angle(airpath[j], prm, point) if v == 0.0 else v
        omega_px[j] = v
        pending += v == 0.0
    return pending > 0


@jit
def _capture_fractions(capture, ux, uy, uz, det, prm, thick_tic):
    """Detector capture fraction of this layer for pixels whose value is still 0."""
    pending = False
    for j in range(capture.shape[0]):
        if capture[j] == 0.0:
            capture[j] = layer_capture(ux[j], uy[j], uz[j], det, prm, thick_tic)
            pending = pending or capture[j] == 0.0
    return pending


@jit
def _dmin_cut(sx, sy, sz, w, on, dmin):
    """Zero weight where C skips the source for this sub-pixel (resolution beyond dmin); any left?"""
    live = False
    for j in range(sx.shape[0]):
        stol = 0.5 * magnitude(sx[j], sy[j], sz[j])
        if stol > 0.0 and dmin > 0.5 / stol:
            w[j] = 0.0
            on[j] = 0
        else:
            live = True
    return live


@jit
def _polarizations(polar, on, u, incident, kahn, axis):
    """Polarization for pixels still at 0 that this source reaches (u: the diffracted unit vectors'
    rows ux, uy, uz; incident: ix, iy, iz); returns whether any is still 0. fast_pixel's formula with
    the source's frame built once; every pixel is computed and the result kept by a select, so that
    the loop vectorises."""
    ux, uy, uz = u
    ix, iy, iz = incident
    frame = polarization_frame(ix, iy, iz, axis)
    pending = 0
    for j in range(polar.shape[0]):
        todo = (polar[j] == 0.0) & (on[j] != 0)
        # C re-unitizes the diffracted vector in place (quirk D10); later sources see it
        _, dx, dy, dz = unitize(ux[j], uy[j], uz[j])
        value = polarization_fast(kahn, dx, dy, dz, frame)
        ux[j] = dx if todo else ux[j]
        uy[j] = dy if todo else uy[j]
        uz[j] = dz if todo else uz[j]
        v = value if todo else polar[j]
        polar[j] = v
        pending += v == 0.0
    return pending > 0


@jit
def _steps(acc, s, w, prm, recip, tables, work):
    """Adds every rotated cell's contribution for one sub-pixel and source to each pixel's sum
    (s: the scattering vectors' rows sx, sy, sz; tables: cell_list, f2, dims; work: val, slot, scratch)."""
    cell_list = tables[0]
    shape = prm.xtal_shape
    table = prm.hkls != 0
    # cells are passed by index, not as row views: a view would take a reference on the shared
    # cell_list, an atomic add that both threads would fight over once per cell
    for c in range(cell_list.shape[0]):
        if shape == SQUARE:
            if table:
                _square_table(acc, s, w, tables, c, prm, work)
            else:
                _square_const(acc, s, w, cell_list, c, prm)
        else:
            _other_shape(acc, s, w, tables, c, prm, recip)


@jit
def _square_const(acc, s, w, cells, c, prm):
    """One cell, parallelepiped lattice, F^2 folded into w (no hkl table)."""
    sx, sy, sz = s
    Na = prm.Na
    Nb = prm.Nb
    Nc = prm.Nc
    a0, a1, a2 = cells[c, 0], cells[c, 1], cells[c, 2]
    b0, b1, b2 = cells[c, 3], cells[c, 4], cells[c, 5]
    c0, c1, c2 = cells[c, 6], cells[c, 7], cells[c, 8]
    for j in range(acc.shape[0]):
        x = sx[j]
        y = sy[j]
        z = sz[j]
        h = a0 * x + a1 * y + a2 * z
        k = b0 * x + b1 * y + b2 * z
        l = c0 * x + c1 * y + c2 * z
        acc[j] += w[j] * square_latt2(h, k, l, np.ceil(h - 0.5), np.ceil(k - 0.5), np.ceil(l - 0.5), Na, Nb, Nc)


@jit
def _square_table(acc, s, w, tables, c, prm, work):
    """One cell, parallelepiped lattice, F^2 from the padded table. The lattice factor and the table
    slot go through scratch arrays (work: val, slot): a loop that gathers from f2 and stores into acc
    would not be vectorised (LLVM cannot rule out that they overlap), so only the cheap gather loop
    stays scalar."""
    sx, sy, sz = s
    cells, f2, dims = tables
    val, slot = work
    Na = prm.Na
    Nb = prm.Nb
    Nc = prm.Nc
    a0, a1, a2 = cells[c, 0], cells[c, 1], cells[c, 2]
    b0, b1, b2 = cells[c, 3], cells[c, 4], cells[c, 5]
    c0, c1, c2 = cells[c, 6], cells[c, 7], cells[c, 8]
    lo, top, strides = table_frame(prm, dims)
    npx = acc.shape[0]
    for j in range(npx):
        x = sx[j]
        y = sy[j]
        z = sz[j]
        h = a0 * x + a1 * y + a2 * z
        k = b0 * x + b1 * y + b2 * z
        l = c0 * x + c1 * y + c2 * z
        h0 = np.ceil(h - 0.5)
        k0 = np.ceil(k - 0.5)
        l0 = np.ceil(l - 0.5)
        val[j] = w[j] * square_latt2(h, k, l, h0, k0, l0, Na, Nb, Nc)
        slot[j] = table_slot(h0, k0, l0, lo, top, strides)
    for j in range(npx):
        acc[j] += f2[slot[j]] * val[j]


@jit
def _other_shape(acc, s, w, tables, c, prm, recip):
    """ROUND, GAUSS and TOPHAT lattice factors: pixel_value's own formula (libm calls, not vectorised)."""
    sx, sy, sz = s
    cells, f2, dims = tables
    shape = prm.xtal_shape
    table = prm.hkls != 0
    Na = prm.Na
    Nb = prm.Nb
    Nc = prm.Nc
    fudge = prm.fudge
    lo, top, strides = table_frame(prm, dims)
    for j in range(acc.shape[0]):
        x = sx[j]
        y = sy[j]
        z = sz[j]
        h = cells[c, 0] * x + cells[c, 1] * y + cells[c, 2] * z
        k = cells[c, 3] * x + cells[c, 4] * y + cells[c, 5] * z
        l = cells[c, 6] * x + cells[c, 7] * y + cells[c, 8] * z
        h0 = np.ceil(h - 0.5)
        k0 = np.ceil(k - 0.5)
        l0 = np.ceil(l - 0.5)
        F_latt = lattice_factor(shape, h, k, l, h0, k0, l0, Na, Nb, Nc, fudge, recip)
        if table:
            F2 = f2[table_slot(h0, k0, l0, lo, top, strides)]
            acc[j] += w[j] * F2 * (F_latt * F_latt)
        else:
            acc[j] += w[j] * (F_latt * F_latt)
