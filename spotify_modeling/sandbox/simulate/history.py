"""Listening behaviour of a simulated listener: plays, playlists, saved tracks, top artists.

Plays come in sessions at the listener's usual hours; most are drawn from a personal library of known
tracks (favourites repeat, loyal listeners concentrate on few artists), some from "radio" (unknown tracks,
often skipped). Low-appeal tracks are skipped (< 30 s, `fwdbtn`) more often; completed plays have
`ms_played == duration_ms` and `reason_end == "trackdone"`.

History noise (opt-in: `simulate_history(noise=...)`, `build_world(history_noise=...)`). On a real account a share
of the plays is not the listener choosing their music. With `noise` > 0 that share of the plays (sessions or the
ends of sessions) is replaced, from a random stream of its own so that `noise` 0 is exactly the old history, by
four contexts (`NOISE_CONTEXTS`; split `NOISE_MIX`: 45% background, 35% shared, 20% autoplay):

- "sleep" / "focus" (background): one sleep playlist played at night and one focus playlist on weekdays by day,
  25-60 tracks each, replayed over and over (the top of the list most), picked for sounding like sleep or focus
  music and rarely the listener's own kind. Sleep music is softer, slower, more often instrumental and acoustic
  than music in general (Scarratt, Heggli, Vuust and Jespersen, PLOS ONE 2023: 225,626 tracks of 985 Spotify sleep
  playlists); up to 46% of respondents in the epidemiological studies they cite use music to sleep; Spotify users
  had made 2.8 million sleep-themed playlists by 2015 (Spotify, reported by Billboard and The Guardian), and white
  noise and ambient audio drew 3 million listening hours a day on Spotify in 2023 (press reports of the Deezer/UMG
  "artist-centric" deal). Such listening is inattentive, so hardly skipped: "the less they concentrate on the
  music, the less they skip" (Paul Lamere, "The Skip", Music Machinery, 2014). Here 4% are skipped in the first
  30 s and 6% stopped part-way; a sleep session ends part-way through its last track (sleep timer, `endplay`).
  They land in the listener's own playlists "sleep" and "deep focus" (the lists the plays came from, each track
  added up to a month before its first play), not in saved tracks.
- "shared": a second person on the account (partner, flatmate, the guests of a party). MusicWatch (2019) found 32%
  of paying US subscribers without a family plan share their login (44% of those aged 25-44). The other person has
  their own taste (`make_partner`: one or two loved families the listener does not love), library and phone
  (another `platform`), mostly evenings and weekends, and skips and completes like anyone listening to their own
  music, under their own taste. Their most-played tracks form a "house party" playlist, and they save tracks too:
  their share of the saved tracks equals their plays' share of the listener's own plays.
- "autoplay": when an album or playlist ends Spotify keeps playing. At the end of some of the listener's own
  sessions (a tail of 1 + geometric(0.4) plays) come popular tracks next to the listener's taste (neighbouring
  families) but outside it. The first has `reason_start` "autoplay". Skipped in the first 30 s with probability
  20% + 30% (1 - appeal)^2, about 40-55% for these tracks, 10% stopped part-way, the rest played out (nobody at
  the device). For scale: over all Spotify plays 24% are skipped within 5 s, 35% within 30 s and 48.6% before the
  end (Lamere 2014); about half the plays in the Spotify Music Streaming Sessions Dataset (Brost, Mehrotra and
  Jehan, WWW 2019) are skipped early ("skip_2"), fewer in users' own collections than in radio-like contexts. The
  listener's own plays here are skipped early 5-20% of the time. Autoplay leaves no trace in playlists or saved.

The listener's own playlists and saved tracks (`make_own_library`) are then chosen from their own plays only, and
the noise adds just the playlists and saved tracks above (`add_noise_library`); top artists are ranked over every
play on the account, noise included, as Spotify cannot tell whose plays they were.

How much: `REALISTIC` (world.py) uses 20%, in the 10-30% range of real accounts. There is no measured share of
such plays per account; the figure adds up rough population averages: a third of accounts shared (MusicWatch)
times an assumed third of their plays by the other person (~10%), sleep/focus listening by many listeners
(~8%, a judgement from the figures above), and a few percent of autoplay outside the taste. A real person is
lumpier (a partner or not, a nightly sleep habit or not); the mix here is the same for everyone. The old "radio"
exploration (unknown tracks from the listener's families) stays and is not noise: it is within their taste.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import _vocab as vocab
from .catalog import Catalog, spotify_ids
from .listener import Listener, like_probability_from_appeal, make_partner

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


# ---- history noise: plays from outside the listener's taste -----------------------------------------------------
OWN = "own"
NOISE_CONTEXTS = ("sleep", "focus", "shared", "autoplay")
#: How the noisy plays divide between background listening (sleep at night, focus by day), a second person on the
#: account, and autoplay/radio of unwanted tracks after an album or playlist ends (see the module docstring).
NOISE_MIX = {"background": 0.45, "shared": 0.35, "autoplay": 0.20}
#: Per context: P(skip in the first 30 s) and P(stopped part-way) (the rest is played to the end). Shared plays
#: follow the other person's taste with the listener's own skip rule; autoplay's skip rises as appeal falls.
BACKGROUND_SKIP, BACKGROUND_PARTIAL = 0.04, 0.06
AUTOPLAY_SKIP_BASE, AUTOPLAY_SKIP_SLOPE, AUTOPLAY_PARTIAL = 0.20, 0.30, 0.10
SHARED_PARTIAL = 0.08


@dataclass
class _NoisePlan:
    """Which plays are noise, their tracks, and what their outcomes depend on."""

    context: np.ndarray          # per play: OWN or a NOISE_CONTEXTS name
    pos: np.ndarray              # catalog position per play (own plays unchanged)
    partner_appeal: np.ndarray   # the other person's appeal of every catalog track
    sleep_ends: np.ndarray       # play indices that end a sleep session (sleep timer)
    autoplay_starts: np.ndarray  # play indices where autoplay takes over
    rng: np.random.Generator

    def outcome_probabilities(self, p_skip: np.ndarray, appeal: np.ndarray, partner: Listener
                              ) -> tuple[np.ndarray, np.ndarray]:
        ctx = self.context
        p_skip = p_skip.copy()
        p_partial = np.full(len(ctx), 0.08)
        background = (ctx == "sleep") | (ctx == "focus")
        p_skip[background], p_partial[background] = BACKGROUND_SKIP, BACKGROUND_PARTIAL
        shared = ctx == "shared"
        theirs = self.partner_appeal[self.pos[shared]]
        p_skip[shared] = np.clip(0.03 + 0.6 * (1 - theirs) ** 2 - 0.05, 0.01, 0.9)
        p_partial[shared] = SHARED_PARTIAL
        auto = ctx == "autoplay"
        p_skip[auto] = np.clip(AUTOPLAY_SKIP_BASE + AUTOPLAY_SKIP_SLOPE * (1 - appeal[auto]) ** 2, 0.01, 0.9)
        p_partial[auto] = AUTOPLAY_PARTIAL
        return p_skip, p_partial


def _zscore(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / (values.std() + 1e-9)


def _draw_by_year(rng: np.random.Generator, candidates: np.ndarray, weights: np.ndarray, years: np.ndarray,
                  play_years: np.ndarray) -> np.ndarray:
    """One candidate per play (weighted, with replacement), released no later than the play's year; -1 if none is."""
    out = np.full(len(play_years), -1, dtype=np.int64)
    for year in np.unique(play_years):
        at = np.flatnonzero(play_years == year)
        w = weights * (years <= year)
        if w.sum() > 0:
            out[at] = candidates[rng.choice(len(candidates), size=len(at), p=w / w.sum())]
    return out


