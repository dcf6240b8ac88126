// jitbot playground: keeps the server-rendered page live and sends what a
// person does as the payloads Slack would send. All HTML it inserts was
// rendered (and escaped) by the server.
"use strict";

const body = document.body;
const state = { as: body.dataset.as, channel: body.dataset.channel, modalKey: body.dataset.modalKey || "" };
const parts = ["clock", "sidebar", "main", "review", "atlassian", "directory", "audit"];
const last = {};
for (const p of parts) last[p] = document.getElementById("part-" + p).innerHTML;

function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.hidden = !msg;
  if (msg) setTimeout(() => { if (t.textContent === msg) t.hidden = true; }, 6000);
}

async function post(path, data) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Playground": "1" },
    body: JSON.stringify(Object.assign({ as: state.as }, data)),
  });
  let out = {};
  try { out = await res.json(); } catch (e) { out = { error: "the playground did not answer" }; }
  if (!res.ok) toast(out.error || "something went wrong");
  refresh();
  return out;
}

// refresh fetches the parts and swaps those that changed; one at a time,
// and once more when asked meanwhile.
let busy = false, again = false;
async function refresh() {
  if (busy) { again = true; return; }
  busy = true;
  try {
    do {
      again = false;
      const q = new URLSearchParams({ as: state.as, c: state.channel });
      const res = await fetch("/api/parts?" + q.toString(), { cache: "no-store" });
      if (!res.ok) break;
      const data = await res.json();
      swap(data);
    } while (again);
  } catch (e) {
    // The playground stopped, or the network hiccuped: the next event retries.
  } finally {
    busy = false;
  }
}

function swap(data) {
  const focused = document.activeElement && document.activeElement.id;
  const conv = document.getElementById("part-main");
  const atBottom = conv.scrollHeight - conv.scrollTop - conv.clientHeight < 40;
  for (const p of parts) {
    const html = data.parts[p];
    if (html === undefined || html === last[p]) continue;
    last[p] = html;
    document.getElementById("part-" + p).innerHTML = html;
    // Follow new messages, as Slack does, unless the person scrolled up.
    if (p === "main" && atBottom) conv.scrollTop = conv.scrollHeight;
  }
  if (data.modalKey !== state.modalKey) {
    state.modalKey = data.modalKey;
    const holder = document.getElementById("part-modal");
    holder.innerHTML = data.parts.modal;
    const dlg = holder.querySelector("dialog");
    if (dlg) {
      dlg.addEventListener("cancel", (ev) => { ev.preventDefault(); closeModal(dlg.querySelector("form").dataset.view); });
      dlg.showModal();
      const bad = dlg.querySelector("[aria-invalid=true]");
      const first = bad || dlg.querySelector("input, select, textarea, button");
      if (first) first.focus();
      return;
    }
  }
  if (focused && !document.querySelector("dialog[open]")) {
    const el = document.getElementById(focused);
    if (el && el !== document.activeElement) el.focus();
  }
  document.getElementById("composer").hidden = state.channel === "home";
}

function formValues(form) {
  const values = {};
  for (const el of form.querySelectorAll("[name]")) {
    const [block, action] = el.name.split("/");
    (values[block] = values[block] || {})[action] = el.value;
  }
  return values;
}

function closeModal(view) { post("/api/close", { view: view }); }

function setChannel(c) {
  state.channel = c;
  const u = new URL(location.href);
  u.searchParams.set("as", state.as);
  u.searchParams.set("c", c);
  history.replaceState(null, "", u);
  if (c === "home") post("/api/home", {});
  else refresh();
  document.getElementById("composer").hidden = c === "home";
}

// askConfirm shows a button's confirm dialog and resolves to true on confirm.
function askConfirm(c) {
  const dlg = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = c.title || "Are you sure?";
  document.getElementById("confirm-text").innerHTML = c.text || "";
  const ok = document.getElementById("confirm-ok");
  ok.textContent = c.confirm || "Yes";
  ok.className = "btn " + (c.style === "danger" ? "danger" : "primary");
  document.getElementById("confirm-deny").textContent = c.deny || "Cancel";
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "confirm"), { once: true });
    dlg.showModal();
    document.getElementById("confirm-deny").focus();
  });
}

document.addEventListener("click", async (ev) => {
  const el = ev.target.closest("[data-act]");
  if (!el) return;
  const d = el.dataset;
  switch (d.act) {
    case "click": {
      if (d.confirm && !(await askConfirm(JSON.parse(d.confirm)))) return;
      const msg = { action: d.action };
      if (d.view) {
        msg.view = d.view;
        const form = el.closest("form");
        if (form) msg.values = formValues(form);
      } else { msg.channel = d.channel; msg.ts = d.ts; }
      post("/api/action", msg);
      break;
    }
    case "channel": setChannel(d.c); break;
    case "skip": post("/api/clock", { skip: d.skip }); break;
    case "clock-run": post("/api/clock", { running: d.on === "true" }); break;
    case "review": post("/api/review", { rule: d.rule }); break;
    case "close-modal": closeModal(d.view); break;
    case "idp-suspend":
      post("/api/idp", { email: document.getElementById("idp-person").value, suspend: d.on === "true" });
      break;
    case "idp-sync": post("/api/idp/sync", {}); break;
  }
});

document.addEventListener("change", (ev) => {
  const el = ev.target;
  if (el.id === "as") {
    state.as = el.value;
    state.modalKey = "?";
    setChannel("D" + el.value.slice(1));
    return;
  }
  const d = el.dataset;
  if (d.act === "select" && el.value) {
    const msg = { action: d.action, option: el.value };
    if (d.view) msg.view = d.view; else { msg.channel = d.channel; msg.ts = d.ts; }
    post("/api/action", msg);
  } else if (d.dispatch && el.value) {
    const form = el.closest("form");
    post("/api/action", { view: form.dataset.view, action: d.action, option: el.value, values: formValues(form) });
  }
});

document.addEventListener("submit", (ev) => {
  const form = ev.target;
  if (form.id === "composer") {
    ev.preventDefault();
    const input = document.getElementById("composer-text");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    post("/api/command", { channel: state.channel, text: text });
    return;
  }
  if (form.id === "idp-form") {
    ev.preventDefault();
    const manager = document.getElementById("idp-manager"), dept = document.getElementById("idp-department");
    post("/api/idp", { email: document.getElementById("idp-person").value, manager: manager.value, department: dept.value.trim() })
      .then((out) => { if (out.ok) { manager.value = ""; dept.value = ""; } });
    return;
  }
  if (form.classList.contains("modal") && form.dataset.view) {
    ev.preventDefault();
    // Slack's client checks required fields before it sends anything.
    for (const el of form.querySelectorAll("[required]")) {
      if (!el.value.trim()) {
        el.setAttribute("aria-invalid", "true");
        el.focus();
        toast("Please fill in “" + (form.querySelector("label[for='" + el.id + "']") || {}).textContent + "”.");
        return;
      }
    }
    post("/api/submit", { view: form.dataset.view, values: formValues(form) });
  }
});

const events = new EventSource("/api/events");
events.onmessage = refresh;
document.getElementById("composer").hidden = state.channel === "home";
if (state.channel === "home") post("/api/home", {});
if (state.modalKey) {
  const dlg = document.querySelector("#part-modal dialog");
  if (dlg) {
    dlg.addEventListener("cancel", (ev) => { ev.preventDefault(); closeModal(dlg.querySelector("form").dataset.view); });
    dlg.showModal();
  }
}
