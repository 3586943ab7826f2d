"""Turn a track table (one row per track) into the numeric matrix every model consumes.

The same fitted featurizer encodes training rows and candidates, so the two can never
disagree about columns. Missing stays missing (NaN): LightGBM routes it on its own, and a
zero would claim a fact ("not rock", "key of C") that nobody observed.

Genres are thousands of fine-grained strings and often unknown, so they are encoded twice:
as broad families (generalise to genres never seen at fit) and as indicators of the most
frequent genres seen at fit. Rows whose genres are unknown get NaN in every genre column.

Speed matters (a pool of 100k candidates is scored in one go), so every column is computed
vectorised; per-value Python runs only once per *distinct* value (dates, genre strings).
"""

from __future__ import annotations

import ast
import datetime as _dt
import re
from functools import lru_cache
from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

AUDIO_FEATURES: list[str] = [
    "danceability", "energy", "key", "loudness", "mode", "speechiness",
    "acousticness", "instrumentalness", "liveness", "valence", "tempo",
]
NUMERIC_FEATURES: list[str] = AUDIO_FEATURES + ["time_signature"]
#: The values each audio feature can take (Spotify's definitions; the real catalogs in shared/data lie inside them:
#: loudness -46 to +2.3 dB, tempo 0 to 241 BPM): (lowest, highest, whole numbers only). Key -1 means "no key".
FEATURE_RANGES: dict[str, tuple[float, float, bool]] = {
    **{f: (0.0, 1.0, False) for f in ("danceability", "energy", "speechiness", "acousticness", "instrumentalness",
                                      "liveness", "valence")},
    "loudness": (-60.0, 6.0, False), "tempo": (0.0, 300.0, False),
    "key": (-1, 11, True), "mode": (0, 1, True), "time_signature": (0, 12, True),
}
# What the user's own listening says about a track (see `model_table`): passed through when present, else NaN.
CONTEXT_FEATURES: list[str] = ["artist_plays"]
# Input columns whose *presence* says where a row's metadata came from, not what the person likes: a history track
# identified by the export's URI is a stub (no explicit flag, no release date) while one found by search carries
# both; pool tracks get genres only when they ranked near the cut; `artist_plays` needs the primary artist's id.
# Model fits balance their missingness across the classes (`models.balance_missingness`), and `train` checks that
# a model given only these indicators cannot predict its target (`metrics.provenance_guard`).
PROVENANCE_COLUMNS: list[str] = ["duration_ms", "release_date", "explicit", "genres", "artist_plays"]

# Broad genre families, in output order.
FAMILIES: list[str] = [
    "rock", "pop", "hip_hop", "electronic_dance", "rnb_soul", "jazz_blues", "classical",
    "folk_country", "latin", "metal_punk", "reggae", "world", "other",
]

