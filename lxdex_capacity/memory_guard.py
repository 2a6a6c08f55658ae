"""The memory guard: a command that allocates from a user-given size refuses, before allocating,
when its estimate exceeds the memory this machine has available, naming both."""

from __future__ import annotations

import psutil

from .errors import CapacityError

__all__ = ["refuse_unless_it_fits"]


def refuse_unless_it_fits(needed_bytes: float, what: str, advice: str, force: bool = False) -> None:
    """Raise :class:`CapacityError` (``"<what> an estimated X GiB but only Y GiB is available; <advice>"``)
    if ``needed_bytes`` exceeds the available memory, unless ``force``."""
    available = psutil.virtual_memory().available
    if needed_bytes > available and not force:
        raise CapacityError(f"{what} an estimated {needed_bytes / 2**30:.1f} GiB but only {available / 2**30:.1f} GiB "
                            f"is available; {advice}")
