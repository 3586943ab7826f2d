"""A simulated listener with a hidden taste, used as the ground truth the recommender must discover.

Appeal is a logistic function of a score built from things the tool can observe (genre family via genres
and audio features, fine genres, release year, popularity, audio region, the artist) plus a small
per-track idiosyncratic part it cannot. The bias is calibrated on the catalog so that a random track
is liked ~9% of the time; the spread makes the listener's own best picks liked ~85% of the time.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from . import _vocab as vocab
from .catalog import Catalog

# Features the preferred audio region is defined on, with the width of "close enough" per feature.
REGION_WIDTH: dict[str, float] = {"danceability": 0.2, "energy": 0.2, "valence": 0.25, "acousticness": 0.25,
                                  "instrumentalness": 0.3, "speechiness": 0.15, "tempo": 30.0, "loudness": 5.0}
LIKE_FLOOR = 0.02   # even a dreadful track is occasionally liked (mis-drag, mood)
LIKE_CEIL = 0.92    # and a perfect one occasionally disliked
LIKE_SHARPNESS = 9.0
DEFAULT_RANDOM_LIKE_RATE = 0.09
CURRENT_YEAR = 2026


@dataclass(frozen=True)
class Persona:
    """Taste recipe. Axes run from -1 to +1: familiarity (vs exploration), newness (vs timelessness),
    loyalty (few artists vs variety), commonality (popular vs niche)."""

    name: str
    loved: dict[str, float]
    neutral: tuple[str, ...] = ()
    favourite_genres: tuple[str, ...] = ()
    familiarity: float = 0.0
    newness: float = 0.0
    loyalty: float = 0.0
    commonality: float = 0.0
    audio: dict[str, float] = field(default_factory=dict)


PERSONAS: dict[str, Persona] = {
    "indie_explorer": Persona(
        "indie_explorer", loved={"rock": 0.9, "folk": 0.7, "electronic": 0.4}, neutral=("pop", "world"),
        favourite_genres=("indie rock", "indie folk", "shoegaze", "dream pop", "indie pop", "chillwave"),
        familiarity=-0.8, newness=0.3, loyalty=-0.6, commonality=-0.8, audio={"acousticness": 0.4}),
    "hiphop_loyalist": Persona(
        "hiphop_loyalist", loved={"hip hop": 1.0, "r&b": 0.6}, neutral=("latin",),
        favourite_genres=("trap", "southern hip hop", "melodic rap", "atl hip hop"),
        familiarity=0.8, newness=0.7, loyalty=0.9, commonality=0.5, audio={"speechiness": 0.25, "danceability": 0.78}),
    "classical_purist": Persona(
        "classical_purist", loved={"classical": 1.0, "jazz": 0.4}, neutral=(),
        favourite_genres=("baroque", "early romantic era", "chamber music", "classical piano"),
        familiarity=0.4, newness=-0.9, loyalty=0.2, commonality=-0.3,
        audio={"instrumentalness": 0.85, "acousticness": 0.9, "energy": 0.2}),
    "pop_mainstream": Persona(
        "pop_mainstream", loved={"pop": 1.0, "electronic": 0.5, "latin": 0.4}, neutral=("hip hop", "r&b"),
        favourite_genres=("dance pop", "post-teen pop", "electropop", "latin pop"),
        familiarity=0.3, newness=0.8, loyalty=0.0, commonality=1.0, audio={"danceability": 0.72, "valence": 0.6}),
    "eclectic": Persona(
        "eclectic", loved={"jazz": 0.7, "world": 0.7, "reggae": 0.6, "electronic": 0.6, "folk": 0.5},
        neutral=("rock", "r&b", "latin", "classical"), favourite_genres=("afrobeat", "bossa nova", "roots reggae", "nu jazz"),
        familiarity=-0.5, newness=0.0, loyalty=-0.8, commonality=-0.4),
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def random_persona(rng: np.random.Generator) -> Persona:
    """A random taste: one to three loved families, the rest mostly disliked."""
    families = np.array(vocab.FAMILIES)
    share = np.array([vocab.FAMILY_SHARE[f] for f in families])
    n_loved = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
    loved_f = rng.choice(families, size=n_loved, replace=False, p=share / share.sum())
    rest = [f for f in families if f not in loved_f]
    neutral = tuple(rng.choice(rest, size=int(rng.integers(0, 3)), replace=False).tolist())
    favourites = [str(rng.choice(vocab.GENRE_FAMILIES[f])) for f in loved_f for _ in range(int(rng.integers(0, 3)))]
    axes = rng.uniform(-1, 1, size=4)
    return Persona("random", loved={str(f): float(rng.uniform(0.5, 1.0)) for f in loved_f}, neutral=neutral,
                   favourite_genres=tuple(dict.fromkeys(favourites)), familiarity=float(axes[0]),
                   newness=float(axes[1]), loyalty=float(axes[2]), commonality=float(axes[3]))


@dataclass
class Listener:
    """A listener over one catalog. Every hidden quantity is precomputed per catalog track."""

    catalog: Catalog
    persona: Persona
    seed: int
    family_affinity: dict[str, float]
    genre_affinity: dict[str, float]
    artist_affinity: pd.Series
    audio_centre: dict[str, float]
    bias: float
    appeal_: np.ndarray = field(repr=False)
    components_: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    @property
    def name(self) -> str:
        return self.persona.name

    def appeal(self, tracks_df: pd.DataFrame) -> np.ndarray:
        """Hidden true appeal in [0, 1] of each row (looked up by `track_id` in the catalog)."""
        return self.appeal_[self.catalog.positions(tracks_df["track_id"].tolist())]

    def like_probability(self, tracks_df: pd.DataFrame) -> np.ndarray:
        """P(the listener drags the track into data_1): a sharp function of appeal."""
        return like_probability_from_appeal(self.appeal(tracks_df))

    def likes(self, tracks_df: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """Noisy like/dislike labels, as a person would give them."""
        p = self.like_probability(tracks_df)
        return rng.random(len(p)) < p

    def ideal_picks(self, pool: pd.DataFrame, k: int) -> pd.DataFrame:
        """The k tracks of `pool` this listener would pick themselves (highest true appeal)."""
        order = np.argsort(-self.appeal(pool), kind="stable")[:k]
        return pool.iloc[order]

    def taste_summary(self) -> dict:
        """Human-readable hidden taste (for the demo's 'reveal' screen and benchmark reports)."""
        p = self.persona
        return {"persona": p.name, "loved_families": dict(p.loved), "neutral_families": list(p.neutral),
                "favourite_genres": list(p.favourite_genres), "familiarity": p.familiarity,
                "newness": p.newness, "loyalty": p.loyalty, "commonality": p.commonality,
                "audio_centre": {k: round(v, 3) for k, v in self.audio_centre.items()}}


def like_probability_from_appeal(appeal: np.ndarray) -> np.ndarray:
    return LIKE_FLOOR + (LIKE_CEIL - LIKE_FLOOR) * _sigmoid(LIKE_SHARPNESS * (np.asarray(appeal) - 0.5))


def _score_components(catalog: Catalog, persona: Persona, rng: np.random.Generator
                      ) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, float], pd.Series, dict[str, float]]:
    tracks, truth, artists = catalog.tracks, catalog.truth, catalog.artists
    disliked = -(0.8 + 0.3 * persona.familiarity)
    family_affinity = {f: persona.loved.get(f, 0.0 if f in persona.neutral else disliked) for f in vocab.FAMILIES}
    fam_term = truth["family"].map(family_affinity).to_numpy(float)

    genre_affinity: dict[str, float] = {}
    for f, names in vocab.GENRE_FAMILIES.items():
        loved = f in persona.loved
        for g in names:
            genre_affinity.setdefault(g, float(rng.normal(0.2 if loved else -0.1, 0.5 if loved else 0.3)))
    for g in persona.favourite_genres:
        genre_affinity[g] = 1.2
    genre_term = np.array([np.mean([genre_affinity[g] for g in gs]) if len(gs) else 0.0
                           for gs in tracks["genres"]])

    # Preferred audio region: centred on what the loved families sound like, nudged by the persona.
    weights = truth["family"].map(persona.loved).fillna(0.0).to_numpy(float)
    centre = {}
    for feat in REGION_WIDTH:
        values = tracks[feat].to_numpy(float)
        base = float(np.average(values, weights=weights)) if weights.sum() > 0 else float(values.mean())
        jittered = base + float(rng.normal(0, 0.05 * REGION_WIDTH[feat] / 0.2))
        centre[feat] = persona.audio.get(feat, float(np.clip(jittered, values.min(), values.max())))
    audio_term = -np.mean([((tracks[f].to_numpy(float) - c) / REGION_WIDTH[f]) ** 2 for f, c in centre.items()], axis=0)
    audio_term = np.maximum(audio_term, -4.0)

    # Artist affinity: favourites within loved families, a few guilty pleasures elsewhere, a few dislikes.
    a_loved = artists["family"].isin(list(persona.loved)).to_numpy()
    draw = rng.random(len(artists))
    affinity = np.zeros(len(artists))
    fav = a_loved & (draw < 0.05)
    affinity[fav] = rng.normal(1.3, 0.4, fav.sum())
    guilty = ~a_loved & (draw < 0.01)
    affinity[guilty] = rng.normal(1.5, 0.4, guilty.sum())
    hated = a_loved & (draw > 0.97)
    affinity[hated] = -rng.uniform(0.8, 1.5, hated.sum())
    artist_affinity = pd.Series(affinity, index=artists.index, name="artist_affinity")
    artist_term = artist_affinity.reindex(truth["artist_id"]).to_numpy(float)

    pop_term = (tracks["popularity"].to_numpy(float) - 25.0) / 20.0
    age = CURRENT_YEAR - truth["release_year"].to_numpy(float)
    new_term = np.clip((12.0 - age) / 10.0, -2.0, 1.5)
    noise = rng.normal(0, 0.35, len(tracks))
    components = {"family": fam_term, "genre": genre_term, "audio": audio_term, "artist": artist_term,
                  "popularity": pop_term, "newness": new_term, "idiosyncratic": noise}
    return components, family_affinity, genre_affinity, artist_affinity, centre


