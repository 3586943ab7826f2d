"""Secrets and privacy (issue 13, item 5): known fake secrets never reach a file or an output; personal files 0600.

Runs `spotify-model demo --weeks 2` and a `features` + `candidates` life against the stand-in with a known client
id and secret, the tokens the stand-in issues (every access and refresh token, refreshed ones included) and an export
whose history rows carry known IP addresses (`ip_addr`, `ip_addr_decrypted`): a clean run, a token refresh, an outage
(exit 69), a revoked login (exit 77), `status --json` and `report`. Then every file
under the homes (the SQLite store and its -wal as bytes, logs, CSV views, models, the report) and every captured
stdout/stderr is scanned for those values.

Exempt, by design: the token cache holds the tokens (that is its job; it must be 0600), and the export zip the demo
writes into `data/raw/` is the user's own export. Nothing under a home is public: every file must be 0600-like
(no group or other bits).
"""

from __future__ import annotations

import json
import pickle
import stat
import zipfile
from pathlib import Path

import pytest

from cli_harness import cli_env, needles as _needles, run, scan as _scan, write_token
from spotify_modeling.sandbox import simulate
from spotify_modeling.sandbox.standin import StandInServer, StandInState

CLIENT_ID = "scanCLIENTid7f3a9c51e2"
CLIENT_SECRET = "scanSECRETq9x2LmN4vB7"
IP_PREFIXES = ("198.51.100.", "203.0.113.")      # documentation ranges: every history row gets one of each


