"""What to say when a model was made with another scikit-learn than the running one.

Read without importing scikit-learn (package metadata only), so that the
app can show a model's card before it loads the model.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def installed(package: str) -> str:
    """The installed version of ``package`` ("" when it is not installed), without importing it."""
    try:
        return version(package)
    except PackageNotFoundError:
        return ""


def other_version_note(file_name: str, made_with: str | None, *, pickled_elsewhere: bool = False) -> str:
    """The warning for a model made with another scikit-learn than the running one ("" if the same
    and not ``pickled_elsewhere``).

    >>> other_version_note("model.joblib", installed("scikit-learn"))
    ''
    """
    running = installed("scikit-learn")
    if made_with == running and not pickled_elsewhere:
        return ""
    return (
        f"the model {file_name} was made with scikit-learn {made_with}; this is {running}. "
        "Its answers may differ: retrain it to be sure."
    )
