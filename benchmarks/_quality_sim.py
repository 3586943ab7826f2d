"""In-process simulation of the weekly loop for the quality benchmark (see `quality.py` for the protocol).

The decisions are the product's own pure functions (`loop.score_pool`, `loop.fit_affinity`,
`loop.composite_from_labels`, `loop.choose_batch`, `selection.select_original`, ...); only the I/O around
them (HTTP, playlists, the store's pool tables) is replaced by in-memory bookkeeping so that many
listeners x seeds x settings run in minutes instead of hours.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from spotify_modeling.core.selection import decisions as loop
from spotify_modeling.pipeline.settings import WeeklyConfig
from spotify_modeling.pipeline import pool as pool_mod
from spotify_modeling.core.featurize import genre_family
from spotify_modeling.pipeline.ingest import import_export
from spotify_modeling.core.models import AffinityModel, LabelModel, LikeabilityModel, PlaylistModel
from spotify_modeling.core.selection import CompositeScorer, select_batch, select_original, select_random
from spotify_modeling.sandbox.simulate import GENRE_FAMILIES, PERSONAS, Catalog, Persona, World, build_world, make_listener
from spotify_modeling.sandbox.simulate import world_from_listener
from spotify_modeling.core.featurize import AUDIO_FEATURES
from spotify_modeling.sandbox.simulate import TRACK_COLUMNS
from spotify_modeling.db import tracks as db_tracks
from spotify_modeling.db.history import history_tracks
from spotify_modeling.db.store import Store
from spotify_modeling.pipeline.enrich import DETAILS_CALLS
from spotify_modeling.core.records import ArtistRef, TrackRecord
from spotify_modeling.db.model_table import artist_play_counts
from spotify_modeling.core.targets import affinity_table
from spotify_modeling.pipeline.train import history_window, training_data

METHODS = ("random", "stage1", "original", "ours", "supervised", "observable", "ceiling")
#: The plain sketch of issue 22, point 3 (LightGBM of "history vs 4,000 uniform random catalog tracks" on the 11
#: audio features + indicators of the genres of 20+ history tracks, every genre known, x (0.5 + p_playlist), top of
#: its own uniform 1,000-track pool) and its ablations toward the product, one change each (opt-in methods: add
#: them to `SimSettings.methods`; `quality.py --sketch` runs them). Each entry: how it differs from "sketch".
SKETCH_VARIANTS: dict[str, dict[str, str]] = {
    "sketch": {},
    "sketch_on_pool": {"pool": "shared"},                 # (c) the shared, search-sampled pool the others rank
    "sketch:pool_negatives": {"negatives": "pool"},       # (a) negatives = the pool's random-search tracks only
    "sketch:product_genres": {"genres": "product"},       # (b) genres of history artists + the product's look-ups
    "sketch:uniform_pool_shared_size": {"pool": "uniform_sized"},   # (c') uniform, as many tracks as the shared pool
    "sketch:affinity_model": {"model": "affinity"},       # (d) the product's AffinityModel on the product's features
    "sketch:prior_composite": {"combine": "prior"},       # (e) the product's prior composite instead of x (0.5 + pl)
}
SKETCH_DEFAULTS = {"negatives": "uniform", "genres": "all", "pool": "uniform", "model": "lgbm", "combine": "playlist"}
#: ... and the listener's own best picks from the sketch's uniform pool (that pool's ceiling), and uniform picks
#: from it (that pool's random baseline)
SKETCH_METHODS: tuple[str, ...] = tuple(SKETCH_VARIANTS) + ("ceiling_uniform", "random_uniform")
ALL_METHODS: tuple[str, ...] = METHODS + SKETCH_METHODS
AUC_TARGET = 0.75
ARTIST_PLAYS = "artist_plays"  # the product's "known artist" column (see `model_table`)


# ------------------------------------------------------------------------------------------------ settings
@dataclass
class SimSettings:
    """One benchmark setting. `weekly` holds the product's WeeklyConfig; the rest is the simulation's."""

    weeks: int = 6
    pool_per_week: int = 600        # fresh random catalog tracks drawn each week (before feature coverage)
    pool_max: int = 4000            # the accumulated pool keeps at most this many (oldest dropped)
    label_rate: float = 1.0         # share of each batch the listener labels (0.85 mimics label_candidates)
    holdout: int = 1000             # random non-pool tracks for the stage-2 AUC
    n_tracks: int = 50000          # the pool's best picks must not run out in six weeks (issue 21)
    n_plays: int = 8000
    genre_fetch: bool = True        # pool genres only for history artists + the top of the pool (as the product)
    prior_weights: dict | None = None   # composite prior; None = the product's DEFAULT_PRIOR_WEIGHTS
    known_artist: bool = True       # the product's `artist_plays` column; False drops it everywhere (ablation)
    auc_curve: bool = True          # labels-to-AUC experiment (costs ~50 small fits per run)
    auc_step: int = 10
    auc_random_max: int = 400
    methods: tuple[str, ...] = METHODS
    composite_n0: float | None = None   # the composite's prior pseudo-count (None = the product's)
    menu_follows_labels: bool = False   # the genre searches' menu re-weighted by ours' labels (shared pool: all see it)
    composite: dict | None = None   # other CompositeScorer parameters (corrections, pseudo-counts; None = the product's)
    label_model: str = "lightgbm"   # stage 2: the product's LabelModel, or "linear" (experiment)
    family_headroom: bool = True    # family caps follow the history's family shares (False: the flat cap only)
    supervised_n: int = 5000        # "supervised" method: hidden-taste labels of this many random catalog tracks
    supervised_all_genres: bool = True  # ... scored with every pool genre known (False: the genres the product has)
    release_exposure: bool = True   # affinity negatives weighted by release exposure (False: unweighted, ablation)
    affinity_label_weight: float = 0.0  # ours' labels join its affinity fit with this weight (0: not at all)
    affinity_extra_negatives: int = 0   # random catalog tracks outside the pool added to the affinity negatives
    liked_artist_plays: float = 0.0     # ours: each like counts as this many plays of its artist (0: not at all)
    like_sources: bool = True       # ours draws part of its pool from its likes, as the product (False: the loop
    #                                 before, where every method ranks the same pool)
    remove_rate: float = 0.3        # share of the dislikes given as a removal (weight `weekly.removed_weight`)
    stage2_evidence: bool = True    # stage 2's prior weight from the forward-chained comparison (False: 0, as before)
    start: str = "export"           # "web_api": no export yet, stage 1 from what the Web API knows (issue 22)
    uri_stubs: bool = True          # history tracks the export names by URI lack release date + explicit, as in the
    #                                 product, except the `enrich.DETAILS_CALLS` most-played ones `features` fills
    missing_policy: str = "balance"  # stage-1 models' provenance balance ("as_is": the pre-fix fits, ablation)
    history_noise: float = 0.0      # the listener: a share of plays from outside their taste (simulate.REALISTIC)
    drift: object = None            # ... and a current taste that moved away from the history's (a simulate.Drift)
    search_popularity: float = 0.0  # random searches draw tracks with weight (1 + popularity / 25) ** this (0:
    #                                 uniform, as before; Spotify's search ranks popular tracks first, issue 22)
    uniform_pool_extra: int = 0     # uniform random catalog tracks added to the pool each week (the Deezer -> ISRC
    #                                 -> ReccoBeats route, no Spotify search): random samples, so also affinity
    #                                 negatives; the batch is sized on the rest of the pool, so rates compare at one
    #                                 batch size
    uniform_pool_weeks: int = 0     # ... in the first this many weeks only (0: every week)
    sketch_negatives: int = 4000    # sketch methods: uniform random unknown catalog tracks as negatives
    sketch_pool: int = 1000         # ... the size of the sketch's own uniform pool, drawn fresh each week
    sketch_min_genre_tracks: int = 20   # ... a fine genre gets an indicator when this many history tracks carry it
    weekly: WeeklyConfig = field(default_factory=WeeklyConfig)

    def with_weekly(self, **changes) -> "SimSettings":
        return replace(self, weekly=replace(self.weekly, **changes))


# ------------------------------------------------------------------------------------------------ real catalog
def shared_data_dir() -> Path | None:
    """`$SPOTIFY_MODEL_SHARED/data` or `<repo>/../shared/data`, when its catalogs exist (read only)."""
    import os

    root = os.environ.get("SPOTIFY_MODEL_SHARED")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "shared"
    data = base / "data" if (base / "data").is_dir() else base
    return data if (data / "catalogs" / "hot100_audio_features.csv.gz").is_file() else None


def _stable_id(text: str, n: int = 22) -> str:
    digest = hashlib.sha1(text.encode("utf-8")).digest()
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    num = int.from_bytes(digest, "big")
    out = []
    for _ in range(n):
        num, r = divmod(num, 62)
        out.append(alphabet[r])
    return "".join(out)


def _first_artist(performer: str) -> str:
    text = str(performer)
    for sep in (" Featuring ", " featuring ", " feat. ", " Feat. ", " With ", " & ", " x ", ", "):
        text = text.split(sep)[0]
    return text.strip()


def _majority_family(genres: list[str]) -> str | None:
    counts: dict[str, int] = {}
    for g in genres:
        for f in genre_family(g):
            if f in GENRE_FAMILIES:
                counts[f] = counts.get(f, 0) + 1
    return max(sorted(counts), key=counts.get) if counts else None


def real_catalog(data_dir: Path, seed: int = 0) -> tuple[Catalog, Catalog]:
    """The hot100 table as (observable catalog with real genres, hidden-taste catalog with vocab genres only).

    Both share track order, so one listener defined on the second scores rows of the first. Hidden facts the
    table lacks are filled plainly: family = majority broad family of the artist's genres (nearest family
    centroid in audio space when the artist has none), one single-track album per track, release year from
    TidyTuesday where the id matches (else unknown to the tool; hidden year 1995 and a persona without a
    newness preference so it never matters), ReccoBeats coverage 92% as in the synthetic catalog.
    """
    rng = np.random.default_rng([seed, 404])
    hot = pd.read_csv(data_dir / "catalogs" / "hot100_audio_features.csv.gz")
    hot = hot.dropna(subset=["spotify_track_id", "danceability", "spotify_track_duration_ms", "song", "performer"])
    hot = hot.drop_duplicates("spotify_track_id").reset_index(drop=True)
    tidy_path = data_dir / "catalogs" / "tidytuesday_spotify_songs.csv.gz"
    dates = {}
    if tidy_path.is_file():
        tidy = pd.read_csv(tidy_path, usecols=["track_id", "track_album_release_date"]).dropna()
        dates = tidy.drop_duplicates("track_id").set_index("track_id")["track_album_release_date"].astype(str).to_dict()
    genres = [list(ast.literal_eval(g)) if isinstance(g, str) else [] for g in hot["artist_genres"]]
    artist_name = [_first_artist(p) for p in hot["performer"]]
    artist_id = [_stable_id("artist:" + a.lower()) for a in artist_name]
    n = len(hot)
    fam = np.array([_majority_family(g) or "" for g in genres], dtype=object)
    # artists without genres: nearest family centroid (standardised audio features)
    feats = hot[["danceability", "energy", "speechiness", "acousticness", "instrumentalness", "valence"]].to_numpy(float)
    feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-9)
    known = fam != ""
    fams = sorted(set(fam[known]))
    centroids = np.array([feats[fam == f].mean(0) for f in fams])
    nearest = np.array(fams)[np.argmin(((feats[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)]
    fam[~known] = nearest[~known]
    popularity = pd.to_numeric(hot["spotify_track_popularity"], errors="coerce").fillna(20.0).to_numpy(float)
    track_ids = hot["spotify_track_id"].astype(str).tolist()
    release = [dates.get(t) for t in track_ids]
    year = np.array([int(str(d)[:4]) if d else 1995 for d in release])
    tracks = pd.DataFrame({
        "track_id": track_ids, "track_name": hot["song"].astype(str).tolist(),
        "artist_names": [[a] for a in artist_name], "artist_ids": [[a] for a in artist_id],
        "duration_ms": hot["spotify_track_duration_ms"].astype(int).to_numpy(),
        "release_date": release, "explicit": np.zeros(n, dtype=bool),
        **{c: hot[c].to_numpy() for c in AUDIO_FEATURES},
        "time_signature": pd.to_numeric(hot["time_signature"], errors="coerce").fillna(4).astype(int).to_numpy(),
        "genres": genres, "popularity": popularity,
    })[TRACK_COLUMNS]
    tracks["key"] = tracks["key"].fillna(-1).astype(int)
    tracks["mode"] = tracks["mode"].fillna(1).astype(int)
    art = pd.DataFrame({"artist_id": artist_id, "name": artist_name, "genres": genres, "family": fam,
                        "popularity": popularity}).groupby("artist_id", sort=False).agg(
        name=("name", "first"), genres=("genres", "first"), family=("family", lambda s: s.mode().iloc[0]),
        popularity=("popularity", "mean"))
    art.insert(0, "artist_id", art.index)
    album_ids = [_stable_id("album:" + t) for t in track_ids]
    albums = pd.DataFrame({"album_id": album_ids, "name": tracks["track_name"], "album_type": "single",
                           "release_date": [d or "1995" for d in release], "artist_id": artist_id}
                          ).set_index("album_id", drop=False)
    truth = pd.DataFrame({
        "track_id": track_ids, "family": fam, "artist_id": artist_id, "album_id": album_ids,
        "track_number": 1, "isrc": [f"US{_stable_id(t, 10).upper()}" for t in track_ids], "release_year": year,
        "reccobeats_covered": rng.random(n) < 0.92, "reccobeats_id": [_stable_id("rb:" + t, 32) for t in track_ids],
    })
    observable = Catalog(tracks=tracks, artists=art, albums=albums, truth=truth, seed=seed)
    vocab_genres = {g for gs in GENRE_FAMILIES.values() for g in gs}
    hidden_tracks = tracks.copy()
    hidden_tracks["genres"] = [[g for g in gs if g in vocab_genres] for gs in genres]
    hidden = Catalog(tracks=hidden_tracks, artists=art, albums=albums, truth=truth, seed=seed)
    return observable, hidden


#: hidden taste for the real-catalog listener: no newness term (release years are mostly unknown there)
REAL_PERSONA = Persona("hot100_soul_rock", loved={"rock": 0.9, "r&b": 0.7, "folk": 0.4}, neutral=("pop",),
                       favourite_genres=("soul", "classic rock", "motown", "album rock", "quiet storm"),
                       familiarity=0.0, newness=0.0, loyalty=0.3, commonality=0.2)


def build_real_world(observable: Catalog, hidden: Catalog, seed: int, n_plays: int, history_noise: float = 0.0,
                     drift=None) -> World:
    """A World over the real catalog: the listener's taste is defined on `hidden`, everything else on `observable`."""
    listener = make_listener(hidden, persona=REAL_PERSONA, seed=seed)
    return world_from_listener(listener, observable, seed=seed, n_plays=n_plays, history_noise=history_noise,
                               drift=drift, user_id=f"realsim{seed}")


