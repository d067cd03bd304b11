"""What every exercise checker shares: the verdict, the checker decorator, strict mode, answer readers.

A check is a function that works the right answer out itself, returns a confirmation when the student's
answer matches and raises :class:`_Hint` at the first thing wrong with it. :func:`_checker` turns it into
what the notebooks call: it prints the :class:`Feedback` and returns it, turns any other error into a hint
(a checker must never crash a student's notebook) and lets only ``NotImplementedError`` through, since
an unanswered exercise should stop "Run all". The readers below turn an answer into a number, a count or
a dict of numbers, or give a hint saying which form was expected.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

_strict = False


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


def _entries(
    answer: object, keys: tuple[str, ...], what: str, read: Callable[[object, str], float] = _number
) -> dict[str, float]:
    """A dict answer's numbers under ``keys`` (any letter case), or a hint showing the expected form."""
    form = "{" + ", ".join(f"'{key}': ..." for key in keys) + "}"
    if not isinstance(answer, Mapping):
        raise _Hint(f"Give {what} as a dict, {form}, so the numbers cannot get mixed up; "
                    f"you gave {_describe(answer)}.")
    given = {str(key).lower(): value for key, value in answer.items()}
    missing = [key for key in keys if key.lower() not in given]
    if missing:
        raise _Hint(f"The dict needs the keys {', '.join(map(repr, keys))}; {', '.join(map(repr, missing))} "
                    f"missing. Expected {form}.")
    return {key: read(given[key.lower()], f"The value of {key!r}") for key in keys}
