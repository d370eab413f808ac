"""The helper for tests that need a real server or browser (a program on PATH or a path): skipped where it is
missing, failed under CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from servers import required_program

MISSING = "no-such-server-program"


def test_a_program_on_path_is_found() -> None:
    assert required_program("sh", "dash").name == "sh"


def test_a_missing_program_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install some-package"):
        required_program(MISSING, "some-package")


def test_a_missing_program_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        required_program(MISSING, "some-package")


def test_a_program_given_by_path_is_found_and_a_missing_path_names_its_package(monkeypatch: pytest.MonkeyPatch,
                                                                                tmp_path: Path) -> None:
    assert required_program("/bin/sh", "dash") == Path("/bin/sh")
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match=r"no-initdb is not installed \(apt-get install postgresql"):
        required_program(str(tmp_path / "no-initdb"), "postgresql")
