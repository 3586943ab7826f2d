"""Listening behaviour of a simulated listener: plays, playlists, saved tracks, top artists.

Plays come in sessions at the listener's usual hours; most are drawn from a personal library of known
tracks (favourites repeat, loyal listeners concentrate on few artists), some from "radio" (unknown tracks,
often skipped). Low-appeal tracks are skipped (< 30 s, `fwdbtn`) more often; completed plays have
`ms_played == duration_ms` and `reason_end == "trackdone"`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import _vocab as vocab
from .catalog import Catalog, spotify_ids
from .listener import Listener, like_probability_from_appeal

HISTORY_COLUMNS = ["ts", "track_id", "ms_played", "reason_start", "reason_end", "shuffle", "skipped",
                   "platform", "offline", "incognito_mode", "conn_country"]


def _as_utc(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _library(listener: Listener, catalog: Catalog, size: int, rng: np.random.Generator) -> np.ndarray:
    """Catalog positions of the tracks this listener knows: mostly appealing ones, popular ones easier to find."""
    p = listener.persona
    like = like_probability_from_appeal(listener.appeal_)
    pop = catalog.tracks["popularity"].to_numpy(float)
    reach = (1.0 + pop / 25.0) ** (0.8 + 0.6 * p.commonality)
    weight = like ** 2.0 * reach
    size = min(size, int((weight > 0).sum()))
    return rng.choice(len(weight), size=size, replace=False, p=weight / weight.sum())


def _hours(rng: np.random.Generator, n: int, peaks: np.ndarray, peak_w: np.ndarray) -> np.ndarray:
    which = rng.choice(len(peaks), size=n, p=peak_w)
    return np.mod(rng.normal(peaks[which], 1.5), 24.0)


def simulate_history(listener: Listener, catalog: Catalog, start="2023-06-01", end="2026-06-01",
                     n_plays: int = 20000, seed: int = 0) -> pd.DataFrame:
    """Plays between `start` and `end` (UTC), sorted by `ts` (when the stream ended)."""
    rng = np.random.default_rng([seed, 31])
    p = listener.persona
    start_ts, end_ts = _as_utc(start), _as_utc(end)
    tracks, truth = catalog.tracks, catalog.truth
    n_cat = len(tracks)

    # Personal library and play weights (favourites get most plays; loyalty concentrates on artists).
    repeat_factor = 6.0 + 4.0 * p.familiarity
    library = _library(listener, catalog, int(np.clip(n_plays / repeat_factor, 30, n_cat / 3)), rng)
    artist_codes, artist_index = pd.factorize(truth["artist_id"])
    artist_pull = rng.normal(0, 1, len(artist_index)) * (0.6 + 0.6 * p.loyalty) \
        + listener.artist_affinity.reindex(artist_index).to_numpy(float)
    appeal_lib = listener.appeal_[library]
    play_w = appeal_lib ** 2 * rng.lognormal(0, 0.8 + 0.3 * p.familiarity, len(library)) \
        * np.exp(artist_pull[artist_codes[library]])
    play_w /= play_w.sum()

    # Radio / autoplay: unknown tracks from roughly the right families; many will be skipped.
    explore_share = float(np.clip(0.12 - 0.08 * p.familiarity, 0.02, 0.25))
    fam_aff = truth["family"].map(listener.family_affinity).to_numpy(float)
    radio_w = np.exp(1.5 * fam_aff) * (1.0 + tracks["popularity"].to_numpy(float) / 25.0)
    radio_w /= radio_w.sum()

    from_radio = rng.random(n_plays) < explore_share
    pos = np.where(from_radio, rng.choice(n_cat, size=n_plays, p=radio_w),
                   library[rng.choice(len(library), size=n_plays, p=play_w)])

    # Sessions: lengths ~ geometric, start at the listener's usual hours on random days.
    session_len = rng.geometric(1 / 12.0, size=max(1, n_plays // 6))
    session_len = session_len[np.cumsum(session_len) <= n_plays]
    session_len = np.append(session_len, n_plays - session_len.sum())
    session_len = session_len[session_len > 0]
    n_sessions = len(session_len)
    session_of = np.repeat(np.arange(n_sessions), session_len)
    span_days = max((end_ts - start_ts).total_seconds() / 86400.0, 1.0)
    peaks = np.array([8.0, 13.0, 18.0, 22.0])
    peak_w = rng.dirichlet(np.ones(4) * 1.5)
    day = np.floor(np.sort(rng.uniform(0, span_days, n_sessions)))
    hour = _hours(rng, n_sessions, peaks, peak_w)
    session_start = start_ts + pd.to_timedelta(day * 86400 + hour * 3600, unit="s")
    session_start = pd.DatetimeIndex(session_start).sort_values()

    # A track cannot be played before it was released: swap such plays for an older library track.
    play_year = np.asarray(session_start.year)[session_of]
    too_new = truth["release_year"].to_numpy()[pos] > play_year
    if too_new.any():
        lib_years = truth["release_year"].to_numpy()[library]
        order = np.argsort(lib_years, kind="stable")
        for i in np.flatnonzero(too_new):
            ok = order[: np.searchsorted(lib_years[order], play_year[i], side="right")]
            if len(ok):
                pos[i] = library[ok[rng.integers(len(ok))]]

    # Outcome of each play.
    appeal = listener.appeal_[pos]
    duration = tracks["duration_ms"].to_numpy()[pos]
    known = ~from_radio
    p_skip = np.clip(0.03 + 0.6 * (1 - appeal) ** 2 - 0.05 * known, 0.01, 0.9)
    u = rng.random(n_plays)
    skip = u < p_skip
    partial = ~skip & (u < p_skip + 0.08)
    complete = ~skip & ~partial
    ms_played = duration.copy()
    ms_played[skip] = rng.integers(500, 30_000, size=skip.sum())
    ms_played[partial] = (30_000 + rng.random(partial.sum()) * np.maximum(duration[partial] - 30_001, 1)).astype(int)
    ms_played = np.minimum(ms_played, duration)
    reason_end = np.empty(n_plays, dtype=object)
    reason_end[complete] = "trackdone"
    reason_end[skip] = rng.choice(["fwdbtn", "backbtn"], size=skip.sum(), p=[0.9, 0.1])
    reason_end[partial] = rng.choice(["endplay", "logout", "unexpected-exit-while-paused", "unexpected-exit"],
                                     size=partial.sum(), p=[0.7, 0.1, 0.15, 0.05])
    skipped = skip | (partial & (rng.random(n_plays) < 0.5))
    first = np.r_[True, session_of[1:] != session_of[:-1]]
    prev_end = np.concatenate([np.array(["trackdone"], dtype=object), reason_end[:-1]])
    reason_start = np.where(np.isin(prev_end, ["trackdone", "fwdbtn", "backbtn"]), prev_end, "clickrow").astype(object)
    reason_start[first] = rng.choice(["clickrow", "playbtn", "appload", "remote"], size=first.sum(),
                                     p=[0.6, 0.2, 0.17, 0.03])

    # Timestamps: the stream's end = session start + cumulative listening + small gaps.
    gap = rng.integers(0, 3000, size=n_plays)
    elapsed = ms_played + gap
    cum = np.cumsum(elapsed)
    session_first_cum = np.r_[0, cum[np.cumsum(session_len)[:-1] - 1]]
    within = cum - session_first_cum[session_of]
    ts = pd.DatetimeIndex(session_start[session_of]) + pd.to_timedelta(within, unit="ms")
    ts = ts.floor("s")

    main_platform = rng.choice(vocab.PLATFORMS[:4])
    platforms = np.where(rng.random(n_sessions) < 0.85, main_platform, rng.choice(vocab.PLATFORMS, size=n_sessions))
    shuffle = rng.random(n_sessions) < float(np.clip(0.35 - 0.2 * p.familiarity, 0.05, 0.8))
    offline = rng.random(n_sessions) < 0.03
    country = rng.choice(["SE", "US", "GB", "DE", "BR", "IN"])
    history = pd.DataFrame({
        "ts": ts, "track_id": tracks["track_id"].to_numpy()[pos], "ms_played": ms_played.astype(int),
        "reason_start": reason_start, "reason_end": reason_end, "shuffle": shuffle[session_of],
        "skipped": skipped, "platform": platforms[session_of], "offline": offline[session_of],
        "incognito_mode": np.zeros(n_plays, dtype=bool), "conn_country": country,
    })[HISTORY_COLUMNS]
    history = history[(history["ts"] < end_ts)]
    return history.sort_values("ts", kind="stable").reset_index(drop=True)


@dataclass
class OwnPlaylist:
    """One of the listener's own playlists (by name, with add dates)."""

    name: str
    description: str
    track_ids: list[str]
    added_at: list[pd.Timestamp]
    last_modified: pd.Timestamp


