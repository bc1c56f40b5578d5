"""Image decoding: any JPEG/PNG (gray, RGB, CMYK, palette, 16-bit) to float32 in [0, 1].

The longest side is brought to at most ``max_side`` pixels.  For JPEGs much larger than that, the
decoder is asked to downscale in the DCT domain first (``PIL.Image.draft``: decoding at 1/2, 1/4 or
1/8 scale costs a fraction of a full decode), and the remaining factor is done with an
antialiasing resize.  EXIF orientation tags are ignored, as in the ILSVRC and Caltech-101
conventions (pixels are used as stored).

Gray conversion uses ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B), as MATLAB's ``rgb2gray``.
Anything that is not a decodable image raises :class:`ImageError` with the path and the reason.

Memory is bounded before decoding: an image that would still hold more than
:data:`MAX_DECODE_PIXELS` pixels once decoded (after the JPEG reduction; PNG, TIFF, GIF and WebP are
always decoded whole) is refused from its header, in milliseconds.  A 14,000 x 14,000 PNG of 571 KB
would otherwise take over 1 GB of memory to be shrunk to 300 pixels.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

Image.MAX_IMAGE_PIXELS = 200_000_000   # far beyond any real photo; guards against decompression bombs
# pixels an image may hold when decoded (after a JPEG's DCT-domain reduction): 50 Mpx is a 7,000 x 7,000
# image, ~200 MB decoded as RGB plus its gray copy; the ILSVRC and Caltech-101 photos are far smaller
MAX_DECODE_PIXELS = 50_000_000


class ImageError(ValueError):
    """A file that cannot be used as an image; the message names the file and the reason."""


def target_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) after scaling so that the longest side is at most ``max_side``."""
    longest = max(width, height)
    if not max_side or longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def load_image(path: str | os.PathLike, mode: str = "gray", max_side: int | None = 300) -> np.ndarray:
    """Decode ``path`` to float32 in [0, 1]: (H, W) for ``mode="gray"``, (H, W, 3) for ``"rgb"``."""
    if mode not in ("gray", "rgb"):
        raise ValueError(f"mode must be 'gray' or 'rgb', not {mode!r}")
    pil_mode = "L" if mode == "gray" else "RGB"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                size = target_size(*im.size, max_side)
                if im.format == "JPEG" and size != im.size:
                    # DCT-domain downscale to the smallest power-of-two reduction still >= size
                    im.draft(pil_mode if im.mode != "CMYK" else None, size)
                if im.size[0] * im.size[1] > MAX_DECODE_PIXELS:
                    raise ImageError(f"{path}: a {im.size[0]:,} x {im.size[1]:,} {im.format} image "
                                     f"({im.size[0] * im.size[1] / 1e6:,.0f} Mpx) is above the decoding limit of "
                                     f"{MAX_DECODE_PIXELS / 1e6:,.0f} Mpx (it would be decoded whole to be shrunk); "
                                     f"resize it first, or raise classic.data.images.MAX_DECODE_PIXELS")
                im = _convert(im, pil_mode)
                if im.size != size:
                    im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=None)
                array = np.asarray(im, dtype=np.float32)
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{path}: not a readable image ({type(exc).__name__}: {exc})") from None
    if array.size == 0:
        raise ImageError(f"{path}: empty image")
    return array * np.float32(1 / 255)


def _convert(im: Image.Image, pil_mode: str) -> Image.Image:
    if im.mode == "CMYK":
        im = im.convert("RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit gray: rescale to 8 bits before the luma conversion
        im = Image.fromarray((np.asarray(im, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # composite transparent pixels onto white, as a viewer shows them
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    return im.convert(pil_mode) if im.mode != pil_mode else im
