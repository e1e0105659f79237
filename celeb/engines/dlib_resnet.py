"""dlib's face-recognition ResNet, computed with NumPy from dlib's own model file.

Why not ``dlib.face_recognition_model_v1``: the prebuilt dlib wheels
(dlib-bin) are compiled without a BLAS library, so dlib's network takes
about 85 ms a face on this project's 2-core machine and holds Python's lock
while it runs (two threads take as long as one). The same network as
NumPy matrix products (OpenBLAS, which NumPy brings, and which lets go of the
lock) takes about 15 ms a face, several faces at once. The numbers are
dlib's own, to float rounding (``tests/test_dlib_resnet.py`` compares them
with dlib's on real faces), so models trained with either agree.

The network (dlib's ``dnn_face_recognition_ex.cpp``, 29 convolutions): a
7x7 convolution with stride 2, a 3x3 max pool with stride 2, then residual
blocks of two 3x3 convolutions (32 channels x3; 64 x4, 128 x3, 256 x3 and
256 x1, each of these starting with a block that halves the size and pools
its shortcut), an average over the last 2x2 positions and a 256 -> 128
matrix. dlib's rules that matter here: a convolution or pool with stride 2
has no padding, and adding a shortcut of another size pads the smaller one
with zeros (at the bottom and right), so the 8x8 -> 3x3 block gives 4x4.

The model file is dlib's serialization of that network. Only its weights
are read: each layer's name, then (for convolutions, scale-and-shift layers
and the last matrix) its parameters as little-endian float32. A file that
is not this network is refused with EngineUnavailable, whatever its bytes:
every read is checked against the file's end, every size before anything
of that size is made, each layer's shape against the network above, all
but its numbers against the real file's (a SHA-256), and every number must
be finite and of a sensible size.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import ThreadpoolController

from ..storage import read_regular_file
from .base import EngineUnavailable

#: The input: 150 x 150 RGB chips (dlib.get_face_chip), minus these means, divided by 256.
CHIP_SIZE = 150
#: Residual levels from the input up: (channels, blocks); each level after the first starts smaller.
LEVELS = ((32, 3), (64, 4), (128, 3), (256, 3), (256, 1))
#: Faces computed at once: larger batches make larger matrix products, up to about this many.
BATCH = 16

_LAYER = re.compile(rb"\x01([\x03-\x20])(con_4|affine_|relu_|max_pool_2|avg_pool_2|add_prev_|fc_2)")
#: The file starts with the loss layer's name; the real one is 22 MB.
_HEADER = b"\x01\x01\x01\x0dloss_metric_2"
_INPUT = b"\x01\x15input_rgb_image_sized"
_MAX_FILE_BYTES = 64 << 20
#: dlib's numbers are at most 24 in size; far larger ones are not that network's (and would overflow).
_MAX_WEIGHT = 1e4
#: SHA-256 of the model file without its numbers (the input's means and every tensor's values): the
#: names, sizes and settings of every layer and dlib's bookkeeping around them, byte for byte.
_LAYOUT_SHA256 = "f95e7a4a7e0d51d7e5b4fc4793330066afc935a9d73a6b52548e953bcb4d1f92"


@dataclass(frozen=True)
class Conv:
    weights: np.ndarray  # (kh * kw * channels_in, channels_out), for (kh, kw, channel) windows
    bias: np.ndarray
    size: int
    stride: int
    padding: int


@dataclass(frozen=True)
class Affine:
    scale: np.ndarray
    shift: np.ndarray


class ResNet:
    """The network with its weights; :meth:`describe` gives 128 numbers per 150 px face chip.

    Thread-safe: it keeps no state between calls.
    """

    def __init__(self, path: Path) -> None:
        self.mean, self.convs, self.affines, self.matrix = _read_model(path)
        with np.errstate(all="ignore"):
            gray = self.describe(np.full((1, CHIP_SIZE, CHIP_SIZE, 3), 128, np.uint8))
        if not np.isfinite(gray).all():  # finite but absurd weights
            raise EngineUnavailable(f"{path} is not dlib's face recognition ResNet (its numbers overflow)")

    def describe(self, chips: np.ndarray) -> np.ndarray:
        """(n, 128) float32 descriptors of ``chips``, (n, 150, 150, 3) uint8 RGB."""
        chips = np.asarray(chips)
        if chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"face chips must be (n, {CHIP_SIZE}, {CHIP_SIZE}, 3), not {chips.shape}")
        parts = [self._forward(chips[i : i + BATCH]) for i in range(0, len(chips), BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, 128), np.float32)

    def _forward(self, chips: np.ndarray) -> np.ndarray:
        x = (chips.astype(np.float32) - self.mean) / 256.0
        convs, affines = iter(self.convs), iter(self.affines)
        x = _relu(_affine(_conv(x, next(convs)), next(affines)))
        x = _max_pool_3x3(x)
        for level, (_, blocks) in enumerate(LEVELS):
            for block in range(blocks):
                down = level > 0 and block == 0
                y = _relu(_affine(_conv(x, next(convs)), next(affines)))
                y = _affine(_conv(y, next(convs)), next(affines))
                x = _relu(_add_padded(y, _avg_pool_2x2(x) if down else x))
        return x.mean(axis=(1, 2)) @ self.matrix


def _conv(x: np.ndarray, conv: Conv) -> np.ndarray:
    """Cross-correlation of NHWC ``x``, as dlib computes it (stride 2: no padding)."""
    if conv.padding:
        p = conv.padding
        x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    windows = sliding_window_view(x, (conv.size, conv.size), axis=(1, 2))[:, :: conv.stride, :: conv.stride]
    n, h, w = windows.shape[:3]
    # (n, h, w, c, kh, kw) -> rows of (kh, kw, c), the order the weights were laid out in.
    rows = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * h * w, -1)
    return (rows @ conv.weights + conv.bias).reshape(n, h, w, -1)


def _affine(x: np.ndarray, affine: Affine) -> np.ndarray:
    x *= affine.scale
    x += affine.shift
    return x


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def _max_pool_3x3(x: np.ndarray) -> np.ndarray:
    return sliding_window_view(x, (3, 3), axis=(1, 2))[:, ::2, ::2].max(axis=(4, 5))


def _avg_pool_2x2(x: np.ndarray) -> np.ndarray:
    h, w = (x.shape[1] - 2) // 2 + 1, (x.shape[2] - 2) // 2 + 1
    x = x[:, : 2 * h, : 2 * w]
    return (x[:, 0::2, 0::2] + x[:, 1::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 1::2]) / 4


def _add_padded(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b, each zero-padded at the end of every axis to the larger of the two (dlib's add_prev)."""
    if a.shape == b.shape:
        return a + b
    out = np.zeros(np.maximum(a.shape, b.shape), dtype=np.float32)
    out[: a.shape[0], : a.shape[1], : a.shape[2], : a.shape[3]] += a
    out[: b.shape[0], : b.shape[1], : b.shape[2], : b.shape[3]] += b
    return out


