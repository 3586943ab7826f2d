"""A synthetic music catalog: artists with genres, tracks with correlated audio features.

Features are drawn per genre family from Gaussians fitted on real catalogs (see `_calibration.py`), in a
latent space where they are roughly normal, with an artist-level offset so an artist's tracks sound alike.
The hidden truth (each track's family, whether ReccoBeats covers it) lives in `Catalog.truth`, which the
tool under test never sees.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from spotify_modeling.core.featurize import AUDIO_FEATURES as _AUDIO_FEATURES

from . import _vocab as vocab
from ._calibration import CLASSICAL_OVERRIDE, FITTED, LATENT_ORDER

BASE62 = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
UNIT_FEATURES = ["danceability", "energy", "speechiness", "acousticness", "instrumentalness",
                 "liveness", "valence"]
AUDIO_FEATURES = list(_AUDIO_FEATURES)   # the product's own list (core.featurize)
TRACK_COLUMNS = ["track_id", "track_name", "artist_names", "artist_ids", "duration_ms", "release_date",
                 "explicit", *AUDIO_FEATURES, "time_signature", "genres", "popularity"]
CATALOG_YEAR_MAX = 2026
ARTIST_OFFSET_SHARE = 0.35  # share of a family's feature covariance that is between artists
RECCOBEATS_COVERAGE = 0.92


def spotify_ids(rng: np.random.Generator, n: int) -> list[str]:
    """`n` distinct 22-character base62 ids, deterministic for the rng state."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        chars = BASE62[rng.integers(0, 62, size=(n - len(out), 22))]
        for row in chars:
            s = "".join(row)
            if s not in seen:
                seen.add(s)
                out.append(s)
    return out


def _uuid_like(rng: np.random.Generator, n: int) -> list[str]:
    hexes = np.array(list("0123456789abcdef"))[rng.integers(0, 16, size=(n, 32))]
    out = []
    for row in hexes:
        h = "".join(row)
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def _family_params(family: str) -> dict:
    params = dict(FITTED[family])
    if family == "classical":
        params["mean"] = CLASSICAL_OVERRIDE["mean"]
        params["cov"] = FITTED["jazz"]["cov"]
        params["key_p"] = FITTED["_all_hot100"]["key_p"]
        params["mode_p"] = CLASSICAL_OVERRIDE["mode_p"]
        params["log_duration"] = CLASSICAL_OVERRIDE["log_duration"]
    return params


def _word(rng: np.random.Generator) -> str:
    n_syll = (1, 2, 2, 3)[rng.integers(4)]
    parts = [vocab.ONSETS[rng.integers(len(vocab.ONSETS))] + vocab.VOWELS[rng.integers(len(vocab.VOWELS))]
             for _ in range(n_syll)]
    return ("".join(parts) + vocab.CODAS[rng.integers(len(vocab.CODAS))]).capitalize()


def _artist_name(rng: np.random.Generator) -> str:
    pattern = vocab.ARTIST_PATTERNS[rng.integers(len(vocab.ARTIST_PATTERNS))]
    return pattern.format(F=_word(rng), L=_word(rng), W=vocab.WORDS[rng.integers(len(vocab.WORDS))].capitalize(),
                          W2=vocab.WORDS[rng.integers(len(vocab.WORDS))].capitalize())


def _title(rng: np.random.Generator, family: str) -> str:
    if family == "classical" and rng.random() < 0.7:
        form = vocab.CLASSICAL_FORMS[rng.integers(len(vocab.CLASSICAL_FORMS))]
        key = "CDEFGAB"[rng.integers(7)] + ["", "", "", "", "", "", "", "-flat", "-flat", "-sharp"][rng.integers(10)]
        return f"{form} No. {rng.integers(1, 30)} in {key} {('major', 'minor')[rng.integers(2)]}"
    n_words = (1, 2, 2, 3, 4)[rng.integers(5)]
    words = [vocab.WORDS[i] for i in rng.integers(len(vocab.WORDS), size=n_words)]
    title = " ".join(words).title()
    return title + vocab.TITLE_SUFFIXES[rng.integers(len(vocab.TITLE_SUFFIXES))]