def _pick_sessions(rng: np.random.Generator, weights: np.ndarray, session_len: np.ndarray, target: int,
                   free: np.ndarray) -> list[tuple[int, int]]:
    """(session, number of plays at its end) covering `target` plays: whole sessions in a weighted random order, the
    last one cut to what is still needed. Only sessions with `free` set are used."""
    keys = np.where(free & (weights > 0), rng.random(len(weights)) ** (1.0 / np.maximum(weights, 1e-12)), -1.0)
    taken, need = [], target
    for sess in np.argsort(-keys, kind="stable"):
        if need <= 0 or keys[sess] < 0:
            break
        k = int(min(session_len[sess], need))
        taken.append((int(sess), k))
        need -= k
    return taken


def _plan_noise(listener: Listener, partner: Listener, catalog: Catalog, share: float, pos: np.ndarray,
                session_len: np.ndarray, session_start: pd.DatetimeIndex, seed: int) -> _NoisePlan:
    rng = np.random.default_rng([seed, 43])
    tracks, truth = catalog.tracks, catalog.truth
    n_plays, n_cat = len(pos), len(tracks)
    years = truth["release_year"].to_numpy()
    first_play = np.r_[0, np.cumsum(session_len)[:-1]]
    play_year = np.repeat(np.asarray(session_start.year), session_len)
    hour = np.asarray(session_start.hour) + np.asarray(session_start.minute) / 60.0
    weekday = np.asarray(session_start.day_of_week)
    night = (hour >= 21) | (hour < 3)
    outside = (1.0 - like_probability_from_appeal(listener.appeal_)) ** 2  # how far out of the listener's taste
    context = np.full(n_plays, OWN, dtype=object)
    new_pos = pos.copy()
    free = np.ones(len(session_len), dtype=bool)

    def assign(name: str, idx: np.ndarray, candidates: np.ndarray, weights: np.ndarray) -> None:
        drawn = _draw_by_year(rng, candidates, weights, years[candidates], play_year[idx])
        ok = drawn >= 0  # plays with nothing released yet stay the listener's own
        new_pos[idx[ok]], context[idx[ok]] = drawn[ok], name

    def tail(sess: int, k: int) -> np.ndarray:
        return np.arange(first_play[sess] + session_len[sess] - k, first_play[sess] + session_len[sess])

    # Background: a sleep playlist (soft, slow, acoustic, instrumental) at night and a focus playlist (wordless,
    # steady) by day, each a few dozen tracks replayed over and over, rarely the listener's own kind of music.
    feature = {f: _zscore(tracks[f].to_numpy(float)) for f in
               ("acousticness", "instrumentalness", "energy", "loudness", "tempo", "speechiness")}
    calm = _zscore(feature["acousticness"] + feature["instrumentalness"] - feature["energy"] - feature["loudness"]
                   - 0.5 * feature["tempo"])
    wordless = _zscore(feature["instrumentalness"] - feature["speechiness"] - 0.5 * np.abs(feature["energy"]))
    sets: dict[str, np.ndarray] = {}
    for name, score in (("sleep", calm), ("focus", wordless)):
        w = np.exp(1.5 * np.clip(score, -3, 3)) * outside
        for other in sets.values():
            w[other] = 0.0
        size = int(min(rng.integers(25, 61), (w > 0).sum()))
        sets[name] = rng.choice(n_cat, size=size, replace=False, p=w / w.sum())
    work = (hour >= 9) & (hour < 17) & (weekday < 5)
    bg_w = np.where(night, 3.0, np.where(work, 2.0, 0.25))
    runs: dict[str, list[np.ndarray]] = {"sleep": [], "focus": []}
    for sess, k in _pick_sessions(rng, bg_w, session_len, round(share * NOISE_MIX["background"] * n_plays), free):
        free[sess] = False
        runs["sleep" if night[sess] else "focus"].append(tail(sess, k))
    for name, parts in runs.items():
        if parts:
            members = sets[name]  # the top of a list is played more
            assign(name, np.concatenate(parts), members, 1.0 / (1.0 + np.arange(len(members)) / 10.0))
    sleep_ends = [int(r[-1]) for r in runs["sleep"] if context[r[-1]] == "sleep"]

    # A second person on the account (partner, flatmate, a party): their own library, evenings and weekends.
    n_shared = round(share * NOISE_MIX["shared"] * n_plays)
    if n_shared:
        their = _library(partner, catalog, int(np.clip(n_shared / 5, 20, n_cat / 6)), rng)
        their_w = partner.appeal_[their] ** 2 * rng.lognormal(0, 0.8, len(their))
        sh_w = (1.0 + ((hour >= 17) | (hour < 1))) * (1.0 + (weekday >= 5))
        parts = []
        for sess, k in _pick_sessions(rng, sh_w, session_len, n_shared, free):
            free[sess] = False
            parts.append(tail(sess, k))
        if parts:
            assign("shared", np.concatenate(parts), their, their_w)

    # Autoplay after the album or playlist ends: popular tracks next to (not in) the listener's taste, at the end of
    # a session of their own music.
    n_auto = round(share * NOISE_MIX["autoplay"] * n_plays)
    autoplay_starts: list[int] = []
    if n_auto:
        fam = truth["family"].to_numpy()
        near = {n for f in listener.persona.loved for n in vocab.NEIGHBOURS.get(f, [])}
        auto_w = (1.0 + tracks["popularity"].to_numpy(float) / 25.0) ** 1.5 * outside \
            * (1.0 + 2.0 * np.isin(fam, list(near - set(listener.persona.loved))))
        tail_len = np.minimum(session_len - 1, 1 + rng.geometric(0.4, size=len(session_len)))
        parts, need = [], n_auto
        for sess in rng.permutation(np.flatnonzero(free & (session_len >= 2))):
            if need <= 0:
                break
            k = int(min(tail_len[sess], need))
            parts.append(tail(sess, k))
            need -= k
        if parts:
            assign("autoplay", np.concatenate(parts), np.arange(n_cat), auto_w)
        for r in parts:
            hit = r[context[r] == "autoplay"]
            if len(hit):
                autoplay_starts.append(int(hit[0]))
    return _NoisePlan(context=context, pos=new_pos, partner_appeal=partner.appeal_,
                      sleep_ends=np.array(sleep_ends, dtype=np.int64),
                      autoplay_starts=np.array(autoplay_starts, dtype=np.int64), rng=rng)


