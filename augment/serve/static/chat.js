// The chat page of `augment serve`: no framework, no CDN. It talks to the same OpenAI-compatible API
// as any client (POST /v1/chat/completions with stream=true) and reads the `augment` field for
// sources, citations and agent steps.
"use strict";

const log = document.getElementById("log");
const form = document.getElementById("ask");
const input = document.getElementById("question");
const send = document.getElementById("send");
const passage = document.getElementById("passage");
let server = { model: null, mode: "chat", feedback: false };
let history = [];
// a thumb icon drawn inline (no emoji font or icon CDN needed); ROT is 0 (up) or 180 (down)
const THUMB = '<svg width="16" height="16" viewBox="0 0 24 24" aria-hidden="true" style="transform:rotate(ROTdeg)">' +
  '<path fill="currentColor" d="M2 21h4V9H2v12zm20-11c0-1.1-.9-2-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 ' +
  '6.6 7.6C6.2 7.9 6 8.4 6 9v10c0 1.1.9 2 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z"/></svg>';

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = localStorage.getItem("augment-api-key");
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

async function api(path, body) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const r = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body) });
    if (r.status !== 401 || attempt) return r;
    const key = prompt("This server needs an API key:");
    if (!key) return r;
    localStorage.setItem("augment-api-key", key);
  }
}

async function init() {
  try {
    server = await (await fetch("/health")).json();
    const mode = { rag: "answers from your documents, with sources", agent: "agent with tools", chat: "chat" }[server.mode];
    document.getElementById("model").textContent = server.model + " · " + (mode || server.mode);
  } catch (e) {
    document.getElementById("model").textContent = "server unreachable";
  }
}

function addMessage(role, text) {
  const msg = el("div", "msg " + role);
  const bubble = el("div", "bubble", text);
  msg.appendChild(bubble);
  log.appendChild(msg);
  log.scrollTop = log.scrollHeight;
  return msg;
}

function showPassage(src) {
  document.getElementById("passage-title").textContent = "[" + src.n + "] " + (src.title || src.source || src.id || "source");
  document.getElementById("passage-text").textContent = src.text;
  passage.hidden = false;
}

function renderCited(bubble, text, sources) {
  bubble.textContent = "";
  const byN = new Map(sources.map((s) => [s.n, s]));
  const parts = text.split(/(\[\d+(?:,\s*\d+)*\])/);
  for (const part of parts) {
    const m = part.match(/^\[(\d+(?:,\s*\d+)*)\]$/);
    if (!m) { bubble.appendChild(document.createTextNode(part)); continue; }
    for (const n of m[1].split(/,\s*/).map(Number)) {
      const src = byN.get(n);
      if (!src) { bubble.appendChild(document.createTextNode("[" + n + "]")); continue; }
      const a = el("a", "cite", String(n));
      a.href = "#"; a.title = src.title || src.source || "source " + n;
      a.addEventListener("click", (ev) => { ev.preventDefault(); showPassage(src); });
      bubble.appendChild(a);
    }
  }
}

function renderSources(msg, extra) {
  const list = el("ul", "sources");
  const shown = extra.sources.filter((s) => s.cited);
  for (const src of (shown.length ? shown : extra.sources)) {
    const li = el("li");
    const b = el("button", "", "[" + src.n + "] " + (src.title || src.source || src.id));
    b.type = "button";
    b.addEventListener("click", () => showPassage(src));
    li.appendChild(b);
    const file = src.source ? String(src.source).split(/[\\/]/).pop() : "";
    const info = el("span", "score", " · " + (file ? file + " · " : "") + "score " + src.score.toFixed(2));
    info.title = src.source || "";
    li.appendChild(info);
    list.appendChild(li);
  }
  if (extra.sources.length) msg.appendChild(list);
  if (extra.unsupported && extra.unsupported.length) {
    msg.appendChild(el("div", "flags", "Not supported by the sources: " + extra.unsupported.join(" ")));
  }
}

function renderStep(msg, step) {
  let box = msg.querySelector(".steps");
  if (!box) { box = el("div", "steps"); msg.insertBefore(box, msg.firstChild); }
  if (step.final) return;
  const div = el("div", "step" + (step.error ? " err" : ""));
  div.appendChild(el("strong", "", "Step " + step.index + ": "));
  div.appendChild(el("code", "", step.tool + "(" + JSON.stringify(step.arguments || {}) + ")"));
  div.appendChild(document.createTextNode(" → " + (step.observation || "")));
  box.appendChild(div);
}

function addRating(msg, question, answer, extra) {
  if (!server.feedback) return;
  const row = el("div", "rate", "Was this helpful?");
  const note = el("span", "");
  for (const [rating, name] of [[1, "up"], [-1, "down"]]) {
    const b = el("button", "thumb-" + name);
    b.innerHTML = THUMB.replace("ROT", name === "up" ? "0" : "180");
    b.type = "button"; b.setAttribute("aria-label", "thumbs " + name); b.setAttribute("aria-pressed", "false");
    b.addEventListener("click", async () => {
      const meta = extra && extra.sources ? { sources: extra.sources.filter((s) => s.cited).map((s) => s.source || s.id) } : {};
      const r = await api("/v1/feedback", { prompt: question, response: answer, rating: rating, meta: meta });
      row.querySelectorAll("button").forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
      note.textContent = r.ok ? " thanks, recorded" : " could not record (" + r.status + ")";
      msg.dataset.rated = r.ok ? String(rating) : "";
    });
    row.appendChild(b);
  }
  row.appendChild(note);
  msg.appendChild(row);
}

async function ask(question) {
  addMessage("user", question);
  history.push({ role: "user", content: question });
  const msg = addMessage("assistant", "");
  const bubble = msg.querySelector(".bubble");
  bubble.classList.add("streaming");
  let text = "", extra = null, deltas = 0;
  try {
    const r = await api("/v1/chat/completions", { model: server.model, messages: history, stream: true });
    if (!r.ok) {
      const err = await r.json().catch(() => ({}));
      throw new Error((err.error && err.error.message) || "HTTP " + r.status);
    }
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, cut); buf = buf.slice(cut + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        if (chunk.augment && chunk.augment.step) renderStep(msg, chunk.augment.step);
        if (chunk.augment && chunk.augment.mode) extra = chunk.augment;
        for (const choice of chunk.choices || []) {
          const piece = choice.delta && choice.delta.content;
          if (piece) { text += piece; deltas += 1; bubble.textContent = text; msg.dataset.deltas = deltas; }
        }
        log.scrollTop = log.scrollHeight;
      }
    }
    if (extra && extra.mode === "rag") {
      text = extra.answer;
      renderCited(bubble, text, extra.sources);
      renderSources(msg, extra);
    }
    history.push({ role: "assistant", content: text });
    addRating(msg, question, text, extra);
  } catch (e) {
    msg.className = "msg error";
    bubble.textContent = "Error: " + e.message;
    history.pop();
  } finally {
    bubble.classList.remove("streaming");
    msg.dataset.done = "1";
    log.scrollTop = log.scrollHeight;
  }
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const question = input.value.trim();
  if (!question) return;
  input.value = "";
  send.disabled = true;
  document.getElementById("hello").hidden = true;
  try { await ask(question); } finally { send.disabled = false; input.focus(); }
});
input.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
});
document.getElementById("passage-close").addEventListener("click", () => { passage.hidden = true; });
document.getElementById("new-chat").addEventListener("click", () => {
  history = []; log.querySelectorAll(".msg").forEach((m) => m.remove());
  document.getElementById("hello").hidden = false; passage.hidden = true;
});
init();
