import csv
import datetime as dt
import json

import joblib
import numpy as np
import pandas as pd
import pytest

import spotify_modeling
from spotify_modeling.pipeline import persist
from spotify_modeling.errors import BadInput
from spotify_modeling.core.models import LikeabilityModel, PlaylistModel
from spotify_modeling.pipeline.persist import MODEL_FORMAT_VERSION, load_model, load_model_info, save_model


def _fitted(cls=PlaylistModel):
    rng = np.random.default_rng(0)
    n = 120
    X = pd.DataFrame({"danceability": rng.random(n), "energy": rng.random(n),
                      "genres": [["pop"] if i % 2 else ["rock"] for i in range(n)]})
    y = (X["danceability"] > 0.5).astype(int).to_numpy()
    target = X["energy"].to_numpy() if cls is LikeabilityModel else y
    return cls(n_estimators=20, n_jobs=1).fit(X, target), X


@pytest.fixture
def dirs(tmp_path):
    return tmp_path / "saved_models", tmp_path / "training_features"


def test_round_trip_writes_three_files_and_predicts_identically(dirs):
    models_dir, features_dir = dirs
    model, X = _fitted()
    metrics = {"metric": "roc_auc", "value": 0.81, "ci_low": float("nan"), "n_rows": np.int64(120)}
    path = save_model(model, "playlist", models_dir, features_dir, metrics, extra={"source": "test"})
    assert path == models_dir / "playlist.joblib" and path.exists()

    info = json.loads((models_dir / "playlist.json").read_text())
    assert info["format_version"] == MODEL_FORMAT_VERSION
    assert info["package_version"] == spotify_modeling.__version__
    assert info["rows"] == 120 and info["model_class"] == "PlaylistModel"
    assert info["metrics"] == {"metric": "roc_auc", "value": 0.81, "ci_low": None, "n_rows": 120}
    assert info["params"]["n_estimators"] == 20 and info["params"]["class_weight"] == "balanced"
    assert info["features"] == model.feature_names_
    assert info["extra"] == {"source": "test"}
    trained = dt.datetime.fromisoformat(info["trained_at"])
    assert trained.tzinfo is not None and trained.utcoffset() == dt.timedelta(0)
    assert load_model_info("playlist", models_dir) == info

    with open(features_dir / "playlist.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["feature"] and [r[0] for r in rows[1:]] == model.feature_names_
    assert "genre:pop" in model.feature_names_

    loaded = load_model("playlist", models_dir)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert not list(models_dir.glob("*.tmp")) and not list(features_dir.glob("*.tmp"))


def test_regressor_round_trip(dirs):
    model, X = _fitted(LikeabilityModel)
    save_model(model, "likeability", *dirs, metrics={})
    np.testing.assert_array_equal(load_model("likeability", dirs[0]).predict(X), model.predict(X))


def test_missing_model_says_train_first(dirs):
    with pytest.raises(BadInput, match=r"no playlist model yet: run `spotify-model train`"):
        load_model("playlist", dirs[0])
    with pytest.raises(BadInput, match="no label model yet"):
        load_model_info("label", dirs[0])


def test_incompatible_format_version_is_refused(dirs, monkeypatch):
    model, _ = _fitted()
    save_model(model, "playlist", *dirs, metrics={})
    monkeypatch.setattr(persist, "MODEL_FORMAT_VERSION", MODEL_FORMAT_VERSION + 1)
    with pytest.raises(BadInput, match="format version") as err:
        load_model("playlist", dirs[0])
    assert "spotify-model train" in str(err.value)


def test_old_payload_inside_joblib_is_refused(dirs):
    model, _ = _fitted()
    path = save_model(model, "playlist", *dirs, metrics={})
    joblib.dump({"format_version": 0, "model": model}, path)  # json still says current version
    info = json.loads((dirs[0] / "playlist.json").read_text())
    info.pop("sha256")  # without the checksum the inner version check must still refuse
    (dirs[0] / "playlist.json").write_text(json.dumps(info))
    with pytest.raises(BadInput, match="unknown format"):
        load_model("playlist", dirs[0])


def test_corrupt_or_mismatched_files_are_refused(dirs):
    model, _ = _fitted()
    path = save_model(model, "playlist", *dirs, metrics={})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BadInput, match="does not match"):
        load_model("playlist", dirs[0])
    info = json.loads((dirs[0] / "playlist.json").read_text())
    info.pop("sha256")
    (dirs[0] / "playlist.json").write_text(json.dumps(info))
    with pytest.raises(BadInput, match="cannot be loaded") as err:
        load_model("playlist", dirs[0])
    assert "retrain" in str(err.value).lower() or "train" in str(err.value)
    (dirs[0] / "playlist.json").write_text("{not json")
    with pytest.raises(BadInput, match="unreadable"):
        load_model("playlist", dirs[0])


