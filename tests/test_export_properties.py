"""Property-based tests (hypothesis) of what a user hands the tool: the export, `spotify-model.toml`, `--features-csv`.

The property, for any input: it is imported or refused with a one-line cause (exit 0 or 2, never a traceback or the
"unexpected error" of exit 1), a refused import leaves the store byte-for-byte as it was, and an accepted one stores
only sane values and loses nothing imported before. A fixed seed per property and a modest number of examples, so CI
is stable and quick; `RELIABILITY_EXAMPLES` (default 60) raises the count for a longer soak and
`RELIABILITY_SEED` (default 0) picks other examples.

Figures: `suite=bad_input`, `case`, `refused_cleanly` (1 when every example held), `tracebacks`, `imported_lost`
(plays lost from an earlier import).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings, strategies as st

from export_fixtures import extended_row, write_account_export, zip_folder
from test_bad_inputs import store_state as home_state
from spotify_modeling.cli import main
from spotify_modeling.errors import BadInput
from spotify_modeling.home import Home

EXAMPLES = int(os.environ.get("RELIABILITY_EXAMPLES", "60"))
SEED = int(os.environ.get("RELIABILITY_SEED", "0"))   # another fixed seed for a soak: other examples, still repeatable
PROFILE = settings(max_examples=EXAMPLES, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                          HealthCheck.data_too_large])
ACCOUNT = "Spotify Account Data"
TS_STORED = re.compile(r"(19[7-9]\d|20\d\d)-\d\d-\d\dT\d\d:\d\d:\d\dZ")


# ------------------------------------------------------------------------------------------------ helpers
def store_state(root: Path) -> dict:
    """What a refused import must leave as it was (the bad-input suite's `store_state`, by home folder)."""
    return home_state(Home(root))


def run_cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(map(str, args)))
    return code, out.getvalue(), err.getvalue()


class Tally:
    """Counts over the examples of one property, recorded as the test's figures."""

    def __init__(self, record_property, case: str):
        self.record, self.case = record_property, case
        self.examples = self.bad = self.tracebacks = self.lost = 0

    def done(self) -> None:
        self.record("suite", "bad_input")
        self.record("case", self.case)
        self.record("examples", self.examples)
        self.record("refused_cleanly", int(self.examples > 0 and self.bad == 0))
        self.record("tracebacks", self.tracebacks)
        self.record("imported_lost", self.lost)


@pytest.fixture(scope="module")
def template_home(tmp_path_factory) -> Path:
    """A home holding a first import (plays, playlists, saved tracks), copied afresh for every example."""
    root = tmp_path_factory.mktemp("template")
    export = write_account_export(root / "export")
    code, _, err = run_cli("features", "--offline", "--home", root / "home", export)
    assert code == 0, err
    return root / "home"


def counts(root: Path) -> dict:
    conn = sqlite3.connect(Home(root).db_path)
    out = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
           for t in ("plays", "playlist_items", "saved_tracks")}
    conn.close()
    return out


