"""Images that are not chest X-rays, for measuring the input guard.

Real pictures that ship inside installed packages (scikit-image, scikit-learn, matplotlib and,
when installed, gradio), their grayscale versions (a gray photo is the hard case: colour alone
cannot reject it), and generated colour, noise, text, pattern and shape images (seeded).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


def package_sample_files() -> list[Path]:
    """Sample images of the packages that are installed; none is downloaded."""
    folders = {
        "skimage": ["data"],
        "sklearn": ["datasets/images"],
        "matplotlib": ["mpl-data/sample_data"],
        "gradio": ["media_assets/images", "test_data"],
    }
    files: list[Path] = []
    for package, subfolders in folders.items():
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(list(spec.submodule_search_locations)[0])
        for sub in subfolders:
            files += sorted(p for p in (root / sub).glob("*") if p.suffix.lower() in SUFFIXES)
    return files


def _encode(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def generated_images(seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    images: dict[str, np.ndarray] = {}
    for i in range(4):
        images[f"noise_gray_{i}"] = rng.integers(0, 256, (256 + 64 * i, 256), dtype=np.uint8)
        images[f"noise_colour_{i}"] = rng.integers(0, 256, (256, 256 + 64 * i, 3), dtype=np.uint8)
        images[f"gaussian_noise_{i}"] = np.clip(rng.normal(128, 20 + 15 * i, (300, 300)), 0, 255).astype(np.uint8)
        images[f"colour_blocks_{i}"] = cv2.resize(rng.integers(0, 256, (4 + i, 4 + i, 3), dtype=np.uint8), (320, 320), interpolation=cv2.INTER_NEAREST)
        images[f"clouds_{i}"] = cv2.GaussianBlur(rng.integers(0, 256, (320, 320), dtype=np.uint8), (0, 0), 6 + 4 * i)
        images[f"gradient_{i}"] = np.tile(np.linspace(0, 255, 320).astype(np.uint8), (320, 1)).T if i % 2 else np.tile(np.linspace(255, 0, 320).astype(np.uint8), (320, 1))
        images[f"checkerboard_{i}"] = (np.indices((320, 320)).sum(axis=0) // (8 * (i + 1)) % 2 * 255).astype(np.uint8)
        images[f"document_{i}"] = _document(rng, lines=10 + 5 * i)
        images[f"shapes_{i}"] = _shapes(rng, colour=i % 2 == 0)
    return {name: _encode(image) for name, image in images.items()}


def _document(rng: np.random.Generator, lines: int) -> np.ndarray:
    page = np.full((560, 420), 255, np.uint8)
    words = ["patient", "report", "the", "lorem", "ipsum", "chest", "dolor", "invoice", "total", "2026", "amet", "page"]
    for line in range(lines):
        text = " ".join(rng.choice(words, 5))
        cv2.putText(page, text, (20, 30 + line * (520 // lines)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 0, 1, cv2.LINE_AA)
    return page


def _shapes(rng: np.random.Generator, colour: bool) -> np.ndarray:
    canvas = np.full((300, 300, 3), 230, np.uint8)
    for _ in range(12):
        fill = tuple(int(c) for c in rng.integers(0, 256, 3)) if colour else (int(rng.integers(0, 256)),) * 3
        centre = tuple(int(c) for c in rng.integers(0, 300, 2))
        cv2.circle(canvas, centre, int(rng.integers(10, 60)), fill, -1)
    return canvas


def non_xray_images() -> dict[str, bytes]:
    """name -> encoded image bytes: package samples, their gray versions, and generated images."""
    corpus: dict[str, bytes] = {}
    for path in package_sample_files():
        data = path.read_bytes()
        corpus[f"{path.parent.parent.name}/{path.name}"] = data
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        is_colour = decoded is not None and not (decoded[..., 0] == decoded[..., 1]).all()
        if is_colour:
            corpus[f"{path.parent.parent.name}/{path.stem}_gray.png"] = _encode(cv2.cvtColor(decoded, cv2.COLOR_BGR2GRAY))
    corpus.update(generated_images())
    return corpus
