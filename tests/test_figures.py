import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pneumolab import config, figures  # noqa: E402


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
    monkeypatch.delenv("PNEUMOLAB_QUICK", raising=False)
    assert figures.figures_dir() == config.repository_root() / "figures"
