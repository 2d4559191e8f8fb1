// shuangtan dashboard, data entry: upload a file of readings to the imports API with a
// progress bar, then follow the import job until it ends and show what it stored.
// Every visible text comes from the page (#upload-messages), in the page's language.
"use strict";
(function () {
  var POLL_MS = 400;

  function text(messages, key, values) {
    var out = messages[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      out = out.split("%(" + name + ")s").join(String(values[name]));
    });
    return out;
  }

  function showError(id, message) {
    var slot = document.getElementById(id);
    if (!slot) { return; }
    slot.textContent = message;
    slot.hidden = !message;
    var field = slot.closest(".field, fieldset");
    if (field) { field.classList.toggle("invalid", Boolean(message)); }
    var input = field && field.querySelector("input, select");
    if (input && input.id !== "map-meter") {
      if (message) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
    }
  }

  function clearErrors() {
    ["file-error", "org-error", "mapping-error"].forEach(function (id) { showError(id, ""); });
  }

  function number(value) {
    return Number(value || 0).toLocaleString(document.documentElement.lang);
  }

  function summary(messages, result) {
    var box = document.getElementById("upload-result");
    box.textContent = "";
    var list = document.createElement("dl");
    list.className = "summary";
    ["received", "stored", "corrected", "duplicates", "quarantined"].forEach(function (key) {
      var dt = document.createElement("dt");
      dt.textContent = text(messages, key);
      var dd = document.createElement("dd");
      dd.textContent = number(result[key]);
      dd.dataset.key = key;
      list.appendChild(dt);
      list.appendChild(dd);
    });
    box.appendChild(list);
    var rows = result.quarantine || [];
    if (rows.length) {
      var table = document.createElement("table");
      var head = table.createTHead().insertRow();
      ["row", "reason", "field"].forEach(function (key) {
        var th = document.createElement("th");
        th.scope = "col";
        th.textContent = text(messages, key);
        head.appendChild(th);
      });
      var body = table.createTBody();
      rows.slice(0, 20).forEach(function (q) {
        var tr = body.insertRow();
        var line = /^line (\d+)$/.exec(q.ref || "");
        tr.insertCell().textContent = line ? text(messages, "line", { number: line[1] }) : q.ref;
        tr.insertCell().textContent = (messages.reasons || {})[q.reason] || q.reason;
        tr.insertCell().textContent = q.field;
      });
      box.appendChild(table);
      var note = document.createElement("p");
      note.className = "muted";
      note.textContent = text(messages, "quarantine_note");
      box.appendChild(note);
    }
    box.hidden = false;
  }

  function follow(messages, job, done) {
    var bar = document.getElementById("job-progress");
    var say = document.getElementById("upload-message");
    function show(state) {
      if (state.total) {
        bar.max = state.total;
        bar.value = state.done;
        say.textContent = text(messages, "importing", { done: number(state.done), total: number(state.total) });
      } else {
        bar.removeAttribute("value");
        say.textContent = text(messages, state.status === "queued" ? "uploaded" : "checking");
      }
    }
    function tick() {
      fetch("/api/v1/jobs/" + job.id, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (state) {
          show(state);
          if (state.status === "done") {
            bar.max = Math.max(1, state.total || 0);
            bar.value = bar.max;
            say.textContent = text(messages, "done");
            summary(messages, state.result || {});
            document.getElementById("upload-status").dataset.state = "done";
            done();
          } else if (state.status === "failed") {
            bar.value = 0;
            say.textContent = text(messages, "failed");
            var detail = document.createElement("code");
            detail.lang = "en";
            detail.textContent = " " + (state.error || "");
            say.appendChild(detail);
            if (state.result) { summary(messages, state.result); }
            document.getElementById("upload-status").dataset.state = "failed";
            done();
          } else {
            window.setTimeout(tick, POLL_MS);
          }
        })
        .catch(function () {
          say.textContent = text(messages, "network");
          document.getElementById("upload-status").dataset.state = "failed";
          done();
        });
    }
    show(job);
    tick();
  }

  function refused(messages, status, body) {
    var field = body && body.field;
    var slot = { file: "file-error", org_id: "org-error", mapping: "mapping-error", header: "mapping-error" }[field];
    var key = { file: "choose_file", org_id: "choose_org", mapping: "mapping", header: "mapping" }[field];
    var say = document.getElementById("upload-message");
    say.textContent = text(messages, "refused");
    if (body && body.message) {
      var detail = document.createElement("code");
      detail.lang = "en";
      detail.textContent = " " + body.message;
      say.appendChild(detail);
    }
    if (slot) { showError(slot, text(messages, key)); }
    document.getElementById("upload-status").dataset.state = "refused";
  }

  function start(form) {
    var messages = JSON.parse(document.getElementById("upload-messages").textContent);
    var fileInput = document.getElementById("upload-file");
    var orgInput = document.getElementById("upload-org");
    clearErrors();
    if (!fileInput.files.length) { showError("file-error", text(messages, "choose_file")); fileInput.focus(); return; }
    if (!orgInput.value) { showError("org-error", text(messages, "choose_org")); orgInput.focus(); return; }
    var mapping = {};
    form.querySelectorAll("[data-map]").forEach(function (input) {
      if (input.value.trim()) { mapping[input.dataset.map] = input.value.trim(); }
    });
    var data = new FormData();
    data.append("file", fileInput.files[0]);
    data.append("org_id", orgInput.value);
    data.append("encoding", document.getElementById("upload-encoding").value);
    data.append("mapping", Object.keys(mapping).length ? JSON.stringify(mapping) : "");
    var zone = document.getElementById("upload-timezone").value;
    if (zone) { data.append("timezone", zone); }

    var status = document.getElementById("upload-status");
    var upBar = document.getElementById("upload-progress");
    var jobBar = document.getElementById("job-progress");
    var say = document.getElementById("upload-message");
    var button = document.getElementById("upload-button");
    status.hidden = false;
    status.dataset.state = "uploading";
    document.getElementById("upload-result").hidden = true;
    upBar.value = 0;
    jobBar.value = 0;
    say.textContent = text(messages, "uploading");
    button.disabled = true;
    function done() { button.disabled = false; }

    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/imports");
    xhr.withCredentials = true;
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) { upBar.max = event.total; upBar.value = event.loaded; }
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status === 202 && body) {
        upBar.max = 1;
        upBar.value = 1;
        status.dataset.state = "importing";
        status.dataset.job = body.id;
        follow(messages, body, done);
      } else {
        refused(messages, xhr.status, body);
        done();
      }
    });
    xhr.addEventListener("error", function () {
      say.textContent = text(messages, "network");
      status.dataset.state = "failed";
      done();
    });
    xhr.send(data);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("upload-form");
    if (form) {
      form.addEventListener("submit", function (event) { event.preventDefault(); start(form); });
    }
    // The chosen file's name beside the button (the native control speaks the browser's language).
    var file = document.getElementById("upload-file");
    var fileName = document.getElementById("file-name");
    if (file && fileName) {
      file.addEventListener("change", function () {
        fileName.textContent = file.files.length ? file.files[0].name : fileName.dataset.empty;
        showError("file-error", "");
      });
    }
    // The unit field shows the chosen source's unit as its placeholder.
    var source = document.getElementById("source_id");
    var unit = document.getElementById("unit");
    function placeholder() {
      var option = source.options[source.selectedIndex];
      unit.placeholder = (option && option.dataset.unit) || "";
    }
    if (source && unit) { source.addEventListener("change", placeholder); placeholder(); }
    var first = document.querySelector("#activity-form [aria-invalid='true']");
    if (first) { first.focus(); }
  });
})();
