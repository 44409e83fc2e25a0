// The chat sidebar: sends a message to POST /api/{user}/chat, reads the reply's Server-Sent
// Events from the response body as they arrive, shows each tool call as one line, refreshes
// the task list when a tool changed it, and renders the finished reply from the server's safe
// HTML. Text from people and models only ever goes into the page as text (textContent).
// Nothing of a conversation is stored in the browser.
"use strict";

(function () {
  const CHANGES_TASKS = ["add_task", "complete_task", "update_task", "delete_task"];
  const RETRY_DELAYS = [1000, 2000, 4000];
  const MAX_LINES = 200;

  document.addEventListener("DOMContentLoaded", function () {
    const aside = document.getElementById("chat");
    if (!aside) return;
    const user = aside.dataset.userId;
    const picker = document.getElementById("conversation");
    const list = document.getElementById("messages");
    const form = document.getElementById("chat-form");
    const input = document.getElementById("chat-input");
    const send = document.getElementById("chat-send");
    const stop = document.getElementById("chat-stop");
    const remove = document.getElementById("chat-delete");
    const status = document.getElementById("chat-status");
    const errorBox = document.getElementById("chat-error");
    const errorText = document.getElementById("chat-error-text");
    const retryButton = document.getElementById("chat-retry");
    const toggle = document.getElementById("chat-toggle");

    let conversation = picker.value || null;
    let running = null; // the AbortController of the reply being read
    let retryTimer = null;

    function line(role, text) {
      const item = document.createElement("li");
      item.className = "msg " + role;
      if (role === "tool") {
        const span = document.createElement("span");
        span.className = "tool-line";
        span.textContent = text;
        item.append(span);
      } else {
        const who = document.createElement("span");
        who.className = "who";
        who.textContent = role === "user" ? "You" : "Assistant";
        const body = document.createElement("div");
        body.className = "text";
        body.textContent = text;
        item.append(who, body);
      }
      list.append(item);
      trim();
      list.scrollTop = list.scrollHeight;
      return item;
    }

    // Only a bounded number of messages stays in the page; older ones load on scroll.
    function trim() {
      const lines = list.querySelectorAll("li.msg");
      for (let i = 0; i < lines.length - MAX_LINES; i++) lines[i].remove();
    }

    function showError(text, retryable) {
      errorText.textContent = text;
      retryButton.hidden = !retryable;
      errorBox.hidden = false;
    }

    function clearError() {
      errorBox.hidden = true;
      errorText.textContent = "";
      if (retryTimer) clearInterval(retryTimer);
      retryTimer = null;
    }

    function busy(on) {
      list.setAttribute("aria-busy", on ? "true" : "false");
      send.disabled = on;
      stop.hidden = !on;
      status.textContent = on ? "The assistant is replying." : "The assistant replied.";
    }

    async function loadMessages(before) {
      if (!conversation) {
        list.replaceChildren();
        return;
      }
      const query = before ? "?before=" + encodeURIComponent(before) : "";
      const response = await fetch("/chat/" + conversation + "/messages" + query, { headers: { "hx-request": "true" } });
      if (!response.ok) {
        showError(await response.text(), false);
        return;
      }
      const html = await response.text();
      if (before) {
        const height = list.scrollHeight;
        const older = list.querySelector("li.older");
        if (older) older.remove();
        list.insertAdjacentHTML("afterbegin", html);
        list.scrollTop = list.scrollHeight - height;
        // Reading back keeps the page bounded: the newest lines go (they load again on switch).
        const lines = list.querySelectorAll("li.msg");
        for (let i = lines.length - 1; i >= MAX_LINES; i--) lines[i].remove();
      } else {
        list.innerHTML = html; // our server's HTML: user text escaped, replies sanitized
        list.scrollTop = list.scrollHeight;
      }
    }

    async function refreshPicker() {
      const response = await fetch("/chat/conversations", { headers: { "hx-request": "true" } });
      if (!response.ok) return;
      picker.innerHTML = await response.text();
      picker.value = conversation || "";
      remove.disabled = !conversation;
    }

    function refreshTasks() {
      if (window.htmx) {
        window.htmx.ajax("GET", "/tasks" + window.location.search, { target: "#task-list", swap: "innerHTML" });
      }
    }

    // Reads `text/event-stream` from a fetch body, calling `onEvent` with each event's JSON.
    async function readEvents(response, onEvent) {
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter(function (row) { return row.startsWith("data:"); })
            .map(function (row) { return row.slice(5).trimStart(); }).join("\n");
          if (data) onEvent(JSON.parse(data));
        }
      }
    }

    async function turn(body, attempt) {
      clearError();
      const controller = new AbortController();
      running = controller;
      busy(true);
      let reply = null;
      let failure = null;
      let finished = false;
      try {
        const response = await fetch("/api/" + user + "/chat", {
          method: "POST",
          headers: { "content-type": "application/json", accept: "text/event-stream" },
          body: JSON.stringify(body),
          signal: controller.signal,
        });
        if (!response.ok) {
          const error = await response.json().catch(function () { return {}; });
          failure = { message: (error.error && error.error.message) || "The request failed.", retryable: response.status >= 500 };
        } else {
          await readEvents(response, function (event) {
            switch (event.type) {
              case "start":
                if (conversation !== event.conversation_id) {
                  conversation = event.conversation_id;
                  refreshPicker();
                }
                break;
              case "chunk":
                if (!reply) reply = line("assistant", "");
                reply.querySelector(".text").textContent += event.content;
                list.scrollTop = list.scrollHeight;
                break;
              case "tool_call":
                reply = null;
                break;
              case "tool_result":
                line("tool", (event.is_error ? "✗ " : "✓ ") + event.summary).classList.toggle("failed", event.is_error);
                if (!event.is_error && CHANGES_TASKS.includes(event.tool_name)) refreshTasks();
                break;
              case "done":
                finished = true;
                break;
              case "error":
                failure = { message: event.message, retryable: event.retryable };
                break;
            }
          });
        }
      } catch (error) {
        if (controller.signal.aborted) {
          if (reply) reply.classList.add("partial");
          status.textContent = "The reply was stopped.";
        } else {
          failure = { message: "The connection to the server broke off.", retryable: true };
        }
      } finally {
        running = null;
        busy(false);
      }
      if (finished) {
        // The finished reply, as the server renders it (Markdown made safe).
        await loadMessages(null);
        return;
      }
      if (failure) {
        if (reply) reply.classList.add("partial");
        if (failure.retryable && conversation && attempt < RETRY_DELAYS.length) {
          scheduleRetry(attempt, failure.message);
        } else {
          showError(failure.message, failure.retryable && Boolean(conversation));
        }
      }
    }

    // Retries a retryable failure by itself, a few times, the countdown visible.
    function scheduleRetry(attempt, message) {
      let left = Math.ceil(RETRY_DELAYS[attempt] / 1000);
      showError(message + " Retrying in " + left + " s…", true);
      retryTimer = setInterval(function () {
        left -= 1;
        if (left > 0) {
          errorText.textContent = message + " Retrying in " + left + " s…";
          return;
        }
        clearInterval(retryTimer);
        retryTimer = null;
        retry(attempt + 1);
      }, 1000);
    }

    async function retry(attempt) {
      // The cut reply is superseded on the server; show the conversation as it is now.
      await loadMessages(null);
      await turn({ conversation_id: conversation, retry: true, time_zone: zone() }, attempt);
    }

    function zone() {
      try {
        return Intl.DateTimeFormat().resolvedOptions().timeZone;
      } catch (error) {
        return undefined;
      }
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const text = input.value.trim();
      if (!text || running) return;
      input.value = "";
      line("user", text);
      const body = { message: text, time_zone: zone() };
      if (conversation) body.conversation_id = conversation;
      turn(body, 0);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    stop.addEventListener("click", function () {
      if (running) running.abort();
    });
    retryButton.addEventListener("click", function () {
      clearError();
      retry(0);
    });
    picker.addEventListener("change", function () {
      if (running) running.abort();
      clearError();
      conversation = picker.value || null;
      remove.disabled = !conversation;
      loadMessages(null);
    });
    remove.addEventListener("click", async function () {
      if (!conversation || !window.confirm("Delete this conversation?")) return;
      const response = await fetch("/api/" + user + "/conversations/" + conversation, { method: "DELETE" });
      if (!response.ok && response.status !== 404) {
        showError("The conversation could not be deleted.", false);
        return;
      }
      conversation = null;
      list.replaceChildren();
      await refreshPicker();
    });
    list.addEventListener("click", function (event) {
      const button = event.target.closest(".load-older");
      if (button) loadMessages(button.closest("li.older").dataset.before);
    });
    list.addEventListener("scroll", function () {
      const older = list.querySelector("li.older");
      if (older && list.scrollTop < 40 && !older.dataset.loading) {
        older.dataset.loading = "1";
        loadMessages(older.dataset.before);
      }
    });
    toggle.addEventListener("click", function () {
      const open = aside.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) input.focus();
    });
    remove.disabled = !conversation;
    loadMessages(null);
  });
})();
