"""AWS event-stream messages (application/vnd.amazon.eventstream), as SageMaker Runtime frames the
events of InvokeEndpointWithResponseStream.

The encoding, as AWS documents it (https://docs.aws.amazon.com/lexv2/latest/dg/event-stream-encoding.html):
"Each message consists of two sections: the prelude and the data. The prelude section contains
the total byte length of the message and the combined byte length of all of the headers. The
data section contains the headers and a payload. Each section ends with a 4-byte big-endian
integer CRC checksum. The message CRC checksum includes the prelude section and the data
section." Headers here are all strings (value type 7, a 2-byte length, UTF-8), which is all these
events use.

Which headers and payload each event has follows botocore's sagemaker-runtime model and parser:
ResponseStream is an event stream whose PayloadPart event carries its Bytes member as the raw
payload ("eventpayload": true, a blob), and whose ModelStreamError and InternalStreamFailure
are exceptions: botocore reads the ":message-type" "exception" as an error, names it by
":exception-type" and takes its Message from a JSON payload (botocore/parsers.py,
BaseEventStreamParser; botocore/eventstream.py, EventStreamMessage.to_response_dict).
"""

from __future__ import annotations

import json
import struct
import zlib

STRING_HEADER = 7


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude, prelude CRC, headers, payload, message CRC."""
    encoded_headers = b"".join(
        struct.pack("!B", len(name.encode()))
        + name.encode()
        + struct.pack("!BH", STRING_HEADER, len(value.encode()))
        + value.encode()
        for name, value in headers.items()
    )
    total_length = 4 + 4 + 4 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack("!II", total_length, len(encoded_headers))
    message = prelude + struct.pack("!I", zlib.crc32(prelude)) + encoded_headers + payload
    return message + struct.pack("!I", zlib.crc32(message))


def payload_part(data: bytes) -> bytes:
    """A PayloadPart event carrying these bytes of the container's answer."""
    headers = {":event-type": "PayloadPart", ":message-type": "event", ":content-type": "application/octet-stream"}
    return encode_message(headers, data)


def stream_exception(exception_type: str, message: str, error_code: str | None = None) -> bytes:
    """A ModelStreamError (with its ErrorCode, e.g. ModelInvocationTimeExceeded or StreamBroken)
    or an InternalStreamFailure event."""
    body: dict[str, str] = {"Message": message}
    if error_code is not None:
        body["ErrorCode"] = error_code
    headers = {":exception-type": exception_type, ":message-type": "exception", ":content-type": "application/json"}
    return encode_message(headers, json.dumps(body).encode())