def _export_with_known_ips(world, root: Path) -> Path:
    """The world's export as a zip whose every streaming-history row carries a known IP (both IP fields)."""
    folder = world.write_export(root / "export_folder")
    n = 0
    for path in folder.rglob("*.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "ts" in doc[0]:
            for row in doc:
                n += 1
                row["ip_addr"] = f"{IP_PREFIXES[0]}{n % 250 + 1}"
                row["ip_addr_decrypted"] = f"{IP_PREFIXES[1]}{n % 250 + 1}"
            path.write_text(json.dumps(doc), encoding="utf-8")
    assert n > 100
    zpath = root / "export.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return zpath


def _files(home: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}


def _loose_modes(home: Path) -> list[str]:
    return [f"{oct(stat.S_IMODE(p.stat().st_mode))} {p.relative_to(home)}" for p in sorted(home.rglob("*"))
            if p.is_file() and stat.S_IMODE(p.stat().st_mode) & 0o077]


@pytest.fixture(scope="module")
def lived(tmp_path_factory):
    """A home after a week of life with every error path, and everything it printed."""
    root = tmp_path_factory.mktemp("secrets")
    world = simulate.build_world(seed=7, persona="pop_mainstream", n_tracks=1500, n_plays=800)
    state = StandInState()
    world.populate(state)
    export = _export_with_known_ips(world, root)
    home, logs = root / "home", root / "logs"
    outputs, codes = {}, {}
    with StandInServer(state) as server:
        write_token(home, server)
        env = cli_env(server, home, SPOTIPY_CLIENT_ID=CLIENT_ID, SPOTIPY_CLIENT_SECRET=CLIENT_SECRET)

        def step(tag, args):
            res = run(args, env, logs, tag, server)
            outputs[f"{tag}.out"], outputs[f"{tag}.err"] = res.out.encode(), res.err.encode()
            codes[tag] = res.code
            return res

        step("features", ["features", str(export)])
        server.expire_access_tokens()                 # the next run refreshes with the client secret
        step("candidates", ["candidates", "--seed", "1"])
        state.reset_day()
        state.fail_5xx = {"search": 10_000, "tracks": 10_000}   # an outage
        step("outage", ["candidates", "--seed", "2"])
        state.fail_5xx = {}
        state.reset_day()
        step("status_json", ["status", "--json"])
        step("report", ["report"])
        server.expire_access_tokens()
        state.refresh_tokens_revoked = True            # the login ran out: exit 77
        step("revoked", ["candidates", "--seed", "4"])
        tokens = set(state.access_tokens) | set(state.refresh_tokens)
    # the demo, in its own home: its tokens are the ones its token cache holds
    demo_home = root / "demo"
    res = run(["demo", "--weeks", "2", "--home", str(demo_home)], cli_env(None, root / "unused"), logs, "demo")
    outputs["demo.out"], outputs["demo.err"] = res.out.encode(), res.err.encode()
    codes["demo"] = res.code
    demo_token = json.loads((demo_home / "data" / ".spotify_token_cache").read_text())
    tokens |= {demo_token["access_token"], demo_token["refresh_token"]}
    return {"home": home, "demo": demo_home, "outputs": outputs, "codes": codes, "tokens": tokens, "export": export}


def test_the_error_paths_ran(lived):
    """The scan below is only as good as the paths it covers: each ran and ended as documented."""
    codes = lived["codes"]
    assert codes["features"] == 0 and codes["candidates"] == 0 and codes["demo"] == 0
    assert codes["outage"] == 69 and codes["revoked"] == 77
    assert codes["status_json"] == codes["report"] == 0
    assert len(lived["tokens"]) >= 4                  # the first pair, a refreshed access token, the demo's


def test_no_secret_in_any_file_or_output(lived, record_property):
    blobs = {name: data for home in (lived["home"], lived["demo"]) for name, data in _files(home).items()}
    blobs.update({f"<{k}>": v for k, v in lived["outputs"].items()})
    # tokens: everywhere but the token cache (the one place a token belongs); the client id and secret: everywhere
    leaks = _scan({k: v for k, v in blobs.items() if not k.endswith(".spotify_token_cache")},
                  _needles(lived["tokens"]))
    leaks += _scan(blobs, _needles({CLIENT_ID, CLIENT_SECRET}))
    # IP addresses: every file and output, but the demo's copy of its own export
    ip_blobs = {k: v for k, v in blobs.items() if not k.endswith("my_spotify_data.zip")}
    ip_leaks = [(name, p) for name, data in ip_blobs.items() for p in IP_PREFIXES if p.encode() in data]
    record_property("suite", "secrets")
    record_property("case", "demo + features/candidates with token refresh, outage, revoked login, status, report")
    record_property("files_scanned", len(blobs))
    record_property("secret_leaks", len(leaks) + len(ip_leaks))
    assert len(blobs) > 30
    # the needles are right: the scan finds the tokens where they belong and the IPs in the export itself
    cache = lived["home"] / "data" / ".spotify_token_cache"
    assert _scan({"cache": cache.read_bytes()}, _needles(lived["tokens"]))
    assert all(p.encode() in lived["export"].read_bytes() for p in IP_PREFIXES)
    assert not leaks, leaks
    assert not ip_leaks, ip_leaks


def test_the_token_cache_holds_the_token_and_nothing_under_a_home_is_readable_by_others(lived, record_property):
    caches = [h / "data" / ".spotify_token_cache" for h in (lived["home"], lived["demo"])]
    cache_ok = all(stat.S_IMODE(c.stat().st_mode) == 0o600 for c in caches)
    tokens_in_cache = any(t.encode() in caches[0].read_bytes() for t in lived["tokens"])
    loose = _loose_modes(lived["home"]) + _loose_modes(lived["demo"])
    record_property("suite", "secrets")
    record_property("case", "file modes under the home")
    record_property("mode_files_checked", sum(1 for h in (lived["home"], lived["demo"]) for p in h.rglob("*")
                                         if p.is_file()))
    record_property("loose_modes", len(loose))
    assert cache_ok and tokens_in_cache
    assert not loose, loose
    # the personal files the user reported world-readable are there, and private
    for rel in ("data/spotify_model.db", "data/processed/X.csv", "data/processed/y_playlist.csv",
                "data/processed/y_score.csv", "data/report/report.html"):
        assert (lived["home"] / rel).is_file(), rel


def test_a_store_left_world_readable_by_an_older_version_is_made_private_on_open(tmp_path, record_property):
    """The user's finding: the store and its -wal/-shm were 0644. Opening it now tightens all three to 0600."""
    import os

    from spotify_modeling.db.store import Store

    path = tmp_path / "data" / "spotify_model.db"
    old = os.umask(0o022)                               # what an older version (and most shells) left behind
    try:
        with Store(path) as s1, s1.transaction() as conn:
            conn.execute("INSERT INTO kv(key, value) VALUES ('k', '1')")
        holder = Store(path)                            # keeps -wal and -shm in place, as a run under way does
        holder.conn.execute("BEGIN IMMEDIATE")
        holder.conn.execute("INSERT INTO kv(key, value) VALUES ('k2', '2')")
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if p.exists():
                p.chmod(0o644)
        with Store(path):
            pass
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
        holder.conn.execute("ROLLBACK")
        holder.close()
        fresh = tmp_path / "new" / "spotify_model.db"
        with Store(fresh) as s2, s2.transaction() as conn:   # a new store under a loose umask: 0600 from the start
            conn.execute("INSERT INTO kv(key, value) VALUES ('k', '1')")
            fresh_modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in fresh.parent.iterdir()}
    finally:
        os.umask(old)
    loose = {n: oct(m) for n, m in {**modes, **fresh_modes}.items() if m & 0o077}
    record_property("suite", "secrets")
    record_property("case", "store, -wal and -shm modes (old 0644 store, new store under umask 022)")
    record_property("mode_files_checked", len(modes) + len(fresh_modes))
    record_property("loose_modes", len(loose))
    assert {"spotify_model.db", "spotify_model.db-wal", "spotify_model.db-shm"} <= set(modes)
    assert {"spotify_model.db", "spotify_model.db-wal"} <= set(fresh_modes)
    assert not loose, loose
