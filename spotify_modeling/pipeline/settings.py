"""The weekly run's settings: `[candidates]` in the home's `spotify-model.toml`, then flags, over the defaults."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass

from spotify_modeling.core.selection.settings import BatchSettings, ranges, setting
from spotify_modeling.errors import BadInput

#: Stage 2 is fitted once there are at least this many likes and this many dislikes.
MIN_LABELS_PER_CLASS = 8

#: the like-seeded Spotify-search sources `like_sources` may name (see `core.selection.sources`)
LIKE_SEARCH_SOURCES = ("artist", "liked_genre")


@dataclass
class WeeklyConfig(BatchSettings):
    """Settings of the weekly run; the home's `spotify-model.toml` [candidates] table and flags override them.

    The batch's own settings (its size, shares, explore floor and mode, caps) come first, from `BatchSettings`; each
    number's range stands beside it (`setting(default, lowest, highest)`). Outside it a setting is refused with a
    line saying the range, rather than failing later (a negative batch, a share above 1, an infinite count).
    """

    expire_weeks: float = setting(4.0, 0, 520, lo_ok=False)
    max_pending: int = setting(60, 1, 100_000)   # no new batch while data_candidates holds this many unlabelled tracks
    search_calls: int = setting(80, 0, 100_000)  # pool top-up: searches per run
    per_page: int = setting(5, 1, 10)            # tracks kept per search page (of 10)
    genre_share: float = setting(0.5, 0, 1)  # share of the searches spent on your taste: your history's genres, and
    #                                          once you like candidates, the artists and genres you liked (shared by
    #                                          their hit rates); the rest sample the catalog at random (the affinity
    #                                          negatives, the control)
    like_sources: str = "artist,liked_genre"   # the like-seeded searches ("" turns them off)
    prune_dislikes: float = setting(2.0, 0, 1000)   # an artist disliked this often and never liked is not searched
    #                                                 nor offered (0: off)
    removed_weight: float = setting(0.5, 0, 1, lo_ok=False)   # a candidate you take out of data_candidates
    #                                                           unlabelled: a dislike of this weight
    recco_seeds: int = setting(5, 0, 50)         # ReccoBeats recommendations: your latest likes asked for similar
    recco_per_seed: int = setting(20, 1, 100)    # tracks ... this many each (no Spotify quota)
    genre_calls: int = setting(60, 0, 100_000)     # artist look-ups per run, for the pool slice that can still
    #                                                make the cut
    backlog_calls: int = setting(40, 0, 100_000)   # leftover calls for the `features` backlog (ids, genres of your
    #                                                history)
    sources: str = "search,reccobeats"   # "search" alone turns the ReccoBeats recommendations off
    min_labels_per_class: int = setting(MIN_LABELS_PER_CLASS, 1, 10**9)
    seed: int | None = setting(None, 0, 2**63 - 1)

    @classmethod
    def from_home(cls, home, **overrides) -> "WeeklyConfig":
        values = {}
        if home.config_path.exists():
            try:
                if not home.config_path.is_file():   # a folder or a named pipe: never opened (a pipe would wait)
                    raise OSError("not a regular file")
                with open(home.config_path, "rb") as fh:
                    table = tomllib.load(fh).get("candidates", {})
                if not isinstance(table, dict):
                    raise ValueError("candidates is not a [candidates] table")
                values = dict(table)
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
                cause = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise BadInput(f"{home.config_path} is not a valid settings file ({cause}).",
                               "Fix or remove it; see docs/usage.md for the [candidates] settings.") from None
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise BadInput(f"Unknown setting(s) in {home.config_path}: {', '.join(map(_shown, sorted(unknown)))}.",
                           f"Known: {', '.join(cls.__dataclass_fields__)}.")
        defaults = cls()
        for key, value in values.items():
            want = type(getattr(defaults, key))
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) if want in (int, float) else \
                isinstance(value, str) if want is str else True
            if key == "seed":
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            if not ok:
                kind = "whole number of 0 or more" if key == "seed" else "number" if want in (int, float) \
                    else want.__name__
                raise BadInput(f"Setting {key} = {value!r} in {home.config_path} should be a {kind}.",
                               "Fix it and run again.")
            if isinstance(value, float) and not math.isfinite(value):
                raise BadInput(f"Setting {key} = {value!r} in {home.config_path} should be a finite number.",
                               "Fix it and run again.")
            _check_range(key, value, str(home.config_path))
            if want is int and key != "seed":
                values[key] = int(value)
        given = {k: v for k, v in overrides.items() if v is not None}
        for key, value in given.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if isinstance(value, float) and not math.isfinite(value):
                    raise BadInput(f"{key} = {value!r} should be a finite number.", "Fix it and run again.")
                _check_range(key, value, "the command line")
        values.update(given)
        config = cls(**values)
        if config.min_batch > config.max_batch:
            raise BadInput(f"min_batch = {config.min_batch} is above max_batch = {config.max_batch} "
                           f"(in {home.config_path} or the command line).", "Make min_batch at most max_batch.")
        entries = str(config.sources).replace(" ", "").split(",")
        bad = set(entries) - {"search", "reccobeats"}
        if bad:
            named = ", ".join(sorted(_shown(b) for b in bad if b))
            raise BadInput(f"Bad pool source(s): {named}." if named else
                           f"Pool sources {config.sources!r} have an empty entry (a stray comma)." if any(entries) else
                           "No pool source given.", "Sources: search, reccobeats (comma-separated).")
        like = [e for e in str(config.like_sources).replace(" ", "").split(",") if e]
        if set(like) - set(LIKE_SEARCH_SOURCES):
            raise BadInput(f"Bad like source(s): {', '.join(sorted(_shown(b) for b in set(like) - set(LIKE_SEARCH_SOURCES)))}.",
                           f"like_sources: {', '.join(LIKE_SEARCH_SOURCES)} (comma-separated), or \"\" for none.")
        if config.explore_mode not in ("thompson", "uncertainty"):
            raise BadInput(f"explore_mode = {config.explore_mode!r} in {home.config_path} is not one I know.",
                           "Use \"thompson\" or \"uncertainty\".")
        if not 0 <= config.explore_share + config.control_share < 1:
            raise BadInput("explore_share + control_share must be below 1.", "Fix it and run again.")
        if not 0 <= config.genre_share < 1:
            raise BadInput(f"genre_share = {config.genre_share} in {home.config_path} must be at least 0 and below 1.",
                           "Some searches must stay random: they are the affinity model's idea of a random track "
                           "and the control slice's baseline.")
        return config


def _shown(name: str) -> str:
    """A name from the file as the one-line message shows it: as written, or quoted when it holds a line break or
    another unprintable character."""
    return name if name.isprintable() else repr(name)


#: {name: (lowest, highest, the lowest itself allowed)}: each range as it stands beside its field
RANGES: dict[str, tuple[float, float, bool]] = ranges(WeeklyConfig)


def _check_range(key: str, value, where: str) -> None:
    if key not in RANGES:
        return
    lo, hi, lo_ok = RANGES[key]
    if (value < lo if lo_ok else value <= lo) or value > hi:
        low = f"{lo:g} or more" if lo_ok else f"above {lo:g}"
        raise BadInput(f"Setting {key} = {value!r} in {where} is out of range: it should be {low} and at most {hi:g}.",
                       "Fix it and run again.")


__all__ = ["WeeklyConfig", "MIN_LABELS_PER_CLASS", "RANGES", "LIKE_SEARCH_SOURCES"]
