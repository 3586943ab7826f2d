"""The `spotify-model` command: thin typer commands over the library, one exit-code policy for all of them."""

from __future__ import annotations

import errno
import logging
import os
import sys
import tempfile
import traceback
from datetime import datetime, timezone
from pathlib import Path

import typer
from typer.core import TyperGroup
from rich.console import Console
from rich.markup import escape

from spotify_modeling import __version__
from spotify_modeling import home as home_mod
from spotify_modeling.errors import EXIT_BUG, BadInput, UserError
from spotify_modeling.home import Home


def _plain_flags(params) -> None:
    """Show a flag as a flag: typer labels every one `<bool>` in help (`--json <bool>`), as if it took a value
    (`status --json yes` is then refused). An empty metavar shows nothing; parsing is unchanged."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


class _Commands(TyperGroup):
    """The app's command group: every help page (the app's, each command's, `--help` itself) shows flags plainly."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        _plain_flags(params)
        return params

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _plain_flags(command.get_params(ctx))   # its options and its own --help
        return command


app = typer.Typer(
    cls=_Commands,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="A personal music-discovery loop: learns your taste from your Spotify export and your weekly likes.",
)
console = Console()
err_console = Console(stderr=True)


def _quiet_third_party_logs() -> None:
    """spotipy logs HTTP errors at ERROR (and tokens at DEBUG): keep both off the screen and out of files."""
    for name in ("spotipy", "spotipy.client", "spotipy.oauth2", "urllib3"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [logging.NullHandler()]
        lg.propagate = False
        lg.setLevel(logging.CRITICAL)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"spotify-model {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    _quiet_third_party_logs()


def say_waiting(message: str) -> None:
    """What a command prints once while it waits for another run's lock (`Home.lock(on_wait=...)`)."""
    console.print(f"[dim]{escape(message)}…[/dim]", highlight=False, soft_wrap=True)


def print_path(path: Path | str) -> None:
    """A path on a line of its own, never cut, folded or styled, so that it copies whole at any terminal width."""
    console.print(str(path), overflow="ignore", crop=False, soft_wrap=True, highlight=False, markup=False)


def require_writable(folder: Path, *files: Path) -> None:
    """Refuse a home we cannot write to before touching it.

    Else the run dies half-way as a 'bug', or a sound store is reported as damaged.
    """
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise BadInput(f"{existing} is a file, not a folder; nothing was changed.", "Pass a folder with --home.")
    for path in (existing, *(f for f in files if f.exists())):
        if not os.access(path, os.W_OK | (os.X_OK if path.is_dir() else 0)):
            raise BadInput(f"Cannot write to {path} (read-only or no permission); nothing was changed.",
                           "Make it writable, or pass another folder with --home.")


def _log_bug(exc: BaseException) -> Path:
    text = (f"--- {datetime.now(timezone.utc).isoformat()} spotify-model {__version__} {sys.argv[1:]!r}\n"
            + "".join(traceback.format_exception(exc)))
    places = [Path(tempfile.gettempdir()) / "spotify-model.log"]
    try:  # no home at all (e.g. the current folder was deleted): the temp folder only
        places.insert(0, (home_mod.last_resolved or Home.from_env()).log_path)
    except OSError:
        pass
    for path in places:
        try:  # a read-only home must not turn the bug report itself into a traceback
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                os.fchmod(fd, 0o600)   # tracebacks name paths and tracks: private, also a log an older version left
                fh.write(text)
            return path
        except OSError:
            continue
    return path


def _disk_full(exc: BaseException) -> bool:
    """No space left on the device, as the OS (ENOSPC, EDQUOT) or SQLite ("database or disk is full") says it."""
    import sqlite3   # the store's module: not loaded at start-up, only on this failure path

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc)


#: What Ctrl-C leaves behind, and the next step.
INTERRUPTED = ("interrupted: every finished step is kept; the one under way was rolled back. "
               "Run the same command again to continue.")


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line and their exit code; bugs are logged, exit 1.

    Everything a command writes under the home (store, CSV views, models, logs, the report) is personal data, so it
    runs with umask 077: files 0600 and folders 0700, readable by you alone (the previous umask is restored after,
    for a caller that runs `main` in-process).
    """
    old_umask = os.umask(0o077)
    try:
        return _main(argv)
    finally:
        os.umask(old_umask)


def _main(argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:                  # the bare command: its help, on stdout, and done (exit 0, not a usage error)
        args = ["--help"]
    try:
        code = app(args=args, standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into a returned 130 when not standalone
            err_console.print(INTERRUPTED, highlight=False, soft_wrap=True)
        return code if isinstance(code, int) else 0
    except UserError as err:
        err_console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
        return err.exit_code
    except (typer.Exit, SystemExit) as ex:
        code = getattr(ex, "exit_code", None)
        if code is None:
            code = getattr(ex, "code", 0)
        return int(code or 0)
    except typer.Abort:   # input ended (or Ctrl-C) at a prompt
        err_console.print("aborted: the command stopped waiting for your answer; run it again in a terminal "
                          "and answer its prompt.", highlight=False, soft_wrap=True)
        return 130
    except KeyboardInterrupt:
        err_console.print(INTERRUPTED, highlight=False, soft_wrap=True)
        return 130
    except Exception as exc:
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            # a usage error from the command-line parser (exit code 2): one line, like every other refusal
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" or not hasattr(exc, "format_message"):
                exc.show()
            else:
                message = exc.format_message().strip()
                message += "" if message.endswith((".", "?", "!")) else "."   # "Did you mean 'x'?", not "?."
                where = f" See `{ctx.command_path if ctx is not None else 'spotify-model'} --help`."
                err_console.print(f"[red]error:[/red] {escape(message + where)}", highlight=False, soft_wrap=True)
            return exc.exit_code
        if _disk_full(exc):   # not a bug: the step under way was rolled back, the finished ones are kept
            err_console.print(f"[red]error:[/red] the disk is full ({escape(str(exc))}). Free some space and run the "
                              "same command again: every finished step is kept.", highlight=False, soft_wrap=True)
            return EXIT_BUG
        path = _log_bug(exc)
        what = f"{type(exc).__name__}: {exc} (details logged to {path})"
        err_console.print(f"[red]unexpected error:[/red] {escape(what)}", highlight=False, soft_wrap=True)
        return EXIT_BUG


def run() -> None:
    sys.exit(main())

