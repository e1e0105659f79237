"""Configuration in one place.

Every path and limit the engine, the CLI and the app use comes from here.
Environment variables override the defaults so that tests, benchmarks and a
deployment can point elsewhere without code changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Images with more pixels than this are refused before they are decoded in
#: full (decompression bombs). 50 MP covers every phone camera we know.
MAX_IMAGE_PIXELS = 50_000_000

#: A progressive JPEG is decoded in one pass over the whole photo per scan,
#: so a file that repeats a scan thousands of times costs minutes of CPU in a
#: few hundred KB. Real encoders write 1 to about 10 scans (libjpeg's
#: progressive script: 10; mozjpeg a few more); libjpeg-turbo's tools refuse
#: such files with -maxscans for the same reason.
MAX_JPEG_SCANS = 100

#: Most JPEG segments (markers) looked at before decoding, so the check
#: above is cheap even for a file of nothing but tiny segments. A 50 MB
#: JPEG of full 64 KB segments has under 1,000.
MAX_JPEG_SEGMENTS = 5_000

#: Faces are looked for on a copy whose longest side is at most this many
#: pixels; boxes are mapped back to the full photo. Keeps a 12 MP photo as
#: cheap as a 1 MP one.
DETECTION_MAX_SIDE = 640

#: Photos are decoded at most about this long, for cropping and for
#: classifying alike (the same face must give the same crop): faces are found
#: at DETECTION_MAX_SIDE and cropped to 128 px, so more pixels only cost time.
#: JPEGs decode straight at 1/2, 1/4 or 1/8 scale to get there.
DECODE_MAX_SIDE = 1024

#: Below this top probability a face is "not sure" instead of a wrong name.
DEFAULT_CONFIDENCE_THRESHOLD = 0.4

#: A face without two visible eyes is cropped from its box alone and is named
#: wrongly about as often as rightly (bench/); it needs this much more
#: probability than a clean face before it gets a name.
UNCLEAN_EXTRA_CONFIDENCE = 0.2

#: Largest file, in MB, that anyone may upload or the engine reads: every
#: file picker says it and refuses bigger files in the browser, and
#: ``server.maxUploadSize`` in .streamlit/config.toml must be the same
#: (tests check), or the server cuts uploads the picker allowed.
MAX_UPLOAD_MB = 50

#: Most photos a visitor (not the owner) gets classified per page view.
VISITOR_MAX_FILES = 10

#: A temporary file of an atomic write (``.name.random.tmp``) this many
#: seconds old was left by an interrupted write (a crash, a killed process)
#: and is removed when the folder is next opened for writing. A write takes
#: seconds; younger ones may be another process's write in progress.
STALE_TEMPORARY_SECONDS = 10 * 60

#: Most files a zip may hold, and most bytes it may expand to.
MAX_ZIP_MEMBERS = 5_000
MAX_ZIP_BYTES = 2_000_000_000

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def _path_from_env(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


@dataclass(frozen=True)
class Paths:
    """Where the dataset, the models and the shared photo set live."""

    dataset: Path
    models: Path
    shared_photos: Path

    @property
    def active_model(self) -> Path:
        return self.models / "model.joblib"

    @classmethod
    def from_env(cls) -> Paths:
        return cls(
            dataset=_path_from_env("CELEB_DATASET_DIR", PROJECT_ROOT / "dataset"),
            models=_path_from_env("CELEB_MODELS_DIR", PROJECT_ROOT / "models"),
            shared_photos=_path_from_env(
                "CELEB_SHARED_PHOTOS",
                PROJECT_ROOT.parent / "shared" / "datasets" / "sports-celebrities",
            ),
        )


def paths() -> Paths:
    """The paths in force now (read from the environment on every call)."""
    return Paths.from_env()


def allowed_hosts() -> frozenset[str]:
    """Hosts that image downloads may reach even on private addresses (``CELEB_ALLOWED_HOSTS``).

    Comma-separated host names or addresses, for tests and a local image
    server; empty by default, so downloads only go to public addresses.
    """
    value = os.environ.get("CELEB_ALLOWED_HOSTS", "")
    return frozenset(host.strip().lower() for host in value.split(",") if host.strip())
