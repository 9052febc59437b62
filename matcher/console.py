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
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
