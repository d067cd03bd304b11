"""Checkers for the exercise notebooks: a friendly hint on a wrong answer, a confirmation on a right one.

A student finishes an exercise and runs its checker, e.g. ``check.class_weights(weights, y_train)``.
The checker works the right answer out itself, with the package functions the lessons use (so it
cannot drift from the course), compares, and prints either a confirmation or a hint that says
what is wrong without giving the answer away. It also returns a :class:`Feedback`, true when the
answer is right, for tests and graders.

A checker never crashes on an answer: a wrong type or shape, or a student's function that raises,
gets a hint like any other mistake. Only ``NotImplementedError`` passes through: the exercise is not
answered yet, and "Run all" should stop there. In strict mode (:func:`strict`, which the solution
notebooks switch on) a wrong answer raises :class:`AnswerRejected`, so a run of the solutions fails
loudly if a checker and a solution disagree.

TensorFlow is imported only by the checkers that need it, so the data and evaluation exercises start fast.

The notebooks import this package as ``check``; the checkers live in one module per lesson:

- 01 data (:mod:`.data`): :func:`majority_baseline`, :func:`patients_on_both_sides`, :func:`grouped_split`;
- 02 preprocessing (:mod:`.preprocessing`): :func:`unit_scale`, :func:`preprocessing_chain`
  (run on the synthetic :func:`films`; :data:`CHAIN` is the chain asked for, in words);
- 03 CNN and 04 transfer (:mod:`.models`): :func:`class_weights`, :func:`layer_output_shape`,
  :func:`parameter_count`, :func:`small_cnn`, :func:`frozen_transfer_model`;
- 05 thresholds (:mod:`.thresholds`): :func:`confusion_counts`, :func:`recall_specificity` (a function of
  the counts, also run on :data:`STAND_IN_COUNTS`, so a swap always shows), :func:`threshold_for_recall`;
- 06 explainability (:mod:`.explainability`): :func:`border_share`, :func:`planted_marker`,
  :func:`marker_effect` (on the shipped reference model; :func:`plant` is the reference marker);
- 07 three classes (:mod:`.causes`): :func:`class_recalls`, :func:`pneumonia_probability`,
  :func:`pair_threshold`;
- 08 dataset shift (:mod:`.shift`): :func:`grouped_folds`, :func:`domain_auc`, :func:`threshold_on_test`;
- every lesson (:mod:`.concepts`): a concept check, :func:`concept_questions` to show it and
  :func:`concepts` to check the answers.

:mod:`.progress` turns the verdicts into a view: :func:`summary` (this notebook's table of ✅ / 💡),
:func:`save_results` (a CSV per student and set) and :func:`collect_results` (a class's CSVs in one table).

:mod:`._core` holds what they share: :class:`Feedback`, the checker decorator, :func:`strict` and
:class:`AnswerRejected`, and the readers that turn an answer into numbers or a hint.
"""

from pneumolab.exercises._core import AnswerRejected, Feedback, history, strict
from pneumolab.exercises.causes import class_recalls, pair_threshold, pneumonia_probability
from pneumolab.exercises.concepts import QUESTIONS, concept_questions, concepts
from pneumolab.exercises.data import grouped_split, majority_baseline, patients_on_both_sides
from pneumolab.exercises.explainability import border_share, marker_effect, plant, planted_marker
from pneumolab.exercises.models import (
    class_weights,
    frozen_transfer_model,
    layer_output_shape,
    parameter_count,
    small_cnn,
)
from pneumolab.exercises.preprocessing import CHAIN, films, preprocessing_chain, unit_scale
from pneumolab.exercises.progress import collect_results, save_results, summary
from pneumolab.exercises.shift import domain_auc, grouped_folds, threshold_on_test
from pneumolab.exercises.thresholds import (
    STAND_IN_COUNTS,
    confusion_counts,
    recall_specificity,
    threshold_for_recall,
)

__all__ = [
    "CHAIN",
    "QUESTIONS",
    "STAND_IN_COUNTS",
    "AnswerRejected",
    "Feedback",
    "border_share",
    "class_recalls",
    "class_weights",
    "collect_results",
    "concept_questions",
    "concepts",
    "confusion_counts",
    "domain_auc",
    "films",
    "frozen_transfer_model",
    "grouped_folds",
    "grouped_split",
    "history",
    "layer_output_shape",
    "majority_baseline",
    "marker_effect",
    "pair_threshold",
    "parameter_count",
    "patients_on_both_sides",
    "plant",
    "planted_marker",
    "pneumonia_probability",
    "preprocessing_chain",
    "recall_specificity",
    "save_results",
    "small_cnn",
    "strict",
    "summary",
    "threshold_for_recall",
    "threshold_on_test",
    "unit_scale",
]
