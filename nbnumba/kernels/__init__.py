"""Per-pixel kernels. Every renderer has the signature of cpu.render_exact, so the plan, the serial-order
rules and the outputs are shared by all of them."""

KERNELS = ("exact", "fast")


def renderer(kernel="exact", device="cpu"):
    """The render function for a kernel name and a device ('cpu' or 'cuda')."""
    if device == "cuda":
        from . import cuda
        return cuda.render
    from . import cpu
    return cpu.render_fast if kernel == "fast" else cpu.render_exact
