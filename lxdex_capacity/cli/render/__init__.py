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

import json
from typing import Any

from ...console import out

__all__ = ["print_json"]


def print_json(data: Any, *, allow_nan: bool = True) -> None:
    """``--json``: ``data`` (or text that already is JSON) as one JSON object on stdout."""
    out.print_json(data if isinstance(data, str) else json.dumps(data, allow_nan=allow_nan))
