"""Which search result is this song: the query for a played song, and the strict match among decoys.

One query per song however the export spells it: `query_key` is the same for names that differ only in case,
punctuation, accents, a featuring credit or a version suffix, so such names are asked once and share the answer
(each still picks its own match from it). The match itself is strict (`best_candidate`): same normalised title
(live/remix markers must agree) and artist, and a duration the plays allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Hashable, Sequence

from spotify_modeling.core.normalize import compact, norm_artist, norm_title

#: a play that ended `trackdone` lasted the whole track: a candidate this much longer or shorter is another take
DONE_TOLERANCE_MS = 5_000
#: a play never lasts longer than its track (give or take a seek back): a candidate this much shorter is another take
LONGER_TOLERANCE_MS = 10_000
#: two equally good candidates whose durations differ by more than this are different recordings: ambiguous
DISTINCT_RECORDINGS_MS = 10_000


def query_parts(title: str, artist: str) -> tuple[str, str]:
    """(title, artist) as a search asks for them: featuring/edition tails cut, live/remix markers kept, no quotes."""
    base = title
    for sep in (" - ", "(", "["):
        head = base.split(sep, 1)[0].strip()
        if head:
            base = head
    markers = [m for m in ("live", "remix") if norm_title(title).endswith(m) and m not in base.lower()]
    t = " ".join([base.replace('"', " ").strip(), *markers])
    return t, artist.replace('"', " ").strip()


def search_query(title: str, artist: str) -> str:
    """Spotify's `track:"<title>" artist:"<artist>"` with featuring/edition tails cut (wider recall; matching is
    strict)."""
    t, a = query_parts(title, artist)
    return f'track:"{t}" artist:"{a}"' if a else f'track:"{t}"'


def deezer_query(title: str, artist: str) -> str:
    """Deezer's advanced search `artist:"<artist>" track:"<title>"`, tails cut as for Spotify."""
    t, a = query_parts(title, artist)
    return f'artist:"{a}" track:"{t}"' if a else f'track:"{t}"'


def query_key(title: str | None, artist: str | None) -> str:
    """The key of the query a name asks: equal for names that differ only in case, punctuation, accents, a leading
    "The", a featuring credit or a version suffix ("Starman", "starman", "Starman - 2012 Remaster")."""
    t, _ = query_parts(title or "", artist or "")
    return f"{compact(norm_artist(artist))}\t{compact(t)}"


@dataclass(frozen=True)
class MatchCandidate:
    """One search result as matching sees it: its key (an id), title, artists' names and duration if known."""

    key: Hashable
    title: str | None
    artists: tuple[str | None, ...] = ()
    duration_ms: int | None = None


@dataclass(frozen=True)
class Match:
    """What matching concluded: the best candidate (None: none is this song), and whether it is ambiguous (another
    candidate is as good but a different recording, and the plays cannot tell which was played). A caller that can
    ask elsewhere treats an ambiguous match as none; one that cannot takes the best."""

    candidate: MatchCandidate | None
    ambiguous: bool = False

    @property
    def sure(self) -> MatchCandidate | None:
        """The candidate when it is not ambiguous."""
        return None if self.ambiguous else self.candidate


def duration_fits(duration_ms: int | None, longest_ms: int | None = None, done_ms: int | None = None) -> bool:
    """Whether a candidate's duration agrees with what the plays tell: a play that ended `trackdone` lasted the
    whole track (`done_ms`), and plays do not last longer than the track (`longest_ms`, the second-longest play, so
    one play stretched by seeking back does not decide). Unknown durations agree with anything."""
    if not duration_ms:
        return True
    if done_ms and abs(done_ms - duration_ms) > DONE_TOLERANCE_MS:
        return False
    return not (longest_ms and longest_ms > duration_ms + LONGER_TOLERANCE_MS)


def _score(cand: MatchCandidate, title: str, want_t: str, want_a: str) -> float | None:
    got_t = norm_title(cand.title)
    ts = 1.0 if got_t == want_t else SequenceMatcher(None, got_t, want_t).ratio()
    names = [norm_artist(a) for a in cand.artists if a]
    if not want_a:
        as_ = 0.9
    elif want_a in names:
        as_ = 1.0
    else:
        as_ = max((SequenceMatcher(None, n, want_a).ratio() for n in names), default=0.0)
    if ts < 0.9 or as_ < 0.85:
        return None
    return ts + as_ + (0.01 if (cand.title or "").casefold() == title.casefold() else 0.0)


def match_candidates(cands: Sequence[MatchCandidate], title: str, artist: str, *, longest_ms: int | None = None,
                     done_ms: int | None = None) -> Match:
    """The candidate that is this song: same normalised title and artist, the best score first (ties: the earlier
    one, i.e. the service's own order), among those whose duration the plays allow. Ambiguous when another
    candidate scores as well but is a different recording (its duration differs by more than
    `DISTINCT_RECORDINGS_MS`) and the plays cannot tell which one was played."""
    want_t, want_a = norm_title(title), norm_artist(artist)
    scored: list[tuple[float, MatchCandidate]] = []
    for cand in cands:
        if cand is None or cand.key is None:
            continue
        score = _score(cand, title, want_t, want_a)
        if score is not None and duration_fits(cand.duration_ms, longest_ms, done_ms):
            scored.append((score, cand))
    if not scored:
        return Match(None)
    best_score = max(s for s, _ in scored)
    best = next(c for s, c in scored if s == best_score)
    # a rival matches as well but for the spelling bonus (which says little across services' spellings)
    rivals = [c for s, c in scored if s >= best_score - 0.015 and c is not best]
    if not done_ms and best.duration_ms and any(
            c.duration_ms and abs(c.duration_ms - best.duration_ms) > DISTINCT_RECORDINGS_MS for c in rivals):
        return Match(best, ambiguous=True)
    return Match(best)


def _candidate(item: dict) -> MatchCandidate:
    return MatchCandidate(item.get("id"), item.get("name"),
                          tuple(a.get("name") for a in item.get("artists") or [] if a), item.get("duration_ms"))


def best_match(items: Sequence[dict], title: str, artist: str) -> dict | None:
    """The Spotify search result (a track object) that is this song: same normalised title (live/remix markers
    must agree) and artist.

    Not simply the first hit: search returns decoys (live takes, covers, other artists' songs of the same name).
    """
    want_t, want_a = norm_title(title), norm_artist(artist)
    best, best_score = None, 0.0
    for item in items:
        if not item or not item.get("id"):
            continue
        score = _score(_candidate(item), title, want_t, want_a)
        if score is not None and score > best_score:
            best, best_score = item, score
    return best


__all__ = ["DONE_TOLERANCE_MS", "LONGER_TOLERANCE_MS", "DISTINCT_RECORDINGS_MS", "Match", "MatchCandidate",
           "best_match", "deezer_query", "duration_fits", "match_candidates", "query_key", "query_parts",
           "search_query"]
