"""The candidate pool: catalog tracks sampled through search under the 2026 limits.

Search ranks by relevance and popularity, so one query gives today's hits. To sample the catalog more evenly we vary
the query text (a random two-letter word prefix), the `year:` range (a random decade, weighted toward the past),
and the offset (random, up to Spotify's 1,000 cap), and keep only a few tracks of each page of 10. Every (query,
offset) asked is remembered so no search is ever repeated. Search results carry full track objects, so pool tracks
need no further Spotify call for their metadata.

A share of the searches can instead ask for one of your own genres (`genre:"indie rock"`, chosen by how often your
history plays it): those tracks are far more often to your taste than a random one, and a bigger share of the pool
worth offering is what raises the share of candidates you like. The random share stays: it is what the affinity model
learns "random catalog track" from, and it keeps the loop from closing in on the genres you already know.

Once you like candidates, the taste searches are shared (by `core.selection.sources`, from your labels) among your
history's genres, `artist:"..."` searches of the artists you liked (their own tracks, a page deeper each time) and
`genre:` searches of your likes' genres; ReccoBeats adds tracks that sound like your likes at no Spotify quota. Every
pool track records its source and why it came.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spotify_modeling.errors import QuotaExhausted
from spotify_modeling.core.normalize import name_key
from spotify_modeling.core.selection.sources import pool_reason
from spotify_modeling.db import pushes_and_labels as loop_db
from spotify_modeling.db import tracks
from spotify_modeling.db.store import Store
from spotify_modeling.core.records import TrackRecord

DECADES = [(1950, 1969), (1970, 1979), (1980, 1989), (1990, 1999), (2000, 2009), (2010, 2014), (2015, 2019),
           (2020, 2022), (2023, 2026)]
_LETTERS = "abcdefghiklmnoprstuvwy"
MAX_OFFSET = 1000


@dataclass
class PoolTopUp:
    calls: int = 0
    added: int = 0
    stopped_by: str | None = None    # None | quota message
    retry_after: float | None = None
    stopped_error: Exception | None = None   # what stopped it (daily quota or short-term rate limit)
    queries: list[str] = field(default_factory=list)
    calls_by_source: dict[str, int] = field(default_factory=dict)
    added_by_source: dict[str, int] = field(default_factory=dict)


def random_query(rng: np.random.Generator, totals: dict[str, int]) -> tuple[str, int]:
    """A random (query, offset): a word prefix and a decade; the offset is uniform below the query's known total.

    A query seen for the first time is asked at offset 0, which also tells its `total`; later visits of the same
    query go deep into its results (up to Spotify's offset cap of 1,000), where the less popular tracks are.
    """
    prefix = str(rng.choice(list(_LETTERS)))
    if rng.random() < 0.3:
        prefix += str(rng.choice(list("aeiou")))
    lo, hi = DECADES[rng.integers(len(DECADES))]
    q = f"{prefix} year:{lo}-{hi}"
    total = totals.get(q)
    if total is None:
        return q, 0
    top = max(1, min(total, MAX_OFFSET + 10) - 9)
    return q, int(rng.integers(0, top))


def taste_genres(played_genres, top: int = 40, labelled_genres=None, labels=None,
                 pseudo_count: float = 5.0) -> dict[str, float]:
    """The fine genres of your history, each with the share of your played tracks that carry it (top `top`).

    These are the `genre:` searches' menu: a share of the pool comes from the genres you actually play. With your
    labels (`labelled_genres`, the genres of each labelled candidate, and `labels`, 1 like / 0 dislike), each
    genre's share is scaled by how much better than your average its candidates fared, the rate pulled toward your
    average with `pseudo_count` labels, and a genre your likes carry but your history does not joins the menu: the
    pool follows what you like now, not only what you played (a partner's genres, the sleep playlist's, fade).
    """
    counts: dict[str, int] = {}
    n = 0
    for genres in played_genres:
        if genres is None or isinstance(genres, float) or not len(genres):
            continue
        n += 1
        for g in dict.fromkeys(genres):
            counts[g] = counts.get(g, 0) + 1
    share = {g: c / n for g, c in counts.items()} if n else {}
    if labelled_genres is not None and labels is not None and len(labels):
        liked: dict[str, int] = {}
        seen: dict[str, int] = {}
        n_liked = 0
        for genres, y in zip(labelled_genres, labels):
            n_liked += int(y == 1)
            for g in dict.fromkeys(genres or []):
                seen[g] = seen.get(g, 0) + 1
                liked[g] = liked.get(g, 0) + int(y == 1)
        rate = max(float(np.mean(np.asarray(labels) == 1)), 1e-3)
        for g, k in seen.items():
            factor = (liked.get(g, 0) + pseudo_count * rate) / ((k + pseudo_count) * rate)
            base = share.get(g, 0.0) or (liked.get(g, 0) / max(n_liked, 1)) * 0.5
            share[g] = base * factor
    best = sorted(((g, v) for g, v in share.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))[:top]
    return dict(best)


def choose_taste_genre(rng: np.random.Generator, genres: dict[str, float]) -> str:
    """One genre of `taste_genres`, drawn with probability ~ sqrt(share): your main genres most, niche ones too."""
    names = sorted(genres)
    w = np.sqrt(np.array([genres[g] for g in names], dtype=float))
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def genre_query_text(genre: str) -> str:
    return 'genre:"' + genre.replace('"', "") + '"'


def taste_query(rng: np.random.Generator, genres: dict[str, float], totals: dict[str, int],
                asked: set[str]) -> tuple[str, int] | None:
    """A `genre:"..."` search of one of your genres and a page not asked yet; None when every genre is used up.

    Offsets are whole pages (0, 10, 20, ...) below the query's known total (and Spotify's 1,000 cap), so two searches
    never return overlapping pages. A genre whose search found nothing, or whose pages were all asked, leaves the
    menu: its slots go to random searches instead.
    """
    live = {}
    for g, share in genres.items():
        q = genre_query_text(g)
        total = totals.get(q)
        pages = [0] if total is None else list(range(0, min(total, MAX_OFFSET + 1), 10))
        left = [o for o in pages if f"{q}@{o}" not in asked]
        if left:
            live[g] = (share, q, left)
    if not live:
        return None
    g = choose_taste_genre(rng, {g: v[0] for g, v in live.items()})
    _, q, left = live[g]
    return q, int(left[int(rng.integers(len(left)))])


def save_track_objects(store: Store, records: list[TrackRecord], source: str = "search") -> None:
    """Spotify search results (`SpotifyClient.search_track_records`) into `tracks`; a page of search results only
    fills what a track's stored description lacks."""
    with store.transaction() as conn:
        tracks.upsert_tracks(conn, [r for r in records if r is not None], source, fill_only=True)


