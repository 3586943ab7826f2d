"""Where all of a user's state lives: `SPOTIFY_MODEL_HOME`, else the current directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def from_env(cls, override: str | os.PathLike | None = None) -> "Home":
        root = override or os.environ.get("SPOTIFY_MODEL_HOME") or os.getcwd()
        return cls(Path(root).expanduser().resolve())

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def raw(self) -> Path:
        return self.data / "raw"

    @property
    def processed(self) -> Path:
        return self.data / "processed"

    @property
    def db_path(self) -> Path:
        return self.data / "spotify_model.db"

    @property
    def models(self) -> Path:
        return self.root / "saved_models"

    @property
    def training_features(self) -> Path:
        return self.root / "training_features"

    @property
    def token_cache(self) -> Path:
        env = os.environ.get("SPOTIFY_MODEL_TOKEN_CACHE")
        return Path(env).expanduser() if env else self.data / ".spotify_token_cache"

    @property
    def config_path(self) -> Path:
        return self.root / "spotify-model.toml"

    @property
    def log_path(self) -> Path:
        return self.data / "spotify-model.log"

    def ensure(self) -> "Home":
        for d in (self.raw, self.processed, self.models, self.training_features):
            d.mkdir(parents=True, exist_ok=True)
        return self
