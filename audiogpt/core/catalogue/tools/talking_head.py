"""The talking_head tool: its arguments, and what the engine, adapters and runners know of it."""

from __future__ import annotations

from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class TalkingHeadArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the speech that drives the face.")
    image: str | None = artifact_field("image", "Artifact id of a portrait image; omit for a default face.", optional=True)


SPEC = ToolSpec(
    name='talking_head',
    description=(
        'Make a talking-head video: animate a portrait face so it speaks the given speech audio (lip '
        'sync). Uses a default face when no portrait image is given.'
    ),
    args=TalkingHeadArgs,
    produces=('video',),
    family='video',
    label='Talking-head video',
    phrase='make a talking-head video',
    progress='animating the portrait',
    roles=frozenset({'animate_face'}),
    text_result=False,
    quote_result=False,
    per_file=False,
    takes_text=True,
    order=120,
    exemplars=(
        'make a talking head video from this audio',
        'animate this face to speak my recording',
        'make this photo talk',
        'lip sync this portrait to the voice',
        'create a video of a face saying this audio',
        'make an avatar speak this speech',
        'make the person in this picture say it',
        'turn this audio into a talking face video',
        'animate the portrait with this voice',
        'generate a video of this person speaking',
        'make a lip-synced video',
        'have this picture read the recording',
        'create a talking avatar',
        'make her mouth move to the audio',
        'make a video of a virtual presenter reading this',
        'make this picture say something',
        'Erstelle ein Video, in dem dieses Porträt spricht',
        'Haz que esta foto hable con este audio',
        "Anime ce portrait pour qu'il parle",
        '让这张照片里的人开口说话',
        'Generate a video of the portrait speaking the given audio.',
        'Animate the face in the image so its lips follow the speech.',
        'Create a lip-synced talking-face video from this photo and voice recording.',
        'animate this face',
        'animate him with my recording',
        'make her talk',
        'make the portrait speak',
        'bring this photo to life with my voice',
        'talking head video from this photo and audio',
        'talking head please',
        'lip sync the picture to the audio',
        'let this picture speak the recording',
    ),
    templates=(),
)
