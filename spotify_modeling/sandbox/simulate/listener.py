"""A simulated listener with a hidden taste, used as the ground truth the recommender must discover.

Appeal is a logistic function of a score built from things the tool can observe (genre family via genres
and audio features, fine genres, release year, popularity, audio region, the artist) plus a small
per-track idiosyncratic part it cannot. The bias is calibrated on the catalog so that a random track
is liked ~9% of the time; the spread makes the listener's own best picks liked ~85% of the time.

Taste drift (opt-in: `Drift`, `drift_listener`, `build_world(drift=...)`). People's taste moves while their
history accumulates, so the taste that labels new candidates today is not the one that made the history. The
drift modelled: a family the listener played much fades (towards neutral), one they rarely played gains the likes
it loses, the fine genres of both move with them, and the newness preference moves (see `Drift`). How much:

- Spotify followed 100,000 users active from 2016 to 2020 (Sanna Passino, Maystre, Moor, Anderson and Lalmas,
  "Where To Next? A Dynamic Model of User Preferences", WWW 2021; Spotify Research blog "Finding Structure in
  Users' Evolving Listening Preferences", April 2021): the total-variation distance between a user's distribution
  of streams over micro-genres in Q1 2016 and in a later quarter grows on average from about 0.4 (the next quarter:
  short-term churn) to about 0.6 (four years on), i.e. a drift of about 0.05 a year on top of the churn. A 3-year
  history is centred about 1.5 years before the labels: about 0.075. Our ~270 genres are coarser than Spotify's
  4,000-odd micro-genres and merging categories can only shrink a total variation, so `REALISTIC` uses 0.08
  (`Drift(total_variation=0.08)`, measured by `taste_distance` on the genre distribution of plays) as the upper end
  of that figure, not its middle.
- Anderson et al., "Algorithmic Effects on the Diversity of Consumption on Spotify" (WWW 2020): over 100 million
  users' diversity (generalist-specialist score) is remarkably stable from July 2018 to July 2019. Drift moves what
  people like rather than how broad it is: hence one family out and one in, not a widening.
- Newness: Ajay Kalia (Skynet & Ebert, 2015, US Spotify listening data) found the mainstream share of what people
  stream falls steadily through their twenties and levels off in their early thirties ("taste freezes" around 33),
  and that becoming a parent is like ageing about four years; listeners also return to the music of their youth.
  Hence `newness_shift` -0.3 (towards older music) at full strength; its size is a judgement, as no published
  figure maps onto this axis.

The whole history is made by one taste (the history listener), not by a gradually moving one: the simplest cut
that makes the history and today's labels disagree (a recency-weighted model gains nothing from the last months).
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
#: The spread of the listener's feeling for each artist beyond their favourites and dislikes: the voice, the words,
#: the band a friend played them, which no audio feature or genre shows. People judge music by its artist as much
#: as by its sound (Yahoo! Music's 300 million ratings were given to artists as well as to tracks, albums and genres;
#: Dror, Koenigstein, Koren and Weimer, KDD-Cup'11), so a like says something about the artist's other songs that
#: the features do not. 0.5 on the score is a judgement: above the per-track whim (0.35), below the genre
#: preferences of a loved family (0.5 spread around a higher mean), so the artist neither decides alone nor is
#: a detail. It is not tuned on the product's figures.
ARTIST_FEELING_SD = 0.5
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

    def appeal_from_components(self, components: dict[str, np.ndarray]) -> np.ndarray:
        """Appeal of every catalog track from (possibly edited) score components, with this listener's weights and
        bias: `appeal_from_components(listener.components_)` equals `listener.appeal_`. Zero a component to ask
        what the listener's taste would be without it (e.g. the idiosyncratic part no model can know)."""
        return _sigmoid(_score(components, self.persona) - self.bias)

    def taste_summary(self) -> dict:
        """Human-readable hidden taste (for the demo's 'reveal' screen and benchmark reports)."""
        p = self.persona
        return {"persona": p.name, "loved_families": dict(p.loved), "neutral_families": list(p.neutral),
                "favourite_genres": list(p.favourite_genres), "familiarity": p.familiarity,
                "newness": p.newness, "loyalty": p.loyalty, "commonality": p.commonality,
                "audio_centre": {k: round(v, 3) for k, v in self.audio_centre.items()}}


def like_probability_from_appeal(appeal: np.ndarray) -> np.ndarray:
    return LIKE_FLOOR + (LIKE_CEIL - LIKE_FLOOR) * _sigmoid(LIKE_SHARPNESS * (np.asarray(appeal) - 0.5))


