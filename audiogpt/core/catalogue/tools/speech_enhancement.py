"""The speech_enhancement tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class SpeechEnhancementArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the noisy speech recording.")


SPEC = ToolSpec(
    name='speech_enhancement',
    description=(
        'Clean up a speech recording: remove background noise, hiss, hum and reverberation so the voice '
        'is clearer (denoise, enhance).'
    ),
    args=SpeechEnhancementArgs,
    produces=('audio',),
    family='speech',
    label='Cleaned-up audio',
    phrase='clean up the recording (remove noise and echo)',
    progress='cleaning up the audio',
    roles=frozenset({'clean'}),
    text_result=False,
    quote_result=False,
    per_file=True,
    takes_text=False,
    order=50,
    exemplars=(
        'remove the background noise',
        'clean up this recording',
        'denoise this audio',
        'make the voice clearer',
        'get rid of the hiss',
        'remove the hum from the recording',
        'reduce the echo and reverb',
        'enhance the speech quality',
        'improve the sound quality of my podcast',
        'the recording is noisy, fix it',
        'filter out the traffic noise behind my voice',
        'make this voice memo less muffled',
        'cancel the noise in this call',
        'remove the static',
        'clean up the audio so I can hear the speaker',
        'restore the clarity of this old recording',
        'suppress the wind noise',
        'make it sound less noisy',
        'polish this interview audio',
        'remove the room echo from my lecture',
        "it's hard to hear the speaker over the noise",
        'clean it',
        'noise reduction please',
        'the mic was terrible, make my voice sound better',
        'there is a buzz in the background, remove it',
        'clean up the meeting',
        'remove the noise from my interview',
        'clean up the podcast',
        'remove the noise from my voice note',
        'clean up the lecture',
        'remove the noise from my phone call',
        'clean up the voicemail',
        'remove the noise from my speech',
        'clean up the conversation',
        'remove the noise from my recording',
        'clean up the track',
        'remove the noise from my clip',
        'clean up the audio file',
        'remove the noise from my video',
        'clean up the each track',
        'Entferne das Rauschen aus dieser Aufnahme',
        'Mach die Sprachaufnahme klarer',
        'Quita el ruido de fondo de esta grabación',
        'Limpia el audio, por favor',
        'Supprime le bruit de fond de cet enregistrement',
        '去除这段录音里的噪音',
        '让这段语音更清晰',
        'Enhance the quality of the noisy speech signal.',
        'Suppress the background noise while preserving the speech.',
        'Improve the intelligibility of this degraded recording.',
        'the call is full of static, can you make the voices clearer',
        "there's hum all over this take, can you rescue it",
        'the fan noise ruins this recording, fix it',
        'save this noisy recording',
    ),
    templates=(
        'clean up the {recording}',
        'remove the noise from my {recording}',
    ),
)
