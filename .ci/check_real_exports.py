"""CI check: import each real export in ../shared/data/exports through the CLI and compare known counts."""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from pathlib import Path

from spotify_modeling.cli import main

SHARED = Path(os.environ.get("SPOTIFY_MODEL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
EXPORTS = SHARED / "data" / "exports"

EXPECTED = {
    # account data: 5,675 music plays; 3 playlists with 226 items, 224 of them tracks
    "christinamadian_account_2024": {"plays": 5675, "playlists": 3, "items": 226, "tracks": 224},
    # extended: 1,505 records = 1,492 music plays + 13 podcast episodes (dropped)
    "efrrowini_extended_2022_2023": {"plays": 1492, "playlists": 0, "items": 0, "tracks": 0},
}


def check(name: str, expected: dict) -> list[str]:
    with tempfile.TemporaryDirectory() as home:
        os.environ["SPOTIFY_MODEL_HOME"] = home
        code = main(["features", str(EXPORTS / name)])
        if code != 0:
            return [f"{name}: features exited {code}"]
        db = sqlite3.connect(Path(home) / "data" / "spotify_model.db")
        got = {
            "plays": db.execute("SELECT count(*) FROM plays").fetchone()[0],
            "playlists": db.execute("SELECT count(*) FROM playlists").fetchone()[0],
            "items": db.execute("SELECT count(*) FROM playlist_items").fetchone()[0],
            "tracks": db.execute("SELECT count(*) FROM playlist_items WHERE item_type = 'track'").fetchone()[0],
        }
        before = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("plays", "imported_files", "tracks")]
        db.close()
        problems = [f"{name}: {k} = {got[k]}, expected {v}" for k, v in expected.items() if got[k] != v]
        if main(["features", str(EXPORTS / name)]) != 0:
            problems.append(f"{name}: re-import failed")
        db = sqlite3.connect(Path(home) / "data" / "spotify_model.db")
        after = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("plays", "imported_files", "tracks")]
        db.close()
        if after != before:
            problems.append(f"{name}: re-import changed counts {before} -> {after}")
        print(f"{name}: {got}")
        return problems


if __name__ == "__main__":
    if not EXPORTS.is_dir():
        print(f"no real exports at {EXPORTS}: skipped")
        sys.exit(0)
    problems = [p for name, exp in EXPECTED.items() if (EXPORTS / name).is_dir() for p in check(name, exp)]
    for p in problems:
        print("FAIL", p)
    sys.exit(1 if problems else 0)
