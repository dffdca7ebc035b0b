"""Per-pixel kernels. Every renderer has the signature of exact.render, so the plan, the serial-order
rules and the outputs are shared by all of them."""

KERNELS = ("exact", "fast")


def renderer(kernel="exact", device="cpu"):
    """The render function for a kernel name and a device ('cpu' or 'cuda')."""
    if device == "cuda":
        from . import cuda
        return cuda.render
    if kernel == "fast":
        from . import fast
        return fast.render
    from . import exact
    return exact.render
