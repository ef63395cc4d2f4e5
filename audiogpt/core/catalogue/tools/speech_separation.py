"""The speech_separation tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from pydantic import Field

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class SpeechSeparationArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the recording with several overlapping speakers.")
    speakers: int | None = Field(None, ge=2, le=8, description="Number of speakers, if known.")


SPEC = ToolSpec(
    name='speech_separation',
    description=(
        'Split a recording where several people talk at once into one track per speaker (separate voices, '
        'isolate each speaker).'
    ),
    args=SpeechSeparationArgs,
    produces=('audio',),
    family='speech',
    label='Separated speakers',
    phrase='split overlapping speakers into separate tracks',
    progress='separating the voices',
    roles=frozenset({'split_speakers'}),
    text_result=False,
    quote_result=False,
    per_file=True,
    takes_text=False,
    order=60,
    exemplars=(
        'put the two voices on different tracks',
        'split the singer and the guest onto separate tracks',
        'I need the two people as separate audio files',
        'separate the speakers',
        'split this conversation into one track per person',
        'isolate each voice',
        'two people are talking at the same time, separate them',
        'give me each speaker on a separate track',
        'unmix the overlapping voices',
        'separate the voices in this recording',
        'pull apart the two speakers',
        "I want each person's voice in its own file",
        'split the dialogue by speaker',
        'three people are talking over each other, separate them',
        'disentangle the voices',
        "extract each speaker's speech separately",
        'divide the recording into individual speakers',
        'speaker separation',
        'separate the host from the guest',
        'isolate the voices of both speakers',
        'the voices overlap, split them apart',
        'one file per speaker please',
        'separate the speakers in the meeting',
        'split the interview into one track per speaker',
        'separate the speakers in the podcast',
        'split the voice note into one track per speaker',
        'separate the speakers in the lecture',
        'split the phone call into one track per speaker',
        'separate the speakers in the voicemail',
        'split the speech into one track per speaker',
        'separate the speakers in the conversation',
        'split the recording into one track per speaker',
        'separate the speakers in the track',
        'split the clip into one track per speaker',
        'separate the speakers in the audio file',
        'split the video into one track per speaker',
        'separate the speakers in the each track',
        'Trenne die Sprecher in dieser Aufnahme',
        'Separa las voces de esta grabación',
        'Sépare les voix des deux personnes',
        '把录音里的两个说话人分开',
        'Separate the mixed speech into individual speaker signals.',
        "Given a two-speaker mixture, output each speaker's voice separately.",
        'Recover the individual voices from this overlapped speech.',
    ),
    templates=(
        'separate the speakers in the {recording}',
        'split the {recording} into one track per speaker',
    ),
)
