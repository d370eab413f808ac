"""Loading and cleaning .txt, .md and .html files; chunk and sentence offsets into the cleaned text."""

from pathlib import Path

import pytest

from articlechat.errors import InvalidInput
from articlechat.ingest import bundled_article
from articlechat.ingest.load import clean_text, load_file, parse_document, read_text_file
from articlechat.ingest.split import chunk_id, chunk_spans, sentence_spans

HARBOUR_PAGE = """Skip to content
Menu
top of page
  \u2022 Maria Gonzalez

Harbour cranes return to the old port

The city council voted on Tuesday to restore the three historic cranes. Work starts in May.
Advertisement

Share this article
The cost is estimated at 2.4 million euros, paid by a heritage fund. Readers can find the plans at the top of the page
of the council's website.

Back to top
bottom of page
"""
BOILERPLATE = ("Skip to content", "Menu", "top of page", "bottom of page", "Advertisement", "Share this article",
               "Back to top", "\u2022")


def test_boilerplate_lines_are_dropped_by_general_rules() -> None:
    text, title, author = clean_text(HARBOUR_PAGE)
    lines = text.split("\n")
    assert not [line for line in lines if line.strip() in BOILERPLATE]
    assert "\u2022" not in text
    assert title == "Harbour cranes return to the old port"
    assert author == "Maria Gonzalez"
    assert text.startswith("By Maria Gonzalez\n\nHarbour cranes return to the old port\n\n")
    # A phrase inside a sentence is not boilerplate, and lines of one paragraph are joined.
    assert "Readers can find the plans at the top of the page of the council's website." in text
    assert "Work starts in May." in text


def test_by_line_gives_the_author_without_by() -> None:
    text, title, author = clean_text("\ufeffBy Jane Doe\r\n\r\nA quiet title\r\n\r\nSome body text here.\r\n")
    assert author == "Jane Doe"
    assert title == "A quiet title"
    assert text == "By Jane Doe\n\nA quiet title\n\nSome body text here."


def test_markdown_keeps_words_not_markup() -> None:
    doc = parse_document("# Bees in *winter*\n\nSome **bold** and _italic_ text with a [link](http://example.com/x),"
                         " 2 * 3 and snake_case.\n\n```\ncode fence\n```\n\n## Section\n\n> A quote.\n"
                         "> Still quoted.\n\n- first item\n- second item\n\n---\n\nThe end.", "markdown", "bees.md")
    assert doc.title == "Bees in winter"
    assert doc.text.split("\n\n") == [
        "Bees in winter", "Some bold and italic text with a link, 2 * 3 and snake_case.", "code fence", "Section",
        "A quote. Still quoted.", "first item", "second item", "The end."]


def test_bundled_article_has_title_author_and_clean_text() -> None:
    doc = bundled_article()
    assert doc.title == "Russia and North Korea talks are just a diplomatic spectacle"
    assert doc.author == "Lawrence White"
    assert doc.text.startswith("By Lawrence White\n\nRussia and North Korea talks are just a diplomatic spectacle\n\n"
                               "On the 25th of April")
    assert doc.text.endswith("little real influence over the Korean peninsula.")
    assert "top of page" not in doc.text and "bottom of page" not in doc.text and "\u2022" not in doc.text


@pytest.mark.parametrize(("size", "overlap"), [(600, 100), (150, 40), (100, 0), (200, 2000)])
def test_chunks_and_sentences_are_exact_slices_of_the_cleaned_text(size: int, overlap: int) -> None:
    repeated = "The same sentence again. " * 30
    for text in (bundled_article().text, clean_text(HARBOUR_PAGE)[0], f"{repeated}\n\n{repeated}\n\nEnd."):
        chunks = chunk_spans(text, size, overlap)
        assert chunks and all(text[c.start : c.end] == c.text for c in chunks)
        covered = set().union(*(range(c.start, c.end) for c in chunks))
        assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
        sentences = sentence_spans(text)
        assert all(text[s.start : s.end] == s.text for s in sentences)


def test_sentences_do_not_break_at_abbreviations() -> None:
    text = "Mr. Smith met Dr. Jones in St. Louis on Jan. 5. They talked! Did it help? Yes."
    assert [s.text for s in sentence_spans(text)] == [
        "Mr. Smith met Dr. Jones in St. Louis on Jan. 5.", "They talked!", "Did it help?", "Yes."]


def test_chunk_ids_are_stable_and_depend_on_source_and_content() -> None:
    text = bundled_article().text
    first, again = chunk_spans(text, 600, 100), chunk_spans(text, 600, 100)
    ids = [chunk_id("a.txt", c) for c in first]
    assert ids == [chunk_id("a.txt", c) for c in again]
    assert len(set(ids)) == len(ids)
    assert not set(ids) & {chunk_id("b.txt", c) for c in first}


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.txt", b"", "the file is empty"),
    ("blank.md", b"  \n\n \t\n", "the file is empty"),
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("latin1.txt", "Caf\u00e9 cr\u00e8me".encode("latin-1"), "not UTF-8"),
    ("report.pdf", b"%PDF-1.7", "unsupported file type '.pdf'"),
])
def test_bad_files_raise_a_clear_message(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message) as err:
        read_text_file(path, 1_000_000)
    assert str(path) in str(err.value)


def test_missing_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        read_text_file(tmp_path / "missing.txt", 1000)
    big = tmp_path / "big.txt"
    big.write_text("word " * 400)
    with pytest.raises(InvalidInput, match="over the limit"):
        read_text_file(big, 1000)


def test_utf8_bom_and_sidecar_metadata(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes("\ufeffA note\n\nIt says something useful.".encode())
    (tmp_path / "note.json").write_text('{"title": "Sidecar title", "author": "Sam Lee"}')
    doc = load_file(path, 10_000)
    assert (doc.id, doc.title, doc.author) == ("note", "Sidecar title", "Sam Lee")
    assert doc.text == "A note\n\nIt says something useful."
