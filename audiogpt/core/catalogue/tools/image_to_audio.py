"""The image_to_audio tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from pydantic import Field

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class ImageToAudioArgs(ToolArgs):
    image: str = artifact_field("image", "Artifact id of the image to make a sound for.")
    seconds: float | None = Field(None, gt=0, le=60, description="Length in seconds.")


SPEC = ToolSpec(
    name='image_to_audio',
    description=(
        'Generate a sound that fits a picture: the audio a scene in an image would make.'
    ),
    args=ImageToAudioArgs,
    produces=('audio',),
    family='generation',
    label='Sound for the picture',
    phrase='generate the sound of a picture',
    progress='generating audio for the picture',
    roles=frozenset({'sound_for_image'}),
    text_result=False,
    quote_result=False,
    per_file=True,
    takes_text=False,
    order=140,
    exemplars=(
        'what would this picture sound like',
        'generate a sound for this image',
        'make audio that matches this photo',
        'create the soundscape of this picture',
        'turn this image into sound',
        'add sound to this photo',
        'what noise would this scene make',
        'generate ambience for this picture',
        'make a sound effect based on the image',
        'give this picture the sound of its environment',
        'sonify this image',
        'what does the scene in this image sound like',
        'create background audio for this photograph',
        'imagine the sounds of the place in this photo',
        'Erzeuge ein Geräusch passend zu diesem Bild',
        'Genera el sonido que haría esta imagen',
        'Crée le son de cette photo',
        '根据这张图片生成声音',
        'Generate audio that corresponds to the given image.',
        'Synthesize the sound that the scene in this picture would make.',
        'Produce an ambient soundscape that fits the photo.',
        "here's a photo, can you make it sound like being there",
        'what would this picture sound like? make it for me',
    ),
    templates=(),
)
