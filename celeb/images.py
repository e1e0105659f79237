"""Read any photo a user has into an 8-bit RGB array.

>>> import io
>>> from PIL import Image
>>> buf = io.BytesIO()
>>> Image.new("L", (40, 30), 128).save(buf, format="PNG")
>>> photo = read_image(buf.getvalue())
>>> photo.rgb.shape, photo.rgb.dtype.name, photo.format
((30, 40, 3), 'uint8', 'PNG')
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from .config import (
    IMAGE_SUFFIXES,
    MAX_FILE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_JPEG_FILL_RUN,
    MAX_JPEG_SCANS,
    MAX_JPEG_SEGMENTS,
    MAX_JPEG_STRAY_BYTES,
)
from .errors import (
    DatasetError,
    EmptyImageError,
    ImageError,
    ImageTooComplexError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedFormatError,
)
from .storage import FileTooLargeError, NotARegularFileError, read_regular_file

#: Pillow decoders we trust with user files. Others (EPS runs Ghostscript,
#: PSD, ICO ...) are named in a clear refusal instead.
READABLE_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF", "TIFF", "AVIF")

Image.init()  # registers every plugin, so READABLE_FORMATS can be checked
READABLE_FORMATS = tuple(name for name in READABLE_FORMATS if name in Image.OPEN)

#: The next marker, found as libjpeg finds it both between segments and in a scan's entropy-coded
#: data: 0xFF and a byte that is neither 0x00 (0xFF00 is a stuffed 0xFF in entropy-coded data, and
#: libjpeg skips it as junk elsewhere) nor 0xFF (fill bytes: the last 0xFF of a run starts the
#: marker). Anything else before it is skipped, as libjpeg skips it ("extraneous bytes"), and so are
#: restart markers (0xD0-0xD7): they have no segment, and thousands may stand in a scan's data.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
#: Markers whose segment libjpeg reads or skips by its length (or fails on): SOF0-15 with DHT, JPG
#: and DAC (C0-CF), SOS (its header: the scan's data follows), DQT, DNL, DRI, APP0-15 and COM. It
#: takes every other marker but EOI as having no segment (RST0-7, TEM) or fails on it, so the walk
#: goes on right after those.
_SEGMENT_MARKERS = frozenset([*range(0xC0, 0xD0), 0xDA, 0xDB, 0xDC, 0xDD, *range(0xE0, 0xF0), 0xFE])
_SOS, _EOI = 0xDA, 0xD9
_LONG_FILL = b"\xff" * (MAX_JPEG_FILL_RUN + 1)

#: How to turn a photo upright for each EXIF orientation (as ImageOps.exif_transpose does).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

#: Modes whose pixels Image.reduce averages in place, with no copy of the photo.
_REDUCIBLE = ("L", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "I", "F")
#: What the other modes are reduced as, a band of rows at a time: palette indices (and bits) must not
#: be averaged, Image.reduce takes no 16-bit mode, and it copies a whole LA or RGBA photo to
#: premultiply its alpha first.
_REDUCE_AS = {
    "1": "L",
    "P": "RGB",  # RGBA when it has a transparent colour
    "PA": "RGBA",
    "LA": "LA",
    "RGBA": "RGBA",
    "HSV": "RGB",
    "I;16": "I",
    "I;16L": "I",
    "I;16B": "I",
    "I;16N": "I",
}
#: Modes of more than 8 bits a channel: gray, made 8-bit a band of rows at a time.
_DEEP = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
#: About how many pixels each band of rows holds, so that no step copies a whole 49-megapixel photo
#: in a wide type (as float64 it is 392 MB).
_BAND_PIXELS = 1 << 20

_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")


@dataclass(frozen=True)
class Photo:
    """A decoded photo.

    ``rgb`` may be a reduced copy (see ``max_side`` of :func:`read_image`);
    ``original_size`` is (width, height) of the photo as stored, after EXIF
    rotation, so boxes can be reported in the user's coordinates.
    """

    rgb: np.ndarray
    original_size: tuple[int, int]
    format: str

    @property
    def scale(self) -> float:
        """Original width divided by the width of ``rgb``."""
        return self.original_size[0] / self.rgb.shape[1]


def read_image(
    source: bytes | str | Path,
    *,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_side: int | None = None,
) -> Photo:
    """Decode a photo from bytes or a path into 8-bit RGB.

    EXIF orientation is applied; grayscale, palette, alpha (composited on
    white), CMYK and 16-bit images become 8-bit RGB; an animation gives its
    first frame. With ``max_side``, JPEGs are decoded at a reduced scale
    (much faster), other formats are reduced right after decoding (before any
    full-size copy), and the result is at most about that long.

    Raises a subclass of :class:`celeb.errors.ImageError` with a message
    fit for the user.
    """
    data = _read_bytes(source)
    if not data:
        raise EmptyImageError("the file is empty (0 bytes)")
    if _is_heif(data):
        raise UnsupportedFormatError(
            "HEIC/HEIF photos (the iPhone default) are not supported: export the photo as JPEG or PNG"
        )
    _refuse_costly_jpeg(data)
    image = _open(data)
    fmt = image.format or ""
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"the image is {width}x{height} = {width * height / 1e6:.0f} megapixels, "
            f"over the limit of {max_pixels / 1e6:.0f} megapixels"
        )
    try:
        if max_side and image.format in ("JPEG", "MPO") and max(width, height) > max_side:
            # JPEG decodes at 1/2, 1/4 or 1/8 scale for a fraction of the cost;
            # a result down to 3/4 of max_side is worth the saved resize.
            factor = 0.75 * max_side / max(width, height)
            image.draft("RGB", (round(width * factor), round(height * factor)))
        image.load()
        orientation = _exif_orientation(image)
        float_scale = _float_scale(image) if image.mode == "F" else 1.0  # from the photo as stored
        if max_side:
            image = _reduce(image, max_side)
        image = _upright(image, orientation)
        rgb = _to_rgb8(image, float_scale)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(str(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        if "truncated" in str(exc).lower() or isinstance(exc, EOFError):
            raise TruncatedImageError(
                "the image is truncated (the file ends too early; was the download interrupted?)"
            ) from exc
        raise NotAnImageError(f"the image is damaged and cannot be decoded ({exc})") from exc
    if max_side and max(rgb.shape[:2]) > max_side:
        rgb, _ = shrink(rgb, max_side)
    original = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    return Photo(rgb=rgb, original_size=original, format=fmt)


def _exif_orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block must not lose the photo
        return 1


def photo_file_bytes(source: bytes | str | Path) -> bytes:
    """The bytes of a photo file as :func:`read_image` reads them (regular files only, up to the
    size limit), for whoever needs the bytes too; :class:`ImageError` saying why they cannot be read."""
    return _read_bytes(source)


def _read_bytes(source: bytes | str | Path) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    path = Path(source)
    try:
        # Regular files only, read up to the limit: a FIFO, /dev/zero or a sparse giant is refused.
        return read_regular_file(path, MAX_FILE_BYTES)
    except FileTooLargeError as exc:
        raise ImageTooLargeError(exc.strerror) from exc
    except NotARegularFileError as exc:
        raise NotAnImageError(f"{exc.strerror}, not an image file") from exc
    except IsADirectoryError as exc:
        raise NotAnImageError("this is a folder, not an image file") from exc
    except FileNotFoundError as exc:
        raise ImageError("no such file") from exc
    except PermissionError as exc:
        raise ImageError("permission denied") from exc
    except (OSError, ValueError) as exc:  # a bad path: too long, a NUL byte, through a file
        raise NotAnImageError(f"cannot read this file ({exc})") from exc


def _is_heif(data: bytes) -> bool:
    return data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


def _refuse_costly_jpeg(data: bytes) -> None:
    """Refuse a JPEG that would cost far more to decode than any photo, before decoding it.

    Every scan of a progressive JPEG is a pass over the whole photo, even at
    draft scale, so the scan count bounds the decoding cost; stray bytes and
    long runs of fill bytes cost time of their own (see :func:`_walk_jpeg`).
    """
    if not data.startswith(b"\xff\xd8"):
        return
    walk = _walk_jpeg(data)
    if walk.scans > MAX_JPEG_SCANS:
        raise ImageTooComplexError(
            f"this JPEG is built from more than {MAX_JPEG_SCANS} scans (ordinary photos have at most "
            "about 10) and would take far too long to decode; open it and save it again as a normal JPEG"
        )
    if walk.segments > MAX_JPEG_SEGMENTS:
        raise ImageTooComplexError(
            f"this JPEG is made of more than {MAX_JPEG_SEGMENTS} pieces (markers), far more than any "
            "camera or editor writes; open it and save it again as a normal JPEG"
        )
    if walk.stray_bytes > MAX_JPEG_STRAY_BYTES or walk.long_fill:
        raise ImageTooComplexError(
            "this JPEG holds long runs of stray bytes between its markers (cameras and editors write "
            "none) and would take far too long to read; open it and save it again as a normal JPEG"
        )


class _JpegWalk(NamedTuple):
    scans: int
    segments: int
    #: Bytes skipped before the first scan: Pillow reads them one at a time, in Python.
    stray_bytes: int
    #: Whether a run of 0xFF bytes where libjpeg looks for a marker is over MAX_JPEG_FILL_RUN: libjpeg
    #: reads such a run again from its start each time Pillow hands it more data (quadratic time).
    long_fill: bool


def _walk_jpeg(data: bytes) -> _JpegWalk:
    """The scans and segments (markers) of the first JPEG in ``data`` as libjpeg decodes them,
    counted up to just past the limits, and the stray and fill bytes met on the way.

    The walk does what libjpeg does, not what the standard says, so that no damage can hide a scan
    from it: it finds each marker as libjpeg does (stray bytes, fill bytes and stuffed zeros are
    skipped, between segments and in a scan's entropy-coded data alike), skips a segment by its
    length only where libjpeg does (or fails on it), and steps over every other marker. It ends at
    the first EOI, where libjpeg stops (another image after it, as in an MPO file, is another
    decode), or at the end of the data. The work is one pass over the bytes and at most
    MAX_JPEG_SEGMENTS steps.
    """
    scans = segments = stray = 0
    long_fill = False
    position = 2  # after SOI
    while scans <= MAX_JPEG_SCANS and segments <= MAX_JPEG_SEGMENTS and not long_fill:
        found = _NEXT_MARKER.search(data, position)
        long_fill = data.find(_LONG_FILL, position, found.start() if found else len(data)) >= 0
        if found is None:
            break  # the data ends here, and so does decoding
        if scans == 0:
            stray += found.start() - position
        segments += 1
        marker = data[found.start() + 1]
        position = found.end()
        if marker == _EOI:
            break
        if marker in _SEGMENT_MARKERS:
            scans += marker == _SOS
            # A length under 2 skips only itself (libjpeg skips such an APPn or COM so, fails on others).
            position += max(2, int.from_bytes(data[position : position + 2], "big"))
    return _JpegWalk(scans, segments, stray, long_fill)


def _open(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return Image.open(io.BytesIO(data), formats=READABLE_FORMATS)
        except Image.DecompressionBombError as exc:
            raise ImageTooLargeError(str(exc)) from exc
        except Exception:
            pass
        # Say which format it is, when Pillow knows it, rather than "not an image".
        try:
            other = Image.open(io.BytesIO(data))
        except Exception as exc:
            raise NotAnImageError(
                "this is not an image file (or its format is unknown); use JPEG, PNG, WebP, BMP, GIF or TIFF"
            ) from exc
        raise UnsupportedFormatError(
            f"{other.format} images are not supported; use JPEG, PNG, WebP, BMP, GIF or TIFF"
        )


def _reduce(image: Image.Image, max_side: int) -> Image.Image:
    """A decoded photo shrunk by a whole factor to more than ``max_side``, when that factor is 2 or more.

    PNG and most other formats cannot be decoded at a reduced size as JPEG
    can, so a 49-megapixel PNG of 157 KB decodes to 196 MB. Reducing it first
    (one pass, box average) means every later step (turning it upright,
    converting to RGB, the final resize) copies a small image, not that.
    A mode Image.reduce cannot average in place is converted and reduced a
    band of rows at a time, so no mode costs a full-size copy.
    """
    factor = (max(image.size) - 1) // max_side  # stays over max_side: the final resize sets the size
    if factor < 2:
        return image
    if image.mode in _REDUCIBLE:
        return image.reduce(factor)
    mode = _REDUCE_AS.get(image.mode, "RGB")
    if image.mode == "P" and "transparency" in image.info:
        mode = "RGBA"
    width, height = image.size
    reduced = Image.new(mode, (-(-width // factor), -(-height // factor)))
    for top, band in _bands(image, factor):
        # Bands of whole blocks of factor rows reduce to what the whole photo would.
        reduced.paste((band if band.mode == mode else band.convert(mode)).reduce(factor), (0, top // factor))
    return reduced


def _bands(image: Image.Image, rows_multiple: int = 1) -> Iterator[tuple[int, Image.Image]]:
    """(top row, band) for bands of rows of ``image``, each a multiple of ``rows_multiple`` rows
    (but the last) and about _BAND_PIXELS pixels."""
    width, height = image.size
    rows = rows_multiple * max(1, _BAND_PIXELS // (max(1, width) * rows_multiple))
    for top in range(0, height, rows):
        yield top, image.crop((0, top, width, min(height, top + rows)))


def _float_scale(image: Image.Image) -> float:
    """What a float photo's values are multiplied by for 8 bits, from its largest value: 0-1 data
    by 255, 16-bit data by 255/65535, 8-bit data by 1."""
    tops = [np.asarray(band).max() for _, band in _bands(image)]
    top = np.max(tops) if tops else 1.0  # NaN if any value is NaN, as for the whole photo at once
    return 255.0 if top <= 1.0 else (255.0 / 65535.0 if top > 255 else 1.0)


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    method = _UPRIGHT.get(orientation)
    return image.transpose(method) if method is not None else image  # no copy when already upright


def _to_rgb8(image: Image.Image, float_scale: float = 1.0) -> np.ndarray:
    mode = image.mode
    if mode in _DEEP:
        return _deep_to_rgb8(image, float_scale)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":  # converting an RGB image would only copy it
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def _deep_to_rgb8(image: Image.Image, float_scale: float) -> np.ndarray:
    """A 16-bit, 32-bit integer or float photo as 8-bit gray RGB, converted a band of rows at a time."""
    width, height = image.size
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    for top, band in _bands(image):
        if image.mode == "F":
            gray = np.clip(np.asarray(band, dtype=np.float64) * float_scale, 0, 255).astype(np.uint8)
        else:
            # 16-bit data keeps its top 8 bits; 32-bit integer data is clipped to 16 bits first.
            gray = (np.clip(np.asarray(band, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8)
        rgb[top : top + band.height] = gray[..., None]
    return rgb


def shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy at most ``max_side`` long (``image`` itself when it is no longer), and the factor
    (at most 1) its coordinates were multiplied by."""
    import cv2

    height, width = image.shape[:2]
    factor = min(1.0, max_side / max(height, width))
    if factor == 1.0:
        return image, 1.0
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), factor


