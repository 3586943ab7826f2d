"""Which search result is this song: the query for a played song, and the strict match among decoys."""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Sequence

from spotify_modeling.core.normalize import norm_artist, norm_title


def search_query(title: str, artist: str) -> str:
    """`track:"<title>" artist:"<artist>"` with featuring/edition tails cut (wider recall; matching is strict)."""
    base = title
    for sep in (" - ", "(", "["):
        head = base.split(sep, 1)[0].strip()
        if head:
            base = head
    markers = [m for m in ("live", "remix") if norm_title(title).endswith(m) and m not in base.lower()]
    t = " ".join([base.replace('"', " ").strip(), *markers])
    a = artist.replace('"', " ").strip()
    return f'track:"{t}" artist:"{a}"' if a else f'track:"{t}"'


def best_match(items: Sequence[dict], title: str, artist: str) -> dict | None:
    """The result that is this song: same normalised title (live/remix markers must agree) and artist.

    Not simply the first hit: search returns decoys (live takes, covers, other artists' songs of the same name).
    """
    want_t, want_a = norm_title(title), norm_artist(artist)
    best, best_score = None, 0.0
    for item in items:
        if not item or not item.get("id"):
            continue
        got_t = norm_title(item.get("name"))
        ts = 1.0 if got_t == want_t else SequenceMatcher(None, got_t, want_t).ratio()
        names = [norm_artist(a.get("name")) for a in item.get("artists") or [] if a]
        if not want_a:
            as_ = 0.9
        elif want_a in names:
            as_ = 1.0
        else:
            as_ = max((SequenceMatcher(None, n, want_a).ratio() for n in names), default=0.0)
        if ts < 0.9 or as_ < 0.85:
            continue
        score = ts + as_ + (0.01 if (item.get("name") or "").casefold() == title.casefold() else 0.0)
        if score > best_score:
            best, best_score = item, score
    return best
