"""The weekly run as a real user drives it over several weeks, against the stand-in Spotify server.

Each test plays a few weeks: `spotify-model candidates`, then the user does something in the Spotify app (drags,
deletes, renames, copies, forgets to label) or Spotify misbehaves (5xx, 429, quota), then the next run. Assertions are
on what a user can see: the playlists on the stand-in, the store's `pushes` / `labels` tables and the exit code.
"""

import json
import sqlite3

import pytest

from spotify_modeling.cli import main
from spotify_modeling import sources
from spotify_modeling.sources import SpotifyClient
from spotify_modeling.sandbox.standin import CallRecord, _Reply
from test_weekly import env, prepared  # noqa: F401  (the same prepared home as tests/test_weekly.py)

WRITES = ("POST", "DELETE", "PUT")
URI = "spotify:track:{}".format


class World:
    """One user's Spotify (the stand-in) and home, with the moves a person makes in the Spotify app."""

    def __init__(self, world, state, server, home, sleeps):
        self.world, self.state, self.server, self.home, self.sleeps = world, state, server, home, sleeps
        self.week = 0

    def run(self, *args) -> int:
        self.week += 1
        return main(["candidates", "--seed", str(self.week), *args])

    def settings(self, **values):
        """The home's settings file; fewer searches and look-ups than the defaults keep each week fast."""
        values = {"search_calls": 15, "genre_calls": 8, "backlog_calls": 0, **values}
        self.home.joinpath("spotify-model.toml").write_text(
            "[candidates]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()))

    def db(self):
        return sqlite3.connect(self.home / "data" / "spotify_model.db")

    def rows(self, sql, *params):
        conn = self.db()
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def labels(self) -> dict:
        return dict(self.rows("SELECT track_id, label FROM labels"))

    def pushes(self, where: str = "1") -> dict:
        return dict(self.rows(f"SELECT track_id, status FROM pushes WHERE {where}"))

    def own(self, name):
        return [p for p in self.state.find_playlists(name) if p["owner"]["id"] == self.state.user["id"]]

    def pid(self, name):
        found = self.own(name)
        assert len(found) == 1, f"{len(found)} playlists named {name}"
        return found[0]["id"]

    def ids(self, name_or_id) -> list[str]:
        pid = name_or_id if name_or_id in self.state.playlists else self.pid(name_or_id)
        return [u.rsplit(":", 1)[-1] for u in self.state.playlist_uris(pid)]

    def move(self, src, dst, track_ids):
        self.state.move_items(self.pid(src) if src not in self.state.playlists else src,
                              self.pid(dst) if dst not in self.state.playlists else dst, [URI(t) for t in track_ids])

    def add(self, dst, track_ids):
        self.state.add_items(self.pid(dst) if dst not in self.state.playlists else dst, [URI(t) for t in track_ids])

    def remove(self, src, track_ids):
        self.state.remove_items(self.pid(src) if src not in self.state.playlists else src, [URI(t) for t in track_ids])

    def listed_first(self, pid):
        """Put a playlist first in /me/playlists, as Spotify lists a newly created one at the top of the library."""
        self.state.playlists = {pid: self.state.playlists[pid],
                                **{k: v for k, v in self.state.playlists.items() if k != pid}}

    def calls_since(self, n, method=None, suffix=None):
        return [c for c in self.server.calls[n:] if (method is None or c.method == method)
                and (suffix is None or c.path.endswith(suffix))]

    def fail(self, when, status, headers=None, reason=None, apply=False, times=1):
        """Answer the next `times` requests for which `when(method, path)` holds with `status`; with `apply` the
        request is applied first (Spotify did it but the answer was lost)."""
        service = self.server._httpd.service
        real = service.handle   # the real handler, or an earlier injection's
        left = {"n": times}

        def handle(method, path, query, raw, hdrs):
            if left["n"] > 0 and when(method, path):
                left["n"] -= 1
                body = {"error": {"status": status, "message": "injected", **({"reason": reason} if reason else {})}}
                if apply:
                    real(method, path, query, raw, hdrs)
                    self.server.calls[-1].status = status
                else:
                    self.server.calls.append(CallRecord(method, path, dict(query), None, "injected", status, 0.0))
                return _Reply(status, body, dict(headers or {}))
            return real(method, path, query, raw, hdrs)

        service.handle = handle


def is_add(method, path):
    return method == "POST" and path.endswith("/items")


@pytest.fixture
def user(env, monkeypatch):
    """`env` of tests/test_weekly.py (a fresh copy of the prepared home on a stand-in server), played as a user."""
    world, state, server, home = env
    sleeps: list[float] = []
    real_from_env = SpotifyClient.from_env

    def from_env(cls, home=None, **kwargs):   # the clients' waits are recorded, not slept
        client = real_from_env(home, **kwargs)
        client.sleep = sleeps.append
        return client

    class QuietReccoBeats(sources.ReccoBeatsClient):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.sleep = sleeps.append

    monkeypatch.setattr(SpotifyClient, "from_env", classmethod(from_env))
    monkeypatch.setattr(sources, "ReccoBeatsClient", QuietReccoBeats)
    w = World(world, state, server, home, sleeps)
    w.settings()
    return w


# ---------------------------------------------------------------------------------------------- labels over weeks
def test_label_moves_removals_conflicts_and_own_picks(user, capsys):
    assert user.run() == 0
    batch1 = user.ids("data_candidates")
    a, b, c, d, e = batch1[:5]
    user.move("data_candidates", "data_1", [a, b])
    user.move("data_candidates", "data_0", [c, d])
    assert user.run() == 0
    assert user.labels() == {a: 1, b: 1, c: 0, d: 0}
    pool_track = user.rows("SELECT track_id FROM candidates WHERE status = 'pool' LIMIT 1")[0][0]
    # next week: a changes to dislike, b is taken out of data_1, c is dragged into data_1 too (now in both),
    # the user adds their own pick (a pool track the tool has not pushed yet) to data_1 twice, and d twice to data_0
    user.move("data_1", "data_0", [a])
    user.remove("data_1", [b])
    user.add("data_1", [c, pool_track, pool_track])
    user.add("data_0", [d])
    user.move("data_candidates", "data_1", [e])
    capsys.readouterr()
    # this week they also ask for ReccoBeats recommendations, and ReccoBeats' recommendation endpoint is down
    user.fail(lambda m, p: "recommendation" in p, 503, times=10)
    n = len(user.server.calls)
    assert user.run("--source", "search,reccobeats") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "recommendations skipped" in out
    assert [call.status for call in user.calls_since(n) if "recommendation" in call.path] == [503] * 4  # 3 retries
    assert user.labels() == {a: 0, c: None, d: 0, pool_track: 1, e: 1}
    assert "in both data_1 and data_0" in out
    pushes = user.pushes()
    assert pushes[a] == pushes[d] == pushes[e] == "labelled"
    assert pushes[b] == "removed" and pushes[c] == "removed"      # out of data_candidates, no usable label
    assert pool_track not in pushes                               # your own pick is never offered back to you
    assert user.rows("SELECT status FROM candidates WHERE track_id = ?", pool_track) != [("pushed",)]
    # the tool never wrote to data_1 / data_0
    assert sorted(user.ids("data_1")) == sorted([c, pool_track, pool_track, e])
    assert sorted(user.ids("data_0")) == sorted([c, d, d, a])
    # the user settles the conflict: c is a like after all
    user.remove("data_0", [c])
    assert user.run() == 0
    assert user.labels()[c] == 1 and user.pushes()[c] == "labelled"
    # across the four weeks no track was offered twice or offered after it was labelled
    _consistent(user)
    assert user.rows("SELECT count(*) FROM pushes p JOIN labels l USING (track_id) "
                     "WHERE l.first_seen < p.pushed_at") == [(0,)]
    assert set(user.pushes("batch = 1")) == set(batch1) and len(user.pushes()) > len(batch1)


def test_deleted_or_renamed_label_playlist_keeps_its_labels_in_later_weeks(user):
    assert user.run() == 0
    first = user.ids("data_candidates")
    likes, dislikes = first[:4], first[4:7]
    user.move("data_candidates", "data_1", likes)
    user.move("data_candidates", "data_0", dislikes)
    assert user.run() == 0
    before = user.labels()
    assert before == {**{t: 1 for t in likes}, **{t: 0 for t in dislikes}}
    # the user renames data_1 and deletes data_0 in the Spotify app
    user.state.playlists[user.pid("data_1")]["name"] = "my favourites"
    del user.state.playlists[user.pid("data_0")]
    assert user.run() == 0
    assert user.labels() == before
    assert user.ids("data_1") == [] and user.ids("data_0") == []   # recreated, empty
    # a week later they label into the new playlists: the old labels stay, the new ones join them
    new = user.ids("data_candidates")[:2]
    user.move("data_candidates", "data_1", new[:1])
    user.move("data_candidates", "data_0", new[1:])
    assert user.run() == 0
    assert user.labels() == {**before, new[0]: 1, new[1]: 0}
    # taking a track out of the new data_1 still drops its label (a dry run in between changes nothing)
    user.remove("data_1", new[:1])
    assert user.run("--dry-run") == 0
    assert user.labels() == {**before, new[0]: 1, new[1]: 0}
    assert user.run() == 0
    assert user.labels() == {**before, new[1]: 0}


def test_a_second_playlist_with_the_same_name_does_not_replace_the_tools_own(user, capsys):
    assert user.run() == 0
    first = user.ids("data_candidates")
    user.move("data_candidates", "data_1", first[:3])
    assert user.run() == 0
    cand, like = user.pid("data_candidates"), user.pid("data_1")
    labels, pending = user.labels(), user.pushes("status = 'pending'")
    assert len(labels) == 3 and pending
    # the user makes new playlists with the same names (Spotify lists a new playlist first) and keeps labelling
    # in the original data_1
    twin_cand = user.state.create_playlist("data_candidates")
    twin_like = user.state.create_playlist("data_1")
    user.listed_first(twin_cand)
    user.listed_first(twin_like)
    user.move(cand, like, list(pending)[:1])
    n = len(user.server.calls)
    capsys.readouterr()
    assert user.run() == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 playlists named data_1" in out and "2 playlists named data_candidates" in out
    assert user.labels() == {**labels, list(pending)[0]: 1}
    assert user.state.playlist_uris(twin_cand) == [] and user.state.playlist_uris(twin_like) == []
    assert not [c for c in user.server.calls[n:] if twin_cand in c.path or twin_like in c.path]
    batch3 = user.pushes("batch = 3")
    assert batch3 and set(batch3) <= set(user.ids(cand))
    assert all(user.pushes()[t] == "pending" for t in list(pending)[1:])   # still waiting in the original


# ---------------------------------------------------------------------------------------------- a push interrupted
def _consistent(user):
    """Every track recorded as pushed and still pending is in data_candidates exactly once, and vice versa."""
    uris = user.ids("data_candidates")
    assert len(uris) == len(set(uris))
    assert set(user.pushes("status = 'pending'")) == set(uris)
    assert not set(user.pushes()) & {r[0] for r in user.rows("SELECT track_id FROM candidates WHERE status = 'pool'")}
    return uris


def test_push_met_by_a_server_error_then_run_again(user, capsys):
    """(The add that landed but lost its answer: tests/test_weekly.py and the read-back test below.)"""
    user.fail(is_add, 503)
    assert user.run() == 69
    assert "run again" in capsys.readouterr().err.lower()
    landed = _consistent(user)
    assert landed == [] and user.pushes() == {}
    assert len(user.calls_since(0, "POST", "/items")) == 1          # a POST is never retried blindly
    assert user.run() == 0
    after = _consistent(user)
    assert set(landed) < set(after)


def test_push_met_by_a_short_rate_limit_waits_and_pushes_once(user):
    user.fail(is_add, 429, headers={"Retry-After": "2"})
    assert user.run() == 0
    assert 2.0 in user.sleeps
    assert len(_consistent(user)) >= 10
    assert [c.status for c in user.calls_since(0, "POST", "/items")] == [429, 201]


def test_quota_wall_at_the_push_exits_75_and_records_nothing_unpushed(user, capsys):
    assert user.run() == 0
    batch1 = _consistent(user)
    user.move("data_candidates", "data_1", batch1[:2])
    # the playlists quota runs out exactly at the add: every later playlists call is refused too
    user.fail(is_add, 429, headers={"Retry-After": "40000"}, reason="QUOTA_EXCEEDED")
    real_gate = user.server._httpd.service._gate

    def gate(group, web):
        if any(c.group == "injected" for c in user.server.calls):
            user.state.quotas["playlists"] = 0
        return real_gate(group, web)

    user.server._httpd.service._gate = gate
    assert user.run() == 75
    err = capsys.readouterr().err
    assert "limit" in err.lower() or "quota" in err.lower()
    labels_before = user.labels()
    assert labels_before == {batch1[0]: 1, batch1[1]: 1}
    assert user.pushes("batch = 2") == {}                            # nothing recorded that never landed
    assert set(user.ids("data_candidates")) == set(batch1[2:])
    # the next day the quota is back: the batch goes out, the earlier labels are intact
    user.state.quotas.pop("playlists", None)
    user.server._httpd.service._gate = real_gate
    user.state.reset_day()
    assert user.run() == 0
    _consistent(user)
    assert user.labels() == labels_before and user.pushes("batch = 2")


@pytest.mark.parametrize("applied", [False, True], ids=["refused", "applied-answer-lost"])
def test_push_error_and_no_read_back_is_settled_by_the_next_run(user, applied):
    """Spotify is down right after the add: the run cannot tell what landed; the next run's read settles it."""
    user.fail(is_add, 503, apply=applied)
    pushed = lambda: [c for c in user.server.calls if c.method == "POST" and c.path.endswith("/items")]  # noqa: E731
    # down for the read-back too: the playlist's snapshot and its items
    user.fail(lambda m, p: m == "GET" and "/playlists/" in p and pushed(), 503, times=4)
    assert user.run() == 69
    kept = user.pushes("batch = 1")
    assert kept and set(kept.values()) == {"pending"}                  # cannot tell yet: records kept
    cand = user.pid("data_candidates")
    landed = set(user.ids(cand))
    assert bool(landed) == applied
    assert user.run() == 0
    run1 = user.rows("SELECT max(run_id) FROM runs WHERE status = 'error'")[0][0]
    assert set(user.pushes(f"run_id = {run1}")) == landed               # only what landed stays recorded
    after = _consistent(user)
    assert landed < set(after)
    if not applied:   # the tracks that never went out are back in the pool, and may be offered later
        assert {r[0] for r in user.rows("SELECT status FROM candidates WHERE track_id IN (%s)" % ",".join(
            "?" * len(kept)), *kept)} <= {"pool", "pushed"}


# ---------------------------------------------------------------------------------------------- weeks without labels
def test_unlabelled_weeks_hit_the_pending_cap_then_expire(user, capsys):
    user.settings(min_batch=10, max_batch=12, max_pending=20)
    assert user.run() == 0 and user.run() == 0
    pending = user.pushes("status = 'pending'")
    assert len(pending) >= 20 and set(pending) == set(user.ids("data_candidates"))
    capsys.readouterr()
    n = len(user.server.calls)
    assert user.run() == 0                                        # a run that cannot push is not a failure ...
    assert "no new batch" in capsys.readouterr().out              # ... but it says why
    assert not user.calls_since(n, "POST") and not user.calls_since(n, "DELETE")
    assert user.pushes("status = 'pending'") == pending
    # four weeks later batch 1 is still untouched: it expires, which makes room for a new batch
    conn = user.db()
    conn.execute("UPDATE pushes SET pushed_at = '2020-01-01T00:00:00Z' WHERE batch = 1")
    conn.commit()
    conn.close()
    batch1 = set(user.pushes("batch = 1"))
    assert user.run() == 0
    assert set(user.pushes("status = 'expired'")) == batch1
    assert user.labels() == {}                                    # expired is not a dislike
    now = set(user.ids("data_candidates"))
    assert not now & batch1 and set(user.pushes("batch = 3")) <= now
    assert len(user.rows("SELECT track_id FROM pushes")) == len(batch1 | set(pending) | set(user.pushes("batch = 3")))


# ---------------------------------------------------------------------------------------------- dry run, refusals
def test_dry_run_then_quota_refused_read_then_real_run(user, capsys):
    assert user.run() == 0
    first = user.ids("data_candidates")
    old_cand = user.pid("data_candidates")
    # the user renames data_candidates, labels from it, copies one track (rather than moving it) and deletes data_0
    user.state.playlists[old_cand]["name"] = "old picks"
    user.move(old_cand, "data_1", first[:2])
    user.add("data_1", first[2:3])
    del user.state.playlists[user.pid("data_0")]
    pool_before = user.rows("SELECT count(*) FROM candidates")[0][0]
    n = len(user.server.calls)
    assert user.run("--dry-run") == 0
    assert "would push" in capsys.readouterr().out
    assert not [c for c in user.server.calls[n:] if c.method in WRITES]   # nothing written to Spotify
    assert not user.own("data_candidates") and not user.own("data_0")       # nothing created
    assert user.labels() == {} and set(user.pushes()) == set(first)        # labels and pushes wait for a real run
    assert user.rows("SELECT count(*) FROM candidates")[0][0] > pool_before  # the pool it sampled is kept
    assert user.ids(old_cand) == first[2:]
    # Spotify's playlists quota is spent while reading the labels: exit 75, and nothing changes
    user.state.quotas["playlists"] = user.state.usage.get("playlists", 0) + 2
    assert user.run() == 75
    assert user.labels() == {} and set(user.pushes()) == set(first) and user.ids(old_cand) == first[2:]
    user.state.quotas.pop("playlists")
    n = len(user.server.calls)
    assert user.run() == 0
    assert user.labels() == {t: 1 for t in first[:3]}
    pushes = user.pushes()
    assert {pushes[t] for t in first[:3]} == {"labelled"} and {pushes[t] for t in first[3:]} == {"removed"}
    assert user.ids(old_cand) == first[2:]             # the renamed playlist is the user's own now: never touched
    assert not [c for c in user.server.calls[n:] if old_cand in c.path]
    assert set(user.pushes("batch = 2")) == set(user.ids("data_candidates")) and user.ids("data_0") == []


# ---------------------------------------------------------------------------------------------- quota in the top-up
def test_quota_in_the_pool_top_up_and_at_the_push_keeps_the_pool_then_resumes(user, capsys):
    user.state.quotas["search"] = 8
    user.fail(is_add, 429, headers={"Retry-After": "50000"}, reason="QUOTA_EXCEEDED")
    assert user.run() == 75
    assert "run again" in capsys.readouterr().err.lower()
    asked = set(json.loads(user.rows("SELECT value FROM kv WHERE key = 'pool_queries_asked'")[0][0]))
    assert len(asked) == 8                                        # every search that was answered is remembered
    pool = dict(user.rows("SELECT track_id, status FROM candidates"))
    assert pool and set(pool.values()) == {"pool"}                # the pool is kept, nothing marked pushed
    assert user.pushes() == {} and user.ids("data_candidates") == []
    # the next day: search quota back; the artists quota runs out during the genre look-ups
    user.state.reset_day()
    user.state.quotas = {"artists": 2}
    n = len(user.server.calls)
    assert user.run() == 0
    out = capsys.readouterr().out
    assert "genre look-ups stopped early" in out
    again = {f"{c.query['q']}@{c.query['offset']}" for c in user.calls_since(n) if c.group == "search"}
    assert again and not again & asked                            # no search asked twice
    looked_up = [c.path.rsplit("/", 1)[-1] for c in user.calls_since(n) if c.group == "artists" and c.status == 200]
    assert len(looked_up) == 2 and all(
        user.rows("SELECT genres FROM artists WHERE artist_id = ?", a)[0][0] is not None for a in looked_up)
    assert len(_consistent(user)) >= 10
    assert set(pool) <= {r[0] for r in user.rows("SELECT track_id FROM candidates")}


def test_reccobeats_down_with_no_featured_pool_exits_69_then_resumes(user, capsys):
    user.state.fail_5xx["reccobeats"] = 10_000
    assert user.run() == 69
    err = " ".join(capsys.readouterr().err.split())
    assert "503" in err or "unavailable" in err.lower()
    assert user.pushes() == {} and user.ids("data_candidates") == []
    pool = {r[0] for r in user.rows("SELECT track_id FROM candidates WHERE status = 'pool'")}
    assert pool                                                    # the searches' tracks are kept
    user.state.fail_5xx.clear()
    assert user.run() == 0
    assert len(_consistent(user)) >= 10
    assert pool <= {r[0] for r in user.rows("SELECT track_id FROM candidates")}