def _score_components(catalog: Catalog, persona: Persona, rng: np.random.Generator, vectorised: bool = False
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
    if vectorised:  # same values up to rounding, much faster; for listeners that did not exist before (partner)
        pos, codes, weights, names = _genre_index(catalog)
        has_genres = (tracks["genres"].map(len) > 0).to_numpy()
        values = np.array([genre_affinity.get(g, 0.0) for g in names])
        genre_term = np.bincount(pos, weights=weights * values[codes], minlength=len(tracks)) * has_genres
    else:
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
    # ... and a feeling for every other artist too, that no feature shows (see ARTIST_FEELING_SD)
    affinity += rng.normal(0.0, ARTIST_FEELING_SD, len(artists))
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


def _calibrate_bias(score: np.ndarray, target: float, around: float | None = None, steps: int = 34) -> float:
    """Bias such that the catalog-wide mean P(like) equals `target` (bisection; monotone in bias). `around`: a close
    guess, which brackets the search more tightly (`steps` halvings of +-4) when it does bracket it."""
    if around is not None:
        lo, hi = around - 4.0, around + 4.0
        rate = lambda b: like_probability_from_appeal(_sigmoid(score - b)).mean()
        if rate(lo) > target > rate(hi):
            for _ in range(steps):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if rate(mid) > target else (lo, mid)
            return (lo + hi) / 2
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
    return _listener_from(catalog, spec, seed, rng, random_like_rate)


def _listener_from(catalog: Catalog, spec: Persona, seed: int, rng: np.random.Generator,
                   random_like_rate: float, vectorised: bool = False) -> Listener:
    spec = replace(spec, loved={f: s for f, s in spec.loved.items() if f in vocab.GENRE_FAMILIES})
    components, fam_aff, genre_aff, artist_aff, centre = _score_components(catalog, spec, rng, vectorised)
    score = _score(components, spec)
    bias = _calibrate_bias(score, random_like_rate)
    return Listener(catalog=catalog, persona=spec, seed=seed, family_affinity=fam_aff, genre_affinity=genre_aff,
                    artist_affinity=artist_aff, audio_centre=centre, bias=bias, appeal_=_sigmoid(score - bias),
                    components_=components)


# ---- taste drift ------------------------------------------------------------------------------------------------
DRIFT_MAX_AFFINITY = 1.5  # the most a newly liked family can reach (persona loves: 0.4-1.0)
DRIFT_GENRE_SHIFT = 0.3   # how far the fine genres of the two families move with them (loved vs other mean: 0.3)


@dataclass(frozen=True)
class Drift:
    """How the current taste (which labels new candidates) differs from the taste that produced the history.

    The faded family (one the listener played much) loses `strength` of its affinity (neutral at 1), and the new
    family (one they rarely played) gains just the likes it loses: its affinity rises until a random catalog track is
    liked as often as before, so the other families keep their like probabilities exactly (the bias is unchanged; it
    is recalibrated only when the new family cannot absorb the change within `DRIFT_MAX_AFFINITY`). The fine genres of
    the two families move with them, and the newness axis moves by `strength * newness_shift` (this one does touch
    every family a little: new releases against old ones). Artist affinities and the preferred audio region stay:
    old favourites keep their appeal (nostalgia). `faded_family` and `new_family` default to a seeded choice: the
    second most-played loved family (the only one if there is one), and a disliked family, neighbours of the loved
    ones three times as likely, as taste tends to move next door.

    `total_variation`, when set, replaces `strength` by the strength (at most 1) at which the genre distribution of
    the listener's plays moves by that total-variation distance (`taste_distance`): the unit in which drift was
    measured on Spotify (see the module docstring), so one number means the same amount of change for every persona.
    """

    strength: float = 1.0
    newness_shift: float = -0.3
    faded_family: str | None = None
    new_family: str | None = None
    total_variation: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"drift strength must be in [0, 1], not {self.strength}")
        if self.total_variation is not None and not 0.0 <= self.total_variation <= 1.0:
            raise ValueError(f"total_variation must be in [0, 1], not {self.total_variation}")
        for fam in (self.faded_family, self.new_family):
            if fam is not None and fam not in vocab.GENRE_FAMILIES:
                raise ValueError(f"unknown family {fam!r}; choose from {vocab.FAMILIES}")
        if self.faded_family is not None and self.faded_family == self.new_family:
            raise ValueError("the faded and the new family must differ")

    @classmethod
    def coerce(cls, value: float | Drift | None) -> Drift | None:
        """None or 0 -> no drift; a number -> `Drift(strength=number)`; a Drift as is."""
        if value is None or isinstance(value, Drift):
            return value
        strength = float(value)
        return None if strength == 0.0 else cls(strength=strength)


def _play_mass(appeal: np.ndarray, catalog: Catalog, commonality: float) -> np.ndarray:
    """How much a listener plays each catalog track, up to a constant (the weight their library is drawn with)."""
    pop = catalog.tracks["popularity"].to_numpy(float)
    return like_probability_from_appeal(appeal) ** 2.0 * (1.0 + pop / 25.0) ** (0.8 + 0.6 * commonality)


