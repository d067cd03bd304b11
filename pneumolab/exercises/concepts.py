"""Concept checks: four to six quick questions per lesson, multiple choice or numeric, checked with hints.

Each exercise notebook shows its lesson's questions (:func:`concept_questions`), the student answers in a
dict ``{1: "b", 2: 0.625, ...}`` and runs :func:`concepts`, which says which answers are right and gives a
hint for each wrong one (naming the likely mistake where a wrong choice or number is a typical one),
never the answer. The questions, choices and answers live here, in :data:`QUESTIONS`, one source for the
notebooks, the checker and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pneumolab.exercises._core import _checker, _describe, _Hint, _key, _matches, _number


@dataclass(frozen=True)
class Question:
    """One question: multiple choice (``choices`` letter -> text, ``answer`` a letter) or numeric (no
    choices, ``answer`` a number: an int must be given exactly, a float up to two decimals). ``hints``
    maps typical wrong answers (a letter, or a number) to what they suggest; ``hint`` is said for any
    other wrong answer."""

    text: str
    answer: str | float
    hint: str
    choices: Mapping[str, str] = field(default_factory=dict)
    hints: Mapping[str | float, str] = field(default_factory=dict)

    def verdict(self, given: object) -> str | None:
        """None when ``given`` is right, else the hint for it (a :class:`_Hint` for an unreadable answer)."""
        if self.choices:
            letter = given.strip().lower().rstrip(").") if isinstance(given, str) else None
            if letter not in self.choices:
                raise _Hint(f"answer with one of the letters {', '.join(map(repr, self.choices))}; "
                            f"you gave {given!r}.")
            return None if letter == self.answer else self.hints.get(letter, self.hint)
        value = _number(given, "the answer")
        if self._same(value, self.answer):
            return None
        for wrong, hint in self.hints.items():
            if self._same(value, wrong):
                return hint
        if _matches(value / 100, float(self.answer)):
            return "that looks like a percentage: give a fraction between 0 and 1."
        return self.hint


    def _same(self, value: float, target: float) -> bool:
        """A count (an int answer) must be exact; a fraction or ratio is right up to two decimals."""
        return value == target if isinstance(self.answer, int) else _matches(value, float(target))


def _mc(text: str, answer: str, hint: str, choices: tuple[str, ...], **hints: str) -> Question:
    """A multiple-choice question; ``choices`` are lettered a, b, c, ... in order."""
    return Question(text, answer, hint, dict(zip("abcdef", choices, strict=False)), hints)


def _num(text: str, answer: float, hint: str, hints: Mapping[float, str] | None = None) -> Question:
    return Question(text, answer, hint, {}, dict(hints or {}))


#: The questions of each lesson, by lesson number ("01" to "08").
QUESTIONS: dict[str, tuple[Question, ...]] = {
    "01": (
        _num("A test split holds 390 pneumonia and 234 normal images. What accuracy (a fraction) does a "
             "'model' get that always answers PNEUMONIA?", 390 / 624,
             "which images does it get right, and what share of all images are they?",
             {234 / 624: "that is the share of NORMAL images; this model never says normal."}),
        _mc("Which number shows at once that the always-PNEUMONIA model is useless?", "c",
            "think of what it does to the normal images.",
            ("its accuracy", "its recall (sensitivity)", "its specificity", "the number of test images"),
            a="accuracy rewards it for answering the majority class, without looking at a single film.",
            b="it catches every pneumonia, so its recall is perfect; the problem is elsewhere."),
        _mc("Why does a random split of the training IMAGES into train and validation make the validation "
            "score optimistic?", "b", "think of children with several films.",
            ("validation gets too few images",
             "films of one patient land on both sides, so the model is graded on children it has seen",
             "a random split changes the class balance",
             "the test split becomes smaller"),
            a="a small validation split is noisy, not optimistic.",
            c="stratifying fixes the balance; the optimism comes from something else."),
        _mc("The same file appears in train and in test. What does it do to the test score?", "a",
            "the model may have memorised that image.",
            ("it makes it optimistic for that image", "nothing: the label is the same",
             "it makes it pessimistic", "it breaks the confusion matrix"),
            b="the label being the same is the problem: the model has seen the answer."),
        _mc("Normal films make larger JPEG files, on average, than pneumonia films in this data set. "
            "What is that for a model?", "b", "would it hold in another hospital?",
            ("a medical sign of a healthy lung",
             "a possible shortcut: it goes with the label here, for reasons that are not pneumonia",
             "irrelevant: a CNN never sees the file", "proof that the labels are wrong"),
            a="file size depends on the scanner, the framing and the export settings, not on the lungs.",
            c="the network does not read the size, but it sees what makes a file larger (size, detail, "
              "noise)."),
    ),
    "02": (
        _num("A 16-bit film has a pixel of value 32,768. Scaled to 0-1 by the range of its dtype, what "
             "value does it get (two decimals)?", 32768 / 65535,
             "divide by the largest value the dtype can hold.",
             {32768 / 255: "255 is the top of an 8-bit image; this one is 16 bit."}),
        _num("An image has mean 100 and standard deviation 20. After per-image standardization, what "
             "value does a pixel of 140 get?", 2.0, "subtract the image's mean, divide by its spread.",
             {140 / 255: "that is scaling to 0-1; standardizing uses the image's own mean and spread.",
              -2.0: "the sign: a pixel brighter than the mean stays above 0."}),
        _mc("Which steps must be IDENTICAL whenever the model is used, in training and in the app?", "b",
            "which steps define what the model's input looks like?",
            ("random rotation and zoom", "resizing, gray-to-RGB and per-image standardization",
             "random contrast", "none: the model adapts"),
            a="random augmentations are for training only: they must not run in the app.",
            c="random augmentations are for training only: they must not run in the app.",
            d="a model only works on inputs prepared the way its training inputs were."),
        _mc("Why is a gray film copied into three channels for an ImageNet backbone?", "b",
            "what does the backbone's first layer expect?",
            ("it adds colour information", "the backbone's first layer expects three channels; the "
             "copies add no information", "it triples the resolution", "CLAHE needs three channels"),
            a="three copies of one gray image hold exactly what the gray image holds."),
        _mc("What does CLAHE do that global histogram equalization does not?", "a",
            "look at the 'A' and the 'CL' of its name.",
            ("it equalizes tile by tile and clips each tile's histogram, so noise in flat regions is not "
             "blown up", "it blurs the image", "it resizes the image", "it standardizes the image"),
            d="CLAHE changes the contrast, locally; standardizing is a separate step after it."),
    ),
    "03": (
        _num("A 3 x 3 convolution takes 32 channels in and has 64 filters, with one bias per filter. How "
             "many parameters does it have?", 3 * 3 * 32 * 64 + 64,
             "each filter has a 3 x 3 weight for every input channel.",
             {3 * 3 * 32 * 64: "you left out the biases.",
              3 * 3 * 64 + 64: "each filter looks at all 32 input channels, not one.",
              3 * 3 * 32 + 1: "that is one filter; the layer has 64."}),
        _num("A 128 x 128 image goes through a stride-2 convolution ('same' padding), then two 2 x 2 "
             "max-poolings. How many pixels is a side of the feature map?", 16,
             "every stride 2 and every pooling halves the side; 'same' padding alone keeps it.",
             {32: "count every halving: the stride-2 convolution halves too.",
              8: "one halving too many."}),
        _num("A training set holds 1,000 normal and 3,000 pneumonia images. With balanced class weights "
             "(average weight 1), what weight does a NORMAL image get?", 2.0,
             "weight x number of images should come out the same for both classes.",
             {2 / 3: "that is the weight of PNEUMONIA, the commoner class.",
              0.25: "that is the share of normal images; the rarer class needs a LARGER weight.",
              3.0: "the ratio is right, but the average weight over all images should be 1."}),
        _mc("Early stopping watched the validation ROC AUC. Which weights does the kit keep?", "b",
            "what does validation measure, and when?",
            ("those of the last epoch", "those of the epoch with the best validation score",
             "those with the lowest training loss", "those of the first epoch"),
            a="the last epoch may already over-fit; early stopping looks back.",
            c="the training loss keeps falling as the model memorises: it cannot tell over-fitting."),
        _mc("The training loss keeps falling while the validation loss climbs. What is happening?", "b",
            "which images is the model getting better on?",
            ("under-fitting", "over-fitting: it learns the training images rather than pneumonia",
             "the learning rate is too small", "the validation split leaks patients"),
            a="an under-fitting model would not keep improving on the training images."),
    ),
    "04": (
        _mc("Why does a network trained on everyday photos help on chest X-rays?", "b",
            "what do the early layers of a CNN detect?",
            ("ImageNet contains chest X-rays", "its layers learned edges, textures and shapes that are "
             "useful on any image", "a pretrained model needs no training data",
             "it predicts faster"),
            a="ImageNet is photos of objects and animals; the features transfer, not the images.",
            c="the new head still learns from the X-rays; it just needs fewer of them."),
        _mc("During feature extraction (the first stage), what does training change?", "b",
            "what is frozen?",
            ("every layer", "only the new head", "only the batch-norm layers", "nothing"),
            a="that is fine-tuning everything; the first stage keeps the backbone frozen."),
        _mc("Why does the kit compute the frozen backbone's output once and cache it?", "b",
            "does a frozen layer's output change from one epoch to the next?",
            ("to save disk space", "it is the same every epoch, so computing it once saves most of the "
             "training time", "to augment the images", "to make the model more accurate"),
            c="a cache of fixed outputs is exactly why this stage cannot augment."),
        _num("A frozen backbone gives 1,280 pooled features; the new head is Dropout then Dense(1, "
             "sigmoid). How many parameters does training change?", 1281,
             "one weight per feature, plus what?",
             {1280: "you left out the bias.", 0: "the new Dense unit does learn."}),
        _mc("Why do the backbone's batch-norm layers stay in inference mode during fine-tuning?", "a",
            "what would batches of 32 X-rays do to statistics learned on millions of photos?",
            ("their running statistics would be overwritten by small batches of X-rays, and the features "
             "would shift", "it is faster", "Keras requires it", "dropout needs it"),
            b="the speed is about the same; the reason is what training mode does to the statistics."),
    ),
    "05": (
        _num("At a threshold, a model has TP = 90, FN = 10, FP = 30, TN = 70. What is its recall?", 0.9,
             "of all pneumonia images, which share is caught?",
             {0.75: "that is the precision: of the alarms, the share that is right.",
              0.7: "that is the specificity, about the normal images."}),
        _num("Same matrix: what is its specificity?", 0.7,
             "of all truly normal images, which share is called normal?",
             {0.9: "that is the recall, about the pneumonia images.",
              0.3: "that is the share of normal images flagged: the false-alarm rate.",
              0.875: "you divided by the images predicted normal; divide by the truly normal ones."}),
        _mc("What does lowering the threshold do?", "a", "more images cross a lower threshold.",
            ("recall goes up or stays; specificity goes down or stays", "both go up",
             "recall goes down", "ROC AUC changes"),
            b="there is a trade-off: more alarms catch more pneumonia and raise more false alarms.",
            d="ROC AUC looks at every threshold at once; moving one does not change it."),
        _mc("On which split is the operating threshold chosen?", "b",
            "which split must stay untouched until the final report?",
            ("test", "validation", "training", "any of them"),
            a="then the test split is no longer unseen, and its recall is optimistic.",
            c="on the training images the model is over-confident: the threshold would not transfer."),
        _mc("Temperature scaling divides the logits by one number. What can it change?", "c",
            "does it change the ORDER of the images' probabilities?",
            ("ROC AUC", "which image ranks above which", "how well the probabilities match observed "
             "frequencies (calibration)", "the labels"),
            a="it keeps the ranking, and ROC AUC depends only on the ranking.",
            b="dividing by a positive number keeps the order."),
    ),
    "06": (
        _mc("What is a Grad-CAM map made from?", "b", "look at the 'CAM' and the 'Grad' of the name.",
            ("the input pixels' gradients alone", "a convolutional feature map, each channel weighted by "
             "the gradient of the class score", "covering patches and watching the score",
             "the attention of a transformer"),
            a="that is a saliency map; Grad-CAM works on a feature map.",
            c="that is occlusion, the second opinion of the lesson."),
        _num("A heat map is spread evenly over the image. What share of its heat lies in the outer band "
             "of 10 % of the side on each edge (two decimals)?", 1 - 0.8**2,
             "the inner square keeps 80 % of each side.",
             {0.2: "the band is on all four edges; compare areas: the inner square keeps 80 % x 80 %.",
              0.64: "that is the inner square; the band is the rest.",
              1 - (180 / 224) ** 2: "that is a 224-pixel map, whose band is rounded to 22 pixels; the "
                                    "question asks for exactly 10 % of the side."}),
        _mc("After the weights are randomized, the Grad-CAM maps look almost the same. What does that "
            "say?", "a", "what should change when what the model learned is destroyed?",
            ("the maps show the image's structure more than what the model learned",
             "the model is robust", "the maps are right", "nothing"),
            b="robust models still change completely when their weights are random.",
            c="a map that ignores the learned weights cannot explain the learned model."),
        _mc("A bright square painted in a corner of normal films raises P(pneumonia) a lot. What does "
            "that mean?", "a", "is the corner part of the lungs?",
            ("the model reacts to marks outside the lungs: a possible shortcut",
             "the films now show pneumonia", "Grad-CAM is broken", "nothing: corners are lungs too"),
            c="the probability moved, whatever any map shows."),
        _mc("Can a heat map rule out a global shortcut, such as how sharp the film is?", "b",
            "where would a global feature's evidence be?",
            ("yes, if the map sits on the lungs", "no: a global feature leaves no spot; only an "
             "experiment that changes it can", "yes, with occlusion", "yes, with a finer layer"),
            a="evidence spread over the whole chest also looks anatomical.",
            c="occlusion covers patches; a global property is in every patch.",
            d="a finer map is still a map of where, not of what."),
    ),
    "07": (
        _num("A three-class confusion matrix (rows: true normal, bacteria, virus; columns: predicted, same "
             "order) reads [[200, 10, 24], [5, 200, 37], [3, 45, 100]]. What is the recall of virus?",
             100 / 148, "divide along the virus ROW: of the viral images, the share called viral.",
             {100 / 161: "that is the precision: you divided along the virus column."}),
        _num("Same matrix: how many pneumonia images (bacterial or viral) were called normal?", 8,
             "look at the normal COLUMN, in the two pneumonia rows.",
             {34: "those are normal images called pneumonia; the question is the other way round.",
              82: "those are pneumonias given the wrong CAUSE, not called normal."}),
        _mc("What is p_virus / (p_virus + p_bacteria)?", "a", "what happens to p_normal?",
            ("the model's probability of viral, given that the image is one of the two pneumonias",
             "the probability of pneumonia", "the probability of bacteria", "a calibrated probability "
             "of viral among all images"),
            b="P(pneumonia) is p_bacteria + p_virus.",
            d="it leaves out the normal class: it answers the question among pneumonias only."),
        _mc("Which numbers do NOT depend on whether viral or bacterial is called the positive class?", "c",
            "what happens to sensitivity and specificity when the classes swap roles?",
            ("sensitivity", "specificity", "accuracy and ROC AUC", "precision"),
            a="sensitivity of one naming is specificity of the other.",
            b="specificity of one naming is sensitivity of the other."),
        _num("A test split holds 242 bacterial and 148 viral pneumonias. What accuracy does 'always "
             "bacterial' get on the viral-vs-bacterial question?", 242 / 390,
             "which images does it get right, out of all pneumonias?",
             {148 / 390: "that is the share of viral images, the ones it gets wrong."}),
    ),
    "08": (
        _mc("A classifier separating training from test images has an out-of-fold ROC AUC of 0.97. So:",
            "b", "it was never asked about pneumonia.", (
                "the pneumonia model is bad", "the splits differ in ways a network sees, so a validation "
                "split carved from train may not predict the test score", "the test labels are wrong"),
            a="it says nothing about the pneumonia model, only about the images it will meet."),
        _mc("Why are the domain classifier's folds grouped by patient?", "c", "what is in a child's film?",
            ("to balance the classes", "to train faster", "so it cannot recognise a child seen in "
             "training, which would inflate the AUC"), a="balance is what stratifying does, not grouping."),
        _num("At a threshold chosen on validation, 52 of the 234 normal test images are flagged as "
             "pneumonia. What is the test specificity?", 182 / 234, "the share of normals called normal.",
             {52 / 234: "that is the false alarm rate; specificity counts the other normal images."}),
        _mc("A model right on almost all validation images gives P >= 0.999 to some normal test images. "
            "What does temperature scaling fitted on validation do on test?", "a", "what does it see?",
            ("little: validation asks for no softer probabilities, so the test over-confidence stays",
             "it fixes the test calibration", "it raises the test ROC AUC"),
            c="a temperature keeps the order of the images, so ROC AUC does not move."),
        _mc("Validation ROC AUC 0.999, test 0.95. Which reading is right?", "b", "where is validation from?",
            ("a triumph: the model is almost perfect", "a warning: validation shares the training collection "
             "and misses the shift; report test, and where the model may be used",
             "choose the threshold on test to close the gap"),
            c="then the test score would be a validation score, and optimistic."),
    ),
}


def _lesson(lesson: object) -> str:
    """``lesson`` as a key of :data:`QUESTIONS` ("1", 1 and "01" all mean "01")."""
    key = str(lesson).strip().zfill(2)
    if key not in QUESTIONS:
        raise ValueError(f"There is no concept check {lesson!r}: the lessons are {', '.join(QUESTIONS)}.")
    return key


def questions_markdown(lesson: str | int) -> str:
    """The questions of ``lesson`` as Markdown, numbered, with lettered choices."""
    lines = []
    for number, question in enumerate(QUESTIONS[_lesson(lesson)], 1):
        kind = "" if question.choices else " *(a number)*"
        lines.append(f"**{number}.** {question.text}{kind}")
        lines.extend(f"   - **{letter})** {text}" for letter, text in question.choices.items())
        lines.append("")
    return "\n".join(lines)


def concept_questions(lesson: str | int) -> object:
    """Show the concept check of ``lesson`` in the notebook (a Markdown display object)."""
    from IPython.display import Markdown

    return Markdown(questions_markdown(lesson))


@_checker("concept check", "a dict {1: 'b', 2: 0.5, ...}: question number -> letter or number")
def concepts(answers: dict[int, str | float], lesson: str | int) -> str:
    """The answers to one lesson's concept check: every question right, or a hint for each wrong one."""
    try:
        questions = QUESTIONS[_lesson(lesson)]
    except ValueError as unknown:
        raise _Hint(str(unknown)) from None
    form = "{1: 'b', 2: 0.5, ...}"
    if not isinstance(answers, Mapping):
        raise _Hint(f"Give your answers as a dict, question number -> answer, e.g. {form}; "
                    f"you gave {_describe(answers)}.")
    given = {int(key) if isinstance(key, str) and key.strip().isdigit() else _key(key): value
             for key, value in answers.items()}
    problems = []
    for number, question in enumerate(questions, 1):
        if number not in given:
            problems.append(f"Q{number}: not answered yet.")
            continue
        try:
            hint = question.verdict(given[number])
        except _Hint as unreadable:
            hint = str(unreadable)
        if hint:
            problems.append(f"Q{number}: {hint}")
    extra = sorted(map(str, set(given) - set(range(1, len(questions) + 1))))
    if extra:
        problems.append(f"there is no question {', '.join(extra)}: the questions are 1 to {len(questions)}.")
    if problems:
        right = len(questions) - sum(p.startswith("Q") for p in problems)
        raise _Hint(f"{right} of {len(questions)} right so far. " + " ".join(problems))
    return f"all {len(questions)} questions of lesson {_lesson(lesson)} right."
