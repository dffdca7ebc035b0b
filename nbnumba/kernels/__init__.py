"""Per-pixel kernels. Every renderer has the signature of cpu.render_exact, so the plan, the serial-order
rules and the outputs are shared by all of them."""


def renderer(kernel="exact", device="cpu", precision="double"):
    """The render function for a kernel name, a device ('cpu' or 'cuda') and, on the GPU, a precision
    ('double' or 'mixed'; the CPU kernels are double)."""
    if device == "cuda":
        import functools

        from . import cuda
        return functools.partial(cuda.render_fast if kernel == "fast" else cuda.render_exact, precision=precision)
    from . import cpu
    return cpu.render_fast if kernel == "fast" else cpu.render_exact
