"""The one exception hierarchy of faceedit.

The CLI turns any :class:`FaceEditError` into one clear line and a non-zero exit code; the editor shows it
in a message box.  Library code raises the most specific subclass that fits.
"""
from __future__ import annotations


class FaceEditError(Exception):
    """Base class of every error faceedit raises on purpose."""

    exit_code = 1


class InvalidInput(FaceEditError, ValueError):
    """Bad user input: a wrong shape, an unknown option, an unreadable or empty image."""


class ImageReadError(InvalidInput):
    """A file that is missing, not an image, corrupt, or empty."""


class NoFaceFound(FaceEditError):
    """No face was detected in a photo."""


class CheckpointError(FaceEditError):
    """A checkpoint that is missing, corrupt, truncated, of an unsupported format or of the wrong model."""


class ModelMismatch(FaceEditError):
    """A latent, translation or checkpoint that belongs to another model than the one in use."""


class InvalidTranslationName(FaceEditError, ValueError):
    """A translation name that breaks the naming convention (the message names the rule)."""


class WeightsNotAvailable(FaceEditError):
    """A registered model file that is not in the cache and cannot be downloaded here."""


class DataError(FaceEditError):
    """A training or evaluation data set that is empty, unreadable or inconsistent."""


class ConfigError(FaceEditError):
    """A configuration file or override that cannot be parsed or names an unknown key."""
