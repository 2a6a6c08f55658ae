"""A saved figure's schema (:meth:`lxdex_capacity.measure.Figure.as_dict` as a result file holds it): one record,
read by ``lxdex compare`` and by every result file that carries figures (simulate.json's ``throughput.batches``, a
report's ``figures``, a plan's latency-SLO ``capacity``).  Beyond types and ranges, a figure must hold together: its
value is the median of the repeats it used, its interval lies within them, its indices name repeats it has."""

from __future__ import annotations

import math
import statistics
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ..physics import MAX_CLOCK_GHZ, MAX_LOGICAL_CPUS
from ..schema import FILE_CONFIG, Count, Name, NonNegative, Share, error_at
from .figure import Figure
from .state import MachineState

__all__ = ["FigureRecord", "MachineRecord", "MAX_SAMPLES", "MAX_FIGURES", "MAX_MAGNITUDE"]

MAX_MAGNITUDE = 1e21  # a figure's value in any unit: a zettabyte, 10^21 per second, beyond any machine
MAX_SAMPLES = 100_000  # repeats in one figure (measure.runner allows 1,000)
MAX_FIGURES = 10_000


def _one_line(value: str) -> str:
    """A text shown in one line (may be empty): no control characters, which would forge a line of output."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must be one line of text, without control characters")
    return value


Number = Annotated[float, Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE, allow_inf_nan=False)]
Text = Annotated[str, Field(max_length=10_000), AfterValidator(_one_line)]
Unit = Annotated[str, Field(max_length=100), AfterValidator(_one_line)]
Index = Annotated[int, Field(ge=0, lt=MAX_SAMPLES)]
Kind = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_-]*$")]


class MachineRecord(BaseModel):
    """A figure's ``machine`` (:meth:`~lxdex_capacity.measure.MachineState.as_dict`); its derived keys
    (``busy``, ``busy_reasons``) are recomputed, not read."""

    model_config = ConfigDict(**{**FILE_CONFIG, "extra": "ignore"})

    seconds: NonNegative
    cpus: Annotated[int, Field(ge=1, le=MAX_LOGICAL_CPUS)]  # lxdex_capacity.physics
    own_cores: NonNegative
    other_cores: NonNegative
    steal_share: Share
    interrupt_share: Share
    spin_lost_share: Share | None = None
    load_1m: NonNegative
    runnable: Count
    frequency_mhz: Annotated[float, Field(ge=0, le=MAX_CLOCK_GHZ * 1000, allow_inf_nan=False)] | None = None  # physics


class FigureRecord(BaseModel):
    """One figure as a result holds it (:meth:`~lxdex_capacity.measure.Figure.as_dict`).  Keys a command
    adds beyond these (``Figure.extra``) are kept, unread."""

    model_config = ConfigDict(**{**FILE_CONFIG, "extra": "allow"})

    name: Name
    unit: Unit
    better: Literal["higher", "lower"]
    value: Number
    low: Number
    high: Number
    confidence: Share
    cv: NonNegative = 0.0
    repeats: Annotated[int, Field(ge=1, le=MAX_SAMPLES)] | None = None
    samples: Annotated[list[Number], Field(min_length=1, max_length=MAX_SAMPLES)]
    used: Annotated[list[Index], Field(min_length=1, max_length=MAX_SAMPLES)]
    disturbed: Annotated[list[Index], Field(max_length=MAX_SAMPLES)] = []
    outliers: Annotated[list[Index], Field(max_length=MAX_SAMPLES)] = []
    status: Literal["stable", "noisy", "disturbed"]
    reason: Text = ""
    timed: bool
    machine: MachineRecord | None = None
    busy_reasons: Annotated[list[Text], Field(max_length=100)] = []
    stop: Text = ""
    warmup: Annotated[int, Field(ge=0, le=10_000)] = 0

    @model_validator(mode="after")
    def _consistent(self) -> FigureRecord:
        if self.low > self.value:
            raise error_at(("low",), self.low, f"must be at most value={self.value!r} (the interval holds the median)")
        if self.high < self.value:
            raise error_at(("high",), self.high, f"must be at least value={self.value!r} (the interval holds the median)")
        n = len(self.samples)
        if self.repeats is not None and self.repeats != n:
            raise error_at(("repeats",), self.repeats, f"must be the number of samples ({n})")
        for key in ("used", "disturbed", "outliers"):
            indices = getattr(self, key)
            for i, index in enumerate(indices):
                if index >= n:
                    raise error_at((key, i), index, f"names a repeat beyond the {n} samples")
                if i and index <= indices[i - 1]:
                    raise error_at((key, i), index, "repeats must be named in increasing order, each once")
        used = [self.samples[i] for i in self.used]
        if used and not math.isclose(self.value, statistics.median(used), rel_tol=1e-9, abs_tol=1e-12):
            raise error_at(("value",), self.value, f"must be the median of the repeats it used ({statistics.median(used)!r})")
        if used and not (min(used) <= self.low and self.high <= max(used)):
            raise error_at(("low",), self.low, f"the interval {self.low!r}..{self.high!r} must lie within the repeats it used "
                                               f"({min(used)!r}..{max(used)!r})")
        return self

    def figure(self) -> Figure:
        """This record as a :class:`~lxdex_capacity.measure.Figure`."""
        machine = MachineState(**self.machine.model_dump()) if self.machine is not None else None
        return Figure(name=self.name, unit=self.unit, better=self.better, value=self.value, low=self.low, high=self.high,
                      confidence=self.confidence, cv=self.cv, samples=tuple(self.samples), used=tuple(self.used),
                      disturbed=tuple(self.disturbed), outliers=tuple(self.outliers), status=self.status, reason=self.reason,
                      timed=self.timed, machine=machine, busy_reasons=tuple(self.busy_reasons), stop=self.stop, warmup=self.warmup,
                      extra=dict(self.model_extra or {}))


