"""A storage SCP standing in for a PACS in the kill tests: ``store_scp.py FOLDER PORT``.

Accepts any storage SOP class as AE title PACS and writes each instance to FOLDER as
``<SOPInstanceUID>.dcm`` (written then renamed, so a test never reads half a file)."""

import os
import sys
from pathlib import Path

from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification


def main() -> None:
    folder, port = Path(sys.argv[1]), int(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)

    def on_store(event):
        uid = str(event.request.AffectedSOPInstanceUID)
        part = folder / f"{uid}.part"
        part.write_bytes(event.encoded_dataset())
        os.replace(part, folder / f"{uid}.dcm")
        return 0x0000

    ae = AE(ae_title="PACS")
    ae.supported_contexts = AllStoragePresentationContexts
    ae.add_supported_context(Verification)
    ae.start_server(("127.0.0.1", port), block=True, evt_handlers=[(evt.EVT_C_STORE, on_store)])


if __name__ == "__main__":
    main()
