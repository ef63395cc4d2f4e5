"""The tool catalogue: the 17 tasks the LLM can call, with their argument models.

Tool names and argument names are a public contract (the CLI, eval suites and
other deployments depend on them). Artifact arguments take conversation-local
artifact ids such as ``a3``; they are marked with ``artifact_field`` so core
can resolve and type-check them before a backend sees anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ArtifactKind = Literal["audio", "image", "video", "text"]
ARTIFACT_ID_PATTERN = r"^a[1-9][0-9]*$"


def artifact_field(kind: ArtifactKind, description: str, *, optional: bool = False) -> Any:
    """A pydantic field holding an artifact id of ``kind``."""
    extra = {"artifact": kind}
    if optional:
        return Field(default=None, description=description, json_schema_extra=extra)
    return Field(description=description, json_schema_extra=extra)


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @classmethod
    def artifact_fields(cls) -> list[tuple[str, ArtifactKind, bool]]:
        """``(name, kind, required)`` of every artifact argument, in declared order."""
        out: list[tuple[str, ArtifactKind, bool]] = []
        for name, f in cls.model_fields.items():
            extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
            kind = extra.get("artifact")
            if kind:
                out.append((name, kind, f.is_required()))  # type: ignore[arg-type]
        return out


# --- argument models ----------------------------------------------------------------


class SpeechRecognitionArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the speech recording, e.g. a1.")
    language: str | None = Field(None, description="Spoken language code (en, de, ...); omit to detect.")


class SpeechTranslationArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the speech recording.")
    target_language: str = Field(description="Language to translate into, as a code (es) or name (Spanish).")
    speak: bool = Field(False, description="Also speak the translation aloud as audio.")


class TextToSpeechArgs(ToolArgs):
    text: str = Field(min_length=1, max_length=5000, description="The exact text to speak.")
    voice: str | None = Field(None, description="Voice name; omit for the default voice.")
    language: str | None = Field(None, description="Language code of the text; omit for English.")


class StyleTransferArgs(ToolArgs):
    text: str = Field(min_length=1, max_length=5000, description="The text to speak.")
    reference: str = artifact_field("audio", "Artifact id of a voice clip whose voice/style to imitate.")


class SpeechEnhancementArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the noisy speech recording.")


class SpeechSeparationArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the recording with several overlapping speakers.")
    speakers: int | None = Field(None, ge=2, le=8, description="Number of speakers, if known.")


class MonoToBinauralArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the mono recording.")
    azimuth: float | None = Field(None, ge=-180, le=180, description="Source direction in degrees (0 front, 90 right, -90 left).")
    elevation: float | None = Field(None, ge=-90, le=90, description="Source elevation in degrees.")
    motion: str | None = Field(None, description="Movement, e.g. 'left to right' or 'circle'.")


class AudioInpaintingArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the recording with a gap or damage.")
    start: float | None = Field(None, ge=0, description="Start of the region to fill, in seconds; omit to find gaps.")
    end: float | None = Field(None, ge=0, description="End of the region to fill, in seconds.")


class SoundExtractionArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the mixture.")
    query: str = Field(min_length=1, description="The sound to pull out, in words, e.g. 'the dog barking'.")


class TargetSoundDetectionArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the recording to search.")
    query: str = Field(min_length=1, description="The sound to find, in words, e.g. 'a siren'.")


class SoundDetectionArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the recording to tag.")


class TalkingHeadArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the speech that drives the face.")
    image: str | None = artifact_field("image", "Artifact id of a portrait image; omit for a default face.", optional=True)


class TextToAudioArgs(ToolArgs):
    text: str = Field(min_length=1, description="Description of the sound to generate, e.g. 'rain on a tin roof'.")
    seconds: float | None = Field(None, gt=0, le=60, description="Length in seconds.")


class ImageToAudioArgs(ToolArgs):
    image: str = artifact_field("image", "Artifact id of the image to make a sound for.")
    seconds: float | None = Field(None, gt=0, le=60, description="Length in seconds.")


class AudioToTextArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the sound to describe.")


class SingingSynthesisArgs(ToolArgs):
    lyrics: str = Field(min_length=1, description="Words to sing.")
    notes: str | None = Field(None, description="Melody as note names, e.g. 'C4 D4 E4', one per syllable.")
    tempo: float | None = Field(None, gt=20, le=300, description="Beats per minute.")


class TextToMusicArgs(ToolArgs):
    text: str = Field(min_length=1, description="Description of the music, e.g. 'calm lo-fi piano'.")
    seconds: float | None = Field(None, gt=0, le=120, description="Length in seconds.")


# --- the catalogue ----------------------------------------------------------------------


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str  # one paragraph, written for the LLM
    args: type[ToolArgs]
    produces: tuple[ArtifactKind, ...] = ()  # kinds of artifacts it makes (for dry runs)

    def json_schema(self) -> dict[str, Any]:
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        return schema

    def openai_schema(self, availability: str = "") -> dict[str, Any]:
        desc = self.description + (f" {availability}" if availability else "")
        return {
            "type": "function",
            "function": {"name": self.name, "description": desc, "parameters": self.json_schema()},
        }


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "speech_recognition",
        "Transcribe speech in an audio recording or voice message into text (speech to text, "
        "dictation, 'what does it say'). Returns the transcript with timed segments.",
        SpeechRecognitionArgs,
    ),
    ToolSpec(
        "speech_translation",
        "Translate what is said in a speech recording into another language (speech to translated "
        "text, optionally spoken aloud). Use for 'translate this voice note into Spanish'.",
        SpeechTranslationArgs,
        ("audio",),
    ),
    ToolSpec(
        "text_to_speech",
        "Read a given text aloud: synthesise natural speech from text (say, read out, pronounce, "
        "voice over). Returns an audio file.",
        TextToSpeechArgs,
        ("audio",),
    ),
    ToolSpec(
        "style_transfer",
        "Speak a text in the voice or speaking style of a reference recording (voice cloning, "
        "'say this in my voice', 'make it sound like this speaker').",
        StyleTransferArgs,
        ("audio",),
    ),
    ToolSpec(
        "speech_enhancement",
        "Clean up a speech recording: remove background noise, hiss, hum and reverberation so "
        "the voice is clearer (denoise, enhance).",
        SpeechEnhancementArgs,
        ("audio",),
    ),
    ToolSpec(
        "speech_separation",
        "Split a recording where several people talk at once into one track per speaker "
        "(separate voices, isolate each speaker).",
        SpeechSeparationArgs,
        ("audio",),
    ),
    ToolSpec(
        "mono_to_binaural",
        "Turn a mono recording into binaural 3D stereo for headphones, placing the sound at a "
        "direction or moving it around the listener (spatial audio).",
        MonoToBinauralArgs,
        ("audio",),
    ),
    ToolSpec(
        "audio_inpainting",
        "Repair a recording by filling in a missing, silent or damaged section with plausible "
        "audio (fill the gap, restore dropouts) between start and end seconds, or find gaps itself.",
        AudioInpaintingArgs,
        ("audio",),
    ),
    ToolSpec(
        "sound_extraction",
        "Extract one described sound from a mixture into its own audio file (isolate the dog "
        "barking, pull out the guitar, remove everything except the siren).",
        SoundExtractionArgs,
        ("audio",),
    ),
    ToolSpec(
        "target_sound_detection",
        "Find when a described sound occurs in a recording: returns the time segments where "
        "the queried sound (e.g. 'a door slams') is heard.",
        TargetSoundDetectionArgs,
    ),
    ToolSpec(
        "sound_detection",
        "Detect and tag all sound events in a recording over time (what sounds are in this clip "
        "and when: speech, music, alarms, animals...), with a timeline picture.",
        SoundDetectionArgs,
        ("image",),
    ),
    ToolSpec(
        "talking_head",
        "Make a talking-head video: animate a portrait face so it speaks the given speech audio "
        "(lip sync). Uses a default face when no portrait image is given.",
        TalkingHeadArgs,
        ("video",),
    ),
    ToolSpec(
        "text_to_audio",
        "Generate a sound effect or ambience from a text description (rain, footsteps, a dog "
        "barking, city traffic). Not for speech or music.",
        TextToAudioArgs,
        ("audio",),
    ),
    ToolSpec(
        "image_to_audio",
        "Generate a sound that fits a picture: the audio a scene in an image would make.",
        ImageToAudioArgs,
        ("audio",),
    ),
    ToolSpec(
        "audio_to_text",
        "Describe in words what can be heard in a recording (audio captioning: a general "
        "description of the sounds, not a transcript of speech).",
        AudioToTextArgs,
    ),
    ToolSpec(
        "singing_synthesis",
        "Sing given lyrics as a singing voice, optionally on a melody of note names and a tempo.",
        SingingSynthesisArgs,
        ("audio",),
    ),
    ToolSpec(
        "text_to_music",
        "Compose a piece of music from a text description of genre, mood and instruments.",
        TextToMusicArgs,
        ("audio",),
    ),
)

TOOLS_BY_NAME: dict[str, ToolSpec] = {t.name: t for t in TOOLS}
TOOL_NAMES: tuple[str, ...] = tuple(t.name for t in TOOLS)


def get_tool(name: str) -> ToolSpec:
    try:
        return TOOLS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"There is no tool called '{name}'.") from None
