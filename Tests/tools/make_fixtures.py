#!/usr/bin/env python3
"""Writes the golden SSE fixtures and their expected snapshots.

The expected snapshots come from an independent re-implementation (below, in Python) of the official SDKs'
`accumulateDelta` and snapshot policy, so the Swift accumulator is checked against a second implementation
rather than against itself. Run from the repository root: python3 Tests/tools/make_fixtures.py
"""
import copy, json, os

OUT = os.path.join(os.path.dirname(__file__), "..", "RunLoopCoreTests", "Fixtures")
T0 = 1764100000

def run(status, rid="run_A", tid="thread_A", **extra):
    obj = {"id": rid, "object": "thread.run", "created_at": T0, "assistant_id": "asst_A", "thread_id": tid,
           "status": status, "started_at": None if status == "queued" else T0 + 1, "expires_at": T0 + 600,
           "cancelled_at": None, "failed_at": None, "completed_at": None, "required_action": None,
           "last_error": None, "model": "gpt-4o", "instructions": "", "tools": [], "metadata": {},
           "incomplete_details": None, "usage": None, "temperature": 1.0, "top_p": 1.0,
           "max_prompt_tokens": None, "max_completion_tokens": None,
           "truncation_strategy": {"type": "auto", "last_messages": None},
           "response_format": "auto", "tool_choice": "auto", "parallel_tool_calls": True}
    obj.update(extra)
    return obj

def step(sid, stype, status, rid="run_A", tid="thread_A", details=None, **extra):
    if details is None:
        details = {"type": "tool_calls", "tool_calls": []} if stype == "tool_calls" else \
                  {"type": "message_creation", "message_creation": {"message_id": "msg_A"}}
    obj = {"id": sid, "object": "thread.run.step", "created_at": T0 + 2, "run_id": rid, "assistant_id": "asst_A",
           "thread_id": tid, "type": stype, "status": status, "cancelled_at": None, "completed_at": None,
           "expires_at": T0 + 600, "failed_at": None, "last_error": None, "step_details": details, "usage": None}
    obj.update(extra)
    return obj

def message(mid, status, content, rid="run_A", tid="thread_A"):
    return {"id": mid, "object": "thread.message", "created_at": T0 + 3, "assistant_id": "asst_A", "thread_id": tid,
            "run_id": rid, "status": status, "incomplete_details": None, "incomplete_at": None,
            "completed_at": T0 + 9 if status == "completed" else None, "role": "assistant",
            "content": content, "attachments": [], "metadata": {}}

def mdelta(mid, content):
    return {"id": mid, "object": "thread.message.delta", "delta": {"content": content}}

def sdelta(sid, calls):
    return {"id": sid, "object": "thread.run.step.delta", "delta": {"step_details": {"type": "tool_calls", "tool_calls": calls}}}

def frame(name, data, crlf=False):
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    nl = "\r\n" if crlf else "\n"
    return f"event: {name}{nl}data: {text}{nl}{nl}"

DONE = ("done", "[DONE]")

