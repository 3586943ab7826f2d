"""Normalised artist and title text, so one song matches across the export, search results and catalogs.

"Song - Remastered 2011", "Song (feat. X)" and "sóng" all become "song"; live and remix versions keep a marker,
because they are different recordings a listener may feel differently about.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_FEAT = re.compile(r"[\(\[]\s*(feat\.?|ft\.?|featuring|with)\s[^\)\]]*[\)\]]", re.IGNORECASE)
_FEAT_TAIL = re.compile(r"\s(feat\.?|ft\.?|featuring)\s.*$", re.IGNORECASE)
# "- Remastered 2011", "- 2009 Remaster", "(Remastered)", "- Radio Edit", "- Single Version", "- Mono"
_VERSION_NOISE = re.compile(
    r"(\s-\s|\s*[\(\[])\s*(\d{4}\s)?(digital(ly)?\s)?(remaster(ed)?|radio edit|single version|album version|"
    r"mono|stereo|original mix|explicit|clean|bonus track|deluxe( edition)?)(\s\d{4})?(\sversion)?[^\)\]]*[\)\]]?",
    re.IGNORECASE,
)
_SUFFIX_NOISE = re.compile(r"\b(remaster(ed)?|edit|version|mono|stereo|original mix)\b", re.IGNORECASE)
_LIVE = re.compile(r"\blive\b", re.IGNORECASE)
_REMIX = re.compile(r"\b(remix|rmx|mix)\b", re.IGNORECASE)
_PUNCT = re.compile(r"[^\w\s]+", re.UNICODE)
_SPACE = re.compile(r"\s+")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("&", " and ")
    text = _PUNCT.sub(" ", text.lower())
    return _SPACE.sub(" ", text).strip()


@lru_cache(maxsize=200_000)
def norm_title(title: str | None) -> str:
    """A title without featuring credits and remaster/edition noise; live/remix kept as a marker."""
    if not title:
        return ""
    t = _FEAT.sub(" ", title)
    t = _FEAT_TAIL.sub(" ", t)
    markers = []
    if _LIVE.search(t) and re.search(r"(\s-\s|[\(\[]).*\blive\b", t, re.IGNORECASE):
        markers.append("live")
    if re.search(r"(\s-\s|[\(\[]).*\b(remix|rmx)\b", t, re.IGNORECASE):
        markers.append("remix")
    t = _VERSION_NOISE.sub(" ", t)
    head, sep, tail = t.partition(" - ")
    if sep and _SUFFIX_NOISE.search(tail):
        t = head
    # drop any remaining " - suffix" / "(suffix)" once its marker is recorded
    if markers:
        t = re.split(r"\s-\s|[\(\[]", t)[0]
    base = _fold(t)
    return " ".join([base] + markers) if markers else base


@lru_cache(maxsize=100_000)
def norm_artist(artist: str | None) -> str:
    if not artist:
        return ""
    a = _fold(artist)
    return a[4:] if a.startswith("the ") else a


def compact(text: str | None) -> str:
    """Folded text with every space and punctuation mark gone: "Don't Stop", "dont stop" and "Dont-Stop" are one.

    For grouping texts that can only differ in how they are written (a query key), never for matching songs.
    """
    return _fold(text or "").replace(" ", "")


def name_key(artist: str | None, title: str | None) -> str:
    """The key one song has whatever id or spelling it comes with: primary artist + title."""
    return f"{norm_artist(artist)}\t{norm_title(title)}"