def _unique(names: list[str], rng: np.random.Generator) -> list[str]:
    """Make names unique by appending a made-up word to repeats."""
    seen: set[str] = set()
    out = []
    for name in names:
        while name.lower() in seen:
            name = f"{name} {_word(rng)}"
        seen.add(name.lower())
        out.append(name)
    return out


@dataclass
class Catalog:
    """Synthetic catalog. `tracks` uses the canonical track-table columns; `truth` holds hidden facts."""

    tracks: pd.DataFrame
    artists: pd.DataFrame
    albums: pd.DataFrame
    truth: pd.DataFrame
    seed: int = 0
    _track_pos: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._track_pos = {tid: i for i, tid in enumerate(self.tracks["track_id"])}

    def positions(self, track_ids) -> np.ndarray:
        """Row positions of `track_ids` in `tracks` (KeyError for unknown ids)."""
        return np.fromiter((self._track_pos[t] for t in track_ids), dtype=np.int64, count=len(track_ids))

    def artist_object(self, artist_id: str) -> dict:
        """Spotify full artist object (genres included; popularity and followers are gone in 2026)."""
        row = self.artists.loc[artist_id]
        return {"id": artist_id, "name": row["name"], "uri": f"spotify:artist:{artist_id}", "type": "artist",
                "genres": list(row["genres"])}

    @staticmethod
    def _simple_artist(artist_id: str, name: str) -> dict:
        return {"id": artist_id, "name": name, "uri": f"spotify:artist:{artist_id}", "type": "artist"}

    def track_object(self, track_id: str) -> dict:
        """Spotify full track object as `GET /tracks/{id}` returns it in 2026."""
        return next(self.iter_track_objects([self._track_pos[track_id]]))

    def iter_track_objects(self, positions=None):
        """Spotify full track objects for catalog rows at `positions` (all rows by default), fast in bulk."""
        t, truth = self.tracks, self.truth
        idx = np.arange(len(t)) if positions is None else np.asarray(positions)
        album_name = self.albums["name"].to_dict()
        album_type = self.albums["album_type"].to_dict()
        cols = zip(t["track_id"].to_numpy()[idx], t["track_name"].to_numpy()[idx], t["duration_ms"].to_numpy()[idx],
                   t["explicit"].to_numpy()[idx], t["artist_ids"].to_numpy()[idx], t["artist_names"].to_numpy()[idx],
                   t["release_date"].to_numpy()[idx], truth["album_id"].to_numpy()[idx],
                   truth["isrc"].to_numpy()[idx], truth["track_number"].to_numpy()[idx])
        for tid, name, dur, explicit, a_ids, a_names, release, album_id, isrc, number in cols:
            artists = [self._simple_artist(a, n) for a, n in zip(a_ids, a_names)]
            yield {
                "id": tid, "name": name, "uri": f"spotify:track:{tid}", "type": "track",
                "duration_ms": int(dur), "explicit": bool(explicit), "is_local": False, "artists": artists,
                "album": {"id": album_id, "name": album_name[album_id], "uri": f"spotify:album:{album_id}",
                          "type": "album", "release_date": release,
                          "release_date_precision": "year" if len(release) == 4 else "day",
                          "album_type": album_type[album_id], "artists": [dict(artists[0])]},
                "external_ids": {"isrc": isrc}, "disc_number": 1, "track_number": int(number),
            }

    def reccobeats_row(self, track_id: str) -> dict | None:
        """ReccoBeats audio-features row, or None where ReccoBeats has no coverage."""
        return self.reccobeats_rows([self._track_pos[track_id]]).get(track_id)

    def reccobeats_rows(self, positions=None) -> dict[str, dict]:
        """ReccoBeats rows by Spotify track id for covered rows at `positions` (uncovered ones are absent)."""
        t, truth = self.tracks, self.truth
        idx = np.arange(len(t)) if positions is None else np.asarray(positions)
        idx = idx[truth["reccobeats_covered"].to_numpy()[idx]]
        names = ["acousticness", "danceability", "energy", "instrumentalness", "key", "liveness", "loudness",
                 "mode", "speechiness", "tempo", "valence"]
        columns = {n: t[n].to_numpy()[idx].tolist() for n in names}
        ids = t["track_id"].to_numpy()[idx]
        rb_ids = truth["reccobeats_id"].to_numpy()[idx]
        isrcs = truth["isrc"].to_numpy()[idx]
        out = {}
        for i, tid in enumerate(ids):
            row: dict = {"id": rb_ids[i], "href": f"https://open.spotify.com/track/{tid}", "isrc": isrcs[i]}
            for n in names:
                row[n] = int(columns[n][i]) if n in ("key", "mode") else float(columns[n][i])
            out[tid] = row
        return out

    def album_name(self, track_id: str) -> str:
        return str(self.albums.loc[self.truth["album_id"].iloc[self._track_pos[track_id]], "name"])


