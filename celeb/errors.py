"""Exceptions raised by celeb.

Every failure a user can cause (a bad file, a bad name, a missing model)
raises a subclass of :class:`CelebError` whose message can be shown as is.
"""


class CelebError(Exception):
    """Base class of every error celeb raises on purpose."""


class ImageError(CelebError, ValueError):
    """A file or byte string could not be turned into a photo."""


class EmptyImageError(ImageError):
    """The file has no bytes."""


class NotAnImageError(ImageError):
    """The bytes are not an image in any format we know."""


class UnsupportedFormatError(ImageError):
    """The bytes are an image, but in a format we cannot read (HEIC, ...)."""


class TruncatedImageError(ImageError):
    """The image ends before its data does (an interrupted download)."""


class ImageTooLargeError(ImageError):
    """The image has more pixels than the configured limit."""


class ImageTooComplexError(ImageError):
    """The image is built so that decoding it would cost far more than any real photo
    (a JPEG with thousands of scans)."""


class InvalidNameError(CelebError, ValueError):
    """A person name that cannot be used."""


class DatasetError(CelebError):
    """The dataset on disk cannot do what was asked."""


class ManifestError(DatasetError):
    """The dataset manifest is damaged or crafted (a path leading outside the dataset ...)."""


class StoreError(DatasetError):
    """The database that holds the dataset and the models cannot be reached or used."""


class ModelError(CelebError):
    """A model file is missing, corrupt or unusable."""


class TrainingError(CelebError, ValueError):
    """There is not enough (or not the right) data to train."""


class ReadOnlyError(CelebError, PermissionError):
    """A change was asked of a dataset or models folder opened read-only."""


class PasswordError(CelebError, ValueError):
    """A stored password hash is malformed, or a new password is unusable."""