def text_with_annotations():
    cite = "\u30104:0\u2020notes.txt\u3011"
    final_text = {"type": "text", "text": {"value": "Caf\u00e9 au lait \U0001F600 is best" + cite, "annotations": [
        {"type": "file_citation", "text": cite, "start_index": 22, "end_index": 22 + len(cite),
         "file_citation": {"file_id": "file-1"}}]}}
    return [
        ("thread.created", {"id": "thread_A", "object": "thread", "created_at": T0, "metadata": {}, "tool_resources": {}}),
        ("thread.run.created", run("queued")), ("thread.run.queued", run("queued")),
        ("thread.run.in_progress", run("in_progress")),
        ("thread.run.step.created", step("step_M", "message_creation", "in_progress")),
        ("thread.run.step.in_progress", step("step_M", "message_creation", "in_progress")),
        ("thread.message.created", message("msg_A", "in_progress", [])),
        ("thread.message.in_progress", message("msg_A", "in_progress", [])),
        ("thread.message.delta", mdelta("msg_A", [{"index": 0, "type": "text", "text": {"value": "Caf\u00e9", "annotations": []}}])),
        ("thread.message.delta", mdelta("msg_A", [{"index": 0, "type": "text", "text": {"value": " au lait \U0001F600"}}])),
        ("thread.message.delta", mdelta("msg_A", [{"index": 0, "type": "text", "text": {"value": " is best"}}])),
        ("thread.message.delta", mdelta("msg_A", [{"index": 0, "type": "text", "text": {"value": cite, "annotations": [
            {"index": 0, "type": "file_citation", "text": cite, "start_index": 22, "end_index": 22 + len(cite),
             "file_citation": {"file_id": "file-1", "quote": ""}}]}}])),
        ("thread.message.completed", message("msg_A", "completed", [final_text])),
        ("thread.run.step.completed", step("step_M", "message_creation", "completed", completed_at=T0 + 9,
                                           usage={"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17})),
        ("thread.run.completed", run("completed", completed_at=T0 + 9, expires_at=None,
                                     usage={"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17})),
        DONE]

def required(calls):
    return {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
        {"id": cid, "type": "function", "function": {"name": name, "arguments": args}} for cid, name, args in calls]}}

def parallel_tool_calls(rid="run_A", call_ids=("call_1", "call_2"), sid="step_T"):
    a, b = call_ids
    calls = [(a, "get_weather", '{"city":"Paris"}'), (b, "get_time", '{"tz":"Europe/Paris"}')]
    return [
        ("thread.run.created", run("queued", rid)), ("thread.run.queued", run("queued", rid)),
        ("thread.run.in_progress", run("in_progress", rid)),
        ("thread.run.step.created", step(sid, "tool_calls", "in_progress", rid)),
        ("thread.run.step.in_progress", step(sid, "tool_calls", "in_progress", rid)),
        ("thread.run.step.delta", sdelta(sid, [{"index": 0, "id": a, "type": "function", "function": {"name": "get_weather", "arguments": "", "output": None}}])),
        ("thread.run.step.delta", sdelta(sid, [{"index": 0, "type": "function", "function": {"arguments": '{"ci'}}])),
        ("thread.run.step.delta", sdelta(sid, [{"index": 1, "id": b, "type": "function", "function": {"name": "get_time", "arguments": "", "output": None}}])),
        ("thread.run.step.delta", sdelta(sid, [{"index": 0, "type": "function", "function": {"arguments": 'ty":"Paris"}'}}])),
        ("thread.run.step.delta", sdelta(sid, [{"index": 1, "type": "function", "function": {"arguments": '{"tz":"Europe/Paris"}'}}])),
        ("thread.run.requires_action", run("requires_action", rid, required_action=required(calls))),
        DONE]

def two_rounds():
    first = [
        ("thread.run.created", run("queued")), ("thread.run.in_progress", run("in_progress")),
        ("thread.run.step.created", step("step_1", "tool_calls", "in_progress")),
        ("thread.run.step.delta", sdelta("step_1", [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "lookup", "arguments": "", "output": None}}])),
        ("thread.run.step.delta", sdelta("step_1", [{"index": 0, "type": "function", "function": {"arguments": '{"q":"x"}'}}])),
        ("thread.run.requires_action", run("requires_action", required_action=required([("call_a", "lookup", '{"q":"x"}')]))),
        DONE]
    done_call_a = {"type": "tool_calls", "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"x"}', "output": "X1"}}]}
    second = [
        ("thread.run.step.completed", step("step_1", "tool_calls", "completed", details=done_call_a, completed_at=T0 + 5)),
        ("thread.run.queued", run("queued")), ("thread.run.in_progress", run("in_progress")),
        ("thread.run.step.created", step("step_2", "tool_calls", "in_progress")),
        ("thread.run.step.delta", sdelta("step_2", [{"index": 0, "id": "call_b", "type": "function", "function": {"name": "lookup", "arguments": "", "output": None}}])),
        ("thread.run.step.delta", sdelta("step_2", [{"index": 0, "type": "function", "function": {"arguments": '{"q":"y"}'}}])),
        ("thread.run.requires_action", run("requires_action", required_action=required([("call_b", "lookup", '{"q":"y"}')]))),
        DONE]
    done_call_b = {"type": "tool_calls", "tool_calls": [{"id": "call_b", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"y"}', "output": "Y1"}}]}
    third = [
        ("thread.run.step.completed", step("step_2", "tool_calls", "completed", details=done_call_b, completed_at=T0 + 7)),
        ("thread.run.queued", run("queued")), ("thread.run.in_progress", run("in_progress")),
        ("thread.run.step.created", step("step_3", "message_creation", "in_progress", details={"type": "message_creation", "message_creation": {"message_id": "msg_B"}})),
        ("thread.message.created", message("msg_B", "in_progress", [])),
        ("thread.message.delta", mdelta("msg_B", [{"index": 0, "type": "text", "text": {"value": "X1 and ", "annotations": []}}])),
        ("thread.message.delta", mdelta("msg_B", [{"index": 0, "type": "text", "text": {"value": "Y1."}}])),
        ("thread.message.completed", message("msg_B", "completed", [{"type": "text", "text": {"value": "X1 and Y1.", "annotations": []}}])),
        ("thread.run.step.completed", step("step_3", "message_creation", "completed", details={"type": "message_creation", "message_creation": {"message_id": "msg_B"}})),
        ("thread.run.completed", run("completed", completed_at=T0 + 9, usage={"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39})),
        DONE]
    return [first, second, third]

def failed_run():
    return [
        ("thread.run.created", run("queued")), ("thread.run.queued", run("queued")),
        ("thread.run.in_progress", run("in_progress")),
        ("thread.run.failed", run("failed", failed_at=T0 + 4, last_error={"code": "server_error", "message": "Sorry, something went wrong."})),
        DONE]

def unknown_event():
    return [
        ("thread.run.created", run("queued")),
        ("thread.run.in_progress", run("in_progress")),
        ("thread.run.future_thing", {"id": "run_A", "object": "thread.run.future", "hint": 1}),
        ("vendor.telemetry", {"latency_ms": 12}),
        ("thread.message.delta", "{not json"),
        ("thread.run.completed", run("completed", completed_at=T0 + 9)),
        DONE]

# ---- independent reference accumulation (node v7.5 rules; null deltas keep the old value, as Python does) ----

def prim(x):
    return not isinstance(x, (dict, list))

def accumulate(acc, delta):
    for key, dv in delta.items():
        if key not in acc or acc[key] is None:
            acc[key] = copy.deepcopy(dv); continue
        if dv is None:
            continue
        av = acc[key]
        if key in ("index", "type"):
            acc[key] = copy.deepcopy(dv)
        elif isinstance(av, str) and isinstance(dv, str):
            acc[key] = av + dv
        elif isinstance(av, (int, float)) and not isinstance(av, bool) and isinstance(dv, (int, float)) and not isinstance(dv, bool):
            acc[key] = av + dv
        elif isinstance(av, dict) and isinstance(dv, dict):
            accumulate(av, dv)
        elif isinstance(av, list) and isinstance(dv, list):
            if all(prim(x) for x in av) and all(prim(x) for x in dv):
                av.extend(copy.deepcopy(dv))
            else:
                for entry in dv:
                    i = entry["index"]
                    if i < len(av):
                        if av[i] is None: av[i] = copy.deepcopy(entry)
                        else: accumulate(av[i], entry)
                    else:
                        av.extend([None] * (i - len(av)))
                        av.append(copy.deepcopy(entry))
        else:
            acc[key] = copy.deepcopy(dv)
    return acc

def expected(streams):
    state = {"thread_id": None, "current_run": None, "final_run": None, "messages": {}, "run_steps": {}, "events": []}
    for events in streams:
        for name, data in events:
            state["events"].append(name)
            if name == "done" or not isinstance(data, dict):
                continue
            if name == "thread.created":
                state["thread_id"] = data["id"]
            elif name.startswith("thread.run.step."):
                kind = name[len("thread.run.step."):]
                if kind == "delta":
                    accumulate(state["run_steps"].setdefault(data["id"], {"id": data["id"], "object": "thread.run.step"}), data["delta"])
                elif kind in ("created", "in_progress", "completed", "failed", "cancelled", "expired"):
                    state["run_steps"][data["id"]] = copy.deepcopy(data)
            elif name.startswith("thread.message."):
                kind = name[len("thread.message."):]
                if kind == "delta":
                    snap = state["messages"].setdefault(data["id"], {"id": data["id"], "object": "thread.message", "content": []})
                    if "content" in data["delta"]:
                        accumulate(snap, {"content": data["delta"]["content"]})
                elif kind in ("created", "in_progress", "completed", "incomplete"):
                    state["messages"][data["id"]] = copy.deepcopy(data)
            elif name.startswith("thread.run."):
                kind = name[len("thread.run."):]
                if kind in ("created", "queued", "in_progress", "requires_action", "completed", "incomplete", "failed", "cancelling", "cancelled", "expired"):
                    state["current_run"] = copy.deepcopy(data)
                    if state["thread_id"] is None: state["thread_id"] = data.get("thread_id")
                    if kind in ("requires_action", "cancelled", "failed", "completed", "expired", "incomplete"):
                        state["final_run"] = copy.deepcopy(data)
    state["messages"] = list(state["messages"].values())
    state["run_steps"] = list(state["run_steps"].values())
    return state

def write(name, streams, crlf=False):
    for i, events in enumerate(streams):
        suffix = "" if len(streams) == 1 else f".{i + 1}"
        with open(os.path.join(OUT, f"{name}{suffix}.sse"), "w", newline="") as f:
            for ev, data in events:
                f.write(frame(ev, data, crlf))
    with open(os.path.join(OUT, f"{name}.expected.json"), "w") as f:
        json.dump(expected(streams), f, indent=1, ensure_ascii=False)
        f.write("\n")

if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    write("text_with_annotations", [text_with_annotations()])
    write("parallel_tool_calls", [parallel_tool_calls()], crlf=True)
    write("two_rounds", two_rounds())
    write("failed_run", [failed_run()])
    write("unknown_event", [unknown_event()])
    print("fixtures written to", os.path.normpath(OUT))
