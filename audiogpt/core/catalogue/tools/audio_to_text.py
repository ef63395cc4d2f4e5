"""The audio_to_text tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class AudioToTextArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the sound to describe.")


SPEC = ToolSpec(
    name='audio_to_text',
    description=(
        'Describe in words what can be heard in a recording (audio captioning: a general description of '
        'the sounds, not a transcript of speech).'
    ),
    args=AudioToTextArgs,
    produces=(),
    family='sound',
    label='Description',
    phrase='describe what can be heard',
    progress='describing the audio',
    roles=frozenset({'describe_audio'}),
    text_result=True,
    quote_result=True,
    per_file=True,
    takes_text=False,
    order=150,
    exemplars=(
        'describe this audio',
        'what is in this recording',
        'write a caption for this sound',
        'what can you hear in this clip',
        'describe the sounds in this file',
        "tell me what's happening in this audio",
        'give a short description of this recording',
        'caption this audio clip',
        'what kind of audio is this',
        'summarize what this recording sounds like',
        'describe the scene you hear',
        "explain what's going on in this sound",
        'what does this sound like',
        'audio captioning',
        'describe the background sounds',
        "in one sentence, what's in this audio",
        "describe what's left",
        'describe the result',
        'what is this noise',
        'describe the sounds in the meeting',
        'describe the sounds in the interview',
        'describe the sounds in the podcast',
        'describe the sounds in the voice note',
        'describe the sounds in the lecture',
        'describe the sounds in the phone call',
        'describe the sounds in the voicemail',
        'describe the sounds in the speech',
        'describe the sounds in the conversation',
        'describe the sounds in the recording',
        'describe the sounds in the track',
        'describe the sounds in the clip',
        'describe the sounds in the audio file',
        'describe the sounds in the video',
        'describe the sounds in the each track',
        'Beschreibe, was in dieser Aufnahme zu hören ist',
        'Describe lo que se escucha en este audio',
        'Décris ce que tu entends dans cet extrait',
        '描述一下这段音频里的声音',
        'what genre is this song',
        'describe the style of this track',
        'which instruments can you hear in this music',
        'what is the mood of this piece',
        'tell me what kind of music this is',
        'give me a short description of this song',
        'Describe the audio in one sentence.',
        'Write a caption for the given audio clip.',
        'Describe the acoustic environment of this clip.',
        'Summarize what is happening in the audio.',
        "tell me what this sounds like, not what's being said",
        'caption it',
        'caption this clip',
        'caption the result',
        'give it a caption',
        'then caption the audio',
        'write a one-line caption of the sound',
    ),
    templates=(
        'describe the sounds in the {recording}',
    ),
)
