"""Write a simulated listener's data as a Spotify personal data export, in exactly the real file shapes.

Shapes follow docs/external-apis.md section 3 and the real exports in shared/data/exports (key order,
2-space indentation, `"key" : value` in StreamingHistory files). Output bytes depend only on the world,
so a seed reproduces the export byte for byte (zip entries carry a fixed timestamp).

Opt-in (`name_variants=NameVariants()`): the account history's names then differ from the catalogue's now and then,
as a real export's names differ from another service's spelling of the same song: for `rate` of the distinct
tracks played, about `share` of their plays carry a variant (a featuring credit, a remaster suffix, an accent,
lower case, or punctuation inside a word), so one song appears under two names; and `unknown` of the distinct
names are of tracks the catalogue does not have at all. Without it the bytes are what they always were.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from json.encoder import encode_basestring  # C-accelerated, keeps non-ASCII as is
import zipfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

#: a `world.World` (not imported: world.py imports this module for `World.write_export`)
World = Any

ACCOUNT_DIR = "Spotify Account Data"
EXTENDED_DIR = "Spotify Extended Streaming History"
ACCOUNT_ROWS_PER_FILE = 10_000
EXTENDED_ROWS_PER_FILE = 15_000
ACCOUNT_HISTORY_DAYS = 365
ZIP_NAME = "my_spotify_data.zip"

EXTENDED_KEYS = ["ts", "platform", "ms_played", "conn_country", "ip_addr", "master_metadata_track_name",
                 "master_metadata_album_artist_name", "master_metadata_album_album_name", "spotify_track_uri",
                 "episode_name", "episode_show_name", "spotify_episode_uri", "audiobook_title", "audiobook_uri",
                 "audiobook_chapter_uri", "audiobook_chapter_title", "reason_start", "reason_end", "shuffle",
                 "skipped", "offline", "offline_timestamp", "incognito_mode"]


def _dump(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _encode_scalar(value) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return encode_basestring(value)
    return json.dumps(value)


def _dump_records(rows: list[dict], colon: str = ": ") -> bytes:
    """A list of flat dicts pretty-printed like `json.dumps(rows, indent=2)`, but fast for 10k+ rows."""
    if not rows:
        return b"[]"
    blocks = [
        "  {\n" + ",\n".join(f"    {encode_basestring(k)}{colon}{_encode_scalar(v)}" for k, v in row.items()) + "\n  }"
        for row in rows
    ]
    return ("[\n" + ",\n".join(blocks) + "\n]").encode("utf-8")


def _dump_streaming_history(rows: list[dict]) -> bytes:
    # Spotify writes these with a space before the colon.
    return _dump_records(rows, colon=" : ")


@dataclass(frozen=True)
class NameVariants:
    """How often a names-only export's names differ from the catalogue's (see the module docstring).

    Stated rates, not measured ones: `rate` 0.15 of the distinct tracks get a variant spelling on about half their
    plays, and 1% of the distinct names are of tracks outside the catalogue (a local file, a track since removed).
    """

    rate: float = 0.15
    share: float = 0.5
    unknown: float = 0.01
    kinds: tuple[str, ...] = ("feat", "remaster", "accent", "case", "punctuation")


_ACCENTS = {"a": "á", "e": "é", "i": "í", "o": "ó", "u": "ú", "n": "ñ"}
_REMASTERS = (" - Remastered 2011", " - 2009 Remaster", " - Remastered", " - 2015 Remastered Version")


def _accented(text: str) -> str:
    for i, ch in enumerate(text):
        if ch.lower() in _ACCENTS and i > 0:
            accent = _ACCENTS[ch.lower()]
            return text[:i] + (accent.upper() if ch.isupper() else accent) + text[i + 1:]
    return text


def _punctuated(title: str) -> str:
    """Punctuation inside a word, as spellings differ ("Dreams" / "Dream's"), else a hyphen between two words."""
    words = title.split(" ")
    for i, w in enumerate(words):
        if len(w) >= 4 and w.isalpha() and w.lower().endswith("s"):
            words[i] = w[:-1] + "'" + w[-1]
            return " ".join(words)
    for i in range(len(words) - 1):
        if words[i].isalpha() and words[i + 1].isalpha():
            return " ".join([*words[:i], f"{words[i]}-{words[i + 1]}", *words[i + 2:]])
    return title + "!"


def _variant(kind: str, artist: str, title: str, guests: list[str], rng: np.random.Generator) -> tuple[str, str]:
    if kind == "feat" and "feat" not in title.lower():
        guest = guests[0] if guests else "MC " + str(rng.choice(["Vex", "Juno", "Kai", "Remy"]))
        return artist, f"{title} (feat. {guest})"
    if kind == "remaster" and " - " not in title and "(" not in title:
        return artist, title + str(rng.choice(_REMASTERS))
    if kind == "accent":
        return (_accented(artist), title) if rng.random() < 0.5 else (artist, _accented(title))
    if kind == "punctuation":
        return artist, _punctuated(title)
    return artist, title.lower()   # "case", and the fall-back of a kind that does not fit this title


def _unknown_name(rng: np.random.Generator, taken: set[tuple[str, str]]) -> tuple[str, str]:
    from . import _vocab as vocab

    def word() -> str:
        return "".join(str(rng.choice(vocab.ONSETS)) + str(rng.choice(vocab.VOWELS)) for _ in range(2)).capitalize() \
            + str(rng.choice(vocab.CODAS))
    while True:
        artist, title = f"{word()} {word()}", f"{word()} {str(rng.choice(vocab.WORDS)).title()}"
        if (artist.lower(), title.lower()) not in taken:
            taken.add((artist.lower(), title.lower()))
            return artist, title


def account_plays(world: World, name_variants: NameVariants | None = None) -> pd.DataFrame:
    """The account history's plays as the export writes them: ts, ms_played, artist_name, track_name, and the
    catalogue `track_id` each play is of (None: a track the catalogue does not have). The truth a benchmark scores
    name resolution against."""
    history = world.history
    cutoff = history["ts"].max() - pd.Timedelta(days=ACCOUNT_HISTORY_DAYS)
    recent = history[history["ts"] > cutoff]
    meta = _track_meta(world, recent["track_id"])
    out = pd.DataFrame({"ts": recent["ts"].to_numpy(), "ms_played": recent["ms_played"].to_numpy(),
                        "artist_name": meta["artist_name"].to_numpy(), "track_name": meta["track_name"].to_numpy(),
                        "track_id": recent["track_id"].to_numpy()})
    if name_variants is None or not len(out):
        return out
    nv = name_variants
    rng = np.random.default_rng([world.seed, 401])
    cat = world.catalog
    distinct = pd.unique(out["track_id"])
    chosen = distinct[rng.random(len(distinct)) < nv.rate]
    names = cat.tracks["artist_names"].to_numpy()[cat.positions(chosen.tolist())] if len(chosen) else []
    artists, titles = out["artist_name"].to_numpy(dtype=object), out["track_name"].to_numpy(dtype=object)
    by_track = out.groupby("track_id").indices
    for tid, credited in zip(chosen, names):
        kind = str(rng.choice(list(nv.kinds)))
        rows = by_track[tid]
        pick = rows[rng.random(len(rows)) < nv.share]
        if len(pick) == 0:
            pick = rows[:1]
        artist, title = _variant(kind, str(artists[rows[0]]), str(titles[rows[0]]), list(credited[1:]), rng)
        artists[pick], titles[pick] = artist, title
    out["artist_name"], out["track_name"] = artists, titles
    n_unknown = int(round(nv.unknown * len(distinct)))
    if n_unknown:
        taken = {(str(a).lower(), str(t).lower()) for a, t in zip(cat.tracks["artist_names"].str[0],
                                                                  cat.tracks["track_name"])}
        extra = []
        for _ in range(n_unknown):
            artist, title = _unknown_name(rng, taken)
            for _ in range(int(rng.integers(1, 4))):
                ts = out["ts"].iloc[int(rng.integers(len(out)))]
                extra.append({"ts": ts, "ms_played": int(rng.integers(30_000, 240_000)), "artist_name": artist,
                              "track_name": title, "track_id": None})
        out = pd.concat([out, pd.DataFrame(extra)], ignore_index=True).sort_values("ts", kind="stable")
    return out.reset_index(drop=True)


def _track_meta(world: World, track_ids: pd.Series) -> pd.DataFrame:
    cat = world.catalog
    pos = cat.positions(track_ids.tolist())
    album_ids = cat.truth["album_id"].to_numpy()[pos]
    return pd.DataFrame({
        "track_name": cat.tracks["track_name"].to_numpy()[pos],
        "artist_name": [names[0] for names in cat.tracks["artist_names"].to_numpy()[pos]],
        "album_name": cat.albums["name"].reindex(album_ids).to_numpy(),
    }, index=track_ids.index)


def account_files(world: World, name_variants: NameVariants | None = None) -> dict[str, bytes]:
    """Account-data files (last year of history, no URIs), by file name."""
    files: dict[str, bytes] = {}
    history = world.history
    cutoff = history["ts"].max() - pd.Timedelta(days=ACCOUNT_HISTORY_DAYS)
    if name_variants is None:
        recent = history[history["ts"] > cutoff]
        meta = _track_meta(world, recent["track_id"])
        rows = [{"endTime": ts.strftime("%Y-%m-%d %H:%M"), "artistName": a, "trackName": t, "msPlayed": int(ms)}
                for ts, a, t, ms in zip(recent["ts"], meta["artist_name"], meta["track_name"], recent["ms_played"])]
    else:
        plays = account_plays(world, name_variants)
        rows = [{"endTime": pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M"), "artistName": a, "trackName": t,
                 "msPlayed": int(ms)}
                for ts, a, t, ms in zip(plays["ts"], plays["artist_name"], plays["track_name"], plays["ms_played"])]
    for i in range(max(1, -(-len(rows) // ACCOUNT_ROWS_PER_FILE))):
        chunk = rows[i * ACCOUNT_ROWS_PER_FILE:(i + 1) * ACCOUNT_ROWS_PER_FILE]
        files[f"StreamingHistory_music_{i}.json"] = _dump_streaming_history(chunk)
    pods = world.podcast_plays[world.podcast_plays["ts"] > cutoff]
    files["StreamingHistory_podcast_0.json"] = _dump_streaming_history([
        {"endTime": ts.strftime("%Y-%m-%d %H:%M"), "podcastName": show, "episodeName": ep, "msPlayed": int(ms)}
        for ts, show, ep, ms in zip(pods["ts"], pods["show"], pods["episode"], pods["ms_played"])])

    playlists = []
    for pl in world.playlists:
        meta = _track_meta(world, pd.Series(pl.track_ids))
        items = [{"track": {"trackName": t, "artistName": a, "albumName": al, "trackUri": f"spotify:track:{tid}"},
                  "episode": None, "audiobook": None, "localTrack": None, "addedDate": added.strftime("%Y-%m-%d")}
                 for tid, t, a, al, added in zip(pl.track_ids, meta["track_name"], meta["artist_name"],
                                                 meta["album_name"], pl.added_at)]
        playlists.append({"name": pl.name, "lastModifiedDate": pl.last_modified.strftime("%Y-%m-%d"),
                          "items": items, "description": pl.description or None, "numberOfFollowers": 0,
                          "collaborators": []})
    files["Playlist1.json"] = _dump({"playlists": playlists})

    saved_ids = pd.Series([tid for tid, _ in world.saved_tracks])
    meta = _track_meta(world, saved_ids)
    library = {
        "tracks": [{"artist": a, "album": al, "track": t, "uri": f"spotify:track:{tid}"}
                   for tid, t, a, al in zip(saved_ids, meta["track_name"], meta["artist_name"], meta["album_name"])],
        "albums": [], "shows": [], "episodes": [], "bannedTracks": [], "artists": [], "bannedArtists": [], "other": [],
    }
    files["YourLibrary.json"] = _dump(library)
    return files


def _extended_rows(world: World) -> list[tuple[pd.Timestamp, dict]]:
    h = world.history
    meta = _track_meta(world, h["track_id"])
    start_s = ((h["ts"] - pd.to_timedelta(h["ms_played"], unit="ms")).astype("int64") // 10**9).tolist()
    ts_text = h["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    columns = zip(h["ts"], ts_text, h["platform"].tolist(), h["ms_played"].tolist(), h["conn_country"].tolist(),
                  meta["track_name"].tolist(), meta["artist_name"].tolist(), meta["album_name"].tolist(),
                  h["track_id"].tolist(), h["reason_start"].tolist(), h["reason_end"].tolist(),
                  h["shuffle"].tolist(), h["skipped"].tolist(), h["offline"].tolist(), start_s,
                  h["incognito_mode"].tolist())
    out = []
    for ts, text, platform, ms, country, track, artist, album, tid, r_start, r_end, shuf, skip, off, off_ts, incog \
            in columns:
        out.append((ts, {
            "ts": text, "platform": platform, "ms_played": int(ms), "conn_country": country, "ip_addr": "0.0.0.0",
            "master_metadata_track_name": track, "master_metadata_album_artist_name": artist,
            "master_metadata_album_album_name": album, "spotify_track_uri": f"spotify:track:{tid}",
            "episode_name": None, "episode_show_name": None, "spotify_episode_uri": None, "audiobook_title": None,
            "audiobook_uri": None, "audiobook_chapter_uri": None, "audiobook_chapter_title": None,
            "reason_start": r_start, "reason_end": r_end, "shuffle": bool(shuf), "skipped": bool(skip),
            "offline": bool(off), "offline_timestamp": int(off_ts), "incognito_mode": bool(incog)}))
    country = h["conn_country"].iat[0] if len(h) else "SE"
    platform = h["platform"].iat[0] if len(h) else "android"
    for ts, show, ep, ep_id, ms in world.podcast_plays[["ts", "show", "episode", "episode_id", "ms_played"]].itertuples(
            index=False):
        row = dict.fromkeys(EXTENDED_KEYS)
        row.update(ts=ts.strftime("%Y-%m-%dT%H:%M:%SZ"), platform=platform, ms_played=int(ms), conn_country=country,
                   ip_addr="0.0.0.0", episode_name=ep, episode_show_name=show,
                   spotify_episode_uri=f"spotify:episode:{ep_id}", reason_start="clickrow", reason_end="endplay",
                   shuffle=False, skipped=False, offline=False,
                   offline_timestamp=int(ts.timestamp()) - int(ms) // 1000, incognito_mode=False)
        out.append((ts, row))
    out.sort(key=lambda pair: pair[0])
    return out


def extended_files(world: World) -> dict[str, bytes]:
    """Extended streaming history files (whole history with URIs, podcasts mixed in) plus a video file."""
    rows = _extended_rows(world)
    files: dict[str, bytes] = {}
    for i in range(max(1, -(-len(rows) // EXTENDED_ROWS_PER_FILE))):
        chunk = rows[i * EXTENDED_ROWS_PER_FILE:(i + 1) * EXTENDED_ROWS_PER_FILE]
        years = sorted({ts.year for ts, _ in chunk}) or [int(world.history["ts"].max().year)]
        label = str(years[0]) if years[0] == years[-1] else f"{years[0]}-{years[-1]}"
        files[f"Streaming_History_Audio_{label}_{i}.json"] = _dump_records([row for _, row in chunk])
    video = []
    if rows:
        rng = np.random.default_rng([world.seed, 13])
        for ts, _ in [rows[int(j)] for j in sorted(rng.choice(len(rows), size=min(2, len(rows)), replace=False))]:
            row = dict.fromkeys(EXTENDED_KEYS)
            row.update(ts=ts.strftime("%Y-%m-%dT%H:%M:%SZ"), platform="android", ms_played=int(rng.integers(1000, 60000)),
                       conn_country="SE", ip_addr="0.0.0.0", episode_name="Behind the music (video)",
                       episode_show_name="Video Show", spotify_episode_uri="spotify:episode:0000000000000000000000",
                       reason_start="clickrow", reason_end="endplay", shuffle=False, skipped=False, offline=False,
                       offline_timestamp=int(ts.timestamp()), incognito_mode=False)
            video.append(row)
    files["Streaming_History_Video_0.json"] = _dump_records(video)
    return files


def export_files(world: World, kind: Literal["both", "account", "extended"] = "both",
                 name_variants: NameVariants | None = None) -> dict[str, bytes]:
    """All export files as {relative path: bytes}; `name_variants` spells the account history's names as
    another service's catalogue might (see `NameVariants`)."""
    if kind not in ("both", "account", "extended"):
        raise ValueError(f"kind must be 'both', 'account' or 'extended', not {kind!r}")
    files: dict[str, bytes] = {}
    if kind in ("both", "account"):
        files.update({f"{ACCOUNT_DIR}/{name}": data for name, data in account_files(world, name_variants).items()})
    if kind in ("both", "extended"):
        files.update({f"{EXTENDED_DIR}/{name}": data for name, data in extended_files(world).items()})
    return files


def write_export(path: str | Path, listener_world: World, kind: Literal["both", "account", "extended"] = "both",
                 as_zip: bool = False, name_variants: NameVariants | None = None) -> Path:
    """Write the export under folder `path` (or as a zip: `path` if it ends in .zip, else `path`/my_spotify_data.zip).

    Returns the folder or zip written.
    """
    files = export_files(listener_world, kind, name_variants)
    path = Path(path)
    if as_zip:
        zip_path = path if path.suffix == ".zip" else path / ZIP_NAME
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(files):
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, files[name])
        return zip_path
    for name, data in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return path
