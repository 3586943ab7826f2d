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
    # the release dates went to Deezer (by ISRC), so a warm weekly run stays within 100 Spotify calls
    assert conn.execute("SELECT count(*) FROM api_answers WHERE service = 'deezer_isrc'").fetchone()[0] > 0
    assert df.loc[1, "calls"] <= 100


def test_demo_refuses_to_wipe_a_folder_it_did_not_make(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep me")
    with pytest.raises(BadInput):
        prepare_home(mine)
    assert main(["demo", "--home", str(mine), "--weeks", "1"]) == 2
    assert (mine / "precious.txt").read_text() == "keep me"
    assert main(["demo", "--listener", "nobody"]) == 2


# ------------------------------------------------------------------------------------------------ its small print
import contextlib
import io
import json
import re

from spotify_modeling.home import Home


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_demo_help_lists_every_listener_and_random_is_one(capsys):
    from spotify_modeling.sandbox.simulate import PERSONAS

    assert main(["demo", "--help"]) == 0
    out = _flat(capsys.readouterr().out)
    for name in ["random", *PERSONAS]:
        assert name in out, name
    assert "default" in out
    from spotify_modeling.cli.demo import LISTENERS

    assert LISTENERS == ("random", *PERSONAS)      # named in the command (no sandbox import at start-up)


@pytest.fixture(scope="module")
def random_demo(tmp_path_factory):
    """`spotify-model demo --listener random --weeks 2` on a small world, through the command."""
    from spotify_modeling.sandbox import demo as demo_mod

    real = demo_mod.run_demo
    home = tmp_path_factory.mktemp("demo") / "world"
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo_mod, "run_demo", lambda *a, **kw: real(*a, n_tracks=2500, n_plays=2000, **kw))
        mp.delenv("SPOTIFY_MODEL_HOME", raising=False)
        with contextlib.redirect_stdout(out):
            code = main(["demo", "--weeks", "2", "--seed", "5", "--listener", "random", "--home", str(home)])
    return code, out.getvalue(), Home(home)


def test_the_listener_its_title_names_is_accepted(random_demo):
    code, out, _ = random_demo
    assert code == 0, out
    assert "spotify-model demo: listener random" in out


def test_the_demo_shows_a_weekly_run_as_a_user_sees_it(random_demo):
    _, out, _ = random_demo
    flat = _flat(out)
    assert "What the weekly run of week 2 printed (`spotify-model candidates`):" in flat
    week = flat.split("What the weekly run of week 2 printed")[1]
    # print_weekly_report's own lines: the run, the labels it read, the pool, the batch pushed, the calls
    assert "Weekly run 2" in week and "labels: +" in week and "pool: " in week
    assert re.search(r"pushed \d+ tracks to data_candidates \(batch 2\)", week)
    assert "Spotify calls this run:" in week


def test_the_demos_total_says_why_the_report_counts_otherwise(random_demo, capsys):
    _, out, h = random_demo
    flat = _flat(out)
    m = re.search(r"Overall, as the listener labelled each batch in its own week: (\d+) liked of (\d+) labelled", flat)
    assert m, flat[-800:]
    assert main(["status", "--home", str(h.root), "--json"]) == 0
    hr = json.loads(capsys.readouterr().out)["hit_rate"]
    said = re.search(r"The report and `status` count (\d+) of (\d+) \(\d+%\): the labels the weekly runs have read, "
                     r"so the last batch's (\d+) labels wait for the next run", flat)
    assert said, flat[-800:]
    assert (int(said.group(1)), int(said.group(2))) == (hr["liked"], hr["labelled"])
    assert int(m.group(2)) != hr["labelled"]                  # they differ, and the line says why
