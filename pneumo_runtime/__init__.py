"""pneumo_runtime: the dependency-light half of pneumo.

It needs only numpy, OpenCV and onnxruntime (pydicom for DICOM). It never imports torch, nor the
training, export or demo packages: those import *it*, so that preprocessing has exactly one
definition and training cannot drift away from what a clinic laptop runs.

pneumo is a second-opinion tool for research and education. It is not a diagnostic device.
"""

__version__ = "0.2.0"  # changes with pneumo_torch_weights.__version__ whenever a shipped model changes

from .errors import ImageDecodeError, InvalidImageError, ModelError, PneumoError
from .inputs import decode_image, load_image
from .preprocess import ClaheSettings, PreprocessSettings, prepare_gray, preprocess, to_model_input

__all__ = [
    "__version__",
    "ClaheSettings",
    "ImageDecodeError",
    "InvalidImageError",
    "ModelError",
    "PneumoError",
    "PreprocessSettings",
    "decode_image",
    "load_image",
    "prepare_gray",
    "preprocess",
    "to_model_input",
]
