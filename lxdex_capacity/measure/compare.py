"""Two results of the same kind, figure by figure (``lxdex compare BASE NEW``), judged as pyperf's
``compare_to`` and asv's ``compare`` judge a change: a change is called only when the two measurements
cannot both be the same figure.

A result is what a command prints with ``--json`` (``bench``, ``latency``, ``simulate``; ``report``'s
results.json): its ``kind`` and its ``figures``, a mapping of a figure's name to
:meth:`~lxdex_capacity.measure.Figure.as_dict`.  Each figure record is checked (:class:`FigureRecord`):
finite numbers, ``low <= value <= high``, samples and the repeats they name, a known status; anything
else is one :class:`~lxdex_capacity.errors.InputError` naming the file and the key::

    new.json: figures["seeded_flow.orders_per_s"].low=5.0: must be at most value=4.0

For each figure in both results (:func:`compare_figures`):

* the **ratio** new / base of the medians, and its **interval** ``[new.low / base.high, new.high / base.low]``:
  conservative, it holds the true ratio whenever both intervals hold their true medians, so it covers it
  with at least the product of the two intervals' coverages (87.9% for 5 repeats each, 56% for 3);
* the **Mann–Whitney U** test's two-sided p-value on the repeats each figure used (asv's test: no normal
  law assumed, a tail of slow repeats does not sway it; exact for small samples), when both used at least 3;
* the **verdict**, by the figure's ``better`` (higher for rates, lower for times):

  - **too noisy to call** when either figure is ``disturbed`` (measured on a busy machine: never faster
    or slower, however large the ratio), or used fewer than 3 repeats, or when the intervals do not
    overlap but the test's p is not below :data:`ALPHA` (3 repeats against 3 can never get below 0.10:
    at least 4 each, or 3 against 5, are needed to call a change);
  - **no significant change** when the ratio's interval holds 1 (the two intervals of the medians overlap);
  - **faster** or **slower** when it excludes 1 and p < :data:`ALPHA`;
  - a figure counted exactly (``timed: false``, bytes): **same**, **larger** or **smaller**, exactly.

* the **change**, ``new / base - 1``, and the same signed so that + is better (``improvement``):
  ``+12.3% faster`` for a rate 12.3% higher or a time 12.3% lower.

Figures in only one result are listed as such.  Both results must be of the same kind and share a
figure.  A saved simulation, report or latency run is checked whole, as ``lxdex report`` checks it, and a bench's
figures against what the cores its engine ran on do (:mod:`lxdex_capacity.physics`): a figure is only as good as
the run it comes from.  Light: scipy is imported when a test is computed, numba and the engine only to check a
saved simulation or report.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InputError
from ..physics import MAX_CORES, figure_problem
from ..schema import FILE_CONFIG, Name, read_json, read_text
from .figure import MIN_SPREAD_REPEATS, Figure
from .records import MAX_FIGURES, FigureRecord, Kind

__all__ = ["compare", "compare_figures", "read_result", "Comparison", "Row", "FigureRecord", "ResultRecord", "ALPHA",
           "TIMED_VERDICTS", "EXACT_VERDICTS", "COMPARE_VERDICTS", "mann_whitney_p", "least_p"]

ALPHA = 0.05  # a change is called when the rank test's two-sided p is below this (and the intervals are apart)
TIMED_VERDICTS = ("faster", "slower", "no significant change", "too noisy to call")
EXACT_VERDICTS = ("same", "larger", "smaller")
COMPARE_VERDICTS = TIMED_VERDICTS + EXACT_VERDICTS
Verdict = Literal["faster", "slower", "no significant change", "too noisy to call", "same", "larger", "smaller"]



class ResultRecord(BaseModel):
    """What compare reads of a result: its ``kind`` and its ``figures``; the rest is the command's own."""

    model_config = ConfigDict(**{**FILE_CONFIG, "extra": "ignore"})

    kind: Kind
    figures: Annotated[dict[Name, FigureRecord], Field(max_length=MAX_FIGURES)]


# --- reading ------------------------------------------------------------------------------------------

def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _key(loc: Sequence[int | str]) -> str:
    """``("figures", "a.b", "used", 2)`` -> ``figures["a.b"].used[2]``: a figure's name is quoted (it holds dots)."""
    text = ""
    for i, part in enumerate(loc):
        if i == 1 and loc[0] == "figures" and isinstance(part, str):
            name = part if len(part) <= 80 else part[:77] + "..."
            text += f"[{json.dumps(name)}]"
        elif part == "[key]":
            text += " (the name)"
        elif isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


_HINT = " (compare reads what a command prints with --json: 'lxdex bench --json > base.json')"


