// shuangtan dashboard, reports and recalculations: a form starts a job through the API
// (JSON, the session cookie), a progress bar follows it at /api/v1/jobs/{id} until it ends,
// and a finished report is offered for download and listed. Every visible text comes from
// the page (#job-messages), in the page's language.
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

  function number(value) {
    return Number(value || 0).toLocaleString(document.documentElement.lang);
  }

  function slotFor(form, field) {
    return form.querySelector("[data-error-for='" + field + "']") ||
      form.querySelector("[data-error-also='" + field + "']");
  }

  function showError(form, field, message) {
    var slot = slotFor(form, field);
    if (!slot) { return false; }
    slot.textContent = message;
    slot.hidden = !message;
    var box = slot.closest(".field");
    if (box) { box.classList.toggle("invalid", Boolean(message)); }
    var input = box && box.querySelector("input, select");
    if (input) {
      if (message) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
    }
    return true;
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (slot) {
      showError(form, slot.dataset.errorFor, "");
    });
  }

  function payload(form) {
    var body = {};
    form.querySelectorAll("input[name], select[name], textarea[name]").forEach(function (el) {
      var value = el.value.trim();
      body[el.name] = el.hasAttribute("data-int") ? Number(value) : value;
    });
    return body;
  }

  function detail(say, message) {
    if (!message) { return; }
    var code = document.createElement("code");
    code.lang = "en";
    code.textContent = " " + message;
    say.appendChild(code);
  }

  // Swap the list of reports for the server's, now that a new one is in it.
  function refreshList() {
    var list = document.getElementById("report-list");
    if (!list) { return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("report-list");
        if (fresh) { list.replaceWith(fresh); }
      })
      .catch(function () { /* the list shows it on the next visit */ });
  }

  function follow(messages, form, job, ui, done) {
    function show(state) {
      if (state.total) {
        ui.bar.max = state.total;
        ui.bar.value = state.done;
        ui.say.textContent = text(messages, "progress", { done: number(state.done), total: number(state.total) });
      } else {
        ui.bar.removeAttribute("value");
        ui.say.textContent = text(messages, state.status === "queued" ? "queued" : "running");
      }
    }
    function finished(state) {
      ui.bar.max = Math.max(1, state.total || 0);
      ui.bar.value = ui.bar.max;
      ui.status.dataset.state = "done";
      var result = state.result || {};
      if (form.dataset.job === "report" && result.report_id) {
        ui.say.textContent = text(messages, "report_done");
        var link = document.createElement("a");
        link.href = "/api/v1/reports/" + encodeURIComponent(result.report_id);
        link.className = "button primary";
        link.id = "report-download";
        link.dataset.report = result.report_id;
        link.setAttribute("download", "");
        link.textContent = text(messages, "download");
        ui.result.textContent = "";
        ui.result.appendChild(link);
        ui.result.hidden = false;
        refreshList();
      } else {
        ui.say.textContent = text(messages, form.dataset.job === "report" ? "report_done" : "recompute_done",
          { done: number(state.done) });
      }
    }
    function tick() {
      fetch("/api/v1/jobs/" + encodeURIComponent(job.id), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (state) {
          if (state.status === "done") {
            finished(state);
            done();
          } else if (state.status === "failed") {
            ui.bar.value = 0;
            ui.say.textContent = text(messages, "failed");
            detail(ui.say, state.error);
            ui.status.dataset.state = "failed";
            done();
          } else {
            show(state);
            window.setTimeout(tick, POLL_MS);
          }
        })
        .catch(function () {
          ui.say.textContent = text(messages, "network");
          ui.status.dataset.state = "failed";
          done();
        });
    }
    show(job);
    tick();
  }

  function refused(messages, form, ui, status, body) {
    ui.status.dataset.state = "refused";
    ui.bar.value = 0;
    var field = body && body.field;
    if (!field && (status === 404 || status === 405)) {
      ui.say.textContent = text(messages, "missing");
      return;
    }
    ui.say.textContent = text(messages, "refused");
    detail(ui.say, body && body.message);
    if (field && messages[field]) { showError(form, field, messages[field]); }
    else if (field && body.message) { showError(form, field, body.message); }
  }

  function start(form) {
    var messages = JSON.parse(document.getElementById("job-messages").textContent);
    var status = document.getElementById(form.dataset.job + "-status");
    var ui = {
      status: status,
      bar: status.querySelector("[data-job-progress]"),
      say: status.querySelector("[data-job-message]"),
      result: status.querySelector("[data-job-result]"),
    };
    var button = form.querySelector("[data-job-button]");
    clearErrors(form);
    var body = payload(form);
    if (!body.period) {
      showError(form, "period", text(messages, "period"));
      return;
    }
    status.hidden = false;
    status.dataset.state = "starting";
    ui.result.hidden = true;
    ui.result.textContent = "";
    ui.bar.removeAttribute("value");
    ui.say.textContent = text(messages, "starting");
    button.disabled = true;
    function done() { button.disabled = false; }
    fetch(form.dataset.endpoint, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    })
      .then(function (r) {
        return r.json().catch(function () { return null; }).then(function (json) {
          return { status: r.status, body: json };
        });
      })
      .then(function (answer) {
        if (answer.status === 202 && answer.body && answer.body.id) {
          status.dataset.state = "running";
          status.dataset.job = answer.body.id;
          follow(messages, form, answer.body, ui, done);
        } else {
          refused(messages, form, ui, answer.status, answer.body);
          done();
        }
      })
      .catch(function () {
        ui.say.textContent = text(messages, "network");
        status.dataset.state = "failed";
        done();
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-job]").forEach(function (form) {
      form.addEventListener("submit", function (event) { event.preventDefault(); start(form); });
    });
  });
})();
