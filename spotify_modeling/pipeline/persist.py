"""Save and load fitted models with a small JSON card beside each.

Layout: `saved_models/<name>.joblib` (the estimator), `saved_models/<name>.json` (format and
package versions, training time and rows, metrics, params, feature list, a checksum of the
joblib file) and `training_features/<name>.csv` (the feature list, header `feature`).

Every file is written atomically (temp file in the same folder, then `os.replace`), so a crash
never leaves half a model. A model saved by an incompatible format version, by another
scikit-learn version, or whose files do not match each other is refused with a `BadInput`
asking to retrain: scoring with a model we cannot trust is worse than not scoring.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.exceptions import InconsistentVersionWarning

import spotify_modeling

from spotify_modeling.atomic import atomic_path
from spotify_modeling.errors import BadInput

MODEL_FORMAT_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_RETRAIN = "Run `spotify-model train` to rebuild it."


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise BadInput(f"invalid model name {name!r}",
                       "Use letters, digits, '_', '-' or '.' only.")
    return name


def _json_safe(value: Any) -> Any:
    """Params and metrics as plain JSON values (NaN becomes null; unknown objects their repr)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_json_safe(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if value is None or isinstance(value, str):
        return value
    return repr(value)


def _atomic_write(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _feature_list(model: Any) -> list[str]:
    names = getattr(model, "feature_names_", None)
    if names is None and hasattr(model, "get_feature_names_out"):
        names = model.get_feature_names_out()
    return [str(n) for n in (names if names is not None else [])]


def save_model(model: Any, name: str, models_dir: str | os.PathLike, features_dir: str | os.PathLike,
               metrics: dict, extra: dict | None = None) -> Path:
    """Persist a fitted model and its card; returns the path of the `.joblib` file."""
    _check_name(name)
    models_dir, features_dir = Path(models_dir), Path(features_dir)
    payload = {"format_version": MODEL_FORMAT_VERSION, "model": model}
    buffer = io.BytesIO()
    joblib.dump(payload, buffer)
    blob = buffer.getvalue()
    features = _feature_list(model)
    info = {
        "name": name,
        "model_class": type(model).__name__,
        "format_version": MODEL_FORMAT_VERSION,
        "package_version": spotify_modeling.__version__,
        "sklearn_version": sklearn.__version__,
        "trained_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "rows": _json_safe(getattr(model, "n_train_rows_", None)),
        "metrics": _json_safe(metrics or {}),
        "params": _json_safe(model.get_params(deep=False)) if hasattr(model, "get_params") else {},
        "features": features,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "extra": _json_safe(extra or {}),
    }
    joblib_path = models_dir / f"{name}.joblib"
    _atomic_write(joblib_path, blob)
    _atomic_write(models_dir / f"{name}.json",
                  (json.dumps(info, indent=2, sort_keys=False) + "\n").encode("utf-8"))
    csv = "feature\n" + "".join(_csv_cell(f) + "\n" for f in features)
    _atomic_write(features_dir / f"{name}.csv", csv.encode("utf-8"))
    return joblib_path


def _csv_cell(text: str) -> str:
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def load_model_info(name: str, models_dir: str | os.PathLike) -> dict:
    """The JSON card of a saved model; `BadInput` if missing or unreadable."""
    _check_name(name)
    path = Path(models_dir) / f"{name}.json"
    if not path.exists():
        raise BadInput(f"no {name} model yet: run `spotify-model train`")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BadInput(f"the saved {name} model's description is unreadable ({type(err).__name__}).",
                       _RETRAIN) from None
    if not isinstance(info, dict):
        raise BadInput(f"the saved {name} model's description is unreadable.", _RETRAIN)
    return info


def load_model(name: str, models_dir: str | os.PathLike) -> Any:
    """Load a saved model, refusing anything that might mis-score (`BadInput`, asks to retrain)."""
    _check_name(name)
    joblib_path = Path(models_dir) / f"{name}.joblib"
    if not joblib_path.exists():
        raise BadInput(f"no {name} model yet: run `spotify-model train`")
    info = load_model_info(name, models_dir)
    version = info.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise BadInput(f"the saved {name} model uses format version {version}, this version of "
                       f"spotify-model reads version {MODEL_FORMAT_VERSION}.", _RETRAIN)
    if info.get("sklearn_version") not in (None, sklearn.__version__):
        raise BadInput(f"the saved {name} model was trained with scikit-learn "
                       f"{info.get('sklearn_version')}, now {sklearn.__version__} is installed.",
                       _RETRAIN)
    try:
        blob = joblib_path.read_bytes()
    except OSError as err:
        raise BadInput(f"cannot read the saved {name} model ({type(err).__name__}).", _RETRAIN) from None
    if info.get("sha256") and hashlib.sha256(blob).hexdigest() != info["sha256"]:
        raise BadInput(f"the saved {name} model does not match its description "
                       "(partly overwritten?).", _RETRAIN)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", InconsistentVersionWarning)
            payload = joblib.load(io.BytesIO(blob))
    except Exception as err:  # unpickling can fail in many ways; all mean "retrain"
        raise BadInput(f"the saved {name} model cannot be loaded ({type(err).__name__}).",
                       _RETRAIN) from None
    if (not isinstance(payload, dict) or payload.get("format_version") != MODEL_FORMAT_VERSION
            or "model" not in payload):
        raise BadInput(f"the saved {name} model has an unknown format.", _RETRAIN)
    return payload["model"]


__all__ = ["MODEL_FORMAT_VERSION", "save_model", "load_model", "load_model_info"]
