"""`spotify-model status`: the numbers of a store with known runs and labels, against hand counts (report_fixtures)."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone

import pytest

from report_fixtures import build_home, iso
from spotify_modeling.cli import main
from spotify_modeling.db.store import Store
from spotify_modeling.home import Home


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("SPOTIFY_MODEL_HOME", raising=False)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return build_home(tmp_path / "home", now), now


def _status_json(capsys, h) -> dict:
    assert main(["status", "--home", str(h.root), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_status_json_matches_hand_counts(home, capsys):
    h, now = home
    st = _status_json(capsys, h)
    assert st["version"] == 1
    ex = st["export"]
    assert (ex["files"], ex["plays"], ex["plays_stored"]) == (2, 6, 6)
    assert ex["files_by_kind"] == {"extended": {"files": 1, "rows": 6}, "playlists": {"files": 1, "rows": 2}}
    assert (ex["first_play"], ex["last_play"]) == ("2024-01-01T10:00:00Z", "2024-03-01T10:00:00Z")

    cov = st["coverage"]
    # history = h1, h2 (played) + the 9 labelled tracks; 5 of the 6 plays have an id
    assert cov["tracks"] == 11 and cov["with_id"]["plays"] == 5
    assert cov["with_features"] == {"tracks": 1, "plays": 3, "share_of_plays": 0.5}        # h1 only
    assert cov["with_genres"] == {"tracks": 4, "plays": 3, "share_of_plays": 0.5}          # h1, c1, c2, x1
    assert cov["features_by_source"] == {"reccobeats": 1}
    assert cov["genres_by_source"] == {"spotify": {"artists": 4, "with_genres": 3}}

    assert st["labels"] == {"likes": 5, "dislikes": 4, "conflicts": 0, "pushed": 12, "pending": 3,
                            "labelled": 8, "expired": 1, "removed": 0,
                            "by_kind": {"data_1": 4, "data_0": 3, "heart": 1, "removed": 1}}
    # the hit rate by pool source: c7 and c10 came from an artist you liked (both liked), the rest from search
    by_source = {x["source"]: (x["labelled"], x["liked"]) for x in st["hit_rate"]["by_source"]}
    assert by_source == {"search": (6, 2), "artist": (2, 2)}
    hr = st["hit_rate"]
    assert (hr["liked"], hr["labelled"], hr["hit_rate"]) == (4, 8, 0.5)     # x1 was never a candidate: not counted
    assert hr["ci_low"] < 0.5 < hr["ci_high"]
    assert {s: (v["pushed"], v["labelled"], v["liked"]) for s, v in hr["by_slice"].items()} == \
        {"exploit": (9, 5, 3), "explore": (1, 1, 0), "control": (2, 2, 1)}
    trend = hr["trend"]
    assert (trend["earlier"]["batches"], trend["earlier"]["liked"], trend["earlier"]["labelled"]) == ([1, 1], 2, 5)
    assert (trend["later"]["batches"], trend["later"]["liked"], trend["later"]["labelled"]) == ([2, 2], 2, 3)
    assert trend["change_points"] == pytest.approx(2 / 3 - 2 / 5)
    assert trend["direction"] == "unclear" and trend["clear"] is False      # 8 labels: the intervals overlap

    runs = st["runs"]
    assert [r["run_id"] for r in runs] == [1, 2, 3, 4] and st["runs_total"] == 4   # `features` runs are not listed
    assert [(r["batch"], r["pushed"], r["labelled"], r["liked"]) for r in runs] == \
        [(1, 6, 5, 2), (2, 4, 3, 2), (None, 0, 0, 0), (3, 2, 0, 0)]
    assert [r["running_hit_rate"] for r in runs] == [0.4, 0.5, 0.5, 0.5]
    assert runs[0]["by_slice"]["exploit"]["liked"] == 2 and runs[0]["by_slice"]["exploit"]["labelled"] == 3
    assert runs[1]["by_slice"]["control"]["hit_rate"] == 1.0
    assert runs[2]["status"] == "dry-run" and runs[3]["calls"] == 17 and runs[3]["stage2_cv_auc"] == 0.61
    assert st["pool"] == {"size": 7}

    calls = st["calls_today"]
    assert calls["day"] == now.strftime("%Y-%m-%d")
    assert (calls["total"], calls["by_group"], calls["refused"], calls["reccobeats"]) == \
        (57, {"playlists": 6, "search": 51}, {"search": 1}, 10)             # yesterday's 99 are not today's
    wall = calls["quota_wall"]
    assert wall == {"groups": ["search"], "retry_at": iso(now - timedelta(minutes=10) + timedelta(hours=1)),
                    "run_id": 4, "kind": "daily"}

    models = st["models"]
    assert set(models) == {"playlist", "likeability", "affinity", "label"}
    assert models["playlist"]["trained"] and models["playlist"]["value"] == 0.63 and models["playlist"]["reliable"]
    assert models["label"]["metric"] == "roc_auc" and models["label"]["forward_auc"] == 0.55
    assert not models["affinity"]["trained"] and models["affinity"]["value"] is None

    nxt = st["next_run"]
    assert nxt["first"].startswith("wait: Spotify's daily limit for search calls was reached")
    assert wall["retry_at"].replace("T", " ").rstrip("Z") in nxt["first"]
    steps = " | ".join(nxt["then"])
    assert "3 candidates still pending" in steps
    assert "remove 1 candidates left unlabelled for 4 weeks" in steps            # c9, pushed 30 days ago
    assert "stage 2 needs 8 likes and 8 dislikes (you have 5 and 4" in steps
    assert "push batch 4" in steps


def test_status_screen_shows_the_headline_and_every_section(home, capsys):
    h, _ = home
    assert main(["status", "--home", str(h.root)]) == 0
    out = capsys.readouterr().out
    assert "You liked 50% (4/8" in out
    assert "batch 1 40% liked (2/5), batch 2 67% (2/3): +27 points" in out
    for part in ("Your data", "6 plays counted", "Models", "AUC 0.63 [0.58, 0.67]", "Weekly runs",
                 "exploit 60% (3/5", "Spotify calls today", "quota wall", "Next `candidates` run will first wait"):
        assert part in out, part


def test_status_loads_no_model_and_never_touches_the_network(home, capsys, monkeypatch):
    """The fixture's playlist.joblib is not a model: loading it would fail; any connection attempt fails too."""
    h, _ = home

    def refuse(*args, **kwargs):
        raise AssertionError("status must not do this")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr("joblib.load", refuse)
    st = _status_json(capsys, h)
    assert st["models"]["playlist"]["trained"]