# Keyword rules: a genre belongs to every family whose pattern matches it (so "dance pop"
# is pop + electronic_dance, "country rap" is folk_country + hip_hop). Patterns use word
# boundaries where a bare substring would misfire (e.g. "dub" inside "dubstep").
_FAMILY_PATTERNS: dict[str, str] = {
    "rock": r"rock|grunge|\bemo\b|\bindie$|shoegaze|garage|psych|surf|british invasion"
            r"|merseybeat|mellow gold|permanent wave|new wave|new romantic|madchester|krautrock"
            r"|jam band|freakbeat|\bc86\b|slow ?core|post-punk|no wave|dark wave|gothic|nu gaze",
    "pop": r"pop|boy band|girl group|\bidol|teen|talent show|easy listening|adult standards"
           r"|europop|schlager|chanson|new wave|new romantic|eurovision|lounge|bubblegum",
    "hip_hop": r"hip h|hip-hop|hip pop|rap|trap|drill|grime|g funk|crunk|hyphy|boom bap|\bbounce\b"
               r"|turntablism|bboy|k-hop",
    "electronic_dance": r"edm|electro|house|techno|trance|dance|dubstep|brostep|drum and bass|\bdnb\b"
                        r"|disco|big room|ambient|downtempo|trip hop|synth|breakbeat|hardstyle|\bidm\b"
                        r"|chillwave|big beat|moombahton|hi-nrg|freestyle|\bbass\b|complextro|new beat"
                        r"|industrial|chillhop|lo-fi beats|vapor|riddim|catstep|new french touch|\bcedm\b"
                        r"|uk garage|uk funky|hyperpop",
    "rnb_soul": r"r&b|\brnb\b|soul|funk|motown|quiet storm|new jack swing|doo-wop|gospel|rhythm and blues"
                r"|urban contemporary|minneapolis sound|rare groove|vocal harmony|boogaloo",
    "jazz_blues": r"jazz|blues|swing|bebop|\bbop\b|big band|bossa nova|adult standards|ragtime"
                  r"|boogie-woogie|dixieland|stride|torch song|lounge|vocal jazz|exotica|cabaret",
    "classical": r"classical|baroque|opera|orchestra|symphon|romantic era|chamber music|choral|choir"
                 r"|early music|string quartet|soundtrack|score|compositional|neo-classical|new age"
                 r"|minimalism",
    "folk_country": r"folk|country|bluegrass|americana|singer-songwriter|honky|outlaw|cowboy|red dirt"
                    r"|nashville|western|appalachian|old-time|banjo|stomp and holler|redneck|cantautor"
                    r"|yodel|bakersfield|cosmic american",
    "latin": r"latin|reggaeton|salsa|bachata|cumbia|merengue|tango|mariachi|ranchera|norteno|banda"
             r"|bossa nova|samba|\bmpb\b|sertanejo|urbano|mexican|latino|latina|corrido|tejano|flamenco"
             r"|funk carioca|grupera|duranguense|bolero|mambo|cuban|puerto rican|colombian|en espanol"
             r"|brazilian|rumba|romantico|chicano",
    "metal_punk": r"metal|punk|hardcore(?! hip hop| techno)|screamo|grindcore|thrash|djent|\boi\b|sludge"
                  r"|stoner|nwobhm|doom|black metal|speed metal",
    "reggae": r"reggae|dancehall|\bska\b|\bdub\b|rock ?steady|lovers rock|\bsoca\b|ragga|riddim",
    "world": r"world|k-pop|j-pop|j-rock|c-pop|mandopop|cantopop|korean|japanese|chinese|taiwan|thai"
             r"|afro|african|bollywood|desi|filmi|punjabi|bhangra|indian|arab|turkish|persian"
             r"|celtic|irish folk|klezmer|highlife|soukous|mande|enka|sevdah|turbo folk|kreyol"
             r"|native american|indigenous|\bk-|\bj-",
}
# Whole-genre exceptions where the keyword rules would mislead.
_FAMILY_OVERRIDES: dict[str, list[str]] = {
    "rocksteady": ["reggae"],
    "rock steady": ["reggae"],
    "lovers rock": ["reggae"],
    "reggae rock": ["reggae", "rock"],
    "trip hop": ["electronic_dance"],
    "hardcore hip hop": ["hip_hop"],
    "hardcore techno": ["electronic_dance"],
    "emo rap": ["hip_hop", "rock"],
    "trap soul": ["hip_hop", "rnb_soul"],
    "uk garage": ["electronic_dance"],
}
_FAMILY_REGEX = {fam: re.compile(pat) for fam, pat in _FAMILY_PATTERNS.items()}


@lru_cache(maxsize=65536)
def _genre_family_cached(genre: str) -> tuple[str, ...]:
    g = genre.strip().lower()
    if not g:
        return ()
    if g in _FAMILY_OVERRIDES:
        return tuple(_FAMILY_OVERRIDES[g])
    found = tuple(fam for fam in FAMILIES[:-1] if _FAMILY_REGEX[fam].search(g))
    return found or ("other",)


def genre_family(genre: str) -> list[str]:
    """Broad families of one fine-grained genre string ("other" when no rule matches; [] for empty)."""
    return list(_genre_family_cached(genre))


@lru_cache(maxsize=65536)
def _split_genre_cell(raw: str) -> tuple[str, ...]:
    """Normalise one string cell: `a|b`, a Python-literal list `['a', 'b']`, or one genre."""
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parts = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parts = text.strip("[]").split(",")
        if not isinstance(parts, (list, tuple)):
            parts = [str(parts)]
    else:
        parts = text.split("|")
    out: list[str] = []
    for part in parts:
        g = str(part).strip().strip("'\"").strip().lower()
        if g and g not in out:
            out.append(g)
    return tuple(out)


def _explode_genres(column: pd.Series) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]]]:
    """Row positions, codes into a list of distinct raw cells, and each distinct cell's genres.

    Lists/arrays are exploded by pandas (C speed); each distinct string is parsed once.
    """
    s = pd.Series(column.to_numpy(dtype=object, na_value=None), index=np.arange(len(column)))
    exploded = s.explode()
    codes, uniques = pd.factorize(exploded.to_numpy(dtype=object), use_na_sentinel=True)
    parsed = [_split_genre_cell(u) if isinstance(u, str) else _split_genre_cell(str(u)) for u in uniques]
    rows = exploded.index.to_numpy()
    keep = codes >= 0
    return rows[keep], codes[keep], parsed


