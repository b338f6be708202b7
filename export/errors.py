from pneumo_runtime.errors import PneumoError


class ExportError(PneumoError):
    """The export cannot proceed or did not prove itself equal to the torch model."""


class ExportValidationError(ExportError):
    """The export was made but did not prove itself equal to the torch model (exit code 1)."""
