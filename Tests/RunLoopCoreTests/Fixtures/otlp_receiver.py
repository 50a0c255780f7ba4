"""An OTLP/HTTP trace receiver on loopback, decoding what arrives with opentelemetry-proto.

Usage: otlp_receiver.py PORTFILE SPANSFILE RAWFILE [STATUS]

Writes the port it listens on to PORTFILE, then for each POST /v1/traces appends every span, decoded, as one JSON
line to SPANSFILE (name, kind, ids in hex, parent, attributes, status) and the raw body to RAWFILE; answers STATUS
(200 by default; 503 plays a collector that is down).
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

port_file, spans_file, raw_file = sys.argv[1:4]
status = int(sys.argv[4]) if len(sys.argv) > 4 else 200


def value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(item) for item in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with open(raw_file, "ab") as raw:
            raw.write(body)
        if status == 200 and self.path == "/v1/traces" and self.headers.get("content-type") == "application/x-protobuf":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            with open(spans_file, "a") as out:
                for resource_spans in request.resource_spans:
                    resource = {kv.key: value(kv.value) for kv in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            out.write(json.dumps({
                                "name": span.name, "kind": span.kind, "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(), "parent": span.parent_span_id.hex(),
                                "attributes": {kv.key: value(kv.value) for kv in span.attributes},
                                "status": span.status.code, "resource": resource, "scope": scope_spans.scope.name,
                                "auth": self.headers.get("authorization"),
                            }) + "\n")
        self.send_response(status)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Receiver)
with open(port_file + ".tmp", "w") as out:
    out.write(str(server.server_port))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
