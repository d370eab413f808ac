"""The CLI as publishers and editors use it: `report`, `chat` (/help, its checks before the first prompt, the session
id), readable help and `--version`; each command run in its own process on the test's data directory."""

from __future__ import annotations

import re
from pathlib import Path

from articlechat import __version__
from articlechat.config import load_settings
from articlechat.history import SessionStore
from articlechat.ingest import BUNDLED_SOURCE
from articlechat.report import Report
from conftest import run_cli


def test_report_json_and_text(data_dir: Path) -> None:
    sessions = SessionStore(load_settings(data_dir=data_dir).sessions_path)
    for question, answered in (("Who wrote the article?", True), ("who wrote the article", True),
                               ("What is the GDP of North Korea?", False)):
        session = sessions.new(BUNDLED_SOURCE)
        exchange = sessions.add_exchange(session, question, "An answer [1]" if answered else "No.", answered, [])
        sessions.set_feedback(session.id, exchange, answered)
    result = run_cli("report", "--json")
    assert result.returncode == 0, result.stderr
    report = Report.model_validate_json(result.stdout)
    assert (report.questions, report.answered, report.declined) == (3, 2, 1)
    (doc,) = report.documents
    assert doc.doc == BUNDLED_SOURCE and doc.most_asked[0].asked == 2
    assert [g.question for g in doc.content_gaps] == ["What is the GDP of North Korea?"]
    assert [u.question for u in doc.unhelpful] == ["What is the GDP of North Korea?"]

    later = run_cli("report", "--json", "--doc", BUNDLED_SOURCE, "--since", "2999-01-01")
    assert later.returncode == 0 and Report.model_validate_json(later.stdout).questions == 0
    text = run_cli("report").stdout
    assert text.startswith("3 questions: 2 answered, 1 declined; feedback 2 up, 1 down")
    assert "   2x  Who wrote the article?" in text
    bad = run_cli("report", "--since", "last week")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr and "Traceback" not in bad.stderr


def test_chat_checks_doc_and_session_before_the_first_prompt(seeded_data_dir: Path) -> None:
    unknown_doc = run_cli("chat", "--doc", "/tmp/city-bikes.md", stdin="Who wrote it?\n")
    assert unknown_doc.returncode == 1 and "you>" not in unknown_doc.stdout
    assert "No document '/tmp/city-bikes.md'" in unknown_doc.stderr
    unknown_session = run_cli("chat", "--session", "no-such-session-0000", stdin="Who wrote it?\n")
    assert unknown_session.returncode == 1 and "you>" not in unknown_session.stdout
    assert "Unknown session 'no-such-session-0000'" in unknown_session.stderr


def test_chat_help_and_the_session_id(seeded_data_dir: Path) -> None:
    first = run_cli("chat", "--doc", BUNDLED_SOURCE, stdin="/help\n/session\nWho wrote the article?\n/session\n"
                                                          "/nonsense\n/quit\n")
    assert first.returncode == 0, first.stderr
    assert "/sources   the passages behind the last answer" in first.stdout
    assert "(no session yet: it starts with the first answer)" in first.stdout
    assert "Lawrence White" in first.stdout
    session = re.search(r"\(session (\S+): continue it with --session \1\)", first.stdout)
    assert session, first.stdout
    assert f"you> {session.group(1)}\n" in first.stdout  # /session
    assert "Unknown command /nonsense; /help lists the commands." in first.stderr
    assert f"session: {session.group(1)}" in first.stderr

    again = run_cli("chat", "--doc", BUNDLED_SOURCE, "--session", session.group(1), stdin="/quit\n")
    assert again.returncode == 0 and f"Continuing session {session.group(1)}." in again.stdout
    other_scope = run_cli("chat", "--session", session.group(1), "--doc", "no-such-doc", stdin="/quit\n")
    assert other_scope.returncode == 1 and "No document 'no-such-doc'" in other_scope.stderr


def test_help_reads_well_and_version() -> None:
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout == f"articlechat {__version__}\n"
    for command, shown in (("chat", ["--session SESSION_ID", "--doc ID", "--llm BACKEND"]),
                           ("report", ["--doc ID", "--since DATE", "--json "]),
                           ("serve", ["--host HOST", "--port PORT", "--workers N"]),
                           ("ingest", ["--id ID", "--title TITLE", "--author NAME", "--date YYYY-MM-DD"])):
        text = run_cli(command, "--help").stdout
        for option in shown:
            assert option in text, (command, option, text)
        assert "TEXT" not in text and "INTEGER" not in text and "<bool>" not in text, text
