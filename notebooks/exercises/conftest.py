"""pytest: nbval runs the exercise SOLUTIONS (solutions/), never the student copies in this folder.

A student copy stops at its first ``raise NotImplementedError()`` by design, so nbval would fail on
it. ``tests/test_exercises_notebooks.py`` checks the copies instead: that they are generated from the
solutions and that they run up to their first exercise. ``collect_ignore`` names files in this folder
only (a glob here would also match ``solutions/``, since pytest's ``*`` crosses folders).
"""

from pathlib import Path

collect_ignore = sorted(path.name for path in Path(__file__).parent.glob("*.ipynb"))