# ------------------------------------------------------------------------------------------------ enrichment stand-in
def fill_store_from_catalog(store: Store, catalog: Catalog, track_ids: list[str],
                            described: set[str] | None = None) -> int:
    """Write `tracks`, `artists` (genres) and `audio_features` rows as enrichment would, for ids in the catalog,
    through the store's own writers (`db.tracks`).

    ReccoBeats coverage follows `catalog.truth["reccobeats_covered"]` (uncovered: available=0), ReccoBeats gives
    no time_signature, and artists without genres get `[]` (looked up, none known). `described`: the tracks with a
    release date and explicit flag (a full Spotify object); None = all. Returns rows written.
    """
    pos_of = catalog._track_pos
    ids = [t for t in dict.fromkeys(track_ids) if t in pos_of]
    if not ids:
        return 0
    pos = catalog.positions(ids)
    t = catalog.tracks.iloc[pos]
    covered = catalog.truth["reccobeats_covered"].to_numpy()[pos]
    album = catalog.albums["name"].reindex(catalog.truth["album_id"].to_numpy()[pos]).to_numpy()
    feat_cols = list(AUDIO_FEATURES)
    full, stubs = [], []
    for r, al in zip(t.itertuples(index=False), album):
        whole = described is None or r.track_id in described
        record = TrackRecord(id=r.track_id, name=r.track_name,
                             artists=tuple(ArtistRef(a, n) for a, n in zip(r.artist_ids, r.artist_names)),
                             album_name=al, duration_ms=int(r.duration_ms),
                             release_date=r.release_date if whole and isinstance(r.release_date, str) else None,
                             explicit=bool(r.explicit) if whole else None)
        (full if whole else stubs).append(record)
    with store.transaction() as conn:
        db_tracks.upsert_tracks(conn, full, "catalog")
        db_tracks.upsert_tracks(conn, stubs, "reccobeats", fill_only=True)
        for tid, c, vals in zip(t["track_id"], covered, t[feat_cols].to_numpy()):
            db_tracks.insert_features(conn, tid, "reccobeats",
                                      dict(zip(feat_cols, (float(v) for v in vals))) if c else None)
        for a in {a for ids_ in t["artist_ids"] for a in ids_}:
            db_tracks.store_genres(conn, a, catalog.artists.at[a, "name"], list(catalog.artists.at[a, "genres"]),
                                   "spotify")
    return len(ids)


