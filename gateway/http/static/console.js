// The recsys console: one user's feed as cards with why each item is there; Like / Skip /
// Share report events and fetch the next feed; Explain; model versions; report plots.
// Plain browser JavaScript, no build step. Talks only to the gateway's HTTP/JSON API.
"use strict";

const $ = (sel) => document.querySelector(sel);
// Ids stay strings, as the API answers int64 values (a JS number is exact only to 2**53).
const state = { user: "42", count: 20, feed: [] };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function headers() {
  const key = localStorage.getItem("recsys.apiKey") || "";
  return key ? { "content-type": "application/json", "x-api-key": key } : { "content-type": "application/json" };
}

async function api(path, body) {
  const init = body === undefined ? { headers: headers() } : { method: "POST", headers: headers(), body: JSON.stringify(body) };
  const reply = await fetch(path, init);
  const doc = await reply.json();
  if (!reply.ok) throw new Error(`${reply.status} ${doc.error ? doc.error.status + ": " + doc.error.message : ""}`);
  return doc;
}

function showError(err) {
  const box = $("#error");
  box.hidden = !err;
  box.textContent = err ? String(err.message || err) : "";
}

function eventId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + Math.random().toString(36).slice(2);
}

async function loadFeed() {
  try {
    const feed = await api("/v1/recommend", { user_id: state.user, count: state.count, debug: true });
    state.feed = feed.items;
    renderFeed(feed);
    showError(null);
  } catch (err) {
    showError(err);
  }
}

function renderFeed(feed) {
  const models = feed.models.map((m) => `${m.name} ${m.version}`).join(", ");
  const total = (feed.latencies.find((l) => l.stage === "total") || { ms: 0 }).ms;
  $("#meta").textContent = `user ${state.user} · request ${feed.request_id} · ${total.toFixed(1)} ms` +
    (feed.experiment ? ` · experiment ${feed.experiment}` : "") +
    (feed.degraded.length ? ` · degraded: ${feed.degraded.join(", ")}` : "") + (models ? ` · ${models}` : "");
  const box = $("#feed");
  box.replaceChildren(...feed.items.map((item, i) => card(item, i + 1)));
}

function card(item, position) {
  const heads = Object.entries(item.head_scores || {}).map(([h, p]) => `${h} ${p.toFixed(3)}`).join(" · ");
  const reason = item.rerank_reason || "";
  const why = el("div", { class: "why" },
    el("div", {}, `found by: ${item.channels.join(", ") || "—"}`),
    el("div", {}, `recall #${item.recall_position || "—"} · rank #${item.rank_position || "—"} · score ${item.score.toFixed(4)}`),
    heads ? el("div", {}, heads) : "",
    reason ? el("div", { class: "reason" + (reason.includes("campaign:") ? " campaign" : "") }, reason) : "");
  const act = (type) => () => react(item, type);
  return el("article", { class: "card", "data-item": item.item_id, "data-category": item.category },
    el("div", { class: "frame" },
      el("span", { class: "pos" }, `${position}`),
      el("img", { class: "cover", src: item.cover_url || `/v1/covers/${item.item_id}.svg`, alt: item.title || `video ${item.item_id}`, loading: "eager" })),
    el("div", { class: "body" },
      el("div", { class: "title" }, item.title || `video ${item.item_id}`),
      el("div", { class: "author" }, `${item.author_name || "author " + item.author_id} · ${Math.round(item.duration_s)} s`),
      el("div", { class: "tags" }, (item.tags || []).map((t) => "#" + t).join(" ")),
      el("div", { class: "ids" }, `item ${item.item_id} · category ${item.category}`),
      why),
    el("div", { class: "buttons" },
      el("button", { class: "like", onclick: act("EVENT_TYPE_LIKE") }, "Like"),
      el("button", { class: "skip", onclick: act("EVENT_TYPE_SKIP") }, "Skip"),
      el("button", { class: "share", onclick: act("EVENT_TYPE_SHARE") }, "Share"),
      el("button", { class: "explain", onclick: () => explain(item.item_id) }, "Why?")));
}

async function react(item, type) {
  try {
    await api("/v1/events", { events: [{ event_id: eventId(), user_id: state.user, item_id: item.item_id, type }] });
  } catch (err) {
    showError(err);
    return;
  }
  await loadFeed();
}

async function explain(itemId) {
  $("#explain-item").value = itemId;
  const box = $("#explain-result");
  try {
    const e = await api("/v1/explain", { user_id: state.user, item_id: String(itemId).trim(), count: state.count });
    const rows = [["verdict", e.verdict], ["reason", e.reason], ["channels", e.channels.join(", ") || "—"],
      ["recall #", e.recall_position || "—"], ["rank #", e.rank_position || "—"], ["feed #", e.feed_position || "—"],
      ["experiment", e.experiment || "default"], ["degraded", e.degraded.join(", ") || "—"]];
    box.replaceChildren(el("dl", { class: "explanation", "data-verdict": e.verdict },
      ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
  } catch (err) {
    box.textContent = String(err.message || err);
  }
}

async function loadStatus() {
  try {
    const s = await api("/v1/status");
    $("#models tbody").replaceChildren(...s.models.map((m) => el("tr", {},
      el("td", {}, m.name), el("td", {}, m.live || "—"),
      el("td", {}, m.canary ? `${m.canary} (${m.canary_percent}%)` : "—"))));
    $("#experiments").replaceChildren(...(s.experiment_layers.length ? s.experiment_layers.map((l) =>
      el("div", {}, `${l.name}: ` + l.experiments.map((e) => `${e.id} ${e.percent}%`).join(", "))) :
      [el("div", {}, "none configured (everyone gets the default)")]));
    $("#reports").replaceChildren(...s.reports.map((r) => reportImage(r.url, r.name)));
  } catch (err) {
    $("#experiments").textContent = String(err.message || err);
  }
}

function reportImage(path, name) {
  // Fetched with the key (an <img src> cannot send headers), then shown from a blob.
  const link = el("a", { href: "#", title: name }, name);
  const img = el("img", { alt: name });
  fetch(path, { headers: headers() }).then((r) => (r.ok ? r.blob() : null)).then((blob) => {
    if (blob) { img.src = URL.createObjectURL(blob); link.href = img.src; link.target = "_blank"; }
  });
  return el("div", {}, link, img);
}

function start() {
  const params = new URLSearchParams(location.search);
  state.user = (params.get("user") || "42").trim();
  state.count = Number(params.get("count") || 20);
  $("#user").value = state.user;
  $("#count").value = state.count;
  $("#api-key").value = localStorage.getItem("recsys.apiKey") || "";
  $("#user-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.user = $("#user").value.trim();
    state.count = Number($("#count").value) || 20;
    localStorage.setItem("recsys.apiKey", $("#api-key").value);
    history.replaceState(null, "", `?user=${encodeURIComponent(state.user)}`);
    loadFeed();
    loadStatus();
  });
  $("#explain-form").addEventListener("submit", (ev) => { ev.preventDefault(); explain($("#explain-item").value); });
  loadFeed();
  loadStatus();
}

start();
