"""The ``lxdex`` typer app, ``--version``, and :func:`main`: the one place errors become exit codes.

Command modules register on :data:`app` when :mod:`lxdex_capacity.cli` imports them; this module
imports none of them.  Exit codes live on the exception classes (:mod:`lxdex_capacity.errors`):

* an :class:`~lxdex_capacity.errors.LxdexError`: its ``exit_code`` (2 bad input or a refused size,
  1 a result that fails its check), one line ``lxdex: error: <message>`` on stderr;
* Ctrl-C: ``lxdex: interrupted`` and 130;
* a usage error found by the parser (unknown option, value out of range): one line, its exit code (2).

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from .. import __version__
from ..console import err, out
from ..errors import Interrupted, LxdexError

__all__ = ["app", "main", "Invocation", "invocation"]


class _RootGroup(TyperGroup):
    """The root command: a Ctrl-C inside a command becomes :class:`Interrupted`, reported by
    :func:`main` (typer itself would end with a silent exit 130)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted() from None


app = typer.Typer(
    name="lxdex",
    help="Measured memory and speed of a real multi-market matching engine, and the machines that hold it.",
    cls=_RootGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass(frozen=True)
class Invocation:
    """How ``lxdex`` was invoked: its arguments, as :func:`main` got them (``ctx.obj`` of every command)."""

    argv: tuple[str, ...]


def invocation(ctx: typer.Context) -> Invocation | None:
    """The :class:`Invocation` of the running command (None when run other than through :func:`main`)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Invocation) else None


def _version(value: bool) -> None:
    if value:
        out.print(f"lxdex-capacity {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool | None = typer.Option(None, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """lxdex-capacity: how much memory and speed a multi-market matching engine needs."""


def _exit(message: str, code: int) -> NoReturn:
    err.print(f"lxdex: {message}", highlight=False, markup=False, soft_wrap=True)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Console entry point (``lxdex``): run the command ``argv`` names (default ``sys.argv[1:]``) and exit
    with its code; errors become one line on stderr and the exit code of their class."""
    args = tuple(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    try:
        code = command.main(args=list(args), prog_name="lxdex", standalone_mode=False, obj=Invocation(args))
    except Interrupted as exc:
        _exit(str(exc), exc.exit_code)
    except LxdexError as exc:
        _exit(f"error: {exc}", exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):  # while parsing, before any command ran
        _exit(str(Interrupted()), Interrupted.exit_code)
    except Exception as exc:
        # Usage errors: click's ClickException, vendored inside newer typer; matched by shape so
        # that neither click nor typer internals are imported.
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare ``lxdex``: the help, as --help shows it
            text = exc.format_message()  # the help text; empty when typer's rich help was printed already
            if text.strip():
                out.print(text, markup=False, highlight=False)
            sys.exit(0)
        _exit(f"error: {exc.format_message()}", exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
