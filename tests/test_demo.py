"""`spotify-model demo` on a small world: the loop runs end to end through the stand-in and prints its table."""

import sqlite3

import pytest

from spotify_modeling.cli import main
from spotify_modeling.sandbox.demo import MARKER, demo_table, prepare_home, run_demo
from spotify_modeling.errors import BadInput


def test_short_demo_runs_the_whole_loop(tmp_path):
    rows, info = run_demo(tmp_path / "demo", weeks=2, seed=5, n_tracks=2500, n_plays=2000)
    df = demo_table(rows)
    assert list(df["week"]) == [1, 2]
    assert (df["pushed"] >= 10).all() and (df["labelled"] > 0).all()
    assert (df["ceiling"] >= df["random"]).all() and (df["calls"] > 0).all()
    conn = sqlite3.connect(tmp_path / "demo" / "data" / "spotify_model.db")
    # the demo went through the real pipeline: plays imported, pushes recorded per batch, labels synced
    assert conn.execute("SELECT count(*) FROM plays").fetchone()[0] > 1000
    assert [r[0] for r in conn.execute("SELECT DISTINCT batch FROM pushes ORDER BY batch")] == [1, 2]
    assert conn.execute("SELECT count(*) FROM labels").fetchone()[0] == df.loc[0, "labelled"]
    assert (tmp_path / "demo" / MARKER).exists() and (tmp_path / "demo" / "saved_models" / "likeability.json").exists()


def test_demo_refuses_to_wipe_a_folder_it_did_not_make(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep me")
    with pytest.raises(BadInput):
        prepare_home(mine)
    assert main(["demo", "--home", str(mine), "--weeks", "1"]) == 2
    assert (mine / "precious.txt").read_text() == "keep me"
    assert main(["demo", "--listener", "nobody"]) == 2
