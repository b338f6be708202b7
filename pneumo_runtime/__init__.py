"""pneumo_runtime: the dependency-light half of pneumo.

It needs only numpy and OpenCV (and onnxruntime to run a model). It never imports torch, nor any
of the training, export or demo packages: those import *it*, so that preprocessing has exactly one
definition and training cannot drift away from what a clinic laptop runs.

pneumo is a second-opinion tool for research and education. It is not a diagnostic device.
"""

__version__ = "0.1.0"

from .errors import ImageDecodeError, InvalidImageError, PneumoError
from .preprocess import ClaheSettings, PreprocessContract, prepare_gray, preprocess, to_model_input

__all__ = [
    "__version__",
    "ClaheSettings",
    "ImageDecodeError",
    "InvalidImageError",
    "PneumoError",
    "PreprocessContract",
    "prepare_gray",
    "preprocess",
    "to_model_input",
]
