"""What the DIALS tests share: the environment DIALS's own (Debian) Python runs in."""
import os


def dials_env():
    """Nothing of this virtual environment, and hdf5plugin's filters (bitshuffle/LZ4 for our NXmx)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = "/usr/bin:/bin"
    try:
        import hdf5plugin
        env["HDF5_PLUGIN_PATH"] = hdf5plugin.PLUGINS_PATH
    except ImportError:
        pass
    return env
