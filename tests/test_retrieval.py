"""Retrieval: the nearest passages reordered by a lexical ranking (rank fusion), on a real store."""

from __future__ import annotations

from articlechat.chain.agent import Agent
from articlechat.chain.retrieval import SHORTLIST, fuse
from articlechat.ingest import BUNDLED_SOURCE
from articlechat.language import profile_for
from articlechat.store import Hit

EN = profile_for("en")


def hits(*texts: str) -> list[Hit]:
    return [Hit(f"c{i}", text, {}, 1.0 - i / 10) for i, text in enumerate(texts)]


def test_a_passage_that_says_the_rare_words_of_the_question_rises() -> None:
    nearest = hits("The leaders met for talks.", "The talks were cordial.", "The summit in Vladivostok ended.",
                   "Talks resumed later.")
    fused = fuse(nearest, "What happened at the Vladivostok summit?", EN)
    assert [h.id for h in fused] == ["c0", "c2", "c1", "c3"]  # nearest first still: ranks are fused, not replaced
    assert sorted(h.id for h in fused) == sorted(h.id for h in nearest)  # reordered, nothing lost or added


def test_without_shared_words_the_nearest_order_stays() -> None:
    nearest = hits("Russia has a permanent seat.", "Sanctions were imposed.", "Trade is limited.")
    assert fuse(nearest, "Why could Moscow help?", EN) == nearest
    assert fuse(nearest, "???", EN) == nearest  # no words at all
    assert fuse([], "Who met Putin?", EN) == []


def test_the_retriever_keeps_its_candidates_from_a_wider_shortlist(agent: Agent) -> None:
    retriever = agent.retriever
    assert retriever.candidates < SHORTLIST
    retrieval = retriever.retrieve("Where were the illegal fuel transfers said to take place?", None, BUNDLED_SOURCE)
    assert 0 < len(retrieval.passages) <= retriever.candidates
    assert len({p.start for p in retrieval.passages}) == len(retrieval.passages)
    assert any("at sea" in p.text for p in retrieval.passages[:2])
