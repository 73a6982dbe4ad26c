// Berth's portal works without this file; it only adds copy buttons and live job progress.
"use strict";

function copyText(button) {
  const text = button.dataset.copy;
  const done = () => {
    button.classList.add("copied");
    button.setAttribute("data-copied", "true");
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
  } else {
    fallbackCopy(text, done);
  }
}

// Plain HTTP pages have no clipboard API: copy through a selected, hidden text area.
function fallbackCopy(text, done) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "visually-hidden";
  document.body.appendChild(area);
  area.select();
  try {
    if (document.execCommand("copy")) done();
  } finally {
    area.remove();
  }
}

function watchProgress(section) {
  const url = section.dataset.progress;
  const set = (id, value) => {
    const el = document.getElementById(id);
    if (el) el.textContent = value;
  };
  const tick = () => {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((p) => {
        const status = document.getElementById("gc-status");
        status.textContent = p.status;
        status.className = "status status-" + p.status_code;
        status.dataset.status = p.status_code;
        set("gc-done", p.done);
        set("gc-total", p.total);
        set("gc-deleted-blobs", p.deleted_blobs);
        set("gc-deleted-manifests", p.deleted_manifests);
        set("gc-freed", p.freed);
        set("gc-updated", p.updated);
        const bar = document.getElementById("gc-progress");
        if (bar) {
          bar.max = Math.max(p.total, 1);
          bar.value = p.done;
        }
        const log = document.getElementById("gc-log");
        if (log) log.textContent = p.log.join("\n") + "\n";
        if (p.running) {
          setTimeout(tick, 1000);
        } else {
          const stop = document.getElementById("gc-stop-form");
          if (stop) stop.remove();
        }
      })
      .catch(() => setTimeout(tick, 5000));
  };
  setTimeout(tick, 500);
}

function watchReplication(section) {
  const url = section.dataset.progress;
  const set = (id, value) => {
    const el = document.getElementById(id);
    if (el) el.textContent = value;
  };
  const tick = () => {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((p) => {
        const status = document.getElementById("repl-status");
        status.textContent = p.status;
        status.className = "status status-" + p.status_code;
        set("repl-succeed", p.succeed);
        set("repl-total", p.total);
        set("repl-failed", p.failed);
        set("repl-pending", p.pending);
        set("repl-in-progress", p.in_progress);
        set("repl-stopped", p.stopped);
        set("repl-bytes", p.bytes);
        set("repl-bytes-total", p.bytes_total);
        const bar = document.getElementById("repl-progress");
        if (bar) {
          bar.max = Math.max(p.total, 1);
          bar.value = p.succeed;
        }
        for (const task of p.tasks) {
          const row = document.getElementById("task-" + task.id);
          if (!row) continue;
          const cell = (name) => row.querySelector("[data-field='" + name + "']");
          const s = cell("status");
          if (s) {
            s.textContent = task.status;
            s.className = "status status-" + task.status_code;
          }
          for (const name of ["bytes", "attempts", "error"]) {
            const c = cell(name);
            if (c) c.textContent = task[name];
          }
        }
        if (p.running) {
          setTimeout(tick, 1000);
        } else {
          // Ended: the page as the server draws it now (retry button, reason).
          window.location.reload();
        }
      })
      .catch(() => setTimeout(tick, 5000));
  };
  setTimeout(tick, 500);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (button) copyText(button);
});

document.addEventListener("DOMContentLoaded", () => {
  const live = document.querySelector("[data-live='true'][data-progress]");
  if (live && live.id === "repl-live") watchReplication(live);
  else if (live) watchProgress(live);
});