def test_other_sklearn_version_is_refused(dirs):
    model, _ = _fitted()
    save_model(model, "playlist", *dirs, metrics={})
    info_path = dirs[0] / "playlist.json"
    info = json.loads(info_path.read_text())
    info["sklearn_version"] = "0.1"
    info_path.write_text(json.dumps(info))
    with pytest.raises(BadInput, match="scikit-learn 0.1"):
        load_model("playlist", dirs[0])


@pytest.mark.parametrize("name", ["../evil", "", "a/b", ".hidden"])
def test_unsafe_names_are_refused(dirs, name):
    model, _ = _fitted()
    with pytest.raises(BadInput, match="invalid model name"):
        save_model(model, name, *dirs, metrics={})


def test_failed_write_leaves_previous_model_intact(dirs, monkeypatch):
    model, X = _fitted()
    save_model(model, "playlist", *dirs, metrics={"value": 1})
    before = (dirs[0] / "playlist.joblib").read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(persist.os, "fsync", boom)
    with pytest.raises(OSError):
        save_model(model, "playlist", *dirs, metrics={"value": 2})
    assert (dirs[0] / "playlist.joblib").read_bytes() == before
    assert not list(dirs[0].glob(".*tmp"))
    assert load_model_info("playlist", dirs[0])["metrics"] == {"value": 1}


def test_atomic_path_replaces_whole_or_leaves_the_old_file_and_no_temp(tmp_path):
    from spotify_modeling.atomic import atomic_path

    target = tmp_path / "sub" / "out.csv"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("v1")
    assert target.read_text() == "v1" and (target.stat().st_mode & 0o777) == 0o600
    with pytest.raises(OSError):
        with atomic_path(target) as tmp:
            tmp.write_text("half of v2")
            raise OSError(28, "No space left on device")
    assert target.read_text() == "v1" and sorted(p.name for p in target.parent.iterdir()) == ["out.csv"]


def test_history_csv_cut_short_by_a_full_disk_keeps_the_last_one(tmp_path, monkeypatch):
    from export_fixtures import write_account_export

    from spotify_modeling.pipeline import ingest
    from spotify_modeling.db.store import Store

    store = Store(tmp_path / "s.db")
    ingest.import_export(store, write_account_export(tmp_path / "export"))
    out = tmp_path / "processed" / "streaming_history.csv"
    n = ingest.write_history_csv(store, out)
    before = out.read_text()
    assert n > 0 and before.count("\n") == n + 1

    real_writer = csv.writer

    class FullDiskWriter:
        def __init__(self, fh):
            self.w = real_writer(fh)

        def writerow(self, row):
            self.w.writerow(row)

        def writerows(self, rows):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(ingest.csv, "writer", FullDiskWriter)
    with pytest.raises(OSError):
        ingest.write_history_csv(store, out)
    assert out.read_text() == before and [p.name for p in out.parent.iterdir()] == ["streaming_history.csv"]
    store.close()
