"""The speech_translation tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from pydantic import Field

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class SpeechTranslationArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the speech recording.")
    target_language: str = Field(description="Language to translate into, as a code (es) or name (Spanish).")
    speak: bool = Field(False, description="Also speak the translation aloud as audio.")


SPEC = ToolSpec(
    name='speech_translation',
    description=(
        'Translate what is said in a speech recording into another language (speech to translated text, '
        "optionally spoken aloud). Use for 'translate this voice note into Spanish'."
    ),
    args=SpeechTranslationArgs,
    produces=('audio',),
    family='asr',
    label='Translation',
    phrase='translate the speech into another language',
    progress='translating',
    roles=frozenset({'translate_speech'}),
    text_result=True,
    quote_result=True,
    per_file=True,
    takes_text=False,
    questions=(('target_language', 'Which language should I translate it into?'),),
    order=20,
    exemplars=(
        'translate this recording into Spanish',
        'what is this person saying in English',
        'translate the voice note to French',
        'I need this audio in German',
        'can you translate what she says into Japanese',
        'render this speech in Italian',
        'translate this clip and speak the translation',
        'give me an English translation of this Arabic voice message',
        'dub this audio into Portuguese',
        'what does he say, in Chinese please',
        'convert this spoken message into Korean',
        'translate the speech to English text',
        'interpret this recording for me in Russian',
        'make a Spanish version of this voice memo',
        "I don't understand this language, translate it",
        'translate it and read it out',
        'turn this French speech into English',
        'English subtitles for this foreign clip',
        'translate it',
        'now into Greek',
        'translate what is said into Hindi and say it aloud',
        'what is he telling me? translate into Dutch',
        'I want to know what this means in Polish',
        'could you translate the voicemail for me',
        'translate the meeting into French',
        'what does the interview say in English',
        'translate the podcast into French',
        'what does the voice note say in English',
        'translate the lecture into French',
        'what does the phone call say in English',
        'translate the voicemail into French',
        'what does the speech say in English',
        'translate the conversation into French',
        'what does the recording say in English',
        'translate the track into French',
        'what does the clip say in English',
        'translate the audio file into French',
        'what does the video say in English',
        'translate the each track into French',
        'Übersetze diese Aufnahme ins Englische',
        'Was sagt sie auf Deutsch übersetzt?',
        'Traduce este audio al inglés',
        '¿Puedes traducir lo que dice a español?',
        'Traduis ce message vocal en anglais',
        '把这段录音翻译成英文',
        '这个人说的话翻译成中文',
        'Translate the spoken content of the audio into English text.',
        'Listen to the speech and output its translation in French.',
        'Give the English translation of what the speaker says.',
        "I don't understand this language, what does he say in English",
        'she speaks Italian, tell me what she says in English',
    ),
    templates=(
        'translate the {recording} into French',
        'what does the {recording} say in English',
    ),
)