def test_status_without_a_store_is_one_line_and_exit_2(tmp_path, capsys):
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    assert main(["status", "--home", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "No store at" in err and "spotify-model features" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2          # one sentence (rich may wrap it once)
    assert not (empty / "data").exists()               # nothing was created
    assert main(["report", "--home", str(empty)]) == 2


def test_status_of_a_fresh_import_says_what_comes_first(tmp_path, capsys):
    h = Home(tmp_path / "fresh")
    with Store(h.db_path) as store, store.transaction() as c:
        c.execute("INSERT INTO imported_files(file_id, sha256, path, size, kind, rows, imported_at) "
                  "VALUES (1, 'x', 'f.json', 1, 'extended', 1, '2026-01-01T00:00:00Z')")
        c.execute("INSERT INTO plays(source, ts, ms_played, track_id, name_key, file_id) "
                  "VALUES ('extended', '2025-01-01T00:00:00Z', 1000, 't1', 'k', 1)")
    st = _status_json(capsys, h)
    assert st["runs"] == [] and st["labels"]["pushed"] == 0
    assert st["hit_rate"]["labelled"] == 0 and st["hit_rate"]["hit_rate"] is None and st["hit_rate"]["trend"] is None
    assert st["calls_today"]["quota_wall"] is None
    assert "spotify-model login" in st["next_run"]["first"]     # no saved login: the run would exit 77
    assert main(["status", "--home", str(h.root)]) == 0
    assert "No labelled candidates yet" in capsys.readouterr().out


def test_a_killed_run_shows_as_interrupted_but_a_live_one_as_running(home, capsys):
    """A run row left `running` means a killed process only while nobody holds the home lock."""
    from spotify_modeling.db import pushes_and_labels as loop

    h, now = home
    with Store(h.db_path) as store:
        run_id = loop.start_run(store, "candidates")
    st = _status_json(capsys, h)
    assert [r["status"] for r in st["runs"] if r["run_id"] == run_id] == ["interrupted"]
    with h.lock(wait=0):                      # a run under way holds the lock: it is running, not killed
        st = _status_json(capsys, h)
    assert [r["status"] for r in st["runs"] if r["run_id"] == run_id] == ["running"]


# ------------------------------------------------------------------------------------------------ the real next step
def _screen(capsys, h) -> str:
    assert main(["status", "--home", str(h.root)]) == 0
    return " ".join(capsys.readouterr().out.split())          # rich wraps at the terminal width


def test_status_after_an_offline_import_leads_with_login_not_labelling(tmp_path, capsys, monkeypatch):
    """The user report: `features --offline` in a fresh home, then `status` said to drag tracks into data_1 / data_0
    although there was no login, no playlist and no run yet."""
    from export_fixtures import write_extended_export

    monkeypatch.delenv("SPOTIFY_MODEL_HOME", raising=False)
    monkeypatch.delenv("SPOTIFY_MODEL_TOKEN_CACHE", raising=False)
    h = Home(tmp_path / "fresh")
    assert main(["features", str(write_extended_export(tmp_path / "export")), "--offline", "--home", str(h.root)]) == 0
    capsys.readouterr()
    out = _screen(capsys, h)
    assert "No labelled candidates yet. Next step: log in to Spotify: `spotify-model login`" in out
    assert "drag" not in out and "data_1" not in out
    st = _status_json(capsys, h)
    assert st["next_run"]["your_step"].startswith("log in to Spotify: `spotify-model login`")


def _add(h: Home, sql: str, *rows) -> None:
    with Store(h.db_path) as store, store.transaction() as c:
        c.executemany(sql, rows) if rows else c.execute(sql)


@pytest.mark.parametrize("stage, step", [
    ("empty store", "import your Spotify data export: `spotify-model features EXPORT`"),
    ("imported", "log in to Spotify: `spotify-model login`"),
    ("logged in", "enrich your history: `spotify-model features`"),
    ("enriched", "push your first batch of candidates: `spotify-model candidates`"),
    ("pushed", "label the 2 candidates waiting in data_candidates: drag each into data_1 (like) or data_0 (dislike)"),
])
def test_the_next_step_follows_the_real_state_in_order(tmp_path, capsys, monkeypatch, stage, step):
    monkeypatch.delenv("SPOTIFY_MODEL_TOKEN_CACHE", raising=False)
    h = Home(tmp_path / "home")
    h.ensure()
    Store(h.db_path).close()
    stages = ["empty store", "imported", "logged in", "enriched", "pushed"]
    reached = stages[:stages.index(stage) + 1]
    if "imported" in reached:
        _add(h, "INSERT INTO imported_files(file_id, sha256, path, size, kind, rows, imported_at) "
                "VALUES (1, 'x', 'f.json', 1, 'extended', 1, '2026-01-01T00:00:00Z')")
        _add(h, "INSERT INTO plays(source, ts, ms_played, track_id, name_key, file_id) "
                "VALUES ('extended', '2025-01-01T00:00:00Z', 1000, 't1', 'k', 1)")
    if "logged in" in reached:
        h.token_cache.write_text("{}")
    if "enriched" in reached:
        _add(h, "INSERT INTO tracks(track_id, name, artist_names, artist_ids) VALUES ('t1', 'T', '[]', '[]')")
        _add(h, "INSERT INTO audio_features(track_id, source, available, danceability, fetched_at) "
                "VALUES ('t1', 'reccobeats', 1, 0.5, '2026-01-01T00:00:00Z')")
    if "pushed" in reached:
        _add(h, "INSERT INTO runs(run_id, command, started_at, finished_at, status, summary) "
                "VALUES (1, 'candidates', '2026-01-02T00:00:00Z', '2026-01-02T00:00:00Z', 'ok', '{}')")
        _add(h, "INSERT INTO pushes(track_id, run_id, batch, slice, rank, score, scores, pushed_at, status) "
                "VALUES (?, 1, 1, 'exploit', ?, 1.0, '{}', '2026-01-02T00:00:00Z', 'pending')", ("p1", 1), ("p2", 2))
    st = _status_json(capsys, h)
    assert st["next_run"]["your_step"].startswith(step), st["next_run"]["your_step"]
    out = _screen(capsys, h)
    assert f"No labelled candidates yet. Next step: {step}" in out
    if stage != "pushed":
        assert "drag" not in out


def test_status_says_when_the_control_is_too_thin_to_compare(home, capsys):
    from report_fixtures import add_control_tracks

    h, _ = home
    out = _screen(capsys, h)
    assert ("2 random control tracks labelled so far: too few to compare with yet (95% CI 9%–91%); about 20 "
            "needed") in out
    assert "control 50%" not in out
    # the run table is per batch, and says so; a batch's control shows as liked / labelled, not as 0% or 100%
    assert "hit rate so far by slice" not in out and "hit rate of each run's batch, by slice" in out
    row = next(line for line in capsys_lines(h, capsys) if line.split()[:1] == ["2"])
    assert row.split()[7] == "1/1", row         # run 2 (date: 2 words), batch 2: exploit 50%, its one control liked
    add_control_tracks(h, liked=1, disliked=19)
    out = _screen(capsys, h)
    assert "random control tracks 9% liked (2 of 22; 95% CI 3%–28%)" in out and "too few" not in out


def capsys_lines(h, capsys) -> list[str]:
    assert main(["status", "--home", str(h.root)]) == 0
    return capsys.readouterr().out.splitlines()
