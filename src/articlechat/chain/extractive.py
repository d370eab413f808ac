"""The offline answerer: quote the sentences of the retrieved passages that best answer the question."""

from __future__ import annotations

from articlechat.chain.grounding import Evidence

SECOND_SENTENCE_RATIO = 0.92


def extract_answer(evidence: list[Evidence]) -> tuple[str, set[int]]:
    """The best sentence (and a close runner-up), each cited as [n]; returns (text, cited passage numbers)."""
    chosen = evidence[:1]
    if len(evidence) > 1 and evidence[1].score >= SECOND_SENTENCE_RATIO * evidence[0].score:
        chosen.append(evidence[1])
    chosen.sort(key=lambda e: (e.passage.source, e.sentence.start))
    text = " ".join(f"{e.sentence.text.strip()} [{e.passage.n}]" for e in chosen)
    return text, {e.passage.n for e in chosen}
