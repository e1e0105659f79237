"""Tests for celeb.images.read_image.

Every image is generated here (numpy + Pillow, in memory or in tmp_path):
no fixture files, no network.
"""

from __future__ import annotations

import functools
import io
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from celeb import errors
from celeb.config import MAX_JPEG_FILL_RUN, MAX_JPEG_SCANS, MAX_JPEG_SEGMENTS, MAX_JPEG_STRAY_BYTES
from celeb.errors import (
    CelebError,
    EmptyImageError,
    ImageError,
    ImageTooComplexError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedFormatError,
)
from celeb.images import Photo, read_image

WHITE = (255, 255, 255)
RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)


# --------------------------------------------------------------------------- helpers


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    """The bytes of ``image`` saved as ``fmt``."""
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Random RGB pixels: incompressible, so a file cut in half loses image data."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def assert_rgb8(photo: Photo, shape: tuple[int, int, int]) -> np.ndarray:
    """The invariants of every result, then the array itself."""
    assert isinstance(photo, Photo)
    rgb = photo.rgb
    assert isinstance(rgb, np.ndarray)
    assert rgb.dtype == np.uint8
    assert rgb.ndim == 3
    assert rgb.shape[2] == 3
    assert rgb.flags["C_CONTIGUOUS"]
    assert rgb.shape == shape
    return rgb


def assert_close(pixel: np.ndarray, expected: tuple[int, int, int], tolerance: int) -> None:
    diff = np.abs(pixel.astype(int) - np.array(expected))
    assert diff.max() <= tolerance, f"{pixel.tolist()} is not within {tolerance} of {expected}"


def expect_error(exc_type: type[ImageError], phrase: str, source, **kwargs) -> ImageError:
    """read_image(source) raises exactly ``exc_type`` with ``phrase`` in its message."""
    with pytest.raises(exc_type) as info:
        read_image(source, **kwargs)
    assert type(info.value) is exc_type
    assert phrase in str(info.value)
    return info.value


@pytest.fixture(params=["bytes", "path", "str"])
def as_source(request, tmp_path: Path):
    """Turn encoded bytes into each kind of input read_image accepts."""

    def convert(data: bytes, name: str = "image.bin") -> bytes | Path | str:
        if request.param == "bytes":
            return data
        path = tmp_path / name
        path.write_bytes(data)
        return path if request.param == "path" else str(path)

    return convert


# --------------------------------------------------------------------------- error types


@pytest.mark.parametrize(
    "exc_type",
    [
        ImageError,
        EmptyImageError,
        NotAnImageError,
        UnsupportedFormatError,
        TruncatedImageError,
        ImageTooLargeError,
        ImageTooComplexError,
    ],
)
def test_every_image_error_is_an_image_error_and_a_celeb_error(exc_type):
    assert issubclass(exc_type, errors.ImageError)
    assert issubclass(exc_type, errors.CelebError)
    assert issubclass(exc_type, ValueError)  # documented: callers may catch ValueError
    assert isinstance(exc_type("message"), CelebError)


# --------------------------------------------------------------------------- bad files


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    expect_error(EmptyImageError, "empty", path)


def test_zero_bytes(as_source):
    expect_error(EmptyImageError, "empty", as_source(b"", "empty.png"))


def test_text_file(as_source):
    text = b"Hello, this is a shopping list.\nmilk\neggs\n" * 20
    expect_error(NotAnImageError, "not an image", as_source(text, "notes.txt"))