def _expected_convs() -> list[tuple[int, int, int, int]]:
    """(filters, size, stride, padding) of each convolution, in the order the file and
    :meth:`ResNet._forward` take them."""
    convs = [(LEVELS[0][0], 7, 2, 0)]
    for level, (channels, blocks) in enumerate(LEVELS):
        for block in range(blocks):
            down = level > 0 and block == 0
            convs += [(channels, 3, 2, 0) if down else (channels, 3, 1, 1), (channels, 3, 1, 1)]
    return convs


def _read_model(path: Path) -> tuple[np.ndarray, list[Conv], list[Affine], np.ndarray]:
    try:
        data = read_regular_file(Path(path), _MAX_FILE_BYTES)
    except OSError as exc:
        raise EngineUnavailable(f"dlib's face recognition model cannot be read: {exc}") from exc
    not_it = f"{path} is not dlib's face recognition ResNet"
    if not data.startswith(_HEADER):
        raise EngineUnavailable(f"{not_it} (it does not start as that network does)")
    reader = _Reader(data, not_it)
    mean = _input_mean(reader)
    expected = _expected_convs()
    convs: list[Conv] = []
    affines: list[Affine] = []
    channels = 3
    while True:
        match = _LAYER.search(data, reader.pos)
        if match is None:
            raise EngineUnavailable(f"{not_it} (it is cut short, or its layers differ)")
        reader.pos = match.end()
        if len(match.group(2)) != match.group(1)[0]:
            continue  # not a layer's name (its length differs)
        name = match.group(2)
        if name == b"con_4":
            if len(convs) != len(affines) or len(convs) == len(expected):
                raise EngineUnavailable(f"{not_it} (its layers differ)")
            params = reader.tensor()
            filters, rows, columns, stride_y, stride_x, padding_y, padding_x = (
                reader.int() for _ in range(7)
            )
            spec = (filters, rows, stride_y, padding_y)
            if spec != expected[len(convs)] or (columns, stride_x, padding_x) != (rows, stride_y, padding_y):
                raise EngineUnavailable(f"{not_it} (convolution {len(convs) + 1} is {spec})")
            size = filters * channels * rows * rows
            if len(params) != size + filters:
                raise EngineUnavailable(f"{not_it} (convolution {len(convs) + 1} has the wrong weights)")
            weights = params[:size].reshape(filters, channels, rows, rows)
            weights = np.ascontiguousarray(weights.transpose(2, 3, 1, 0).reshape(-1, filters))
            convs.append(Conv(weights, params[size:], rows, stride_y, padding_y))
            channels = filters
        elif name == b"affine_":
            params = reader.tensor()
            if len(affines) != len(convs) - 1 or len(params) != 2 * channels:
                raise EngineUnavailable(f"{not_it} (its layers differ)")
            affines.append(Affine(params[:channels], params[channels:]))
        elif name == b"fc_2":
            outputs, inputs = reader.int(), reader.int()
            if (
                len(convs) != len(expected)
                or len(affines) != len(expected)
                or (inputs, outputs) != (256, 128)
            ):
                raise EngineUnavailable(f"{not_it} (its layers differ)")
            params = reader.tensor()
            if len(params) != inputs * outputs:
                raise EngineUnavailable(f"{not_it} (its last matrix has the wrong size)")
            if reader.layout_sha256() != _LAYOUT_SHA256:
                raise EngineUnavailable(f"{not_it} (its layout differs from that network's)")
            return mean, convs, affines, params.reshape(inputs, outputs)


