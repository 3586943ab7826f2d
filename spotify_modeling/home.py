"""Where all of a user's state lives: `SPOTIFY_MODEL_HOME`, else the current directory."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

#: The home the current command resolved last (so a bug report is logged where the user's data is).
last_resolved: "Home | None" = None


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def from_env(cls, override: str | os.PathLike | None = None) -> "Home":
        global last_resolved
        root = override or os.environ.get("SPOTIFY_MODEL_HOME") or os.getcwd()
        last_resolved = cls(Path(root).expanduser().resolve())
        return last_resolved

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

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One run at a time per home: a second `features` or `candidates` (say, cron and you) is refused at once."""
        import fcntl

        from spotify_modeling.errors import BadInput

        self.data.mkdir(parents=True, exist_ok=True)
        fh = open(self.data / ".lock", "a+")
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BadInput(f"Another spotify-model run is using {self.root} right now; nothing was changed.",
                               "Wait for it to finish, then run again.") from None
            yield
        finally:
            fh.close()
