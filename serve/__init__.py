"""pneumo.serve: pneumo as a service for other programs.

The REST service (``pneumo-serve``: ``rest.py``, its command ``rest_cli.py`` and the streaming
upload parser ``upload_form.py``) and the DICOM node (``pneumo-dicom``: ``dicom_node.py``,
``dicom_results.py``, ``spool.py``, its command ``dicom_cli.py``), both over ``pneumo_runtime`` and
one bounded ``work_queue.py``. Importing this package starts nothing.
"""