def _make_artists(rng: np.random.Generator, n_artists: int, no_genre_share: float) -> pd.DataFrame:
    families = np.array(vocab.FAMILIES)
    share = np.array([vocab.FAMILY_SHARE[f] for f in families])
    fam = rng.choice(families, size=n_artists, p=share / share.sum())
    zipf = {f: 1.0 / np.arange(1, len(g) + 1) ** 0.9 for f, g in vocab.GENRE_FAMILIES.items()}
    n_genres = rng.choice([1, 2, 3, 4], size=n_artists, p=[0.3, 0.32, 0.23, 0.15])
    no_genres = rng.random(n_artists) < no_genre_share
    genres: list[list[str]] = []
    for f, k, empty in zip(fam, n_genres, no_genres):
        picked: list[str] = []
        for _ in range(k):
            source = f
            if rng.random() < 0.15:
                source = rng.choice(vocab.NEIGHBOURS[f]) if rng.random() < 0.8 else rng.choice(families)
            names = vocab.GENRE_FAMILIES[source]
            g = names[rng.choice(len(names), p=zipf[source] / zipf[source].sum())]
            if g not in picked:
                picked.append(g)
        genres.append([] if empty else picked)
    # Power-law artist popularity (a few stars, a long tail), on Spotify's 0-100 scale.
    raw = rng.pareto(1.6, size=n_artists) + 1
    popularity = np.clip(100 * np.log(raw) / np.log(raw.max() + 1e-9) * 0.9 + rng.normal(8, 5, n_artists), 0, 100)
    ids = spotify_ids(rng, n_artists)
    names = _unique([_artist_name(rng) for _ in range(n_artists)], rng)
    return pd.DataFrame({"artist_id": ids, "name": names, "genres": genres, "family": fam,
                         "popularity": np.round(popularity, 1)}).set_index("artist_id", drop=False)


def _release_dates(rng: np.random.Generator, years: np.ndarray) -> list[str]:
    start = np.array([date(int(y), 1, 1).toordinal() for y in years])
    days = start + rng.integers(0, 365, size=len(years))
    year_only = rng.random(len(years)) < np.where(years < 1990, 0.35, 0.08)
    out = []
    for d, y, yo in zip(days, years, year_only):
        out.append(str(int(y)) if yo else date.fromordinal(int(d)).isoformat())
    return out


