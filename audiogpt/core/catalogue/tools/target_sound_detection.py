"""The target_sound_detection tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from pydantic import Field

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class TargetSoundDetectionArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the recording to search.")
    query: str = Field(min_length=1, description="The sound to find, in words, e.g. 'a siren'.")


SPEC = ToolSpec(
    name='target_sound_detection',
    description=(
        'Find when a described sound occurs in a recording: returns the time segments where the queried '
        "sound (e.g. 'a door slams') is heard."
    ),
    args=TargetSoundDetectionArgs,
    produces=(),
    family='sound',
    label='Detections',
    phrase='find when a described sound occurs',
    progress='listening for the sound',
    roles=frozenset({'find_sound'}),
    text_result=True,
    quote_result=False,
    per_file=True,
    takes_text=False,
    questions=(('query', "Which sound should I look for (for example 'a door slam')?"),),
    order=100,
    exemplars=(
        'does anyone laugh in this recording',
        'give me the times of the barking',
        'find every occurrence of the beep',
        'when does the dog bark',
        'find when the door slams',
        'at what time does the siren start',
        'give me the timestamps of the gunshots',
        'is there a baby crying, and when',
        'when can I hear the phone ringing',
        'locate the doorbell in this recording',
        'find the moments when someone coughs',
        'at which seconds do the birds sing',
        'does a car horn occur in this clip, at what time',
        'tell me where the glass breaking happens',
        'how many seconds in does the applause begin',
        'find the knocking',
        'mark every time the bell rings',
        'search this recording for a whistle',
        'when exactly does the music start',
        'is there an explosion in this? when',
        'tell me when it starts',
        'when does someone speak in this recording',
        'when is somebody talking in this clip',
        'at what time does the man start talking',
        'find the parts where people are speaking',
        'which seconds have a voice in them',
        'when does the dog barking happen',
        'find when a car horn occurs',
        'at what time can I hear the siren',
        'give me the timestamps of birds chirping',
        'is there the applause in this, and when',
        'find a door slamming in this recording',
        'at which second does glass breaking start',
        'mark the moments with the piano',
        'when does the guitar happen',
        'find when the drums occurs',
        'at what time can I hear the vocals',
        'give me the timestamps of footsteps',
        'is there rain in this, and when',
        'find a baby crying in this recording',
        'at which second does the phone ringing start',
        'mark the moments with thunder',
        'when does the alarm happen',
        'find when people laughing occurs',
        'at what time can I hear a gunshot',
        'give me the timestamps of the church bells',
        'is there the engine in this, and when',
        'find a whistle in this recording',
        'at which second does the crowd start',
        'mark the moments with waves',
        'when does the bass happen',
        'Wann bellt der Hund in dieser Aufnahme?',
        '¿En qué momento suena la alarma?',
        'À quel moment entend-on la sirène ?',
        '狗叫声在什么时候出现？',
        'Given the audio and a text query, return the time boundaries where the queried event occurs.',
        'Output the onset and offset times of the sound described by the query.',
        'Locate the queried sound event in time.',
        'Report the time segments in which the given sound is present.',
        'At which timestamps does the described sound appear?',
    ),
    templates=(
        'when does {sound} happen',
        'find when {sound} occurs',
        'at what time can I hear {sound}',
        'give me the timestamps of {sound}',
        'is there {sound} in this, and when',
        'find {sound} in this recording',
        'at which second does {sound} start',
        'mark the moments with {sound}',
    ),
)
