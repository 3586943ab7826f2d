"""The simulated person's weekly chore: judge the candidates in data_candidates, as a person does in the Spotify app.

Three ways to say what they think, all counted by the tool: drag a track into `data_1` (like) or `data_0` (dislike),
tap its heart (saved to Liked Songs: a like), or just remove it from `data_candidates` (a dislike, of lower weight).
People label on their phones, where moving a track to another playlist takes four or five taps ("Add to playlist",
pick it, then remove it here) while the heart takes one and a removal two; so a good share of likes are hearted
and of dislikes just removed. No published figure gives the split: `HEART_RATE` and `REMOVE_RATE` are a judgement
(about a third of each), set so that both one-tap paths carry a real share of the labels, never tuned on the
product's figures. A hearted track stays in data_candidates (the heart does not move it); the tool tidies it away.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .catalog import Catalog
from .listener import Listener

CANDIDATES, LIKED, DISLIKED = "data_candidates", "data_1", "data_0"
COPY_RATE = 0.02
HEART_RATE = 0.35    # of the tracks they like, the share they heart instead of dragging into data_1
REMOVE_RATE = 0.3    # of the tracks they dislike, the share they just remove instead of dragging into data_0


def _own_playlist(state, name: str, user_id: str, create: bool) -> str | None:
    found = state.find_playlists(name, owner_id=user_id)
    if found:
        first = found[0]
        return first["id"] if isinstance(first, dict) else str(first)
    if not create:
        return None
    created = state.create_playlist(name, owner_id=user_id, public=False)
    return created["id"] if isinstance(created, dict) else str(created)


def label_candidates(state, listener: Listener, catalog: Catalog, rng: np.random.Generator,
                     label_rate: float = 0.85, heart_rate: float = HEART_RATE,
                     remove_rate: float = REMOVE_RATE) -> dict:
    """Label the tracks in the user's own `data_candidates` as a person would.

    Each track is judged with probability `label_rate` (the rest stay in data_candidates). A liked one
    (`listener.likes`) is hearted with probability `heart_rate` (saved to Liked Songs, left where it is), else moved
    to `data_1`; a disliked one is removed from data_candidates with probability `remove_rate`, else moved to
    `data_0`; about 2% of the drags are copies instead of moves. Tracks the listener cannot judge (not in the
    catalog, episodes) are left. data_1/data_0 are created if missing.
    Returns counts "liked", "disliked", "left" and the id lists "liked_ids", "disliked_ids" (every like and
    dislike, however given), "left_ids", "copied_ids", "hearted_ids", "removed_ids".
    """
    user_id = state.user["id"]
    cand = _own_playlist(state, CANDIDATES, user_id, create=False)
    empty = {"liked": 0, "disliked": 0, "left": 0, "liked_ids": [], "disliked_ids": [], "left_ids": [],
             "copied_ids": [], "hearted_ids": [], "removed_ids": []}
    if cand is None:
        return empty
    uris = list(dict.fromkeys(state.playlist_uris(cand)))
    known = set(catalog.tracks["track_id"])
    track_ids = [u.rsplit(":", 1)[-1] for u in uris]
    judgeable = [u.startswith("spotify:track:") and t in known for u, t in zip(uris, track_ids)]
    ids = [t for t, ok in zip(track_ids, judgeable) if ok]
    left_ids = [t for t, ok in zip(track_ids, judgeable) if not ok]
    if not ids:
        return {**empty, "left": len(left_ids), "left_ids": left_ids}

    labelled = rng.random(len(ids)) < label_rate
    liked = listener.likes(pd.DataFrame({"track_id": ids}), rng)
    copied = rng.random(len(ids)) < COPY_RATE
    one_tap = rng.random(len(ids)) < np.where(liked, heart_rate, remove_rate)
    liked_ids = [t for t, lab, lk in zip(ids, labelled, liked) if lab and lk]
    disliked_ids = [t for t, lab, lk in zip(ids, labelled, liked) if lab and not lk]
    left_ids += [t for t, lab in zip(ids, labelled) if not lab]
    hearted_ids = [t for t, lab, lk, tap in zip(ids, labelled, liked, one_tap) if lab and lk and tap]
    removed_ids = [t for t, lab, lk, tap in zip(ids, labelled, liked, one_tap) if lab and not lk and tap]
    tapped = set(hearted_ids) | set(removed_ids)
    copied_ids = [t for t, lab, cp in zip(ids, labelled, copied) if lab and cp and t not in tapped]
    copied_set = set(copied_ids)

    if hearted_ids:
        state.save_tracks(hearted_ids)
    if removed_ids:
        state.remove_items(cand, [f"spotify:track:{t}" for t in removed_ids])
    for name, group in ((LIKED, [t for t in liked_ids if t not in tapped]),
                        (DISLIKED, [t for t in disliked_ids if t not in tapped])):
        if not group:
            continue
        dst = _own_playlist(state, name, user_id, create=True)
        moves = [f"spotify:track:{t}" for t in group if t not in copied_set]
        copies = [f"spotify:track:{t}" for t in group if t in copied_set]
        if moves:
            state.move_items(cand, dst, moves)
        if copies:
            state.add_items(dst, copies)
    return {"liked": len(liked_ids), "disliked": len(disliked_ids), "left": len(left_ids),
            "liked_ids": liked_ids, "disliked_ids": disliked_ids, "left_ids": left_ids, "copied_ids": copied_ids,
            "hearted_ids": hearted_ids, "removed_ids": removed_ids}
