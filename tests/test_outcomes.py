import pandas as pd
import pytest

from pneumolab.metrics.outcomes import OUTCOMES, outcomes, pick_errors

# Two normal images called pneumonia at 0.5, one missed pneumonia, one of each right call.
SCORED = pd.DataFrame({"path": list("abcde"),
                       "label": ["NORMAL", "NORMAL", "PNEUMONIA", "NORMAL", "PNEUMONIA"],
                       "probability": [0.9, 0.6, 0.3, 0.1, 0.95]})


def test_each_row_gets_its_outcome_at_the_threshold():
    assert outcomes(SCORED, 0.5).tolist() == ["false positive", "false positive", "false negative",
                                              "true negative", "true positive"]
    assert set(outcomes(SCORED, 0.5)) <= set(OUTCOMES)


def test_picked_errors_are_of_the_asked_kind_with_their_rank_among_all_images():
    picked = pick_errors(SCORED, 0.5, kind="false alarm", n=8)
    assert (picked.kind, picked.threshold, picked.found, picked.scored) == ("false alarm", 0.5, 2, 5)
    assert sorted(zip(picked.rows["path"], picked.rows["rank"], strict=True)) == [("a", 2), ("b", 3)]
    missed = pick_errors(SCORED, 0.5, kind="missed pneumonia")
    assert missed.rows["path"].tolist() == ["c"] and missed.rows["rank"].tolist() == [4]


def test_picking_fewer_is_seeded_and_none_found_is_not_an_error():
    first = pick_errors(SCORED, 0.5, n=1, seed=3)
    assert len(first.rows) == 1 and first.found == 2
    assert first.rows.equals(pick_errors(SCORED, 0.5, n=1, seed=3).rows)
    none = pick_errors(SCORED, 0.99, kind="false alarm")
    assert none.found == 0 and none.rows.empty


def test_an_unknown_kind_or_unscored_frame_is_explained():
    with pytest.raises(ValueError, match="kind must be one of"):
        pick_errors(SCORED, 0.5, kind="true positive")
    with pytest.raises(ValueError, match="'probability' column"):
        outcomes(SCORED.drop(columns="probability"), 0.5)
