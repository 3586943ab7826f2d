"""Fit the synthetic world's per-family audio-feature parameters from real catalogs.

Reads `/work/shared/data/catalogs/` (never copied into the repo) and prints a Python literal with
per-family means and covariances in a latent space (logit for 0-1 features, log for tempo,
raw dB for loudness), key/mode/time-signature frequencies and log-duration moments. Paste the output
into `spotify_modeling/simulate/_calibration.py`. Families the catalogs barely cover are marked so
the module can fall back to hand-set values.

Usage: python benchmarks/calibrate_world.py [--data-dir DIR]
"""
from __future__ import annotations

import argparse
import ast
import pprint
from pathlib import Path

import numpy as np
import pandas as pd

UNIT_FEATURES = ["danceability", "energy", "speechiness", "acousticness",
                 "instrumentalness", "liveness", "valence"]
LATENT_ORDER = UNIT_FEATURES + ["loudness", "tempo"]
EPS = 1e-3

TIDY_TO_FAMILY = {"edm": "electronic", "rap": "hip hop", "pop": "pop", "r&b": "r&b",
                  "latin": "latin", "rock": "rock"}
# Keyword rules for hot100 artist genres -> families the TidyTuesday catalog lacks.
HOT100_RULES = {
    "jazz": ("jazz", "blues", "swing", "bebop", "bossa"),
    "classical": ("classical", "orchestra", "baroque", "opera", "compositional", "romantic era"),
    "folk": ("country", "folk", "bluegrass", "americana", "singer-songwriter"),
    "metal": ("metal", "punk", "grunge", "hardcore", "thrash"),
    "reggae": ("reggae", "dancehall", "ska", "dub", "rocksteady"),
    "world": ("afro", "world", "k-pop", "j-pop", "highlife", "soca", "bhangra", "celtic", "flamenco"),
}


def to_latent(df: pd.DataFrame) -> np.ndarray:
    unit = df[UNIT_FEATURES].clip(EPS, 1 - EPS).to_numpy(float)
    latent_unit = np.log(unit / (1 - unit))
    loud = df[["loudness"]].clip(upper=0).to_numpy(float)
    tempo = np.log(df[["tempo"]].clip(50, 220).to_numpy(float))
    return np.hstack([latent_unit, loud, tempo])


def summarise(df: pd.DataFrame, duration_col: str, ts_col: str | None) -> dict:
    df = df.dropna(subset=LATENT_ORDER)
    z = to_latent(df)
    keys = df["key"].astype(int).value_counts(normalize=True).reindex(range(12), fill_value=0)
    durations = np.log(df[duration_col].dropna().clip(30_000, 1_200_000))
    out = {
        "n": int(len(df)),
        "mean": np.round(z.mean(axis=0), 3).tolist(),
        "cov": np.round(np.cov(z, rowvar=False), 3).tolist(),
        "key_p": np.round(keys.to_numpy(), 4).tolist(),
        "mode_p": round(float(df["mode"].mean()), 3),
        "log_duration": [round(float(durations.mean()), 3), round(float(durations.std()), 3)],
    }
    if ts_col:
        ts = df[ts_col].dropna().astype(int).clip(1, 7).value_counts(normalize=True)
        out["time_signature_p"] = {int(k): round(float(v), 4) for k, v in ts.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="/work/shared/data/catalogs")
    args = parser.parse_args()
    root = Path(args.data_dir)
    tidy = pd.read_csv(root / "tidytuesday_spotify_songs.csv.gz").drop_duplicates("track_id")
    hot = pd.read_csv(root / "hot100_audio_features.csv.gz").dropna(subset=["spotify_track_id"])
    hot = hot.drop_duplicates("spotify_track_id")
    hot["genres"] = hot["artist_genres"].fillna("[]").map(ast.literal_eval)

    fitted: dict[str, dict] = {}
    for tidy_genre, family in TIDY_TO_FAMILY.items():
        fitted[family] = summarise(tidy[tidy["playlist_genre"] == tidy_genre], "duration_ms", None)
    for family, words in HOT100_RULES.items():
        mask = hot["genres"].map(lambda gs: any(w in g for g in gs for w in words))
        fitted[family] = summarise(hot[mask], "spotify_track_duration_ms", "time_signature")
    fitted["_all_hot100"] = summarise(hot, "spotify_track_duration_ms", "time_signature")
    print("LATENT_ORDER =", LATENT_ORDER)
    print("FITTED = ", end="")
    pprint.pprint(fitted, width=110, compact=True)


if __name__ == "__main__":
    main()
