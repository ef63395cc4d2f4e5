"""What a picture probably sounds like, from colour and texture statistics (no neural network).

No registry package ships image-classifier or captioner weights that run without torch (the
ONNX CLIP wrappers on PyPI download their models on first use), so the lite image-to-audio
reads what pixels can honestly say and names every cue it used:

* where the picture is blue and textured in its lower half: water (a stream, or surf when the
  blue reaches a flat horizon); blue and smooth in the upper half: open sky (wind);
* green foliage: birds and wind in leaves;
* dark overall: night (crickets, a little wind);
* grey, low saturation, many straight edges: a city (traffic);
* bright orange/red on a dark surround: fire;
* white, low saturation, bright: snow or a bright overcast day (wind).

The cues become a text description handed to the procedural text-to-audio.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from audiogpt.image_header import ACCEPTED as IMAGE_FORMATS
from audiogpt.image_header import MAX_IMAGE_PIXELS, ImageRefused, check_image
from audiogpt.models.base import BadInput, Image

MAX_PIXELS = MAX_IMAGE_PIXELS  # the project's one decompression-bomb guard (audiogpt.image_header)
ANALYSIS_SIDE = 256


@dataclass
class SceneCues:
    description: str  # what text-to-audio is asked for
    cues: list[str] = field(default_factory=list)  # why, in words
    stats: dict[str, float] = field(default_factory=dict)


def load_pixels(image: Image | bytes, side: int = ANALYSIS_SIDE) -> np.ndarray:
    """RGB float array in [0, 1], longest side at most ``side``; BadInput when it is not an image."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    data = image.data if isinstance(image, Image) else image
    if not data:
        raise BadInput("The image file is empty.")
    try:  # the header's size and format, before Pillow decodes a single pixel
        check_image(data, max_pixels=MAX_PIXELS)
    except ImageRefused as exc:
        raise BadInput(str(exc)) from exc
    try:
        with PILImage.open(io.BytesIO(data), formats=list(IMAGE_FORMATS)) as im:
            im.draft("RGB", (side, side))
            rgb = im.convert("RGB")
            rgb.thumbnail((side, side))
            arr = np.asarray(rgb, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadInput("That file is not an image I can read; send a PNG, JPEG, GIF or WebP picture.") from exc
    if arr.ndim != 3 or min(arr.shape[:2]) < 4:
        raise BadInput("The image is too small to tell what it shows.")
    return arr


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mx = rgb.max(axis=2)
    mn = rgb.min(axis=2)
    delta = mx - mn
    sat = np.where(mx > 1e-6, delta / np.maximum(mx, 1e-6), 0.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.maximum(delta, 1e-6)
    hue = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)) * 60.0
    hue = np.where(delta < 1e-6, 0.0, hue)
    return hue, sat, mx


def analyse(rgb: np.ndarray) -> SceneCues:
    """Scene cues from colour fractions per image half, brightness, and edge texture."""
    hue, sat, val = _hsv(rgb)
    h = rgb.shape[0]
    top, bottom = slice(0, h // 2), slice(h // 2, h)
    colourful = (sat > 0.25) & (val > 0.2)
    blue = colourful & (hue >= 180) & (hue <= 250)
    green = colourful & (hue >= 70) & (hue < 170)
    fiery = (sat > 0.5) & (val > 0.6) & ((hue < 45) | (hue > 340))
    grey = (sat < 0.15) & (val > 0.15) & (val < 0.85)
    white = (sat < 0.12) & (val >= 0.85)
    gray = rgb.mean(axis=2)
    gx = np.abs(np.diff(gray, axis=1))[:-1, :]
    gy = np.abs(np.diff(gray, axis=0))[:, :-1]
    edges = (gx + gy) > 0.12
    texture_bottom = float(((gx + gy)[bottom.start : -1 or None] if h > 2 else gx).mean())
    # straight edges: long runs of horizontal or vertical gradient in the same rows/columns
    straight = float(np.mean(np.sort(edges.mean(axis=1))[-max(1, h // 10) :]) + np.mean(
        np.sort(edges.mean(axis=0))[-max(1, rgb.shape[1] // 10) :]))
    stats = {
        "brightness": float(val.mean()),
        "blue_top": float(blue[top].mean()),
        "blue_bottom": float(blue[bottom].mean()),
        "green": float(green.mean()),
        "fire": float(fiery.mean()),
        "grey": float(grey.mean()),
        "white": float(white.mean()),
        "edges": float(edges.mean()),
        "straight_edges": straight,
        "texture_bottom": texture_bottom,
    }
    sounds: list[str] = []
    cues: list[str] = []
    dark = stats["brightness"] < 0.22
    if stats["fire"] > 0.04 and (dark or stats["brightness"] < 0.45):
        sounds.append("a crackling fire")
        cues.append(f"bright orange/red on a dark surround ({stats['fire']:.0%} of the picture)")
    if stats["blue_bottom"] > 0.2:
        if stats["texture_bottom"] > 0.06:
            sounds.append("a flowing stream")
            cues.append(f"textured blue in the lower half ({stats['blue_bottom']:.0%}): water")
        else:
            sounds.append("ocean waves")
            cues.append(f"smooth blue in the lower half ({stats['blue_bottom']:.0%}): open water")
    if stats["green"] > 0.18:
        sounds.append("birds singing")
        cues.append(f"green foliage ({stats['green']:.0%})")
    if stats["grey"] > 0.35 and stats["straight_edges"] > 0.25 and stats["green"] < 0.2:
        sounds.append("city traffic")
        cues.append(f"grey surfaces with many straight edges ({stats['grey']:.0%} grey)")
    if dark and not any("fire" in s for s in sounds):
        sounds.append("crickets at night")
        cues.append(f"a dark picture (mean brightness {stats['brightness']:.2f}): night")
    if stats["blue_top"] > 0.25 or stats["white"] > 0.4 or stats["green"] > 0.18:
        sounds.append("a gentle wind")
        if stats["blue_top"] > 0.25:
            cues.append(f"blue sky in the upper half ({stats['blue_top']:.0%})")
        elif stats["white"] > 0.4:
            cues.append(f"bright white, unsaturated areas ({stats['white']:.0%}): snow or overcast sky")
    if not sounds:
        # an indoor or abstract picture: a quiet room tone, honestly labelled
        sounds.append("a quiet room with a soft electrical hum")
        cues.append("no outdoor colour cue (no sky, water, foliage, fire or night): a quiet indoor room")
    return SceneCues(description=" and ".join(dict.fromkeys(sounds)), cues=cues, stats=stats)
