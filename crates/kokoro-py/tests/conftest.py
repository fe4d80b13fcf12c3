"""Shared fixtures: the real model and voices, as a kokoro-onnx user has them
(the int8 export and a voices-v1.0.bin archive), made from the engine's cache.

`cargo xtask test` fetches the assets first and names them in
KOKORO_PY_MODEL and KOKORO_PY_VOICES_DIR; run by hand, the per-user cache is
used.
"""

import os
import pathlib

import numpy as np
import pytest

CACHE = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")) / "kokoro"


@pytest.fixture(scope="session")
def model_path() -> str:
    path = pathlib.Path(os.environ.get("KOKORO_PY_MODEL", CACHE / "kokoro-v1.0.int8.onnx"))
    assert path.is_file(), f"the model is missing at {path}: run `cargo xtask fetch`"
    return str(path)


@pytest.fixture(scope="session")
def voices_path(tmp_path_factory) -> str:
    """Every voice packed as kokoro-onnx's voices-v1.0.bin (an .npz archive)."""
    source = pathlib.Path(os.environ.get("KOKORO_PY_VOICES_DIR", CACHE / "voices"))
    names = sorted(p.stem for p in source.glob("*.bin"))
    assert len(names) == 54, f"expected the 54 voices in {source}, found {len(names)}"
    out = tmp_path_factory.mktemp("voices") / "voices-v1.0.bin"
    with open(out, "wb") as f:
        np.savez(
            f,
            **{n: np.fromfile(source / f"{n}.bin", dtype="<f4").reshape(510, 1, 256) for n in names},
        )
    return str(out)


@pytest.fixture(scope="session")
def kokoro(model_path, voices_path):
    from kokoro_rs import Kokoro

    return Kokoro(model_path, voices_path)


@pytest.fixture(scope="session")
def reference(model_path, voices_path):
    """kokoro-onnx 0.6.1 itself, installed from PyPI beside the wheel."""
    from kokoro_onnx import Kokoro

    return Kokoro(model_path, voices_path)


@pytest.fixture(scope="session")
def tts():
    from kokoro_rs import Tts

    return Tts()
