"""The per-pixel functions compiled for the GPU: the same plain Python sources as the CPU's (vecmath.py's
formulas and pixel.py's functions, as jit.py keeps them), compiled with cuda.jit(device=True), as FBPIC's
cuda_methods.py compiles its inline_functions.py. Each module's functions are rebuilt over a namespace in
which their callees are the device versions too (jit.in_namespace), so no CPU-compiled function is
reachable from the CUDA kernel, and under NUMBA_ENABLE_CUDASIM=1 the simulator runs these same device
functions (as Python). Imported only by kernels/cuda.py.
"""
from numba import cuda

from . import pixel, vecmath
from .jit import in_namespace

device = cuda.jit(device=True)

vecmath_functions = in_namespace(vecmath, device, {})
pixel_functions = in_namespace(pixel, device, vecmath_functions)

pixel_value = pixel_functions["pixel_value"]
