"""scikit-learn's estimator checks on the four track models: the contract `core/models.py` claims, and where it differs.

The product gives the models a DataFrame of tracks (named columns); no scikit-learn tag describes that, and with
`input_tags.two_d_array=False` scikit-learn would skip every check but cloning. The models also take a 2-D numeric
array (its columns used as features, as they are), so the checks run on arrays, and every check that fails is named
below with the reason; `xfail_strict` makes a check that starts passing fail here, so the list stays true.

LikeabilityModel's target is a share of full listens in [0, 1] and it refuses any other, while nearly every
check fits a regressor on integers or a standardised target. So it is checked twice: as it is (those checks expected
to fail), and with its target mapped into [0, 1] and back (`UnitScaledLikeability`), which runs all of its own code
under every check.
"""

from __future__ import annotations

import numpy as np
import pytest
import sklearn

from spotify_modeling.core.models import AffinityModel, LabelModel, LikeabilityModel, PlaylistModel

if tuple(int(p) for p in sklearn.__version__.split(".")[:2]) < (1, 8):
    pytest.skip("parametrize_with_checks(expected_failed_checks=..., xfail_strict=...) needs scikit-learn 1.8",
                allow_module_level=True)

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

FEW_ROWS = ("needs at least MIN_ROWS (10) tracks and says so ('needs at least 10 tracks to learn from, got 1'), "
            "not in the check's words")
WEIGHT_IS_NOT_REPETITION = ("LightGBM: a weight of 2 is not a repeated row (bagging draws rows, min_child_samples "
                            "and class_weight='balanced' count rows)")
UNIT_TARGET = "the target is a share of full listens in [0, 1]; the check fits integers or a standardised target"

COMMON_FAILURES = {
    "check_fit2d_1sample": FEW_ROWS,
    "check_sample_weight_equivalence_on_dense_data": WEIGHT_IS_NOT_REPETITION,
}
LABEL_FAILURES = {
    **COMMON_FAILURES,
    "check_sample_weight_equivalence_on_dense_data": WEIGHT_IS_NOT_REPETITION + "; and the check's 15 rows less "
                                                     "those of weight 0 are fewer than MIN_ROWS",
}
# Every check below fits LikeabilityModel on a target outside [0, 1], which it refuses with a ValueError.
OUT_OF_RANGE_TARGET = [
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_sample_weights_pandas_series",
    "check_sample_weights_not_an_array", "check_sample_weights_list", "check_sample_weights_shape",
    "check_sample_weights_not_overwritten", "check_sample_weight_equivalence_on_dense_data", "check_dtype_object",
    "check_f_contiguous_array_estimator", "check_regressors_train", "check_regressor_data_not_an_array",
    "check_regressors_no_decision_function", "check_supervised_y_2d", "check_regressors_int",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_fit2d_1feature",
    "check_dict_unchanged", "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in",
    "check_fit2d_predict1d",
]
LIKEABILITY_FAILURES = {"check_fit2d_1sample": FEW_ROWS, **{name: UNIT_TARGET for name in OUT_OF_RANGE_TARGET}}
UNIT_SCALED_FAILURES = {"check_fit2d_1sample": FEW_ROWS, "check_sample_weight_equivalence_on_dense_data":
                        WEIGHT_IS_NOT_REPETITION + "; and the rows kept set the target's scale"}


class UnitScaledLikeability(LikeabilityModel):
    """LikeabilityModel on a target mapped into [0, 1] by the training range (and predictions mapped back).

    Test-only: it lets the checks that fit on arbitrary targets run LikeabilityModel's featurizing, validation,
    fitting and prediction. Its parameters are LikeabilityModel's (the inherited `__init__`).
    """

    def fit(self, X, y, sample_weight=None):
        values = np.asarray(y)
        try:
            values = np.full(0, np.nan) if values.dtype.kind == "c" else values.astype(float)
        except (TypeError, ValueError):
            values = np.full(0, np.nan)
        self.y_low_, self.y_span_ = 0.0, 1.0
        if values.ndim in (1, 2) and values.size and np.isfinite(values).all():
            self.y_low_, self.y_span_ = float(np.min(values)), float(np.ptp(values)) or 1.0
            y = (values - self.y_low_) / self.y_span_
        return super().fit(X, y, sample_weight=sample_weight)   # else (None, NaN, inf, ...): its own errors

    def predict(self, X):
        return super().predict(X) * self.y_span_ + self.y_low_


EXPECTED_FAILURES = {PlaylistModel: COMMON_FAILURES, AffinityModel: COMMON_FAILURES, LabelModel: LABEL_FAILURES,
                     LikeabilityModel: LIKEABILITY_FAILURES, UnitScaledLikeability: UNIT_SCALED_FAILURES}


def expected_failed_checks(estimator) -> dict[str, str]:
    return EXPECTED_FAILURES[type(estimator)]


@parametrize_with_checks([PlaylistModel(), LikeabilityModel(), AffinityModel(), LabelModel(),
                          UnitScaledLikeability()],
                         expected_failed_checks=expected_failed_checks, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_every_expected_failure_has_a_reason_and_names_a_check_that_runs():
    from sklearn.utils.estimator_checks import estimator_checks_generator

    for cls, failures in EXPECTED_FAILURES.items():
        assert all(isinstance(r, str) and len(r) > 20 for r in failures.values()), cls.__name__
        names = set()
        for _, check in estimator_checks_generator(cls(), legacy=True):
            func = check
            while hasattr(func, "func"):        # functools.partial around the check
                func = func.func
            names.add(getattr(func, "__wrapped__", func).__name__)
        assert set(failures) <= names, (cls.__name__, set(failures) - names)


def test_tags_declare_the_contract():
    from sklearn.utils import get_tags

    for model in (PlaylistModel(), AffinityModel(), LabelModel(), LikeabilityModel()):
        tags = get_tags(model)
        assert tags.input_tags.two_d_array and tags.input_tags.allow_nan and not tags.input_tags.sparse
        assert not tags.non_deterministic and tags.target_tags.required
        if model._is_classifier:
            assert tags.estimator_type == "classifier" and tags.classifier_tags.multi_class is False
        else:
            assert tags.estimator_type == "regressor"
