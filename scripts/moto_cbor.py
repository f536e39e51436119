"""moto 5.2.5 with CloudWatch over Smithy RPCv2 CBOR.

aws-sdk-cloudwatch (Rust) speaks the Smithy RPCv2 CBOR protocol since 1.100.0; moto speaks only
awsQuery for CloudWatch (getmoto/moto#9195). This runs moto's own WSGI application behind a
middleware that translates, for CloudWatch only:

- a request `POST /service/GraniteServiceVersion20100801/operation/<Op>` with a CBOR body into
  moto's awsQuery form (`Action=<Op>&Version=2010-08-01&...`, lists as `.member.N`, structures
  dotted, timestamps ISO 8601);
- moto's XML answer into CBOR by the output shapes of the operations the tests and the product
  call (GetMetricData, PutMetricData, ListMetrics), timestamps as CBOR tag 1 (epoch seconds);
- an error into `{"__type": "com.amazonaws.cloudwatch#Code", "message": ...}` with the
  `x-amzn-query-error` header, as CloudWatch (awsQueryCompatible) answers.

Every other request goes to moto untouched, except one fixture: moto lets anyone assume any
role (it checks no trust policy). AWS refuses an `sts:AssumeRole` its trust policy does not
allow, and this middleware answers as AWS does (403 AccessDenied) for two kinds of role names:
`untrusted-*` (no trust at all) and `*-xid-VALUE` (a trust policy that requires
`sts:ExternalId` = VALUE). Tests name their roles accordingly; `src/` knows nothing of this.

CloudTrail `LookupEvents` (which moto does not implement) is served by a stand-in speaking
CloudTrail's JSON protocol (awsJson1_1): the events tests register with
`POST /_cloudtrail/events` (`{"region": R, "events": [Event, ...]}`, events shaped as the API
returns them, `EventTime` in epoch seconds), filtered by the one `ResourceName` lookup attribute
and the time range, newest first, 50 a page. `POST /_cloudtrail/deny` (`{"resource_names":
[...]}`) makes lookups of those names answer AccessDeniedException; `GET /_cloudtrail/calls`
lists every lookup (`t`, `region`, `value`).

Usage: python moto_cbor.py HOST PORT
"""

import datetime
import io
import sys
import urllib.parse
import xml.etree.ElementTree as ET

import cbor2
from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

PREFIX = "/service/GraniteServiceVersion20100801/operation/"

# Output shapes: "s" string, "d" double, "i" integer, "t" timestamp, "b" boolean,
# [shape] list, {member: shape} structure.
MESSAGE = {"Code": "s", "Value": "s"}
DIMENSION = {"Name": "s", "Value": "s"}
OUTPUTS = {
    "GetMetricData": {
        "MetricDataResults": [
            {
                "Id": "s",
                "Label": "s",
                "Timestamps": ["t"],
                "Values": ["d"],
                "StatusCode": "s",
                "Messages": [MESSAGE],
            }
        ],
        "NextToken": "s",
        "Messages": [MESSAGE],
    },
    "PutMetricData": {},
    "ListMetrics": {
        "Metrics": [{"Namespace": "s", "MetricName": "s", "Dimensions": [DIMENSION]}],
        "NextToken": "s",
        "OwningAccounts": ["s"],
    },
}


