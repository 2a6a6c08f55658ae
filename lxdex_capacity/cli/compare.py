"""``lxdex compare``: two saved results of one kind, figure by figure (:mod:`lxdex_capacity.measure.compare`).

Light: the library (pydantic models, and scipy for the rank test) is imported when the command runs."""

from __future__ import annotations

import contextlib
import math
from dataclasses import replace
from pathlib import Path

import typer

from ..console import err, warn_unsteady
from ..errors import CheckFailed, InputError
from .app import app
from .options import json_option
from .render import print_json

MAX_REGRESSION_PCT = 1000.0


@app.command()
def compare(
    base: Path = typer.Argument(..., help="The result to compare against: what a command printed with --json (bench, latency, simulate; report's results.json)."),
    new: Path = typer.Argument(..., help="The result to judge: the same kind of result."),
    fail_on_regression: float | None = typer.Option(
        None, "--fail-on-regression", metavar="PCT",
        help="Exit 1 when a figure is judged slower by more than PCT percent (above 0, at most 1000); 'too noisy to call' never fails."),
    as_json: bool = json_option("Print one JSON object instead of a table."),
) -> None:
    """Compare two results figure by figure: faster, slower, no significant change, or too noisy to call.

    A change is called when the interval of the ratio new/base excludes 1 and the Mann–Whitney test on the repeats gives p < 0.05; a figure measured on a busy machine, or of fewer than 3 repeats, is too noisy to call. Figures counted exactly (bytes) are the same, larger or smaller."""
    from ..measure.compare import compare as compare_results
    from ..measure.compare import read_result

    pct = fail_on_regression
    if pct is not None and not (math.isfinite(pct) and 0 < pct <= MAX_REGRESSION_PCT):
        raise InputError(f"--fail-on-regression={pct!r}: a percentage above 0, at most {MAX_REGRESSION_PCT:g}")
    comparison = compare_results(read_result(base), read_result(new), str(base), str(new))
    # One line on stderr when a figure of either result was measured on a busy machine, or is noisy.
    warn_unsteady([replace(f, name=f"{name} (base)") for name, f in comparison.base_figures.items()]
                  + [replace(f, name=f"{name} (new)") for name, f in comparison.new_figures.items()])
    if as_json:
        print_json(comparison.as_dict(pct))
    else:
        from .render.compare import print_compare

        print_compare(comparison)
    if pct is None:
        return
    noisy = comparison.too_noisy()
    if noisy:
        names = ", ".join(r.name for r in noisy[:3]) + (", ..." if len(noisy) > 3 else "")
        with contextlib.suppress(OSError, ValueError):
            err.print(f"lxdex: warning: {len(noisy)} figure{'s' if len(noisy) != 1 else ''} too noisy to call ({names}): "
                      "not counted by --fail-on-regression", highlight=False, markup=False, soft_wrap=True)
    regressions = comparison.regressions(pct)
    if regressions:
        worst = ", ".join(f"{r.name} {r.change_text()}" for r in regressions[:3]) + (", ..." if len(regressions) > 3 else "")
        raise CheckFailed(f"{len(regressions)} figure{'s' if len(regressions) != 1 else ''} slower by more than {pct:g}% "
                          f"(--fail-on-regression): {worst}")
