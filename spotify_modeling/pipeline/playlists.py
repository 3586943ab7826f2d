"""The tool's three playlists on Spotify: found by name among the user's own, created if missing, read into labels.

The tool only ever adds to and removes from `data_candidates`, and creates the three playlists if missing.
`data_1` (like) and `data_0` (dislike) are read, never written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from spotify_modeling.core.records import PlaylistItem
from spotify_modeling.db import library
from spotify_modeling.db import pushes_and_labels as loop_db
from spotify_modeling.db.store import Store
from spotify_modeling.errors import NeedsLogin
from spotify_modeling.sources.errors import Forbidden

TOOL_PLAYLISTS = {"candidates": "data_candidates", "like": "data_1", "dislike": "data_0"}
DESCRIPTIONS = {
    "candidates": "spotify-model suggestions: drag each into data_1 (like) or data_0 (dislike).",
    "like": "spotify-model: candidates you like.",
    "dislike": "spotify-model: candidates you don't like.",
}


@dataclass
class ToolPlaylist:
    role: str
    id: str
    name: str
    snapshot_id: str | None
    created: bool = False
    track_ids: list[str] = field(default_factory=list)
    reread: bool = False
    same_name: int = 1          # own playlists with this name (the user may have made another one)


def current_user_id(client, store: Store) -> str:
    """The user's Spotify id, asked every run (one call): a later login may be another account."""
    uid = client.user_id()
    if store.get_kv("spotify_user_id") != uid:
        with store.transaction():
            store.set_kv("spotify_user_id", uid)
    return uid


def find_tool_playlists(client, store: Store, create: bool = True) -> dict[str, ToolPlaylist]:
    """Find `data_candidates`, `data_1`, `data_0` among playlists the user owns; create missing ones (private).

    Among several own playlists with one name, the one the tool used last keeps its role (a new playlist the user
    gives the same name must not take over: labels and pending candidates live in the old one); else the first listed.
    """
    uid = current_user_id(client, store)
    used = library.tool_playlists_used(store)
    found: dict[str, ToolPlaylist] = {}
    count: dict[str, int] = {}
    for pl in client.my_playlist_records():
        if pl.owner_id != uid:
            continue  # a followed playlist of someone else may carry the same name
        for role, name in TOOL_PLAYLISTS.items():
            if pl.name != name:
                continue
            count[role] = count.get(role, 0) + 1
            if role not in found or used.get((role, pl.id), 0) > used.get((role, found[role].id), 0):
                found[role] = ToolPlaylist(role, pl.id, name, pl.snapshot_id)
    for role, pl in found.items():
        pl.same_name = count[role]
    for role, name in TOOL_PLAYLISTS.items():
        if role not in found and create:
            pl = client.create_playlist_record(name, DESCRIPTIONS[role])
            found[role] = ToolPlaylist(role, pl.id, name, pl.snapshot_id, created=True)
    return found


def read_tool_playlist(client, store: Store, pl: ToolPlaylist) -> ToolPlaylist:
    """Track ids in the playlist, re-read from Spotify only when its snapshot changed."""
    seen = library.snapshot_of(store, pl.id)
    if seen is not None and pl.snapshot_id and seen[0] == pl.snapshot_id and not pl.created:
        pl.track_ids = seen[1]
        return pl
    try:
        items = [] if pl.created else client.playlist_item_records(pl.id)
    except Forbidden:
        # Spotify lets an app read only playlists the user owns or collaborates on: this one was listed as the
        # user's own, so its owner or sharing changed, or the login lacks the playlist scopes. Stop before any
        # label is touched (the labels already read are kept).
        raise NeedsLogin(f"Spotify refuses to let this app read your playlist {pl.name} (403): it is not yours to "
                         "read any more, or the login lacks the playlist permissions.",
                         f"Make sure {pl.name} is a playlist you own (or rename it, and the tool makes a new one), "
                         "or run `spotify-model login` again; your labels so far are kept.") from None
    save_playlist_snapshot(store, pl, items)
    pl.track_ids = [it.id for it in items if it.kind == "track" and it.id]
    pl.reread = True
    return pl


def save_playlist_snapshot(store: Store, pl: ToolPlaylist, items: list[PlaylistItem]) -> None:
    rows = [(it.kind or "missing", it.id, it.name, it.first_artist, it.album_name, it.added_at) for it in items]
    library.save_snapshot(store, pl.id, pl.name, pl.snapshot_id, pl.role, rows)


@dataclass
class LabelSync:
    new_likes: int = 0
    new_dislikes: int = 0
    changed: int = 0
    removed: int = 0
    conflicts: list[str] = field(default_factory=list)
    total_likes: int = 0
    total_dislikes: int = 0
    hearted: int = 0           # new likes from a heart (saved to Liked Songs while in data_candidates)
    removed_by_you: int = 0    # new (weaker) dislikes: taken out of data_candidates without a label
    kinds: dict = field(default_factory=dict)   # every label so far by where it came from (`loop.LABEL_SOURCES`)


