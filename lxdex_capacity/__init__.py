"""lxdex-capacity: measured memory and speed of a real multi-market matching engine, and the
machines that hold it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lxdex-capacity")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
