"""A small store with known runs, pushes and labels, written with plain SQL, for the status and report tests.

Hand counts (what the tests check):
- plays: 6 counted (h1 x3, h2 x2, one play without an id); 2 files (extended, playlists).
- history tracks h1, h2: both have ids; h1 has audio features (ReccoBeats), h2 was asked and has none;
  genres: h1's artist plays indie rock, h2's artist has none.
- pushes: batch 1 (run 1): c1 c2 c3 c4 exploit, c5 explore, c6 control; batch 2 (run 2): c7 c8 c9 exploit,
  c10 control; batch 3 (run 4): c11 c12 exploit, still pending. Run 3 was a dry run (nothing pushed).
- labels: likes c1 c2 c7 c10 and x1 (a song you dragged into data_1 yourself, never a candidate);
  dislikes c3 c5 c6 c8; c4 expired; c9 pending since 30 days (expires at the next run).
- so: batch 1 liked 2 of 5 (exploit 2/3, explore 0/1, control 0/1), batch 2 liked 2 of 3 (exploit 1/2,
  control 1/1), overall 4 of 8; by slice exploit 3/5, explore 0/1, control 1/2.
- calls today: search 50 + one refused (429), playlists 6, ReccoBeats 10; yesterday tracks 99 (not today).
- run 4 met the search quota wall 10 minutes ago and Spotify said to retry after an hour.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from spotify_modeling.db.store import Store
from spotify_modeling.home import Home


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(run_id: int, batch: int, **extra) -> dict:
    """A run summary shaped like `asdict(WeeklyReport)` (only the keys status and report read)."""
    base = {"run_id": run_id, "batch": batch, "dry_run": False, "labels": {}, "expired": 0,
            "quota_stopped": False, "stage2": {"fitted": False, "likes": 0, "dislikes": 0}, "pool": {},
            "weights": {"affinity": 0.5, "playlist": 0.25, "likeability": 0.25}, "pushed": [], "notes": [],
            "calls_by_group": {}, "calls_total": 0, "quota_retry_after": None, "pool_scores": {}}
    base.update(extra)
    return base


def build_home(root: Path, now: datetime | None = None) -> Home:
    """The store described above, a model card for playlist and label, and a (dummy) saved login."""
    now = now or datetime.now(timezone.utc).replace(microsecond=0)
    h = Home(root)
    h.ensure()
    t = {k: iso(now - timedelta(days=d)) for k, d in (("d40", 40), ("d33", 33), ("d30", 30), ("d2", 2))}
    with Store(h.db_path) as store, store.transaction() as c:
        c.executemany("INSERT INTO imported_files(file_id, sha256, path, size, kind, rows, imported_at) "
                      "VALUES (?, ?, ?, 100, ?, ?, ?)",
                      [(1, "a" * 64, "Streaming_History_Audio_2024.json", "extended", 6, t["d40"]),
                       (2, "b" * 64, "Playlist1.json", "playlists", 2, t["d40"])])
        plays = [("h1", "2024-01-0%dT10:00:00Z" % d) for d in (1, 2, 3)] + \
                [("h2", "2024-02-0%dT10:00:00Z" % d) for d in (1, 2)] + [(None, "2024-03-01T10:00:00Z")]
        c.executemany("INSERT INTO plays(source, ts, ms_played, track_name, artist_name, track_id, name_key, file_id) "
                      "VALUES ('extended', ?, 200000, 'song', 'artist', ?, ?, 1)",
                      [(ts, tid, f"key{i}") for i, (tid, ts) in enumerate(plays)])
        tracks = [("h1", "Home One", ["a1"]), ("h2", "Home Two", ["a2"])] + \
                 [(f"c{i}", f"Candidate {i}", [f"a{i + 2}"]) for i in range(1, 13)] + [("x1", "Own Song", ["a1"])]
        c.executemany("INSERT INTO tracks(track_id, name, artist_names, artist_ids, duration_ms, meta_source) "
                      "VALUES (?, ?, ?, ?, 200000, 'search')",
                      [(tid, name, json.dumps([f"Artist {a}" for a in ids]), json.dumps(ids))
                       for tid, name, ids in tracks])
        genres = {"a1": ["indie rock"], "a2": [], "a3": ["hip hop"], "a4": ["jazz"]}
        c.executemany("INSERT INTO artists(artist_id, name, genres, genres_source) VALUES (?, ?, ?, 'spotify')",
                      [(a, f"Artist {a}", json.dumps(g)) for a, g in genres.items()])
        c.execute("INSERT INTO audio_features(track_id, source, available, danceability, fetched_at) "
                  "VALUES ('h1', 'reccobeats', 1, 0.5, ?)", (t["d40"],))
        c.execute("INSERT INTO audio_features(track_id, source, available, fetched_at) "
                  "VALUES ('h2', 'reccobeats', 0, ?)", (t["d40"],))
        store.set_kv("enrich.features_source", "reccobeats")
        store.set_kv("enrich.genres_source", "spotify")

        pool_scores = {"n": 9, "edges": [-1.0, 0.0, 1.0, 2.0], "counts": [4, 3, 2], "cut": 1.5}
        pushed4 = [{"track_id": "c11", "artist": "Artist a13", "title": "Candidate 11", "score": 1.9,
                    "slice": "exploit", "rank": 1}, {"track_id": "c12", "artist": "Artist a14",
                                                     "title": "Candidate 12", "score": 1.5, "slice": "exploit",
                                                     "rank": 2}]
        runs = [
            (1, t["d40"], "ok", summary(1, 1, labels={"total_likes": 0, "total_dislikes": 0},
                                        calls_by_group={"search": 80, "playlists": 5, "me": 1}, calls_total=86)),
            (2, t["d33"], "ok", summary(2, 2, labels={"total_likes": 3, "total_dislikes": 3}, expired=1,
                                        calls_by_group={"search": 80, "playlists": 7, "me": 1, "reccobeats": 3},
                                        calls_total=88)),
            (3, t["d30"], "dry-run", summary(3, 0, dry_run=True, labels={"total_likes": 3, "total_dislikes": 3},
                                             calls_by_group={"search": 20}, calls_total=20)),
            (4, iso(now - timedelta(minutes=10)), "ok", summary(
                4, 3, labels={"total_likes": 5, "total_dislikes": 4}, quota_stopped=True, quota_retry_after=3600,
                notes=["Pool top-up stopped by Spotify's quota after 10 searches (topped up less than planned): "
                       "Spotify's daily limit for search calls is reached."],
                stage2={"fitted": True, "likes": 5, "dislikes": 4, "cv_auc": 0.61, "cv_low": 0.4, "cv_high": 0.8,
                        "forward_auc": 0.55, "forward_low": 0.3, "forward_high": 0.8, "forward_batch": 2,
                        "forward_n": 8, "prior_forward_auc": 0.48, "prior_forward_low": 0.2, "prior_forward_high": 0.75},
                weights={"affinity": 0.5, "playlist": 0.2, "likeability": 0.2, "label": 0.1},
                corrections={"fam_folk_country": -0.39, "genre:indie rock": 0.52, "newness": 0.2},
                calls_by_group={"search": 10, "playlists": 6, "me": 1}, calls_total=17, pushed=pushed4,
                pool_scores=pool_scores)),
        ]
        for run_id, started, status, s in runs:
            c.execute("INSERT INTO runs(run_id, command, started_at, finished_at, status, summary) "
                      "VALUES (?, 'candidates', ?, ?, ?, ?)", (run_id, started, started, status, json.dumps(s)))
        c.execute("INSERT INTO runs(command, started_at, finished_at, status) VALUES ('features', ?, ?, 'ok')",
                  (t["d40"], t["d40"]))
        batches = {1: (1, t["d40"], ["exploit"] * 4 + ["explore", "control"], range(1, 7)),
                   2: (2, t["d33"], ["exploit"] * 3 + ["control"], range(7, 11)),
                   3: (4, iso(now - timedelta(minutes=10)), ["exploit"] * 2, range(11, 13))}
        status = {4: "expired", 9: "pending", 11: "pending", 12: "pending"}
        for batch, (run_id, at, slices, ids) in batches.items():
            for rank, (slice_, i) in enumerate(zip(slices, ids), 1):
                pushed_at = t["d30"] if i == 9 else at
                c.execute("INSERT INTO pushes(track_id, run_id, batch, slice, rank, score, scores, pushed_at, status) "
                          "VALUES (?, ?, ?, ?, ?, ?, '{}', ?, ?)",
                          (f"c{i}", run_id, batch, slice_, rank, 2.0 - rank / 10, pushed_at,
                           status.get(i, "labelled")))
        labels = {"c1": 1, "c2": 1, "c3": 0, "c5": 0, "c6": 0, "c7": 1, "c8": 0, "c10": 1, "x1": 1}
        kind = {"c7": ("heart", 1.0), "c8": ("removed", 0.5)}   # one like hearted, one dislike a removal
        c.executemany("INSERT INTO labels(track_id, label, source, weight, first_seen, updated_at) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      [(tid, lab, *kind.get(tid, ("data_1" if lab else "data_0", 1.0)), t["d33"], t["d33"])
                       for tid, lab in labels.items()])
        source = {7: "artist", 10: "artist"}   # two candidates came from an artist you liked
        c.executemany("INSERT INTO candidates(track_id, name_key, source, added_at, status) VALUES (?, ?, ?, ?, ?)",
                      [(f"c{i}", f"ck{i}", source.get(i, "search"), t["d40"], "pushed") for i in range(1, 13)]
                      + [(f"p{i}", f"pk{i}", "search", t["d40"], "pool") for i in range(1, 8)])
        today, yesterday = now.strftime("%Y-%m-%d"), (now - timedelta(days=1)).strftime("%Y-%m-%d")
        c.executemany("INSERT INTO api_usage(day, endpoint_group, status, calls) VALUES (?, ?, ?, ?)",
                      [(today, "search", 200, 50), (today, "search", 429, 1), (today, "playlists", 200, 6),
                       (today, "reccobeats", 200, 10), (yesterday, "tracks", 200, 99),
                       # the other services: no Spotify quota, never counted as Spotify calls
                       (today, "deezer", 200, 40), (today, "deezer", 429, 2), (today, "musicbrainz", 200, 5)])
    cards = {
        "playlist": {"name": "playlist", "format_version": 1, "trained_at": t["d40"], "rows": 682,
                     "metrics": {"metric": "roc_auc", "value": 0.63, "ci_low": 0.58, "ci_high": 0.67},
                     "extra": {"provenance_guard": {"ok": True, "auc": 0.49}}},
        "label": {"name": "label", "format_version": 1, "trained_at": t["d2"], "rows": 9,
                  "metrics": {"cv": {"metric": "roc_auc", "value": 0.61, "ci_low": 0.4, "ci_high": 0.8},
                              "forward_auc": 0.55, "forward_low": 0.3, "forward_high": 0.8, "forward_batch": 2}},
    }
    for name, card in cards.items():
        (h.models / f"{name}.json").write_text(json.dumps(card))
    # not a model: anything that tries to load it fails (status must not; the report says it cannot)
    (h.models / "playlist.joblib").write_bytes(b"not a model")
    h.token_cache.write_text("{}")
    os.chmod(h.token_cache, 0o600)
    return h


def add_control_tracks(h: Home, liked: int, disliked: int, batch: int = 2) -> None:
    """`liked + disliked` more labelled control tracks k1, k2, ... in `batch` of the store above (which has only
    two control labels, c6 and c10: too few to compare with), pushed with that batch, drawn from random search."""
    with Store(h.db_path) as store, store.transaction() as c:
        run_id, at, rank = c.execute("SELECT run_id, min(pushed_at), max(rank) FROM pushes WHERE batch = ?",
                                     (batch,)).fetchone()
        for i in range(1, liked + disliked + 1):
            tid, label = f"k{i}", int(i <= liked)
            c.execute("INSERT INTO tracks(track_id, name, artist_names, artist_ids, duration_ms, meta_source) "
                      "VALUES (?, ?, ?, ?, 200000, 'search')",
                      (tid, f"Control {i}", json.dumps([f"Artist k{i}"]), json.dumps([f"ak{i}"])))
            c.execute("INSERT INTO pushes(track_id, run_id, batch, slice, rank, score, scores, pushed_at, status) "
                      "VALUES (?, ?, ?, 'control', ?, 0.0, '{}', ?, 'labelled')", (tid, run_id, batch, rank + i, at))
            c.execute("INSERT INTO labels(track_id, label, source, weight, first_seen, updated_at) "
                      "VALUES (?, ?, ?, 1.0, ?, ?)", (tid, label, "data_1" if label else "data_0", at, at))
            c.execute("INSERT INTO candidates(track_id, name_key, source, added_at, status) "
                      "VALUES (?, ?, 'search', ?, 'pushed')", (tid, f"kk{i}", at))
