"""Against a real Orthanc (apt ``orthanc orthanc-dicomweb``, as ``.ci/run`` installs them): a study of
three DX films, posted to Orthanc and routed to ``pneumo-dicom`` with ``POST /modalities/pneumo/store``,
comes back into the same study as one SR per film (the adult's REJECTED) and one secondary capture
per decided film, within 60 s, by C-STORE and by STOW-RS into Orthanc's DICOMweb plugin."""

from __future__ import annotations

import io
import json
import time

import pydicom
import pytest
from pacs_processes import DICOMWEB_PLUGIN, ORTHANC, free_port, start_node, start_orthanc, wait_for
from pydicom.uid import ComprehensiveSRStorage, SecondaryCaptureImageStorage
from sr_reading import decision, referenced_film, text

from pneumo.serve.dicom_results import NOT_FOR_DIAGNOSIS

pytestmark = [pytest.mark.slow, pytest.mark.skipif(ORTHANC is None or not DICOMWEB_PLUGIN.exists(), reason="apt install orthanc orthanc-dicomweb")]
ROUND_TRIP_LIMIT_S = 60


@pytest.mark.parametrize("delivery", ["c-store", "stow-rs", "c-store, routed by the Lua rule"])
def test_a_routed_study_gets_an_sr_per_film_and_a_capture_per_decided_film(delivery, study_films, tmp_path, record_property):
    node_port = free_port()
    auto_route = "Lua" in delivery
    orthanc = start_orthanc(tmp_path / "orthanc", "PNEUMO", node_port, auto_route=auto_route)
    target = ("--forward", f"ORTHANC@127.0.0.1:{orthanc.dicom_port}") if delivery.startswith("c-store") else ("--dicomweb", f"{orthanc.url}/dicom-web")
    node, _ = start_node(tmp_path / "spool", tmp_path / "node.log", *target, port=node_port)
    try:
        films = [pydicom.dcmread(io.BytesIO(film)) for film in study_films]
        study = None
        started = time.monotonic()
        for film in study_films:
            study = orthanc.post("/instances", film)["ParentStudy"]
        if not auto_route:
            started = time.monotonic()
            orthanc.post("/modalities/pneumo/store", json.dumps({"Resources": [study], "Synchronous": True}).encode(), "application/json")

        def results():
            instances = orthanc.get(f"/studies/{study}/instances")
            kinds = {instance["ID"]: orthanc.get(f"/instances/{instance['ID']}/tags?simplify")["SOPClassUID"] for instance in instances}
            srs = [i for i, uid in kinds.items() if uid == ComprehensiveSRStorage]
            captures = [i for i, uid in kinds.items() if uid == SecondaryCaptureImageStorage]
            return (srs, captures) if len(srs) == 3 and len(captures) >= 2 else None

        found = wait_for(results, ROUND_TRIP_LIMIT_S, 0.5)
        round_trip = time.monotonic() - started
        assert found, f"within {ROUND_TRIP_LIMIT_S} s Orthanc did not hold 3 SRs and 2 secondary captures:\n{node.text()[-3000:]}"
        record_property("orthanc_round_trip_s", round(round_trip, 2))
        print(f"\n{delivery}: Orthanc round trip {round_trip:.2f} s for 3 films")
        srs, captures = found
        decisions = {referenced_film(sr): (decision(sr), text(sr, "REASON"), sr) for sr in map(orthanc.file, srs)}
        by_film = [decisions[str(film.SOPInstanceUID)] for film in films]
        assert all(d != "REJECTED" for d, _, _ in by_film[:2]), [(d, r) for d, r, _ in by_film]
        adult_decision, adult_reason, _ = by_film[2]
        assert adult_decision == "REJECTED", f"the 052Y film came back {adult_decision}: {adult_reason}"
        assert len(captures) == 2, "a secondary capture for each decided film, none for the rejected one"
        for _, _, sr in by_film:
            assert sr.VerificationFlag == "UNVERIFIED" and sr.StudyInstanceUID == films[0].StudyInstanceUID
            assert NOT_FOR_DIAGNOSIS in text(sr, "NOTICE") and "not for diagnostic use" in sr.SeriesDescription
        for capture in map(orthanc.file, captures):
            assert "not for diagnostic use" in capture.SeriesDescription and capture.BurnedInAnnotation == "YES"
            assert capture.PatientBirthDate == "", "identifying tags beyond filing are not copied"
        time.sleep(3 if auto_route else 0)  # the results stored back must not be routed again (no loop)
        assert len(orthanc.get(f"/studies/{study}/instances")) == 3 + 3 + 2
    finally:
        node.kill()
        orthanc.process.kill()