def _genre_index(catalog: Catalog) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(track position, genre code, weight) triples: a track's plays are split evenly over its genres (tracks of
    artists without genres count under "<family>")."""
    genres = [list(gs) if len(gs) else [f"<{f}>"]
              for gs, f in zip(catalog.tracks["genres"].tolist(), catalog.truth["family"].tolist())]
    lengths = np.fromiter((len(g) for g in genres), dtype=np.int64, count=len(genres))
    codes, names = pd.factorize(np.array([g for gs in genres for g in gs], dtype=object), sort=True)
    return np.repeat(np.arange(len(genres)), lengths), codes, np.repeat(1.0 / lengths, lengths), list(names)


def genre_play_distribution(listener: Listener) -> pd.Series:
    """Expected share of the listener's own plays per fine genre (from the weights their library is drawn with)."""
    pos, codes, w, names = _genre_index(listener.catalog)
    mass = _play_mass(listener.appeal_, listener.catalog, listener.persona.commonality)
    dist = np.bincount(codes, weights=mass[pos] * w, minlength=len(names))
    return pd.Series(dist / dist.sum(), index=names, name="share")


def taste_distance(a: Listener, b: Listener) -> float:
    """Total-variation distance between the genre distributions of two tastes' plays (0 = same, 1 = disjoint)."""
    pa, pb = genre_play_distribution(a), genre_play_distribution(b)
    return float(0.5 * pa.sub(pb, fill_value=0.0).abs().sum())


def _drift_families(listener: Listener, drift: Drift, rng: np.random.Generator) -> tuple[str, str]:
    persona = listener.persona
    mass = _play_mass(listener.appeal_, listener.catalog, persona.commonality)
    share = pd.Series(mass).groupby(listener.catalog.truth["family"].to_numpy()).sum()
    share = share.reindex(vocab.FAMILIES, fill_value=0.0)
    loved = sorted(persona.loved, key=lambda f: -share[f])
    faded = drift.faded_family or (loved[1] if len(loved) >= 2 else loved[0] if loved else str(share.idxmax()))
    if drift.new_family is not None:
        return faded, drift.new_family
    aff = listener.family_affinity
    pool = [f for f in vocab.FAMILIES if f != faded and aff[f] < 0] or \
           [f for f in vocab.FAMILIES if f != faded and f not in persona.loved]
    near = {n for f in persona.loved for n in vocab.NEIGHBOURS.get(f, [])}
    w = np.array([vocab.FAMILY_SHARE[f] * (3.0 if f in near else 1.0) for f in pool])
    return faded, str(rng.choice(pool, p=w / w.sum()))


