"""The text_to_music tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from pydantic import Field

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec


class TextToMusicArgs(ToolArgs):
    text: str = Field(min_length=1, description="Description of the music, e.g. 'calm lo-fi piano'.")
    seconds: float | None = Field(None, gt=0, le=120, description="Length in seconds.")


SPEC = ToolSpec(
    name='text_to_music',
    description=(
        'Compose a piece of music from a text description of genre, mood and instruments.'
    ),
    args=TextToMusicArgs,
    produces=('audio',),
    family='generation',
    label='Music',
    phrase='compose music from a description',
    progress='composing',
    roles=frozenset({'make_music'}),
    text_result=False,
    quote_result=False,
    per_file=False,
    takes_text=False,
    order=170,
    exemplars=(
        'a lullaby for a baby',
        'a peaceful melody for sleeping',
        'make a song for my birthday video',
        'a funky bass groove',
        'compose a calm piano piece',
        'make some lo-fi hip hop beats',
        'generate upbeat electronic dance music',
        'create a relaxing ambient track',
        'I need background music for my video',
        'write an epic orchestral soundtrack',
        'make a jazz tune with saxophone',
        'compose a sad guitar melody',
        'produce a 30 second rock instrumental',
        'generate happy ukulele music',
        'create a cinematic score for a trailer',
        'make a catchy jingle for my podcast intro',
        'compose music for a boss fight',
        'generate a chill synthwave track',
        'make a beat',
        'music for meditation',
        'an instrumental song with drums and bass',
        'make a song about our dog Max',
        'compose a tune about summer holidays',
        'create a short happy song about friendship',
    ),
    templates=(),
)
