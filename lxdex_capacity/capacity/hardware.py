"""Hardware profiles: buyable machine configurations (chip and memory size) with their sources.

The built-in table lives in ``data/hardware.toml``; users add their own with a TOML file of the
same shape (:func:`load_profiles`).  A profile is one configuration, e.g. "Mac Studio M2 Ultra
192 GB".  Memory is binary (GiB, which is what Apple's "GB" of unified memory are); bandwidth is
decimal GB/s.  Asking for a name that does not exist names the closest real ones.

A file is checked by :class:`HardwareFile` (:mod:`lxdex_capacity.schema`): strict types, no unknown
keys, finite numbers in physical ranges (:data:`LIMITS`), one price per memory size, distinct sizes
and profile names.  Whatever is wrong is one :class:`~lxdex_capacity.errors.InputError` naming the
file, the line and the key, e.g. ``hw.toml: line 9: machine[0].memory_gib[0]=inf: input should be a
finite number``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..errors import InputError
from ..schema import FileModel, error_at, error_message, one_line_text, read_text, read_toml, validate
from .core_rate import ProfileMemory
from .hierarchy import Level

__all__ = ["HardwareProfile", "HardwareFile", "MachineEntry", "LIMITS", "builtin_profiles", "load_profiles",
           "profiles_from_toml", "find_profile", "GIB"]

GIB = 1 << 30
Kind = Literal["apple", "cloud", "server", "custom"]
KINDS: tuple[str, ...] = get_args(Kind)

# The physical range of each figure of one machine: anything outside is a typo or a unit mistake.
LIMITS: dict[str, tuple[float, float]] = {
    "memory_gib": (0.5, 65_536.0),  # 512 MiB to 64 TiB
    "bandwidth_gb_s": (0.0, 100_000.0),  # above 0, at most 100 TB/s
    "max_power_w": (0.0, 100_000.0),  # above 0, at most 100 kW (a rack)
    "price_usd": (0.0, 100_000_000.0),  # above 0, at most $100M for one machine
    "price_usd_hour": (0.0, 10_000.0),  # above 0, at most $10,000 an hour
    "year": (1970, 2100),
    "p_cores": (1, 4096),
    "e_cores": (0, 4096),
    "gpu_cores": (0, 1_000_000),
    "orders_per_s_per_core": (0.0, 1e10),  # above 0, at most 10 billion orders/s on one core
    # The memory hierarchy (the per-core rate model's inputs): a figure outside is a typo or a unit mistake.
    "clock_ghz": (0.1, 10.0),
    "l1d_kib": (1, 16_384),
    "l2_kib": (0, 1 << 20),  # up to 1 GiB
    "l3_mib": (0, 1 << 16),  # up to 64 GiB
    "slc_mib": (0, 1 << 16),
    "shared_by": (0, 4096),
    "cache_latency_ns": (0.0, 1_000.0),  # 0: the level does not exist
    "memory_latency_ns": (10.0, 10_000.0),
}
CACHE_LINE_BYTES = (32, 64, 128, 256)
L1D_CYCLES = 4.0  # an L1d hit, on every core planned for (3 to 5): it serves the hottest few KiB, and little hangs on it
MIN_CACHE_LATENCY_NS = 0.1  # a cache level's latency, when there is one: nothing answers faster
HIERARCHY_KEYS = ("clock_ghz", "cache_line_bytes", "l1d_kib", "l2_kib", "l2_shared_by", "l3_mib", "l3_shared_by", "slc_mib",
                  "l2_latency_ns", "l3_latency_ns", "slc_latency_ns", "memory_latency_ns", "hierarchy_source")
MAX_MEMORY_SIZES = 64  # memory sizes one [[machine]] table may list


def _within(key: str, *, open_low: bool = False) -> Any:
    low, high = LIMITS[key]
    return Field(gt=low, le=high) if open_low else Field(ge=low, le=high)


Text = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(one_line_text)]  # a name: non-blank, one line
LongText = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(one_line_text)]  # a description or source
MemoryGiB = Annotated[float, _within("memory_gib")]
PriceUSD = Annotated[float, _within("price_usd", open_low=True)]
PriceUSDHour = Annotated[float, _within("price_usd_hour", open_low=True)]


class MachineEntry(FileModel):
    """One ``[[machine]]`` table: a chip configuration, sold in one or more memory sizes."""

    machine: Text
    chip: Text
    name: Text | None = None  # default "<machine> <chip>"; the memory size is added when there are several
    kind: Kind = "custom"
    year: Annotated[int, _within("year")] | None = None
    cpu: LongText | None = None
    p_cores: Annotated[int, _within("p_cores")]
    e_cores: Annotated[int, _within("e_cores")] = 0
    gpu_cores: Annotated[int, _within("gpu_cores")] | None = None
    bandwidth_gb_s: Annotated[float, _within("bandwidth_gb_s", open_low=True)] | None = None
    max_power_w: Annotated[float, _within("max_power_w", open_low=True)] | None = None
    memory_gib: Annotated[list[MemoryGiB], Field(min_length=1, max_length=MAX_MEMORY_SIZES)]
    price_usd: Annotated[list[PriceUSD], Field(min_length=1, max_length=MAX_MEMORY_SIZES)] | None = None
    price_usd_hour: Annotated[list[PriceUSDHour], Field(min_length=1, max_length=MAX_MEMORY_SIZES)] | None = None
    # Orders/s one core of this machine sustained, as the user measured it (lxdex simulate on it):
    # plan uses it instead of extrapolating the capacity model's one-core rate.
    orders_per_s_per_core: Annotated[float, _within("orders_per_s_per_core", open_low=True)] | None = None
    source: LongText
    # The memory hierarchy, each figure as published (see data/hardware.toml's header): the per-core rate model's inputs.
    clock_ghz: Annotated[float, _within("clock_ghz")] | None = None
    cache_line_bytes: Literal[32, 64, 128, 256] | None = None
    l1d_kib: Annotated[int, _within("l1d_kib")] | None = None
    l2_kib: Annotated[int, _within("l2_kib")] | None = None
    l2_shared_by: Annotated[int, _within("shared_by")] | None = None
    l3_mib: Annotated[float, _within("l3_mib")] | None = None
    l3_shared_by: Annotated[int, _within("shared_by")] | None = None
    slc_mib: Annotated[float, _within("slc_mib")] | None = None
    l2_latency_ns: Annotated[float, _within("cache_latency_ns")] | None = None
    l3_latency_ns: Annotated[float, _within("cache_latency_ns")] | None = None
    slc_latency_ns: Annotated[float, _within("cache_latency_ns")] | None = None
    memory_latency_ns: Annotated[float, _within("memory_latency_ns")] | None = None
    hierarchy_source: LongText | None = None

    @model_validator(mode="after")
    def _hierarchy(self) -> MachineEntry:
        """All of the hierarchy or none of it; each level present with its latency, farther levels slower."""
        given = {k: getattr(self, k) for k in HIERARCHY_KEYS}
        if all(v is None for v in given.values()):
            return self
        missing = [k for k, v in given.items() if v is None]
        if missing:
            raise ValueError(f"{', '.join(missing)} missing: a memory hierarchy needs every one of {', '.join(HIERARCHY_KEYS)}, "
                             "or none of them")
        assert self.clock_ghz is not None
        for size, floor, unit in (("l2_kib", 16, "KiB"), ("l3_mib", 0.25, "MiB"), ("slc_mib", 0.25, "MiB")):
            if 0 < getattr(self, size) < floor:
                raise error_at((size,), getattr(self, size), f"must be 0 (no such cache) or at least {floor:g} {unit}")
        for latency in ("l2_latency_ns", "l3_latency_ns", "slc_latency_ns"):
            if 0 < getattr(self, latency) < MIN_CACHE_LATENCY_NS:
                raise error_at((latency,), getattr(self, latency), f"must be 0 (no such cache) or at least {MIN_CACHE_LATENCY_NS:g} ns")
        # L1d is taken at L1D_CYCLES cycles of the clock: every farther level must be slower than that.
        previous, previous_name = L1D_CYCLES / self.clock_ghz, "L1d"
        for size, shared, latency in (("l2_kib", "l2_shared_by", "l2_latency_ns"), ("l3_mib", "l3_shared_by", "l3_latency_ns"),
                                      ("slc_mib", None, "slc_latency_ns")):
            present = getattr(self, size) > 0
            if present != (getattr(self, latency) > 0):
                raise error_at((latency,), getattr(self, latency), f"must be above 0 exactly when {size} is ({getattr(self, size)!r})")
            if shared is not None and present and getattr(self, shared) < 1:
                raise error_at((shared,), getattr(self, shared), f"at least 1 core shares the {size.split('_')[0].upper()} there is")
            if present:
                if getattr(self, latency) <= previous:
                    raise error_at((latency,), getattr(self, latency), f"must be above {previous_name}'s latency ({previous!r} ns): "
                                                                       "a farther level is slower")
                previous, previous_name = getattr(self, latency), size.split("_")[0].upper()
        assert self.memory_latency_ns is not None
        if self.memory_latency_ns <= previous:
            raise error_at(("memory_latency_ns",), self.memory_latency_ns, f"must be above {previous_name}'s latency ({previous!r} ns)")
        return self

    @model_validator(mode="before")
    @classmethod
    def _a_table(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise PydanticCustomError("machine_table", "each machine must be a table of keys ([[machine]])")
        return data

    @field_validator("memory_gib")
    @classmethod
    def _distinct(cls, sizes: list[float]) -> list[float]:
        for j, size in enumerate(sizes):
            if size in sizes[:j]:
                raise error_at((j,), size, f"memory_gib[{sizes.index(size)}] is {size:g} GiB already: each memory size once")
        return sizes

    @field_validator("price_usd", "price_usd_hour")
    @classmethod
    def _one_per_size(cls, prices: list[float] | None, info: ValidationInfo) -> list[float] | None:
        sizes = info.data.get("memory_gib")
        if prices is not None and sizes is not None and len(prices) != len(sizes):
            listed = ", ".join(f"{s:g}" for s in sizes)
            raise ValueError(f"must list one price per memory size: {len(prices)} price(s) for {len(sizes)} size(s) ({listed} GiB)")
        return prices

    def memory(self) -> ProfileMemory | None:
        """The hierarchy in the per-core rate model's terms (:class:`~.core_rate.ProfileMemory`), or None when not given."""
        if self.clock_ghz is None or self.memory_latency_ns is None:
            return None
        assert self.l1d_kib is not None and self.l2_kib is not None and self.l2_latency_ns is not None
        assert self.l3_mib is not None and self.slc_mib is not None and self.cache_line_bytes is not None
        levels = [Level("L1d", self.l1d_kib * 1024.0, L1D_CYCLES / self.clock_ghz, 1, self.l1d_kib * 1024)]
        if self.l2_kib:
            shared = self.l2_shared_by or 1
            levels.append(Level("L2", self.l2_kib * 1024.0, self.l2_latency_ns, shared, self.l2_kib * 1024, max(self.p_cores // shared, 1)))
        if self.l3_mib:
            shared = self.l3_shared_by or 1
            levels.append(Level("L3", self.l3_mib * 2.0**20, self.l3_latency_ns or 0.0, shared, int(self.l3_mib * 2**20),
                                max(self.p_cores // shared, 1)))
        if self.slc_mib:
            levels.append(Level("SLC", self.slc_mib * 2.0**20, self.slc_latency_ns or 0.0, self.p_cores + self.e_cores, int(self.slc_mib * 2**20)))
        levels.append(Level("DRAM", float("inf"), self.memory_latency_ns, 0, 0))
        return ProfileMemory(self.clock_ghz, tuple(levels), self.bandwidth_gb_s, self.cache_line_bytes)

    def profiles(self) -> list[HardwareProfile]:
        """One profile per memory size."""
        base = self.name or f"{self.machine} {self.chip}"
        out = []
        for i, gib in enumerate(self.memory_gib):
            out.append(HardwareProfile(
                # Cloud instances come in one size and are named as sold; others carry their memory size.
                name=base if len(self.memory_gib) == 1 and self.name is not None else f"{base} {_format_gib(gib)} GB",
                machine=self.machine,
                chip=self.chip,
                kind=self.kind,
                year=self.year,
                cpu=self.cpu if self.cpu is not None else f"{self.p_cores} cores",
                p_cores=self.p_cores,
                e_cores=self.e_cores,
                gpu_cores=self.gpu_cores,
                memory_gib=gib,
                memory_options_gib=tuple(self.memory_gib),
                bandwidth_gb_s=self.bandwidth_gb_s,
                max_power_w=self.max_power_w,
                price_usd=self.price_usd[i] if self.price_usd is not None else None,
                price_usd_hour=self.price_usd_hour[i] if self.price_usd_hour is not None else None,
                source=self.source,
                orders_per_s_per_core=self.orders_per_s_per_core,
                memory=self.memory(),
                hierarchy_source=self.hierarchy_source,
            ))
        return out


class HardwareFile(FileModel):
    """A hardware TOML file: one or more ``[[machine]]`` tables."""

    # Not "required", so that a misspelt table ([[machines]]) is reported as the unknown key it is.
    machine: Annotated[list[MachineEntry], Field(max_length=10_000)] = Field(default_factory=list)

    @field_validator("machine", mode="before")
    @classmethod
    def _array_of_tables(cls, value: Any) -> Any:
        if isinstance(value, dict):
            raise ValueError("must be an array of tables: write [[machine]], not [machine]")
        return value

    @model_validator(mode="after")
    def _some(self) -> HardwareFile:
        if not self.machine:
            raise ValueError("no [[machine]] tables: a hardware file describes one or more machines")
        return self


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    machine: str
    chip: str
    kind: str  # apple, cloud, server or custom
    year: int | None
    cpu: str
    p_cores: int
    e_cores: int
    gpu_cores: int | None
    memory_gib: float
    memory_options_gib: tuple[float, ...]  # every size this chip configuration comes with
    bandwidth_gb_s: float | None
    max_power_w: float | None
    price_usd: float | None
    price_usd_hour: float | None
    source: str
    orders_per_s_per_core: float | None = None  # user-given (measured on the machine); None: modelled or extrapolated by plan
    memory: ProfileMemory | None = None  # the memory hierarchy (the per-core rate model's inputs); None: not given
    hierarchy_source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["memory_options_gib"] = list(self.memory_options_gib)
        out["memory_bytes"] = self.memory_bytes
        out["memory"] = self.memory.as_dict() if self.memory is not None else None
        return out

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * GIB)



def _format_gib(value: float) -> str:
    return f"{value:g}"


def profiles_from_toml(text: str, origin: str, taken: dict[str, str] | None = None) -> list[HardwareProfile]:
    """Parse a hardware TOML document (``[[machine]]`` tables); errors name ``origin``, the line and the key.
    ``taken`` maps the normalised names of profiles already defined elsewhere to where (they may not be reused)."""
    data = validate(HardwareFile, read_toml(text, origin), origin, text)
    expanded = [(i, entry, entry.profiles()) for i, entry in enumerate(data.machine)]
    # A chip's memory options span all its core-count configurations (M3 Ultra: 96, 256 or 512 GB).
    options: dict[tuple[str, str], set[float]] = {}
    for _, entry, _ in expanded:
        options.setdefault((entry.machine, entry.chip), set()).update(entry.memory_gib)
    seen = dict(taken or {})
    profiles = []
    for i, entry, entry_profiles in expanded:
        for j, p in enumerate(entry_profiles):
            key = _normalise(p.name)
            if key in seen:
                loc: tuple[str | int, ...] = ("machine", i, "name") if entry.name is not None else ("machine", i, "memory_gib", j)
                value: Any = entry.name if entry.name is not None else p.memory_gib
                raise _duplicate(p.name, seen[key], loc, value, origin, text)
            seen[key] = f"machine[{i}]"
            profiles.append(replace(p, memory_options_gib=tuple(sorted(options[p.machine, p.chip]))))
    return profiles


def _duplicate(name: str, first: str, loc: tuple[str | int, ...], value: Any, origin: str, text: str) -> InputError:
    """The one-line error for a profile name defined twice (the line and key of the second definition)."""
    exc = error_at(loc, value, f"profile {name!r} is defined twice (first in {first})")
    return InputError(error_message(exc, origin, HardwareFile, text))


def _builtin_text() -> str:
    return resources.files(__package__).joinpath("data/hardware.toml").read_text(encoding="utf-8")


def builtin_profiles() -> list[HardwareProfile]:
    return profiles_from_toml(_builtin_text(), "built-in hardware.toml")


def load_profiles(extra: str | Path | None = None, only_extra: bool = False) -> list[HardwareProfile]:
    """Built-in profiles plus those of the TOML file ``extra`` (which may not reuse a built-in name)."""
    profiles = [] if only_extra else builtin_profiles()
    if extra is not None:
        text = read_text(extra, "hardware file")
        taken = {_normalise(p.name): "the built-in hardware table" for p in profiles}
        profiles = profiles + profiles_from_toml(text, str(extra), taken)
    return profiles


def _normalise(name: str) -> str:
    """Case, spacing and GB/GiB spelling do not matter: 'mac studio m2 ultra 192gb' finds the profile."""
    name = name.lower().replace("gib", "gb")
    name = re.sub(r"(\d)\s*gb\b", r"\1 gb", name)
    return " ".join(name.split())


def find_profile(name: str, profiles: list[HardwareProfile]) -> HardwareProfile:
    """The profile called ``name``; otherwise an :class:`InputError` naming the closest real ones."""
    wanted = _normalise(name)
    for p in profiles:
        if _normalise(p.name) == wanted:
            return p
    raise InputError(f"no hardware profile {name!r}; {_suggest(wanted, profiles)}")


def _suggest(wanted: str, profiles: list[HardwareProfile]) -> str:
    hints = []
    size = re.search(r"(\d+(?:\.\d+)?) gb\b", wanted)
    family = wanted[: size.start()].strip() if size else wanted
    same_chip = [p for p in profiles if _normalise(f"{p.machine} {p.chip}") == family]
    if same_chip:
        sizes = sorted({g for p in same_chip for g in p.memory_options_gib})
        hints.append(f"{same_chip[0].machine} {same_chip[0].chip} comes with {_or(sizes)} GB")
    if size:
        gib = float(size.group(1))
        with_size = [p.name for p in profiles if p.memory_gib == gib and p not in same_chip]
        if with_size:
            hints.append(f"{_format_gib(gib)} GB comes with: {', '.join(with_size)}")
    names = {_normalise(p.name): p.name for p in profiles}
    close = difflib.get_close_matches(wanted, list(names), n=3, cutoff=0.5)
    if close:
        hints.append("closest: " + "; ".join(names[c] for c in close))
    if not hints:
        hints.append("see 'lxdex hardware list'")
    return "; ".join(hints)


def _or(sizes: list[float]) -> str:
    text = [_format_gib(s) for s in sizes]
    return text[0] if len(text) == 1 else f"{', '.join(text[:-1])} or {text[-1]}"
