"""Smoke test of benchmarks/speed.py on tiny inputs: each figure's code runs and measures what it claims to.

No timing assertions: only that both sides of each comparison did the same work.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from pathlib import Path

import pytest

from spotify_modeling.sandbox.simulate.export import EXTENDED_KEYS

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"


@pytest.fixture(scope="module")
def speed():
    spec = importlib.util.spec_from_file_location("speed_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["speed_bench"] = module
    spec.loader.exec_module(module)
    return module


def test_ingest_product_and_baseline_load_the_same_export(speed, tmp_path):
    info = speed.make_extended_export(tmp_path / "export", n_plays=400, n_tracks=300)
    files = sorted((tmp_path / "export").rglob("Streaming_History_Audio_*.json"))
    assert info["files"] == len(files) >= 1
    rows = [r for f in files for r in json.loads(f.read_text())]
    assert list(rows[0].keys()) == EXTENDED_KEYS  # the real extended-history shape
    music = [r for r in rows if r["spotify_track_uri"]]
    assert len(music) == info["plays"] > 0

    base = speed.baseline_ingest(tmp_path / "export", tmp_path / "base.db")
    assert base["rows"] == len(rows)  # the baseline copies every row, podcasts included
    with sqlite3.connect(tmp_path / "base.db") as conn:
        uris = {u for (u,) in conn.execute("SELECT spotify_track_uri FROM plays WHERE spotify_track_uri IS NOT NULL")}
    assert uris == {r["spotify_track_uri"] for r in music}

    child = speed.run_child("product", tmp_path / "export", tmp_path / "product.db")
    assert child["rows"] == len(music)  # the product keeps music only
    assert child["peak_rss_mb"] >= child["rss_before_mb"] > 0
    assert child["seconds"] >= child["parse_seconds"] > 0
    with sqlite3.connect(tmp_path / "product.db") as conn:
        assert conn.execute("SELECT count(*) FROM plays").fetchone()[0] == len(music)


def test_scoring_compares_score_pool_with_the_same_boosters(speed):
    out = speed.bench_scoring(speed.TINY)
    assert out["pool"] == speed.TINY.pool
    assert out["outputs_agree"] is True
    assert set(out["threads"]) == {"playlist", "likeability", "affinity"}
    assert out["raw_seconds"] > 0 and out["score_pool_seconds"] > 0


def test_seeded_store_trains_all_three_stage1_models(speed, tmp_path):
    out = speed.bench_train(speed.TINY, tmp_path)
    assert out["trained"] == ["playlist", "likeability", "affinity"]
    assert out["tracks_with_features"] == out["tracks_played"] > 50
    assert set(out["cv_auc"]) == {"playlist", "likeability", "affinity"}
    assert (tmp_path / "train_home" / "saved_models" / "affinity.joblib").exists()
    assert out["bare_lgbm_fits"] == 3 * 6  # each model: 5 CV folds + the final fit


def test_demo_counts_spotify_calls_per_week(speed, tmp_path):
    out = speed.bench_demo(speed.TINY, tmp_path)
    assert len(out["weeks"]) == speed.TINY.demo_weeks == 1
    week = out["weeks"][0]
    spotify_groups = {g: n for g, n in week["by_group"].items() if g != "reccobeats"}
    assert week["calls"] == sum(spotify_groups.values()) == out["cold_calls"] > 0
    assert "search" in spotify_groups and "playlists" in spotify_groups
    assert out["features_calls"] > 0
    assert out["warm_calls_max"] is None


def test_table_marks_missed_targets(speed):
    ingest = {"plays": 10, "files": 1, "bytes": 1e6, "ratio": 2.0, "product_peak_rss_mb": 2000.0,
              "baseline_peak_rss_mb": 100.0,
              "baseline": {"seconds": 1.0},
              "product": {"seconds": 2.0, "parse_seconds": 1.0, "import_seconds": 1.0}}
    scoring = {"pool": 100, "score_pool_seconds": 1.5, "featurize_seconds": 0.1, "raw_seconds": 1.0, "ratio": 1.5,
               "predict_only_seconds": 1.2, "predict_only_ratio": 1.2}
    text = speed.build_table(ingest, scoring, None, None).render()
    lines = text.splitlines()
    assert "2.00x" in lines[2] and "MISSED" in lines[2]
    assert "2000 MB" in lines[3] and "MISSED" in lines[3]
    assert "1.50x" in lines[4] and lines[4].rstrip().endswith("ok")
    assert len(lines) == 6  # header, rule, two ingest rows, two scoring rows


def test_table_rows_for_training_and_demo(speed):
    train = {"tracks_with_features": 5000, "trained": ["playlist", "likeability"], "seconds": 31.0,
             "seconds_no_cv": 4.0, "bare_lgbm_fits": 12, "bare_lgbm_fit_seconds": 6.2}
    demo = {"weeks": [{"week": 1, "calls": 90}, {"week": 2, "calls": 160}, {"week": 3, "calls": 100}],
            "wall_seconds": 20.0, "features_calls": 479, "cold_calls": 90, "warm_calls_max": 160}
    lines = speed.build_table(None, None, train, demo).render().splitlines()
    assert "5.00x" in lines[2] and "12 bare LGBM fits" in lines[2] and "MISSED" in lines[2]  # 31 s >= 30 s
    assert "demo wall time (3 weeks)" in lines[3] and lines[3].rstrip().endswith("ok")
    assert "479" in lines[4] and "90" in lines[5]
    assert "weeks 2-3 (warm), max" in lines[6] and "160" in lines[6] and "MISSED" in lines[6]
