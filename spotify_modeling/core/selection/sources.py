"""Where next week's candidates come from: the pool's sources, what your labels say of each, and your likes as seeds.

Pure (no I/O): the weekly run and the quality benchmark call the same functions.

Sources (`candidates.source`):

- ``search``: random catalog tracks (a random word and decade). They stay whatever the labels say: they are the
  affinity model's idea of "a random track" and the control slice's baseline.
- ``genre``: ``genre:"..."`` searches of the genres your history plays; a genre you keep disliking gets fewer.
- ``artist``: ``artist:"..."`` searches of the artists of tracks you liked, a page deeper each time.
- ``liked_genre``: ``genre:"..."`` searches of the fine genres your liked candidates carry.
- ``reccobeats``: ReccoBeats recommendations seeded by tracks you liked (no Spotify quota).

The searches not kept for ``search`` are shared among the taste sources by Thompson sampling: each source's rate of
likes among its labelled candidates has a Beta posterior (a removal counts with its lower weight), one rate is drawn
from each per search, and the search goes to the highest draw. A source that brings likes gets more calls; one
with no labels yet still gets its chance, in proportion to how uncertain its rate still is.

Dislikes prune: an artist you disliked `min_dislikes` times and never liked is neither searched nor offered again
until a like says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

#: the Spotify-search sources the taste searches are shared among (``search`` keeps its own share)
TASTE_SOURCES = ("genre", "artist", "liked_genre")
LIKE_SOURCES = ("artist", "liked_genre", "reccobeats")
ALL_SOURCES = ("search", "genre", "artist", "liked_genre", "reccobeats")
SOURCE_NAMES = {"search": "random catalog search", "genre": "your history's genres",
                "artist": "artists you liked", "liked_genre": "genres you liked",
                "reccobeats": "ReccoBeats, like tracks you liked"}
#: the prior's weight in labelled tracks: its mean is your overall rate of likes (0.3 before any label)
PRIOR_STRENGTH = 2.0
PRIOR_RATE = 0.3


def _artist_of(ids) -> str | None:
    if isinstance(ids, (list, tuple, np.ndarray)) and len(ids):
        return ids[0]
    return None


def source_posteriors(labelled: pd.DataFrame, sources: Iterable[str] = ALL_SOURCES,
                      strength: float = PRIOR_STRENGTH) -> dict[str, tuple[float, float]]:
    """Beta(a, b) per source of the rate of likes among its labelled candidates.

    `labelled`: one row per labelled candidate with `source`, `label` (1/0) and `weight` (default 1). The prior is
    Beta(strength * m, strength * (1 - m)), m your rate of likes over every source (`PRIOR_RATE` before any label).
    """
    if labelled is None or not len(labelled):
        m = PRIOR_RATE
        return {s: (strength * m, strength * (1 - m)) for s in sources}
    y = pd.to_numeric(labelled["label"], errors="coerce").to_numpy(float)
    w = (pd.to_numeric(labelled["weight"], errors="coerce").fillna(1.0).to_numpy(float)
         if "weight" in labelled else np.ones(len(y)))
    ok = ~np.isnan(y)
    m = float(np.clip((w[ok] * y[ok]).sum() / max(w[ok].sum(), 1e-9), 0.02, 0.98)) if ok.any() else PRIOR_RATE
    src = labelled["source"].fillna("search").to_numpy()
    out = {}
    for s in sources:
        mask = ok & (src == s)
        likes = float((w[mask] * y[mask]).sum())
        dislikes = float((w[mask] * (1 - y[mask])).sum())
        out[s] = (strength * m + likes, strength * (1 - m) + dislikes)
    return out


def hit_rate_by_source(labelled: pd.DataFrame) -> list[dict]:
    """Per source: labelled candidates, likes and the share liked with its 95% Wilson interval (for the summary,
    `status` and the report), in `ALL_SOURCES` order, only sources with labelled candidates."""
    from spotify_modeling.core.metrics import wilson_interval

    out = []
    if labelled is None or not len(labelled):
        return out
    lab = labelled[pd.to_numeric(labelled["label"], errors="coerce").notna()]
    for s in ALL_SOURCES:
        part = lab[lab["source"].fillna("search") == s]
        if not len(part):
            continue
        n, k = len(part), int((part["label"] == 1).sum())
        _, lo, hi = wilson_interval(k, n)
        out.append({"source": s, "name": SOURCE_NAMES[s], "labelled": n, "liked": k, "hit_rate": k / n,
                    "low": lo, "high": hi})
    return out


def allocate_searches(n_calls: int, eligible: Iterable[str], posteriors: Mapping[str, tuple[float, float]],
                      rng: np.random.Generator) -> dict[str, int]:
    """Share `n_calls` searches among the eligible sources: one Thompson draw per search, to the highest rate."""
    names = [s for s in eligible if s in posteriors]
    out = {s: 0 for s in names}
    if n_calls <= 0 or not names:
        return out
    a = np.array([posteriors[s][0] for s in names], dtype=float)
    b = np.array([posteriors[s][1] for s in names], dtype=float)
    draws = rng.beta(a[None, :], b[None, :], size=(int(n_calls), len(names)))
    winners = np.argmax(draws, axis=1)
    for j, s in enumerate(names):
        out[s] = int((winners == j).sum())
    return out


def artist_evidence(tracks: pd.DataFrame, labels: np.ndarray, weights: np.ndarray | None = None
                    ) -> dict[str, tuple[float, float]]:
    """{primary artist id: (weighted likes, weighted dislikes)} of labelled tracks (`tracks` has `artist_ids`)."""
    weights = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)
    out: dict[str, list[float]] = {}
    for ids, y, w in zip(tracks["artist_ids"] if "artist_ids" in tracks else [None] * len(labels), labels, weights):
        a = _artist_of(ids)
        if a is None or pd.isna(y):
            continue
        cell = out.setdefault(a, [0.0, 0.0])
        cell[0 if y == 1 else 1] += float(w)
    return {a: (v[0], v[1]) for a, v in out.items()}


def artist_evidence_column(artist_ids: Iterable, batches: Iterable | None,
                           labelled_artist_ids: Iterable, labels: Iterable, weights: Iterable | None = None,
                           labelled_batches: Iterable | None = None) -> np.ndarray:
    """Per row: weighted likes minus dislikes of its primary artist, counting only labels of batches before the
    row's own (`batches`; None = every label: the pool as scored now). A labelled track's own label, and any given
    the same week, never count: the composite learns from what was known when the track was offered."""
    lab_a = [_artist_of(ids) for ids in labelled_artist_ids]
    y = np.asarray(list(labels), dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(list(weights), dtype=float)
    lb = (np.zeros(len(y)) if labelled_batches is None
          else np.nan_to_num(pd.to_numeric(pd.Series(list(labelled_batches)), errors="coerce").to_numpy(float)))
    by_artist: dict[str, list[tuple[float, float]]] = {}
    for a, yy, ww, bb in zip(lab_a, y, w, lb):
        if a is not None and not np.isnan(yy):
            by_artist.setdefault(a, []).append((bb, ww * (1.0 if yy == 1 else -1.0)))
    rows = [_artist_of(ids) for ids in artist_ids]
    rb = (None if batches is None
          else np.nan_to_num(pd.to_numeric(pd.Series(list(batches)), errors="coerce").to_numpy(float), nan=np.inf))
    out = np.zeros(len(rows))
    for i, a in enumerate(rows):
        for bb, v in by_artist.get(a, ()):
            if rb is None or bb < rb[i]:
                out[i] += v
    return out


def pruned_artists(evidence: Mapping[str, tuple[float, float]], min_dislikes: float = 2.0) -> set[str]:
    """Artists disliked at least `min_dislikes` times (weighted) and never liked: neither searched nor offered."""
    if min_dislikes <= 0:
        return set()
    return {a for a, (likes, dislikes) in evidence.items() if likes == 0 and dislikes >= min_dislikes - 1e-9}


def liked_artists(tracks: pd.DataFrame, labels: np.ndarray, weights: np.ndarray | None = None,
                  ) -> list[dict]:
    """The artists of your liked tracks to search, newest like first: {"artist_id", "name", "seed"} where seed is
    "Artist - Title" of the like that brought them. `tracks` in label order, newest first, with `artist_ids`,
    `artist_names`, `track_name`. An artist whose dislikes outweigh its likes by two is left out."""
    evidence = artist_evidence(tracks, labels, weights)
    out, seen = [], set()
    for ids, names, title, y in zip(tracks["artist_ids"], tracks["artist_names"], tracks["track_name"], labels):
        a = _artist_of(ids)
        if y != 1 or a is None or a in seen:
            continue
        likes, dislikes = evidence.get(a, (0.0, 0.0))
        if dislikes >= likes + 2:
            continue
        seen.add(a)
        name = names[0] if isinstance(names, (list, tuple, np.ndarray)) and len(names) else None
        if not name:
            continue
        out.append({"artist_id": a, "name": str(name), "seed": f"{name} - {title}"})
    return out


def _genre_counts(genres: Iterable, labels: np.ndarray, weights: np.ndarray) -> dict[str, list[float]]:
    counts: dict[str, list[float]] = {}
    for gs, y, w in zip(genres, labels, weights):
        if gs is None or isinstance(gs, float) or pd.isna(y):
            continue
        for g in dict.fromkeys(gs):
            cell = counts.setdefault(g, [0.0, 0.0])
            cell[0 if y == 1 else 1] += float(w)
    return counts


def liked_genre_menu(genres: Iterable, labels: np.ndarray, weights: np.ndarray | None = None,
                     top: int = 20, pseudo: float = 2.0) -> dict[str, float]:
    """The fine genres of your liked candidates, each weighted by its likes and its rate of likes (pulled toward
    your average with `pseudo` labels): the ``liked_genre`` searches' menu."""
    labels = np.asarray(labels, dtype=float)
    weights = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)
    counts = _genre_counts(genres, labels, weights)
    ok = ~np.isnan(labels)
    m = float((weights[ok] * labels[ok]).sum() / max(weights[ok].sum(), 1e-9)) if ok.any() else PRIOR_RATE
    menu = {g: likes * (likes + pseudo * m) / (likes + dislikes + pseudo)
            for g, (likes, dislikes) in counts.items() if likes > 0}
    best = sorted(menu.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return dict(best)


def genre_dislike_factors(genres: Iterable, labels: np.ndarray, weights: np.ndarray | None = None,
                          pseudo: float = 5.0) -> dict[str, float]:
    """How much less to search each of your history's genres: its labelled candidates' rate of likes over your
    average, pulled toward 1 with `pseudo` labels and never above 1 (a genre you keep disliking gets fewer searches;
    one you like gains through the ``liked_genre`` source, not here)."""
    labels = np.asarray(labels, dtype=float)
    weights = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)
    counts = _genre_counts(genres, labels, weights)
    ok = ~np.isnan(labels)
    m = max(float((weights[ok] * labels[ok]).sum() / max(weights[ok].sum(), 1e-9)) if ok.any() else PRIOR_RATE,
            1e-3)
    return {g: min(1.0, (likes + pseudo * m) / ((likes + dislikes + pseudo) * m))
            for g, (likes, dislikes) in counts.items()}


def pool_reason(source: str | None, detail: str | None) -> str:
    """Why a pool track came, in words."""
    detail = detail or ""
    if source == "artist":
        return f"because you liked {detail}" if detail else "an artist you liked"
    if source == "reccobeats":
        return f"sounds like {detail}, which you liked" if detail else "like tracks you liked (ReccoBeats)"
    if source == "liked_genre":
        return f"a genre of tracks you liked: {detail}" if detail else "a genre you liked"
    if source == "genre":
        return f"one of your genres: {detail}" if detail else "one of your genres"
    return "a random catalog track"


__all__ = ["TASTE_SOURCES", "LIKE_SOURCES", "ALL_SOURCES", "SOURCE_NAMES", "source_posteriors", "hit_rate_by_source",
           "allocate_searches", "artist_evidence", "artist_evidence_column", "pruned_artists", "liked_artists", "liked_genre_menu",
           "genre_dislike_factors", "pool_reason"]
