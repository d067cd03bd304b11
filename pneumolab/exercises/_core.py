"""What every exercise checker shares: the verdict, the checker decorator, strict mode, answer readers.

A check is a function that works the right answer out itself, returns a confirmation when the student's
answer matches and raises :class:`_Hint` at the first thing wrong with it. :func:`_checker` turns it into
what the notebooks call: it prints the :class:`Feedback` and returns it, turns any other error into a hint
(a checker must never crash a student's notebook) and lets only ``NotImplementedError`` through, since
an unanswered exercise should stop "Run all"; it also records every verdict in :func:`history`, which the
progress view (:mod:`.progress`) reads. The readers below turn an answer into a number, a count or a dict
of numbers, or give a hint saying which form was expected.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

import numpy as np

_strict = False
_history: list[Feedback] = []


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer: which exercise, whether it is right, and the message shown."""

    exercise: str
    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return f"{'✅ Right' if self.ok else '💡 Not yet'} ({self.exercise}): {self.message}"

    def _ipython_display_(self) -> None:
        """Show nothing: the checker printed the message already, and a notebook would show it twice."""


class AnswerRejected(AssertionError):
    """A wrong answer in strict mode: the solution notebooks must pass their own checkers."""


class _Hint(Exception):
    """Raised inside a checker at the first thing wrong with an answer; its text is the hint."""


def strict(on: bool = True) -> None:
    """Make wrong answers raise :class:`AnswerRejected` (the solution notebooks do, in a hidden region)."""
    global _strict
    _strict = on


def history() -> list[Feedback]:
    """Every verdict given in this kernel (this notebook), oldest first: what the progress view reads."""
    return list(_history)


def _checker(exercise: str, expects: str) -> Callable[[Callable[..., str]], Callable[..., Feedback]]:
    """Make a check (returns the confirmation, raises :class:`_Hint`) a checker that prints and returns."""

    def wrap(check: Callable[..., str]) -> Callable[..., Feedback]:
        @functools.wraps(check)
        def run(*args, **kwargs) -> Feedback:
            try:
                feedback = Feedback(exercise, True, check(*args, **kwargs))
            except NotImplementedError:
                raise
            except _Hint as hint:
                feedback = Feedback(exercise, False, str(hint))
            except Exception as error:  # a checker must never crash a student's notebook
                problem = f"I could not check this answer ({type(error).__name__}: {error})."
                feedback = Feedback(exercise, False, f"{problem} Expected {expects}.")
            print(feedback)
            _history.append(feedback)
            if _strict and not feedback.ok:
                raise AnswerRejected(str(feedback))
            return feedback

        return run

    return wrap


# ---------------------------------------------------------------- reading answers


def _describe(answer: object) -> str:
    name, shape = type(answer).__name__, getattr(answer, "shape", None)
    article = "an" if name[0].lower() in "aeiou" else "a"
    return f"{article} {name}" + (f" of shape {tuple(shape)}" if shape is not None else "")


def _function(answer: object) -> Callable:
    """The answer if it is a function, else a hint to pass the function itself."""
    if not callable(answer) or isinstance(answer, type):
        raise _Hint("Pass your function itself (its name, without parentheses); "
                    f"you gave {_describe(answer)}.")
    return answer


def _run(function: Callable, *args: object, on: str) -> object:
    """A student's function called on ``args``; an error in it becomes a hint naming ``on``, the input."""
    try:
        return _function(function)(*args)
    except (NotImplementedError, _Hint):
        raise
    except Exception as error:
        raise _Hint(f"Your function raised {type(error).__name__} on {on}: {error}") from None


def _number(answer: object, what: str) -> float:
    """The answer as a float, or a hint that one number was expected."""
    if isinstance(answer, str | bytes):
        raise _Hint(f"{what} should be a number, not the text {answer!r}: leave out the quotes.")
    try:
        array = np.asarray(answer)
    except Exception:  # objects NumPy cannot read at all
        array = np.asarray(None)
    if array.ndim != 0 or array.dtype.kind not in "iuf":
        raise _Hint(f"{what} should be one number; you gave {_describe(answer)}.")
    value = float(array)
    if not math.isfinite(value):
        raise _Hint(f"{what} is {value}: something upstream divided by zero or read no data.")
    return value


def _count(answer: object, what: str) -> int:
    value = _number(answer, what)
    if value != int(value) or value < 0:
        raise _Hint(f"{what} should be a whole number of at least 0; you gave {value:g}.")
    return int(value)


def _matches(value: float, reference: float) -> bool:
    """Equal up to rounding to two decimals (half a unit of the second decimal, plus float noise)."""
    return math.isclose(value, reference, rel_tol=1e-3, abs_tol=0.005 + 1e-9)


def _key(key: object) -> object:
    """A dict key as compared: text in lower case, any integer (Python or NumPy, not bool) as an int."""
    if isinstance(key, str):
        return key.lower()
    if isinstance(key, int | np.integer) and not isinstance(key, bool):
        return int(key)
    return key


def _entries(
    answer: object, keys: tuple[Hashable, ...], what: str, read: Callable[[object, str], float] = _number
) -> dict[Hashable, float]:
    """A dict answer's numbers under ``keys`` (text in any letter case), or a hint showing the expected form.

    Hints always show the keys as they must be typed, e.g. ``{0: ..., 1: ...}`` for integer keys and
    ``{'TN': ..., ...}`` for text ones.
    """
    form = "{" + ", ".join(f"{key!r}: ..." for key in keys) + "}"
    if not isinstance(answer, Mapping):
        raise _Hint(f"Give {what} as a dict, {form}, so the numbers cannot get mixed up; "
                    f"you gave {_describe(answer)}.")
    given = {_key(key): value for key, value in answer.items()}
    missing = [key for key in keys if _key(key) not in given]
    if missing:
        if all(isinstance(key, int) for key in keys) and {str(key) for key in keys} <= set(map(str, answer)):
            raise _Hint(f"Use the numbers themselves as keys, not text: {form}, without quotes around "
                        "the keys.")
        raise _Hint(f"The dict needs the keys {', '.join(map(repr, keys))}; {', '.join(map(repr, missing))} "
                    f"missing. Expected {form}.")
    return {key: read(given[_key(key)], f"The value of {key!r}") for key in keys}
