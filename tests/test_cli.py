"""The `articlechat` command as a user runs it (subprocesses), and its error paths (Typer's runner, in-process)."""

import json
import re

import pytest
from typer.testing import CliRunner

from articlechat.cli import app
from articlechat.contract import Answer
from articlechat.ingest import BUNDLED_SOURCE, bundled_article
from conftest import check_citations, run_cli

SOURCE_KEYS = {"n": int, "text": str, "source": str, "title": str, "start": int, "end": int, "score": float,
               "cited": bool}
# The contract, plus the fields the generative backends add (which backend answered, and whether it fell back).
ANSWER_KEYS = {"answer": str, "answered": bool, "short_answer": str, "session_id": str, "sources": list, "backend": str,
               "fallback": bool, "exchange_id": int}


def invoke(*args: str) -> tuple[int, str]:
    """Run a command in-process (the data directory comes from the test's environment)."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_ask_json_contract_first_use_and_a_follow_up() -> None:
    result = run_cli("ask", "Who did Kim Jong Un meet in April?", "--json")
    assert result.returncode == 0, result.stderr
    first_use = [line for line in result.stderr.splitlines() if line.strip()]
    assert first_use == [f"First use: added the bundled article “{bundled_article().title}” by Lawrence White "
                         "to the store."]

    answer = json.loads(result.stdout)  # exactly one JSON object
    assert result.stdout.strip().count("\n") == 0
    assert {k: type(v) for k, v in answer.items()} == ANSWER_KEYS
    assert answer["answered"] is True and "Putin" in answer["answer"]
    assert len(answer["sources"]) == 4
    for n, source in enumerate(answer["sources"], start=1):
        assert {k: type(v) for k, v in source.items()} == SOURCE_KEYS
        assert source["n"] == n and source["source"] == BUNDLED_SOURCE
        assert bundled_article().text[source["start"] : source["end"]] == source["text"]
    scores = [s["score"] for s in answer["sources"]]
    assert scores == sorted(scores, reverse=True)
    check_citations(Answer.model_validate(answer))

    follow = run_cli("ask", "When did that happen?", "--session",
                         answer["session_id"])
    assert follow.returncode == 0, follow.stderr
    text, _, sources = follow.stdout.partition("\nSources:\n")
    assert "25th of april" in text.lower() and re.search(r"\[\d\]", text)
    assert re.search(r"^  \[\d\] Russia and North Korea talks .* \(chars \d+-\d+\)$", sources, re.MULTILINE)
    assert f"session: {answer['session_id']}" in follow.stderr and "First use" not in follow.stderr

    code, output = invoke("sessions")
    assert code == 0
    assert re.search(rf"^{re.escape(answer['session_id'])} .* 2 turns +all documents +Who did Kim Jong Un meet",
                     output, re.MULTILINE)
    code, output = invoke("sessions", "--json")
    assert [(s["id"], s["messages"], s["doc"]) for s in json.loads(output)] == [(answer["session_id"], 4, None)]


@pytest.mark.usefixtures("seeded_data_dir")
def test_an_empty_question_is_an_input_error() -> None:
    result = run_cli("ask", "  \t ", "--json")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: The question is empty." and not result.stdout


@pytest.mark.usefixtures("seeded_data_dir")
def test_error_paths_exit_with_clear_messages() -> None:
    code, output = invoke("ask", "x" * 1001)
    assert code == 2 and "the limit is 1,000 (ARTICLECHAT_MAX_QUESTION_CHARS)" in output
    code, output = invoke("ask", "Who did Kim meet?", "--session", "not-a-real-session")
    assert code == 1 and output.strip() == "error: Unknown session 'not-a-real-session'."
    code, output = invoke("ask", "Who did Kim meet?", "--doc", "other.txt")
    assert code == 1 and "No document 'other.txt'" in output
    code, output = invoke("remove", "other.txt")
    assert code == 1 and "No document 'other.txt'" in output
    code, output = invoke("documents")
    assert code == 0 and re.fullmatch(
        rf"{BUNDLED_SOURCE}\n    Russia and North Korea talks are just a diplomatic spectacle · by Lawrence White"
        r" · \d+ passages · 4,406 chars · ingested \S+\n", output)

    code, output = invoke("ask", "Who did Kim meet?", "--doc", BUNDLED_SOURCE, "--json")
    session = json.loads(output)["session_id"]
    code, output = invoke("ask", "Who did Putin meet?", "--session", session, "--json")
    assert code == 0 and json.loads(output)["session_id"] == session  # the session keeps its scope
    code, output = invoke("ask", "Who did Putin meet?", "--session", session, "--doc", "elsewhere.txt")
    assert code == 1 and "No document 'elsewhere.txt'" in output
    code, output = invoke("ask", "Again?", "--session", json.loads(invoke("ask", "Who met?", "--json")[1])[
        "session_id"], "--doc", BUNDLED_SOURCE)
    assert code == 2 and "is scoped to all documents" in output and "start a new session" in output
    code, output = invoke("ask", "Hi?", "--llm", "gpt-9")
    assert code == 2 and "ARTICLECHAT_LLM" in output


@pytest.mark.usefixtures("seeded_data_dir")
def test_chat_reads_questions_and_commands_from_stdin() -> None:
    script = "\n".join([
        "/sources",
        "Who did Kim Jong Un meet in April?",
        "/sources",
        "When did that happen?",
        "/new",
        "When did that happen?",
        "",
        "What is the GDP of South Korea?",
        "/quit",
        "Who did Kim Jong Un meet in April?",
    ]) + "\n"
    result = run_cli("chat", stdin=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("A new conversation.\nAsk about the article. Commands: /new  /sources  /session  /help  "
                          "/quit\n")
    replies = [line.split("articlechat> ", 1)[1] for line in out.splitlines() if "articlechat> " in line]
    assert len(replies) == 4  # nothing after /quit
    assert "Putin" in replies[0] and "[1]" in replies[0]
    assert "25th of april" in replies[1].lower()
    assert "(new conversation)" in out
    assert replies[3].startswith("The article doesn't say")
    assert out.count("(no answer yet)") == 1
    listed = re.findall(r"^(?:you> )?(\*| )\[(\d)\] Russia and North Korea talks .* score=\d\.\d\d$", out, re.MULTILINE)
    assert [n for _, n in listed] == ["1", "2", "3", "4"] and ("*", "1") in listed

    sessions = json.loads(run_cli("sessions", "--json").stdout)
    assert [s["messages"] for s in sessions] == [4, 4]
