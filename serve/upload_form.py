"""One file field out of a multipart/form-data body, in memory.

Starlette's form parsing spools any upload over 1 MB to a temporary file; an X-ray upload must
never touch the disk (it may carry patient data), so the REST service reads the body itself (it
is already bounded by the upload limit) and hands it to python-multipart's streaming parser.
"""

from __future__ import annotations

from python_multipart.multipart import MultipartParser, parse_options_header

from pneumo_runtime.errors import PneumoError


class FormError(PneumoError):
    """The request is not a multipart form with the expected file field."""


def file_field(content_type: str, body: bytes, field: str = "file") -> bytes:
    """The bytes of form field ``field``; FormError when the form is malformed or has no such field."""
    return upload_fields(content_type, body, field)[0]


def upload_fields(content_type: str, body: bytes, field: str = "file", text_fields: tuple[str, ...] = ()) -> tuple[bytes, dict[str, str]]:
    """The file field's bytes, and each of ``text_fields`` that the form holds, as text."""
    media_type, options = parse_options_header(content_type or "")
    if media_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise FormError(f"send the image as multipart/form-data in the field '{field}'")
    parts: list[tuple[dict[bytes, bytes], bytearray]] = []
    header_name, header_value = bytearray(), bytearray()

    def on_part_begin() -> None:
        parts.append(({}, bytearray()))

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        parts[-1][0][bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1][1].extend(data[start:end])

    parser = MultipartParser(options[b"boundary"], {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_part_data": on_part_data,
    })
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # noqa: BLE001 - python-multipart raises several types for a broken body
        raise FormError(f"malformed multipart body ({type(exc).__name__})") from None
    named = {}
    for headers, data in parts:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        named.setdefault(disposition.get(b"name", b"").decode("utf-8", "replace"), bytes(data))
    texts = {name: named[name].decode("utf-8", "replace") for name in text_fields if name in named}
    if field in named:
        if not named[field]:
            raise FormError(f"the field '{field}' is empty")
        return named[field], texts
    raise FormError(f"no field '{field}' in the form: send the image as multipart/form-data in the field '{field}'")