def described_tracks(store: Store) -> set[str]:
    """The history tracks `features` describes fully when the export names them all by URI: ReccoBeats gives
    duration and artists, not the release date or explicit flag, which only `GET /tracks/{id}` gives, for the
    `enrich.DETAILS_CALLS` most-played tracks of a first run. (Every track of a simulated export has a URI: the
    extended history carries them, and the account history's names match them at import.)"""
    return {t for t, _ in history_tracks(store)[:DETAILS_CALLS]}


def catalog_table(catalog: Catalog, positions: np.ndarray, genre_artists: set[str] | None) -> pd.DataFrame:
    """Catalog rows in `track_table`'s shape (features as ReccoBeats gives them; uncovered rows dropped).

    `genres` merges the genres of the track's artists whose genres were looked up (`genre_artists`; None = all),
    and is None when that gives none, exactly as `enrich.track_table` reads the store.
    """
    positions = np.asarray(positions)
    positions = positions[catalog.truth["reccobeats_covered"].to_numpy()[positions]]
    t = catalog.tracks.iloc[positions]
    art_genres = catalog.artists["genres"].to_dict()
    genres = []
    for ids in t["artist_ids"]:
        merged = list(dict.fromkeys(g for a in ids if genre_artists is None or a in genre_artists
                                    for g in art_genres.get(a, ())))
        genres.append(merged or None)
    out = pd.DataFrame({
        "track_id": t["track_id"].to_numpy(), "track_name": t["track_name"].to_numpy(),
        "artist_names": [list(v) for v in t["artist_names"]], "artist_ids": [list(v) for v in t["artist_ids"]],
        "duration_ms": t["duration_ms"].to_numpy(dtype=float),
        "release_date": [d if isinstance(d, str) else None for d in t["release_date"]],
        "explicit": t["explicit"].to_numpy(dtype=float),
        **{c: t[c].to_numpy(dtype=float) for c in AUDIO_FEATURES},
        "time_signature": np.nan, "genres": genres, "source": "reccobeats",
    })
    return out


def add_artist_plays(df: pd.DataFrame, per_artist: dict[str, int] | None) -> pd.DataFrame:
    """Add `artist_plays` as `model_table.track_table` computes it for a track the user never played:
    log1p(plays of its primary artist); NaN without a primary artist. `per_artist=None` drops the column
    (the ablation without the known-artist feature)."""
    df = df.copy()
    if per_artist is None:
        return df.drop(columns=[ARTIST_PLAYS], errors="ignore")
    total = np.array([per_artist.get(ids[0], 0) if ids else np.nan for ids in df["artist_ids"]], dtype=float)
    df[ARTIST_PLAYS] = np.log1p(total)
    return df


# ------------------------------------------------------------------------------------------------ the run
@dataclass
class Prepared:
    world: World
    X_played: pd.DataFrame
    models: dict
    candidates: np.ndarray      # catalog positions unknown to the user, in random order (the weekly draws)
    holdout: np.ndarray         # catalog positions for the stage-2 AUC (never in the pool)
    artist_plays: dict[str, int] | None   # plays per primary artist (None: known-artist feature ablated)
    history_artists: set[str]
    window: tuple[float, float] | None   # the history's first and last play (`train.history_window`)
    uniforms: np.ndarray        # one uniform per catalog track: common random numbers for every method's labels


def prepare(world: World, settings: SimSettings, seed: int) -> Prepared:
    """Import the export into a temp store, enrich it from the catalog, fit stage 1 as `train_stage1` does."""
    cat = world.catalog
    with tempfile.TemporaryDirectory(prefix="quality-") as tmp:
        store = Store(Path(tmp) / "store.sqlite")
        try:
            if settings.start == "web_api":
                _web_api_start(store, world)
            else:
                import_export(store, world.write_export(Path(tmp) / "my_spotify_data.zip", as_zip=True))
            known = [t for t, _ in history_tracks(store)]
            fill_store_from_catalog(store, cat, known, described_tracks(store)
                                    if settings.uri_stubs and settings.start != "web_api" else None)
            X, y = training_data(store)   # carries the product's leave-one-out artist_plays
            per_artist, _ = artist_play_counts(store)
            window = history_window(store)
        finally:
            store.close()
    if not settings.known_artist:
        X = X.drop(columns=[ARTIST_PLAYS], errors="ignore")
        per_artist = None
    models = {}
    policy = settings.missing_policy
    if min(np.bincount(y["playlist"].to_numpy(), minlength=2)) >= 10:
        models["playlist"] = PlaylistModel(missing_policy=policy).fit(X, y["playlist"].to_numpy())
    lk = y["likeability"].notna().to_numpy()
    if lk.sum() >= 10:   # before the export no track has plays: the product waits for them, so does this
        models["likeability"] = LikeabilityModel(missing_policy=policy).fit(X[lk].reset_index(drop=True),
                                                                            y.loc[lk, "likeability"].to_numpy())
    # what the tool can keep from offering: the history it knows (a Web API start knows only the API's tracks)
    known_ids = set(known) | (set(world.history["track_id"]) if settings.start != "web_api" else set())
    rng = np.random.default_rng([seed, 2024])
    unknown = np.flatnonzero(~cat.tracks["track_id"].isin(known_ids).to_numpy())
    unknown = rng.permutation(unknown)
    holdout = unknown[: settings.holdout]
    history_artists = {a for ids in X["artist_ids"] for a in ids}
    return Prepared(world=world, X_played=X, models=models, candidates=unknown[settings.holdout:], holdout=holdout,
                    artist_plays=per_artist, history_artists=history_artists, window=window,
                    uniforms=np.random.default_rng([seed, 99]).random(len(cat.tracks)))


def _web_api_start(store: Store, world: World) -> None:
    """The store of a home that logged in before its export came: the tracks `webapi.import_from_web_api` reads
    (Liked Songs, top tracks of the three ranges, the own playlists' items) as the stand-in answers them."""
    from spotify_modeling.core.normalize import name_key
    from spotify_modeling.db import library
    from spotify_modeling.db.store import utc_now
    from spotify_modeling.sandbox.simulate.world import TOP_RANGES
    from spotify_modeling.pipeline.webapi import TIME_RANGES

    t = world.catalog.tracks.set_index("track_id")
    key = {tid: name_key(t.at[tid, "artist_names"][0], t.at[tid, "track_name"]) for tid in t.index}
    signals = {"saved": [(tid, key[tid]) for tid, _ in world.saved_tracks]}
    for r in TOP_RANGES:
        signals[TIME_RANGES[r]] = [(tid, key[tid]) for tid in world.top_tracks(r)]
    signals["playlist"] = [(tid, key[tid]) for p in world.playlists for tid in p.track_ids]
    saved = [(tid, t.at[tid, "track_name"], t.at[tid, "artist_names"][0], None, key[tid])
             for tid, _ in world.saved_tracks]
    playlists = [((f"api:{i}", p.name, "me"), [("track", tid, t.at[tid, "track_name"], t.at[tid, "artist_names"][0],
                                                None, key[tid], None) for tid in p.track_ids])
                 for i, p in enumerate(world.playlists)]
    with store.transaction() as conn:
        for signal, rows in signals.items():
            library.replace_api_part(conn, signal, rows, utc_now(), saved=saved if signal == "saved" else None,
                                     playlists=playlists if signal == "playlist" else None)


@dataclass
class _MethodState:
    name: str
    pushed: set = field(default_factory=set)
    batches: list = field(default_factory=list)  # track ids pushed, one list per week
    rows: list = field(default_factory=list)     # labelled track rows (as scored at push time)
    y: list = field(default_factory=list)
    w: list = field(default_factory=list)        # each label's weight (a removal counts less)
    batch: list = field(default_factory=list)    # the week each labelled track was pushed
    sources: list = field(default_factory=list)  # each labelled track's pool source
    Z: list = field(default_factory=list)        # stored z-features (ours)
    label_model: object = None


