import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pneumolab import config  # noqa: E402
from pneumolab.viz import figures


def test_quick_runs_never_replace_the_course_figures(monkeypatch, tmp_path):
    monkeypatch.setenv("PNEUMOLAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PNEUMOLAB_QUICK", "1")
    figure = plt.figure()
    path = figures.save_figure(figure, "99_probe")
    plt.close(figure)
    assert path == tmp_path / "runs" / "quick-figures" / "99_probe.png"
    assert path.stat().st_size > 0
    assert not (config.repository_root() / "figures" / "99_probe.png").exists()


def test_full_course_figures_go_to_the_checkout(monkeypatch):
    monkeypatch.setenv("PNEUMOLAB_QUICK", "0")
    assert figures.figures_dir() == config.repository_root() / "figures"


def test_films_are_shown_as_jpeg_and_plots_as_png():
    films, films_axes = plt.subplots()
    films_axes.imshow(np.random.default_rng(0).random((32, 32)), cmap="gray")
    plot, plot_axes = plt.subplots()
    plot_axes.plot([0, 1], [1, 0])
    matrix, matrix_axes = plt.subplots()
    matrix_axes.imshow(np.eye(3), cmap="Blues")  # a confusion matrix drawn as an image
    shown = {name: figures.rendered(figure)
             for name, figure in (("films", films), ("plot", plot), ("matrix", matrix))}
    plt.close("all")
    assert shown["matrix"].format == "png"
    assert shown["films"].format == "jpeg" and shown["films"].data[:3] == b"\xff\xd8\xff"
    assert shown["plot"].format == "png" and shown["plot"].data[:8] == b"\x89PNG\r\n\x1a\n"


def test_outside_a_notebook_saving_shows_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PNEUMOLAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PNEUMOLAB_QUICK", "1")
    figure = plt.figure()
    figures.save_figure(figure, "99_probe")
    assert not figures.in_notebook()
    assert plt.fignum_exists(figure.number), "only a notebook display closes the figure"
    plt.close(figure)
    assert capsys.readouterr().out == ""