def simulate_history(listener: Listener, catalog: Catalog, start="2023-06-01", end="2026-06-01",
                     n_plays: int = 20000, seed: int = 0, *, noise: float = 0.0,
                     partner: Listener | None = None) -> pd.DataFrame:
    """Plays between `start` and `end` (UTC), sorted by `ts` (when the stream ended).

    `noise` > 0: that share of the plays comes from outside the listener's taste (see the module docstring: sleep and
    focus playlists, a second person on the account, `partner`, made by `make_partner` if not given, and autoplay),
    and the result has one more column, "context" ("own" or one of `NOISE_CONTEXTS`). `noise` 0 gives exactly the
    history of before noise existed (its random draws come from a stream of their own).
    """
    if not 0.0 <= noise < 1.0:
        raise ValueError(f"noise must be in [0, 1), not {noise}")
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

    plan = None
    if noise > 0:
        if partner is None:
            partner = make_partner(listener, seed=seed)
        plan = _plan_noise(listener, partner, catalog, noise, pos, session_len, session_start, seed)
        pos = plan.pos

    # Outcome of each play.
    appeal = listener.appeal_[pos]
    duration = tracks["duration_ms"].to_numpy()[pos]
    known = ~from_radio
    p_skip = np.clip(0.03 + 0.6 * (1 - appeal) ** 2 - 0.05 * known, 0.01, 0.9)
    p_partial: float | np.ndarray = 0.08
    if plan is not None:
        p_skip, p_partial = plan.outcome_probabilities(p_skip, appeal, partner)
    u = rng.random(n_plays)
    skip = u < p_skip
    partial = ~skip & (u < p_skip + p_partial)
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
    if plan is not None:  # a sleep session ends with the sleep timer, part-way through a track
        end = plan.sleep_ends
        ms_played[end] = (30_000 + plan.rng.random(len(end)) * np.maximum(duration[end] - 30_001, 1)).astype(int)
        ms_played = np.minimum(ms_played, duration)
        reason_end[end], skipped[end] = "endplay", False
    first = np.r_[True, session_of[1:] != session_of[:-1]]
    prev_end = np.concatenate([np.array(["trackdone"], dtype=object), reason_end[:-1]])
    reason_start = np.where(np.isin(prev_end, ["trackdone", "fwdbtn", "backbtn"]), prev_end, "clickrow").astype(object)
    reason_start[first] = rng.choice(["clickrow", "playbtn", "appload", "remote"], size=first.sum(),
                                     p=[0.6, 0.2, 0.17, 0.03])
    if plan is not None:
        reason_start[plan.autoplay_starts] = "autoplay"

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
    play_platform = platforms[session_of]
    if plan is not None:  # the other person streams from their own phone
        play_platform = play_platform.copy()
        others = [pf for pf in vocab.PLATFORMS[:4] if pf != main_platform]
        play_platform[plan.context == "shared"] = others[int(plan.rng.integers(len(others)))]
    history = pd.DataFrame({
        "ts": ts, "track_id": tracks["track_id"].to_numpy()[pos], "ms_played": ms_played.astype(int),
        "reason_start": reason_start, "reason_end": reason_end, "shuffle": shuffle[session_of],
        "skipped": skipped, "platform": play_platform, "offline": offline[session_of],
        "incognito_mode": np.zeros(n_plays, dtype=bool), "conn_country": country,
    })[HISTORY_COLUMNS]
    if plan is not None:
        history["context"] = plan.context
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


