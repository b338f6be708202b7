"""Entry points of ``pneumo-serve`` (the REST service) and ``pneumo-dicom`` (the DICOM node): light,
no FastAPI or pynetdicom import until the extra is checked."""

from __future__ import annotations

from pneumo_runtime.launch import run

# command -> (module with main(), the extra it needs)
COMMANDS = {
    "pneumo-serve": ("pneumo.serve.rest_cli", "serve"),
    "pneumo-dicom": ("pneumo.serve.dicom_cli", "pacs"),
}


def serve() -> int:
    return run("pneumo-serve", *COMMANDS["pneumo-serve"])


def dicom() -> int:
    return run("pneumo-dicom", *COMMANDS["pneumo-dicom"])
