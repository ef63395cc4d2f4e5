"""The style_transfer tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from pydantic import Field

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class StyleTransferArgs(ToolArgs):
    text: str = Field(min_length=1, max_length=5000, description="The text to speak.")
    reference: str = artifact_field("audio", "Artifact id of a voice clip whose voice/style to imitate.")


SPEC = ToolSpec(
    name='style_transfer',
    description=(
        "Speak a text in the voice or speaking style of a reference recording (voice cloning, 'say this "
        "in my voice', 'make it sound like this speaker')."
    ),
    args=StyleTransferArgs,
    produces=('audio',),
    family='tts',
    label='Cloned-voice speech',
    phrase='say a text in the voice of a reference clip',
    progress='speaking in that style',
    roles=frozenset({'clone_voice'}),
    text_result=False,
    quote_result=False,
    per_file=False,
    takes_text=True,
    questions=(('text', 'What should I say in that voice?'),),
    order=40,
    exemplars=(
        'say something in my voice',
        'clone the voice in this recording and say something',
        'make it sound like this speaker saying something',
        'use the voice from this clip to read something',
        "imitate this person's voice saying something",
        'speak something with the same voice as in the recording',
        'copy my voice and say happy birthday',
        'read something in the style of the speaker in this file',
        'voice cloning: say something like the reference',
        'have the person in this recording say something',
        'mimic his voice and say something',
        'generate speech in this voice',
        'make my voice say a sentence I never said',
        'in the voice of the attached sample, say something',
        'use this audio as a reference voice and read something',
        'now have that speaker say something',
        'make a clip that sounds like her saying something',
        'read something aloud using the voice from my voice note',
        'talk like the guy in this recording and say something',
        'same voice as this clip, saying something',
        'Sag diesen Text mit meiner Stimme',
        'Di esta frase con la voz de esta grabación',
        'Dis cette phrase avec ma voix',
        '用这段录音里的声音说这句话',
        'Speak the given text in the voice of the reference speaker.',
        'Clone the voice from the reference clip and read this sentence with it.',
        'Synthesize this text so that it sounds like the speaker in the recording.',
    ),
    templates=(),
)
