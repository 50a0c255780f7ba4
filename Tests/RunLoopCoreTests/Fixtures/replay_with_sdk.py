"""Reads `toolworker replay --sse` output back with the official openai-python SDK's stream readers.

Usage: replay_with_sdk.py responses|assistants ROUND0.sse [ROUND1.sse ...]

A loopback HTTP server answers the SDK's requests with the replayed streams, one file per request, in order (the
start's stream, then each round's). Prints, as JSON, what the SDK's helpers give at the end of each stream: the
final response (Responses), or the final run and messages (Assistants).
"""
import json
import warnings
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import openai

warnings.simplefilter("ignore", DeprecationWarning)  # the Assistants API is deprecated, its readers are not gone

protocol, files = sys.argv[1], sys.argv[2:]
bodies = [open(name, "rb").read() for name in files]


class Replay(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = bodies.pop(0)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Replay)
threading.Thread(target=server.serve_forever, daemon=True).start()
client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key="sk-replay", max_retries=0)
results = []
for index in range(len(files)):
    if protocol == "responses":
        with client.responses.stream(model="replayed", input="replayed") as stream:
            for _ in stream:
                pass
            results.append(stream.get_final_response().model_dump(mode="json"))
    else:
        if index == 0:
            manager = client.beta.threads.runs.stream(thread_id="thread_replayed", assistant_id="asst_replayed")
        else:
            manager = client.beta.threads.runs.submit_tool_outputs_stream(
                thread_id="thread_replayed", run_id="run_replayed", tool_outputs=[])
        with manager as stream:
            stream.until_done()
            try:
                messages = [message.model_dump(mode="json") for message in stream.get_final_messages()]
            except RuntimeError:  # "No messages found": a round that only asked for tool outputs
                messages = []
            results.append({"run": stream.get_final_run().model_dump(mode="json"), "messages": messages})
print(json.dumps(results))
