"""The settings in one place: one table of defaults, grouped by what they decide, each with why it
is what it is (and what was measured, where it was).

Here: every path, every limit on what is read or held (photos, files, zips, uploads, downloads,
work at once), and every threshold that decides an answer or a warning (how sure before a name,
which crops are flagged, when two detections are one face, which trained model wins). Environment
variables override the paths and the hosts downloads may reach (``paths()``, ``allowed_hosts()``),
so that tests, benchmarks and a deployment can point elsewhere without code changes.

Not here, on purpose, each beside the code it belongs to:

- what is saved with a model, so that a model keeps finding and describing faces as it was trained
  to: the embeddings engine's ``DetectorThresholds`` (engines/detectors.py), the classic engine's
  ``DetectorSettings`` and ``FeatureSettings`` (engines/haar.py, wavelets.py) and its crop's eye
  places (haar.py), the open-set rule once fitted (open_set.py);
- facts of a file format or a network, which nobody tunes: format versions, a model file's size,
  BlazeFace's 256 px input, anchors and its graph's merging of detections, dlib's 150 px face
  chip, the shape of dlib's HOG box;
- the look of a page (widths, colours, sliders' ranges).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

logger = logging.getLogger("celeb")

PROJECT_ROOT = Path(__file__).resolve().parent.parent

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")

# ======================================== reading photos (celeb.images)

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

#: Most stray bytes (in no segment) before a JPEG's first scan. libjpeg skips them, but Pillow
#: reads the header one byte at a time in Python: 10 MB of them cost 3 to 7 s. Cameras and
#: editors write none.
MAX_JPEG_STRAY_BYTES = 65_536

#: Longest run of 0xFF fill bytes where a JPEG decoder looks for a marker. libjpeg reads a run
#: again from its start each time Pillow hands it another 64 KB, so the time grows with the
#: square of its length: 8 MB cost 0.6 s, 50 MB 30 s. Encoders write none or a few.
MAX_JPEG_FILL_RUN = 65_536

#: Photos are decoded at most about this long, for cropping and for
#: classifying alike (the same face must give the same crop): faces are found
#: at DETECTION_MAX_SIDE and cropped to 128 px, so more pixels only cost time.
#: JPEGs decode straight at 1/2, 1/4 or 1/8 scale to get there.
DECODE_MAX_SIDE = 1024

# ======================================== finding faces (celeb.engines)

#: Faces are looked for on a copy whose longest side is at most this many
#: pixels; boxes are mapped back to the full photo. Keeps a 12 MP photo as
#: cheap as a 1 MP one. (HOG's second look, upsampled, and MTCNN use such a copy too.)
DETECTION_MAX_SIDE = 640

#: Two detectors' boxes overlapping by at least this (IoU) are one face (hog+mtcnn: a weak HOG face
#: MTCNN confirms; hog+mtcnn, blazeface+mtcnn: an MTCNN face where there is one already).
SAME_FACE_IOU = 0.3

#: A face narrower than this share of the photo's widest face is the crowd's, not the group's: a
#: face of the group is about as large as the others. blazeface+mtcnn adds only the group's faces
#: MTCNN finds where BlazeFace's are small; a crowd's face is named only when clearly near
#: (CROWD_DISTANCE_CUT).
GROUP_FACE_SHARE = 0.6

# ======================================== naming faces (celeb.classify, celeb.open_set)

#: Below this top probability a face is "not sure" instead of a wrong name.
DEFAULT_CONFIDENCE_THRESHOLD = 0.4

#: A face without two visible eyes is cropped from its box alone and is named
#: wrongly about as often as rightly (bench/); it needs this much more
#: probability than a face with its eyes found before it gets a name.
UNCLEAN_EXTRA_CONFIDENCE = 0.2

#: Who a face is, or "unknown" (celeb.open_set.OpenSetRule): a face is named only within a
#: distance of that person's training faces and with a margin to the next person, both fitted
#: on the training faces. Each strictness says how many times worse a stranger given a name is
#: than a known person answered "unknown"; the fit keeps the setting that loses least, with
#: strangers measured by leaving each training person out in turn. A wrong name is worse than no
#: name: "balanced" counts it twice. The owner chooses one; it is saved with the model.
#: (A fixed share of strangers instead kept LFW's 75 people too strict: bench/README.md.)
STRICTNESS = {"strict": 4.0, "balanced": 2.0, "loose": 1.0}
DEFAULT_STRICTNESS = "balanced"
#: A face's distance to a person: the mean of its distances to this many of their nearest training
#: faces (1 let a single odd training face decide: strangers unknown 0.93 against 0.94-0.96 with 2).
NEAREST_FACES = 2
#: Never beyond dlib's own same-person limit (its docs: 0.6 apart are different people).
MAX_DISTANCE_THRESHOLD = 0.6
#: How far a known person's face may be from their own other faces: this quantile of those
#: distances. It sets the scale strangers' faces are grouped at (celeb.strangers).
SAME_PERSON_QUANTILE = 0.99
#: The margin used where strangers cannot be measured (a model of one person, or one photo each).
FALLBACK_MARGIN = 0.04
#: A face of the crowd behind a photo's group (GROUP_FACE_SHARE) is named only this much nearer
#: than the rule's distance: it is small, so its features say less, and the people around a star
#: are often the strangers most like them (a teammate, a rival). Measured on bench.open_set's
#: shared photos, both detectors: fewer photos named wrong and more named right (bench/README.md,
#: "A crowd's faces"); 0.02-0.05 gave the same figures.
CROWD_DISTANCE_CUT = 0.03

#: A face's answer lists this many people at most, nearest (or likeliest) first: in the JSON of
#: `classify` and in the Classify page's chart. Every person would make 8 KB of JSON a face at 158
#: people, and a chart nobody can read.
TOP_CANDIDATES = 5

# ======================================== grouping strangers (celeb.strangers)

#: Unknown faces are linked closer than this times the model's unknown-person distance
#: (bench/strangers.py, docs/strangers.md). 0.9 with one view of each face; with the mirror image
#: averaged in, 0.9 merged two strangers into one group once in the 10 pairs and 0.85 none, every
#: group pure and 9 of 10 pairs with 0.80 of each stranger's faces in one group.
LINK_FACTOR = 0.85

# ======================================== flags on crops (celeb.curation)
# The defaults of FlagSettings, where the Dataset page's "Flag settings" start.

#: A face narrower than this (in its source photo) is flagged as tiny.
TINY_FACE_PIXELS = 48
#: The model must give another person at least this probability to flag a crop.
DISAGREE_PROBABILITY = 0.5
#: Cosine similarity of two crops' 32x32 gray pixels above which they are near-duplicates.
#: Distinct photos of one person measured up to about 0.96 on the sports set; copies
#: of one photo at other sizes, 0.975 and above.
DUPLICATE_SIMILARITY = 0.97

# ======================================== training with many people (celeb.model_search; issue 20)

#: Candidates whose cross-validation scores are this close (or within the best one's standard error)
#: are a tie, which goes to the simpler model (celeb.model_search.CANDIDATES lists them simplest first):
#: at 40 people four models tied at 0.998 and the SVM (RBF), listed first then, won; its calibrated
#: probabilities never named some people who had few photos.
SELECTION_TIE_MARGIN = 0.005
#: The random forest is not searched above this many people or training rows (mirrored copies
#: included), unless it is the only model asked for: its search took 77-330 s at 158 people against
#: 2-5 s for the others, and it never won.
FOREST_MAX_PEOPLE = 20
FOREST_MAX_ROWS = 2_000
#: After training, a person is flagged when the winner names right less than LOW_RECALL of their
#: held-out test faces, or LOW_RECALL_GAP less than the median person does; only people with at
#: least LOW_RECALL_MIN_FACES test faces (fewer say little).
LOW_RECALL = 0.5
LOW_RECALL_GAP = 0.3
LOW_RECALL_MIN_FACES = 3

#: How many replaced models are kept (celeb.registry); the oldest beyond this are deleted.
HISTORY_LIMIT = 5

# ======================================== sorting an album (celeb.sort)

#: Sorting an album saves its state after this many photos, so that a killed run classifies at
#: most these again.
SORT_SAVE_EVERY = 25

# ======================================== files, zips and the store

#: Largest file, in MB, that anyone may upload or the engine reads: every
#: file picker says it and refuses bigger files in the browser, and
#: ``server.maxUploadSize`` in .streamlit/config.toml must be the same
#: (tests check), or the server cuts uploads the picker allowed.
MAX_UPLOAD_MB = 50

#: Files larger than this are refused before they are read: the upload limit,
#: so a photo the app takes from a browser is also read from a folder or a zip.
MAX_FILE_BYTES = MAX_UPLOAD_MB * 1024 * 1024

#: Most files a zip may hold, and most bytes it may expand to.
MAX_ZIP_MEMBERS = 5_000
MAX_ZIP_BYTES = 2_000_000_000

#: Largest CSV of person,url rows read (a million rows is about 100 MB; nobody curates that many).
MAX_CSV_BYTES = 20 * 1024 * 1024

#: Largest dataset manifest read (about 5 KB a photo: some 20,000 photos).
MAX_MANIFEST_BYTES = 100 * 1024 * 1024
#: The database store writes every record whole once per this many changes (celeb.database):
#: between two, a change costs one row, whatever the dataset's size.
SNAPSHOT_EVERY = 200

#: A temporary file of an atomic write (``.name.random.tmp``) this many
#: seconds old was left by an interrupted write (a crash, a killed process)
#: and is removed when the folder is next opened for writing. A write takes
#: seconds; younger ones may be another process's write in progress.
STALE_TEMPORARY_SECONDS = 10 * 60

# ======================================== image downloads (celeb.web)

#: Default limits of one image download (celeb.web.FetchSettings): seconds for the whole
#: download (lookup, connecting, redirects, reading), bytes, redirects followed, and
#: downloads running at once.
FETCH_TIMEOUT_SECONDS = 10.0
FETCH_MAX_BYTES = 25 * 1024 * 1024
FETCH_MAX_REDIRECTS = 5
FETCH_WORKERS = 8

#: Host name lookups of image downloads running at once. A lookup cannot be
#: cancelled: one that outlives its download's deadline is abandoned but keeps
#: its place until the resolver gives up, so slow names cannot pile up threads.
MAX_DNS_LOOKUPS = 8

# ======================================== the server: visitors and the owner

#: Most photos a visitor (not the owner) gets classified per page view, and most files the
#: server takes from a visitor's session at once (celeb_app/uploads.py).
VISITOR_MAX_FILES = 10
#: Most megabytes of uploads the server holds for one visitor's session: ten phone photos.
VISITOR_MAX_UPLOAD_MB = 80
#: Uploads parsed at once over all sessions; the others wait, unread (each costs about twice
#: its size while it is parsed).
UPLOADS_PARSED_AT_ONCE = 2

#: Owner password guessing. A session waits 1 s after a wrong password, then
#: 2, 4 ... up to PASSWORD_WAIT_CAP s. Over all sessions, checks (scrypt, 16 MB
#: each) run in arrival order, at most PASSWORD_CHECKS_AT_ONCE at a time and
#: one started per PASSWORD_CHECK_INTERVAL s at most: about 4 guesses a second
#: however many sessions an attacker opens, while a right password waits only
#: for the tries queued ahead of it (a quarter second each), never minutes.
PASSWORD_WAIT_BASE = 1.0
PASSWORD_WAIT_CAP = 60.0
PASSWORD_CHECKS_AT_ONCE = 2
PASSWORD_CHECK_INTERVAL = 0.25

# ======================================== how much a page shows

#: Above this many photos at once, the Classify page sorts them into a table (who is where)
#: with a progress bar instead of showing every photo's faces and charts.
CLASSIFY_DETAILS_MAX_PHOTOS = 10

#: The Train page draws the confusion matrix up to this many people; past it, a matrix is unreadable
#: (158 x 158) and the page lists this many of the most frequent mistakes instead.
CONFUSION_HEATMAP_MAX_PEOPLE = 20

#: The Dataset page's people list gets a search box past this many people, and is at most this
#: many pixels tall (it scrolls): a league's hundreds of people would push the page down.
PEOPLE_SEARCH_FROM = 20
PEOPLE_TABLE_HEIGHT = 400
#: The Dataset page shows a person's crops this many at a time (a page of the grid): every crop
#: is an image the browser fetches, and a person may have hundreds.
CROPS_PER_PAGE = 24

# ======================================== paths and hosts, from the environment


def _path_from_env(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


@dataclass(frozen=True)
class Paths:
    """Where the dataset, the models and the shared photo set live."""

    dataset: Path
    models: Path
    shared_photos: Path
    #: LFW's people and strangers, for measuring many people (bench/open_set.py).
    lfw_half: Path
    #: The database store's working copies (celeb.stores): a cache, safe to delete.
    work: Path

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
            lfw_half=_path_from_env(
                "CELEB_LFW_HALF", PROJECT_ROOT.parent / "shared" / "datasets" / "lfw-half"
            ),
            work=_path_from_env("CELEB_WORK_DIR", Path.home() / ".cache" / "celeb"),
        )


def paths() -> Paths:
    """The paths in force now (read from the environment on every call)."""
    return Paths.from_env()


def allowed_hosts() -> frozenset[tuple[str, int]]:
    """Host and port pairs that image downloads may reach even on private addresses
    (``CELEB_ALLOWED_HOSTS``).

    Comma-separated ``host:port`` entries (``127.0.0.1:8080``, ``images.lan:80``,
    ``[::1]:8080``), for tests and a local image server; empty by default, so
    downloads only go to public addresses. An exemption names one port: a
    local image server must not open every other service on its machine. An
    entry without a port is ignored (with a warning), not read as "every port"
    or guessed as a default one. A redirect never enters an exempt host:port
    from elsewhere: only an address that starts there is exempt there.
    """
    value = os.environ.get("CELEB_ALLOWED_HOSTS", "")
    exempt = set()
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            exempt.add(parse_host_port(entry))
        except ValueError as exc:
            logger.warning("CELEB_ALLOWED_HOSTS: %s; the entry is ignored", exc)
    return frozenset(exempt)


def parse_host_port(entry: str) -> tuple[str, int]:
    """``"host:port"`` as a lower-case ASCII host and a port; ValueError unless both are there.

    >>> parse_host_port("Images.LAN:8080"), parse_host_port("[::1]:80")
    (('images.lan', 8080), ('::1', 80))
    """
    try:
        parts = urlsplit("//" + entry.strip())
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError as exc:
        raise ValueError(f"{entry!r} is not host:port ({exc})") from exc
    if not host or parts.path or parts.query or parts.fragment or parts.username is not None:
        raise ValueError(f"{entry!r} is not host:port")
    if port is None:
        raise ValueError(f"{entry!r} names no port (write host:port, e.g. 127.0.0.1:8080)")
    try:
        # The same form as the host of an address being downloaded (celeb.web).
        host = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"{entry!r} is not a valid host name") from exc
    return host, port
