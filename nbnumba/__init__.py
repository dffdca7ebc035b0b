"""nbnumba: nanoBragg.c's nanocrystal diffraction simulator, ported to Python and Numba."""
__version__ = "0.1.0"
