"""The singing_synthesis tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from pydantic import Field

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec


class SingingSynthesisArgs(ToolArgs):
    lyrics: str = Field(min_length=1, description="Words to sing.")
    notes: str | None = Field(None, description="Melody as note names, e.g. 'C4 D4 E4', one per syllable.")
    tempo: float | None = Field(None, gt=20, le=300, description="Beats per minute.")


SPEC = ToolSpec(
    name='singing_synthesis',
    description=(
        'Sing given lyrics as a singing voice, optionally on a melody of note names and a tempo.'
    ),
    args=SingingSynthesisArgs,
    produces=('audio',),
    family='tts',
    label='Singing',
    phrase='sing lyrics',
    progress='singing',
    roles=frozenset({'sing'}),
    text_result=False,
    quote_result=False,
    per_file=False,
    takes_text=True,
    questions=(('lyrics', 'What lyrics should I sing?'),),
    order=160,
    exemplars=(
        'sing something',
        'sing happy birthday',
        'make a singing voice sing these lyrics',
        'sing these lyrics to the notes C4 D4 E4',
        'can you sing a line for me',
        'create a vocal track singing something',
        'sing it at 120 bpm',
        'generate a singer performing these lyrics',
        'turn these lyrics into a sung melody',
        'sing my lyrics on this melody',
        'make a voice sing something',
        'sing twinkle twinkle little star',
        'I want to hear something sung',
        'perform these lyrics as a song with vocals',
        'sing the chorus',
        'sing something for me',
        'Sing diesen Text: Alles Gute zum Geburtstag',
        'Canta esta letra: feliz cumpleaños',
        'Chante ces paroles',
        '唱出这段歌词：祝你生日快乐',
        'Synthesize a singing voice for the given lyrics and notes.',
        'Generate a sung performance of these lyrics.',
    ),
    templates=(),
)
