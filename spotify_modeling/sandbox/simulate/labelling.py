"""The simulated person's weekly chore: drag candidates into data_1 (like) or data_0 (dislike)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .catalog import Catalog
from .listener import Listener

CANDIDATES, LIKED, DISLIKED = "data_candidates", "data_1", "data_0"
COPY_RATE = 0.02


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
                     label_rate: float = 0.85) -> dict:
    """Label the tracks in the user's own `data_candidates` as a person would.

    Each track is labelled with probability `label_rate` (the rest stay in data_candidates); a labelled track is
    moved to `data_1` if `listener.likes` it, else to `data_0`; about 2% are copied instead of moved. Tracks the
    listener cannot judge (not in the catalog, episodes) are left. data_1/data_0 are created if missing.
    Returns counts "liked", "disliked", "left" and the id lists "liked_ids", "disliked_ids", "left_ids", "copied_ids".
    """
    user_id = state.user["id"]
    cand = _own_playlist(state, CANDIDATES, user_id, create=False)
    empty = {"liked": 0, "disliked": 0, "left": 0, "liked_ids": [], "disliked_ids": [], "left_ids": [],
             "copied_ids": []}
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
    liked_ids = [t for t, lab, lk in zip(ids, labelled, liked) if lab and lk]
    disliked_ids = [t for t, lab, lk in zip(ids, labelled, liked) if lab and not lk]
    left_ids += [t for t, lab in zip(ids, labelled) if not lab]
    copied_ids = [t for t, lab, cp in zip(ids, labelled, copied) if lab and cp]
    copied_set = set(copied_ids)

    for name, group in ((LIKED, liked_ids), (DISLIKED, disliked_ids)):
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
            "liked_ids": liked_ids, "disliked_ids": disliked_ids, "left_ids": left_ids, "copied_ids": copied_ids}
