"""The ``lxdex`` command line: a typer app, thin over the library, whose modules are its layout.

    app.py       the app, ``--version``, and :func:`main`: the one map from errors to exit codes
    options.py   the options several commands share, each defined once
    bench.py     lxdex bench
    compare.py   lxdex compare (two saved results, figure by figure)
    simulate.py  lxdex simulate (one process, or --shards on Dask), lxdex profile
    latency.py   lxdex latency
    capacity.py  lxdex sweep, plan, hardware list/show/compare
    reports.py   lxdex report, audit
    data.py      lxdex replay, calibrate
    scenario.py  lxdex scenario show
    render/      what each command prints (rich tables and text), apart from the wiring

A command parses its options, calls the library, and hands the result to a renderer (or prints it
as JSON).  Data goes to stdout, progress bars and errors to stderr (:mod:`lxdex_capacity.console`).
Each command module registers its commands on :data:`app` when imported; they are imported here,
in the order ``lxdex --help`` lists them.  Nothing imports this package back, so there is no cycle.
"""

from __future__ import annotations

# Imported for their side effect (each registers its commands on app), in --help order, so not sorted.
# isort: off
from . import bench, compare, simulate, latency, capacity, reports, data, scenario, cache  # noqa: F401
# isort: on
from .app import app, main

__all__ = ["app", "main"]