def test_random_bytes(as_source):
    data = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    expect_error(NotAnImageError, "not an image", as_source(data, "random.jpg"))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image(fmt, as_source):
    data = encode(Image.fromarray(noise(64, 64)), fmt)
    cut = data[: len(data) // 2]
    # What Pillow itself does with the cut file: the header opens, the decode
    # fails with an OSError saying "truncated".
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    with pytest.raises(OSError, match="truncated"):
        Image.open(io.BytesIO(cut)).load()
    error = expect_error(TruncatedImageError, "truncated", as_source(cut, f"cut.{fmt.lower()}"))
    assert isinstance(error.__cause__, OSError)


@pytest.mark.parametrize("brand", [b"heic", b"mif1"])
def test_heic(brand, as_source):
    data = b"\x00\x00\x00\x18ftyp" + brand + b"\x00" * 200
    expect_error(UnsupportedFormatError, "HEIC", as_source(data, "IMG_0001.HEIC"))


@pytest.mark.parametrize("fmt", ["ICO", "PPM", "TGA"])
def test_known_but_unsupported_format(fmt, as_source):
    data = encode(Image.fromarray(noise(32, 32)), fmt)
    expect_error(UnsupportedFormatError, f"{fmt} images are not supported", as_source(data, "picture"))


def test_decompression_bomb_is_refused_from_the_header(monkeypatch, as_source):
    data = encode(Image.new("1", (10_000, 10_000), 0), "PNG")
    assert len(data) < 100_000  # 100 megapixels, tiny on disk
    source = as_source(data, "bomb.png")

    def no_decode(self, *args, **kwargs):
        raise AssertionError("the bomb was decoded")

    # The pixel count is checked on the header alone: the pixels are never decoded.
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    expect_error(ImageTooLargeError, "over the limit", source, max_pixels=50_000_000)


def test_max_pixels_boundary():
    data = encode(Image.new("RGB", (100, 100), RED), "PNG")
    assert_rgb8(read_image(data, max_pixels=10_000), (100, 100, 3))
    expect_error(ImageTooLargeError, "over the limit", data, max_pixels=9_999)


def test_folder(tmp_path):
    expect_error(NotAnImageError, "folder", tmp_path)
    expect_error(NotAnImageError, "folder", str(tmp_path))


def test_missing_path(tmp_path):
    expect_error(ImageError, "no such file", tmp_path / "nowhere.jpg")
    expect_error(ImageError, "no such file", str(tmp_path / "nowhere.jpg"))


# --------------------------------------------------------------------------- good conversions


@pytest.mark.parametrize(
    ("fmt", "params"),
    [("PNG", {}), ("TIFF", {}), ("BMP", {}), ("WEBP", {"lossless": True})],
)
def test_lossless_rgb_round_trip(fmt, params, as_source):
    pixels = noise(6, 8, seed=2)
    photo = read_image(as_source(encode(Image.fromarray(pixels), fmt, **params)))
    rgb = assert_rgb8(photo, (6, 8, 3))
    np.testing.assert_array_equal(rgb, pixels)
    assert photo.format == fmt
    assert photo.original_size == (8, 6)
    assert photo.scale == 1.0


def test_jpeg(as_source):
    photo = read_image(as_source(encode(Image.new("RGB", (16, 8), (200, 40, 90)), "JPEG", quality=95)))
    rgb = assert_rgb8(photo, (8, 16, 3))
    assert_close(rgb[4, 8], (200, 40, 90), tolerance=4)
    assert photo.format == "JPEG"
    assert photo.original_size == (16, 8)


def test_grayscale(as_source):
    photo = read_image(as_source(encode(Image.new("L", (7, 5), 77), "PNG")))
    rgb = assert_rgb8(photo, (5, 7, 3))
    assert (rgb == 77).all()


def test_palette(as_source):
    image = Image.new("P", (4, 2), 0)
    image.putpalette([10, 20, 30, 200, 100, 50])
    image.paste(1, (2, 0, 4, 2))
    data = encode(image, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "P"
    rgb = assert_rgb8(read_image(as_source(data)), (2, 4, 3))
    assert (rgb[:, :2] == (10, 20, 30)).all()
    assert (rgb[:, 2:] == (200, 100, 50)).all()


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency(fmt, as_source):
    image = Image.new("P", (4, 2), 0)
    image.putpalette([255, 0, 255, 10, 200, 30])
    image.paste(1, (2, 0, 4, 2))
    data = encode(image, fmt, transparency=0)
    reopened = Image.open(io.BytesIO(data))
    assert reopened.mode == "P"
    assert "transparency" in reopened.info
    rgb = assert_rgb8(read_image(as_source(data)), (2, 4, 3))
    assert (rgb[:, :2] == WHITE).all()  # transparent magenta is composited on white
    assert (rgb[:, 2:] == (10, 200, 30)).all()


def test_rgba_is_composited_on_white(as_source):
    image = Image.new("RGBA", (3, 1))
    image.putpixel((0, 0), (10, 20, 30, 0))  # fully transparent
    image.putpixel((1, 0), (10, 20, 30, 255))  # opaque
    image.putpixel((2, 0), (0, 0, 0, 128))  # half transparent black
    rgb = assert_rgb8(read_image(as_source(encode(image, "PNG"))), (1, 3, 3))
    assert tuple(rgb[0, 0]) == WHITE
    assert tuple(rgb[0, 1]) == (10, 20, 30)
    assert_close(rgb[0, 2], (127, 127, 127), tolerance=1)


def test_gray_with_alpha(as_source):
    image = Image.new("LA", (2, 1))
    image.putpixel((0, 0), (0, 0))  # transparent black
    image.putpixel((1, 0), (50, 255))  # opaque gray
    data = encode(image, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "LA"
    rgb = assert_rgb8(read_image(as_source(data)), (1, 2, 3))
    assert tuple(rgb[0, 0]) == WHITE
    assert tuple(rgb[0, 1]) == (50, 50, 50)


@pytest.mark.parametrize(
    ("cmyk", "expected"),
    [((255, 0, 0, 0), (0, 255, 255)), ((0, 0, 0, 0), WHITE), ((0, 0, 0, 255), (0, 0, 0))],
)
def test_cmyk_jpeg(cmyk, expected, as_source):
    data = encode(Image.new("CMYK", (16, 16), cmyk), "JPEG", quality=100)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    photo = read_image(as_source(data))
    rgb = assert_rgb8(photo, (16, 16, 3))
    assert_close(rgb[8, 8], expected, tolerance=2)
    assert photo.format == "JPEG"


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_grayscale_keeps_the_top_8_bits(fmt, as_source):
    values = np.array([[65535, 32768, 0, 255, 256]], dtype=np.uint16)
    data = encode(Image.fromarray(values), fmt)
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    rgb = assert_rgb8(read_image(as_source(data)), (1, 5, 3))
    np.testing.assert_array_equal(rgb[0, :, 0], [255, 128, 0, 0, 1])
    assert (rgb == rgb[..., :1]).all()  # gray: the three channels are equal


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF"])
def test_one_bit(fmt, as_source):
    image = Image.new("1", (8, 4), 0)
    image.paste(1, (0, 0, 4, 4))
    data = encode(image, fmt)
    assert Image.open(io.BytesIO(data)).mode == "1"
    rgb = assert_rgb8(read_image(as_source(data)), (4, 8, 3))
    assert (rgb[:, :4] == 255).all()
    assert (rgb[:, 4:] == 0).all()


def test_animated_gif_gives_the_first_frame(as_source):
    frames = [Image.new("RGB", (10, 6), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    photo = read_image(as_source(data))
    rgb = assert_rgb8(photo, (6, 10, 3))
    assert (rgb == RED).all()
    assert photo.format == "GIF"


def test_exif_orientation_6(as_source):
    # Stored 40 wide and 20 tall, top-left quarter red, the rest blue.
    # Orientation 6 means "turn 90 degrees clockwise to view": the viewed
    # photo is 20 wide and 40 tall, with the red quarter at the top right.
    image = Image.new("RGB", (40, 20), BLUE)
    image.paste(RED, (0, 0, 20, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(image, "JPEG", quality=95, exif=exif)
    photo = read_image(as_source(data))
    rgb = assert_rgb8(photo, (40, 20, 3))
    assert photo.original_size == (20, 40)
    assert photo.scale == 1.0
    assert_close(rgb[10, 15], RED, tolerance=40)  # top right
    assert_close(rgb[10, 5], BLUE, tolerance=40)  # top left
    assert_close(rgb[30, 5], BLUE, tolerance=40)  # bottom left
    assert_close(rgb[30, 15], BLUE, tolerance=40)  # bottom right


@pytest.mark.parametrize("max_side", [500, 1000, 640])
def test_max_side_shrinks_a_large_jpeg(max_side, as_source):
    image = Image.new("RGB", (3000, 2000), RED)
    image.paste(BLUE, (1500, 0, 3000, 2000))
    photo = read_image(as_source(encode(image, "JPEG", quality=90)), max_side=max_side)
    rgb = photo.rgb
    assert rgb.dtype == np.uint8
    assert rgb.ndim == 3
    assert rgb.shape[2] == 3
    assert rgb.flags["C_CONTIGUOUS"]
    height, width = rgb.shape[:2]
    # A JPEG may come back down to 3/4 of max_side: decoding at the next DCT scale saves a resize.
    assert max_side * 0.75 <= max(height, width) <= max_side
    assert width / height == pytest.approx(1.5, rel=0.01)
    assert photo.original_size == (3000, 2000)
    assert photo.scale == pytest.approx(3000 / width)
    assert photo.format == "JPEG"
    assert_close(rgb[height // 2, width // 4], RED, tolerance=10)
    assert_close(rgb[height // 2, 3 * width // 4], BLUE, tolerance=10)


def test_max_side_shrinks_a_png():
    photo = read_image(encode(Image.new("RGB", (1200, 800), GREEN), "PNG"), max_side=300)
    rgb = assert_rgb8(photo, (200, 300, 3))
    assert (rgb == GREEN).all()
    assert photo.original_size == (1200, 800)
    assert photo.scale == 4.0


def test_a_large_png_is_reduced_before_any_full_size_copy(monkeypatch):
    # A PNG cannot be decoded at reduced size: a 49 MP one of 157 KB decodes to 196 MB, and every
    # full-size copy after that (upright, RGB, array) cost as much again (+655 MB per photo).
    copied = []
    for method in ("copy", "convert", "transpose", "tobytes"):
        original = getattr(Image.Image, method)

        def recording(self, *args, _original=original, **kwargs):
            copied.append(self.size)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Image.Image, method, recording)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = read_image(encode(Image.new("RGB", (3000, 2000), GREEN), "PNG", exif=exif), max_side=500)
    assert all(max(size) < 1000 for size in copied), copied
    rgb = assert_rgb8(photo, (500, 333, 3))  # still turned upright
    assert (rgb == GREEN).all()
    assert photo.original_size == (2000, 3000)


@pytest.mark.parametrize("mode", ["P", "P with transparency", "1", "LA", "RGBA"])
def test_a_large_image_of_any_mode_keeps_its_colours_when_reduced(mode):
    # Palette indices must never be averaged; alpha is still composited on white.
    image = Image.new("RGB", (1200, 900), RED)
    image.paste(BLUE, (600, 0, 1200, 900))
    if mode == "1":
        image = Image.new("1", (1200, 900), 1)
        image.paste(0, (600, 0, 1200, 900))
        left, right = WHITE, (0, 0, 0)
    elif mode in ("LA", "RGBA"):
        image = image.convert(mode)
        image.putalpha(255)
        image.paste((0,) * len(mode), (600, 0, 1200, 900))  # transparent on the right
        left = (76, 76, 76) if mode == "LA" else RED
        right = WHITE
    else:
        image = image.quantize(4)
        left, right = RED, BLUE
        if mode != "P":
            image.info["transparency"] = image.getpixel((900, 450))  # the blue half
            right = WHITE
    photo = read_image(encode(image, "PNG"), max_side=300)  # PNG saves image.info's transparency
    rgb = assert_rgb8(photo, (225, 300, 3))
    assert_close(rgb[100, 50], left, tolerance=2)
    assert_close(rgb[100, 250], right, tolerance=2)


@pytest.mark.parametrize(
    ("mode", "left", "right", "expected"),
    [
        ("I;16", 0xAB00 + 0xFF, 0x1200, (0xAB, 0x12)),  # the top 8 bits
        ("I;16B", 0xAB00 + 0xFF, 0x1200, (0xAB, 0x12)),
        ("I", 70_000, -5, (255, 0)),  # clipped to 16 bits
        ("F", 0.5, 1.0, (127, 255)),  # 0-1 data
        ("F", 200.0, 20.0, (200, 20)),  # 8-bit data
        ("F", 30_000.0, 65_535.0, (116, 255)),  # 16-bit data
    ],
)
def test_a_large_deep_image_keeps_its_values_when_reduced(mode, left, right, expected):
    image = Image.new(mode, (1200, 900), left)
    image.paste(Image.new(mode, (600, 900), right), (600, 0))  # (paste(value) fills I;16 with 0)
    data = encode(image, "TIFF")
    assert Image.open(io.BytesIO(data)).mode == mode
    small = read_image(data, max_side=300)
    rgb = assert_rgb8(small, (225, 300, 3))
    assert tuple(rgb[100, [50, 250], 0]) == expected
    assert (rgb == rgb[..., :1]).all()  # gray
    full = read_image(data).rgb  # and as without max_side
    assert tuple(full[100, [50, 1150], 0]) == expected


def test_a_float_image_is_scaled_by_the_largest_value_of_the_whole_photo():
    # One pixel over 255 makes it 16-bit data, however the photo is reduced.
    image = Image.new("F", (1200, 900), 20_000.0)
    image.putpixel((5, 5), 65_535.0)
    data = encode(image, "TIFF")
    assert read_image(data).rgb[100, 100, 0] == 77
    assert read_image(data, max_side=300).rgb[100, 100, 0] == 77


def test_max_side_leaves_a_small_image_alone():
    pixels = noise(30, 40, seed=3)
    photo = read_image(encode(Image.fromarray(pixels), "PNG"), max_side=640)
    np.testing.assert_array_equal(assert_rgb8(photo, (30, 40, 3)), pixels)
    assert photo.original_size == (40, 30)


def test_max_side_decodes_a_jpeg_at_reduced_scale(monkeypatch):
    # The docstring promises a reduced-scale JPEG decode, not a full decode then a resize.
    from PIL import JpegImagePlugin

    decoded_sizes = []
    load = JpegImagePlugin.JpegImageFile.load

    def recording_load(self):
        decoded_sizes.append(self.size)
        return load(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", recording_load)
    data = encode(Image.new("RGB", (3000, 2000), RED), "JPEG")
    photo = read_image(data, max_side=500)
    assert decoded_sizes
    assert max(decoded_sizes[0]) < 3000
    assert max(photo.rgb.shape[:2]) <= 500
    assert photo.original_size == (3000, 2000)


# --------------------------------------------------------------------------- costly JPEGs


def progressive_jpeg(size: tuple[int, int] = (96, 64)) -> bytes:
    """A real progressive JPEG (Pillow, libjpeg's default script: 10 scans)."""
    data = encode(Image.fromarray(noise(size[1], size[0], seed=4)), "JPEG", progressive=True)
    assert data.count(b"\xff\xda") == 10
    return data


def with_scans(data: bytes, scans: int) -> bytes:
    """``data`` with its last scan (an AC refinement scan) repeated up to ``scans`` scans in all."""
    last = data.rindex(b"\xff\xda")
    extra = scans - data.count(b"\xff\xda")
    return data[:last] + data[last:-2] * (1 + extra) + data[-2:]


def test_a_normal_progressive_jpeg_decodes(as_source):
    photo = read_image(as_source(progressive_jpeg()))
    assert_rgb8(photo, (64, 96, 3))


def test_a_jpeg_with_thousands_of_scans_is_refused_before_decoding(monkeypatch, as_source):
    # One AC scan repeated 10,000 times: each one is a pass over the photo (30-46 s at 49 MP).
    from PIL import JpegImagePlugin

    def no_decoding(self):
        raise AssertionError("the file was decoded")

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", no_decoding)
    bomb = with_scans(progressive_jpeg(), 10_000)
    started = time.perf_counter()
    expect_error(ImageTooComplexError, "scans", as_source(bomb))
    assert time.perf_counter() - started < 1.0


def test_the_scan_limit_is_exact():
    data = progressive_jpeg()
    assert_rgb8(read_image(with_scans(data, MAX_JPEG_SCANS)), (64, 96, 3))
    expect_error(ImageTooComplexError, "scans", with_scans(data, MAX_JPEG_SCANS + 1))


def test_scan_markers_inside_other_segments_are_not_counted():
    # A comment (or an EXIF thumbnail) may hold the bytes of a scan marker; they are not scans.
    data = progressive_jpeg()
    comment = b"\xff\xda" * 200
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    assert_rgb8(read_image(data[:2] + segment + data[2:]), (64, 96, 3))


def test_a_jpeg_of_countless_tiny_segments_is_refused():
    # Counting scans walks every segment: a file of empty comments must not make that walk long.
    data = progressive_jpeg()
    empty_comment = b"\xff\xfe\x00\x02"
    padded = data[:2] + empty_comment * (MAX_JPEG_SEGMENTS + 1) + data[2:]
    expect_error(ImageTooComplexError, "markers", padded)


# The scan count must follow the file as libjpeg does: it skips stray bytes, fill bytes and stuffed
# zeros wherever it looks for a marker, and an APPn or COM whose length is under 2 is only its
# length. A count that stopped at any of them let the 10,000 scans after it be decoded (37 s at 49 MP).


@functools.cache
def scan_bomb() -> bytes:
    return with_scans(progressive_jpeg(), 10_000)


def segment_end(data: bytes, marker: int) -> int:
    """Where the first segment with ``marker`` ends, in a well-formed JPEG's header."""
    position = 2
    while True:
        end = position + 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if data[position + 1] == marker:
            return end
        position = end


def insert(data: bytes, at: int, extra: bytes) -> bytes:
    return data[:at] + extra + data[at:]


def scan_offset(data: bytes, n: int) -> int:
    """Where the ``n``th scan (SOS marker) starts."""
    position = -1
    for _ in range(n):
        position = data.index(b"\xff\xda", position + 1)
    return position


DAMAGE_LIBJPEG_TOLERATES = {
    "a stray byte after APP0": lambda d: insert(d, segment_end(d, 0xE0), b"\x00"),
    "stray bytes before SOF": lambda d: insert(d, d.index(b"\xff\xc2"), b"junk"),
    "many stray bytes after APP0": lambda d: insert(d, segment_end(d, 0xE0), bytes(1000)),
    "a stuffed zero after APP0": lambda d: insert(d, segment_end(d, 0xE0), b"\xff\x00"),
    "an APP1 of length 0": lambda d: insert(d, 2, b"\xff\xe1\x00\x00"),
    "a comment of length 1": lambda d: insert(d, 2, b"\xff\xfe\x00\x01"),
    "fill bytes before every scan": lambda d: d.replace(b"\xff\xda", b"\xff\xff\xff\xda"),
    "stray bytes before every scan": lambda d: d.replace(b"\xff\xda", b"\x00junk\xff\xda"),
    "stuffed zeros before every scan": lambda d: d.replace(b"\xff\xda", b"\xff\x00\xff\xda"),
    "restart markers before every scan": lambda d: d.replace(b"\xff\xda", b"\xff\xd3\xff\xda"),
    "a comment in the first scan's data": lambda d: insert(d, scan_offset(d, 1) + 20, b"\xff\xfe\x00\x04ab"),
    "a DNL segment before the second scan": lambda d: insert(d, scan_offset(d, 2), b"\xff\xdc\x00\x04\x00@"),
}


@pytest.mark.parametrize("damage", DAMAGE_LIBJPEG_TOLERATES.values(), ids=DAMAGE_LIBJPEG_TOLERATES.keys())
def test_a_damaged_jpeg_with_thousands_of_scans_is_still_refused_before_decoding(damage, monkeypatch):
    from PIL import JpegImagePlugin

    def no_decoding(self):
        raise AssertionError("the file was decoded")

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", no_decoding)
    started = time.perf_counter()
    expect_error(ImageTooComplexError, "scans", damage(scan_bomb()))
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("damage", DAMAGE_LIBJPEG_TOLERATES.values(), ids=DAMAGE_LIBJPEG_TOLERATES.keys())
def test_an_ordinary_jpeg_with_damage_libjpeg_tolerates_still_decodes(damage):
    assert_rgb8(read_image(damage(progressive_jpeg())), (64, 96, 3))


@pytest.mark.parametrize("length", [b"\xff\xff", b"\x00\x00"])
def test_a_scan_header_with_a_wrong_length_stops_the_decoder(length):
    # The walk skips a scan header by its length as libjpeg reads it; libjpeg fails on any length
    # but the right one, so the scans after it are never decoded.
    data = scan_bomb()
    eleventh = scan_offset(data, 11)
    damaged = data[: eleventh + 2] + length + data[eleventh + 4 :]
    with pytest.raises(ImageError):
        read_image(damaged)


def test_another_image_after_the_end_marker_is_not_decoded():
    # libjpeg stops at the first EOI: a second image after it (an MPO file's) is another decode,
    # which read_image never asks for, so its scans do not count.
    first = progressive_jpeg()
    photo = read_image(first + scan_bomb())
    np.testing.assert_array_equal(assert_rgb8(photo, (64, 96, 3)), read_image(first).rgb)


def test_stray_bytes_before_the_first_scan_are_limited():
    # Pillow reads them one at a time in Python: 10 MB of them cost 3 to 7 s.
    data = progressive_jpeg()
    at = segment_end(data, 0xE0)
    assert_rgb8(read_image(insert(data, at, bytes(MAX_JPEG_STRAY_BYTES))), (64, 96, 3))
    expect_error(ImageTooComplexError, "stray", insert(data, at, bytes(MAX_JPEG_STRAY_BYTES + 1)))


@pytest.mark.parametrize("where", ["before the second scan", "before the end"])
def test_a_long_run_of_fill_bytes_is_refused(where):
    # libjpeg reads a run of 0xFF again from its start for every 64 KB Pillow hands it: 50 MB, 30 s.
    data = progressive_jpeg()
    at = scan_offset(data, 2) if where == "before the second scan" else len(data) - 2
    assert_rgb8(read_image(insert(data, at, b"\xff" * MAX_JPEG_FILL_RUN)), (64, 96, 3))
    started = time.perf_counter()
    expect_error(ImageTooComplexError, "stray", insert(data, at, b"\xff" * (MAX_JPEG_FILL_RUN + 1)))
    assert time.perf_counter() - started < 1.0


def tiff_with_one_jpeg_strip(jpeg: bytes, width: int, height: int) -> bytes:
    """A little-endian TIFF of one YCbCr strip compressed as ``jpeg`` (compression 7)."""
    tags = [(256, width), (257, height), (259, 7), (262, 6), (277, 3), (278, height), (284, 1)]
    entries = len(tags) + 4  # and BitsPerSample, StripOffsets, StripByteCounts, YCbCrSubSampling
    bits_at = 8 + 2 + 12 * entries + 4
    strip_at = bits_at + 6
    ifd = [struct.pack("<HHIHH", tag, 3, 1, value, 0) for tag, value in tags]
    ifd += [
        struct.pack("<HHII", 258, 3, 3, bits_at),
        struct.pack("<HHII", 273, 4, 1, strip_at),
        struct.pack("<HHII", 279, 4, 1, len(jpeg)),
        struct.pack("<HHIHH", 530, 3, 2, 2, 2),
    ]
    ifd.sort()
    header = b"II*\x00" + struct.pack("<IH", 8, entries) + b"".join(ifd) + b"\x00" * 4
    return header + struct.pack("<3H", 8, 8, 8) + jpeg


def test_a_scan_bomb_in_a_tiff_is_refused_by_libtiff():
    # A TIFF's JPEG strips are decoded by libtiff, which stops at 100 scans of its own accord.
    normal = tiff_with_one_jpeg_strip(progressive_jpeg(), 96, 64)
    assert_rgb8(read_image(normal), (64, 96, 3))
    started = time.perf_counter()
    expect_error(NotAnImageError, "damaged", tiff_with_one_jpeg_strip(scan_bomb(), 96, 64))
    assert time.perf_counter() - started < 1.0


# --------------------------------------------------------------------------- memory


_PEAK_MEMORY_GROWTH = """
import re, sys
from celeb.images import read_image

def peak_mb():  # this process's own high-water mark (ru_maxrss would start at the parent's)
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\\s*(\\d+) kB", status.read()).group(1)) // 1024

data = open(sys.argv[1], "rb").read()
before = peak_mb()
photo = read_image(data, max_side=1024)
assert max(photo.rgb.shape) <= 1024
print(peak_mb() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak memory from /proc")
@pytest.mark.parametrize(("mode", "fmt"), [("F", "TIFF"), ("I;16", "PNG")])
def test_a_deep_49_megapixel_image_is_reduced_without_full_size_copies(mode, fmt, tmp_path):
    # Decoding it takes 98 MB (16-bit) or 196 MB (float); converting the whole photo to int64 or
    # float64 before reducing it took 0.9 to 1.3 GB more (a 312 KB file).
    import subprocess
    import sys

    image = Image.new(mode, (7000, 7000))
    image.paste(Image.new(mode, (2000, 3000), 100), (1000, 2000))
    path = tmp_path / f"deep.{fmt.lower()}"
    image.save(path, fmt, **({"compression": "tiff_deflate"} if fmt == "TIFF" else {"compress_level": 1}))
    del image
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY_GROWTH, str(path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
    )
    assert int(done.stdout) < 300, f"reading it took {done.stdout.strip()} MB more"
