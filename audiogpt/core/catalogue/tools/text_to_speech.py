"""The text_to_speech tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from pydantic import Field

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec


class TextToSpeechArgs(ToolArgs):
    text: str = Field(min_length=1, max_length=5000, description="The exact text to speak.")
    voice: str | None = Field(None, description="Voice name; omit for the default voice.")
    language: str | None = Field(None, description="Language code of the text; omit for English.")


SPEC = ToolSpec(
    name='text_to_speech',
    description=(
        'Read a given text aloud: synthesise natural speech from text (say, read out, pronounce, voice '
        'over). Returns an audio file.'
    ),
    args=TextToSpeechArgs,
    produces=('audio',),
    family='tts',
    label='Speech',
    phrase='read a text aloud',
    progress='speaking',
    roles=frozenset({'speak'}),
    text_result=False,
    quote_result=False,
    per_file=False,
    takes_text=True,
    questions=(('text', 'What text should I read aloud?'),),
    order=30,
    exemplars=(
        'read something aloud',
        'say something',
        'speak this sentence',
        'pronounce something for me',
        'convert this text to speech',
        'make an audio file of you saying something',
        'generate a voiceover that says something',
        'text to speech: something',
        'read out the following message',
        'narrate something',
        'can you say hello to my class',
        'I want to hear how this sentence sounds',
        'give me a spoken version of this paragraph',
        'create a voice recording that says welcome home',
        'read the transcript back to me',
        'say it out loud',
        'record yourself saying good night',
        'turn this message into an audio announcement',
        'make the computer speak something',
        'let me hear you say something',
        'synthesize speech from this text',
        'say good morning in a female voice',
        'read my essay out loud',
        'say happy new year to everyone',
        'how do you pronounce something',
        'voice something for my video',
        'announce that dinner is ready',
        'read something in Spanish',
        'Lies diesen Text laut vor',
        'Sprich diesen Satz vor: Guten Morgen',
        'Lee este texto en voz alta',
        'Di en voz alta: buenos días',
        'Lis ce texte à voix haute',
        'Prononce cette phrase',
        '请朗读这段文字',
        '把这句话读出来',
        '用语音说：你好',
        'Convert the given text into natural-sounding speech.',
        'Synthesize speech for the following sentence.',
        'Generate a spoken version of this text.',
        'Turn this paragraph into an audio narration.',
        'read the transcript back to me',
        'and then read it back to me',
        'then read the result out loud',
        'read that out',
        'say the text you got aloud',
        'read what it says out loud to me',
        'make an audio file of this sentence',
        'turn these words into an audio clip',
        'I want to hear how this word is pronounced',
        'how does this phrase sound when spoken',
        'read the caption out loud',
        'read the translation aloud',
        'say the description out loud',
        'read your answer to me',
        'read out the summary',
        'then read what you wrote aloud',
        'speak the result out loud',
    ),
    templates=(),
)
