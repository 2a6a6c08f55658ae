"""What the ``lxdex`` commands print, apart from how they are wired: one module per command group.

Each function takes a command's result (the library's typed result, or its ``as_dict()``: the same
dict ``--json`` prints) and writes rich tables and text to :data:`lxdex_capacity.console.out`;
warnings go to :data:`~lxdex_capacity.console.err`.  Nothing here runs anything.

    bench.py       lxdex bench
    simulation.py  lxdex simulate (one process and sharded), profile, scenario show
    capacity.py    lxdex sweep, plan, hardware list/show/compare
    reports.py     lxdex report, audit
    data.py        lxdex replay, calibrate
"""

from __future__ import annotations

from typing import Any

from ...atomic import strict_json
from ...console import out

__all__ = ["print_json"]


def print_json(data: Any) -> None:
    """``--json``: ``data`` (or text that already is JSON) as one JSON object on stdout; strict JSON, so a
    figure that is not finite is an error naming its key, never a bare ``NaN``."""
    text = data if isinstance(data, str) else strict_json(data, indent=2)
    out.file.write(text.rstrip("\n") + "\n")  # as is: rich's JSON highlighter re-parses it, slowly