def _appreciation(listener: Listener, catalog: Catalog, history: pd.DataFrame) -> pd.DataFrame:
    """Per played track: plays, completed listening and the hidden appeal."""
    frac = history["ms_played"] / catalog.tracks["duration_ms"].to_numpy()[catalog.positions(history["track_id"].tolist())]
    g = history.assign(frac=frac.clip(upper=1.0)).groupby("track_id", sort=True).agg(
        plays=("ts", "size"), listened=("frac", "sum"), first_play=("ts", "min"), last_play=("ts", "max"))
    g["appeal"] = listener.appeal(g.reset_index())
    return g


def make_own_library(listener: Listener, catalog: Catalog, history: pd.DataFrame, seed: int = 0
                     ) -> tuple[list[OwnPlaylist], list[tuple[str, pd.Timestamp]], list[str]]:
    """Playlists (2-5), saved tracks and top artists, mostly from high-appeal played tracks."""
    rng = np.random.default_rng([seed, 57])
    stats = _appreciation(listener, catalog, history)
    ids = stats.index.to_numpy()
    base_w = like_probability_from_appeal(stats["appeal"].to_numpy()) ** 2 * np.log1p(stats["listened"].to_numpy())
    base_w = 0.9 * base_w / base_w.sum() + 0.1 / len(base_w)  # a few odd choices, as people make
    feats = catalog.tracks.iloc[catalog.positions(ids.tolist())]
    years = catalog.truth["release_year"].to_numpy()[catalog.positions(ids.tolist())].astype(float)

    def pick(weights: np.ndarray, k: int) -> np.ndarray:
        k = int(min(k, (weights > 0).sum()))
        return rng.choice(len(weights), size=k, replace=False, p=weights / weights.sum())

    def added_dates(idx: np.ndarray) -> list[pd.Timestamp]:
        first = stats["first_play"].to_numpy()[idx]
        last = stats["last_play"].to_numpy()[idx]
        u = rng.random(len(idx))
        return [pd.Timestamp(f + (l - f) * x).floor("s") for f, l, x in zip(first, last, u)]

    names = list(vocab.PLAYLIST_THEMES)
    chosen = rng.choice(names, size=int(rng.integers(2, 6)), replace=False)
    playlists: list[OwnPlaylist] = []
    for name in chosen:
        description, feature, sign = vocab.PLAYLIST_THEMES[name]
        values = years if feature == "release_year" else (feats[feature].to_numpy(float) if feature else None)
        w = base_w.copy()
        if values is not None:
            z = (values - values.mean()) / (values.std() + 1e-9)
            w *= np.exp(1.5 * sign * np.clip(z, -3, 3))
        size = int(np.clip(rng.integers(15, 81), 5, max(5, len(ids) // 3)))
        idx = pick(w, size)
        dates = added_dates(idx)
        order = np.argsort([d.value for d in dates], kind="stable")
        playlists.append(OwnPlaylist(name=str(name), description=description,
                                     track_ids=[str(ids[i]) for i in idx[order]],
                                     added_at=[dates[i] for i in order], last_modified=max(dates)))

    n_saved = int(np.clip(0.15 * len(ids), 10, 400))
    idx = pick(base_w, n_saved)
    saved_dates = added_dates(idx)
    order = np.argsort([-d.value for d in saved_dates], kind="stable")  # newest first, as /me/tracks
    saved = [(str(ids[idx[i]]), saved_dates[i]) for i in order]

    recent = history[history["ts"] >= history["ts"].max() - pd.Timedelta(days=182)]
    primary = catalog.truth["artist_id"].to_numpy()[catalog.positions(recent["track_id"].tolist())]
    top_artists = (pd.Series(recent["ms_played"].to_numpy(), index=primary).groupby(level=0).sum()
                   .sort_values(ascending=False, kind="stable").head(20).index.tolist())
    return playlists, saved, top_artists


def simulate_podcast_plays(start, end, n: int = 12, seed: int = 0) -> pd.DataFrame:
    """A few podcast-episode plays (the tool must ignore them)."""
    rng = np.random.default_rng([seed, 91])
    start_ts, end_ts = _as_utc(start), _as_utc(end)
    span = (end_ts - start_ts).total_seconds()
    ts = sorted(start_ts + pd.to_timedelta(rng.uniform(0, span, n), unit="s"))
    shows = rng.integers(len(vocab.PODCASTS), size=n)
    rows = []
    for t, s in zip(ts, shows):
        show, episodes = vocab.PODCASTS[s]
        rows.append({"ts": pd.Timestamp(t).floor("s"), "show": show, "episode": str(rng.choice(episodes)),
                     "episode_id": None, "ms_played": int(rng.integers(2_000, 3_000_000))})
    out = pd.DataFrame(rows, columns=["ts", "show", "episode", "episode_id", "ms_played"])
    out["episode_id"] = spotify_ids(rng, n)
    return out
