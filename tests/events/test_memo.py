"""piazza/events/memo.py: remembered texts, bounded by the characters they hold."""

from __future__ import annotations

from piazza.events.memo import TextMemo


def test_the_memo_remembers_and_stays_within_its_characters() -> None:
    calls: list[str] = []

    def upper(text: str) -> str:
        calls.append(text)
        return text.upper()

    memo: TextMemo[str, str] = TextMemo(upper, max_chars=1600)
    assert memo.get("a", 10) == "A" and memo.get("a", 10) == "A"
    assert calls == ["a"]
    for n in range(400):
        memo.get(f"text {n}", 10)
    # Full at 160 entries of 10 characters: it started over, never holding more.
    assert 0 < len(memo) <= 160
    memo.get("huge", 1000)  # beyond a sixteenth of the bound: computed, not kept
    memo.get("huge", 1000)
    assert calls.count("huge") == 2
