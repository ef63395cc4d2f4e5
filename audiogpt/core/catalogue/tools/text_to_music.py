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
    questions=(('text', 'What kind of music should I compose?'),),
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
        'Komponiere entspannte Klaviermusik',
        'Mach mir ein fröhliches Lied',
        'Compón una canción alegre con guitarra',
        'Crée une musique calme pour méditer',
        '生成一段轻松的钢琴音乐',
        '给我来一段音乐',
        'Compose music from the text prompt.',
        'Generate a music clip that matches the description.',
        'Create an instrumental piece in the described style.',
        'make a track in the style of eighties synthpop',
        'a thirty second techno track',
        'produce a hip hop beat',
        'compose a jazzy tune',
        'write me a song',
        'create a piece of music that feels hopeful',
        'I need some music for my video, upbeat',
    ),
    templates=(),
)
