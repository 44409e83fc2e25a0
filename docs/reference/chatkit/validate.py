"""Validate ChatKit wire JSON against the official pydantic models (openai-chatkit 1.6.5)."""
import json, os, sys
from pydantic import TypeAdapter, ValidationError
from chatkit.types import (ChatKitReq, ThreadStreamEvent, Thread, ThreadMetadata, ThreadItem, Page,
                           StreamingReq, is_streaming_req)

REQ = TypeAdapter(ChatKitReq)
EVT = TypeAdapter(ThreadStreamEvent)
THREAD = TypeAdapter(Thread)
THREAD_PAGE = TypeAdapter(Page[Thread])            # threads.list actually returns Thread objects (items page empty)
META_PAGE = TypeAdapter(Page[ThreadMetadata])
ITEM_PAGE = TypeAdapter(Page[ThreadItem])

def unknown_keys(raw, dumped, path="$"):
    """pydantic ignores unknown keys by default; report keys present in raw JSON but not in the model dump."""
    out = []
    if isinstance(raw, dict) and isinstance(dumped, dict):
        for k, v in raw.items():
            if k not in dumped: out.append(f"{path}.{k}")
            else: out += unknown_keys(v, dumped[k], f"{path}.{k}")
    elif isinstance(raw, list) and isinstance(dumped, list):
        for i, (a, b) in enumerate(zip(raw, dumped)): out += unknown_keys(a, b, f"{path}[{i}]")
    return out

def check(adapter, raw_json: str, strict_keys: bool = True):
    obj = adapter.validate_json(raw_json)               # raises ValidationError on mismatch
    dumped = adapter.dump_python(obj, mode="json", by_alias=True)
    extra = unknown_keys(json.loads(raw_json), dumped)
    assert not (strict_keys and extra), f"unknown keys (silently ignored by pydantic): {extra}"
    return obj

def check_sse(body: str):
    """Validate an SSE body: frames 'data: <json>\\n\\n'."""
    frames = [f for f in body.split("\n\n") if f.strip()]
    evs = []
    for f in frames:
        assert f.startswith("data: "), f
        evs.append(check(EVT, f[len("data: "):]))
    return evs

if __name__ == "__main__":
    ex = json.load(open(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "examples.json")))
    for r in ex["requests"]:
        o = check(REQ, json.dumps(r)); print("REQ ok", o.type, "streaming" if is_streaming_req(o) else "json")
    for e in ex["events"]:
        o = check(EVT, json.dumps(e)); print("EVT ok", o.type, getattr(getattr(o, "update", None), "type", ""))
    check(THREAD, json.dumps(ex["thread"])); print("Thread ok")
    check(THREAD_PAGE, json.dumps(ex["threads_list"])); check(META_PAGE, json.dumps(ex["threads_list"]), strict_keys=False); print("threads.list page ok")
    check(ITEM_PAGE, json.dumps(ex["items_list"])); print("items.list page ok")
    for bad in ex["should_fail"]:
        try: check(EVT if bad.get("_kind") == "event" else REQ, json.dumps({k: v for k, v in bad.items() if k != "_kind"}))
        except (ValidationError, AssertionError) as e: print("rejected as expected:", str(e).splitlines()[0][:110])
        else: raise SystemExit(f"should have failed: {bad}")
