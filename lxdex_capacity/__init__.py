"""lxdex-capacity: measured memory and speed of a real multi-market matching engine, and the
machines that hold it."""

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # Read on first use, not on import: importing this package stays instant, so the ``lxdex`` entry
    # point can take over Ctrl-C before the slow imports begin (lxdex_capacity.entry).
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("lxdex-capacity")
        except PackageNotFoundError:  # running from a source tree that was never installed
            return "0.0.0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
