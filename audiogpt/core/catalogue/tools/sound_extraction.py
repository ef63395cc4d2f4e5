"""The sound_extraction tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from pydantic import Field

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class SoundExtractionArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the mixture.")
    query: str = Field(min_length=1, description="The sound to pull out, in words, e.g. 'the dog barking'.")


SPEC = ToolSpec(
    name='sound_extraction',
    description=(
        'Extract one described sound from a mixture into its own audio file (isolate the dog barking, '
        'pull out the guitar, remove everything except the siren).'
    ),
    args=SoundExtractionArgs,
    produces=('audio',),
    family='sound',
    label='Extracted sound',
    phrase='extract one described sound from the mix',
    progress='extracting the sound',
    roles=frozenset({'extract_sound'}),
    text_result=False,
    quote_result=False,
    per_file=True,
    takes_text=False,
    questions=(('query', "Which sound should I extract (for example 'the dog barking')?"),),
    order=90,
    exemplars=(
        'extract the dog barking from this recording',
        'isolate the guitar',
        'pull out the siren sound',
        'keep only the birds and remove everything else',
        'get the vocals out of this song',
        'remove everything except the piano',
        'give me just the drums',
        'extract the sound of the car engine',
        'I only want the bird songs from this clip',
        'filter out everything but the rain',
        'split the crowd noise out into its own file',
        'isolate the footsteps',
        'get me an audio file of only the alarm',
        'separate out the baby crying',
        'extract the bass line',
        'remove the background and keep the whistle',
        'cut out everything apart from the violin',
        'I want just the church bells from this',
        'extract the dog barking',
        'isolate a car horn from this recording',
        'pull out the siren',
        'keep only birds chirping',
        'get me just the applause',
        'remove everything except a door slamming',
        'separate glass breaking from the rest of the mix',
        'give me the piano on its own',
        'extract the guitar',
        'isolate the drums from this recording',
        'pull out the vocals',
        'keep only footsteps',
        'get me just rain',
        'remove everything except a baby crying',
        'separate the phone ringing from the rest of the mix',
        'give me thunder on its own',
        'extract the alarm',
        'isolate people laughing from this recording',
        'pull out a gunshot',
        'keep only the church bells',
        'get me just the engine',
        'remove everything except a whistle',
        'separate the crowd from the rest of the mix',
        'give me waves on its own',
        'extract the bass',
        'Extrahiere das Hundebellen aus der Aufnahme',
        'Extrae solo el sonido de la guitarra',
        'Isole le bruit de la sirène',
        '把录音里的鸟叫声提取出来',
        'Extract the sound that matches the given description from the audio mixture.',
        'Separate the target sound described by the text query from the mixture.',
        'Given an audio mixture and a text description, output the isolated target sound.',
        'Remove everything from the mix except the sound described.',
    ),
    templates=(
        'extract {sound}',
        'isolate {sound} from this recording',
        'pull out {sound}',
        'keep only {sound}',
        'get me just {sound}',
        'remove everything except {sound}',
        'separate {sound} from the rest of the mix',
        'give me {sound} on its own',
    ),
)
