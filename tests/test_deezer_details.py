"""The release date and explicit flag of tracks the export names by URI, from Deezer by ISRC instead of Spotify's
`GET /tracks/{id}` (issue 22: frees that part of the weekly budget): asked once per ISRC, found or not, and what
Deezer does not know is left for Spotify."""

from __future__ import annotations

from spotify_modeling.db import tracks
from spotify_modeling.db.store import Store, utc_now
from spotify_modeling.pipeline.enrich import fill_details_deezer
from spotify_modeling.sources.deezer import DeezerTrack
from spotify_modeling.core.records import TrackRecord


class FakeDeezer:
    def __init__(self, known: dict[str, DeezerTrack]):
        self.known, self.asked = known, []

    def track_by_isrc(self, isrc: str):
        self.asked.append(isrc)
        return self.known.get(isrc)


def _store(tmp_path) -> Store:
    store = Store(tmp_path / "store.sqlite")
    with store.transaction() as conn:
        # three tracks the export named by URI, with ISRCs from ReccoBeats (no date, no explicit flag) ...
        tracks.insert_stubs(conn, [(f"T{i}", f"Song {i}", "Band", None) for i in range(4)], utc_now())
        tracks.upsert_tracks(conn, [TrackRecord(id=f"T{i}", isrc=f"QZ00000000{i}") for i in range(3)], "reccobeats",
                             fill_only=True)
        # ... and one a search described fully (it needs nothing)
        tracks.upsert_tracks(conn, [TrackRecord(id="T3", release_date="2001-01-01", explicit=False)], "search")
    return store


def test_deezer_fills_release_date_and_explicit_by_isrc_once(tmp_path):
    store = _store(tmp_path)
    deezer = FakeDeezer({"QZ000000000": DeezerTrack(1, release_date="2019-05-03", explicit=True),
                         "QZ000000001": DeezerTrack(2, release_date=None, explicit=False)})   # "0000-00-00"
    ids = ["T0", "T1", "T2", "T3"]
    step = fill_details_deezer(store, ids, deezer)
    assert deezer.asked == ["QZ000000000", "QZ000000001", "QZ000000002"]   # T3 needs nothing
    assert (step.todo, step.done, step.found) == (3, 3, 2)
    row = dict(store.conn.execute("SELECT track_id, release_date || '/' || explicit FROM tracks").fetchall())
    assert row["T0"] == "2019-05-03/1"
    assert tuple(store.conn.execute("SELECT release_date, explicit FROM tracks WHERE track_id = 'T1'").fetchone()) == (None, 0)
    # T1 (no date on Deezer) and T2 (not on Deezer) are left for Spotify's GET /tracks/{id}
    assert tracks.tracks_needing(store, ids, "details") == ["T1", "T2"]
    # a second run asks Deezer nothing again, found or not
    again = FakeDeezer({})
    assert fill_details_deezer(store, ids, again).todo == 0 and again.asked == []


def test_deezer_details_stop_at_their_limit_most_played_first(tmp_path):
    store = _store(tmp_path)
    deezer = FakeDeezer({})
    step = fill_details_deezer(store, ["T2", "T0", "T1"], deezer, limit=2)
    assert deezer.asked == ["QZ000000002", "QZ000000000"]
    assert "1 left for later runs" in step.message


def test_reccobeats_down_in_the_names_step_is_not_blamed_on_deezer(tmp_path, monkeypatch):
    # the names step asks Deezer and ReccoBeats: ReccoBeats down stops the run (69) but says nothing of Deezer,
    # and does not make the release-date step skip Deezer as if it were down
    from spotify_modeling.errors import ServiceUnavailable
    from spotify_modeling.pipeline import enrich

    def names_step(store, deezer, reccobeats, progress, step):
        raise ServiceUnavailable("ReccoBeats answered 503. Gave up after 4 tries.", "try again later")

    details_asked = []

    def details_step(store, ids, deezer, progress, step, limit=None):
        details_asked.append(limit)
        return step

    class DownReccoBeats:
        def __getattr__(self, name):
            raise ServiceUnavailable("ReccoBeats answered 503.", "try again later")

    monkeypatch.setattr(enrich, "resolve_names_deezer", names_step)
    monkeypatch.setattr(enrich, "fill_details_deezer", details_step)
    report = enrich.enrich_history(_store(tmp_path), None, DownReccoBeats(), deezer=object(), genres_source="none")
    assert report.stopped == "unavailable"
    assert details_asked, "the release-date step skipped Deezer although only ReccoBeats was down"
    assert not any("Deezer" in w for w in report.warnings), report.warnings
