"""The table of nanoBragg options, for `nbnumba simulate --help`.

Data only: parsing semantics live in argv.py (C's substring cascade), never here.
"""

from __future__ import annotations

from typing import NamedTuple

from ..config import DEVICES, GPU_PRECISIONS, KERNELS, Params

_OURS = Params()   # the defaults of our own options, from the one place that sets them


class Flag(NamedTuple):
    name: str
    aliases: tuple = ()
    nargs: str = "0"  # how many values follow ("0", "1", "3", "1-6", ...)
    units: str = ""  # units of the values as typed
    default: str = ""
    help: str = ""


_S = Flag  # short alias for the table below

SECTIONS: tuple[tuple[str, tuple[Flag, ...]], ...] = (
    ("Crystal: cell, orientation, size", (
        _S("-cell", (), "1-6", "A, deg", "none", "unit cell a b c alpha beta gamma; stops at a value starting with '-'"),
        _S("-mat", (), "1", "file", "none", "MOSFLM orientation matrix (A-matrix, divided by lambda)"),
        _S("-misset", (), "3", "deg", "off", "rotate the crystal about x, y, z; '-misset random' for a random orientation"),
        _S("-misset_seed", (), "1", "int", "-time", "seed for -misset random (also fires -misset when 3 tokens follow)"),
        _S("-N", (), "1", "cells", "1", "unit cells along each axis (exact name)"),
        _S("-Na", (), "1", "cells", "1", "unit cells along a"),
        _S("-Nb", (), "1", "cells", "1", "unit cells along b"),
        _S("-Nc", (), "1", "cells", "1", "unit cells along c"),
        _S("-xtalsize", ("-xtal_size", "-samplesize", "-sample_size"), "1", "mm", "0", "crystal size along all axes; sets Na, Nb, Nc"),
        _S("-xtal_thick", ("-xtal_x", "-sample_thick", "-sample_x"), "1", "mm", "0", "crystal size along x (sets Na)"),
        _S("-xtal_width", ("-xtal_y", "-sample_width", "-sample_y", "-width"), "1", "mm", "0", "crystal size along y (sets Nb; clipped to -beamsize)"),
        _S("-xtal_height", ("-xtal_heigh*", "-xtal_z", "-sample_height", "-sample_heigh*", "-sample_z", "-height", "-heigh*"), "1", "mm", "0", "crystal size along z (sets Nc; clipped to -beamsize)"),
        _S("-density", ("-sample_den*",), "1", "g/cm^3", "1", "crystal density (informational only)"),
        _S("-MW", ("-molec*",), "1", "g/mol", "18", "molecular weight (informational only)"),
        _S("-square_xtal", (), "0", "", "on", "parallelepiped crystal shape (sincg lattice factor)"),
        _S("-round_xtal", (), "0", "", "off", "spherical crystal shape (sinc3)"),
        _S("-gauss_xtal", (), "0", "", "off", "Gaussian spot shape"),
        _S("-tophat_spots", ("-binary_spots",), "0", "", "off", "top-hat spot shape"),
        _S("-fudge", (), "1", "", "1", "scale of the hkl-space radius for round, gauss and tophat shapes"),
    )),
    ("Structure factors", (
        _S("-hkl", (), "1", "file", "none", "text file of h k l F"),
        _S("-dump", ("-dumpfile",), "1", "file", "Fdump.bin", "binary structure-factor cache to write (and read when there is no -hkl)"),
        _S("-default_F", (), "1", "electrons", "0", "F for reflections not in the file"),
        _S("-interpolate", (), "0", "", "auto", "tricubic interpolation of F (auto: when any of Na, Nb, Nc <= 2)"),
        _S("-nointerpolate", (), "0", "", "auto", "nearest-neighbour F only"),
    )),
    ("Beam", (
        _S("-lambda", ("-wavelength", "-wave*"), "1", "A", "1", "wavelength"),
        _S("-energy", (), "1", "eV", "", "photon energy (lambda = 12398.42/E A)"),
        _S("-dispersion", (), "1", "%", "0", "spectral width dlambda/lambda"),
        _S("-dispsteps", (), "1", "int", "auto", "number of wavelengths"),
        _S("-divergence", (), "1", "mrad", "none", "horizontal and vertical divergence range"),
        _S("-hdivrange", (), "1", "mrad", "none", "horizontal divergence range"),
        _S("-vdivrange", (), "1", "mrad", "none", "vertical divergence range"),
        _S("-hdivstep", (), "1", "mrad", "auto", "horizontal divergence step (exact name)"),
        _S("-vdivstep", (), "1", "mrad", "auto", "vertical divergence step (exact name)"),
        _S("-hdivsteps", (), "1", "int", "auto", "number of horizontal divergence steps"),
        _S("-vdivsteps", (), "1", "int", "auto", "number of vertical divergence steps"),
        _S("-divsteps", (), "1", "int", "auto", "number of divergence steps, both directions"),
        _S("-round_div", (), "0", "", "on", "cut the divergence grid to an ellipse"),
        _S("-square_div", (), "0", "", "off", "keep the full rectangular divergence grid"),
        _S("-sourcefile", (), "1", "file", "none", "sources, columns X Y Z I lambda (lambda in m)"),
        _S("-fluence", (), "1", "photons/m^2", "1.25932e29", "incident fluence"),
        _S("-flux", (), "1", "photons/s", "0", "incident flux; sets fluence = flux*exposure/beamsize^2 (wins over -fluence)"),
        _S("-exposure", (), "1", "s", "1", "exposure time"),
        _S("-beamsize", (), "1", "mm", "0.1", "beam size (square)"),
        _S("-polar", (), "1", "", "0", "Kahn polarization factor (exact name)"),
        _S("-nopolar", (), "0", "", "off", "no polarization correction"),
        _S("-polar_vector", (), "3", "unit vector", "0 0 1", "E-vector; selects the CUSTOM convention"),
        _S("-beam_vector", (), "3", "unit vector", "1 0 0", "beam direction; selects the CUSTOM convention"),
        _S("-coherent", (), "0", "", "off", "accepted, no effect"),
    )),
    ("Detector", (
        _S("-pixel", (), "1", "mm", "0.1", "pixel size"),
        _S("-detpixels", (), "1", "pixels", "auto", "pixels along both axes (exact name)"),
        _S("-detpixels_f", ("-detpixels_x",), "1", "pixels", "auto", "pixels along the fast axis"),
        _S("-detpixels_s", ("-detpixels_y",), "1", "pixels", "auto", "pixels along the slow axis"),
        _S("-detsize", (), "1", "mm", "102.4", "detector size, both axes (exact name)"),
        _S("-detsize_f", (), "1", "mm", "102.4", "detector size along fast"),
        _S("-detsize_s", (), "1", "mm", "102.4", "detector size along slow"),
        _S("-distance", (), "1", "mm", "100", "sample to beam spot along the beam; pivot BEAM"),
        _S("-close_distance", (), "1", "mm", "auto", "sample to detector plane (perpendicular); pivot SAMPLE"),
        _S("-Xbeam", (), "1", "mm", "convention", "beam centre, fast; pivot BEAM"),
        _S("-Ybeam", (), "1", "mm", "convention", "beam centre, slow; pivot BEAM"),
        _S("-Xclose", (), "1", "mm", "convention", "near point, fast; pivot SAMPLE"),
        _S("-Yclose", (), "1", "mm", "convention", "near point, slow; pivot SAMPLE"),
        _S("-ORGX", (), "1", "pixels", "none", "XDS origin, fast; pivot SAMPLE"),
        _S("-ORGY", (), "1", "pixels", "none", "XDS origin, slow; pivot SAMPLE"),
        _S("-pivot", (), "1", "sample|beam", "beam", "detector pivot (honoured only in the CUSTOM convention)"),
        _S("-mosflm", (), "0", "", "on", "MOSFLM convention"),
        _S("-xds", (), "0", "", "off", "XDS convention"),
        _S("-adxv", (), "0", "", "off", "ADXV convention"),
        _S("-denzo", (), "0", "", "off", "DENZO convention"),
        _S("-dials", (), "0", "", "off", "DIALS convention"),
        _S("-fdet_vector", (), "3", "unit vector", "convention", "fast axis; CUSTOM"),
        _S("-sdet_vector", (), "3", "unit vector", "convention", "slow axis; CUSTOM"),
        _S("-odet_vector", (), "3", "unit vector", "convention", "detector normal; CUSTOM"),
        _S("-spindle_axis", (), "3", "unit vector", "0 0 1", "phi rotation axis; CUSTOM"),
        _S("-twotheta_axis", (), "3", "unit vector", "convention", "two-theta axis; CUSTOM (also fires -twotheta with the first value)"),
        _S("-pix0_vector", ("-pix0_vector_mm",), "3", "m", "none", "selects CUSTOM; the values are not used"),
        _S("-twotheta", (), "1", "deg", "0", "detector two-theta swing; pivot SAMPLE"),
        _S("-detector_rotx", (), "1", "deg", "0", "detector rotation about x"),
        _S("-detector_roty", (), "1", "deg", "0", "detector rotation about y"),
        _S("-detector_rotz", (), "1", "deg", "0", "detector rotation about z"),
        _S("-curved_det", ("-curved_detector",), "0", "", "off", "spherical detector (ignored as the last argument)"),
        _S("-point_pixel", (), "0", "", "off", "solid angle 1/R^2 (no obliquity)"),
        _S("-detector_abs", ("-detector_absorb",), "1", "um", "off", "attenuation length; inf or 0 turns absorption off"),
        _S("-detector_thick", (), "1", "um", "0", "sensor thickness (exact name)"),
        _S("-detector_thicksteps", ("-thicksteps",), "1", "int", "auto", "number of sensor layers"),
    )),
    ("Sampling", (
        _S("-oversample", (), "1", "int", "auto", "sub-pixels per pixel edge"),
        _S("-oversample_thick", (), "0", "", "off", "sensor absorption per sub-pixel"),
        _S("-oversample_polar", (), "0", "", "off", "polarization per sub-pixel"),
        _S("-oversample_omega", (), "0", "", "off", "solid angle per sub-pixel"),
        _S("-phi", (), "1", "deg", "0", "spindle start angle (exact name)"),
        _S("-osc", (), "1", "deg", "none", "oscillation range"),
        _S("-phistep", (), "1", "deg", "auto", "phi step (exact name)"),
        _S("-phisteps", (), "1", "int", "auto", "number of phi steps"),
        _S("-mosaic", ("-mosaicity", "-mosaici*", "-mosaic_spread", "-mosaic_spr*"), "1", "deg", "none", "mosaic spread ('-mosaic' is an exact name)"),
        _S("-mosaic_domains", ("-mosaic_dom*",), "1", "int", "10 with a spread", "number of mosaic domains"),
        _S("-mosaic_seed", (), "1", "int", "12345678", "seed of the mosaic domain orientations"),
        _S("-dmin", (), "1", "A", "0", "resolution limit (0: none)"),
        _S("-roi", (), "4", "pixels", "whole detector", "xmin xmax ymin ymax, inclusive"),
    )),
    ("Outputs and inputs", (
        _S("-floatfile", ("-floatimage",), "1", "file", "floatimage.bin", "raw float32 image"),
        _S("-intfile", ("-intimage",), "1", "file", "intimage.img", "SMV image of scaled integers"),
        _S("-noisefile", ("-noiseimage",), "1", "file", "noiseimage.img", "SMV image with Poisson noise (turns noise back on)"),
        _S("-pgmfile", ("-pgmimage",), "1", "file", "image.pgm", "8-bit PGM picture (turns it back on)"),
        _S("-nonoise", (), "0", "", "off", "do not write the noise image"),
        _S("-nopgm", (), "0", "", "off", "do not write the PGM picture"),
        _S("-scale", (), "1", "", "auto", "scale of the intfile (<= 0: auto, 55000/max)"),
        _S("-pgmscale", (), "1", "", "auto", "scale of the PGM picture"),
        _S("-adc", (), "1", "ADU", "40", "offset added to int and noise pixels"),
        _S("-img", (), "1", "file", "none", "SMV image whose header sets the geometry"),
        _S("-mask", (), "1", "file", "none", "SMV mask: pixels with value 0 are skipped; header sets the geometry"),
        _S("-stol", (), "1", "file", "none", "two-column stol/F file (read, then unused; exact name)"),
        _S("-4stol", (), "1", "file", "none", "as -stol with 4*stol (exact name)"),
        _S("-Q", (), "1", "file", "none", "as -stol with Q = 4*pi*stol (exact name)"),
        _S("-stolout", (), "1", "file", "output.stol", "accepted, never written"),
        _S("-water", (), "1", "um", "0", "water background thickness"),
    )),
    ("Noise and random numbers", (
        _S("-seed", (), "1", "int", "-time", "noise seed"),
    )),
    ("Diagnostics", (
        _S("-printout", (), "0", "", "off", "print per-pixel values"),
        _S("-printout_pixel", (), "2", "fast slow", "none", "print one pixel only"),
        _S("-progress", (), "0", "", "on", "progress meter"),
        _S("-noprogress", (), "0", "", "off", "no progress meter"),
    )),
    ("nbnumba options (not in nanoBragg.c; taken out before nanoBragg's flags are read)", (
        _S("-kernel", (), "1", "|".join(KERNELS), _OURS.kernel,
           "pixel kernel: fast (nanoBragg.c's image to 1e-6 of the peak, most images bit for bit) or exact "
           "(nanoBragg.c's arithmetic, bit for bit)"),
        _S("-threads", (), "1", "int >= 0", str(_OURS.threads), "CPU threads (0: every CPU this process may use)"),
        _S("-omp_threads", (), "1", "int >= 1", str(_OURS.omp_threads),
           "the image of nanoBragg.c built with OpenMP and OMP_NUM_THREADS=T"),
        _S("-device", (), "1", "|".join(DEVICES), _OURS.device, "where to render: the CPU, an NVIDIA GPU, or the "
           "GPU when one is usable"),
        _S("-gpu_precision", (), "1", "|".join(GPU_PRECISIONS), _OURS.gpu_precision, "GPU arithmetic precision"),
    )),
)


def all_flags() -> list[Flag]:
    return [f for _, flags in SECTIONS for f in flags]


def help_text() -> str:
    """Every option with its values, units and default, grouped like nanoBragg-flags.md."""
    out = [
        "Options are matched as in nanoBragg.c: by substring, in a fixed order, and a value",
        "is never consumed. Unknown options are ignored with a warning.",
    ]
    for title, flags in SECTIONS:
        out.append("")
        out.append(title + ":")
        for f in flags:
            names = ", ".join((f.name,) + f.aliases)
            if f.nargs == "0":
                vals = ""
            elif f.nargs == "1":
                vals = f" <{f.units or 'value'}>"
            else:
                vals = f" <{f.nargs} values{', ' + f.units if f.units else ''}>"
            left = f"  {names}{vals}"
            default = f" [default: {f.default}]" if f.default else ""
            out.append(left)
            out.append(f"      {f.help}{default}")
    return "\n".join(out) + "\n"