def flatten(value, prefix, out):
    """awsQuery form fields of a decoded CBOR value."""
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(v, f"{prefix}.{k}" if prefix else k, out)
    elif isinstance(value, list):
        for i, v in enumerate(value, 1):
            flatten(v, f"{prefix}.member.{i}", out)
    elif isinstance(value, bool):
        out.append((prefix, "true" if value else "false"))
    elif isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        out.append((prefix, value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
    elif isinstance(value, (bytes, bytearray)):
        import base64

        out.append((prefix, base64.b64encode(value).decode()))
    elif value is not None:
        out.append((prefix, str(value)))


def local(tag):
    return tag.rsplit("}", 1)[-1]


def child(el, name):
    for c in el:
        if local(c.tag) == name:
            return c
    return None


def convert(el, shape):
    """A CBOR-ready value of the XML element `el` by its shape."""
    if isinstance(shape, list):
        return [convert(m, shape[0]) for m in el if local(m.tag) == "member"]
    if isinstance(shape, dict):
        out = {}
        for name, s in shape.items():
            c = child(el, name)
            # An empty string member (<NextToken/>) is absent: the SDK would page forever.
            if c is not None and not (s == "s" and not (c.text or "").strip()):
                out[name] = convert(c, s)
        return out
    text = (el.text or "").strip()
    if shape == "d":
        return float(text)
    if shape == "i":
        return int(text)
    if shape == "b":
        return text == "true"
    if shape == "t":
        t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=datetime.timezone.utc)
        return cbor2.CBORTag(1, t.timestamp())
    return text


def cbor_response(start_response, status, body, extra=()):
    data = cbor2.dumps(body)
    start_response(
        status,
        [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("Content-Length", str(len(data))),
            *extra,
        ],
    )
    return [data]


import json
import re
import threading
import time

# AWS accepts both; the SDKs send the short one.
TRAIL_TARGETS = (
    "CloudTrail_20131101.LookupEvents",
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
)
TRAIL = {"events": [], "deny": set(), "calls": []}
TRAIL_LOCK = threading.Lock()


def json_response(start_response, status, body, ctype="application/x-amz-json-1.1"):
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
    return [data]


def read_body(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def cloudtrail(environ, start_response):
    """The CloudTrail stand-in (see the module's doc), or None for other requests."""
    path = environ.get("PATH_INFO", "")
    if path == "/_cloudtrail/events" and environ.get("REQUEST_METHOD") == "POST":
        body = json.loads(read_body(environ) or b"{}")
        with TRAIL_LOCK:
            for e in body.get("events", []):
                TRAIL["events"].append((body.get("region", "us-east-1"), e))
        return json_response(start_response, "200 OK", {}, "application/json")
    if path == "/_cloudtrail/deny" and environ.get("REQUEST_METHOD") == "POST":
        body = json.loads(read_body(environ) or b"{}")
        with TRAIL_LOCK:
            TRAIL["deny"].update(body.get("resource_names", []))
        return json_response(start_response, "200 OK", {}, "application/json")
    if path == "/_cloudtrail/calls":
        with TRAIL_LOCK:
            calls = list(TRAIL["calls"])
        return json_response(start_response, "200 OK", calls, "application/json")
    if environ.get("HTTP_X_AMZ_TARGET") not in TRAIL_TARGETS:
        return None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = re.search(r"Credential=[^/]+/[0-9]+/([^/]+)/", auth)
    region = m.group(1) if m else "us-east-1"
    req = json.loads(read_body(environ) or b"{}")
    attrs = req.get("LookupAttributes") or []
    if len(attrs) > 1:
        return json_response(start_response, "400 Bad Request", {
            "__type": "InvalidLookupAttributesException",
            "message": "You cannot specify more than one lookup attribute."})
    max_results = int(req.get("MaxResults") or 50)
    if max_results > 50:
        return json_response(start_response, "400 Bad Request", {
            "__type": "InvalidMaxResultsException",
            "message": "MaxResults must be between 1 and 50."})
    value = attrs[0]["AttributeValue"] if attrs else None
    with TRAIL_LOCK:
        TRAIL["calls"].append({"t": time.time(), "region": region, "value": value})
        denied = value in TRAIL["deny"]
        events = [e for (r, e) in TRAIL["events"] if r == region]
    if denied:
        return json_response(start_response, "400 Bad Request", {
            "__type": "AccessDeniedException",
            "message": "User: arn:aws:sts::123456789012:assumed-role/sentinel/s is not authorized to perform: cloudtrail:LookupEvents because no identity-based policy allows the cloudtrail:LookupEvents action"})
    start = float(req.get("StartTime") or 0)
    end = float(req.get("EndTime") or time.time())
    if value is not None:
        events = [e for e in events if any(x.get("ResourceName") == value for x in e.get("Resources", []))]
    events = [e for e in events if start <= float(e["EventTime"]) <= end]
    events.sort(key=lambda e: -float(e["EventTime"]))
    offset = int(req.get("NextToken") or 0)
    page = events[offset:offset + max_results]
    out = {"Events": page}
    if offset + max_results < len(events):
        out["NextToken"] = str(offset + max_results)
    return json_response(start_response, "200 OK", out)


def assume_role_denied(environ):
    """The 403 AWS answers to an AssumeRole the role's trust policy refuses, or None (and
    the body put back for moto)."""
    if environ.get("REQUEST_METHOD") != "POST":
        return None
    if "application/x-www-form-urlencoded" not in environ.get("CONTENT_TYPE", ""):
        return None
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    form = urllib.parse.parse_qs(raw.decode(errors="replace"))
    if form.get("Action", [""])[0] != "AssumeRole":
        return None
    role_arn = form.get("RoleArn", [""])[0]
    name = role_arn.rsplit("/", 1)[-1]
    external_id = form.get("ExternalId", [None])[0]
    denied = name.startswith("untrusted-")
    if "-xid-" in name and external_id != name.split("-xid-", 1)[1]:
        denied = True
    if not denied:
        return None
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
        "<Type>Sender</Type><Code>AccessDenied</Code>"
        "<Message>User: arn:aws:iam::123456789012:user/moto is not authorized to perform: "
        f"sts:AssumeRole on resource: {role_arn}</Message></Error>"
        "<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"
    ).encode()
    return body


class CborCloudWatch:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            trail = cloudtrail(environ, start_response)
            if trail is not None:
                return trail
            denied = assume_role_denied(environ)
            if denied is not None:
                start_response(
                    "403 Forbidden",
                    [("Content-Type", "text/xml"), ("Content-Length", str(len(denied)))],
                )
                return [denied]
            return self.app(environ, start_response)
        op = path[len(PREFIX):]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        # The SDK compresses large PutMetricData bodies (request compression).
        if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
            import gzip

            raw = gzip.decompress(raw)
        params = cbor2.loads(raw) if raw else {}
        fields = [("Action", op), ("Version", "2010-08-01")]
        flatten(params, "", fields)
        body = urllib.parse.urlencode(fields).encode()
        inner = dict(environ)
        inner["PATH_INFO"] = "/"
        inner["REQUEST_METHOD"] = "POST"
        inner["CONTENT_TYPE"] = "application/x-www-form-urlencoded; charset=utf-8"
        inner["CONTENT_LENGTH"] = str(len(body))
        inner["wsgi.input"] = io.BytesIO(body)
        # moto routes by the SigV4 service name in Authorization (monitoring): kept as sent.
        for k in ("HTTP_SMITHY_PROTOCOL", "HTTP_ACCEPT", "HTTP_CONTENT_ENCODING"):
            inner.pop(k, None)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = headers
            return lambda _data: None

        chunks = self.app(inner, capture)
        try:
            xml = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status = captured.get("status", "500 Internal Server Error")
        code = int(status.split()[0])
        try:
            root = ET.fromstring(xml) if xml.strip() else None
        except ET.ParseError:
            root = None
        if code >= 400 or root is None or local(root.tag) == "ErrorResponse":
            err = root.find(".//{*}Error") if root is not None else None
            ecode = (err.findtext("{*}Code") if err is not None else None) or "InternalFailure"
            msg = (err.findtext("{*}Message") if err is not None else None) or xml.decode(errors="replace")[:500]
            sender = "Sender" if code < 500 else "Receiver"
            return cbor_response(
                start_response,
                status if code >= 400 else "500 Internal Server Error",
                {"__type": f"com.amazonaws.cloudwatch#{ecode}", "message": msg},
                [("x-amzn-query-error", f"{ecode};{sender}")],
            )
        result = child(root, f"{op}Result")
        shape = OUTPUTS.get(op)
        if shape is None:
            return cbor_response(
                start_response,
                "400 Bad Request",
                {"__type": "com.amazonaws.cloudwatch#UnknownOperation", "message": f"{op} is not translated by moto_cbor.py"},
            )
        out = convert(result, shape) if result is not None else {}
        return cbor_response(start_response, "200 OK", out)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, CborCloudWatch(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
