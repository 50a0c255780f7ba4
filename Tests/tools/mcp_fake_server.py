"""A small MCP server for ToolWorker's tests, on the reference `mcp` package (installed by scripts/test.sh).

    python3 mcp_fake_server.py stdio
    python3 mcp_fake_server.py http PORT_FILE    # Streamable HTTP on 127.0.0.1, a free port written to PORT_FILE

Tools: echo (its text back), add (two numbers), fail (a tool error), crash (the process exits mid-call, status 3),
slow (sleeps), authorization (echoes the HTTP Authorization header), environment (whether OPENAI_API_KEY reached it), started (its pid, to count restarts),
traceparent (the W3C traceparent the call's _meta carried), progress (progress notifications, then an answer).
"""
import asyncio
import os
import socket
import sys

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("toolworker-test")


@server.tool(description="Returns its text unchanged.")
def echo(text: str) -> str:
    return text


@server.tool(description="Adds two numbers.")
def add(a: float, b: float) -> str:
    return str(a + b)


@server.tool(description="Always fails.")
def fail(reason: str = "no reason") -> str:
    raise ValueError(f"failed on purpose: {reason}")


@server.tool(description="The server exits in the middle of the call.")
def crash() -> str:
    os._exit(3)


@server.tool(description="Sleeps, then answers.")
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


@server.tool(description="Says whether the API key reached the server's environment.")
def environment() -> str:
    return "OPENAI_API_KEY=" + ("set" if "OPENAI_API_KEY" in os.environ else "unset")


@server.tool(description="The server's process id.")
def started() -> str:
    return str(os.getpid())


@server.tool(description="Echoes the Authorization header of the HTTP request (as a careless server might).")
def authorization(ctx: Context) -> str:
    request = ctx.request_context.request
    return "saw " + (request.headers.get("authorization", "nothing") if request is not None else "no HTTP request")


@server.tool(description="Reports progress a few times, then answers.")
async def progress(steps: int, ctx: Context) -> str:
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step} of {steps}")
        await asyncio.sleep(0.3)
    return "progressed"


@server.tool(description="Returns the W3C traceparent the call's _meta carried.")
def traceparent(ctx: Context) -> str:
    meta = ctx.request_context.meta
    found = None
    if isinstance(meta, dict):
        found = meta.get("traceparent")
    elif meta is not None:
        found = getattr(meta, "traceparent", None) or (getattr(meta, "model_extra", None) or {}).get("traceparent")
    return "traceparent " + (found or "none")


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        with open(sys.argv[2] + ".tmp", "w") as f:
            f.write(str(port))
        os.rename(sys.argv[2] + ".tmp", sys.argv[2])
        server.run("streamable-http", host="127.0.0.1", port=port)
