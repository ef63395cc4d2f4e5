"""Pure pieces of the Discord adapter: text splitting at 2,000, conversation keys, progress labels, thread names."""

from __future__ import annotations

import pytest

from audiogpt.bots.discord.adapter import thread_name
from audiogpt.bots.discord.payloads import Place, parse_key
from audiogpt.bots.discord.posting import MESSAGE_LIMIT
from audiogpt.core.events import Progress
from audiogpt.core.gate import progress_label as label_of
from audiogpt.core.text_split import split_text as _split


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The shared splitter at Discord's limit."""
    return _split(text, limit)


def test_short_text_is_one_chunk() -> None:
    assert split_text("  hello  ") == ["hello"]
    assert split_text("") == []


def test_split_keeps_words_whole_and_prefers_paragraphs() -> None:
    para = " ".join(["alpha"] * 150)  # 899 chars
    text = "\n\n".join([para, para, para])
    chunks = split_text(text)
    assert all(len(c) <= 2000 for c in chunks)
    assert chunks == [para + "\n\n" + para, para]
    words = " ".join(["supercalifragilistic"] * 300)
    chunks = split_text(words, limit=100)
    assert all(len(c) <= 100 for c in chunks)
    assert " ".join(chunks).split() == words.split()


def test_a_single_overlong_word_is_cut_hard() -> None:
    chunks = split_text("x" * 4500)
    assert [len(c) for c in chunks] == [2000, 2000, 500]


def test_code_block_cut_in_two_is_closed_and_reopened() -> None:
    code = "\n".join(f"    line_{i} = {i}" for i in range(200))  # ~3.6k chars of indented code
    text = f"Here:\n```python\n{code}\n```\nDone."
    chunks = split_text(text)
    assert len(chunks) >= 2 and all(len(c) <= 2000 for c in chunks)
    assert all(c.count("```") % 2 == 0 for c in chunks)
    assert chunks[1].startswith("```python\n")
    body = "".join(c.replace("```python\n", "").replace("\n```", "\n") for c in chunks)
    for i in range(200):
        assert f"    line_{i} = {i}" in body  # indentation survives the cut


def test_code_block_that_fits_moves_to_the_next_message_whole() -> None:
    prose = " ".join(["word"] * 300)  # 1499 chars
    code = "```\n" + "\n".join(["print(1)"] * 60) + "\n```"  # ~545 chars
    chunks = split_text(prose + "\n" + code)
    assert chunks == [prose, code]


def test_keys_round_trip() -> None:
    assert parse_key("discord:thread:123") == Place("thread", 123)
    assert parse_key("discord:dm:5:2") == Place("dm", 5, 2)
    assert Place("channel", 7, 3).key == "discord:channel:7:3" and Place("channel", 7, 3).epoch_scope == "discord:channel:7"
    with pytest.raises(ValueError):
        parse_key("slack:T1:C1")


def test_progress_labels() -> None:
    ev = Progress("k", 1, "speech_recognition", "step", "transcribing", fraction=0.4)
    assert label_of(ev) == "transcribing… 40%"
    assert label_of(Progress("k", 1, "text_to_audio", "started", "running text_to_audio")) == "generating audio…"
    assert label_of(Progress("k", 1, "text_to_audio", "step", "generating 8 s of audio")) == "generating 8 s of audio…"
    assert label_of(Progress("k", 1, "text_to_audio", "failed", "boom")) == "generating audio failed"


def test_thread_names() -> None:
    assert thread_name("  what is this sound?\nmore") == "what is this sound?"
    assert thread_name("") == "AudioGPT"
    assert len(thread_name("x" * 300)) <= 100


def test_files_over_the_upload_limit_are_reencoded_or_explained(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from audiogpt.bots.discord.posting import _prepare
    from audiogpt.core.events import ArtifactOut, Outgoing
    from tests.helpers import tone_wav

    png = tmp_path / "big.png"
    png.write_bytes(b"\x89PNG" + b"\0" * 5000)
    wav = tmp_path / "speech.wav"
    wav.write_bytes(tone_wav(5.0))  # 160 kB
    out = Outgoing("discord:dm:1", "here", artifacts=(
        ArtifactOut("a1", str(png), "image/png", "image", name="big.png", size=5004),
        ArtifactOut("a2", str(wav), "audio/wav", "audio", name="speech.wav", duration=5.0, size=160044),
    ))
    prepared = _prepare(out, upload_limit=4000)
    assert prepared.files == [] and prepared.voice is None
    assert prepared.notes[0] == "a1 (4.9 KB) is larger than this server's upload limit (3.9 KB), so I could not attach it"
    assert prepared.notes[1].startswith("a2 is too large to upload here")
    prepared = _prepare(out, upload_limit=60_000)
    assert [f.filename for f in prepared.files] == ["a1-big.png", "a2-speech.mp3"] and not prepared.notes


def test_only_the_code_block_left_open_moves() -> None:
    small = "```\nshort()\n```"
    prose = " ".join(["word"] * 200)  # 999 chars
    big = "```py\n" + "\n".join(["x = 1"] * 200) + "\n```"  # 1.2k chars
    chunks = split_text(f"{small}\n{prose}\n{big}")
    assert chunks == [f"{small}\n{prose}", big]