def _message(exc: ValidationError, origin: str) -> str:
    """The first error of ``exc`` as one line: ``origin: figures["name"].key=value: what is wrong``."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    key = _key(loc)
    kind = first["type"]
    if kind == "missing":
        message = f"{key} is required" + (_HINT if len(loc) == 1 else "")
    else:
        msg = str(first["msg"]).removeprefix("Value error, ")
        if kind in ("model_type", "dict_type", "model_attributes_type"):
            msg = "must be an object (a table of keys)"
        msg = msg[:1].lower() + msg[1:]
        message = f"{key}={_short(first.get('input'))}: {msg}" if key else msg
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{origin}: {message}{more}"


def _record(data: Any, origin: str) -> ResultRecord:
    if not isinstance(data, Mapping):
        raise InputError(f"{origin}: must be a JSON object, not {type(data).__name__ if data is not None else 'null'}{_HINT}")
    try:
        record = ResultRecord.model_validate(data)
    except ValidationError as exc:
        raise InputError(_message(exc, origin)) from None
    return record


def _whole(kind: str, data: Mapping[str, Any], origin: str) -> None:
    """A saved simulate result or report is checked whole, as ``lxdex report`` checks it (types, the rules between its
    keys, and the physical limits of :mod:`lxdex_capacity.physics`): its figures are only as good as the run they
    come from.  Imported here, for those kinds only: the other comparisons stay light."""
    if kind == "simulate":
        from ..simulation.results import SimulationResult

        SimulationResult.from_dict(dict(data), origin)
    elif kind == "report":
        from ..reporting.results_schema import check_results

        check_results(dict(data), origin)
    elif kind == "latency":
        from ..reporting.results_schema import LatencyRecord
        from ..schema import validate

        validate(LatencyRecord, dict(data), origin)
    else:  # bench and the rest: each figure within what the cores its engine ran on do
        config = data.get("config")
        threads = config.get("threads", 1) if isinstance(config, Mapping) else 1
        cores = threads if isinstance(threads, int) and not isinstance(threads, bool) and 1 <= threads <= MAX_CORES else 1
        for name, figure in data["figures"].items():
            why = figure_problem(figure["unit"], max(figure["samples"]), cores)
            if why:
                raise InputError(f"{origin}: {_key(('figures', name, 'samples'))}={max(figure['samples'])!r}: {why}")


def read_result(path: str | Path) -> dict[str, Any]:
    """The JSON object saved at ``path`` (``lxdex bench --json > path``): missing, a folder, not UTF-8, not
    JSON, empty: one :class:`InputError`.  Its figures are checked by :func:`compare`."""
    text = read_text(path, "result file")
    if not text.strip():
        raise InputError(f"result file {str(path)!r} is empty{_HINT}")
    data = read_json(text, str(path))
    if not isinstance(data, dict):
        raise InputError(f"{path}: must be a JSON object, not {type(data).__name__ if data is not None else 'null'}{_HINT}")
    return data


# --- judging ------------------------------------------------------------------------------------------

def least_p(m: int, n: int) -> float:
    """The smallest two-sided p the exact Mann–Whitney test can give with ``m`` and ``n`` distinct samples:
    every one of one side above every one of the other (0.10 for 3 and 3, 0.029 for 4 and 4)."""
    return min(1.0, 2.0 / math.comb(m + n, m))


EXACT_UP_TO = 40  # repeats in both figures together up to which the test's exact distribution is used


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """The Mann–Whitney U test's two-sided p-value of ``a`` against ``b``; 1.0 when every value is the same.

    Exact for small samples (up to :data:`EXACT_UP_TO` repeats together), ties or not, so that it never goes
    below :func:`least_p` (scipy's normal approximation, which it would use for tied repeats, gives 0.047 for
    three repeats against three all tied); the normal approximation, corrected for ties, beyond."""
    if len(set(a) | set(b)) <= 1:
        return 1.0
    from scipy.stats import mannwhitneyu

    method: Literal["exact", "asymptotic"] = "exact" if len(a) + len(b) <= EXACT_UP_TO else "asymptotic"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = float(mannwhitneyu(a, b, alternative="two-sided", method=method).pvalue)
    return min(max(p, 0.0), 1.0) if math.isfinite(p) else 1.0


def _ratio(top: float, bottom: float) -> float | None:
    """``top / bottom`` when it is a ratio of two figures of one sign (``bottom`` above 0, ``top`` not
    below), finite; None otherwise (unbounded, or no ratio)."""
    if bottom <= 0 or top < 0:
        return None
    ratio = top / bottom
    return ratio if math.isfinite(ratio) else None


def _pct(share: float) -> str:
    return f"{share:+.1%}"


@dataclass(frozen=True)
class Row:
    """One figure in both results, and what changed."""

    name: str
    base: Figure
    new: Figure
    ratio: float | None  # new / base of the medians; None when base's median is not above 0
    ratio_low: float | None  # new.low / base.high; None: no ratio
    ratio_high: float | None  # new.high / base.low; None: unbounded (base.low is 0)
    coverage: float  # the ratio's interval holds the true ratio with at least this: base.confidence * new.confidence
    p_value: float | None  # Mann–Whitney U, two-sided, on the repeats each used; None: not computed (exact, too few)
    verdict: Verdict
    reason: str  # why that verdict, one phrase

    @property
    def unit(self) -> str:
        return self.base.unit

    @property
    def better(self) -> Literal["higher", "lower"]:
        return self.base.better

    @property
    def timed(self) -> bool:
        return self.base.timed

    @property
    def change(self) -> float | None:
        """new / base - 1 of the medians (+0.123: 12.3% higher)."""
        return None if self.ratio is None else self.ratio - 1.0

    @property
    def improvement(self) -> float | None:
        """The change signed so that + is better: a rate 12.3% higher or a time 12.3% lower is +0.123."""
        change = self.change
        if change is None:
            return None
        return change if self.better == "higher" else -change

    def change_text(self) -> str:
        """``+12.3% faster``, ``-4.0% slower``, ``+2.1% larger``, ``same``: the change in the direction of ``better``
        (pyperf's way: said whether or not the change is significant; the verdict says that)."""
        if not self.timed:
            change = self.change
            if self.verdict == "same":
                return "same"
            return f"{_pct(change)} {self.verdict}" if change is not None else self.verdict
        gain = self.improvement
        if gain is None:
            return "no ratio"
        if gain == 0:
            return "+0.0%"
        return f"{_pct(gain)} {'faster' if gain > 0 else 'slower'}"

    @property
    def slowdown(self) -> float | None:
        """How much worse the figure got, as a share (0.2: 20% slower), for a slower verdict; 0 otherwise."""
        if self.verdict != "slower":
            return 0.0
        gain = self.improvement
        return None if gain is None else max(-gain, 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "better": self.better, "timed": self.timed, "base": _side(self.base),
                "new": _side(self.new), "ratio": self.ratio, "ratio_low": self.ratio_low, "ratio_high": self.ratio_high,
                "coverage": self.coverage, "p_value": self.p_value, "change": self.change, "improvement": self.improvement,
                "change_text": self.change_text(), "verdict": self.verdict, "reason": self.reason}


def _side(f: Figure) -> dict[str, Any]:
    """One result's figure as a comparison's row shows it."""
    return {"value": f.value, "low": f.low, "high": f.high, "confidence": f.confidence, "cv": f.cv, "status": f.status,
            "repeats": f.repeats, "repeats_used": len(f.used)}


def _used(f: Figure) -> list[float]:
    return [f.samples[i] for i in f.used]


def compare_figures(name: str, base: Figure, new: Figure) -> Row:
    """The row of figure ``name``, measured as ``base`` and then as ``new`` (see the module's docstring)."""
    ratio = _ratio(new.value, base.value)
    ratio_low = _ratio(new.low, base.high)
    ratio_high = _ratio(new.high, base.low)
    coverage = base.confidence * new.confidence

    def row(verdict: Verdict, reason: str, p: float | None = None) -> Row:
        return Row(name, base, new, ratio, ratio_low, ratio_high, coverage, p, verdict, reason)

    if not (base.timed and new.timed):
        if new.value == base.value:
            return row("same", "counted exactly: equal")
        return row("larger" if new.value > base.value else "smaller", "counted exactly")
    disturbed = [side for side, f in (("base", base), ("new", new)) if f.status == "disturbed"]
    if disturbed:
        f = base if disturbed[0] == "base" else new
        what = f"; {f.busy_reasons[0]}" if f.busy_reasons else ""
        return row("too noisy to call", f"{' and '.join(disturbed)} measured on a busy machine{what}")
    few = [(side, len(f.used)) for side, f in (("base", base), ("new", new)) if len(f.used) < MIN_SPREAD_REPEATS]
    if few:
        side, n = few[0]
        return row("too noisy to call", f"{side} used {n} repeat{'s' if n != 1 else ''}: {MIN_SPREAD_REPEATS} are needed to call a change")
    a, b = _used(base), _used(new)
    p = mann_whitney_p(a, b)
    higher, lower = new.low > base.high, new.high < base.low  # the ratio's interval above 1, below 1
    if not (higher or lower):
        return row("no significant change", "the intervals of the medians overlap (the ratio's holds 1)", p)
    if p >= ALPHA:
        least = least_p(len(a), len(b))
        few_repeats = (f": {len(a)} and {len(b)} repeats cannot get below {least:.2f}; 4 each can" if least >= ALPHA else "")
        return row("too noisy to call", f"the intervals do not overlap, but the rank test's p={p:.3f} is not below {ALPHA:g}{few_repeats}", p)
    faster = higher if base.better == "higher" else lower
    return row("faster" if faster else "slower", f"the ratio's interval excludes 1 and p={p:.3f}", p)


@dataclass(frozen=True)
class Comparison:
    """Two results of the same kind, figure by figure."""

    kind: str
    base_origin: str  # the base result's file (or "base")
    new_origin: str
    base_figures: dict[str, Figure]
    new_figures: dict[str, Figure]
    rows: tuple[Row, ...]  # the figures in both, in the base's order
    only_in_base: tuple[str, ...]
    only_in_new: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        """How many figures have each verdict (every timed verdict, then the exact ones and the unmatched, when any)."""
        counts = {v: sum(r.verdict == v for r in self.rows) for v in COMPARE_VERDICTS}
        return counts | {"only in base": len(self.only_in_base), "only in new": len(self.only_in_new)}

    def summary(self) -> str:
        """``2 faster, 1 slower, 3 no significant change, 1 too noisy to call``, then, when there are any, the
        figures counted exactly (``counted exactly: 2 same, 1 larger``) and those in one result only."""
        counts = self.counts()
        line = ", ".join(f"{counts[v]} {v}" for v in TIMED_VERDICTS)
        exact = [f"{counts[v]} {v}" for v in EXACT_VERDICTS if counts[v]]
        if exact:
            line += "; counted exactly: " + ", ".join(exact)
        alone = [f"{counts[k]} {k}" for k in ("only in base", "only in new") if counts[k]]
        if alone:
            line += "; " + ", ".join(alone)
        return line

    def regressions(self, pct: float) -> list[Row]:
        """The rows judged slower by more than ``pct`` percent (a slower figure without a ratio counts too)."""
        return [r for r in self.rows if r.verdict == "slower" and (r.slowdown is None or r.slowdown * 100 > pct)]

    def too_noisy(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == "too noisy to call"]

    def as_dict(self, fail_on_regression: float | None = None) -> dict[str, Any]:
        regressions = self.regressions(fail_on_regression) if fail_on_regression is not None else []
        return {
            "kind": "compare",
            "base": {"file": self.base_origin, "kind": self.kind},
            "new": {"file": self.new_origin, "kind": self.kind},
            "alpha": ALPHA,
            "rows": [r.as_dict() for r in self.rows],
            "only_in_base": list(self.only_in_base),
            "only_in_new": list(self.only_in_new),
            "summary": self.counts(),
            "summary_text": self.summary(),
            "fail_on_regression": fail_on_regression,
            "regressions": [r.name for r in regressions],
            "figures": {},  # compare measures nothing itself
        }


def compare(base: Mapping[str, Any], new: Mapping[str, Any], base_origin: str = "base", new_origin: str = "new") -> Comparison:
    """``new`` against ``base`` (two results' JSON, as :func:`read_result` reads them), figure by figure; a
    record that is not a figure, results of two kinds, or no figure in common is one :class:`InputError`
    naming the file (``base_origin``, ``new_origin``) and the key."""
    b, n = _record(base, base_origin), _record(new, new_origin)
    if b.kind != n.kind:
        raise InputError(f"{base_origin} is a {b.kind!r} result and {new_origin} a {n.kind!r} result: compare two results of one kind")
    _whole(b.kind, base, base_origin)
    _whole(n.kind, new, new_origin)
    base_figures = {name: record.figure() for name, record in b.figures.items()}
    new_figures = {name: record.figure() for name, record in n.figures.items()}
    common = [name for name in base_figures if name in new_figures]
    if not common:
        raise InputError(f"{base_origin} and {new_origin} share no figure ({len(base_figures)} and {len(new_figures)} figures): "
                         "nothing to compare")
    for name in common:
        bf, nf = base_figures[name], new_figures[name]
        for key in ("unit", "better", "timed"):
            if getattr(bf, key) != getattr(nf, key):
                raise InputError(f"{new_origin}: {_key(('figures', name, key))}={getattr(nf, key)!r}: {base_origin} has "
                                 f"{getattr(bf, key)!r}; a figure must keep its {key} to be compared")
    rows = tuple(compare_figures(name, base_figures[name], new_figures[name]) for name in common)
    return Comparison(kind=b.kind, base_origin=base_origin, new_origin=new_origin, base_figures=base_figures, new_figures=new_figures,
                      rows=rows, only_in_base=tuple(k for k in base_figures if k not in new_figures),
                      only_in_new=tuple(k for k in new_figures if k not in base_figures))
