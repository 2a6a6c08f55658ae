"""One measurement discipline for every speed and latency figure (``bench``, ``simulate``'s throughput,
``latency``, ``sweep``, ``plan --check``, ``plan --latency-slo``, ``audit``, ``report``, ``compare``).

* :mod:`.state`: the machine's state in the same window as each repeat (other processes' CPU time,
  steal, interruptions, load, frequency) and when that window counts as busy;
* :mod:`.figure`: a figure from its repeats (median, the interval of the median, spread, outliers,
  stable / noisy / disturbed) and verdicts against a target that cannot flip (holds / fails / too
  noisy to call);
* :mod:`.runner`: warm-up and repeats, a fixed number or adaptive (until the intervals are tight or
  a time budget is spent);
* :mod:`.compare`: two results of the same kind, figure by figure (``lxdex compare``).

Light: it imports neither numba nor the engine.
"""

from .figure import MIN_SPREAD_REPEATS, NOISY_CV, STATUSES, VERDICTS, Figure, exact, judge, median_interval, summarise
from .runner import Repeated, RepeatPolicy, Sample, run_repeats
from .state import MachineState, open_window

__all__ = ["Figure", "summarise", "exact", "judge", "median_interval", "VERDICTS", "STATUSES", "NOISY_CV", "RepeatPolicy", "Sample",
           "Repeated", "run_repeats", "MachineState", "open_window", "unsteady_line"]


def unsteady_line(figures: list[Figure]) -> str | None:
    """The one line a command prints on stderr when any of its timed ``figures`` was disturbed (or, failing
    that, noisy): what disturbed it and what to do; None when every figure is stable."""
    timed = [f for f in figures if f.timed]
    disturbed = [f for f in timed if f.status == "disturbed"]
    if disturbed:
        first = disturbed[0]
        reasons = (first.machine.busy_reasons() if first.machine is not None else []) or list(first.busy_reasons[:1])
        what = "; ".join(reasons) or "the machine was busy"
        return (f"warning: {len(disturbed)} of {len(timed)} figures measured while the machine was busy ({what}): they are marked "
                "'disturbed' and decide no verdict; stop the other work (top shows it) and run again")
    # Noisy by their spread: a figure of one or two runs (a smoke test, a short simulation) has none to speak of.
    noisy = [f for f in timed if f.status == "noisy" and len(f.used) >= MIN_SPREAD_REPEATS]
    if noisy:
        names = ", ".join(f.name for f in noisy[:3]) + (", ..." if len(noisy) > 3 else "")
        return (f"warning: {len(noisy)} of {len(timed)} figures are noisy ({names}: {noisy[0].reason}); their verdicts may be "
                "'too noisy to call': give more --repeats or a larger --time-budget")
    return None
