"""Nothing lost: the node, and the PACS it delivers to, killed with SIGKILL at the awkward moments.

The PACS is ``store_scp.py`` (a real pynetdicom storage SCP in its own process); each test ends
with every film's SR delivered, the spool empty, and no patient identifier in the node's log."""

from __future__ import annotations

import io

import pydicom
import pytest
from pacs_processes import free_port, received, send_films, start_node, start_scp, wait_for
from pydicom.uid import ComprehensiveSRStorage, SecondaryCaptureImageStorage
from sr_reading import referenced_film

from pneumo.serve.spool import Spool

pytestmark = pytest.mark.slow
DELIVERY_TIMEOUT_S = 60
OUT_OF_RESOURCES = 0xA700


def film_uids(films: list[bytes]) -> set[str]:
    return {str(pydicom.dcmread(io.BytesIO(film), stop_before_pixels=True).SOPInstanceUID) for film in films}


def delivered_films(folder) -> set[str]:
    return {referenced_film(ds) for ds in received(folder) if ds.SOPClassUID == ComprehensiveSRStorage}


def assert_private(text: str, patient) -> None:
    for identifier in patient.identifiers():
        assert identifier not in text, "a patient identifier reached the log"


def test_node_killed_right_after_acknowledging_finishes_the_films_on_restart(film_factory, patient, tmp_path):
    films = film_factory(8)
    pacs, pacs_port = start_scp(tmp_path / "pacs", tmp_path / "pacs.log")
    node, node_port = start_node(tmp_path / "spool", tmp_path / "node.log", "--forward", f"PACS@127.0.0.1:{pacs_port}")
    try:
        assert send_films(node_port, films) == [0] * len(films), "every film acknowledged"
        node.kill()  # at once: most films are still waiting for their analysis
        spooled = Spool(tmp_path / "spool").items()
        print(f"\nkilled after acknowledging: {len(spooled)} of {len(films)} films in the spool "
              f"({sum(item.analysed for item in spooled)} with results), {len(delivered_films(tmp_path / 'pacs'))} delivered")
        assert len(spooled) + len(delivered_films(tmp_path / "pacs")) >= len(films), "an acknowledged film was lost"
        node, _ = start_node(tmp_path / "spool", tmp_path / "node.log", "--forward", f"PACS@127.0.0.1:{pacs_port}", port=node_port)
        assert wait_for(lambda: delivered_films(tmp_path / "pacs") == film_uids(films), DELIVERY_TIMEOUT_S), node.text()[-2000:]
        assert wait_for(lambda: not Spool(tmp_path / "spool").items(), 10), "the spool keeps films whose results were delivered"
        assert_private(node.text(), patient)
    finally:
        node.kill()
        pacs.kill()


def test_node_killed_while_the_pacs_is_down_delivers_after_restart(film_factory, patient, tmp_path):
    films = film_factory(3)
    pacs_port = free_port()  # nothing listens yet: every delivery fails
    node, node_port = start_node(tmp_path / "spool", tmp_path / "node.log", "--forward", f"PACS@127.0.0.1:{pacs_port}")
    pacs = None
    try:
        assert send_films(node_port, films) == [0, 0, 0]
        assert wait_for(lambda: "not delivered" in node.text() and sum(i.analysed for i in Spool(tmp_path / "spool").items()) == 3, 30), node.text()[-2000:]
        node.kill()
        spooled = Spool(tmp_path / "spool").items()
        assert len(spooled) == 3 and all(len(item.results) == 2 for item in spooled), "films and their results wait in the spool"
        pacs, _ = start_scp(tmp_path / "pacs", tmp_path / "pacs.log", port=pacs_port)
        node, _ = start_node(tmp_path / "spool", tmp_path / "node.log", "--forward", f"PACS@127.0.0.1:{pacs_port}", port=node_port)
        assert wait_for(lambda: delivered_films(tmp_path / "pacs") == film_uids(films), DELIVERY_TIMEOUT_S), node.text()[-2000:]
        captures = [ds for ds in received(tmp_path / "pacs") if ds.SOPClassUID == SecondaryCaptureImageStorage]
        assert len(captures) == 3
        assert wait_for(lambda: not Spool(tmp_path / "spool").items(), 10)
        assert_private(node.text(), patient)
    finally:
        node.kill()
        if pacs:
            pacs.kill()


def test_pacs_killed_between_deliveries_gets_the_rest_when_back(film_factory, patient, tmp_path):
    films = film_factory(3)
    pacs, pacs_port = start_scp(tmp_path / "pacs", tmp_path / "pacs.log")
    node, node_port = start_node(tmp_path / "spool", tmp_path / "node.log", "--forward", f"PACS@127.0.0.1:{pacs_port}")
    try:
        assert send_films(node_port, films[:1]) == [0]
        assert wait_for(lambda: delivered_films(tmp_path / "pacs") == film_uids(films[:1]), DELIVERY_TIMEOUT_S)
        pacs.kill()
        assert send_films(node_port, films[1:]) == [0, 0], "the node accepts films while the PACS is down"
        assert wait_for(lambda: "not delivered" in node.text(), 30), node.text()[-2000:]
        assert len(Spool(tmp_path / "spool").items()) == 2
        pacs, _ = start_scp(tmp_path / "pacs", tmp_path / "pacs.log", port=pacs_port)
        assert wait_for(lambda: delivered_films(tmp_path / "pacs") == film_uids(films), DELIVERY_TIMEOUT_S), node.text()[-2000:]
        assert wait_for(lambda: not Spool(tmp_path / "spool").items(), 10)
        assert_private(node.text(), patient)
    finally:
        node.kill()
        pacs.kill()


def test_a_full_spool_refuses_with_out_of_resources_and_keeps_what_it_holds(film_factory, patient, tmp_path):
    films = film_factory(3)
    node, node_port = start_node(tmp_path / "spool", tmp_path / "node.log", "--forward", f"PACS@127.0.0.1:{free_port()}",
                                 extra=("--spool-max-films", "2"))
    try:
        assert send_films(node_port, films) == [0, 0, OUT_OF_RESOURCES], "the third film is refused, not accepted and lost"
        node.kill()
        assert len(Spool(tmp_path / "spool").items()) == 2
        assert "0xA700" in node.text()
        assert_private(node.text(), patient)
    finally:
        node.kill()