def _map_distinct(values: pd.Series, func: Callable[[Any], float]) -> np.ndarray:
    """Apply a scalar function once per distinct value, then broadcast back (float64, NaN for missing)."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    mapped = np.array([func(u) for u in uniques] + [np.nan], dtype=np.float64)
    return mapped[codes]  # code -1 picks the trailing NaN


def _year_of(value: Any) -> float:
    if isinstance(value, (pd.Timestamp, _dt.date)):
        return float(value.year)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value) if 1000 <= value <= 2999 else np.nan
    text = str(value).strip()
    head = text[:4]
    if len(head) == 4 and head.isdigit() and (len(text) == 4 or text[4] in "-/"):
        year = int(head)
        return float(year) if year >= 1000 else np.nan  # "0000" is Spotify's "unknown"
    return np.nan


_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def _flag_of(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value != 0) if not np.isnan(value) else np.nan
    text = str(value).strip().lower()
    return 1.0 if text in _TRUE else 0.0 if text in _FALSE else np.nan


def _numeric(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


class TrackFeaturizer(TransformerMixin, BaseEstimator):
    """Encode a track DataFrame as a float32 matrix with NaN for anything unknown.

    Parameters
    ----------
    max_genres : how many of the most frequent fit-time genres get their own indicator column.
    min_genre_count : a genre needs at least this many fit rows to get a column.
    reference_year : "now" for the newness score; None means the calendar year at fit time.
    use_genres : False drops every genre column (a model that needs no genre look-ups).
    """

    def __init__(self, max_genres: int = 40, min_genre_count: int = 5,
                 reference_year: int | None = None, use_genres: bool = True):
        self.max_genres = max_genres
        self.min_genre_count = min_genre_count
        self.reference_year = reference_year
        self.use_genres = use_genres

    # -- fitting -----------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any = None) -> "TrackFeaturizer":
        X = _as_frame(X)
        self.reference_year_ = int(self.reference_year if self.reference_year is not None
                                   else _dt.datetime.now(_dt.timezone.utc).year)
        self.genres_: list[str] = []
        if self.use_genres and "genres" in X.columns and self.max_genres > 0:
            rows, codes, parsed = _explode_genres(X["genres"])
            pairs = {(int(r), g) for r, c in zip(rows, codes) for g in parsed[c]}
            counts = pd.Series([g for _, g in pairs], dtype=object).value_counts()
            counts = counts[counts >= self.min_genre_count]
            ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            self.genres_ = [g for g, _ in ordered[: self.max_genres]]
        self.feature_names_out_ = np.array(self._names(), dtype=object)
        self.n_features_out_ = len(self.feature_names_out_)
        return self

    def _names(self) -> list[str]:
        names = NUMERIC_FEATURES + ["duration_min", "release_year", "newness", "explicit"]
        if self.use_genres:
            names += ["genres_unknown"] + [f"family_{f}" for f in FAMILIES]
            names += [f"genre:{g}" for g in self.genres_]
        return names + CONTEXT_FEATURES

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    # -- transforming ------------------------------------------------------------------
    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        X = _as_frame(X)
        n = len(X)
        out = np.full((n, self.n_features_out_), np.nan, dtype=np.float32)
        for j, col in enumerate(NUMERIC_FEATURES):
            if col in X.columns:
                out[:, j] = _numeric(X[col])
        key = NUMERIC_FEATURES.index("key")
        out[out[:, key] < 0, key] = np.nan  # ReccoBeats: -1 = unknown
        ts = NUMERIC_FEATURES.index("time_signature")
        out[out[:, ts] <= 0, ts] = np.nan
        j = len(NUMERIC_FEATURES)
        if "duration_ms" in X.columns:
            minutes = _numeric(X["duration_ms"]) / 60000.0
            out[:, j] = np.where(minutes > 0, minutes, np.nan)
        if "release_date" in X.columns:
            year = _map_distinct(X["release_date"], _year_of)
            out[:, j + 1] = year
            age = np.clip(self.reference_year_ - year, 0.0, None)
            out[:, j + 2] = np.exp(-age / 10.0)
        if "explicit" in X.columns:
            out[:, j + 3] = _map_distinct(X["explicit"], _flag_of)
        if self.use_genres:
            self._fill_genres(X, out, j + 4)
        for k, col in enumerate(CONTEXT_FEATURES):
            if col in X.columns:
                out[:, self.n_features_out_ - len(CONTEXT_FEATURES) + k] = _numeric(X[col])
        return out

    def _fill_genres(self, X: pd.DataFrame, out: np.ndarray, start: int) -> None:
        n = len(X)
        n_fam = len(FAMILIES)
        width = 1 + n_fam + len(self.genres_)
        block = np.zeros((n, width), dtype=np.float32)
        known = np.zeros(n, dtype=bool)
        if "genres" in X.columns and n:
            rows, codes, parsed = _explode_genres(X["genres"])
            fam_index = {f: i for i, f in enumerate(FAMILIES)}
            genre_index = {g: i for i, g in enumerate(self.genres_)}
            # Each distinct raw cell becomes a bitmask (64 indicator columns per uint64 word);
            # exploded rows come out in order, so each track is one contiguous run whose
            # elements are OR-ed with one 1-D reduceat per word, then unpacked to columns.
            n_cols = width - 1
            n_words = (n_cols + 63) // 64
            masks = np.zeros((len(parsed), n_words), dtype=np.uint64)
            for u, genres in enumerate(parsed):
                bits = {fam_index[fam] for g in genres for fam in _genre_family_cached(g)}
                bits.update(n_fam + genre_index[g] for g in genres if g in genre_index)
                for b in bits:
                    masks[u, b // 64] |= np.uint64(1) << np.uint64(b % 64)
            has_any = np.array([bool(p) for p in parsed], dtype=bool)
            valid = has_any[codes]
            rows, codes = rows[valid], codes[valid]
            if len(rows):
                starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
                track_rows = rows[starts]
                known[track_rows] = True
                for w in range(n_words):
                    words = np.bitwise_or.reduceat(masks[codes, w], starts)
                    bits = np.unpackbits(words.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
                    lo, hi = w * 64, min(n_cols, (w + 1) * 64)
                    block[track_rows, 1 + lo:1 + hi] = bits[:, : hi - lo]
        block[:, 0] = (~known).astype(np.float32)
        block[~known, 1:] = np.nan
        out[:, start:start + width] = block


def missingness(X: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per PROVENANCE_COLUMNS entry: True where the featurizer would see that fact as unknown.

    Uses the featurizer's own readings (a "0000" date, a non-positive duration, an empty genre list are unknown),
    so what is balanced and checked is exactly what the models see. A column absent from X is unknown everywhere.
    """
    X = _as_frame(X)
    n = len(X)
    out = {}
    for col in PROVENANCE_COLUMNS:
        if col not in X.columns:
            out[col] = np.ones(n, dtype=bool)
        elif col == "release_date":
            out[col] = np.isnan(_map_distinct(X[col], _year_of)) if n else np.zeros(0, dtype=bool)
        elif col == "explicit":
            out[col] = np.isnan(_map_distinct(X[col], _flag_of)) if n else np.zeros(0, dtype=bool)
        elif col == "genres":
            out[col] = genres_unknown(X)
        elif col == "duration_ms":
            out[col] = ~(_numeric(X[col]) > 0)
        else:
            out[col] = np.isnan(_numeric(X[col]))
    return pd.DataFrame(out, index=X.index)


def genres_unknown(X: pd.DataFrame) -> np.ndarray:
    """True for rows with no known genre (None, NaN, an empty list or empty strings)."""
    unknown = np.ones(len(X), dtype=bool)
    if "genres" in X.columns and len(X):
        rows, codes, parsed = _explode_genres(X["genres"])
        has_any = np.array([bool(p) for p in parsed], dtype=bool)
        unknown[rows[has_any[codes]]] = False
    return unknown


def hide_values(X: pd.DataFrame, hide: pd.DataFrame) -> pd.DataFrame:
    """A copy of X with the PROVENANCE_COLUMNS cells marked in `hide` (same index, boolean) set to unknown."""
    out = X.copy()
    for col in hide.columns:
        mask = hide[col].to_numpy(dtype=bool)
        if col not in out.columns or not mask.any():
            continue
        values = out[col].to_numpy(dtype=object, na_value=None).copy() if col in ("release_date", "genres") \
            else pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan).copy()
        values[mask] = None if values.dtype == object else np.nan
        out[col] = values
    return out


def _as_frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, (list, dict)):
        return pd.DataFrame(X)
    raise TypeError(f"expected a pandas DataFrame of tracks, got {type(X).__name__}")
