"""The command line: the typer app, the exit-code policy and rendering. Thin: it calls the pipeline and prints.

`app` (in `app.py`) owns the exit policy and the import/enrich commands; `weekly.py` registers train, candidates
and demo on it. Importing this package registers every command.
"""

from spotify_modeling.cli import weekly  # noqa: F401  (registers train, candidates, demo)
from spotify_modeling.cli import report, status  # noqa: F401  (registers report, status: issue 12)
from spotify_modeling.cli.app import app, console, err_console, main, run

__all__ = ["app", "console", "err_console", "main", "run"]