known_name_keys = loop_db.known_name_keys
excluded_track_ids = loop_db.excluded_track_ids


def _taken(store: Store) -> tuple[set[str], set[str]]:
    """(track ids, song keys) a new pool track must not have: excluded ones and those already in the pool."""
    in_pool, pool_keys = loop_db.candidate_ids_and_keys(store)
    return excluded_track_ids(store) | in_pool, known_name_keys(store) | pool_keys


def artist_query_text(name: str) -> str:
    return 'artist:"' + name.replace('"', "") + '"'


def artist_query(artists: list[dict], totals: dict[str, int], asked: set[str]) -> tuple[str, int, dict] | None:
    """An `artist:"..."` search of one of the artists you liked and its next page: the artist searched least so far
    (the newest like first among equals), a page deeper each time it comes round (0, 10, 20, ... below the query's
    known total and Spotify's 1,000 cap). None when every artist's pages are used up."""
    best = None
    for order, a in enumerate(artists):
        q = artist_query_text(a["name"])
        total = totals.get(q)
        pages = [0] if total is None else list(range(0, min(total, MAX_OFFSET + 1), 10))
        left = [o for o in pages if f"{q}@{o}" not in asked]
        if not left:
            continue
        done = len(pages) - len(left) if total is not None else 0
        key = (done, order)
        if best is None or key < best[0]:
            best = (key, q, left[0], a)
    if best is None:
        return None
    _, q, offset, a = best
    return q, int(offset), a


@dataclass
class SearchMenus:
    """What the taste searches draw from: your history's genres, the genres and artists of your likes."""
    history_genres: dict[str, float] = field(default_factory=dict)
    liked_genres: dict[str, float] = field(default_factory=dict)
    artists: list[dict] = field(default_factory=list)      # {"artist_id", "name", "seed"}, newest like first
    pruned_artists: set[str] = field(default_factory=set)  # never searched nor offered


