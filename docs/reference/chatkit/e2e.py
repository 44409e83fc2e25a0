import asyncio, json
from datetime import datetime
from chatkit.server import ChatKitServer, StreamingResult, NonStreamingResult
from chatkit.store import Store, NotFoundError
from chatkit.types import (Page, ThreadMetadata, ThreadItem, AssistantMessageItem, AssistantMessageContent,
    ThreadItemAddedEvent, ThreadItemUpdatedEvent, ThreadItemDoneEvent, AssistantMessageContentPartAdded,
    AssistantMessageContentPartTextDelta, AssistantMessageContentPartDone, WorkflowItem, Workflow, CustomTask,
    WorkflowTaskAdded, ProgressUpdateEvent, CustomSummary)

class MemStore(Store[dict]):
    def __init__(self): self.threads={}; self.items={}; self.att={}
    async def load_thread(self, tid, context):
        if tid not in self.threads: raise NotFoundError(tid)
        return self.threads[tid].model_copy(deep=True)
    async def save_thread(self, t, context): self.threads[t.id]=ThreadMetadata(**t.model_dump())
    async def load_thread_items(self, tid, after, limit, order, context):
        its=list(self.items.get(tid,[]))
        if order=="desc": its=its[::-1]
        start=0
        if after: start=[i.id for i in its].index(after)+1
        page=its[start:start+limit]
        return Page(data=page, has_more=start+limit<len(its), after=page[-1].id if page else None)
    async def save_attachment(self,a,context): self.att[a.id]=a
    async def load_attachment(self,aid,context): return self.att[aid]
    async def delete_attachment(self,aid,context): self.att.pop(aid,None)
    async def load_threads(self, limit, after, order, context):
        ts=sorted(self.threads.values(), key=lambda t:t.created_at, reverse=(order=="desc"))
        return Page(data=ts[:limit], has_more=len(ts)>limit, after=None)
    async def add_thread_item(self, tid, item, context): self.items.setdefault(tid,[]).append(item)
    async def save_item(self, tid, item, context):
        l=self.items.setdefault(tid,[])
        for n,i in enumerate(l):
            if i.id==item.id: l[n]=item; return
        l.append(item)
    async def load_item(self, tid, iid, context): return next(i for i in self.items[tid] if i.id==iid)
    async def delete_thread(self, tid, context): self.threads.pop(tid,None); self.items.pop(tid,None)
    async def delete_thread_item(self, tid, iid, context): self.items[tid]=[i for i in self.items[tid] if i.id!=iid]

class Demo(ChatKitServer[dict]):
    async def respond(self, thread, input_user_message, context):
        now=datetime.now()
        wf=WorkflowItem(id="wf_1", thread_id=thread.id, created_at=now,
                        workflow=Workflow(type="custom", tasks=[CustomTask(title="Searching", icon="search", status_indicator="loading")]))
        yield ThreadItemAddedEvent(item=wf)
        t2=CustomTask(title="Done", content="found 3 results", status_indicator="complete")
        wf.workflow.tasks.append(t2)
        yield ThreadItemUpdatedEvent(item_id="wf_1", update=WorkflowTaskAdded(task_index=1, task=t2))
        wf.workflow.summary=CustomSummary(title="Searched", icon="search")
        yield ThreadItemDoneEvent(item=wf)
        yield ProgressUpdateEvent(text="Thinking...")
        m=AssistantMessageItem(id="msg_a", thread_id=thread.id, created_at=now, content=[])
        yield ThreadItemAddedEvent(item=m)
        yield ThreadItemUpdatedEvent(item_id="msg_a", update=AssistantMessageContentPartAdded(content_index=0, content=AssistantMessageContent(text="")))
        for d in ["Hel","lo"]:
            yield ThreadItemUpdatedEvent(item_id="msg_a", update=AssistantMessageContentPartTextDelta(content_index=0, delta=d))
        yield ThreadItemUpdatedEvent(item_id="msg_a", update=AssistantMessageContentPartDone(content_index=0, content=AssistantMessageContent(text="Hello")))
        yield ThreadItemDoneEvent(item=AssistantMessageItem(id="msg_a", thread_id=thread.id, created_at=now, content=[AssistantMessageContent(text="Hello")]))
        thread.title="Greeting"   # triggers thread.updated

class Boom(Demo):
    async def respond(self, thread, input_user_message, context):
        raise RuntimeError("x"); yield

async def call(server, req):
    r=await server.process(json.dumps(req), {})
    if isinstance(r, StreamingResult):
        out=b"".join([c async for c in r])
        print(f"--- {req['type']} (STREAM text/event-stream) ---"); print(out.decode())
        return out
    print(f"--- {req['type']} (JSON) ---"); print(r.json.decode()); return r.json

async def main():
    s=Demo(MemStore())
    inp={"content":[{"type":"input_text","text":"hi"}],"attachments":[],"inference_options":{}}
    out=await call(s, {"type":"threads.create","params":{"input":inp}})
    tid=json.loads(out.split(b"\n\n")[0][6:])["thread"]["id"]
    await call(s, {"type":"threads.get_by_id","params":{"thread_id":tid}})
    await call(s, {"type":"threads.list","params":{"limit":5}})
    await call(s, {"type":"items.list","params":{"thread_id":tid,"limit":2,"order":"asc"}})
    await call(s, {"type":"threads.update","params":{"thread_id":tid,"title":"Renamed"}})
    await call(s, {"type":"items.feedback","params":{"thread_id":tid,"item_ids":["msg_a"],"kind":"positive"}})
    uid=[i.id for i in s.store.items[tid] if i.type=="user_message"][0]
    s.store.items[tid]=[i for i in s.store.items[tid] if i.id not in ("wf_1","msg_a")] + [i for i in s.store.items[tid] if i.id in ("wf_1","msg_a")]
    await call(s, {"type":"threads.retry_after_item","params":{"thread_id":tid,"item_id":uid}})
    print("items after retry:", [i.id for i in s.store.items[tid]])
    b=Boom(s.store)
    await call(b, {"type":"threads.add_user_message","params":{"thread_id":tid,"input":inp}})
    await call(s, {"type":"threads.delete","params":{"thread_id":tid}})
    try:
        await s.process(b'{"type":"threads.nope","params":{}}', {})
    except Exception as e: print("invalid request ->", type(e).__name__, str(e).splitlines()[0])
    try:
        await s.process(json.dumps({"type":"threads.get_by_id","params":{"thread_id":"missing"}}), {})
    except Exception as e: print("missing thread ->", type(e).__name__)
if __name__ == "__main__": asyncio.run(main())
