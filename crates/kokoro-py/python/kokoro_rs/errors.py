"""The exceptions kokoro_rs raises.

Each is a :class:`KokoroError` and also the builtin exception kokoro-onnx
raises in the same case, so that code written for kokoro-onnx catches them
unchanged: a bad speed or voice is a ``ValueError``, an unknown language a
``RuntimeError`` (and a ``ValueError``), a voice missing from
``get_voice_style`` a ``KeyError``, a missing file a ``FileNotFoundError``.
The message is the engine's own.
"""


class KokoroError(Exception):
    """Anything the engine reports."""


class BadSpeed(KokoroError, ValueError):
    """A speed outside 0.5 to 2.0."""


class UnknownVoice(KokoroError, ValueError, KeyError):
    """A voice or blend the voices do not have."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class BadVoice(KokoroError, ValueError):
    """A voice style table of the wrong shape, or with values that are not finite."""


class UnknownLanguage(KokoroError, ValueError, RuntimeError):
    """A language code the engine does not know, or cannot speak in this build."""


class NothingToSay(KokoroError, ValueError):
    """The text holds nothing to speak."""


class Cancelled(KokoroError):
    """The synthesis was stopped."""


class MissingFile(KokoroError, FileNotFoundError):
    """A file that should be there (the model, the voices, ONNX Runtime, an input) is not."""


class AssetError(KokoroError, OSError):
    """Fetching or verifying the model, voices or ONNX Runtime failed."""


class SettingsError(KokoroError, ValueError):
    """A setting that is not valid, naming where it came from."""


class InputError(KokoroError, ValueError):
    """Input that cannot be read: SSML, a document, an output path."""


__all__ = [
    "KokoroError",
    "BadSpeed",
    "UnknownVoice",
    "BadVoice",
    "UnknownLanguage",
    "NothingToSay",
    "Cancelled",
    "MissingFile",
    "AssetError",
    "SettingsError",
    "InputError",
]