def _composite(Z: list[dict], y: list[int], rows: list[pd.DataFrame], settings: "SimSettings",
               w: list[float] | None = None, stage2_weight: float = 0.0,
               batches: list[int] | None = None) -> CompositeScorer:
    """`loop.composite_from_labels` on ours' labelled tracks, with the setting's prior and composite parameters;
    `stage2_weight`: stage 2's prior weight from the forward-chained evidence, as `WeeklyRun._composite`."""
    from spotify_modeling.core.selection import sources as src
    from spotify_modeling.core.selection.composite import DEFAULT_PRIOR_WEIGHTS

    params = dict(settings.composite or {})
    params["prior_weights"] = {**(settings.prior_weights or DEFAULT_PRIOR_WEIGHTS), "label": stage2_weight}
    if settings.composite_n0 is not None:
        params["n0"] = settings.composite_n0
    frame = pd.DataFrame(Z) if Z else None
    tracks = pd.concat(rows, ignore_index=True) if rows else None
    if tracks is not None and batches:
        tracks = tracks.assign(artist_evidence=src.artist_evidence_column(
            tracks["artist_ids"], batches, tracks["artist_ids"], y, w, batches))
    return loop.composite_from_labels(frame, y, tracks, sample_weight=w if w else None, **params)


def _ours_evidence(st: _MethodState) -> pd.DataFrame:
    """Ours' labelled tracks newest first, as `WeeklyRun._label_evidence` reads the store."""
    if not st.rows:
        return pd.DataFrame(columns=["label", "weight", "source", "artist_ids", "artist_names", "track_name",
                                     "genres"])
    rows = pd.concat(st.rows, ignore_index=True)[["artist_ids", "artist_names", "track_name", "genres"]]
    ev = rows.assign(label=st.y, weight=st.w, source=st.sources)
    return ev.iloc[::-1].reset_index(drop=True)


def _ours_sources(cat: Catalog, st: _MethodState, cfg, history_menu: dict[str, float], new_taste: list[int],
                  n_searches: int, per_page: int, by_artist: dict[str, list[int]], eligible: set[int],
                  taken: set[int], rng: np.random.Generator, recco: bool) -> tuple[dict[int, tuple[str, str]], dict]:
    """Ours' taste draw of the week as `WeeklyRun.top_up_pool` plans it: `n_searches` taste searches shared by
    Thompson sampling among your history's genres (the first tracks of the shared genre draw), your likes' artists
    and your likes' genres; plus ReccoBeats recommendations of the latest likes. Returns {catalog position:
    (source, reason)} and the plan."""
    from spotify_modeling.core.selection import sources as src

    ev = _ours_evidence(st)
    y, w = ev["label"].to_numpy(float), ev["weight"].to_numpy(float)
    history = dict(history_menu)
    if len(ev):
        factors = src.genre_dislike_factors(ev["genres"], y, w)
        history = {g: v * factors.get(g, 1.0) for g, v in history.items()}
    pruned = src.pruned_artists(src.artist_evidence(ev, y, w), cfg.prune_dislikes)
    artists = [a for a in src.liked_artists(ev, y, w) if a["artist_id"] not in pruned] if len(ev) else []
    liked_menu = src.liked_genre_menu(ev["genres"], y, w) if len(ev) else {}
    eligible_src = [s for s, m in (("genre", history), ("artist", artists), ("liked_genre", liked_menu)) if m]
    posteriors = src.source_posteriors(ev)
    plan = src.allocate_searches(n_searches, eligible_src, posteriors, rng)
    out: dict[int, tuple[str, str]] = {}
    picked_artist, spent = _artist_draw(by_artist, [a["artist_id"] for a in artists], plan.get("artist", 0),
                                        eligible, taken, rng)
    seed_of = {a["artist_id"]: a["seed"] for a in artists}
    for p in picked_artist:
        out[p] = ("artist", src.pool_reason("artist", seed_of.get(cat.tracks["artist_ids"].iat[p][0])))
    leftover = plan.get("artist", 0) - spent   # searches of used-up artists go to your history's genres here
    liked = _taste_draw(cat, liked_menu, plan.get("liked_genre", 0) * per_page, eligible,
                        taken | set(out), rng) if liked_menu else []
    for p in liked:
        out.setdefault(p, ("liked_genre", "a genre of tracks you liked"))
    for p in new_taste[: (plan.get("genre", 0) + leftover) * per_page]:
        out.setdefault(p, ("genre", "one of your genres"))
    if recco and (ev["label"] == 1).any():
        seeds = [int(cat.positions([t])[0]) for t in st_liked_track_ids(st)[: cfg.recco_seeds]]
        for p in _recco_draw(cat, seeds, cfg.recco_per_seed, eligible, taken | set(out)):
            out.setdefault(p, ("reccobeats", "sounds like a track you liked"))
    out = {p: v for p, v in out.items() if not (cat.tracks["artist_ids"].iat[p] and
                                                   cat.tracks["artist_ids"].iat[p][0] in pruned)}
    return out, {**plan, "pruned": pruned}


def st_liked_track_ids(st: _MethodState) -> list[str]:
    """Ours' liked track ids, newest first."""
    if not st.rows:
        return []
    ids = pd.concat(st.rows, ignore_index=True)["track_id"].tolist()
    return [t for t, y in zip(reversed(ids), reversed(st.y)) if y == 1]


def _taste_draw(cat: Catalog, menu: dict[str, float], n: int, eligible: set[int], in_pool: set[int],
                rng: np.random.Generator, per_search: int = 5) -> list[int]:
    """Pool tracks from `genre:` searches: a genre of the history (`pool.choose_taste_genre`), then a few random
    unknown catalog tracks whose artists carry it (what one page of a deep-offset genre search returns)."""
    if n <= 0:
        return []
    index = _genre_index(cat)
    out: list[int] = []
    for _ in range(20 * n):
        if len(out) >= n:
            break
        g = pool_mod.choose_taste_genre(rng, menu)
        cands = [p for p in index.get(g, ()) if p in eligible and p not in in_pool and p not in out]
        if cands:
            take = rng.choice(len(cands), size=min(per_search, len(cands), n - len(out)), replace=False)
            out.extend(cands[i] for i in take)
    return out


def _tracks_by_primary_artist(cat: Catalog) -> dict[str, list[int]]:
    by_artist: dict[str, list[int]] = {}
    for pos, ids in enumerate(cat.tracks["artist_ids"]):
        if ids:
            by_artist.setdefault(ids[0], []).append(pos)
    return by_artist


def _artist_draw(by_artist: dict[str, list[int]], artists: list[str], n_searches: int, eligible: set[int],
                 in_pool: set[int], rng: np.random.Generator, per_search: int = 10) -> tuple[list[int], int]:
    """Pool tracks from `n_searches` `artist:` searches of the given artists, in the order given, round and round
    (a page: up to `per_search` of the artist's unknown tracks). Returns the tracks and the searches spent (an
    artist whose tracks are used up is not searched, as the product skips a query with no page left)."""
    out: list[int] = []
    spent = 0
    left = {a: [p for p in by_artist.get(a, ()) if p in eligible and p not in in_pool] for a in artists}
    while spent < n_searches and any(left.values()):
        for a in artists:
            if not left[a] or spent >= n_searches:
                continue
            take = rng.choice(len(left[a]), size=min(per_search, len(left[a])), replace=False)
            picked = [left[a][i] for i in sorted(take)]
            out.extend(picked)
            spent += 1
            left[a] = [p for p in left[a] if p not in set(picked)]
    return out, spent


_AUDIO_MATRIX: dict[int, np.ndarray] = {}


def _recco_draw(cat: Catalog, seeds: list[int], per_seed: int, eligible: set[int], in_pool: set[int]) -> list[int]:
    """ReccoBeats recommendations as the stand-in gives them: the covered catalog tracks nearest each liked seed in
    standardised audio-feature space (unknown to the user, not in the pool yet)."""
    key = id(cat)
    if key not in _AUDIO_MATRIX:
        m = cat.tracks[["danceability", "energy", "valence", "acousticness", "instrumentalness", "speechiness",
                        "liveness", "tempo", "loudness"]].to_numpy(float)
        m = (m - np.nanmean(m, 0)) / (np.nanstd(m, 0) + 1e-9)
        _AUDIO_MATRIX.clear()
        _AUDIO_MATRIX[key] = np.nan_to_num(m)
    m = _AUDIO_MATRIX[key]
    covered = cat.truth["reccobeats_covered"].to_numpy()
    out: list[int] = []
    for s in seeds:
        dist = ((m - m[s]) ** 2).sum(1)
        got = 0
        for p in np.argsort(dist, kind="stable"):
            if got >= per_seed:
                break
            if p != s and covered[p] and p in eligible and p not in in_pool and p not in out:
                out.append(int(p))
                got += 1
    return out


