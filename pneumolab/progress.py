"""Progress bars that read right live and in a stored notebook.

``tqdm.auto`` draws a widget in a notebook. A stored notebook keeps that
widget's *first* text (``0%|          | 0/5840``) for every reader without a
kernel, a bar frozen at zero. :func:`progress` draws the same widget, but
under a display id, and replaces the stored text with the final state when the
bar closes: a finished bar ends at 100 %, a bar that hides itself when done
(``leave=False``) leaves nothing behind, and a bar cut short by an error keeps
showing where it stopped. Outside a notebook it is plain ``tqdm``.
"""

from __future__ import annotations

from tqdm import notebook
from tqdm.auto import tqdm


def in_notebook() -> bool:
    """True inside a Jupyter kernel (a notebook, nbconvert, nbval, Voila); False in scripts and tests."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class _StoredBar(notebook.tqdm):
    """The notebook widget bar, whose stored text follows it to the end."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, display=False, **kwargs)
        self._handle = None
        if not self.disable:
            from IPython.display import display

            self._handle = display(self.container, display_id=True)
            self.displayed = True

    def close(self) -> None:
        super().close()
        if self._handle is None:
            return
        handle, self._handle = self._handle, None
        unfinished = self.total is not None and self.n < self.total
        if self.leave or unfinished:
            handle.update(self.container)  # the widget again, its text now the final state
        else:
            handle.update({"text/plain": ""}, raw=True)


def progress(*args, **kwargs) -> tqdm:
    """A ``tqdm`` bar (same arguments) that a stored notebook shows in its final state."""
    if in_notebook():
        return _StoredBar(*args, **kwargs)
    return tqdm(*args, **kwargs)


def finish_early(bar: tqdm) -> None:
    """Close a bar whose work ended before its planned total (early stopping) at 100 % of what was done."""
    bar.total = bar.n
    if isinstance(bar, notebook.tqdm) and not bar.disable:
        bar.container.children[1].max = max(bar.n, 1)
    bar.close()
