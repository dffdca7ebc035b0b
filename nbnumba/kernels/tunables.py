"""Kernel tunables: how the drivers cut a render into work (as STUMPY's config.py). Plain constants, no
numba; none changes an image, only how the work is split, so tests may shrink them (monkeypatch) to
force many chunks, tiles, pieces or CUDA blocks on a tiny image.

Every driver reads them through this module at call time (`tunables.TILE`, never `from .tunables
import TILE`), and no compiled kernel reads them: each size reaches a kernel as a run-time value (the
list range it is handed, the length of its scratch rows, the launch shape). So changing one needs no
rebuild and is not part of the native cache key.
"""

# exact kernel (kernels/cpu.render_exact): list positions per chunk, the unit that pieces are made of;
# small enough to balance uneven pixels
CHUNK = 32

# fast kernel (kernels/cpu.render_fast): pixels per tile, the length of each thread's scratch rows
# (fast._tile vectorises over them); 256 measured fastest
TILE = 256

# CUDA (kernels/cuda.py): threads per block of every launch
THREADS_PER_BLOCK = 128

# CUDA fast kernel: threads a launch should have in all; pixels are shared by up to 32 threads each until
# it does (a 128x128 region alone would leave a large GPU mostly idle: an H100 holds 132 x 2048 threads)
GPU_THREADS = 1 << 18

# CPU drivers (kernels/cpu._in_pieces): a piece of a render is sized, from the rate measured so far, to
# take about this long (s) on one thread: short enough to show progress and to stop within a second
# of Ctrl-C, long enough that handing pieces out costs nothing measurable (a call is ~20 us); 0 makes
# every piece one unit
PIECE_S = 0.05
