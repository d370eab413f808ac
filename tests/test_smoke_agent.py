from articlechat.chain.agent import Agent


def test_answers_with_a_citation(agent: Agent) -> None:
    answer = agent.ask("Who did Kim Jong Un meet on the 25th of April?")
    assert answer.answered and "Putin" in answer.answer
    assert any(s.cited for s in answer.sources)