_GENRE_INDEX: dict[int, dict[str, list[int]]] = {}


def _genre_index(cat: Catalog) -> dict[str, list[int]]:
    key = id(cat)
    if key not in _GENRE_INDEX:
        art = cat.artists["genres"].to_dict()
        idx: dict[str, list[int]] = {}
        for pos, ids in enumerate(cat.tracks["artist_ids"]):
            for g in dict.fromkeys(g for a in ids for g in art.get(a, ())):
                idx.setdefault(g, []).append(pos)
        _GENRE_INDEX.clear()
        _GENRE_INDEX[key] = idx
    return _GENRE_INDEX[key]


def observable_appeal(listener, history_artists: set[str]) -> np.ndarray:
    """The hidden appeal of every catalog track minus what no model could know: the per-track idiosyncratic
    part, and the listener's feeling for artists they never played. Its top picks are the ceiling a perfect
    model of the observable taste would reach ("observable" method)."""
    comp = dict(listener.components_)
    comp["idiosyncratic"] = np.zeros_like(comp["idiosyncratic"])
    known = listener.catalog.truth["artist_id"].isin(history_artists).to_numpy()
    comp["artist"] = np.where(known, np.nan_to_num(comp["artist"]), 0.0)
    return listener.appeal_from_components(comp)


def fit_supervised(prep: "Prepared", n: int, seed: int):
    """The best ranking our features allow: LightGBM on the featurizer's columns (all genres known, the product's
    `artist_plays`), fit to the hidden taste's score of `n` random catalog tracks the user does not know, far more
    (and far cleaner) labels than any user gives. Its training tracks may also be drawn into the pool, which can
    only flatter it: it is an upper bound for what better learning on these features could reach."""
    from lightgbm import LGBMRegressor

    from spotify_modeling.core.featurize import TrackFeaturizer

    cat, listener = prep.world.catalog, prep.world.listener
    picks = np.random.default_rng([seed, 61]).permutation(prep.candidates)[:n]
    table = add_artist_plays(catalog_table(cat, picks, None), prep.artist_plays)
    appeal = np.clip(listener.appeal(table), 1e-6, 1 - 1e-6)
    featurizer = TrackFeaturizer().fit(table)
    model = LGBMRegressor(n_estimators=600, learning_rate=0.05, num_leaves=31, min_child_samples=20,
                          subsample=0.8, subsample_freq=1, colsample_bytree=0.8, verbose=-1, n_jobs=1)
    model.fit(featurizer.transform(table), np.log(appeal / (1 - appeal)))
    return featurizer, model


class LinearLabelModel:
    """Experiment: stage 2 as an L2 logistic regression on the same featurizer output (median-imputed, scaled)."""

    def __init__(self, C: float = 0.1):
        self.C = C

    def fit(self, X: pd.DataFrame, y) -> "LinearLabelModel":
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from spotify_modeling.core.featurize import TrackFeaturizer

        self.featurizer_ = TrackFeaturizer(max_genres=15, min_genre_count=3).fit(X)
        self.model_ = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                                    LogisticRegression(C=self.C, class_weight="balanced", max_iter=500))
        self.model_.fit(self.featurizer_.transform(X), y)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(self.featurizer_.transform(X))


def _label_model(kind: str):
    return LinearLabelModel() if kind == "linear" else LabelModel()


def _fit_label(state: _MethodState, need: int, kind: str = "lightgbm") -> None:
    y = np.asarray(state.y, dtype=int)
    if len(y) and min((y == 1).sum(), (y == 0).sum()) >= need:
        X = pd.concat(state.rows, ignore_index=True)
        w = np.asarray(state.w, dtype=float) if len(state.w) == len(y) else None
        model = _label_model(kind)
        state.label_model = model.fit(X, y, sample_weight=w) if isinstance(model, LabelModel) else model.fit(X, y)


def _auc(X: pd.DataFrame, y: np.ndarray, X_test: pd.DataFrame, y_test: np.ndarray, kind: str = "lightgbm") -> float:
    """Held-out AUC of a stage-2 model fit on (X, y); 0.5 while it cannot be fit (fewer than 3 of a class)."""
    if len(y) < 10 or min((y == 1).sum(), (y == 0).sum()) < 3:
        return 0.5
    p = _label_model(kind).fit(X.reset_index(drop=True), y).predict_proba(X_test)[:, 1]
    return float(roc_auc_score(y_test, p))


def _fit_affinity(X_played: pd.DataFrame, negatives: pd.DataFrame, window, policy: str) -> AffinityModel | None:
    """`loop.fit_affinity`, or with another provenance policy for the ablation."""
    if policy == "balance":
        return loop.fit_affinity(X_played, negatives, window)
    data = loop.affinity_fit_data(X_played, negatives, window)
    if data is None:
        return None
    table, y, w = data
    return AffinityModel(missing_policy=policy).fit(table, y, sample_weight=w)


def _affinity_with_labels(prep: Prepared, random_tracks: pd.DataFrame, window, st: _MethodState,
                          weight: float) -> AffinityModel:
    """Experiment (not the product): the affinity table plus ours' labelled candidates, likes as positives and
    dislikes as negatives, each with `weight` (a dislike of a top-ranked track is a hard negative)."""
    table = affinity_table(prep.X_played, random_tracks, window)
    labelled = pd.concat(st.rows, ignore_index=True)[prep.X_played.columns]
    table = pd.concat([table, labelled.assign(_y=np.asarray(st.y, dtype=int), _w=weight)], ignore_index=True)
    y, w = table.pop("_y").to_numpy(), table.pop("_w").to_numpy()
    return AffinityModel().fit(table, y, sample_weight=w)


