"""The speech_recognition tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from pydantic import Field

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class SpeechRecognitionArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the speech recording, e.g. a1.")
    language: str | None = Field(None, description="Spoken language code (en, de, ...); omit to detect.")


SPEC = ToolSpec(
    name='speech_recognition',
    description=(
        'Transcribe speech in an audio recording or voice message into text (speech to text, dictation, '
        "'what does it say'). Returns the transcript with timed segments."
    ),
    args=SpeechRecognitionArgs,
    produces=(),
    family='asr',
    label='Transcript',
    phrase='transcribe the speech',
    progress='transcribing',
    roles=frozenset({'transcribe'}),
    text_result=True,
    quote_result=True,
    per_file=True,
    takes_text=False,
    order=10,
    exemplars=(
        'what are the words in this audio',
        'I need the words from this video',
        'what exactly are they saying',
        'transcribe this recording',
        'what does it say',
        'what is being said in this audio',
        'write out the words spoken in this clip',
        'convert the speech in this file to text',
        'give me a transcript of the meeting',
        'can you tell me what they are saying',
        'type up this voice message',
        'turn my voice note into text',
        "I couldn't hear what she said, can you write it down",
        'what did he just say',
        'speech to text please',
        'make a transcription of the interview',
        'which words are spoken here',
        'listen to this voice memo and tell me what it says',
        'get me the text of this podcast episode',
        "what's she talking about in this voice note",
        'write down everything he says',
        'transcribe the german audio',
        'recognise the speech in this file',
        'I need the minutes of this call as text',
        'dictation: type what I said',
        'can you read my voice message and write it out',
        'what are they talking about',
        'transcript please',
        'put this lecture into written form',
        'what was said in the voicemail',
        'spell out what the speaker says',
        'note down the spoken words',
        'what is the person in this audio saying',
        'transcribe the speech',
        'convert speech to text',
        'get the spoken words out as text',
        'transcribe this meeting',
        'what is said in the interview',
        'write out the podcast',
        'transcribe this voice note',
        'what is said in the lecture',
        'write out the phone call',
        'transcribe this voicemail',
        'what is said in the speech',
        'write out the conversation',
        'transcribe this recording',
        'what is said in the track',
        'write out the clip',
        'transcribe this audio file',
        'what is said in the video',
        'write out the each track',
        'Transkribiere bitte diese Aufnahme',
        'Was wird in dieser Sprachnachricht gesagt?',
        'Schreib mir auf, was er sagt',
        'Transcribe esta grabación, por favor',
        '¿Qué dice la persona en este audio?',
        'Transcris cet enregistrement',
        "Qu'est-ce qu'il dit dans ce message vocal ?",
        '请把这段录音转成文字',
        '这段音频里说了什么？',
        '帮我把语音转写成文本',
        'Transcribe the speech in the given audio into text.',
        'Write down every word spoken in the recording.',
        'Recognize the spoken content of the audio and output it as text.',
        'Produce a verbatim transcript of the utterance.',
    ),
    templates=(
        'transcribe this {recording}',
        'what is said in the {recording}',
        'write out the {recording}',
    ),
)
