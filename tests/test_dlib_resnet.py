"""dlib's face-recognition ResNet computed with NumPy (celeb/engines/dlib_resnet.py) gives dlib's own
numbers: on real faces of the shared photos, on the astronaut, and on noise (every layer's rule,
whatever the input), one face at a time or many; a file that is not that network is refused."""

from __future__ import annotations

import numpy as np
import pytest

from celeb.engines import EngineUnavailable, engine_available, get_engine
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
