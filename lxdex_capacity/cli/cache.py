"""``lxdex cache info`` and ``lxdex cache clear``: numba's cache of lxdex's compiled kernels
(:func:`lxdex_capacity.kernel_cache.cache_report`, :func:`~lxdex_capacity.kernel_cache.clear_cache`).

The cache is the one this configuration uses (``NUMBA_CACHE_DIR`` if set and writable, else
``__pycache__`` beside the sources, else the user's cache folder, else a folder of the system's
temporary directory); only lxdex's files in it are counted or removed.
"""

from __future__ import annotations

from typing import Any

import typer

from ..console import Table, out
from ..units import binary_bytes
from .app import HelpGroup, app
from .options import json_option
from .render import print_json

cache_app = typer.Typer(help="numba's cache of lxdex's compiled kernels: where it is, what it holds; clearing it.",
                        no_args_is_help=True, cls=HelpGroup)
app.add_typer(cache_app, name="cache")


def _print_info(info: dict[str, Any]) -> None:
    folders = info["folders"]
    out.print("cache folders: " + (", ".join(folders) if folders else "none (no folder can hold it: kernels compile every run)"),
              highlight=False, markup=False, soft_wrap=True)
    table = Table(title="compiled kernels in the cache")
    for column, justify in (("kernel set", "left"), ("kernels", "right"), ("cached", "right"), ("damaged", "right"),
                            ("files", "right"), ("bytes", "right"), ("complete", "left")):
        table.add_column(column, justify=justify)
    for name, group in info["kernel_sets"].items():
        table.add_row(name, f"{group['kernels']:,}", f"{group['cached']:,}", f"{group['damaged']:,}", f"{group['files']:,}",
                      binary_bytes(group["bytes"]), "yes" if group["complete"] else "no")
    out.print(table)
    if not all(group["complete"] for group in info["kernel_sets"].values()):
        out.print("a set not complete is compiled (its missing and damaged kernels) by the next run that needs it",
                  highlight=False, markup=False, soft_wrap=True)
    for damaged in info["damaged"]:
        out.print(f"damaged: {damaged['kernel']}: {damaged['damage']}",
                  highlight=False, markup=False, soft_wrap=True)
    if info["stale_files"]:
        out.print(f"{info['stale_files']:,} files ({binary_bytes(info['stale_bytes'])}) of no current kernel (older versions, "
                  "writes cut short): `lxdex cache clear` removes them", highlight=False, markup=False, soft_wrap=True)
    out.print(f"in all: {info['files']:,} files, {binary_bytes(info['bytes'])}", highlight=False, markup=False)


@cache_app.command("info")
def cache_info(as_json: bool = json_option("Print one JSON object (every kernel's entry too) instead of a table.")) -> None:
    """Where the compiled-kernel cache is, each kernel set's entries and bytes, whether it is complete, any damage.

    A complete set lets a run start without compiling. This reads the cache and changes no entry (loading the
    kernels makes the cache's folders where they are missing, as any numba program does)."""
    from ..kernel_cache import cache_report

    info = cache_report().as_dict()
    if as_json:
        print_json(info)
    else:
        _print_info(info)


@cache_app.command("clear")
def cache_clear(as_json: bool = json_option("Print one JSON object instead of a sentence.")) -> None:
    """Remove lxdex's compiled kernels from the cache, never another project's files in a shared NUMBA_CACHE_DIR.

    The next run compiles them again (about 15-30 s)."""
    from ..kernel_cache import clear_cache

    files, freed = clear_cache()
    if as_json:
        print_json({"removed_files": files, "removed_bytes": freed})
    else:
        out.print(f"removed {files:,} files ({binary_bytes(freed)}) of lxdex's compiled-kernel cache", highlight=False, markup=False)
