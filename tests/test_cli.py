import json

import pytest

from pneumolab import cli


def test_info_json_reports_the_published_counts(real_data, capsys):
    assert cli.main(["info", "--data", str(real_data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"]["train"] == {"NORMAL": 1341, "PNEUMONIA": 3875}
    assert report["splits"]["test"] == {"NORMAL": 234, "PNEUMONIA": 390}
    assert report["patients"]["train"] > 2000
    assert report["duplicates"]["groups"] == 30
    assert report["causes"]["test"] == {"bacteria": 242, "normal": 234, "virus": 148}


def test_info_table_is_readable(real_data, capsys):
    assert cli.main(["info", "--data", str(real_data)]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "1341" in out and "3875" in out


def test_missing_data_is_one_line_not_a_traceback(tmp_path, capsys):
    assert cli.main(["info", "--data", str(tmp_path / "absent")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "pneumolab download" in err


def test_json_means_the_same_in_every_subcommand(tiny_xrays, tmp_path, capsys):
    """--json alone: JSON instead of the text; --json PATH: the file written and the text printed."""
    assert cli.main(["info", "--data", str(tiny_xrays), "--fast", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert cli.main(["info", "--data", str(tiny_xrays), "--fast", "--json", str(tmp_path / "info.json")]) == 0
    assert json.loads((tmp_path / "info.json").read_text()) == printed
    assert "NORMAL" in capsys.readouterr().out, "the table is printed as well"
    for command in (["info"], ["evaluate"], ["predict", "a.png"]):
        assert cli.build_parser().parse_args([*command, "--json"]).json == "-"


@pytest.mark.parametrize("args", [["predict", "--json", "a.png", "b.png"], ["evaluate", "--json", "out.txt"]])
def test_a_json_path_must_end_in_json_so_no_image_is_overwritten(args, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(args)
    assert stop.value.code == 2
    assert "does not end in .json" in capsys.readouterr().err
