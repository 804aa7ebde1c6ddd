// The registrar dashboard: loads the scope and the pools from the JSON
// API, then follows the watch stream (Server-Sent Events) and applies
// each change. No framework, no build step.
"use strict";

const API = "/api/v1";
/// Pools whose PEs are loaded at once; more are listed without their PEs.
const MAX_POOLS_LOADED = 100;
/// PE rows shown per pool.
const MAX_ROWS = 200;
/// Changes kept in the "Recent changes" list.
const MAX_CHANGES = 60;

const state = {
  scope: null,
  pools: new Map(), // handle -> {policy, count, pes: Map<id, PoolElement> | null}
  selected: null, // {pool, pe}
  fresh: new Set(), // "pool/pe" of rows that just appeared
};

const $ = (id) => document.getElementById(id);
const hex = (n) => "0x" + (n >>> 0).toString(16).padStart(8, "0");
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const clock = (ms) => new Date(ms).toLocaleTimeString();

async function getJson(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (r.status === 404) return null;
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

async function loadScope() {
  state.scope = await getJson(API + "/scope");
  scheduleRender();
}

async function loadPool(handle) {
  const p = await getJson(API + "/pools/" + encodeURIComponent(handle) + "?limit=" + MAX_ROWS);
  if (!p) {
    state.pools.delete(handle);
  } else {
    state.pools.set(handle, {
      policy: p.policy,
      count: p.pool_elements.length,
      truncated: p.truncated,
      pes: new Map(p.pool_elements.map((e) => [e.id, e])),
    });
  }
  scheduleRender();
}

async function loadAll() {
  await loadScope();
  const list = await getJson(API + "/pools?limit=10000");
  state.pools = new Map();
  for (const p of list.pools) {
    state.pools.set(p.handle, { policy: p.policy, count: p.pool_elements, pes: null });
  }
  await Promise.all(list.pools.slice(0, MAX_POOLS_LOADED).map((p) => loadPool(p.handle)));
  scheduleRender();
}

// ---- the watch ----

let scopeTimer = null;
function refreshScopeSoon() {
  if (scopeTimer) return;
  scopeTimer = setTimeout(() => { scopeTimer = null; loadScope().catch(() => {}); }, 500);
}

function apply(c) {
  addChange(c);
  if (state.selected && c.pool === state.selected.pool && c.pe === state.selected.pe) {
    loadHistory(state.selected.pool, state.selected.pe);
  }
  if (c.pool === undefined) { refreshScopeSoon(); return; }
  let pool = state.pools.get(c.pool);
  if (c.kind === "removed") {
    if (pool && pool.pes) {
      pool.pes.delete(c.pe);
      pool.count = pool.pes.size;
      if (pool.pes.size === 0) state.pools.delete(c.pool);
    } else if (pool) {
      loadPool(c.pool).catch(() => {});
    }
  } else if (c.element) {
    if (!pool) {
      pool = { policy: c.element.policy.type, count: 0, pes: new Map() };
      state.pools.set(c.pool, pool);
    }
    if (pool.pes) {
      if (!pool.pes.has(c.pe)) state.fresh.add(c.pool + "/" + c.pe);
      pool.pes.set(c.pe, c.element);
      pool.count = pool.pes.size;
    }
  } else {
    loadPool(c.pool).catch(() => {});
  }
  refreshScopeSoon();
  scheduleRender();
}

function watch() {
  const live = $("live");
  const es = new EventSource(API + "/watch");
  let first = true;
  es.addEventListener("ready", (e) => {
    const r = JSON.parse(e.data);
    live.textContent = "live";
    live.className = "badge on";
    // A fresh start or a lost position: reload; a resumed stream replays.
    if (first || r.reset) loadAll().catch(() => {});
    first = false;
  });
  es.onmessage = (e) => apply(JSON.parse(e.data));
  es.onerror = () => {
    live.textContent = "reconnecting";
    live.className = "badge off";
  };
}

// ---- history ----

async function loadHistory(pool, pe) {
  const h = await getJson(API + "/pools/" + encodeURIComponent(pool) + "/elements/" + pe + "/history");
  $("history-hint").hidden = true;
  const items = (h ? h.changes : []).map((c) => "<li>" + changeLine(c, false) + "</li>").join("");
  $("history").innerHTML =
    '<p><b class="mono">' + esc(pool) + "</b> PE <b class=\"mono\">" + hex(pe) + "</b></p>" +
    (items ? "<ol>" + items + "</ol>" : '<p class="muted">Nothing kept about this PE.</p>');
}

function select(pool, pe) {
  state.selected = { pool, pe };
  loadHistory(pool, pe).catch(() => {});
  scheduleRender();
}

// ---- rendering ----

function changeLine(c, withPe) {
  let what = '<span class="badge ' + esc(c.kind) + '">' + esc(c.kind.replace("_", " ")) + "</span> ";
  if (withPe && c.pool !== undefined) {
    what += '<span class="mono">' + esc(c.pool) + " " + hex(c.pe) + "</span> ";
  }
  if (c.peer !== undefined) what += "registrar <span class=\"mono\">" + hex(c.peer) + "</span> ";
  if (c.previous_home !== undefined) what += "home " + hex(c.previous_home) + " → ";
  if (c.home !== undefined && c.kind !== "reregistered") {
    what += (c.previous_home === undefined ? "home " : "") + hex(c.home) + " ";
  }
  if (c.reason) what += '<span class="muted">(' + esc(c.reason) + ")</span>";
  return '<span class="time">' + clock(c.time_ms) + "</span>" + what;
}

function addChange(c) {
  if (c.kind === "reregistered" || c.kind === "updated") return; // routine refreshes
  const li = document.createElement("li");
  li.innerHTML = changeLine(c, true);
  const list = $("changes");
  list.prepend(li);
  while (list.children.length > MAX_CHANGES) list.lastChild.remove();
}

function policyValues(p) {
  const v = [];
  for (const k of ["weight", "priority", "degradation", "weight_dpf", "load_dpf", "distance"]) {
    if (p[k] !== undefined) v.push(k.replace("_", " ") + " " + p[k]);
  }
  return v.join(", ");
}

function loadCell(p) {
  if (p.load_percent === undefined) return '<span class="muted">–</span>';
  const pct = Math.max(0, Math.min(100, p.load_percent));
  return '<div class="load"><div class="bar"><i style="width:' + pct + '%"></i></div>' + pct.toFixed(1) + "%</div>";
}

function renderScope() {
  const s = state.scope;
  if (!s) return;
  const r = s.registrar;
  $("reg-id").textContent = hex(r.id);
  document.title = "rserpool registrar " + hex(r.id);
  const rows = [
    ["ID", '<span class="mono">' + hex(r.id) + "</span>"],
    ["transport", esc(r.transport)],
    ["ASAP", '<span class="mono">' + r.asap.map(esc).join("<br>") + "</span>"],
    ["ENRP", '<span class="mono">' + r.enrp.map(esc).join("<br>") + "</span>"],
    ["synchronised", r.synchronised ? "yes" : "no (alone or first)"],
    ["pools", r.pools],
    ["PEs", r.pool_elements + " (" + r.owned_pool_elements + " homed here)"],
    ["associations", r.asap_associations + " ASAP, " + r.enrp_associations + " ENRP"],
    ["MaxHResItems", r.max_hres_items],
  ];
  $("registrar").innerHTML = rows.map(([k, v]) => "<dt>" + k + "</dt><dd>" + v + "</dd>").join("");
  $("peers").querySelector("tbody").innerHTML = s.peers.map((p) =>
    '<tr data-peer="' + p.id + '"><td class="mono">' + hex(p.id) + '</td><td><span class="badge ' + p.state + '">' +
    p.state.replace("_", " ") + '</span></td><td class="mono">' + esc(p.address || "–") + "</td><td>" + p.pool_elements + "</td></tr>"
  ).join("");
  $("peers").hidden = s.peers.length === 0;
  $("no-peers").hidden = s.peers.length !== 0;
}

function renderPools() {
  const me = state.scope ? state.scope.registrar.id : null;
  const handles = [...state.pools.keys()].sort();
  $("pool-count").textContent = handles.length ? "(" + handles.length + ")" : "";
  $("no-pools").hidden = handles.length !== 0;
  const html = handles.map((h) => {
    const pool = state.pools.get(h);
    let body;
    if (!pool.pes) {
      body = '<p class="muted" style="padding:.4rem .6rem">' + pool.count + ' PEs (not loaded) <button data-load="' + esc(h) + '">load</button></p>';
    } else {
      const pes = [...pool.pes.values()].sort((a, b) => a.id - b.id).slice(0, MAX_ROWS);
      body = "<table><thead><tr><th>PE</th><th>home</th><th>load</th><th>policy values</th><th>transport</th><th>lifetime</th></tr></thead><tbody>" +
        pes.map((e) => {
          const key = h + "/" + e.id;
          const cls = ["pe"];
          if (state.fresh.has(key)) cls.push("fresh");
          if (state.selected && state.selected.pool === h && state.selected.pe === e.id) cls.push("selected");
          const home = '<span class="mono">' + hex(e.home) + "</span>" + (e.home === me ? ' <span class="badge self">here</span>' : "");
          return '<tr class="' + cls.join(" ") + '" data-pe="' + esc(key) + '" data-pool="' + esc(h) + '" data-id="' + e.id + '">' +
            '<td class="mono">' + hex(e.id) + "</td><td>" + home + "</td><td>" + loadCell(e.policy) + "</td><td>" +
            esc(policyValues(e.policy)) + '</td><td class="mono">' + esc(e.transport.protocol) + " " +
            e.transport.addresses.map(esc).join(", ") + "</td><td>" + (e.lifetime_ms / 1000) + " s</td></tr>";
        }).join("") + "</tbody></table>" +
        (pool.truncated || pool.pes.size > MAX_ROWS ? '<p class="muted" style="padding:.4rem .6rem">first ' + MAX_ROWS + " shown</p>" : "");
    }
    return '<div class="pool" data-pool-card="' + esc(h) + '"><h3><span class="handle">' + esc(h) + "</span>" +
      '<span class="badge">' + esc(pool.policy) + '</span><span class="muted">' + pool.count + " PE" + (pool.count === 1 ? "" : "s") +
      "</span></h3>" + body + "</div>";
  }).join("");
  $("pools").innerHTML = html;
  state.fresh.clear();
}

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  // Batches bursts of changes into one redraw.
  setTimeout(() => { renderPending = false; renderScope(); renderPools(); }, 100);
}

$("pools").addEventListener("click", (ev) => {
  const load = ev.target.closest("[data-load]");
  if (load) { loadPool(load.dataset.load).catch(() => {}); return; }
  const row = ev.target.closest("tr.pe");
  if (row) select(row.dataset.pool, Number(row.dataset.id));
});

// Peer states change without an event when a peer turns suspect.
setInterval(() => loadScope().catch(() => {}), 5000);
watch();
