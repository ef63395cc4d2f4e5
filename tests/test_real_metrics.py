"""The bench's scoring helpers: numbers spoken as words, content-word recall, CER, the hierarchy."""

from __future__ import annotations

from audiogpt.models.sound.ontology import ancestors, siblings, specific_first
from audiogpt.models.speech.metrics import cer, content_recall, normalize_spoken, wer_spoken


def test_numbers_are_spoken_on_both_sides() -> None:
    assert normalize_spoken("In 1995, the 15th century") == ["in", "nineteen", "ninety", "five", "the",
                                                             "fifteenth", "century"]
    assert wer_spoken("twenty one people in nineteen ninety five", "21 people in 1995") == 0.0
    assert normalize_spoken("3.5%") == ["three", "point", "five", "percent"]


def test_content_recall_and_cer() -> None:
    assert content_recall("poor guy, it should have been me", "the poor guy, it should be me") == 1.0
    assert content_recall("analysis by the agency association", "the agency") == 1 / 3
    assert cer("搬起石头砸自己的脚", "搬起石头砸自己的脚") == 0.0


def test_leaves_rank_above_parents() -> None:
    ranked = specific_first([("Animal", 0.95), ("Domestic animals, pets", 0.9), ("Dog", 0.6), ("Rain", 0.7)])
    assert [lab for lab, _s in ranked] == ["Dog", "Domestic animals, pets", "Animal", "Rain"]
    assert "Vehicle" in ancestors("Toot") and "Car alarm" in siblings("Vehicle horn, car horn, honking")