def drift_listener(listener: Listener, drift: Drift, seed: int = 0) -> tuple[Listener, Drift]:
    """The listener's current taste after `drift`, and the drift as applied: both families and the strength resolved
    (seeded). The history listener is not modified."""
    rng = np.random.default_rng([seed, 8111])
    persona, catalog = listener.persona, listener.catalog
    faded, new = _drift_families(listener, drift, rng)
    fam_codes, fam_names = pd.factorize(catalog.truth["family"].to_numpy(dtype=object))
    target_rate = float(like_probability_from_appeal(listener.appeal_).mean())
    # A track's genre term is the mean affinity of its genres (0 without genres), so moving every genre of a family
    # by d moves it by d times the share of the track's genres in that family.
    pos, codes, w, names = _genre_index(catalog)
    has_genres = (catalog.tracks["genres"].map(len) > 0).to_numpy()
    fam_of_genre = {g: f for f, gs in vocab.GENRE_FAMILIES.items() for g in gs}
    genre_fam = np.array([fam_of_genre.get(g, "") for g in names], dtype=object)
    n = len(catalog.tracks)
    genre_move = (np.bincount(pos, weights=w * (genre_fam[codes] == new), minlength=n)
                  - np.bincount(pos, weights=w * (genre_fam[codes] == faded), minlength=n)) * has_genres

    in_new = catalog.truth["family"].to_numpy() == new

    def taste(s: float, steps: int = 34):
        fam_aff = dict(listener.family_affinity)
        fam_aff[faded] = (1.0 - s) * fam_aff[faded]
        current = replace(persona, newness=float(np.clip(persona.newness + s * drift.newness_shift, -1.0, 1.0)))
        components = dict(listener.components_)
        components["genre"] = listener.components_["genre"] + s * DRIFT_GENRE_SHIFT * genre_move

        def score_with(new_affinity: float) -> np.ndarray:
            comp = dict(components, family=np.array([new_affinity if f == new else fam_aff[f] for f in fam_names],
                                                    dtype=float)[fam_codes])
            return _score(comp, current)

        # The new family's affinity that keeps the like rate at the old bias: the score is linear in it.
        base, start = score_with(0.0), fam_aff[new]
        slope = score_with(1.0)[in_new] - base[in_new]
        rest = like_probability_from_appeal(_sigmoid(base[~in_new] - listener.bias)).sum()
        rate = lambda x: (rest + like_probability_from_appeal(
            _sigmoid(base[in_new] + slope * x - listener.bias)).sum()) / len(base)
        if rate(start) <= target_rate <= rate(DRIFT_MAX_AFFINITY):
            lo, hi = start, DRIFT_MAX_AFFINITY
            for _ in range(steps):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if rate(mid) < target_rate else (lo, mid)
            fam_aff[new] = (lo + hi) / 2
            score, bias = score_with(fam_aff[new]), listener.bias
        else:
            fam_aff[new] = start if rate(start) > target_rate else DRIFT_MAX_AFFINITY
            score = score_with(fam_aff[new])
            bias = _calibrate_bias(score, target_rate, around=listener.bias, steps=steps)
        components["family"] = np.array([fam_aff[f] for f in fam_names], dtype=float)[fam_codes]
        return fam_aff, current, components, bias, _sigmoid(score - bias)

    strength = drift.strength
    if drift.total_variation is not None:
        before = np.bincount(codes, weights=_play_mass(listener.appeal_, catalog, persona.commonality)[pos] * w,
                             minlength=len(names))
        before /= before.sum()

        def distance(s: float) -> float:
            _, current, _, _, appeal = taste(s, steps=20)
            after = np.bincount(codes, weights=_play_mass(appeal, catalog, current.commonality)[pos] * w,
                                minlength=len(names))
            return float(0.5 * np.abs(after / after.sum() - before).sum())

        lo, hi = 0.0, 1.0
        if distance(hi) <= drift.total_variation:
            lo = hi
        else:
            for _ in range(11):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if distance(mid) < drift.total_variation else (lo, mid)
        strength = round((lo + hi) / 2 if lo < hi else lo, 4)

    fam_aff, current, components, bias, appeal = taste(strength)
    genre_aff = dict(listener.genre_affinity)
    for g in vocab.GENRE_FAMILIES[faded]:
        genre_aff[g] -= strength * DRIFT_GENRE_SHIFT
    for g in vocab.GENRE_FAMILIES[new]:
        genre_aff[g] += strength * DRIFT_GENRE_SHIFT
    loved_now = {f: float(fam_aff[f]) for f in vocab.FAMILIES if fam_aff[f] > 0.05}
    neutral_now = tuple(f for f in vocab.FAMILIES if f not in loved_now and fam_aff[f] >= -0.05)
    current = replace(current, loved=loved_now, neutral=neutral_now)
    drifted = Listener(catalog=catalog, persona=current, seed=listener.seed, family_affinity=fam_aff,
                       genre_affinity=genre_aff, artist_affinity=listener.artist_affinity,
                       audio_centre=dict(listener.audio_centre), bias=bias, appeal_=appeal, components_=components)
    return drifted, replace(drift, strength=strength, faded_family=faded, new_family=new)


# ---- a second person on the same account ------------------------------------------------------------------------
def _partner_persona(user: Persona, rng: np.random.Generator) -> Persona:
    """Someone else's taste: one or two loved families the user does not love, random axes."""
    others = [f for f in vocab.FAMILIES if f not in user.loved] or list(vocab.FAMILIES)
    share = np.array([vocab.FAMILY_SHARE[f] for f in others])
    n_loved = min(len(others), int(rng.choice([1, 2], p=[0.5, 0.5])))
    loved_f = rng.choice(others, size=n_loved, replace=False, p=share / share.sum())
    rest = [f for f in vocab.FAMILIES if f not in loved_f]
    neutral = tuple(rng.choice(rest, size=int(rng.integers(0, 3)), replace=False).tolist())
    favourites = [str(rng.choice(vocab.GENRE_FAMILIES[f])) for f in loved_f]
    axes = rng.uniform(-1, 1, size=4)
    return Persona("partner", loved={str(f): float(rng.uniform(0.5, 1.0)) for f in loved_f}, neutral=neutral,
                   favourite_genres=tuple(dict.fromkeys(favourites)), familiarity=float(axes[0]),
                   newness=float(axes[1]), loyalty=float(axes[2]), commonality=float(axes[3]))


def make_partner(listener: Listener, seed: int = 0) -> Listener:
    """A second person who plays music on the listener's account (partner, flatmate): loves other families."""
    rng = np.random.default_rng([seed, 7927])
    return _listener_from(listener.catalog, _partner_persona(listener.persona, rng), seed, rng,
                          DEFAULT_RANDOM_LIKE_RATE, vectorised=True)
