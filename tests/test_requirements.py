"""requirements.txt installs dlib once on every platform, from a prebuilt wheel where one exists.

dlib-bin 20.0.1.post1 publishes wheels for CPython 3.11-3.13 on Linux (x86_64, aarch64), Windows
(AMD64) and macOS (arm64); everywhere else dlib itself is built from source. Python 3.13 was sent
to the source build (CMake and a compiler) although its wheels exist (issue 23).
"""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement

from celeb.config import PROJECT_ROOT


def requirements() -> list[Requirement]:
    lines = (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.lstrip().startswith(("#", "-"))]


def environment(python: str, system: str, machine: str) -> dict[str, str]:
    return {"python_version": python, "sys_platform": system, "platform_machine": machine}


def dlib_for(python: str, system: str, machine: str) -> list[str]:
    where = environment(python, system, machine)
    return [
        req.name
        for req in requirements()
        if req.name in ("dlib", "dlib-bin") and (req.marker is None or req.marker.evaluate(where))
    ]


@pytest.mark.parametrize("python", ["3.11", "3.12", "3.13"])
@pytest.mark.parametrize(
    "system, machine",
    [("linux", "x86_64"), ("linux", "aarch64"), ("win32", "AMD64"), ("darwin", "arm64")],
)
def test_platforms_with_dlib_bin_wheels_get_them(python, system, machine):
    assert dlib_for(python, system, machine) == ["dlib-bin"]


@pytest.mark.parametrize(
    "python, system, machine",
    [("3.14", "linux", "x86_64"), ("3.12", "darwin", "x86_64"), ("3.12", "linux", "ppc64le")],
)
def test_other_platforms_build_dlib_itself(python, system, machine):
    assert dlib_for(python, system, machine) == ["dlib"]


def test_every_requirement_is_pinned():
    # The shipped model loads with the scikit-learn it was made with; the rest, as tested.
    assert all(
        len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==" for req in requirements()
    )
