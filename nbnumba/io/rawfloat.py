"""nanoBragg's float image (C 3121-3129): raw float32, fast index fastest, little-endian, no header."""
import numpy as np

from .atomic import atomic_write


def write_float_image(path, img):
    atomic_write(path, np.ascontiguousarray(img, dtype="<f4"))


def read_float_image(path, fpixels, spixels):
    return np.fromfile(path, "<f4").reshape(spixels, fpixels)
