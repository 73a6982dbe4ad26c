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

// Polls a live view's progress URL: `render` draws an answer and says whether the job still
// runs (then the next poll comes a second later; after a failure, five).
function poll(url, render) {
  const tick = () => {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((p) => {
        if (render(p)) setTimeout(tick, 1000);
      })
      .catch(() => setTimeout(tick, 5000));
  };
  setTimeout(tick, 500);
}

function setText(id, value) {
  const el = document.getElementById(id);
  if (el) el.textContent = value;
}

function watchProgress(section) {
  poll(section.dataset.progress, (p) => {
    const status = document.getElementById("gc-status");
    status.textContent = p.status;
    status.className = "status status-" + p.status_code;
    status.dataset.status = p.status_code;
    setText("gc-done", p.done);
    setText("gc-total", p.total);
    setText("gc-deleted-blobs", p.deleted_blobs);
    setText("gc-deleted-manifests", p.deleted_manifests);
    setText("gc-freed", p.freed);
    setText("gc-updated", p.updated);
    const bar = document.getElementById("gc-progress");
    if (bar) {
      bar.max = Math.max(p.total, 1);
      bar.value = p.done;
    }
    const log = document.getElementById("gc-log");
    if (log) log.textContent = p.log.join("\n") + "\n";
    if (!p.running) {
      const stop = document.getElementById("gc-stop-form");
      if (stop) stop.remove();
    }
    return p.running;
  });
}

function watchReplication(section) {
  poll(section.dataset.progress, (p) => {
    const status = document.getElementById("repl-status");
    status.textContent = p.status;
    status.className = "status status-" + p.status_code;
    setText("repl-succeed", p.succeed);
    setText("repl-total", p.total);
    setText("repl-failed", p.failed);
    setText("repl-pending", p.pending);
    setText("repl-in-progress", p.in_progress);
    setText("repl-stopped", p.stopped);
    setText("repl-bytes", p.bytes);
    setText("repl-bytes-total", p.bytes_total);
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
    // Ended: the page as the server draws it now (retry button, reason).
    if (!p.running) window.location.reload();
    return p.running;
  });
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
