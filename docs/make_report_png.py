"""Make docs/report.png, the README's picture of the report: the default demo (6 weeks, seed 0), its report, and a
screenshot of the top of the page in headless Chromium (needs `chromium`; see .ci/report_screenshot.py).

    python docs/make_report_png.py [--height 1900] [--keep DIR]
"""

from __future__ import annotations

import argparse
import runpy
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--height", type=int, default=1900, help="pixels of the page to show (1280 wide)")
    ap.add_argument("--keep", type=Path, help="build the demo world here and keep it (default: a temp folder)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from spotify_modeling.cli import main as cli
    from spotify_modeling.cli.report import report_path
    from spotify_modeling.home import Home

    work = Path(tempfile.mkdtemp(prefix="spotify-model-picture-"))
    home = args.keep or work / "demo"
    try:
        if cli(["demo", "--weeks", "6", "--seed", "0", "--home", str(home)]) != 0:
            return 1
        start = time.perf_counter()
        if cli(["report", "--home", str(home)]) != 0:
            return 1
        print(f"report rebuilt in {time.perf_counter() - start:.2f} s")
        shot = runpy.run_path(str(ROOT / ".ci" / "report_screenshot.py"))["main"]
        return shot([str(report_path(Home(home))), str(ROOT / "docs" / "report.png"), "--height", str(args.height)])
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
