"""Uploaded images are patient data: none outlives its request on disk."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import gradio as gr
from gradio.utils import NamedString
from gradio_client import utils as client_utils


def gradio_cache_root() -> Path:
    """Where Gradio stores uploads (the same rule as Gradio's own: GRADIO_TEMP_DIR or <tmp>/gradio)."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def public_digests(files: Iterable[str | Path]) -> frozenset[str]:
    """Digests of the app's own example images: Gradio serves its cached copies of them again and again."""
    return frozenset(file_digest(f) for f in files)


def discard_upload(path: str | Path | None, keep: frozenset[str] = frozenset()) -> None:
    """Delete an uploaded file and its per-upload folder. Never touched: files outside Gradio's cache,
    and cached copies of the public examples (digest in ``keep``), which a second click needs."""
    if not path:
        return
    path = Path(path).resolve()
    root = gradio_cache_root()
    if root not in path.parents or not path.is_file():
        return
    if keep and file_digest(path) in keep:
        return
    path.unlink(missing_ok=True)
    folder = path.parent
    if folder != root:
        try:
            folder.rmdir()  # Gradio puts each upload in a folder of its own; leave it if anything else is there
        except OSError:
            pass



def upload_field(**kwargs) -> gr.File:
    """``gr.File(type="filepath")`` that hands the function the upload's path and creates nothing else.

    Gradio 6's ``gr.File`` opens an empty ``NamedTemporaryFile(delete=False)`` in its cache for
    every request and never uses or removes it: 200 API calls left 200 empty files. The method is
    replaced on the instance, not in a subclass: Gradio writes a ``.pyi`` stub beside the module of
    every component subclass. tests/demo/test_server.py checks that no file is left.
    """
    field = gr.File(type="filepath", **kwargs)

    def path_only(payload):
        if field.file_types and not client_utils.is_valid_file(payload.path, field.file_types):
            raise gr.Error(f"Invalid file type. Upload one of: {', '.join(field.file_types)}")
        return NamedString(payload.path)

    field._process_single_file = path_only
    return field