def top_up_pool(client, store: Store, max_calls: int, rng: np.random.Generator, per_page: int = 3,
                genres: dict[str, float] | None = None, genre_share: float = 0.0,
                calls_by_source: dict[str, int] | None = None, menus: SearchMenus | None = None) -> PoolTopUp:
    """Spend up to `max_calls` searches adding new, unknown tracks to the pool; a quota wall ends it cleanly.

    The searches go to the sources in `calls_by_source` (see `core.selection.sources`): ``search`` (random catalog
    tracks: the affinity model's negatives and the control), ``genre`` (your history's genres, `menus`), ``artist``
    (the artists of your likes: every fresh track of theirs on the page is kept) and ``liked_genre`` (the genres of
    your likes). Without it, a `genre_share` of the searches are `genre:` searches of `genres` and the rest random.
    A source whose menu is used up gives its searches to random ones. Every track records its source and why.
    """
    out = PoolTopUp()
    asked = set(store.get_kv("pool_queries_asked", []))
    totals: dict[str, int] = store.get_kv("pool_query_totals", {})
    excluded, known_keys = _taken(store)
    menus = menus or SearchMenus(history_genres=genres or {})
    if calls_by_source is None:
        n_genre = int(round(genre_share * max_calls)) if menus.history_genres else 0
        calls_by_source = {"genre": n_genre, "search": max_calls - n_genre}
    kinds = [k for k, n in sorted(calls_by_source.items()) for _ in range(max(0, int(n)))][:max_calls]
    kinds += ["search"] * (max_calls - len(kinds))
    if len(set(kinds)) > 1:
        rng.shuffle(kinds)
    pruned = menus.pruned_artists
    attempts = 0
    while out.calls < max_calls and attempts < max_calls * 5:
        attempts += 1
        source = kinds[out.calls]
        picked, detail, artist = None, None, None
        if source in ("genre", "liked_genre"):
            menu = menus.history_genres if source == "genre" else menus.liked_genres
            picked = taste_query(rng, menu, totals, asked) if menu else None
            if picked is not None:
                detail = picked[0][len('genre:"'):-1]
        elif source == "artist":
            found = artist_query([a for a in menus.artists if a["artist_id"] not in pruned], totals, asked)
            if found is not None:
                picked, artist = found[:2], found[2]
                detail = artist["seed"]
        if source != "search" and picked is None:   # this source's menu is used up: the search goes random
            kinds[out.calls] = source = "search"
        q, offset = picked if picked is not None else random_query(rng, totals)
        if f"{q}@{offset}" in asked or (q in totals and totals[q] == 0):
            continue
        try:
            items, total = client.search_track_records(q, limit=10, offset=offset)
        except QuotaExhausted as err:
            out.stopped_by, out.retry_after, out.stopped_error = str(err), err.retry_after, err
            break
        except Exception as err:  # a 400 for an offset beyond `total` is an empty page, not a failure
            if getattr(err, "status", None) == 400:
                out.calls += 1
                asked.add(f"{q}@{offset}")
                continue
            raise
        out.calls += 1
        out.queries.append(f"{q} @{offset}")
        out.calls_by_source[source] = out.calls_by_source.get(source, 0) + 1
        asked.add(f"{q}@{offset}")
        totals[q] = int(total or 0)
        fresh = [t for t in items if not t.is_local and t.is_playable is not False and t.id not in excluded
                 and not ({a.id for a in t.artists} & pruned)
                 and name_key(t.first_artist, t.name) not in known_keys]
        if artist is not None:   # the liked artist's own tracks (a name search also finds namesakes)
            fresh = [t for t in fresh if artist["artist_id"] in {a.id for a in t.artists}]
        elif len(fresh) > per_page:
            fresh = [fresh[i] for i in sorted(rng.choice(len(fresh), per_page, replace=False))]
        reason = pool_reason(source, detail)
        with store.transaction() as conn:
            save_track_objects(store, fresh)
            rows = [(t.id, name_key(t.first_artist, t.name), source, f"{q} @{offset}", reason) for t in fresh]
            loop_db.add_candidates(conn, rows)
            excluded.update(r[0] for r in rows)
            known_keys.update(r[1] for r in rows)
            store.set_kv("pool_queries_asked", sorted(asked))
            store.set_kv("pool_query_totals", totals)
        out.added += len(fresh)
        out.added_by_source[source] = out.added_by_source.get(source, 0) + len(fresh)
    return out


def add_recommendations(reccobeats, store: Store, seeds: list[dict] | list[str], size: int = 20,
                        pruned_artists: set[str] | None = None) -> int:
    """ReccoBeats recommendations seeded by tracks you liked (no Spotify quota), one call per seed so that each
    track can say which like it sounds like. `seeds`: {"track_id", "seed": "Artist - Title"} (or bare ids)."""
    if not seeds:
        return 0
    seeds = [s if isinstance(s, dict) else {"track_id": s, "seed": None} for s in seeds]
    excluded, known_keys = _taken(store)
    pruned = pruned_artists or set()
    fresh, rows = [], []
    for seed in seeds:
        for r in reccobeats.recommendation_records([seed["track_id"]], size=size):
            tid = r.id
            key = name_key(r.first_artist, r.name)
            if not tid or tid in excluded or key in known_keys or ({a.id for a in r.artists} & pruned):
                continue
            fresh.append(r)
            rows.append((tid, key, "reccobeats", seed["track_id"], pool_reason("reccobeats", seed.get("seed"))))
            excluded.add(tid)
            known_keys.add(key)
    with store.transaction() as conn:
        tracks.upsert_tracks(conn, fresh, "reccobeats", fill_only=True)
        loop_db.add_candidates(conn, rows)
    return len(rows)


random_sample_ids = loop_db.random_sample_ids


def pool_track_ids(store: Store) -> list[str]:
    """Pool tracks still eligible now (exclusions re-checked: the user may have played or saved one since)."""
    excluded = excluded_track_ids(store)
    known = known_name_keys(store)
    return [tid for tid, key in loop_db.pool_rows(store) if tid not in excluded and key not in known]