def make_own_library(listener: Listener, catalog: Catalog, history: pd.DataFrame, seed: int = 0,
                     all_plays: pd.DataFrame | None = None
                     ) -> tuple[list[OwnPlaylist], list[tuple[str, pd.Timestamp]], list[str]]:
    """Playlists (2-5), saved tracks and top artists, mostly from high-appeal played tracks.

    `all_plays`: the plays top artists are ranked on, if not `history` (with noise: the playlists and saved tracks
    come from the listener's own plays, top artists from every play on the account, as Spotify's do)."""
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

    plays = history if all_plays is None else all_plays
    recent = plays[plays["ts"] >= plays["ts"].max() - pd.Timedelta(days=182)]
    primary = catalog.truth["artist_id"].to_numpy()[catalog.positions(recent["track_id"].tolist())]
    top_artists = (pd.Series(recent["ms_played"].to_numpy(), index=primary).groupby(level=0).sum()
                   .sort_values(ascending=False, kind="stable").head(20).index.tolist())
    return playlists, saved, top_artists


def add_noise_library(playlists: list[OwnPlaylist], saved: list[tuple[str, pd.Timestamp]], history: pd.DataFrame,
                      context: pd.Series, partner: Listener | None, seed: int = 0
                      ) -> tuple[list[OwnPlaylist], list[tuple[str, pd.Timestamp]]]:
    """The noisy part of a library (see the module docstring): the "sleep" and "deep focus" playlists the background
    plays came from, a "house party" playlist of the other person's favourites, and their share of saved tracks.
    Autoplay leaves no trace. Returns new lists; `playlists` and `saved` are not modified."""
    rng = np.random.default_rng([seed, 59])
    plays = history.assign(context=context.to_numpy())
    stats = plays.groupby(["context", "track_id"], sort=True).agg(plays=("ts", "size"), first=("ts", "min"),
                                                                 last=("ts", "max"))
    taken = {p.name for p in playlists}
    playlists = list(playlists)

    def dated(first: pd.Series, last: pd.Series) -> list[pd.Timestamp]:
        f, l = pd.DatetimeIndex(first).asi8, pd.DatetimeIndex(last).asi8
        ns = f + ((l - f) * rng.random(len(f))).astype(np.int64)
        return list(pd.DatetimeIndex(ns, tz="UTC").floor("s"))

    for ctx, name, description in (("sleep", "sleep", "lights out"), ("focus", "deep focus", "no words"),
                                   ("shared", "house party", "for when friends come over")):
        if ctx not in stats.index.get_level_values(0) or name in taken:
            continue
        st = stats.loc[ctx]
        if ctx == "shared":  # the other person's most played, a few dozen
            st = st.sort_values("plays", ascending=False, kind="stable").head(int(rng.integers(15, 41)))
            added = dated(st["first"], st["last"])
        else:  # the list existed before it was played from: added up to a month before the first play from it
            ns = pd.DatetimeIndex(st["first"]).asi8 - (rng.uniform(0, 30, len(st)) * 86400e9).astype(np.int64)
            added = list(pd.DatetimeIndex(ns, tz="UTC").floor("s"))
        order = np.argsort([d.value for d in added], kind="stable")
        playlists.append(OwnPlaylist(name=name, description=description, track_ids=[str(st.index[i]) for i in order],
                                     added_at=[added[i] for i in order], last_modified=max(added)))

    n_own = int((plays["context"] == OWN).sum())
    if partner is not None and "shared" in stats.index.get_level_values(0) and n_own:
        st = stats.loc["shared"]
        st = st[~st.index.isin({t for t, _ in saved})]
        n_theirs = int(min(len(st), round(len(saved) * (plays["context"] == "shared").sum() / n_own)))
        if n_theirs:
            w = partner.appeal(st.reset_index()) ** 2 * st["plays"].to_numpy()
            idx = rng.choice(len(st), size=n_theirs, replace=False, p=w / w.sum())
            extra = list(zip(st.index[idx].astype(str), dated(st["first"].iloc[idx], st["last"].iloc[idx])))
            saved = sorted([*saved, *extra], key=lambda pair: -pair[1].value)  # newest first, as /me/tracks
    return playlists, list(saved)


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
