"""Hardware profiles: buyable machine configurations (chip and memory size) with their sources.

The built-in table lives in ``data/hardware.toml``; users add their own with a TOML file of the
same shape (:func:`load_profiles`).  A profile is one configuration, e.g. "Mac Studio M2 Ultra
192 GB".  Memory is binary (GiB, which is what Apple's "GB" of unified memory are); bandwidth is
decimal GB/s.  Asking for a name that does not exist names the closest real ones.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..validation import read_input_file

__all__ = ["HardwareProfile", "builtin_profiles", "load_profiles", "profiles_from_toml", "find_profile", "GIB"]

GIB = 1 << 30
KINDS = ("apple", "cloud", "server", "custom")


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

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * GIB)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["memory_options_gib"] = list(self.memory_options_gib)
        out["memory_bytes"] = self.memory_bytes
        return out


# Keys of a [[machine]] table: (type(s), required).
_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "machine": ((str,), True),
    "chip": ((str,), True),
    "name": ((str,), False),
    "kind": ((str,), False),
    "year": ((int,), False),
    "cpu": ((str,), False),
    "p_cores": ((int,), True),
    "e_cores": ((int,), False),
    "gpu_cores": ((int,), False),
    "bandwidth_gb_s": ((int, float), False),
    "max_power_w": ((int, float), False),
    "memory_gib": ((list,), True),
    "price_usd": ((list,), False),
    "price_usd_hour": ((list,), False),
    "source": ((str,), True),
}


def _format_gib(value: float) -> str:
    return f"{value:g}"


def _expand(entry: dict[str, Any], where: str) -> list[HardwareProfile]:
    """One [[machine]] table -> one profile per memory size."""
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(_FIELDS)})")
    for key, (types, required) in _FIELDS.items():
        if key not in entry:
            if required:
                raise InputError(f"{where}: {key} is required")
            continue
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise InputError(f"{where}: {key}={value!r} must be {' or '.join(t.__name__ for t in types)}")
    memory = entry["memory_gib"]
    if not memory or not all(isinstance(m, (int, float)) and not isinstance(m, bool) and m > 0 for m in memory):
        raise InputError(f"{where}: memory_gib={memory!r} must be a list of positive sizes in GiB")
    for key in ("price_usd", "price_usd_hour"):
        prices = entry.get(key)
        if prices is not None and (len(prices) != len(memory) or not all(isinstance(p, (int, float)) and p >= 0 for p in prices)):
            raise InputError(f"{where}: {key} must list one non-negative price per memory size ({len(memory)})")
    if entry["p_cores"] < 1 or entry.get("e_cores", 0) < 0:
        raise InputError(f"{where}: p_cores must be at least 1 and e_cores at least 0")
    kind = entry.get("kind", "custom")
    if kind not in KINDS:
        raise InputError(f"{where}: kind={kind!r} must be one of {', '.join(KINDS)}")
    base = entry.get("name") or f"{entry['machine']} {entry['chip']}"
    profiles = []
    for i, gib in enumerate(memory):
        # Cloud instances come in one size and are named as sold; others carry their memory size.
        name = base if len(memory) == 1 and "name" in entry else f"{base} {_format_gib(gib)} GB"
        profiles.append(
            HardwareProfile(
                name=name,
                machine=entry["machine"],
                chip=entry["chip"],
                kind=kind,
                year=entry.get("year"),
                cpu=entry.get("cpu", f"{entry['p_cores']} cores"),
                p_cores=entry["p_cores"],
                e_cores=entry.get("e_cores", 0),
                gpu_cores=entry.get("gpu_cores"),
                memory_gib=gib,
                memory_options_gib=tuple(memory),
                bandwidth_gb_s=entry.get("bandwidth_gb_s"),
                max_power_w=entry.get("max_power_w"),
                price_usd=entry["price_usd"][i] if "price_usd" in entry else None,
                price_usd_hour=entry["price_usd_hour"][i] if "price_usd_hour" in entry else None,
                source=entry["source"],
            )
        )
    return profiles


def profiles_from_toml(text: str, origin: str) -> list[HardwareProfile]:
    """Parse a hardware TOML document (``[[machine]]`` tables); errors name ``origin`` and the line or key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{origin}: malformed TOML: {exc}") from None
    unknown = sorted(set(data) - {"machine"})
    if unknown:
        raise InputError(f"{origin}: unknown top-level key {unknown[0]!r} (profiles go in [[machine]] tables)")
    machines = data.get("machine", [])
    if not isinstance(machines, list) or not machines:
        raise InputError(f"{origin}: no [[machine]] tables")
    profiles = [p for i, entry in enumerate(machines) for p in _expand(entry, f"{origin}: machine[{i}]")]
    # A chip's memory options span all its core-count configurations (M3 Ultra: 96, 256 or 512 GB).
    options: dict[tuple[str, str], set[float]] = {}
    for p in profiles:
        options.setdefault((p.machine, p.chip), set()).update(p.memory_options_gib)
    profiles = [replace(p, memory_options_gib=tuple(sorted(options[p.machine, p.chip]))) for p in profiles]
    return _unique(profiles, origin)


def _unique(profiles: list[HardwareProfile], origin: str) -> list[HardwareProfile]:
    seen: set[str] = set()
    for p in profiles:
        key = _normalise(p.name)
        if key in seen:
            raise InputError(f"{origin}: profile {p.name!r} is defined twice")
        seen.add(key)
    return profiles


def builtin_profiles() -> list[HardwareProfile]:
    text = resources.files(__package__).joinpath("data/hardware.toml").read_text(encoding="utf-8")
    return profiles_from_toml(text, "built-in hardware.toml")


def load_profiles(extra: str | Path | None = None, only_extra: bool = False) -> list[HardwareProfile]:
    """Built-in profiles plus those of the TOML file ``extra`` (which may not reuse a built-in name)."""
    profiles = [] if only_extra else builtin_profiles()
    if extra is not None:
        text = read_input_file(extra, "hardware file")
        profiles = _unique(profiles + profiles_from_toml(text, str(extra)), str(extra))
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
