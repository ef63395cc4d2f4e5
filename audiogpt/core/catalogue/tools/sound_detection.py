"""The sound_detection tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class SoundDetectionArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the recording to tag.")


SPEC = ToolSpec(
    name='sound_detection',
    description=(
        'Detect and tag all sound events in a recording over time (what sounds are in this clip and when: '
        'speech, music, alarms, animals...), with a timeline picture.'
    ),
    args=SoundDetectionArgs,
    produces=('image',),
    family='sound',
    label='Sound events',
    phrase='tag all the sound events over time',
    progress='listening',
    roles=frozenset({'tag_sounds'}),
    text_result=True,
    quote_result=False,
    per_file=True,
    takes_text=False,
    order=110,
    exemplars=(
        'what sounds are in this clip',
        'detect all the sound events',
        'tag the sounds in this recording',
        'list every sound you can hear and when',
        'make a timeline of the sounds',
        'what noises can you detect in this file',
        'identify all the audio events over time',
        'analyze this recording for sound events',
        'which sounds occur and at what times',
        'label the events in this audio',
        'run sound event detection',
        'give me a breakdown of the sounds over time',
        'what can be heard throughout this clip, with times',
        'classify the sounds in this recording',
        'is there speech, music or noise in here',
        'show me a chart of the sound events',
        'what kinds of sounds are there',
        'tag the sound events in the meeting',
        'tag the sound events in the interview',
        'tag the sound events in the podcast',
        'tag the sound events in the voice note',
        'tag the sound events in the lecture',
        'tag the sound events in the phone call',
        'tag the sound events in the voicemail',
        'tag the sound events in the speech',
        'tag the sound events in the conversation',
        'tag the sound events in the recording',
        'tag the sound events in the track',
        'tag the sound events in the clip',
        'tag the sound events in the audio file',
        'tag the sound events in the video',
        'tag the sound events in the each track',
        'Welche Geräusche sind in dieser Aufnahme zu hören und wann?',
        'Etiqueta todos los sonidos de este audio',
        'Liste tous les événements sonores de cet extrait',
        '检测这段音频里所有的声音事件',
        'Detect all sound events in the audio and give their onset and offset times.',
        'List every acoustic event with its start and end time.',
        'Tag the audio with the sound event classes present and when they occur.',
        'identify the sounds in this clip',
        'which sound sources can you pick out in this recording',
    ),
    templates=(
        'tag the sound events in the {recording}',
    ),
)