def _score(components: dict[str, np.ndarray], persona: Persona) -> np.ndarray:
    return (2.6 * components["family"] + 0.9 * components["genre"] + 1.1 * components["audio"]
            + (1.2 + 0.6 * persona.loyalty) * components["artist"]
            + 0.6 * persona.commonality * components["popularity"] + 0.6 * persona.newness * components["newness"]
            + components["idiosyncratic"])


def _calibrate_bias(score: np.ndarray, target: float) -> float:
    """Bias such that the catalog-wide mean P(like) equals `target` (bisection; monotone in bias)."""
    lo, hi = float(score.min()) - 10, float(score.max()) + 10
    for _ in range(60):
        mid = (lo + hi) / 2
        rate = like_probability_from_appeal(_sigmoid(score - mid)).mean()
        lo, hi = (mid, hi) if rate > target else (lo, mid)
    return (lo + hi) / 2


def make_listener(catalog: Catalog, persona: str | Persona | None = None, seed: int = 0,
                  random_like_rate: float = DEFAULT_RANDOM_LIKE_RATE) -> Listener:
    """A listener with a hidden taste: a named persona (see `PERSONAS`), a `Persona`, or random (None)."""
    rng = np.random.default_rng([seed, 7919])
    if persona is None or persona == "random":
        spec = random_persona(rng)
    elif isinstance(persona, Persona):
        spec = persona
    elif persona in PERSONAS:
        spec = PERSONAS[persona]
    else:
        raise ValueError(f"unknown persona {persona!r}; choose from {sorted(PERSONAS)} or None")
    spec = replace(spec, loved={f: s for f, s in spec.loved.items() if f in vocab.GENRE_FAMILIES})
    components, fam_aff, genre_aff, artist_aff, centre = _score_components(catalog, spec, rng)
    score = _score(components, spec)
    bias = _calibrate_bias(score, random_like_rate)
    return Listener(catalog=catalog, persona=spec, seed=seed, family_affinity=fam_aff, genre_affinity=genre_aff,
                    artist_affinity=artist_aff, audio_centre=centre, bias=bias, appeal_=_sigmoid(score - bias),
                    components_=components)
