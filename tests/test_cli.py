import json

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