def check_import(tally: Tally, template: Path, export: Path) -> None:
    """Import `export` into a copy of the template home and check the property; shared by the export properties."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        shutil.copytree(template, home)
        before, before_counts = store_state(home), counts(home)
        code, out, err = run_cli("features", "--offline", "--home", home, export)
        tally.examples += 1
        tally.tracebacks += (out + err).count("Traceback")
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        ok = code in (0, 2) and "Traceback" not in out + err
        if code == 2:
            ok = ok and len(lines) == 1 and lines[0].startswith("error:") and store_state(home) == before
        lost = 0
        if code == 0:
            after = counts(home)
            lost = max(0, before_counts["plays"] - after["plays"])
            conn = sqlite3.connect(Home(home).db_path)
            stored = conn.execute("SELECT ts, ms_played, track_name, artist_name FROM plays").fetchall()
            conn.close()
            ok = ok and all(TS_STORED.fullmatch(ts) and (ms is None or 0 <= ms <= 86_400_000)
                            and all(v is None or (isinstance(v, str) and len(v) <= 2000) for v in (t, a))
                            for ts, ms, t, a in stored)
        tally.lost += lost
        tally.bad += not ok
        assert code in (0, 2), (code, out, err)
        assert "Traceback" not in out + err
        if code == 2:
            assert len(lines) == 1 and lines[0].startswith("error:"), err
            assert store_state(home) == before, "a refused import changed the store"
        else:
            assert ok and lost == 0, (out, err)


# ------------------------------------------------------------------------------------------------ strategies
scalars = (st.none() | st.booleans() | st.integers(min_value=-2**80, max_value=2**80)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["", "2024-01-01 10:00", "2024-13-45 99:99", "2024-01-01T10:00:00Z", "spotify:track:",
                              "spotify:track:" + "A" * 22, "9999-99-99", "\ud800", "🎸", "שלום", "x" * 3000]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)

ACCOUNT_KEYS = ["endTime", "artistName", "trackName", "msPlayed"]
EXTENDED_KEYS = ["ts", "ms_played", "master_metadata_track_name", "master_metadata_album_artist_name",
                 "master_metadata_album_album_name", "spotify_track_uri", "reason_start", "reason_end", "skipped",
                 "shuffle", "username"]


def mutated(base: dict, keys: list[str]):
    """A real row with some fields replaced by anything, some removed, some added."""
    return st.tuples(st.dictionaries(st.sampled_from(keys), json_values, max_size=3),
                     st.lists(st.sampled_from(keys), max_size=2),
                     st.dictionaries(st.text(max_size=6), json_values, max_size=2)).map(
        lambda t: {**{k: v for k, v in base.items() if k not in t[1]}, **t[2], **t[0]})


account_rows = st.lists(mutated({"endTime": "2024-05-01 10:00", "artistName": "A", "trackName": "T",
                                 "msPlayed": 1000}, ACCOUNT_KEYS) | json_values, min_size=0, max_size=6)
extended_rows = st.lists(mutated(extended_row("2024-05-01T10:00:00Z", "T", "A", "spotify:track:" + "B" * 22),
                                 EXTENDED_KEYS) | json_values, min_size=0, max_size=6)
playlist_docs = json_values | st.fixed_dictionaries({"playlists": st.lists(
    st.fixed_dictionaries({"name": json_values, "items": st.lists(
        st.fixed_dictionaries({"track": json_values | st.fixed_dictionaries(
            {"trackName": json_values, "artistName": json_values, "trackUri": json_values}),
            "addedDate": json_values}) | json_values, max_size=3) | json_values}) | json_values, max_size=3)})


def dump(doc) -> bytes:
    return json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")


# ------------------------------------------------------------------------------------------------ the export
def test_any_export_content_is_imported_or_refused_in_one_line(template_home, record_property):
    tally = Tally(record_property, "export JSON content (hypothesis)")

    @seed(1301 + SEED)
    @PROFILE
    @given(music=account_rows, extended=extended_rows, playlists=playlist_docs,
           library=json_values | st.fixed_dictionaries({"tracks": st.lists(json_values, max_size=3)}),
           userdata=st.none() | json_values)
    def prop(music, extended, playlists, library, userdata):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp) / "export" / ACCOUNT
            d.mkdir(parents=True)
            (d / "StreamingHistory_music_0.json").write_bytes(dump(music))
            e = d.parent / "Spotify Extended Streaming History"
            e.mkdir()
            (e / "Streaming_History_Audio_2024.json").write_bytes(dump(extended))
            (d / "Playlist1.json").write_bytes(dump(playlists))
            (d / "YourLibrary.json").write_bytes(dump(library))
            if userdata is not None:
                (d / "Userdata.json").write_bytes(dump(userdata))
            check_import(tally, template_home, d.parent)

    try:
        prop()
    finally:
        tally.done()


def test_any_bytes_as_a_history_file_are_imported_or_refused(template_home, record_property):
    tally = Tally(record_property, "history file bytes (hypothesis)")

    @seed(1302 + SEED)
    @PROFILE
    @given(content=st.binary(max_size=300) | json_values.map(dump)
           | st.sampled_from([b"\xef\xbb\xbf[]", b"[" * 50_000, b"", b" ", b"[1e400]", b'["\\ud800"]', b"NaN"]))
    def prop(content):
        with tempfile.TemporaryDirectory() as tmp:
            root = write_account_export(Path(tmp) / "export")
            (root / ACCOUNT / "StreamingHistory_music_1.json").write_bytes(content)
            check_import(tally, template_home, root)

    try:
        prop()
    finally:
        tally.done()


@pytest.fixture(scope="module")
def good_zip(tmp_path_factory) -> bytes:
    root = tmp_path_factory.mktemp("zip")
    folder = write_account_export(root / "export")
    (folder / ACCOUNT / "StreamingHistory_music_1.json").write_text(json.dumps(
        [{"endTime": "2025-01-01 10:00", "artistName": "New", "trackName": "Song", "msPlayed": 5}]))
    return zip_folder(folder, root / "my_spotify_data.zip").read_bytes()


def test_a_damaged_zip_is_imported_or_refused(template_home, good_zip, record_property):
    tally = Tally(record_property, "damaged zip bytes (hypothesis)")

    @seed(1303 + SEED)
    @PROFILE
    @given(data=st.data())
    def prop(data):
        raw = bytearray(good_zip)
        for pos, value in data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)),
                                             min_size=1, max_size=8)):
            raw[pos] = value
        cut = data.draw(st.none() | st.integers(0, len(raw)))
        with tempfile.TemporaryDirectory() as tmp:
            z = Path(tmp) / "my_spotify_data.zip"
            z.write_bytes(bytes(raw[:cut] if cut is not None else raw))
            check_import(tally, template_home, z)

    try:
        prop()
    finally:
        tally.done()


# ------------------------------------------------------------------------------------------------ spotify-model.toml
def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


toml_scalars = (st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=10)
                | st.sampled_from(["search", "search,reccobeats", "thompson", "uncertainty", ",", ""]))
toml_values = st.recursive(toml_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(min_size=1, max_size=5), inner, max_size=2), max_leaves=5)


def _setting_names():
    from spotify_modeling.pipeline.settings import WeeklyConfig

    return list(WeeklyConfig.__dataclass_fields__)


settings_text = (
    st.dictionaries(st.sampled_from(_setting_names()) | st.text(min_size=1, max_size=6), toml_values, max_size=4)
    .map(lambda d: "[candidates]\n" + "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in d.items())
         ).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.binary(max_size=80) | st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.sampled_from([b"candidates = 5", b"[candidates]\nmin_batch = inf", b"[[candidates]]\n", b"\xff"]))


def test_any_settings_file_is_read_or_refused_in_one_line(record_property):
    from spotify_modeling.pipeline.settings import RANGES, WeeklyConfig

    tally = Tally(record_property, "spotify-model.toml (hypothesis)")

    @seed(1304 + SEED)
    @PROFILE
    @given(text=settings_text)
    def prop(text):
        with tempfile.TemporaryDirectory() as tmp:
            h = Home(Path(tmp))
            h.config_path.write_bytes(text)
            tally.examples += 1
            try:
                config = WeeklyConfig.from_home(h)
            except BadInput as err:
                tally.bad += "\n" in str(err) or not str(err)
                assert "\n" not in str(err) and str(err)
            else:   # accepted: every number is finite and in its documented range
                for key, (lo, hi, _) in RANGES.items():
                    value = getattr(config, key)
                    ok = value is None or (math.isfinite(value) and lo <= value <= hi)
                    tally.bad += not ok
                    assert ok, (key, value)
                assert config.min_batch <= config.max_batch

    try:
        prop()
    finally:
        tally.done()


def test_a_bad_settings_file_is_one_line_on_the_command_line(template_home, tmp_path, record_property):
    home = tmp_path / "home"
    shutil.copytree(template_home, home)
    (home / "spotify-model.toml").write_bytes(b"[candidates]\nmin_batch = nan\n")
    before = store_state(home)
    code, out, err = run_cli("candidates", "--home", home)
    unchanged = store_state(home) == before
    record_property("suite", "bad_input")
    record_property("case", "spotify-model.toml min_batch = nan (candidates)")
    record_property("tracebacks", (out + err).count("Traceback"))
    record_property("refused_cleanly", int(code == 2 and unchanged and len(err.strip().splitlines()) == 1))
    assert unchanged
    assert code == 2 and "Traceback" not in out + err
    assert "min_batch = nan" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------------ --features-csv
csv_cells = (st.text(max_size=8) | st.sampled_from(["", "0.5", "-1", "11", "12", "inf", "nan", "1e400", "1e30",
                                                    "abc", '"', ",", "\n", "0", "1", "A" * 22])
             | st.floats(allow_nan=True, allow_infinity=True).map(repr) | st.integers(-10**20, 10**20).map(str))
csv_columns = st.lists(st.sampled_from(["track_id", "id", "energy", "key", "mode", "tempo", "time_signature",
                                        "loudness", "danceability", "other"]) | st.text(max_size=5),
                       min_size=1, max_size=5)


def test_any_features_csv_is_loaded_or_refused_in_one_line(record_property):
    from spotify_modeling.db.store import Store
    from spotify_modeling.pipeline.enrich import load_features_csv, read_features_csv

    tally = Tally(record_property, "--features-csv (hypothesis)")

    @seed(1305 + SEED)
    @PROFILE
    @given(columns=csv_columns, cells=st.lists(st.lists(csv_cells, max_size=6), max_size=5),
           raw=st.none() | st.binary(max_size=60))
    def prop(columns, cells, raw):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "features.csv"
            if raw is not None:
                path.write_bytes(raw)
            else:
                with open(path, "w", newline="", encoding="utf-8", errors="surrogatepass") as fh:
                    w = csv.writer(fh)
                    w.writerow(columns)
                    w.writerows(cells)
            store = Store(Path(tmp) / "s.db")
            tally.examples += 1
            try:
                try:
                    read_features_csv(path)   # what `features` checks before the import
                    load_features_csv(store, path, ["A" * 22, "0", "1"])
                except BadInput as err:
                    stored = store.conn.execute("SELECT count(*) FROM audio_features").fetchone()[0]
                    refused_ok = "\n" not in str(err) and stored == 0
                    tally.bad += not refused_ok
                    assert refused_ok, str(err)
                else:
                    for row in store.conn.execute("SELECT * FROM audio_features"):
                        ok = all(v is None or not isinstance(v, float) or math.isfinite(v) for v in row)
                        tally.bad += not ok
                        assert ok, row
            finally:
                store.close()

    try:
        prop()
    finally:
        tally.done()
