// The reporting form's script (intake, GET /report; services/intake/entrypoints/form.py).
// Plain JavaScript, no build chain. The draft lives in localStorage and survives a reload; a
// report is a set of CloudEvents whose ids are made once per draft (crypto.randomUUID), so
// sending it again — a second press on "Gửi", a retry after a dropped connection — sends the
// same events, which intake answers as duplicates. Without a connection the draft is kept as
// queued and sent when the browser is back online (or at the next page load).
(() => {
  "use strict";

  const config = JSON.parse(document.getElementById("form-config").textContent);
  const TYPES = {
    reported: "vn.gov.pcmt.indicator.reported.v1",
    activity: "vn.gov.pcmt.activity.recorded.v1",
    submitted: "vn.gov.pcmt.report.submitted.v1",
  };
  const DRAFT_KEY = `tiendo.report.draft.${config.agency}.${config.period}`;
  const LAST_KEY = `tiendo.report.last.${config.agency}`;
  const CLOCK_KEY = "tiendo.report.clock";
  const RETRY_MAX_MS = 60000;
  const CACHE = "tiendo-report-v1"; // sw.js's cache

  const form = document.getElementById("report-form");
  const statusLine = document.getElementById("form-status");
  const sendButton = document.getElementById("send");
  const newButton = document.getElementById("new-report");
  const lines = document.getElementById("activities");
  const addButton = document.getElementById("add-activity");
  const note = document.getElementById("note");
  const valueInputs = [...form.querySelectorAll("input[data-indicator]")];

  const say = (key, values = {}) => {
    let text = config.messages[key] ?? config.messages["problem.internal-error"];
    for (const [name, value] of Object.entries(values)) text = text.replace(`{${name}}`, value);
    return text;
  };
  const load = (key) => {
    try {
      return JSON.parse(localStorage.getItem(key));
    } catch {
      return null;
    }
  };
  const store = (key, value) => {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch {
      // storage full or forbidden: the form still sends, it only forgets on reload
    }
  };

  // Event times are the server's: a phone's clock may be off by more than intake's tolerance.
  // A page from the service worker's cache carries its old server time: its offset was kept.
  const offset = (() => {
    const saved = load(CLOCK_KEY);
    if (saved && saved.render_id === config.render_id) return saved.offset;
    const fresh = Date.parse(config.server_now) - Date.now();
    store(CLOCK_KEY, { render_id: config.render_id, offset: fresh });
    return fresh;
  })();
  const now = () => new Date(Date.now() + offset);

  const uuid = () => {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };

  const newDraft = () => ({
    id: uuid(),
    values: {},
    activities: [],
    next_line: 1,
    note: "",
    stamp: null,
    state: "editing", // editing | queued | sent
    accepted: {},
    sent_at: null,
  });
  let draft = load(DRAFT_KEY) || newDraft();
  const save = () => store(DRAFT_KEY, draft);

  const when = (iso) =>
    new Intl.DateTimeFormat(config.lang === "vi" ? "vi-VN" : "en-GB", {
      timeZone: "Asia/Ho_Chi_Minh",
      dateStyle: "short",
      timeStyle: "short",
    }).format(new Date(iso));

  // ---------------------------------------------------------------- the fields

  function labelled(text, control) {
    const label = document.createElement("label");
    label.append(text, control);
    return label;
  }

  function lineElement(line, n) {
    const item = document.createElement("li");
    item.id = `line-${line.key}`;
    const title = document.createElement("span");
    title.className = "line-title";
    title.textContent = say("form.js.line", { n });
    const type = document.createElement("select");
    type.id = `a${line.key}-activity`;
    type.append(new Option(say("form.js.choose"), ""));
    for (const a of config.activities) type.append(new Option(a.name, a.code, false, a.code === line.activity));
    type.value = line.activity || "";
    const day = document.createElement("input");
    day.type = "date";
    day.id = `a${line.key}-date`;
    day.value = line.date ?? "";
    const participants = document.createElement("input");
    participants.type = "text";
    participants.inputMode = "numeric";
    participants.id = `a${line.key}-participants`;
    participants.value = line.participants ?? "";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary remove";
    remove.textContent = say("form.js.remove");
    const error = document.createElement("p");
    error.className = "field-error";
    error.id = `error-a${line.key}`;
    error.hidden = true;
    for (const control of [type, day, participants]) control.setAttribute("aria-describedby", error.id);
    const update = () => {
      Object.assign(line, { activity: type.value, date: day.value, participants: participants.value.trim() });
      edited();
    };
    type.addEventListener("change", update);
    day.addEventListener("change", update);
    participants.addEventListener("input", update);
    remove.addEventListener("click", () => {
      draft.activities = draft.activities.filter((l) => l !== line);
      edited();
      fill();
    });
    item.append(
      title,
      labelled(say("form.js.type"), type),
      labelled(say("form.js.date"), day),
      labelled(say("form.js.participants"), participants),
      remove,
      error,
    );
    return item;
  }

  function fill() {
    for (const input of valueInputs) input.value = draft.values[input.dataset.indicator] ?? "";
    note.value = draft.note || "";
    if (lines) lines.replaceChildren(...draft.activities.map((line, i) => lineElement(line, i + 1)));
    lock();
    showLast();
  }

  function edited() {
    if (draft.state === "sent") return;
    save();
  }

  for (const input of valueInputs) {
    input.addEventListener("input", () => {
      draft.values[input.dataset.indicator] = input.value;
      clearError(input);
      edited();
    });
  }
  note.addEventListener("input", () => {
    draft.note = note.value;
    clearError(note);
    edited();
  });
  if (addButton) {
    addButton.addEventListener("click", () => {
      const line = { key: draft.next_line++, activity: "", date: config.activity_day, participants: "" };
      draft.activities.push(line);
      edited();
      fill();
      document.getElementById(`a${line.key}-activity`).focus();
    });
  }

  // What was accepted is final for this draft (a change needs a correction): shown read-only.
  function lock() {
    const sent = draft.state === "sent";
    for (const input of valueInputs) {
      input.readOnly = sent || Boolean(draft.accepted[`${draft.id}.${input.dataset.indicator}`]);
    }
    note.readOnly = sent || Boolean(draft.accepted[`${draft.id}.report`]);
    for (const line of draft.activities) {
      const done = sent || Boolean(draft.accepted[`${draft.id}.a${line.key}`]);
      const item = document.getElementById(`line-${line.key}`);
      if (!item) continue;
      for (const control of item.querySelectorAll("select, input")) control.disabled = done;
      item.querySelector("button.remove").hidden = done;
    }
    if (addButton) addButton.hidden = sent;
    newButton.hidden = !sent;
  }

  function showLast() {
    const last = load(LAST_KEY) || {};
    for (const input of valueInputs) {
      const code = input.dataset.indicator;
      const shown = document.getElementById(`last-${code}`);
      const known = last[code];
      if (shown && known) shown.textContent = `${known.value} (${config.period_labels[known.period] ?? known.period})`;
    }
  }

  // ---------------------------------------------------------------- the events

  function numberOf(text) {
    const t = text.replace(/\s/g, "");
    if (config.lang === "vi" && /^\d{1,3}(\.\d{3})+(,\d+)?$/.test(t)) return Number(t.replace(/\./g, "").replace(",", "."));
    if (/^-?\d+([.,]\d+)?$/.test(t)) return Number(t.replace(",", "."));
    return text; // not a number: intake says so, next to the field
  }
  const integerOf = (text) => (/^\d+$/.test(text) ? Number(text) : text);

  function envelope(id, type, data) {
    return { specversion: "1.0", id, source: config.source, type, time: draft.stamp, datacontenttype: "application/json", data };
  }

  function items() {
    const out = [];
    for (const input of valueInputs) {
      const code = input.dataset.indicator;
      const text = (draft.values[code] ?? "").trim();
      if (!text) continue;
      const data = { indicator: code, period: config.period, value: numberOf(text) };
      out.push({ kind: "value", key: code, event: envelope(`${draft.id}.${code}`, TYPES.reported, data) });
    }
    for (const line of draft.activities) {
      if (!line.activity && !line.participants) continue; // an empty line
      const data = { activity: line.activity, date: line.date, participants: integerOf(line.participants || "0") };
      out.push({ kind: "activity", key: line.key, event: envelope(`${draft.id}.a${line.key}`, TYPES.activity, data) });
    }
    const text = (draft.note || "").trim();
    const data = text ? { period: config.period, note: text } : { period: config.period };
    out.push({ kind: "report", key: "note", event: envelope(`${draft.id}.report`, TYPES.submitted, data) });
    return out;
  }

  // ---------------------------------------------------------------- messages next to fields

  function setStatus(kind, text) {
    statusLine.className = `form-status ${kind}`;
    statusLine.textContent = text;
    statusLine.hidden = false;
  }

  function clearError(control) {
    control.removeAttribute("aria-invalid");
    const id = control.getAttribute("aria-describedby")?.split(" ").find((x) => x.startsWith("error-"));
    const error = id && document.getElementById(id);
    if (error) error.hidden = true;
  }

  function clearErrors() {
    for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
    for (const error of form.querySelectorAll(".field-error")) error.hidden = true;
  }

  const problemText = (reason, field) =>
    config.messages[`problem.${reason}.${field}`] ?? config.messages[`problem.${reason}`] ?? say("problem.internal-error");

  // The field a problem's JSON Pointer names in this item's event, and where its message goes.
  function placeOf(item, pointer) {
    if (!item || !pointer.startsWith("/data/")) return null;
    const field = pointer.split("/")[2];
    if (item.kind === "value") return { control: `value-${item.key}`, error: `error-${item.key}`, field: "value" };
    if (item.kind === "report") return field === "note" ? { control: "note", error: "error-note", field } : null;
    const part = ["activity", "date", "participants"].includes(field) ? field : "activity";
    return { control: `a${item.key}-${part}`, error: `error-a${item.key}`, field: part };
  }

  // Shows a problem+json answer: each error beside its field; false when none could be placed.
  function showProblem(problem, item) {
    const reason = problem?.reason ?? "internal-error";
    let placed = false;
    for (const e of problem?.errors ?? [{ pointer: "" }]) {
      const place = placeOf(item, e.pointer ?? "");
      if (!place) continue;
      const control = document.getElementById(place.control);
      const error = document.getElementById(place.error);
      if (!control || !error) continue;
      control.setAttribute("aria-invalid", "true");
      error.textContent = problemText(reason, place.field);
      error.hidden = false;
      placed = true;
    }
    return placed;
  }

  // ---------------------------------------------------------------- sending

  const csrf = () => {
    const pair = document.cookie.split("; ").find((c) => c.startsWith("tiendo_csrf="));
    return pair ? decodeURIComponent(pair.slice("tiendo_csrf=".length)) : "";
  };
  const post = (url, type, body) =>
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": type, "X-CSRF-Token": csrf(), Accept: "application/json, application/problem+json" },
      body: JSON.stringify(body),
    });
  const answerOf = async (response) => {
    try {
      return await response.json();
    } catch {
      return null;
    }
  };

  let busy = false;
  let retryDelay = 3000;
  let retryTimer = null;

  function queue() {
    draft.state = "queued";
    save();
    setStatus("queued", say("form.js.queued"));
    if (retryTimer) clearTimeout(retryTimer);
    // The `online` event sends it too; a timer covers a connection that failed while "online".
    retryTimer = setTimeout(() => {
      retryTimer = null;
      if (draft.state === "queued" && navigator.onLine) submit();
    }, retryDelay);
    retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
  }

  function refused(problem, item) {
    if (!showProblem(problem, item)) {
      setStatus("bad", problemText(problem?.reason ?? "internal-error", ""));
    } else {
      setStatus("bad", say("form.js.fix"));
    }
    if (draft.state === "queued") draft.state = "editing";
    save();
    lock();
  }

  async function submit() {
    if (busy) return; // a second press while sending: the first one is on its way
    busy = true;
    try {
      clearErrors();
      const all = items();
      if (all.length === 1 && !all[0].event.data.note && draft.state !== "sent") {
        setStatus("bad", say("form.js.empty"));
        return;
      }
      if (!draft.stamp) draft.stamp = now().toISOString(); // kept: a re-send is the same event
      for (const item of all) item.event.time = draft.stamp;
      save();
      if (!navigator.onLine) return queue();
      const wasQueued = draft.state === "queued";
      setStatus("", say("form.js.sending"));
      // Once sent, a press on "Gửi" sends the same events again: intake answers duplicates.
      const pending = draft.state === "sent" ? all : all.filter((item) => !draft.accepted[item.event.id]);
      const unchecked = pending.filter((item) => !draft.accepted[item.event.id]);
      if (unchecked.length) {
        // Intake's own checks on every event first: nothing is sent while one field is wrong.
        let response;
        try {
          response = await post("/report/check", "application/json", unchecked.map((item) => item.event));
        } catch {
          return queue();
        }
        if (response.status !== 200) return refused(await answerOf(response), null);
        const wrong = (await response.json()).results.filter((r) => r.problem);
        if (wrong.length) {
          let placed = false;
          for (const r of wrong) placed = showProblem(r.problem, unchecked[r.index]) || placed;
          setStatus("bad", placed ? say("form.js.fix") : problemText(wrong[0].problem.reason, ""));
          if (draft.state === "queued") draft.state = "editing";
          save();
          return;
        }
      }
      for (const item of pending) {
        let response;
        try {
          response = await post("/v1/events", "application/cloudevents+json", item.event);
        } catch {
          return queue();
        }
        if (response.status === 202 || response.status === 200) {
          draft.accepted[item.event.id] = true; // accepted now, or a duplicate of an earlier send
          save();
          continue;
        }
        return refused(await answerOf(response), item);
      }
      retryDelay = 3000;
      const first = draft.state !== "sent";
      draft.state = "sent";
      draft.sent_at = draft.sent_at || now().toISOString();
      save();
      if (first) {
        const last = load(LAST_KEY) || {};
        for (const item of all.filter((i) => i.kind === "value")) {
          last[item.key] = { value: draft.values[item.key].trim(), period: config.period, at: draft.sent_at };
        }
        store(LAST_KEY, last);
      }
      setStatus("ok", say(wasQueued ? "form.js.queued_sent" : "form.js.sent_at", { time: when(draft.sent_at) }));
      lock();
      showLast();
    } finally {
      busy = false;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  newButton.addEventListener("click", () => {
    draft = newDraft();
    save();
    clearErrors();
    statusLine.hidden = true;
    fill();
  });
  window.addEventListener("online", () => {
    if (draft.state === "queued") submit();
  });

  fill();
  if (draft.state === "queued") {
    setStatus("queued", say("form.js.queued"));
    if (navigator.onLine) submit();
  } else if (draft.state === "sent") {
    setStatus("ok", say("form.js.sent_at", { time: when(draft.sent_at) }));
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker
      .register("/report/sw.js", { scope: "/report" })
      .then(() => navigator.serviceWorker.ready)
      .then(async () => {
        // The first visit came before the worker (which may already have claimed the page without
        // seeing its navigation): keep this page for a reload without a connection.
        const cache = await caches.open(CACHE);
        if (await cache.match(location.href)) return;
        const response = await fetch(location.href, { credentials: "same-origin" });
        if (response.ok && !response.redirected) await cache.put(location.href, response);
      })
      .catch(() => {
        // no service worker (e.g. plain http on a LAN address): the form works, only not offline after a reload
      });
  }
})();
