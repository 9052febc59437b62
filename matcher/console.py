"""The console-script shell shared by the ``matcher`` and ``kiosk`` commands."""

from __future__ import annotations

import sys

import click


def run_console(group: click.Group, handled: tuple[type[Exception], ...]) -> None:
    """Run ``group``; an expected failure (``handled``) prints one ``error:`` line and exits 2."""
    try:
        group.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.UsageError as exc:  # one line, like every other error, with where to read more
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except handled as exc:
        click.echo(f"error: {_one_line(exc)}", err=True)
        sys.exit(2)


def _one_line(exc: Exception) -> str:
    """The error as one line: an OSError as 'FILE: cause' rather than '[Errno 2] ...: FILE'."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return " ".join(str(exc).split())
