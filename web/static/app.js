// Todo Agent's page script: local times, form resets and error notices around htmx.
// No inline handlers anywhere (the Content-Security-Policy allows none), and nothing of a
// user's data is kept in the browser's storage.
"use strict";

(function () {
  const DAY = 24 * 60 * 60 * 1000;

  function startOfDay(date) {
    return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
  }

  // "today 17:00", "tomorrow 09:30", "Friday 17:00", "24 Dec 17:00", in the browser's zone.
  function relative(due, now) {
    const days = Math.round((startOfDay(due) - startOfDay(now)) / DAY);
    const time = due.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    let day;
    if (days === 0) day = "today";
    else if (days === 1) day = "tomorrow";
    else if (days === -1) day = "yesterday";
    else if (days > 1 && days < 7) day = due.toLocaleDateString([], { weekday: "long" });
    else day = due.toLocaleDateString([], { day: "numeric", month: "short", year: due.getFullYear() === now.getFullYear() ? undefined : "numeric" });
    return day + " " + time;
  }

  function localize(root) {
    const now = new Date();
    root.querySelectorAll("time[data-due]").forEach(function (element) {
      const due = new Date(element.getAttribute("datetime"));
      if (Number.isNaN(due.getTime())) return;
      const overdue = element.classList.contains("overdue");
      element.textContent = (overdue ? "overdue, due " : "due ") + relative(due, now);
      element.title = due.toLocaleString();
    });
    root.querySelectorAll("input[data-tz-offset]").forEach(function (input) {
      input.value = String(new Date().getTimezoneOffset());
    });
    root.querySelectorAll("input[data-utc-value]").forEach(function (input) {
      const utc = input.getAttribute("data-utc-value");
      if (!utc) return;
      const at = new Date(utc + ":00Z");
      if (Number.isNaN(at.getTime())) return;
      const local = new Date(at.getTime() - at.getTimezoneOffset() * 60000);
      input.value = local.toISOString().slice(0, 16);
      input.removeAttribute("data-utc-value");
    });
  }

  function notice(text) {
    const region = document.getElementById("notice");
    if (!region) return;
    region.textContent = text;
    region.hidden = !text;
  }

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
  });
  document.addEventListener("htmx:load", function (event) {
    localize(event.detail.elt);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail.elt;
    if (event.detail.successful) notice("");
    // A task was added to the list: empty the form for the next one.
    if (form.id === "add-task" && event.detail.successful && event.detail.target.id === "task-list") {
      form.reset();
      localize(form);
      const title = form.querySelector("[name=title]");
      if (title) title.focus();
    }
  });
  document.addEventListener("htmx:responseError", function (event) {
    const text = event.detail.xhr.responseText || "Something went wrong; try again.";
    notice(text.length > 300 ? text.slice(0, 300) : text);
  });
  document.addEventListener("htmx:sendError", function () {
    notice("The server cannot be reached; check the connection and try again.");
  });
})();
