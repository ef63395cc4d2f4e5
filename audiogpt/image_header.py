"""An image's format and size from its header, checked before any pixel is decoded.

A picture's file size says nothing about its decoded size: a 1.2 MB PNG of
zero rows can announce 20000 x 20000 pixels, which OpenCV then decodes into
1.2 GB of BGR (2.4 GB peak in the talking-head path). Every image consumer
(artifact ingest, the talking-head backends, image-to-audio) calls
:func:`check_image` first, so the one pixel budget below holds everywhere.

Pillow's ``Image.open`` is lazy: it parses the header (PNG ``IHDR``, JPEG
``SOF``, GIF logical screen, WebP ``VP8*``, BMP info header) and decodes
nothing until asked. Only the formats every consumer can decode are accepted,
which also keeps Pillow's rarer plugins (EPS runs Ghostscript) out of reach.

This module sits at the top of the package, importing nothing from ``core``
or ``models``, because both layers need it and ``models`` may not import
``core``.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

MAX_IMAGE_PIXELS = 40_000_000  # 40 MP: a large phone photo; 120 MB as 8-bit RGB
# Pillow format name -> mime (what OpenCV and Pillow both decode)
ACCEPTED: dict[str, str] = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
}


class ImageRefused(ValueError):
    """The picture cannot be used. ``str()`` is one plain sentence for a chat user."""


class ImageTooLarge(ImageRefused):
    """The header announces more pixels than the budget (the picture was readable; it is just too big)."""


@dataclass(frozen=True)
class ImageHeader:
    """What the header says: ``format`` is Pillow's name (``PNG``, ``JPEG`` ...)."""

    format: str
    mime: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_image_header(data: bytes) -> ImageHeader:
    """Format and dimensions from the header alone; :class:`ImageRefused` when it is not a picture we take."""
    from PIL import UnidentifiedImageError

    if not data:
        raise ImageRefused("The image file is empty.")
    try:
        fmt, (width, height) = _open_lazily(data)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise ImageRefused("That file is not an image I can read; send a PNG, JPEG, GIF, WebP or BMP picture.") \
            from exc
    if width <= 0 or height <= 0:
        raise ImageRefused("That image has no pixels in it.")
    return ImageHeader(fmt, ACCEPTED[fmt], int(width), int(height))


def _open_lazily(data: bytes) -> tuple[str, tuple[int, int]]:
    """What ``Image.open`` does, restricted to :data:`ACCEPTED`, minus its decompression-bomb check.

    ``Image.open`` raises for images over twice ``Image.MAX_IMAGE_PIXELS``
    before saying how big they are, and changing that global limit is not
    thread-safe; the plugin factories it calls read the header the same way
    and leave the budget (and its sentence) to :func:`check_image`.
    """
    from PIL import Image, UnidentifiedImageError

    Image.init()
    prefix = data[:16]
    for fmt in ACCEPTED:
        factory, accept = Image.OPEN[fmt]
        if accept is not None and not accept(prefix):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = factory(io.BytesIO(data), "")
        try:
            return fmt, im.size
        finally:
            im.close()
    raise UnidentifiedImageError("not one of the accepted image formats")


def check_image(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> ImageHeader:
    """:func:`read_image_header`, then refuse a picture over ``max_pixels`` (before anything decodes it)."""
    header = read_image_header(data)
    if max_pixels and header.pixels > max_pixels:
        raise ImageTooLarge(
            f"The image is {header.width}x{header.height} pixels ({_mp(header.pixels)}); "
            f"the limit is {_mp(max_pixels)}."
        )
    return header


def _mp(pixels: int) -> str:
    mp = pixels / 1_000_000
    return f"{mp:.0f} megapixels" if mp >= 10 else f"{mp:.1f} megapixels"