def make_catalog(n_tracks: int = 20000, n_artists: int | None = None, seed: int = 0,
                 no_genre_share: float = 0.3) -> Catalog:
    """Build a reproducible synthetic catalog of `n_tracks` tracks by `n_artists` artists.

    Default n/9: Spotify's catalog holds about 100 million tracks by about 11 million artists (Spotify, "Loud &
    Clear" 2023 and its 2024 company figures), nine tracks an artist on average, heavy-tailed; a catalog with fewer
    makes a liked artist's other songs run out after a page, which no real artist's do.
    """
    rng = np.random.default_rng(seed)
    n_artists = min(n_artists or max(5, n_tracks // 9), n_tracks)
    artists = _make_artists(rng, n_artists, no_genre_share)

    # Tracks per artist: heavy-tailed, at least one each.
    weight = rng.lognormal(0, 1.0, size=n_artists)
    counts = 1 + rng.multinomial(n_tracks - n_artists, weight / weight.sum())
    artist_idx = np.repeat(np.arange(n_artists), counts)
    n = len(artist_idx)
    fam = artists["family"].to_numpy()[artist_idx]

    # Albums: consecutive runs of an artist's tracks; each album has one release year.
    album_of = np.empty(n, dtype=int)
    track_number = np.empty(n, dtype=int)
    album_rows: list[tuple[int, str]] = []
    pos = 0
    for a, c in enumerate(counts):
        left = c
        while left > 0:
            size = int(min(left, rng.choice([1, 1, 2, 4, 8, 10, 12])))
            album_of[pos:pos + size] = len(album_rows)
            track_number[pos:pos + size] = np.arange(1, size + 1)
            album_type = "single" if size <= 2 else ("compilation" if rng.random() < 0.05 else "album")
            album_rows.append((a, album_type))
            pos += size
            left -= size
    n_albums = len(album_rows)
    album_artist = np.array([a for a, _ in album_rows])
    album_family = artists["family"].to_numpy()[album_artist]
    scale = np.array([vocab.RELEASE_AGE_SCALE[f] for f in album_family])
    age = rng.exponential(scale)
    years = np.clip(np.round(CATALOG_YEAR_MAX - age), 1950, CATALOG_YEAR_MAX).astype(int)
    album_dates = _release_dates(rng, years)
    album_ids = spotify_ids(rng, n_albums)
    album_names = [_title(rng, f) for f in album_family]
    albums = pd.DataFrame({"album_id": album_ids, "name": album_names, "album_type": [t for _, t in album_rows],
                           "release_date": album_dates, "artist_id": artists.index.to_numpy()[album_artist]}
                          ).set_index("album_id", drop=False)

    # Audio features: family mean + artist offset + track noise, in the latent space.
    latent = np.empty((n, len(LATENT_ORDER)))
    keys = np.empty(n, dtype=int)
    modes = np.empty(n, dtype=int)
    log_dur = np.empty(n)
    artist_offsets = np.zeros((n_artists, len(LATENT_ORDER)))
    for family in vocab.FAMILIES:
        params = _family_params(family)
        cov = np.array(params["cov"])
        a_mask = artists["family"].to_numpy() == family
        artist_offsets[a_mask] = rng.multivariate_normal(np.zeros(len(cov)), ARTIST_OFFSET_SHARE * cov,
                                                         size=int(a_mask.sum()))
        t_mask = fam == family
        m = int(t_mask.sum())
        noise = rng.multivariate_normal(np.zeros(len(cov)), (1 - ARTIST_OFFSET_SHARE) * cov, size=m)
        latent[t_mask] = np.array(params["mean"]) + artist_offsets[artist_idx[t_mask]] + noise
        key_p = np.array(params["key_p"], dtype=float)
        keys[t_mask] = rng.choice(12, size=m, p=key_p / key_p.sum())
        modes[t_mask] = (rng.random(m) < params["mode_p"]).astype(int)
        mu, sd = params["log_duration"]
        log_dur[t_mask] = rng.normal(mu, sd * 0.8, size=m) + 0.2 * sd * rng.standard_normal(n_artists)[artist_idx[t_mask]]
    keys[rng.random(n) < 0.01] = -1
    feats = {}
    for j, name in enumerate(LATENT_ORDER):
        if name in UNIT_FEATURES:
            feats[name] = np.round(1 / (1 + np.exp(-latent[:, j])), 4)
        elif name == "loudness":
            feats[name] = np.round(np.clip(latent[:, j], -45.0, -0.2), 3)
        else:
            feats[name] = np.round(np.clip(np.exp(latent[:, j]), 50.0, 220.0), 3)
    ts_p = FITTED["_all_hot100"]["time_signature_p"]
    ts_vals = np.array(sorted(ts_p))
    ts_probs = np.array([ts_p[k] for k in ts_vals])
    time_signature = rng.choice(ts_vals, size=n, p=ts_probs / ts_probs.sum())
    three = np.isin(fam, ["classical", "jazz", "folk"]) & (rng.random(n) < 0.12)
    time_signature[three] = 3
    duration = np.clip(np.exp(log_dur), 30_000, 1_200_000).astype(int)

    explicit_p = np.array([vocab.EXPLICIT_P[f] for f in fam])
    artist_explicit = rng.uniform(0.3, 1.7, size=n_artists)[artist_idx]
    explicit = rng.random(n) < np.clip(explicit_p * artist_explicit, 0, 0.95)

    # Track popularity: artist popularity plus a per-track draw, heavy-tailed.
    artist_pop = artists["popularity"].to_numpy()[artist_idx]
    popularity = np.round(np.clip(artist_pop * rng.uniform(0.5, 1.1, n) + rng.normal(0, 6, n), 0, 100), 1)

    # Features (guests) on ~8% of non-classical tracks.
    artist_ids_arr = artists.index.to_numpy()
    artist_names_arr = artists["name"].to_numpy()
    track_artist_ids: list[list[str]] = []
    track_artist_names: list[list[str]] = []
    fam_artists = {f: np.flatnonzero(artists["family"].to_numpy() == f) for f in vocab.FAMILIES}
    for i in range(n):
        a = artist_idx[i]
        ids, nms = [artist_ids_arr[a]], [artist_names_arr[a]]
        if fam[i] != "classical" and rng.random() < 0.08 and len(fam_artists[fam[i]]) > 1:
            guest = fam_artists[fam[i]][rng.integers(len(fam_artists[fam[i]]))]
            if guest != a:
                ids.append(artist_ids_arr[guest])
                nms.append(artist_names_arr[guest])
        track_artist_ids.append(ids)
        track_artist_names.append(nms)

    titles = [_title(rng, f) for f in fam]
    # Unique (artist, title) pairs: uniquify titles within each artist.
    by_artist: dict[int, set[str]] = {}
    for i in range(n):
        seen = by_artist.setdefault(int(artist_idx[i]), set())
        while titles[i].lower() in seen:
            titles[i] = f"{titles[i]} {_word(rng)}"
        seen.add(titles[i].lower())

    track_ids = spotify_ids(rng, n)
    release = [album_dates[a] for a in album_of]
    artist_genres = artists["genres"].tolist()
    genres = [list(artist_genres[a]) for a in artist_idx]
    tracks = pd.DataFrame({
        "track_id": track_ids, "track_name": titles, "artist_names": track_artist_names,
        "artist_ids": track_artist_ids, "duration_ms": duration, "release_date": release, "explicit": explicit,
        **{k: feats[k] for k in ["danceability", "energy"]}, "key": keys, "loudness": feats["loudness"],
        "mode": modes, **{k: feats[k] for k in ["speechiness", "acousticness", "instrumentalness", "liveness",
                                                "valence", "tempo"]},
        "time_signature": time_signature.astype(int), "genres": genres, "popularity": popularity,
    })[TRACK_COLUMNS]
    countries = np.array(["US", "GB", "SE", "DE", "FR", "BR", "JP", "NG", "MX", "CA"])
    isrc = [f"{c}{r}{y % 100:02d}{s:05d}" for c, r, y, s in zip(
        countries[rng.integers(len(countries), size=n)],
        ["".join(x) for x in BASE62[10:36][rng.integers(0, 26, size=(n, 3))]],
        np.array([int(d[:4]) for d in release]), rng.integers(0, 100_000, size=n))]
    truth = pd.DataFrame({
        "track_id": track_ids, "family": fam, "artist_id": artist_ids_arr[artist_idx],
        "album_id": np.array(album_ids)[album_of], "track_number": track_number, "isrc": isrc,
        "release_year": np.array([int(d[:4]) for d in release]),
        "reccobeats_covered": rng.random(n) < RECCOBEATS_COVERAGE, "reccobeats_id": _uuid_like(rng, n),
    })
    return Catalog(tracks=tracks, artists=artists, albums=albums, truth=truth, seed=seed)


def release_dates_to_years(release_date: pd.Series) -> np.ndarray:
    """Year of each `YYYY` or `YYYY-MM-DD` release date string."""
    return release_date.astype(str).str[:4].astype(int).to_numpy()


__all__ = ["Catalog", "make_catalog", "spotify_ids", "TRACK_COLUMNS", "AUDIO_FEATURES", "release_dates_to_years"]
