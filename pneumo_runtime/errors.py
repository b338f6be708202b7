"""Typed errors. Every message is one line a user can act on; callers never see a traceback."""


class PneumoError(Exception):
    """Base class of every error pneumo raises on purpose."""


class ImageDecodeError(PneumoError):
    """The bytes are not an image we can decode (broken, truncated, or not an image at all)."""


class InvalidImageError(PneumoError):
    """The image decoded, but it cannot be used (empty, too small, unsupported layout)."""


class ModelError(PneumoError):
    """The model file or its contract is missing, damaged, or does not match."""
