"""Stage-1 outcomes on hand-computed fixtures, and `train` on a store filled by hand."""

import json
import math

import numpy as np
import pytest

from spotify_modeling.cli import main
from spotify_modeling.home import Home
from spotify_modeling.core.models import AffinityModel
from spotify_modeling.core.normalize import name_key
from spotify_modeling.db.store import Store
from spotify_modeling.pipeline.train import outcomes, train_stage1
from spotify_modeling.db.model_table import track_table


def add_play(store, tid, ms, ts="2024-01-01T00:00:00Z", reason_end="trackdone", artist="A", title=None):
    store.conn.execute("INSERT OR IGNORE INTO imported_files(file_id, sha256, path, size, kind, rows, imported_at) "
                       "VALUES (1, 'f', 'x', 1, 'extended', 0, 'now')")
    store.conn.execute(
        "INSERT INTO plays(source, ts, ms_played, track_name, artist_name, track_id, name_key, reason_end, file_id) "
        "VALUES ('extended', ?, ?, ?, ?, ?, ?, ?, 1)", (ts, ms, title or tid, artist, tid, name_key(artist, title or tid),
                                                        reason_end))


def add_track(store, tid, duration=None, artist_id="a1", genres=None, feats=True, rng=None):
    store.conn.execute("INSERT OR REPLACE INTO tracks(track_id, name, artist_names, artist_ids, duration_ms) "
                       "VALUES (?, ?, ?, ?, ?)", (tid, tid, json.dumps(["A"]), json.dumps([artist_id]), duration))
    store.conn.execute("INSERT OR IGNORE INTO artists(artist_id, name, genres) VALUES (?, 'A', ?)",
                       (artist_id, None if genres is None else json.dumps(genres)))
    if feats:
        rng = rng or np.random.default_rng(0)
        v = rng.random(11)
        store.conn.execute(
            "INSERT INTO audio_features(track_id, source, available, danceability, energy, key, loudness, mode, "
            "speechiness, acousticness, instrumentalness, liveness, valence, tempo, fetched_at) "
            "VALUES (?, 'reccobeats', 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'now')",
            (tid, v[0], v[1], int(v[2] * 11), -20 * v[3], int(v[4] > .5), v[5], v[6], v[7], v[8], v[9], 60 + 120 * v[10]))


def add_playlist(store, name, tids, role=None, origin="export"):
    key = f"{origin}:{name}"
    store.conn.execute("INSERT INTO playlists(playlist_key, name, origin, role) VALUES (?, ?, ?, ?)",
                       (key, name, origin, role))
    for i, t in enumerate(tids):
        store.conn.execute("INSERT INTO playlist_items(playlist_key, position, item_type, track_id, name_key) "
                           "VALUES (?, ?, 'track', ?, ?)", (key, i, t, name_key("A", t)))


def test_outcomes_by_hand(tmp_path):
    s = Store(tmp_path / "s.db")
    add_track(s, "t1", duration=200_000)
    add_track(s, "t2", duration=100_000)
    add_track(s, "t3", duration=None)  # duration unknown: best known = its longest trackdone play
    add_play(s, "t1", 100_000)           # 0.5
    add_play(s, "t1", 300_000)           # capped at 1
    add_play(s, "t2", 10_000)            # 0.1
    add_play(s, "t3", 50_000, reason_end="fwdbtn")
    add_play(s, "t3", 80_000, reason_end="trackdone")  # duration 80k -> 50/80 + 1
    add_playlist(s, "Mine", ["t2"])
    add_playlist(s, "data_1", ["t3"], role="like")       # stage-2 labels never leak into stage 1
    y = outcomes(s).set_index("track_id")
    raw = {"t1": 1.5, "t2": 0.1, "t3": 50 / 80 + 1}
    top = max(math.log1p(v) for v in raw.values())
    for t, v in raw.items():
        assert y.loc[t, "likeability"] == pytest.approx(math.log1p(v) / top)
    assert y["playlist"].to_dict() == {"t1": 0, "t2": 1, "t3": 0}
    assert y.loc["t1", "plays"] == 2
    # likeability is not the playlist target: t2 is in a playlist yet has the lowest likeability
    assert y.loc["t2", "likeability"] == y["likeability"].min()


