"""The command line: the typer app, the exit-code policy and rendering. Thin: it calls the pipeline and prints.

`app.py` owns the app and the exit policy; `features.py` registers features on it, `login.py` login, `candidates.py` train
and candidates, `demo.py` the demo (the only command that imports the sandbox), `status.py` and `report.py`
what the loop has done so far (the report's plots in `report_plots.py`, drawn with the SVG kit of `svgplot.py`).
Importing this package registers every command.

A command module imports inside a function only what `--help` must not wait for (pandas, scikit-learn, LightGBM,
the pipeline, the store and its sqlite3, the Spotify client, rich's progress bars, a browser), or another command
module, whose import at the top would register its commands ahead of the importer's and reorder `--help`.
"""

# registers every command on the app, in the order `--help` lists them
from spotify_modeling.cli import features  # noqa: F401, I001
from spotify_modeling.cli import login  # noqa: F401, I001
from spotify_modeling.cli import candidates  # noqa: F401, I001
from spotify_modeling.cli import demo  # noqa: F401, I001
from spotify_modeling.cli import status, report  # noqa: F401, I001
from spotify_modeling.cli.app import app, console, err_console, main, run

__all__ = ["app", "console", "err_console", "main", "run"]
