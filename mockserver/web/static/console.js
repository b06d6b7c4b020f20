// The OTP Mock console's one script: live inbox, message detail, API Testing, controls, keys.
// Values from requests are only ever set with textContent or attributes, never as HTML.
"use strict";
(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  const CONSOLE = document.body.dataset.console || "/_mock/console/";
  const HIDDEN_POLL_MS = 5000;
  const FLOOD_ROWS = 10; // rows a flood shows: its newest
  const FLOOD_DRAW_MS = 1000; // a flood is drawn at most this often
  let paused = false; // the inbox's Pause: its list stays as it is

  // ---- small helpers ------------------------------------------------------------------------
  let toastTimer = 0;
  function toast(text) {
    const box = $("#toast");
    if (!box) return;
    box.textContent = text;
    box.classList.add("shown");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => box.classList.remove("shown"), 1800);
  }

  async function copyText(text, what) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (error) { // not a secure context (a LAN address over http): the old way
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    toast(`Copied ${what}`);
  }

  const hms = (iso) => (iso ? iso.slice(11, 19) : "");

  function base64(text) {
    const bytes = new TextEncoder().encode(text);
    let binary = "";
    bytes.forEach((b) => { binary += String.fromCharCode(b); });
    return btoa(binary);
  }

  async function control(method, path, body) {
    const response = await fetch(path, {
      method, headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body || {}), credentials: "same-origin",
    });
    let data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    return { ok: response.ok, status: response.status, data };
  }

  const messageUrl = (id) => `${CONSOLE}messages/${encodeURIComponent(id)}`;

  // ---- the inbox ----------------------------------------------------------------------------
  function setText(element, value) { // a change of text only: no layout or paint for the same value
    if (element && element.textContent !== value) element.textContent = value;
  }

  function setField(row, name, value) {
    const cell = $(`[data-field="${name}"]`, row);
    setText(cell, value);
    return cell;
  }

  function setTime(row, name, iso) {
    const cell = setField(row, name, hms(iso));
    if (cell && cell.getAttribute("datetime") !== iso) { cell.setAttribute("datetime", iso); cell.title = iso; }
  }

  function fill(row, data) {
    row.dataset.id = data.message_id;
    row.dataset.devKey = data.dev_key;
    const link = setField(row, "to", data.to);
    if (link) link.setAttribute("href", messageUrl(data.message_id));
    setField(row, "template_name", data.template_name);
    setField(row, "template_id", data.template_id);
    setField(row, "channel", data.channel);
    const status = setField(row, "status", data.status);
    if (status && status.dataset.status !== data.status) status.dataset.status = data.status;
    setField(row, "code", data.code || "—");
    setField(row, "dev_key", data.dev_key);
    setTime(row, "virtual_at", data.virtual_at);
    if (data.sent_at) setTime(row, "sent_at", data.sent_at); // null on an update: keep it
    if (data.cost !== null && data.cost !== undefined) setField(row, "cost", data.cost.toFixed(4));
  }

  function filters() {
    const value = (id) => (($(id) || {}).value || "").trim().toLowerCase();
    return { q: value("#q"), to: value("#f-to"), template: value("#f-template"), status: value("#f-status") };
  }

  function matches(row, f) {
    const text = (name) => (($(`[data-field="${name}"]`, row) || {}).textContent || "").toLowerCase();
    if (f.to && !text("to").includes(f.to)) return false;
    if (f.template && !`${text("template_id")} ${text("template_name")}`.includes(f.template)) return false;
    if (f.status && ($('[data-field="status"]', row) || { dataset: {} }).dataset.status !== f.status) return false;
    if (f.q) {
      const all = ["to", "template_id", "template_name", "code", "status", "channel", "dev_key"].map(text).join(" ");
      if (!`${all} ${row.dataset.id}`.toLowerCase().includes(f.q)) return false;
    }
    return true;
  }

  function applyFilters() {
    const f = filters();
    const rows = $$("#rows tr.msg");
    let shown = 0;
    rows.forEach((row) => { row.hidden = !matches(row, f); if (!row.hidden) shown += 1; });
    const empty = $("#empty");
    if (empty) empty.hidden = shown > 0;
  }

  function keepFiltersInAddress() {
    const query = new URLSearchParams(location.search);
    const f = filters();
    [["q", f.q], ["to", f.to], ["template", f.template], ["status", f.status]].forEach(([k, v]) => {
      if (v) query.set(k, v); else query.delete(k);
    });
    const rest = query.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : ""));
  }

  // ---- the live feed: one poll per browser, whatever the number of tabs ---------------------
  // A tab asks /_mock/inbox only when no other tab of the same view (all keys, or one dev_key)
  // told it what changed within its interval: every answer is shared over a BroadcastChannel, so
  // ten open tabs cost the mock about one poll. A hidden tab draws nothing and asks nothing while
  // another tab asks; shown again, it asks for the newest. A page of another stream (a reset, or
  // another mock on the same port) makes a tab start over with the newest.
  function startFeed({ devKey, cursor: start, stream: origin, every, limit, newest, onPage, onLive }) {
    let cursor = start;
    let stream = origin || ""; // the stream the cursor belongs to: a reset (or another mock) makes another
    let timer = 0;
    let asking = false;
    let again = false; // asked to start again while asking: ask once more at once
    let behind = false; // hidden, it let pages go by: it asks for the newest when shown
    const name = `otp-mock-inbox ${JSON.stringify(devKey || null)}`; // a dev_key "*" is not all keys
    const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(name) : null;
    const later = () => (document.hidden ? HIDDEN_POLL_MS : every * (0.9 + 0.2 * Math.random())); // one tab wins
    const schedule = (ms = later()) => { clearTimeout(timer); timer = setTimeout(ask, ms); };

    // Take a page of what changed after `after` (or the newest, on a resync); false: a gap.
    function take(after, page) {
      if (page.stream && page.stream !== stream) { // the state was reset, or this is another mock: start over
        stream = page.stream;
        restart();
        return true;
      }
      if (page.resync) { // the newest messages: asked for (after 0), after a reset, or a flood outran the poll
        if (page.cursor > cursor || page.cursor < after) { // newer, or the stream was reset
          cursor = page.cursor;
          onPage(page, { flood: after > 0 && page.cursor >= after });
        }
        return true;
      }
      if (after > cursor) return false; // it missed what came between
      if (page.cursor < cursor) return true; // an older view than this tab's
      cursor = page.cursor;
      onPage(page, { flood: false }); // an empty page too: a flood is over
      return true;
    }

    async function ask() {
      if (asking) return;
      asking = true;
      const after = cursor;
      if (channel) channel.postMessage({ asking: true }); // the other tabs wait for this answer
      try {
        const query = new URLSearchParams({ after: String(after), limit: String(after > 0 ? limit : newest || limit) });
        if (devKey) query.set("dev_key", devKey);
        if (stream) query.set("stream", stream);
        const response = await fetch(`/_mock/inbox?${query}`, { headers: { Accept: "application/json" }, cache: "no-store" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const page = await response.json();
        if (channel) channel.postMessage({ after, page });
        take(after, page);
        onLive(true);
      } catch (error) {
        onLive(false, error.message);
      }
      asking = false;
      schedule(again ? 0 : later());
      again = false;
    }

    if (channel) {
      channel.onmessage = ({ data }) => {
        if (!data) return;
        if (data.asking) { if (!asking) schedule(); return; }
        if (!data.page) return;
        if (document.hidden) { behind = true; schedule(); return; } // another tab asks; this one catches up when shown
        if (data.after <= 0 && cursor > 0 && data.page.stream === stream) { schedule(); return; } // another's restart
        if (!take(data.after, data.page)) { schedule(0); return; }
        onLive(true);
        schedule();
      };
    }
    function restart() { // the next page: the newest, as a resync
      cursor = 0;
      if (asking) again = true; else schedule(0);
    }

    document.addEventListener("visibilitychange", () => {
      if (document.hidden) { schedule(HIDDEN_POLL_MS); return; }
      if (behind) { behind = false; restart(); } else schedule(0);
    });
    schedule(every);
    return { restart };
  }

  function startInbox(table) {
    const tbody = $("#rows");
    const template = $("#row-template");
    const limit = Number(table.dataset.limit) || 200; // rows the page keeps

    const build = (data) => { const row = template.content.firstElementChild.cloneNode(true); fill(row, data); return row; };

    // A flood (more changed between two polls than a page holds) is drawn once a second, its
    // newest FLOOD_ROWS only: what a tab costs stays bounded whatever the rate of sends.
    const notice = $("#flood");
    const pause = $("#pause");
    let flooding = false;
    let pending = null; // the newest flood page not drawn yet
    let drawn = 0; // when a flood page was last drawn
    let drawTimer = 0;

    function draw(page) {
      if (page.resync) { // the rows there are refilled: only the values that changed are laid out again
        const shown = page.messages.slice(0, flooding ? FLOOD_ROWS : limit);
        const rows = Array.from(tbody.children);
        shown.forEach((data, index) => { if (rows[index]) fill(rows[index], data); else tbody.append(build(data)); });
        rows.slice(shown.length).forEach((row) => row.remove());
      } else {
        [...page.messages].reverse().forEach((data) => {
          const known = $(`tr.msg[data-id="${CSS.escape(data.message_id)}"]`, tbody);
          if (known) { fill(known, data); return; }
          if (!data.sent_at) return; // a change to a message older than the list: not a new one
          const row = build(data);
          row.classList.add("fresh"); // a highlight, removed once: two paints, not an animation's frames
          setTimeout(() => row.classList.remove("fresh"), 1500);
          tbody.prepend(row);
        });
        while (tbody.children.length > limit) tbody.lastElementChild.remove();
      }
      showClock(page.clock);
      if (page.messages.length || page.resync) applyFilters();
    }

    function drawPending() {
      clearTimeout(drawTimer);
      drawTimer = 0;
      if (!pending || paused) return;
      const page = pending;
      pending = null;
      drawn = Date.now();
      draw(page);
    }

    function apply(page, { flood }) {
      const over = flooding && !flood;
      if (notice && notice.hidden === flood) notice.hidden = !flood;
      flooding = flood;
      if (paused) { showClock(page.clock); return; } // the newest are asked for again on Resume
      if (flood) {
        pending = page;
        if (!drawTimer) drawTimer = setTimeout(drawPending, Math.max(0, drawn + FLOOD_DRAW_MS - Date.now()));
        return;
      }
      if (over) { pending = null; drawPending(); feed.restart(); return; } // a whole page of the newest again
      draw(page);
    }

    if (pause) {
      pause.addEventListener("click", () => {
        paused = !paused;
        pause.textContent = paused ? "Resume" : "Pause";
        pause.setAttribute("aria-pressed", String(paused));
        live(true);
        if (!paused) { pending = null; feed.restart(); } // the newest messages, as they are now
      });
    }

    $$("[data-filter], #q").forEach((input) => input.addEventListener("input", () => { applyFilters(); keepFiltersInAddress(); }));
    const key = $("#f-key");
    if (key) key.addEventListener("change", () => $("#filters").requestSubmit());
    applyFilters();
    const feed = startFeed({
      devKey: table.dataset.devKey, cursor: Number(table.dataset.cursor) || 0, stream: table.dataset.stream,
      every: Number(table.dataset.pollMs) || 500, newest: limit, onPage: apply, onLive: live,
      limit: Number(table.dataset.pollLimit) || 50, // a poll's rows: a flood shows its newest
    });
  }

  function live(ok, why) {
    const badge = $("#live");
    if (!badge) return;
    setText(badge, !ok ? `not live (${why}): retrying` : paused ? "paused" : "live");
    if (badge.classList.contains("down") === ok) badge.classList.toggle("down", !ok);
  }

  function showClock(clock) {
    if (!clock) return;
    const now = $("#virtual-now");
    if (now && now.textContent !== hms(clock.now)) { now.textContent = hms(clock.now); now.setAttribute("datetime", clock.now); }
    setText($("#clock-offset"), clock.offset_seconds ? `(+${Math.round(clock.offset_seconds * 10) / 10} s)` : "");
  }

  // ---- a message's detail -------------------------------------------------------------------
  function startDetail(detail) {
    const id = detail.dataset.id;
    let floodLook = 0;

    async function refresh() {
      const response = await fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
      if (!response.ok) return;
      const fresh = $("#detail", new DOMParser().parseFromString(await response.text(), "text/html"));
      if (fresh) { detail.replaceChildren(...fresh.childNodes); detail.dataset.cursor = fresh.dataset.cursor; }
    }

    detail.addEventListener("click", async (event) => {
      const button = event.target.closest("[data-action]");
      if (!button) return;
      button.disabled = true;
      const result = await control("POST", `/_mock/messages/${encodeURIComponent(id)}/${button.dataset.action}`, {});
      const message = result.ok ? `Done: the message is now ${result.data.status}.` : `Refused (${result.status}): ${(result.data || {}).message || ""}`;
      await refresh();
      const box = $("#action-result");
      if (box) box.textContent = message;
    });
    startFeed({
      devKey: detail.dataset.devKey, cursor: Number(detail.dataset.cursor) || 0, stream: detail.dataset.stream,
      every: Number(detail.dataset.pollMs) || 500,
      limit: Number(detail.dataset.pollLimit) || 50, onLive: () => {},
      onPage: (page, { flood }) => {
        if (flood) { // this message may have changed among many: look again, at most every FLOOD_DRAW_MS
          if (!floodLook) floodLook = setTimeout(() => { floodLook = 0; refresh(); }, FLOOD_DRAW_MS);
        } else if (page.resync || page.messages.some((m) => m.message_id === id)) {
          refresh();
        }
      },
    });
  }

  // ---- API Testing --------------------------------------------------------------------------
  function startApiForm(form) {
    const stored = JSON.parse(sessionStorage.getItem("otp-mock-key") || "{}");
    ["dev_key", "dev_secret"].forEach((name) => { if (stored[name] && form.elements[name]) form.elements[name].value = stored[name]; });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const fields = form.elements;
      const key = fields.dev_key.value;
      const secret = fields.dev_secret.value;
      sessionStorage.setItem("otp-mock-key", JSON.stringify({ dev_key: key, dev_secret: secret }));
      let body;
      try { body = requestBody(form); } catch (error) { showResponse(null, error.message); return; }
      const headers = { Authorization: `Basic ${base64(`${key}:${secret}`)}`, "Content-Type": "application/json" };
      if (fields.prefer && fields.prefer.value) headers.Prefer = `code=${fields.prefer.value}`;
      try {
        const response = await fetch(form.dataset.api, { method: "POST", headers, body: JSON.stringify(body) });
        showResponse(response, await response.text());
      } catch (error) {
        showResponse(null, `The request failed: ${error.message}`);
      }
    });
  }

  function requestBody(form) {
    const fields = form.elements;
    if (form.id === "verify-form") return { message_id: fields.message_id.value.trim(), verify_code: fields.verify_code.value.trim() };
    const template = { id: fields.template.value.trim() };
    if (fields.language.value) template.language = fields.language.value;
    if (fields.params.value.trim()) {
      let params;
      try { params = JSON.parse(fields.params.value); } catch (error) { throw new Error(`Params: expected a JSON object such as {"name": "Bob"}: ${error.message}`); }
      template.params = params;
    }
    return { to: fields.to.value.trim(), template };
  }

  function showResponse(response, text) {
    const status = $("#http-status");
    const body = $("#response-body");
    const links = $("#response-links");
    links.replaceChildren();
    if (!response) { status.textContent = text; status.className = "http-status bad"; body.textContent = ""; return; }
    status.textContent = `HTTP ${response.status} ${response.statusText}`;
    status.className = `http-status ${response.ok ? "ok" : "bad"}`;
    let data = null;
    try { data = JSON.parse(text); body.textContent = JSON.stringify(data, null, 2); } catch (error) { body.textContent = text; }
    if (data && data.message_id && response.ok) {
      const open = document.createElement("a");
      open.href = messageUrl(data.message_id);
      open.textContent = "Open the message (its code)";
      const verify = document.createElement("a");
      verify.href = `${CONSOLE}verify?message_id=${encodeURIComponent(data.message_id)}`;
      verify.textContent = "Verify it";
      links.append(open, " · ", verify);
    }
  }

  // ---- Controls -----------------------------------------------------------------------------
  function startControl(form) {
    let armed = 0;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (form.dataset.confirm && Date.now() - armed > 4000) {
        armed = Date.now();
        $("#control-result").textContent = form.dataset.confirm;
        return;
      }
      const body = {};
      new FormData(form).forEach((value, name) => { if (String(value).trim() !== "") body[name] = String(value).trim(); });
      if (form.elements.namedItem("name") && !body.name) body.name = null;
      if (event.submitter && event.submitter.dataset.seconds) body.advance_seconds = event.submitter.dataset.seconds;
      if (body.advance_seconds !== undefined) body.advance_seconds = Number(body.advance_seconds);
      const result = await control(form.dataset.method, form.dataset.path, body);
      if (result.ok) { location.reload(); return; }
      $("#control-result").textContent = `Refused (${result.status}): ${(result.data || {}).message || ""}`;
    });
  }

  // ---- copying and the keyboard -------------------------------------------------------------
  function codeOf(element) {
    const row = element && element.closest ? element.closest("tr.msg") : null;
    const code = row ? $('[data-field="code"]', row) : $("#code");
    const text = code ? code.textContent.trim() : "";
    return text && text !== "—" ? text : "";
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    if (button.dataset.copy === "curl") { copyText($("#curl").textContent, "the curl command"); return; }
    const code = codeOf(button);
    if (code) copyText(code, `code ${code}`); else toast("This message has no code");
  });

  function visibleRows() { return $$("#rows tr.msg").filter((row) => !row.hidden); }

  function move(step) {
    const rows = visibleRows();
    if (!rows.length) return;
    const current = document.activeElement ? document.activeElement.closest("tr.msg") : null;
    let index = rows.indexOf(current);
    index = index < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, index + step));
    rows[index].focus();
    rows[index].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const typing = target.matches && target.matches("input, select, textarea");
    if (typing) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const row = target.closest ? target.closest("tr.msg") : null;
    switch (event.key) {
      case "/": { const search = $("#q"); if (search) { event.preventDefault(); search.focus(); search.select(); } break; }
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter":
        if (row && target === row) { const link = $("a.open", row); if (link) location.assign(link.href); }
        break;
      case "c": {
        const code = codeOf(row || target);
        if (code) copyText(code, `code ${code}`);
        break;
      }
      case "Escape": {
        const back = $("#back");
        if (back) location.assign(back.href); else if (row) row.blur();
        break;
      }
      default:
    }
  });

  // ---- start --------------------------------------------------------------------------------
  const table = $("#inbox");
  if (table) startInbox(table);
  const detail = $("#detail");
  if (detail) startDetail(detail);
  $$("form.api").forEach(startApiForm);
  $$("form.control").forEach(startControl);
})();