def mirrored(crop: np.ndarray) -> np.ndarray:
    """The crop flipped left to right: a free extra training example."""
    return np.ascontiguousarray(crop[:, ::-1])


def encode_png(rgb: np.ndarray) -> bytes:
    """An RGB array as PNG bytes (a face crop as the dataset stores it)."""
    import cv2

    ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DatasetError("could not encode a crop as PNG")
    return buffer.tobytes()


def decode_png(path: Path) -> np.ndarray:
    """A crop file as RGB; DatasetError when it is missing, not a file, or damaged."""
    import cv2

    try:
        raw = read_regular_file(path, MAX_FILE_BYTES)
    except FileNotFoundError as exc:
        raise DatasetError(f"the crop file {path.name} is missing") from exc
    except OSError as exc:
        raise DatasetError(f"the crop file {path.name} cannot be read ({exc.strerror or exc})") from exc
    bgr = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR) if raw else None
    if bgr is None:
        raise DatasetError(f"the crop file {path.name} is damaged")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image_files(folder: Path, on_error: Callable[[OSError], None] | None = None) -> list[Path]:
    """The image files in ``folder`` and its sub-folders, by their path inside it.

    Images are known by their name's suffix (any case); hidden files and
    folders (a name starting with ".") are left out, as are links to folders
    (a link back up would never end). A sub-folder that cannot be read goes
    to ``on_error``.
    """
    found = []
    for where, folders, files in os.walk(folder, onerror=on_error):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [
            Path(where, name)
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES
        ]
    # By path parts, so that a folder's photos stay together ("a/x.jpg" before "a b/x.jpg").
    return sorted(found, key=lambda path: path.relative_to(folder).parts)
