"""Checks a transcript of `POST /chatkit` exchanges against the official openai-chatkit types.

Usage: python3 chatkit_conformance.py TRANSCRIPT.json

The transcript is a JSON list of {"request", "valid_request", "answer"}, written by the test
kit's ChatKitClient (tests/src/chatkit.rs). Each request ChatKit's client could send is parsed
as ChatKit's request union; each stream event as ThreadStreamEvent; each JSON answer as the type
ChatKit's client reads for that request (what chatkit.server.ChatKitServer answers); each
refusal as ChatKit's ErrorEvent. Pydantic ignores unknown keys, so a key the model does not
know is reported too: a misspelled field would otherwise pass.
"""

import json
import sys

from pydantic import TypeAdapter, ValidationError
from chatkit.types import ChatKitReq, Page, Thread, ThreadItem, ThreadStreamEvent

REQUEST = TypeAdapter(ChatKitReq)
EVENT = TypeAdapter(ThreadStreamEvent)
ANSWERS = {
    "threads.get_by_id": TypeAdapter(Thread),
    "threads.update": TypeAdapter(Thread),
    "threads.list": TypeAdapter(Page[Thread]),
    "items.list": TypeAdapter(Page[ThreadItem]),
}
EMPTY_ANSWERS = {"threads.delete", "items.feedback"}


def unknown_keys(raw, dumped, path="$"):
    """Keys of the raw JSON that the parsed model does not have."""
    found = []
    if isinstance(raw, dict) and isinstance(dumped, dict):
        for key, value in raw.items():
            if key not in dumped:
                found.append(f"{path}.{key}")
            else:
                found += unknown_keys(value, dumped[key], f"{path}.{key}")
    elif isinstance(raw, list) and isinstance(dumped, list):
        for index, (a, b) in enumerate(zip(raw, dumped)):
            found += unknown_keys(a, b, f"{path}[{index}]")
    return found


def check(adapter, value, what):
    parsed = adapter.validate_python(value)
    dumped = adapter.dump_python(parsed, mode="json", by_alias=True)
    extra = unknown_keys(value, dumped)
    if extra:
        raise AssertionError(f"{what}: keys ChatKit does not know: {extra}")
    return parsed


def main(path):
    with open(path, encoding="utf-8") as file:
        transcript = json.load(file)
    failures = []
    counts = {"requests": 0, "events": 0, "answers": 0, "refusals": 0}
    for number, exchange in enumerate(transcript, 1):
        request = exchange["request"]
        answer = exchange["answer"]
        kind = request.get("type") if isinstance(request, dict) else None
        try:
            if exchange["valid_request"]:
                check(REQUEST, request, f"request {kind}")
                counts["requests"] += 1
            if answer["kind"] == "stream":
                for event in answer["events"]:
                    check(EVENT, event, f"{event.get('type')} event")
                    counts["events"] += 1
            elif answer["kind"] == "json":
                if kind in EMPTY_ANSWERS:
                    if answer["body"] != {}:
                        raise AssertionError(f"{kind} must answer {{}}, not {answer['body']}")
                else:
                    check(ANSWERS[kind], answer["body"], f"{kind} answer")
                counts["answers"] += 1
            else:
                body = answer["body"]
                if answer["status"] == 401 or answer["status"] == 403:
                    # The API's own error, as the issue asks for a missing or bad token.
                    if "error" not in body:
                        raise AssertionError(f"a {answer['status']} must carry the API's error: {body}")
                else:
                    event = check(EVENT, body, "refusal")
                    if event.type != "error":
                        raise AssertionError(f"a refusal must be ChatKit's error event: {body}")
                counts["refusals"] += 1
        except (ValidationError, AssertionError, KeyError) as err:
            failures.append(f"exchange {number} ({kind}): {err}\n  request: {json.dumps(request)[:400]}")
    print(
        "ChatKit conformance: {requests} requests, {events} stream events, {answers} JSON answers, "
        "{refusals} refusals checked".format(**counts)
    )
    if failures:
        print("\n".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1])