def sync_labels(store: Store, like_ids: list[str], dislike_ids: list[str],
                seen_before: set[str] | None = None) -> LabelSync:
    """Labels follow the playlists: moves take the latest label, removals drop it, a track in both is a conflict.

    With `seen_before` (the tracks of these same data_1/data_0 playlists at the last sync), only a track taken out
    of them loses its label: labels read from a playlist the user since deleted or renamed are kept. Labels given
    another way (a heart, a removal from data_candidates: `add_one_tap_labels`) are not the playlists' to drop; a
    drag into data_1 or data_0 later overrules them.
    """
    likes, dislikes = set(like_ids), set(dislike_ids)
    # in a fixed order: set order changes from one process to the next, and the label model's fit follows row order
    wanted: dict[str, tuple] = {t: (1, "data_1", 1.0) for t in sorted(likes - dislikes)}
    wanted.update({t: (0, "data_0", 1.0) for t in sorted(dislikes - likes)})
    wanted.update({t: (None, "conflict", 1.0) for t in sorted(likes & dislikes)})
    out = LabelSync(conflicts=sorted(likes & dislikes))
    with store.transaction() as conn:
        existing = loop_db.labels_now(conn)
        new = {t: lab for t, lab in wanted.items() if t not in existing}
        changed = {t: lab for t, lab in wanted.items() if t in existing and existing[t] != lab[:2]}
        gone = [t for t, (_, src) in existing.items() if t not in wanted and src in loop_db.PLAYLIST_SOURCES
                and (seen_before is None or t in seen_before)]
        loop_db.apply_labels(conn, new, changed, gone)
    out.new_likes = sum(lab[0] == 1 for lab in new.values())
    out.new_dislikes = sum(lab[0] == 0 for lab in new.values())
    out.changed, out.removed = len(changed), len(gone)
    out.total_likes, out.total_dislikes = loop_db.label_totals(store)
    out.kinds = loop_db.label_kind_counts(store)
    return out


def add_one_tap_labels(store: Store, sync: LabelSync, hearted: list[str], removed: list[str],
                       removed_weight: float) -> None:
    """Labels given without a drag: a pushed candidate saved to Liked Songs is a like (source "heart"); one the
    user took out of data_candidates without labelling it is a dislike of `removed_weight` (source "removed").
    Tracks already labelled keep their label (a drag says more than a heart)."""
    with store.transaction() as conn:
        existing = loop_db.labels_now(conn)
        rows = {t: (1, "heart", 1.0) for t in sorted(set(hearted)) if t not in existing}
        rows.update({t: (0, "removed", float(removed_weight)) for t in sorted(set(removed))
                     if t not in existing and t not in rows})
        loop_db.apply_labels(conn, rows, {}, [])
    sync.hearted = sum(lab[1] == "heart" for lab in rows.values())
    sync.removed_by_you = sum(lab[1] == "removed" for lab in rows.values())
    sync.new_likes += sync.hearted
    sync.new_dislikes += sync.removed_by_you
    sync.total_likes, sync.total_dislikes = loop_db.label_totals(store)
    sync.kinds = loop_db.label_kind_counts(store)


def housekeeping_removals(store: Store, candidate_ids: list[str], labelled_ids: set[str],
                          expire_weeks: float, now: datetime | None = None) -> tuple[list[str], list[str]]:
    """Which `data_candidates` tracks to remove: (copied into data_1/data_0, left unlabelled too long)."""
    now = now or datetime.now(timezone.utc)
    cutoff = (now - timedelta(weeks=expire_weeks)).strftime("%Y-%m-%dT%H:%M:%SZ")
    copied = [t for t in candidate_ids if t in labelled_ids]
    old = loop_db.pending_ids(store, pushed_before=cutoff)
    expired = [t for t in candidate_ids if t in old and t not in labelled_ids]
    return copied, expired


def mark_expired(store: Store, track_ids: list[str]) -> None:
    loop_db.set_push_status(store, track_ids, "expired")


def vanished_ids(store: Store, candidate_ids: list[str]) -> list[str]:
    """Pending pushes no longer in `data_candidates`: the user took them out (or deleted the playlist)."""
    return sorted(loop_db.pending_ids(store) - set(candidate_ids))


def mark_vanished(store: Store, candidate_ids: list[str]) -> int:
    """Pending pushes no longer in `data_candidates` (removed by hand, playlist deleted) stop counting as pending."""
    gone = vanished_ids(store, candidate_ids)
    loop_db.set_push_status(store, gone, "removed")
    return len(gone)