def _input_mean(reader: _Reader) -> np.ndarray:
    start = reader.data.find(_INPUT)
    if start < 0:
        raise EngineUnavailable(f"{reader.not_it} (it has no RGB input layer)")
    reader.pos = start + len(_INPUT)
    mean = np.asarray([reader.float() for _ in range(3)], dtype=np.float32)
    reader.numbers.append((start + len(_INPUT), reader.pos))
    if not (np.isfinite(mean).all() and (mean >= 0).all() and (mean <= 255).all()):
        raise EngineUnavailable(f"{reader.not_it} (its input means are {mean.tolist()})")
    return mean


class _Reader:
    """dlib's serialization: integers as a length byte (high bit: negative) and little-endian
    bytes; floats as two such integers (mantissa, power of two); tensors as a version, four
    sizes and raw float32. Anything that cannot be read raises EngineUnavailable (``not_it``)."""

    def __init__(self, data: bytes, not_it: str = "not dlib's face recognition model") -> None:
        self.data, self.pos, self.not_it = data, 0, not_it
        self.numbers: list[tuple[int, int]] = []  # (start, end) of the numbers read, in order

    def layout_sha256(self) -> str:
        """SHA-256 of the data without the numbers read."""
        digest, at = hashlib.sha256(), 0
        for start, end in self.numbers:
            digest.update(self.data[at:start])
            at = end
        digest.update(self.data[at:])
        return digest.hexdigest()

    def int(self) -> int:
        if self.pos >= len(self.data):
            raise EngineUnavailable(f"{self.not_it} (it is cut short)")
        head = self.data[self.pos]
        size = head & 0x0F
        if size > 8 or self.pos + 1 + size > len(self.data):
            raise EngineUnavailable(f"{self.not_it} (it is cut short, or a number in it is damaged)")
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if head & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        try:
            return math.ldexp(mantissa, exponent)
        except OverflowError:
            return math.inf  # refused as not finite

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise EngineUnavailable(f"{self.not_it} (a tensor of an unknown dlib format: {version})")
        sizes = [self.int() for _ in range(4)]
        count = math.prod(sizes)  # Python integers: no overflow
        if min(sizes) < 0 or self.pos + 4 * count > len(self.data):
            raise EngineUnavailable(f"{self.not_it} (it is cut short, or a tensor's size {sizes} is wrong)")
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos).astype(np.float32)
        if not (np.abs(values) <= _MAX_WEIGHT).all():  # NaN too
            raise EngineUnavailable(f"{self.not_it} (a tensor holds numbers not finite or far too large)")
        self.numbers.append((self.pos, self.pos + 4 * count))
        self.pos += 4 * count
        return values


_lock = threading.Lock()
_loaded: dict[Path, ResNet] = {}


def resnet(path: Path) -> ResNet:
    """The network of the model file at ``path``, read once per process.

    Also gives NumPy's BLAS one thread, for the whole process: every caller
    (Find faces, sorting, each visitor's session) already describes one face
    per thread, and OpenBLAS's extra threads spin while they wait (Find
    faces took 51 CPU-seconds instead of 32; bench/find_faces.py).
    """
    with _lock:
        if path not in _loaded:
            ThreadpoolController().limit(limits=1, user_api="blas")  # before ResNet's first product
            _loaded[path] = ResNet(path)
        return _loaded[path]
