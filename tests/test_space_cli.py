"""space/push.py's command line on bad input: one line on stderr, exit 2, nothing pushed or
written (no Hub server in this module: HF_ENDPOINT is a closed port, see tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.test_space import push


@pytest.mark.parametrize("bad", ["no-slash", "a/b/c", "../etc", "org/na me", ""])
def test_a_malformed_space_name_is_one_line_and_exit_2(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        push.main([bad] if bad else [])
    assert exit_info.value.code == 2
    assert "give the Space as ORG/NAME" in capsys.readouterr().err


def test_an_unreachable_hub_is_one_line_and_nothing_is_pushed(capsys):
    """No hub_server here: HF_ENDPOINT points at a closed port (tests/conftest.py)."""
    assert push.main(["tester/zoo-demo"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the Hub at http://127.0.0.1:") and len(err.splitlines()) == 1


def test_staging_into_a_non_empty_directory_is_one_line(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert push.main(["--stage", str(tmp_path)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