def test_plays_after_our_push_are_left_out(tmp_path):
    s = Store(tmp_path / "s.db")
    add_track(s, "t1", duration=100_000)
    add_play(s, "t1", 100_000, ts="2024-01-01T00:00:00Z")
    add_play(s, "t1", 100_000, ts="2024-03-01T00:00:00Z")   # heard because we suggested it
    s.conn.execute("INSERT INTO runs(run_id, command, started_at) VALUES (1, 'candidates', 'x')")
    s.conn.execute("INSERT INTO pushes(track_id, run_id, batch, slice, rank, pushed_at) "
                   "VALUES ('t1', 1, 1, 'exploit', 1, '2024-02-01T00:00:00Z')")
    assert outcomes(s).set_index("track_id").loc["t1", "plays"] == 1


def test_track_table_columns_and_genres(tmp_path):
    s = Store(tmp_path / "s.db")
    add_track(s, "t1", duration=1, artist_id="a1", genres=["indie rock"])
    add_track(s, "t2", duration=1, artist_id="a2", genres=None, feats=False)
    df = track_table(s, ["t2", "t1", "missing"])
    assert list(df["track_id"][:2]) == ["t2", "t1"]
    assert df.loc[1, "genres"] == ["indie rock"] and df.loc[0, "genres"] is None
    assert np.isnan(df.loc[0, "danceability"]) and df.loc[1, "danceability"] > 0


def test_train_command_fits_and_persists(tmp_path, monkeypatch, capsys):
    home = Home(tmp_path)
    monkeypatch.setenv("SPOTIFY_MODEL_HOME", str(tmp_path))
    s = Store(home.db_path)
    rng = np.random.default_rng(1)
    for i in range(120):
        tid = f"t{i}"
        add_track(s, tid, duration=200_000, artist_id=f"a{i % 40}", genres=["pop"] if i % 2 else ["metal"], rng=rng)
        for _ in range(1 + i % 3):
            add_play(s, tid, int(rng.integers(10_000, 200_000)))
    add_playlist(s, "Mine", [f"t{i}" for i in range(0, 120, 3)])
    s.close()
    assert main(["train"]) == 0
    out = capsys.readouterr().out
    assert "playlist" in out and "likeability" in out and "affinity" in out and "skipped" in out
    for name in ("playlist", "likeability"):
        card = json.loads((home.models / f"{name}.json").read_text())
        assert card["metrics"]["n_rows"] == 120 and (home.training_features / f"{name}.csv").exists()
    assert (home.processed / "X.csv").exists() and (home.processed / "y_playlist.csv").exists()
    assert (home.processed / "y_score.csv").read_text().startswith("track_id,score")
    report = train_stage1(Store(home.db_path), home, cv=False)
    assert report.tracks_with_features == 120 and "affinity" in report.skipped


def test_release_exposure_is_the_share_of_the_history_a_track_was_out_for():
    from spotify_modeling.core.targets import release_exposure

    window = (2020.0, 2024.0)
    got = release_exposure(["1999-05-01", "2022", "2022-01", "2023-12-31", "2024-06", "2030", None, "0000", "garbage"],
                           window)
    np.testing.assert_allclose(got[:2], [1.0, 0.375])              # out all along; mid-2022 (a year alone: its middle)
    assert got[2] == pytest.approx((2024 - (2022 + 0.5 / 12)) / 4)    # a month alone: its middle
    assert 0 < got[3] < 0.01                                       # one day before the history ends
    np.testing.assert_array_equal(got[4:6], [0.0, 0.0])            # after the history: never playable
    np.testing.assert_array_equal(got[6:], [1.0, 1.0, 1.0])        # unknown dates are not penalised
    np.testing.assert_array_equal(release_exposure(["2030", "2022"], None), [1.0, 1.0])
    np.testing.assert_array_equal(release_exposure(["2030"], (2022.0, 2022.0)), [1.0])   # a single instant


