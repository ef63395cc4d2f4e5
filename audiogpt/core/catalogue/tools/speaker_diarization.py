"""The speaker_diarization tool ("who spoke when"): its arguments, and what every layer knows of it.

Kept apart from speech_separation on purpose: separation makes one *audio track* per
voice, diarization makes a *timeline* (turns with speaker labels, a PNG, a JSON file).
The contrasts below hold the phrasings that sit on the line between the two.
"""

from __future__ import annotations

from pydantic import Field

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class SpeakerDiarizationArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the recording (meeting, interview, call, podcast).")
    speakers: int | None = Field(None, ge=1, le=20, description="Exact number of speakers, if the user knows it.")
    min_speakers: int | None = Field(None, ge=1, le=20, description="At least this many speakers, if known.")
    max_speakers: int | None = Field(None, ge=1, le=20, description="At most this many speakers, if known.")


SPEC = ToolSpec(
    name='speaker_diarization',
    description=(
        'Find who spoke when in a recording with several people (speaker diarization): speaker turns with '
        'times and labels (Speaker 1, Speaker 2...), how long each person talked, overlapping speech where the '
        'backend detects it, a timeline picture with one lane per speaker and a JSON/RTTM file of the turns. '
        'It counts the speakers itself; pass speakers, or min_speakers/max_speakers, only when the user says.'
    ),
    args=SpeakerDiarizationArgs,
    produces=('image', 'text'),
    family='speech',
    label='Speakers',
    phrase='tell who spoke when',
    progress='telling the speakers apart',
    roles=frozenset({'diarize'}),
    text_result=True,
    quote_result=True,
    per_file=True,
    takes_text=False,
    opt_in=True,
    order=175,
    exemplars=(
        'who spoke when',
        'who is speaking when in this recording',
        'how many people are talking in this clip',
        'how many speakers are there',
        'label the speakers in this meeting',
        'diarize this recording',
        'speaker diarization please',
        'mark who talks at which time',
        'tell me when each person speaks',
        'break the call down by speaker',
        'give me a timeline of the speakers',
        'identify the different speakers and their turns',
        'segment this interview by speaker',
        'which parts are the host and which the guest',
        'how long did each person talk',
        'who talked the most in this meeting',
        'what share of the time did each speaker have',
        'find the speaker changes',
        'when does the second speaker start talking',
        'annotate the speaker turns',
        'split the transcript timeline by speaker, just the times',
        'count the voices in this recording',
        'is there more than one person in this voice note',
        'did anyone interrupt, where do they talk over each other',
        'show me who was speaking at each moment',
        'make an RTTM of this meeting',
        'speaker turns for the podcast episode',
        'who is talking in the phone call and when',
        'there are three people in this meeting, mark their turns',
        'label speaker A and speaker B with timestamps',
        'how often did the interviewer speak versus the guest',
        'chart the conversation: who speaks when',
        'find every time the other person talks',
        'detect the speakers in this lecture Q&A',
        'give each voice a label and the times it speaks',
        'I need the speaking times of each participant',
        'map out the turn-taking in this discussion',
        'tag the speakers in this clip over time',
        'who said what when, just the speaker turns',
        'Speaker segmentation of this audio.',
        'Perform speaker diarization on the attached meeting recording.',
        'Estimate the number of speakers and their speaking segments.',
        'Wer spricht wann in dieser Aufnahme?',
        'Wie viele Sprecher sind in dem Meeting zu hören?',
        '¿Quién habla y cuándo en esta grabación?',
        '¿Cuántas personas hablan en este audio?',
        'Qui parle quand dans cet enregistrement ?',
        'Combien de personnes parlent dans cette réunion ?',
        '这段录音里谁在什么时候说话',
        '会议录音里有几个人在说话',
    ),
    contrasts=(
        ('put each speaker on a separate track', 'speech_separation'),
        ('split the voices into one file per person', 'speech_separation'),
        ('transcribe what each person says', 'speech_recognition'),
        ('write down what was said in the meeting', 'speech_recognition'),
        ('when does the dog bark', 'target_sound_detection'),
    ),
    templates=(
        'who spoke when in the {recording}',
        'how many speakers are in the {recording}',
        'label the speakers in the {recording}',
    ),
    questions=(
        ('audio', 'Which recording should I analyse for who spoke when? Send or name the audio.'),
    ),
)
