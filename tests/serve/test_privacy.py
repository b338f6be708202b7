"""No patient name, ID, birth date or accession number in a log line, an error, or a file name of
the DICOM node, even at debug level and on its error paths."""

from __future__ import annotations

import io

import pydicom
import pytest
from pacs_processes import received, send_films, start_node, start_scp, wait_for
from pydicom.uid import ComprehensiveSRStorage
from sr_reading import decision, text

from pneumo.serve.dicom_cli import main as dicom_main

CANNOT_UNDERSTAND = 0xC000


def without_study_uid(film: bytes) -> bytes:
    dataset = pydicom.dcmread(io.BytesIO(film))
    del dataset.StudyInstanceUID
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def truncated_pixels(film: bytes) -> bytes:
    dataset = pydicom.dcmread(io.BytesIO(film))
    dataset.PixelData = dataset.PixelData[:1000]
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.slow
def test_the_node_logs_no_identifier_at_debug_level_nor_on_its_error_paths(film_factory, patient, tmp_path):
    good, bad_pixels, no_study = film_factory(3)
    pacs, pacs_port = start_scp(tmp_path / "pacs", tmp_path / "pacs.log")
    node, node_port = start_node(tmp_path / "spool", tmp_path / "node.log", "--forward", f"PACS@127.0.0.1:{pacs_port}", extra=("--log-level", "debug"))
    try:
        statuses = send_films(node_port, [good, truncated_pixels(bad_pixels), without_study_uid(no_study)])
        assert statuses == [0, 0, CANNOT_UNDERSTAND], "a film whose results could not be filed is refused at once"
        reports = lambda: [ds for ds in received(tmp_path / "pacs") if ds.SOPClassUID == ComprehensiveSRStorage]  # noqa: E731
        assert wait_for(lambda: len(reports()) == 2, 60), node.text()[-2000:]
        refused = [sr for sr in reports() if decision(sr) == "REJECTED"]
        assert len(refused) == 1 and text(refused[0], "REASON"), "the broken film's SR says why"
        names = " ".join(str(path) for path in (tmp_path / "spool").rglob("*"))
        log = node.text()
        assert "DEBUG" in log or "INFO" in log
        for identifier in patient.identifiers():
            assert identifier not in log, "an identifier reached the node's log"
            assert identifier not in names, "an identifier reached a file name"
            assert identifier not in text(refused[0], "REASON"), "an identifier reached an error"
    finally:
        node.kill()
        pacs.kill()


def test_command_errors_are_one_line_without_identifiers(film_factory, patient, tmp_path, capsys):
    assert dicom_main(["listen", "--forward", "no-port", "--spool", str(tmp_path / "spool")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    film = tmp_path / "film.dcm"
    film.write_bytes(without_study_uid(film_factory(1)[0]))
    assert dicom_main(["analyse", str(film), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "lacks StudyInstanceUID" in err and err.count("\n") == 1
    assert not any(identifier in err for identifier in patient.identifiers())
