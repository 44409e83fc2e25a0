import asyncio, json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from validate import check, check_sse, THREAD, THREAD_PAGE, ITEM_PAGE
from e2e import Demo, MemStore
from chatkit.server import StreamingResult
async def main():
    s = Demo(MemStore())
    inp = {"content":[{"type":"input_text","text":"hi"}],"attachments":[],"inference_options":{}}
    r = await s.process(json.dumps({"type":"threads.create","params":{"input":inp}}), {})
    body = b"".join([c async for c in r]).decode()
    evs = check_sse(body); print("SSE events validated:", [e.type for e in evs])
    tid = evs[0].thread.id
    for req, ad in [({"type":"threads.get_by_id","params":{"thread_id":tid}}, THREAD),
                    ({"type":"threads.list","params":{}}, THREAD_PAGE),
                    ({"type":"items.list","params":{"thread_id":tid}}, ITEM_PAGE),
                    ({"type":"threads.update","params":{"thread_id":tid,"title":"T"}}, THREAD)]:
        out = (await s.process(json.dumps(req), {})).json
        check(ad, out); print("JSON validated:", req["type"])
asyncio.run(main())