def test_history_window_spans_first_to_last_play(tmp_path):
    from spotify_modeling.pipeline.train import history_window

    s = Store(tmp_path / "s.sqlite")
    assert history_window(s) is None
    add_play(s, "t1", 1000, ts="2021-01-01T00:00:00Z")
    add_play(s, "t2", 1000, ts="2023-07-02T12:00:00Z")
    start, end = history_window(s)
    assert start == pytest.approx(2021 + 0.5 / 366) and end == pytest.approx(2023 + 182.5 / 366)


def _random_pool(store, n_old, n_new, rng):
    for i in range(n_old + n_new):
        tid = f"p{i}"
        add_track(store, tid, duration=200_000, artist_id=f"r{i}", rng=rng)
        store.conn.execute("UPDATE tracks SET release_date = ? WHERE track_id = ?",
                           ("2015-03-01" if i < n_old else "2025-02-01", tid))
        store.conn.execute("INSERT INTO candidates(track_id, name_key, source, added_at) VALUES (?, ?, 'search', 'now')",
                           (tid, name_key("A", tid)))


def test_affinity_learns_against_random_tracks_weighted_by_release_exposure(tmp_path, monkeypatch):
    """Random tracks released after the history cannot be told from your taste by it: they are left out, and the
    rest weigh by how long they were out, so "new" is never learned as "not for you"."""
    from spotify_modeling.core.selection.decisions import fit_affinity
    from spotify_modeling.pipeline.train import affinity_data, history_window, training_data

    s = Store(tmp_path / "s.sqlite")
    rng = np.random.default_rng(2)
    for i in range(40):
        add_track(s, f"t{i}", duration=200_000, artist_id=f"a{i % 10}", rng=rng)
        add_play(s, f"t{i}", 200_000, ts="2020-01-01T00:00:00Z" if i % 2 else "2024-01-01T00:00:00Z")
    _random_pool(s, 70, 30, rng)
    X_played, _ = training_data(s)
    data = affinity_data(s, X_played)
    assert (data["_y"] == 1).sum() == 40 and (data["_y"] == 0).sum() == 70   # the 2025 releases are left out
    assert (data.loc[data["_y"] == 1, "_w"] == 1).all() and (data.loc[data["_y"] == 0, "_w"] == 1).all()
    s.conn.executemany("UPDATE tracks SET release_date = '2022' WHERE track_id = ?", [(f"p{i}",) for i in range(10)])
    data = affinity_data(s, X_played)             # a year alone is mid-2022: out for 1.5 of the 4 years of history
    neg = data[data["_y"] == 0].set_index("track_id")["_w"]
    half = [f"p{i}" for i in range(10)]
    assert neg.loc[half].between(0.3, 0.5).all() and (neg.drop(half) == 1).all()

    seen: list = []   # the weights must reach the model, not only the table
    real_fit = AffinityModel.fit
    monkeypatch.setattr(AffinityModel, "fit", lambda self, X, y, sample_weight=None: (
        seen.append(sample_weight), real_fit(self, X, y, sample_weight=sample_weight))[1])
    pool = track_table(s, [f"p{i}" for i in range(100)])
    model = fit_affinity(X_played, pool, history_window(s))
    assert model.n_train_rows_ == 40 + 70
    np.testing.assert_allclose(seen[-1], np.r_[np.ones(40), neg.loc[pool["track_id"][:70]].to_numpy()])
    unweighted = fit_affinity(X_played, pool, None)                 # no window known: every random track counts
    assert unweighted.n_train_rows_ == 40 + 100
