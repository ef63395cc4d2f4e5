"""The text_to_audio tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from pydantic import Field

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec


class TextToAudioArgs(ToolArgs):
    text: str = Field(min_length=1, description="Description of the sound to generate, e.g. 'rain on a tin roof'.")
    seconds: float | None = Field(None, gt=0, le=60, description="Length in seconds.")


SPEC = ToolSpec(
    name='text_to_audio',
    description=(
        'Generate a sound effect or ambience from a text description (rain, footsteps, a dog barking, '
        'city traffic). Not for speech or music.'
    ),
    args=TextToAudioArgs,
    produces=('audio',),
    family='generation',
    label='Sound effect',
    phrase='generate a sound effect from a description',
    progress='generating audio',
    roles=frozenset({'make_sound'}),
    text_result=False,
    quote_result=False,
    per_file=False,
    takes_text=False,
    order=130,
    exemplars=(
        'create a whoosh sound effect',
        'a swoosh transition effect',
        'make a laser zap sound',
        'generate a magical sparkle sound',
        'generate the sound of rain',
        'make a sound effect of footsteps',
        'create ambience of a busy cafe',
        'I need the sound of a dog barking',
        'produce the noise of a thunderstorm',
        'generate a door creaking sound',
        'make some ocean waves sounds',
        'create a sound of a car passing by',
        'synthesize the sound of wind in the trees',
        'give me 10 seconds of crackling fire',
        'make a background ambience of a forest with birds',
        'sound effect: glass breaking',
        'create the sound of a crowd cheering',
        'make an explosion sound',
        'generate city traffic noise',
        'I want to hear what a steam train sounds like',
        'create a spooky wind howling effect',
        'make a notification beep sound',
        'generate the noise of a helicopter flying over',
        'a cat meowing sound please',
        'generate a cow mooing on a farm',
        'make a wolf howling at night',
        'create a baby laughing sound',
        'I need a phone ringing in an office',
        'generate an engine starting up',
        'create the sound of someone typing on a keyboard',
        'a clock ticking for 20 seconds',
        'make birds singing in the morning',
        'generate the dog barking',
        'make the sound of a car horn',
        'create a sound effect of the siren',
        'I need a clip of birds chirping',
        'synthesize the applause',
        'produce some a door slamming noise',
        'give me a recording of glass breaking',
        'make me the piano',
        'generate the guitar',
        'make the sound of the drums',
        'create a sound effect of the vocals',
        'I need a clip of footsteps',
        'synthesize rain',
        'produce some a baby crying noise',
        'give me a recording of the phone ringing',
        'make me thunder',
        'generate the alarm',
        'make the sound of people laughing',
        'create a sound effect of a gunshot',
        'I need a clip of the church bells',
        'synthesize the engine',
        'produce some a whistle noise',
        'give me a recording of the crowd',
        'make me waves',
        'generate the bass',
    ),
    templates=(
        'generate {sound}',
        'make the sound of {sound}',
        'create a sound effect of {sound}',
        'I need a clip of {sound}',
        'synthesize {sound}',
        'produce some {sound} noise',
        'give me a recording of {sound}',
        'make me {sound}',
    ),
)
