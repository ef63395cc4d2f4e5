"""The audio_inpainting tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from pydantic import Field

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class AudioInpaintingArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the recording with a gap or damage.")
    start: float | None = Field(None, ge=0, description="Start of the region to fill, in seconds; omit to find gaps.")
    end: float | None = Field(None, ge=0, description="End of the region to fill, in seconds.")


SPEC = ToolSpec(
    name='audio_inpainting',
    description=(
        'Repair a recording by filling in a missing, silent or damaged section with plausible audio (fill '
        'the gap, restore dropouts) between start and end seconds, or find gaps itself.'
    ),
    args=AudioInpaintingArgs,
    produces=('audio',),
    family='speech',
    label='Repaired audio',
    phrase='fill in a missing or damaged section',
    progress='filling the gap',
    roles=frozenset({'repair'}),
    text_result=False,
    quote_result=False,
    per_file=True,
    takes_text=False,
    order=80,
    exemplars=(
        "there's a hole in the audio at 3 seconds, fill it",
        'the signal drops out for a second, fix it',
        'fill the gap',
        'fill in the gap in this recording',
        "there's a silent part between 2 and 3 seconds, fix it",
        'restore the missing section',
        'repair the dropout',
        'the audio cuts out in the middle, fill it',
        'reconstruct the damaged part from 1.5 to 2 seconds',
        'patch the hole in the audio',
        'some samples are missing, repair them',
        'fix the glitch at 4 seconds',
        'fill the silence with plausible audio',
        "there's a blank section, restore it",
        'the recording has gaps, fill them in',
        'inpaint the corrupted region',
        'repair the broken part of this clip',
        'regenerate the missing audio between 0:05 and 0:07',
        'a piece of the audio is lost, bring it back',
        'fill the gap in the meeting',
        'fill the gap in the interview',
        'fill the gap in the podcast',
        'fill the gap in the voice note',
        'fill the gap in the lecture',
        'fill the gap in the phone call',
        'fill the gap in the voicemail',
        'fill the gap in the speech',
        'fill the gap in the conversation',
        'fill the gap in the recording',
        'fill the gap in the track',
        'fill the gap in the clip',
        'fill the gap in the audio file',
        'fill the gap in the video',
        'fill the gap in the each track',
        'Fülle die Lücke in dieser Aufnahme',
        'Rellena el hueco que falta en el audio',
        "Répare le passage manquant de l'enregistrement",
        '修复这段音频中缺失的部分',
        'Reconstruct the missing segment of the audio signal.',
        'Fill in the corrupted portion of the recording between the given times.',
        "there's a gap where the sound cuts out, can you fix it",
        'the recording skips for a second in the middle, can you patch that',
        'part of the audio is missing, please fill it in',
        "the track drops out halfway through, smooth it over so it doesn't jump",
        'repair the glitch where the sound disappears for a moment',
    ),
    templates=(
        'fill the gap in the {recording}',
    ),
)