# ------------------------------------------------------------------------------------------------ the plain sketch
def _genre_list(cell) -> list[str]:
    """One `genres` cell (list, tuple, array, string or None) as a list of lower-case genres."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return []
    if isinstance(cell, str):
        from spotify_modeling.core.featurize import _split_genre_cell

        return list(_split_genre_cell(cell))
    return [str(g).strip().lower() for g in cell if g is not None and str(g).strip()]


def sketch_genres(played: pd.DataFrame, min_tracks: int = 20) -> list[str]:
    """The fine genres carried by at least `min_tracks` distinct history tracks (the sketch's indicators)."""
    counts: dict[str, int] = {}
    for cell in played.drop_duplicates("track_id")["genres"]:
        for g in dict.fromkeys(_genre_list(cell)):
            counts[g] = counts.get(g, 0) + 1
    return sorted(g for g, n in counts.items() if n >= min_tracks)


def sketch_matrix(table: pd.DataFrame, genres: list[str]) -> np.ndarray:
    """The sketch's features: the 11 audio features as given, then one 0/1 indicator per genre of `genres`
    (0 where the track's genres are unknown: the sketch does not tell unknown from absent)."""
    audio = table[list(AUDIO_FEATURES)].to_numpy(dtype=float)
    index = {g: j for j, g in enumerate(genres)}
    ind = np.zeros((len(table), len(genres)), dtype=float)
    for i, cell in enumerate(table["genres"]):
        for g in _genre_list(cell):
            if g in index:
                ind[i, index[g]] = 1.0
    return np.hstack([audio, ind])


class _SketchRun:
    """The sketch methods of one run (`SKETCH_VARIANTS`): their negatives, their own weekly uniform pool, their
    genre look-ups where a variant has the product's, and each variant's scored frame of the week."""

    def __init__(self, prep: Prepared, settings: SimSettings, seed: int):
        self.prep, self.settings, self.cat = prep, settings, prep.world.catalog
        covered = self.cat.truth["reccobeats_covered"].to_numpy()
        # 4,000 uniform random unknown tracks with features: the END of the product's random-search order (the
        # same tracks `affinity_extra_negatives` adds), so the weekly random searches do not reach them
        cands = prep.candidates[covered[prep.candidates]]
        self.neg_pos = cands[-settings.sketch_negatives:] if settings.sketch_negatives else cands[:0]
        self.uniform_cands = np.setdiff1d(cands, self.neg_pos)
        self.genres = sketch_genres(prep.X_played, settings.sketch_min_genre_tracks)
        self.rng = np.random.default_rng([seed, 43])
        self.genre_sets: dict[str, set] = {}   # variants with the product's genres: artists whose genres are known
        self.fits: dict[tuple, object] = {}

    def _table(self, positions, genre_set) -> pd.DataFrame:
        return add_artist_plays(catalog_table(self.cat, np.asarray(positions, dtype=int), genre_set),
                                self.prep.artist_plays)

    def _fit(self, cfg: dict, negatives: pd.DataFrame):
        if cfg["model"] == "affinity":   # the product's AffinityModel on the product's features (release exposure too)
            s = self.settings
            return _fit_affinity(self.prep.X_played, negatives, self.prep.window if s.release_exposure else None,
                                 s.missing_policy)
        from lightgbm import LGBMClassifier

        X = np.vstack([sketch_matrix(self.prep.X_played, self.genres), sketch_matrix(negatives, self.genres)])
        y = np.r_[np.ones(len(self.prep.X_played)), np.zeros(len(negatives))]
        return LGBMClassifier(n_jobs=1, verbose=-1).fit(X, y)   # LightGBM's defaults (threads and logging aside)

    def _p(self, cfg: dict, model, table: pd.DataFrame) -> np.ndarray:
        if model is None:
            return np.full(len(table), 0.5)
        X = table if cfg["model"] == "affinity" else sketch_matrix(table, self.genres)
        return model.predict_proba(X)[:, 1]

    def _score(self, cfg: dict, model, table: pd.DataFrame) -> np.ndarray:
        p = self._p(cfg, model, table)
        stage1 = {k: v for k, v in self.prep.models.items() if k in ("playlist", "likeability")}
        if cfg["combine"] == "prior":    # the product's prior composite, the sketch's probability as p_affinity
            scored = loop.score_pool(table, stage1).assign(p_affinity=p)
            return CompositeScorer(prior_weights=self.settings.prior_weights).fit().decision_function(scored)
        if "playlist" in stage1:
            return p * (0.5 + stage1["playlist"].predict_proba(table)[:, 1])
        return p

    def week_frames(self, names: list[str], pool_pos: np.ndarray, random_drawn: set[int],
                    n_total: int) -> dict[str, pd.DataFrame]:
        """{method: the frame it ranks this week, with `sketch_score`}; `ceiling_uniform` and `random_uniform` get
        the uniform pool.
        `pool_pos`: the shared pool's catalog positions; `random_drawn`: those the random searches brought."""
        covered = self.cat.truth["reccobeats_covered"].to_numpy()
        perm = self.rng.permutation(self.uniform_cands)
        n_shared = int(covered[pool_pos].sum())
        pools = {"uniform": perm[: self.settings.sketch_pool], "uniform_sized": perm[:n_shared], "shared": pool_pos}
        random_pos = np.array([p for p in pool_pos if p in random_drawn], dtype=int)   # as the product's negatives
        out: dict[str, pd.DataFrame] = {}
        for name in names:
            if name in ("ceiling_uniform", "random_uniform"):
                out[name] = self._table(pools["uniform"], None)
                continue
            cfg = {**SKETCH_DEFAULTS, **SKETCH_VARIANTS[name]}
            gset = None
            if cfg["genres"] == "product":
                gset = self.genre_sets.setdefault(name, set(self.prep.history_artists))
            neg_pos = self.neg_pos if cfg["negatives"] == "uniform" else random_pos
            static = cfg["negatives"] == "uniform" and gset is None
            key = (cfg["negatives"], cfg["genres"], cfg["model"])
            if static and key in self.fits:
                model = self.fits[key]
            else:
                model = self._fit(cfg, self._table(neg_pos, gset))
                if static:
                    self.fits[key] = model
            table = self._table(pools[cfg["pool"]], gset)
            score = self._score(cfg, model, table)
            if gset is not None and self.settings.weekly.genre_calls:
                # as the product: genres looked up for the first artists of the top 3 x batch, then scored again
                top = table.iloc[np.argsort(-score, kind="stable")[: max(3 * n_total, 30)]]
                todo = [a for a in dict.fromkeys(ids[0] for ids in top["artist_ids"] if ids) if a not in gset]
                gset.update(todo[: self.settings.weekly.genre_calls])
                table = self._table(pools[cfg["pool"]], gset)
                score = self._score(cfg, model, table)
            out[name] = table.assign(sketch_score=score)
        return out


def run_one(world: World, settings: SimSettings, seed: int) -> dict:
    """Simulate `settings.weeks` weeks for one listener and seed.

    Returns {"weeks": DataFrame(method, week, slice, n, labelled, liked, exp_liked, hit_rate), "auc": DataFrame
    (order, n, auc) or None, "info": dict, "batches": {method: [track ids pushed, per week]}}.
    """
    prep = prepare(world, settings, seed)
    cfg = settings.weekly
    cat, listener = world.catalog, world.listener
    p_like = listener.like_probability(cat.tracks[["track_id"]])
    liked_truth = prep.uniforms < p_like
    # one random stream per method: a method's draws (explore, control, which tracks get labelled) never shift
    # another's, so a setting that changes ours leaves the random baseline's picks as they were
    method_rngs = {m: np.random.default_rng([seed, 5, ALL_METHODS.index(m)]) for m in settings.methods}
    states = {m: _MethodState(m) for m in settings.methods}
    obs_appeal = observable_appeal(listener, prep.history_artists)
    supervised = fit_supervised(prep, settings.supervised_n, seed) if "supervised" in settings.methods else None
    family_shares = loop.history_family_shares(prep.X_played)
    genre_artists = set(prep.history_artists) if settings.genre_fetch else None
    pool_pos = np.array([], dtype=int)
    cursor = 0
    # the weekly draw: a `genre_share` of it from `genre:` searches of the history's genres (as `pool.top_up_pool`)
    menu = pool_mod.taste_genres(prep.X_played["genres"]) if cfg.genre_share > 0 else {}
    eligible = set(prep.candidates.tolist())
    in_pool: set[int] = set()
    random_drawn: set[int] = set()
    rng_pool = np.random.default_rng([seed, 31])
    ours_own = settings.like_sources and "ours" in states
    by_artist = _tracks_by_primary_artist(cat) if ours_own else None
    ours_pos = np.array([], dtype=int)          # ours' pool: the shared random draw, and its own taste draw
    ours_src: dict[int, tuple[str, str]] = {}   # ... each taste track's (source, reason)
    ours_taken: set[int] = set()
    rng_ours = np.random.default_rng([seed, 37])
    per_page = max(1, cfg.per_page)
    rows_out: list[dict] = []
    ranking: list[dict] = []      # ours: how well the composite orders the top of the pool, where batches come from
    sketch = _SketchRun(prep, settings, seed) if any(m in SKETCH_METHODS for m in states) else None
    search_order = prep.candidates
    if settings.search_popularity:   # popular first: a popularity-weighted random order (exponential race), never
        #                              reaching the tail kept for the extra and the sketch's uniform negatives
        keep = search_order[: len(search_order) - max(settings.affinity_extra_negatives, settings.sketch_negatives)]
        weight = (1.0 + cat.tracks["popularity"].to_numpy(float)[keep] / 25.0) ** settings.search_popularity
        race = np.random.default_rng([seed, 47]).exponential(size=len(keep)) / weight
        search_order = keep[np.argsort(race, kind="stable")]
    # the uniform extras come from the second half of the random order, which the searches do not reach
    reserve = max(settings.affinity_extra_negatives, settings.sketch_negatives)
    uniform_order = prep.candidates[len(prep.candidates) // 2: len(prep.candidates) - reserve]
    uniform_cursor = 0
    extra_ids: set[str] = set()
    for week in range(1, settings.weeks + 1):
        if settings.menu_follows_labels and "ours" in states and states["ours"].y:
            ours_rows = pd.concat(states["ours"].rows, ignore_index=True)
            menu = pool_mod.taste_genres(prep.X_played["genres"], labelled_genres=ours_rows["genres"],
                                         labels=states["ours"].y)
        n_taste = int(round(cfg.genre_share * settings.pool_per_week)) if menu else 0
        new_taste = _taste_draw(cat, menu, n_taste, eligible, in_pool, rng_pool)
        in_pool.update(new_taste)
        if ours_own:   # ours spends the same taste searches, shared among its sources by its own labels
            drawn, plan = _ours_sources(cat, states["ours"], cfg, menu, new_taste, n_taste // per_page, per_page,
                                        by_artist, eligible, in_pool | ours_taken, rng_ours,
                                        "reccobeats" in cfg.sources)
            ours_src.update(drawn)
            ours_taken.update(drawn)
            ours_new = list(drawn)
        new = []
        while len(new) < settings.pool_per_week - len(new_taste) and cursor < len(search_order):
            if search_order[cursor] not in in_pool:
                new.append(search_order[cursor])
            cursor += 1
        in_pool.update(new)
        random_drawn.update(new)
        extra = []
        extra_weeks = settings.uniform_pool_weeks
        n_extra = settings.uniform_pool_extra if not extra_weeks or week <= extra_weeks else 0
        while len(extra) < n_extra and uniform_cursor < len(uniform_order):
            if uniform_order[uniform_cursor] not in in_pool:
                extra.append(uniform_order[uniform_cursor])
            uniform_cursor += 1
        in_pool.update(extra)
        random_drawn.update(extra)
        extra_ids.update(cat.tracks["track_id"].to_numpy()[extra])
        pool_pos = np.concatenate([pool_pos, np.asarray(extra, dtype=int), np.asarray(new, dtype=int),
                                   np.asarray(new_taste, dtype=int)])[-settings.pool_max:]
        if ours_own:
            # (a random track the shared draw brings that ours' taste draw already has counts once)
            ours_pos = pd.unique(np.concatenate([ours_pos, np.asarray(extra, dtype=int),
                                                 np.asarray(ours_new, dtype=int), np.asarray(new, dtype=int)])
                                 )[-settings.pool_max:]
        pool_pre = add_artist_plays(catalog_table(cat, pool_pos, genre_artists), prep.artist_plays)
        # as the product: the affinity model's negatives are the randomly sampled tracks only
        random_ids = set(cat.tracks["track_id"].to_numpy()[list(random_drawn)])
        negatives = pool_pre[pool_pre["track_id"].isin(random_ids)]
        if settings.affinity_extra_negatives:
            extra = prep.candidates[-settings.affinity_extra_negatives:]
            negatives = pd.concat([negatives, add_artist_plays(catalog_table(cat, extra, genre_artists),
                                                               prep.artist_plays)], ignore_index=True)
        affinity = _fit_affinity(prep.X_played, negatives, prep.window if settings.release_exposure else None,
                                 settings.missing_policy)
        stage1 = dict(prep.models)
        if affinity is not None:
            stage1["affinity"] = affinity
        n_avail = len(pool_pre) - len(states["ours"].pushed if "ours" in states else ())
        if extra_ids:   # the batch is sized as without the uniform extras
            pushed = states["ours"].pushed if "ours" in states else set()
            n_avail -= int((pool_pre["track_id"].isin(extra_ids) & ~pool_pre["track_id"].isin(pushed)).sum())
        sizes = cfg.slice_sizes(n_avail)   # as the product: the settings split the batch, once
        n_total = int(sum(sizes.values()))
        if settings.genre_fetch:  # as the product: genres for the first artists of the prior-composite top
            pre = loop.score_pool(pool_pre, stage1)
            top = pool_pre.iloc[np.argsort(-CompositeScorer().fit().decision_function(pre))[: max(3 * n_total, 30)]]
            todo = [a for a in dict.fromkeys(ids[0] for ids in top["artist_ids"] if ids) if a not in genre_artists]
            genre_artists.update(todo[: cfg.genre_calls])
            pool = add_artist_plays(catalog_table(cat, pool_pos, genre_artists), prep.artist_plays)
        else:
            pool = pool_pre
        base = loop.score_pool(pool, stage1)
        base["random_sample"] = base["track_id"].isin(random_ids)
        if ours_own:   # ours' own pool, its genres looked up for its own top as the product does
            pool_o = add_artist_plays(catalog_table(cat, ours_pos, genre_artists), prep.artist_plays)
            if settings.genre_fetch:
                pre = loop.score_pool(pool_o, stage1)
                top = pool_o.iloc[np.argsort(-CompositeScorer().fit().decision_function(pre))[: max(3 * n_total, 30)]]
                todo = [a for a in dict.fromkeys(ids[0] for ids in top["artist_ids"] if ids) if a not in genre_artists]
                genre_artists.update(todo[: cfg.genre_calls])
                pool_o = add_artist_plays(catalog_table(cat, ours_pos, genre_artists), prep.artist_plays)
            pruned = plan["pruned"]
            pool_o = pool_o[[not (ids and ids[0] in pruned) for ids in pool_o["artist_ids"]]].reset_index(drop=True)
            base_ours = loop.score_pool(pool_o, stage1)
            base_ours["random_sample"] = base_ours["track_id"].isin(random_ids)
            where = [ours_src.get(int(p), ("search", "a random catalog track"))
                     for p in cat.positions(base_ours["track_id"].tolist())]
            base_ours["source"] = [w[0] for w in where]
            base_ours["pool_reason"] = [w[1] for w in where]
        if supervised is not None:   # scored with every pool genre known
            full = pool if not settings.supervised_all_genres else \
                add_artist_plays(catalog_table(cat, pool_pos, None), prep.artist_plays)
            sup_score = dict(zip(full["track_id"], supervised[1].predict(supervised[0].transform(full))))
        sk_frames = (sketch.week_frames([m for m in states if m in SKETCH_METHODS], pool_pos, random_drawn, n_total)
                     if sketch is not None else {})
        for name, st in states.items():
            rng = method_rngs[name]
            frame = sk_frames[name] if name in sk_frames else base_ours if name == "ours" and ours_own else base
            avail = frame[~frame["track_id"].isin(st.pushed)].reset_index(drop=True)
            if st.label_model is not None and name in ("ours", "original"):
                avail["p_label"] = st.label_model.predict_proba(avail)[:, 1]
            if name in ("random", "random_uniform"):
                chosen = select_random(avail, n_total, rng)
            elif name in ("ceiling", "ceiling_uniform"):
                chosen = listener.ideal_picks(avail, n_total)[["track_id"]].assign(slice="exploit")
            elif name in SKETCH_VARIANTS:
                order = np.argsort(-avail["sketch_score"].to_numpy(float), kind="stable")
                chosen = avail.iloc[order[:n_total]][["track_id"]].assign(slice="exploit")
            elif name == "observable":
                order = np.argsort(-obs_appeal[cat.positions(avail["track_id"].tolist())], kind="stable")
                chosen = avail.iloc[order[:n_total]][["track_id"]].assign(slice="exploit")
            elif name == "supervised":
                order = np.argsort(-avail["track_id"].map(sup_score).to_numpy(float), kind="stable")
                chosen = avail.iloc[order[:n_total]][["track_id"]].assign(slice="exploit")
            elif name == "original":
                chosen = select_original(avail, n_total)
            elif name == "stage1":
                s1 = avail.drop(columns=[c for c in ("p_label",) if c in avail])
                chosen = select_batch(s1, CompositeScorer(prior_weights=settings.prior_weights).fit().decision_function(s1), n_total,
                                      explore_share=0.0, control_share=0.0, max_per_artist=None,
                                      max_family_share=None, rng=rng, shuffle=False)
            else:  # ours
                if settings.liked_artist_plays > 0 and prep.artist_plays is not None and 1 in st.y:
                    per = dict(prep.artist_plays)
                    rows = pd.concat(st.rows, ignore_index=True)["artist_ids"]
                    for ids in rows[np.asarray(st.y) == 1]:   # every like counts, several per artist included
                        if ids:
                            per[ids[0]] = per.get(ids[0], 0) + settings.liked_artist_plays
                    avail = loop.score_pool(add_artist_plays(avail, per), stage1, st.label_model)
                if settings.affinity_label_weight > 0 and st.rows and affinity is not None:
                    aff_l = _affinity_with_labels(prep, negatives, prep.window if settings.release_exposure else None,
                                                  st, settings.affinity_label_weight)
                    avail = avail.assign(p_affinity=aff_l.predict_proba(avail)[:, 1])
                ev = (loop.forward_chained(pd.concat(st.rows, ignore_index=True), st.y, st.batch,
                                           pd.DataFrame(st.Z), st.w, n_boot=0)
                      if st.label_model is not None and settings.stage2_evidence else {})
                comp = _composite(st.Z, st.y, st.rows, settings, st.w, loop.stage2_prior_weight(ev), st.batch)
                if st.rows:   # what the labels say of each pool track's artist, as `WeeklyRun._pool_table`
                    from spotify_modeling.core.selection import sources as src

                    labelled = pd.concat(st.rows, ignore_index=True)
                    avail = avail.assign(artist_evidence=src.artist_evidence_column(
                        avail["artist_ids"], None, labelled["artist_ids"], st.y, st.w))
                chosen = loop.choose_batch(avail, comp, cfg, sizes, rng,
                                           family_shares if settings.family_headroom else None)
                ranking.append({"week": week, **top_decile_quality(avail, comp.decision_function(avail),
                                                                   cat.positions(avail["track_id"].tolist()),
                                                                   liked_truth, p_like)})
            ids = chosen["track_id"].tolist()
            st.pushed.update(ids)
            st.batches.append(ids)
            pos = cat.positions(ids)
            liked = liked_truth[pos]
            labelled = rng.random(len(ids)) < settings.label_rate
            slices = chosen["slice"].to_numpy() if "slice" in chosen else np.array(["exploit"] * len(ids))
            for sl in ["all", *sorted(set(slices))]:
                mask = labelled & ((slices == sl) if sl != "all" else True)
                rows_out.append({"method": name, "week": week, "slice": sl, "n": int(len(ids)),
                                 "labelled": int(mask.sum()), "liked": int((liked & mask).sum()),
                                 "exp_liked": float(p_like[pos][mask].sum())})
            rows = avail.set_index("track_id").loc[ids].reset_index()
            st.rows.append(rows[labelled].reset_index(drop=True))
            st.y.extend(liked[labelled].astype(int).tolist())
            # a share of the dislikes are removals from data_candidates: weaker labels, as the product counts them
            removal = rng.random(len(ids)) < settings.remove_rate
            st.w.extend(np.where(~liked & removal, cfg.removed_weight, 1.0)[labelled].tolist())
            st.batch.extend([week] * int(labelled.sum()))
            st.sources.extend((rows["source"] if "source" in rows else pd.Series(["search"] * len(rows)))
                              .fillna("search")[labelled].tolist())
            if name == "ours":
                st.Z.extend(json.loads(s) for s in chosen["scores"][labelled])
            if name in ("ours", "original"):
                _fit_label(st, cfg.min_labels_per_class, settings.label_model)
    weeks_df = pd.DataFrame(rows_out)
    weeks_df["hit_rate"] = weeks_df["liked"] / weeks_df["labelled"].where(weeks_df["labelled"] > 0)
    auc = _auc_curve(prep, states.get("ours"), pool_pos, genre_artists, settings, liked_truth, seed) if settings.auc_curve and "ours" in states else None
    info = {"listener": listener.name, "seed": seed, "played_with_features": len(prep.X_played),
            "random_like_rate": float(p_like[prep.candidates].mean()),
            "models": sorted(prep.models) + ["affinity"]}
    ours = states.get("ours")
    sources = (pd.DataFrame({"source": ours.sources, "label": ours.y, "week": ours.batch}) if ours is not None
               else pd.DataFrame(columns=["source", "label", "week"]))
    return {"weeks": weeks_df, "auc": auc, "info": info, "ranking": pd.DataFrame(ranking),
            "batches": {name: st.batches for name, st in states.items()}, "sources": sources}


def top_decile_quality(pool: pd.DataFrame, scores: np.ndarray, positions: np.ndarray, liked_truth: np.ndarray,
                       p_like: np.ndarray) -> dict:
    """Ranking quality where the batch is drawn: among the pool's top 10% by `scores`, the ROC AUC of the scores
    against the sampled likes and the Spearman correlation with the like probability; the same AUC for the stage-2
    label model's own probability (`p_label`) when it is fitted."""
    from scipy.stats import spearmanr

    top = np.argsort(-scores)[: max(10, len(scores) // 10)]
    y, p = liked_truth[positions[top]].astype(int), p_like[positions[top]]
    two = len(np.unique(y)) == 2
    out = {"n_top": len(top), "auc_top10": float(roc_auc_score(y, scores[top])) if two else math.nan,
           "spearman_top10": float(spearmanr(scores[top], p).statistic), "p_like_top10": float(p.mean())}
    if "p_label" in pool:
        out["label_auc_top10"] = float(roc_auc_score(y, pool["p_label"].to_numpy()[top])) if two else math.nan
    return out


def _auc_curve(prep: Prepared, ours: _MethodState, pool_pos: np.ndarray, genre_artists, settings: SimSettings,
               liked_truth: np.ndarray, seed: int) -> pd.DataFrame:
    """Held-out stage-2 AUC after n labels: ours in its batch order vs labelling random pool tracks."""
    cat = prep.world.catalog
    test = add_artist_plays(catalog_table(cat, prep.holdout, genre_artists), prep.artist_plays)
    y_test = liked_truth[cat.positions(test["track_id"].tolist())].astype(int)
    # the best any model can do on these noisy labels: the hidden taste's own like probability as the score
    p_test = prep.world.listener.like_probability(test[["track_id"]])
    out = [{"order": "bayes", "n": 0, "auc": float(roc_auc_score(y_test, p_test))}]
    X_ours = pd.concat(ours.rows, ignore_index=True) if ours.rows else pd.DataFrame()
    y_ours = np.asarray(ours.y, dtype=int)
    step = settings.auc_step
    for n in range(step, len(y_ours) + 1, step):
        out.append({"order": "ours", "n": n, "auc": _auc(X_ours.iloc[:n], y_ours[:n], test, y_test,
                                                                settings.label_model)})
    pool = add_artist_plays(catalog_table(cat, pool_pos, genre_artists), prep.artist_plays)
    pool = pool.iloc[np.random.default_rng([seed, 17]).permutation(len(pool))].reset_index(drop=True)
    y_pool = liked_truth[cat.positions(pool["track_id"].tolist())].astype(int)
    for n in range(step, min(settings.auc_random_max, len(pool)) + 1, step):
        out.append({"order": "random", "n": n, "auc": _auc(pool.iloc[:n], y_pool[:n], test, y_test,
                                                                  settings.label_model)})
    return pd.DataFrame(out)


# ------------------------------------------------------------------------------------------------ listeners
SYNTHETIC_LISTENERS = ("indie_explorer", "hiphop_loyalist", "classical_purist", "pop_mainstream", "eclectic")
REAL_LISTENER = "hot100_real"


def make_world(listener: str, seed: int, settings: SimSettings) -> World:
    """A world for a named synthetic persona, or the real-catalog listener (`hot100_real`)."""
    if listener == REAL_LISTENER:
        data = shared_data_dir()
        if data is None:
            raise FileNotFoundError("shared/data/catalogs not found (set SPOTIFY_MODEL_SHARED)")
        observable, hidden = _real_catalog_cached(str(data))
        return build_real_world(observable, hidden, seed, settings.n_plays, settings.history_noise, settings.drift)
    if listener not in PERSONAS:
        raise ValueError(f"unknown listener {listener!r}")
    return build_world(seed=seed, persona=listener, n_tracks=settings.n_tracks, n_plays=settings.n_plays,
                       history_noise=settings.history_noise, drift=settings.drift)


_REAL_CACHE: dict[str, tuple[Catalog, Catalog]] = {}


def _real_catalog_cached(data: str) -> tuple[Catalog, Catalog]:
    if data not in _REAL_CACHE:
        _REAL_CACHE[data] = real_catalog(Path(data))
    return _REAL_CACHE[data]


def run_task(task: tuple[str, int, SimSettings]) -> dict:
    """Picklable entry point for a process pool: (listener, seed, settings) -> run_one's result."""
    listener, seed, settings = task
    world = make_world(listener, seed, settings)
    out = run_one(world, settings, seed)
    out["info"]["listener"] = listener
    out["weeks"]["listener"] = listener
    out["weeks"]["seed"] = seed
    out["ranking"] = out["ranking"].assign(listener=listener, seed=seed)
    out["sources"] = out["sources"].assign(listener=listener, seed=seed)
    if out["auc"] is not None:
        out["auc"]["listener"] = listener
        out["auc"]["seed"] = seed
    return out


def first_reaching(curve: pd.DataFrame, target: float = AUC_TARGET) -> float:
    """Smallest n whose AUC is >= target (NaN when never reached)."""
    hit = curve[curve["auc"] >= target]
    return float(hit["n"].min()) if len(hit) else math.nan
