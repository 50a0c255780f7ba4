"""An MCP server (stdio, raw JSON-RPC, no SDK) that a careless or hostile server could be, for ToolWorker's tests:
tools with names a model cannot be offered, a schema that is not an object, noise lines that are not JSON,
and a tool whose answer is far larger than any output cap."""
import json
import sys

TOOLS = [
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
