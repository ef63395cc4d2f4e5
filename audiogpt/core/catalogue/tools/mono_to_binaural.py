"""The mono_to_binaural tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from pydantic import Field

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class MonoToBinauralArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the mono recording.")
    azimuth: float | None = Field(None, ge=-180, le=180, description="Source direction in degrees (0 front, 90 right, -90 left).")
    elevation: float | None = Field(None, ge=-90, le=90, description="Source elevation in degrees.")
    motion: str | None = Field(None, description="Movement, e.g. 'left to right' or 'circle'.")


SPEC = ToolSpec(
    name='mono_to_binaural',
    description=(
        'Turn a mono recording into binaural 3D stereo for headphones, placing the sound at a direction '
        'or moving it around the listener (spatial audio).'
    ),
    args=MonoToBinauralArgs,
    produces=('audio',),
    family='speech',
    label='Binaural audio',
    phrase='turn it into binaural 3D audio',
    progress='making it binaural',
    roles=frozenset({'spatialise'}),
    text_result=False,
    quote_result=False,
    per_file=True,
    takes_text=False,
    order=70,
    exemplars=(
        'make this binaural',
        'convert to 3D audio for headphones',
        "make it sound like it's coming from the left",
        'place the sound behind me',
        'spatialize this recording',
        'make the sound move from left to right',
        'turn this mono clip into immersive stereo',
        'put the voice on my right side',
        'make the sound circle around my head',
        'give it a surround sound feeling in headphones',
        'make it sound like the speaker is standing behind me',
        'create 3D spatial audio from this',
        'pan the sound around the listener',
        'make it binaural at 45 degrees to the right',
        'position the audio in front of me',
        "make it sound like it's above my head",
        '8D audio version of this',
        'move it to the left',
        'make it feel like the sound comes from far right',
        'virtual surround for headphones',
        "make it sound like it's behind me",
        'spatial audio please',
        'make the meeting binaural',
        'make the interview binaural',
        'make the podcast binaural',
        'make the voice note binaural',
        'make the lecture binaural',
        'make the phone call binaural',
        'make the voicemail binaural',
        'make the speech binaural',
        'make the conversation binaural',
        'make the recording binaural',
        'make the track binaural',
        'make the clip binaural',
        'make the audio file binaural',
        'make the video binaural',
        'make the each track binaural',
        'Mach daraus binaurales 3D-Audio',
        'Convierte este audio en sonido binaural 3D',
        'Rends ce son binaural pour le casque',
        '把这段音频变成双耳立体声',
        'Render the monaural audio as binaural audio for headphone listening.',
        'Spatialize this mono recording so the source sits to the left.',
        'Convert the single-channel recording into a two-ear 3D version.',
    ),
    templates=(
        'make the {recording} binaural',
    ),
)
