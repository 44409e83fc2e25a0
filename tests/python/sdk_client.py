"""Drive todo-mcp with the official Python MCP SDK, a client that shares no code with rmcp.

Usage:
  sdk_client.py stdio BINARY        (DATABASE_URL, JWT_SECRET, TODO_MCP_TOKEN from the environment)
  sdk_client.py http URL TOKEN

Exits 0 when every check passes; otherwise prints what failed and exits 1.
"""

import asyncio
import json
import os
import sys
import traceback

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

TOOLS = {"add_task", "list_tasks", "get_task", "complete_task", "update_task", "delete_task"}


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def text_of(result):
    return "\n".join(block.text for block in result.content if block.type == "text")


async def exercise(session: ClientSession) -> None:
    init = await session.initialize()
    check(init.server_info.name == "todo-mcp", f"server name {init.server_info.name!r}")
    check("list_tasks" in (init.instructions or ""), "instructions mention the tools")

    tools = (await session.list_tools()).tools
    check({tool.name for tool in tools} == TOOLS, f"tools {[t.name for t in tools]}")
    by_name = {tool.name: tool for tool in tools}
    for tool in tools:
        check(tool.output_schema is not None, f"{tool.name} has an outputSchema")
        check(tool.input_schema.get("type") == "object", f"{tool.name} input schema")
    check(by_name["list_tasks"].annotations.read_only_hint is True, "list_tasks is read-only")
    check(by_name["delete_task"].annotations.destructive_hint is True, "delete_task is destructive")
    check(by_name["complete_task"].annotations.idempotent_hint is True, "complete_task is idempotent")

    # The SDK validates structuredContent against each tool's outputSchema.
    added = await session.call_tool(
        "add_task",
        {"title": "From Python", "priority": "high", "due_at": "2030-01-01T09:00:00+01:00", "tags": ["SDK"]},
    )
    check(not added.is_error, f"add_task failed: {text_of(added)}")
    created = added.structured_content
    check(created["status"] == "created", f"status {created['status']}")
    check(json.loads(text_of(added)) == created, "text content repeats structuredContent")
    task = created["task"]
    check(task["due_at"] == "2030-01-01T08:00:00.000000Z", f"due_at {task['due_at']}")
    check(task["tags"] == ["sdk"], f"tags {task['tags']}")

    listed = await session.call_tool("list_tasks", {"tag": "sdk", "status": "pending"})
    check(not listed.is_error, text_of(listed))
    check([t["id"] for t in listed.structured_content["tasks"]] == [task["id"]], "list finds the task")
    check(listed.structured_content["next_cursor"] is None, "one page")

    done = await session.call_tool("complete_task", {"task_id": task["id"]})
    check(done.structured_content["status"] == "completed", "complete_task")
    updated = await session.call_tool("update_task", {"task_id": task["id"], "title": "Renamed", "tags": []})
    check(updated.structured_content["task"]["title"] == "Renamed", "update_task")

    bad = await session.call_tool("add_task", {"title": "x", "priority": "urgent"})
    check(bad.is_error, "an unknown priority is a tool error")
    check("priority" in text_of(bad).lower(), f"the error says what was wrong: {text_of(bad)}")
    missing = await session.call_tool("delete_task", {"task_id": "00000000-0000-7000-8000-000000000000"})
    check(missing.is_error and "No task with id" in text_of(missing), text_of(missing))

    deleted = await session.call_tool("delete_task", {"task_id": task["id"]})
    check(deleted.structured_content["status"] == "deleted", "delete_task")
    empty = await session.call_tool("list_tasks", {})
    check(empty.structured_content["tasks"] == [], "nothing left")


async def over_stdio(binary: str) -> None:
    env = {key: os.environ[key] for key in ("DATABASE_URL", "JWT_SECRET", "TODO_MCP_TOKEN", "RUST_LOG") if key in os.environ}
    params = StdioServerParameters(command=binary, args=["stdio"], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await exercise(session)


async def over_http(url: str, token: str) -> None:
    http_client = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with http_client:
        async with streamable_http_client(url, http_client=http_client) as (read, write):
            async with ClientSession(read, write) as session:
                await exercise(session)


def main() -> int:
    mode, *rest = sys.argv[1:]
    runner = over_stdio(*rest) if mode == "stdio" else over_http(*rest)
    try:
        asyncio.run(asyncio.wait_for(runner, timeout=60))
    except BaseException as err:  # noqa: BLE001 - report every failure to the Rust test
        traceback.print_exception(err, file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
