"""The command line: the typer app, the exit-code policy and rendering. Thin: it calls the pipeline and prints.

`app.py` owns the app and the exit policy; `features.py` registers features and login on it, `weekly.py` train,
candidates and demo. Importing this package registers every command.
"""

from spotify_modeling.cli import features, weekly  # noqa: F401  (register features, login; train, candidates, demo)
from spotify_modeling.cli.app import app, console, err_console, main, run

__all__ = ["app", "console", "err_console", "main", "run"]
