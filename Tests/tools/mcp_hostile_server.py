"""An MCP server (stdio, raw JSON-RPC, no SDK) that a careless or hostile server could be, for ToolWorker's tests:
tools with names a model cannot be offered, a schema that is not an object, noise lines that are not JSON,
and a tool whose answer is far larger than any output cap.

Modes (arguments): `empty` lists no tools; `stderr` writes a banner with terminal escapes and a forged log line to
stderr at start; `flood N` sends N notifications before every answer."""
import json
import sys

MODES = sys.argv[1:]
FLOOD = int(MODES[MODES.index("flood") + 1]) if "flood" in MODES else 0
if "stderr" in MODES:
    sys.stderr.write("\x1b[2J\x1b[31mHOSTILE BANNER\x1b[0m\n2026-01-01T00:00:00Z critical : forged log line\rOVERWRITE\n")
    sys.stderr.flush()

TOOLS = [] if "empty" in MODES else [
    {"name": "ok", "description": "fine", "inputSchema": {"type": "object", "properties": {}}},
    {"name": "has space", "inputSchema": {"type": "object"}},
    {"name": "x" * 80, "inputSchema": {"type": "object"}},
    {"name": "weird_schema", "inputSchema": "not an object"},
    {"name": "huge", "inputSchema": {"type": "object"}},
]


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    request = json.loads(line)
    method = request.get("method")
    if "id" not in request:
        continue
    if FLOOD:
        note = json.dumps({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "x" * 200}}) + "\n"
        for _ in range(FLOOD // 1000):
            sys.stdout.write(note * 1000)
        sys.stdout.flush()
    # Noise before every answer: not JSON, then JSON that is no message.
    sys.stdout.write("this is not JSON\n")
    send({"unrelated": True})
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": request["id"], "result": {
            "protocolVersion": request["params"]["protocolVersion"], "capabilities": {"tools": {}},
            "serverInfo": {"name": "hostile", "version": "0"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": request["id"], "result": {"tools": TOOLS}})
    elif method == "tools/call":
        name = request["params"]["name"]
        text = "y" * (3 << 20) if name == "huge" else "fine"
        send({"jsonrpc": "2.0", "id": request["id"], "result": {"content": [{"type": "text", "text": text}]}})
    else:
        send({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": "no such method"}})
