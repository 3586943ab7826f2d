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
    def lock(self, wait: float | None = None, on_wait=None) -> Iterator[None]:
        """One run at a time per home: every command that writes the store holds this lock for its whole run.

        A second run (say, cron and you) waits up to `wait` seconds (default `LOCK_WAIT`, or
        `$SPOTIFY_MODEL_LOCK_WAIT`) for the first to finish, then gives up with exit 69 (`ServiceUnavailable`),
        having changed nothing. `on_wait(message)` is called once when it has to wait. The lock is an advisory
        `flock` on `data/.lock`: the OS releases it when its process ends, even by SIGKILL, so a killed run never
        leaves a stale lock behind.
        """
        import fcntl
        import time

        from spotify_modeling.errors import ServiceUnavailable

        if wait is None:
            wait = lock_wait()
        self.data.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.data / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fh = os.fdopen(fd, "r+")
        try:
            deadline = time.monotonic() + wait
            told = False
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise ServiceUnavailable(
                            f"Another spotify-model run is using {self.root} (still running after waiting "
                            f"{wait:g} s); nothing was changed.",
                            "Let it finish, then run this command again.") from None
                    if not told and on_wait is not None:
                        on_wait(f"another spotify-model run is using {self.root}: waiting up to {wait:g} s "
                                "for it to finish")
                        told = True
                    time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            self.sweep_temp_files()
            yield
        finally:
            fh.close()


    def lock_is_held(self) -> bool:
        """Whether a run holds the home lock right now (for `status`: a run recorded as `running` while nobody holds
        the lock was killed). Creates nothing; takes the lock for no longer than the test."""
        import fcntl

        try:
            fd = os.open(self.data / ".lock", os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def sweep_temp_files(self, now: float | None = None) -> list[Path]:
        """Remove the temp files of writes a killed run left behind (`atomic_path`'s `.NAME.*.tmp`, the token
        cache's `.token-*`); called with the lock held. Returns what was removed.

        Only locked runs write the CSV views and models, so any temp file there is a leftover. The token cache and
        the report are also written by commands that take no lock (`login`, `report`): their temp files go only
        once they are an hour old, so a write under way is never touched.
        """
        import time

        now = time.time() if now is None else now
        gone = []
        places = [(d, ".*.tmp", 0.0) for d in (self.processed, self.models, self.training_features)]
        places += [(self.data, ".token-*", 3600.0), (self.data / "report", ".*.tmp", 3600.0)]
        for folder, pattern, min_age in places:
            try:
                found = list(folder.glob(pattern))
            except OSError:
                continue
            for p in found:
                try:
                    if p.is_file() and not p.is_symlink() and now - p.stat().st_mtime >= min_age:
                        p.unlink()
                        gone.append(p)
                except OSError:
                    continue
        return gone


#: seconds a command waits for another run of the same home to finish before it exits 69
LOCK_WAIT = 30.0


def lock_wait() -> float:
    """`$SPOTIFY_MODEL_LOCK_WAIT` seconds (a number >= 0), else `LOCK_WAIT`."""
    raw = os.environ.get("SPOTIFY_MODEL_LOCK_WAIT", "").strip()
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value >= 0 and value == value and value != float("inf"):
            return value
        from spotify_modeling.errors import BadInput

        raise BadInput(f"SPOTIFY_MODEL_LOCK_WAIT={raw!r} is not a number of seconds.",
                       "Set it to a number such as 30, or unset it.")
    return LOCK_WAIT
