// The handover console: sign in with your token, follow one handover, give what is waiting on you.
// Plain DOM and fetch. Everything that comes from the API goes into the page as text (textContent
// or text nodes), never as HTML. Forms are built once per pending input and kept while it is
// pending, so a poll never throws away what someone is typing, and an error leaves it in place.
"use strict";

(() => {
  const TOKEN_KEY = "oncall-handover.token";
  const SELECTED_KEY = "oncall-handover.selected";
  const POLL_MS = 2000;
  const LIST_POLL_MS = { idle: 2000, busy: 10000 };
  const ENDED = new Set(["completed", "cancelled", "failed"]);
  const OUTAGE = "waiting for the outage to be mitigated";
  const OUTCOMES = {
    pending: "pending",
    handed_over: "handed over",
    skipped: "skipped",
    failed: "failed",
    not_handed_over: "not handed over",
  };

  // What a signed-in session knows; signing out forgets it.
  const signedIn = () => ({
    token: null,
    me: null,
    selected: null,
    progress: null,
    runId: null,
    reportKey: null,
    listSignature: "",
    itemsSignature: "",
    notesSignature: "",
    digestSignature: "",
  });

  const state = {
    ...signedIn(),
    reportLoading: false,
    cards: new Map(),
    answers: 0,
    pollTimer: null,
    listTimer: null,
    seq: 0,
    reportUrl: null,
  };

  // The item kinds and the human inputs as the service declares them (GET /console/declarations,
  // loaded at start). A kind or an input with no hand-made row or card below still gets a plain
  // one from its declaration; `?plain` in the address shows every one that way.
  const declared = {
    kinds: [
      { field: "incidents", kind: "incident", noun: "incident", title: "Incidents", optional: false },
      { field: "tickets", kind: "ticket", noun: "ticket", title: "Pinned tickets", optional: false },
      { field: "rollouts", kind: "rollout", noun: "rollout", title: "Rollouts in flight", optional: false },
    ],
    inputs: [],
  };
  const PLAIN = new URLSearchParams(window.location.search).has("plain");

  async function loadDeclarations() {
    try {
      const answer = await fetch("/console/declarations", {
        headers: { Accept: "application/json" },
        signal: AbortSignal.timeout(10_000),
      });
      if (answer.ok) Object.assign(declared, await answer.json());
    } catch {
      // The built-in kinds above; inputs without a hand-made card wait for a reload.
    }
  }

  const $ = (id) => document.getElementById(id);
  let uidCounter = 0;
  const uid = (prefix) => `${prefix}-${++uidCounter}`;

  // --- DOM helpers: text only ------------------------------------------------------------

  function h(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function say(node, kind, text) {
    node.textContent = text;
    if (kind) node.dataset.kind = kind;
    else delete node.dataset.kind;
  }

  // A redraw waits while a mouse button or finger is down. The browser sends "click" only when
  // the press ends on the element it began on, so a redraw that moved the page in between (a card
  // gone, a row or a draft's hint added above) would swallow the press without a word.
  const press = { down: false, redraws: new Map() };
  function whenReleased(key, redraw) {
    if (press.down) press.redraws.set(key, redraw); // the latest of each kind is drawn
    else redraw();
  }
  function release() {
    press.down = false;
    setTimeout(() => {
      // After the click that the release makes, so that the press lands first.
      if (press.down) return;
      const redraws = [...press.redraws.values()];
      press.redraws.clear();
      for (const redraw of redraws) redraw();
    }, 0);
  }
  document.addEventListener("pointerdown", () => (press.down = true), true);
  document.addEventListener("pointerup", release, true);
  document.addEventListener("pointercancel", release, true);
  window.addEventListener("blur", release); // released outside the window

  function safeUrl(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
  }

  function parseTime(iso) {
    if (!iso) return NaN;
    return Date.parse(String(iso).replace(/(\.\d{3})\d+/, "$1"));
  }

  function fmtTime(iso) {
    const at = parseTime(iso);
    if (Number.isNaN(at)) return String(iso ?? "");
    return new Date(at).toLocaleString([], {
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hour12: false,
    });
  }

  function fmtDuration(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const days = Math.floor(total / 86400);
    const hours = Math.floor((total % 86400) / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const seconds = total % 60;
    const parts = [];
    if (days) parts.push(`${days} d`);
    if (days || hours) parts.push(`${hours} h`);
    if (days || hours || minutes) parts.push(`${minutes} min`);
    parts.push(`${seconds} s`);
    return parts.join(" ");
  }

  // Slack mrkdwn as a person reads it: <@U…> as the admin's name (the handover knows both), <url|label>
  // as its label (a link when it is http(s)), <#C…|name> as #name, <!here> as @here. Text nodes only.
  function slackText(text, progress) {
    const names = new Map();
    for (const admin of [progress.outgoing, progress.incoming]) {
      if (admin && admin.slack_id) names.set(admin.slack_id, admin.name);
    }
    const plain = (part) => part.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
    const source = String(text ?? "");
    const parts = [];
    let last = 0;
    for (const match of source.matchAll(/<([^<>|]+)(?:\|([^<>]*))?>/g)) {
      const [whole, target, label] = match;
      parts.push(plain(source.slice(last, match.index)));
      last = match.index + whole.length;
      if (target.startsWith("@")) {
        parts.push(`@${names.get(target.slice(1)) ?? label ?? target.slice(1)}`);
      } else if (target.startsWith("#")) {
        parts.push(`#${label ?? target.slice(1)}`);
      } else if (target.startsWith("!")) {
        parts.push(`@${label ?? target.slice(1)}`);
      } else {
        const url = safeUrl(target);
        const shown = plain(label ?? target);
        parts.push(url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, shown) : shown);
      }
    }
    parts.push(plain(source.slice(last)));
    return parts.filter((part) => part !== "");
  }

  function slackName(id, progress) {
    for (const admin of [progress.outgoing, progress.incoming]) {
      if (admin && admin.slack_id === id) return admin.name;
    }
    return id;
  }

  function errorRate(value) {
    return value === null || value === undefined ? "unknown" : `${value}%`;
  }

  function done(record) {
    return record ? `${record.by}, ${fmtTime(record.at)}` : "";
  }

  // --- the API ------------------------------------------------------------------------------

  async function api(method, path, body) {
    const init = { method, headers: { Authorization: `Bearer ${state.token}`, Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      return {
        status: 0,
        ok: false,
        data: { detail: "The endpoint could not be reached: try again shortly." },
      };
    }
    const text = await response.text();
    let data;
    try {
      data = text ? JSON.parse(text) : {};
    } catch (error) {
      // Not ours (a proxy's error page, say): its status line, and short plain text only.
      const plain =
        (response.headers.get("content-type") || "").startsWith("text/plain") && text.length < 300;
      data = { detail: plain ? text : response.statusText || `HTTP ${response.status}` };
    }
    return { status: response.status, ok: response.ok, data };
  }

  function detailOf(data) {
    const detail = data ? data.detail : undefined;
    if (typeof detail === "string") return detail;
    if (detail === undefined) return "no explanation was given";
    return JSON.stringify(detail);
  }

  function describeAnswer(result) {
    if (result.status === 200 || result.status === 201) {
      return { kind: "ok", text: `Accepted (${result.status}): ${result.data.message ?? "done"}` };
    }
    if (result.status === 202) {
      return {
        kind: "queued",
        text: `Queued (202): ${result.data.message ?? "kept until a worker is back"}`,
      };
    }
    if (result.status === 0) return { kind: "error", text: detailOf(result.data) };
    return { kind: "error", text: `Refused (${result.status}): ${detailOf(result.data)}` };
  }

  const path = (...parts) => "/" + parts.map((part) => encodeURIComponent(part)).join("/");

  // --- signing in and out ---------------------------------------------------------------------

  async function signIn(token) {
    const status = $("sign-in-status");
    if (!token) {
      say(status, "error", "Enter your token first.");
      $("token").focus();
      return;
    }
    say(status, "pending", "Checking your token…");
    state.token = token;
    const result = await api("GET", "/me");
    if (result.status === 200) {
      sessionStorage.setItem(TOKEN_KEY, token);
      state.me = result.data;
      // With payload encryption on, this browser's codec cookie: the Temporal UI decodes with it
      // (404 when encryption is off: nothing to do).
      api("POST", "/codec/session");
      $("token").value = "";
      say(status, null, "");
      showConsole();
      return;
    }
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    if (result.status === 401) {
      say(status, "error", `This token was not accepted (401): ${detailOf(result.data)}`);
    } else {
      say(status, "error", `Could not sign in (${result.status || "no answer"}): ${detailOf(result.data)}`);
    }
    showSignIn();
    $("token").focus();
  }

  function signOut(message) {
    state.seq += 1; // drops any answer still on its way
    fetch("/codec/session", { method: "DELETE" }).catch(() => {});
    clearTimeout(state.pollTimer);
    clearTimeout(state.listTimer);
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(SELECTED_KEY);
    Object.assign(state, signedIn());
    resetHandoverView();
    $("handover-list").replaceChildren();
    $("answers").replaceChildren();
    state.answers = 0;
    $("answers-count").textContent = "0";
    $("answers-box").hidden = true;
    say($("picker-status"), null, "");
    say($("sign-in-status"), message ? "error" : "ok", message || "Signed out.");
    showSignIn();
    $("token").focus();
  }

  function showSignIn() {
    $("who").hidden = true;
    $("console").hidden = true;
    $("sign-in").hidden = false;
  }

  function showConsole() {
    $("sign-in").hidden = true;
    $("console").hidden = false;
    $("who").hidden = false;
    $("actor").textContent = state.me.kind === "service" ? `${state.me.actor} (service)` : state.me.actor;
    renderList();
    const stored = sessionStorage.getItem(SELECTED_KEY);
    if (stored) select(stored);
    scheduleList();
  }

  function refused(result) {
    if (result.status === 401) {
      signOut("Your token is no longer accepted (401): sign in again.");
      return true;
    }
    return false;
  }

  // --- the list of handovers --------------------------------------------------------------

  async function loadMe() {
    const result = await api("GET", "/me");
    if (!state.token || refused(result)) return;
    if (!result.ok) {
      say(
        $("picker-status"),
        "error",
        `Could not list handovers (${result.status}): ${detailOf(result.data)}`,
      );
      return;
    }
    whenReleased("list", () => {
      state.me = result.data;
      renderList();
    });
  }

  function scheduleList() {
    clearTimeout(state.listTimer);
    if (!state.token) return;
    const wait = state.selected ? LIST_POLL_MS.busy : LIST_POLL_MS.idle;
    state.listTimer = setTimeout(async () => {
      await loadMe();
      scheduleList();
    }, wait);
  }

  function renderList() {
    const running = state.me ? state.me.handovers : [];
    const ended = state.me ? state.me.ended ?? [] : [];
    const signature = JSON.stringify([running, ended, state.selected]);
    if (signature !== state.listSignature) {
      state.listSignature = signature;
      // Running first; then those that have ended, marked, so that a report can still be opened.
      const choice = (item, hasEnded) =>
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: hasEnded ? "choice ended" : "choice",
              "aria-pressed": item.id === state.selected ? "true" : "false",
              "data-testid": `pick-${item.id}`,
              "data-id": item.id,
              "data-ended": hasEnded ? "true" : null,
            },
            h("span", { class: "choice-people" }, `${item.outgoing} → ${item.incoming}`),
            h(
              "span",
              { class: "choice-meta" },
              hasEnded
                ? `ended: ${item.phase}${item.ended_at ? " " + fmtTime(item.ended_at) : ""} · ` +
                    `${item.variant} · you: ${item.role}`
                : `${item.variant} · ${item.phase || "starting"} · you: ${item.role}`,
            ),
          ),
        );
      $("handover-list").replaceChildren(
        ...running.map((item) => choice(item, false)),
        ...ended.map((item) => choice(item, true)),
      );
    }
    const whose = state.me && state.me.kind === "service" ? "" : " involving you";
    let text = running.length
      ? `${running.length} running handover${running.length > 1 ? "s" : ""}${whose}${
          running.length > 1 && !state.selected ? ": pick one." : "."
        }`
      : `No running handover${whose}. This list refreshes by itself.`;
    if (ended.length) text += ` ${ended.length} ended: open one for its report.`;
    say($("picker-status"), null, text);
    if (!state.selected && running.length === 1) select(running[0].id);
  }

  // --- one handover -------------------------------------------------------------------------

  function select(id) {
    if (!id) return;
    if (id !== state.selected) {
      resetHandoverView();
      state.selected = id;
      sessionStorage.setItem(SELECTED_KEY, id);
      renderList();
      scheduleList();
    }
    $("handover").hidden = false;
    $("handover-title").textContent = `Handover ${id}`;
    poll();
  }

  function resetHandoverView() {
    for (const record of state.cards.values()) record.node.remove();
    state.cards.clear();
    state.progress = null;
    state.runId = null;
    state.reportKey = null;
    state.itemsSignature = "";
    state.notesSignature = "";
    state.digestSignature = "";
    $("items-body").replaceChildren();
    $("notes").replaceChildren();
    $("report").hidden = true;
    $("report-body").replaceChildren();
    $("digest-box").hidden = true;
    $("cancel-box").hidden = true;
    $("handover").hidden = true;
    say($("handover-status"), null, "");
    say($("todo-status"), null, "");
    for (const id of ["phase", "people", "variant", "overlap-left"]) $(id).textContent = "";
    for (const kind of declared.kinds) {
      const node = $(`count-${kind.field}`);
      if (kind.optional && node) node.parentNode.remove();
      else if (node) node.textContent = "";
    }
    $("summary-state").textContent = "";
    $("todo-empty").hidden = false;
    if (state.reportUrl) URL.revokeObjectURL(state.reportUrl);
    state.reportUrl = null;
  }

  async function poll() {
    clearTimeout(state.pollTimer);
    const id = state.selected;
    if (!id || !state.token) return;
    const seq = ++state.seq;
    const result = await api("GET", path("handovers", id));
    if (seq !== state.seq || id !== state.selected || !state.token) return; // a newer poll is under way
    if (refused(result)) return;
    if (result.ok) {
      whenReleased("handover", () => {
        if (seq === state.seq && id === state.selected && state.token) render(result.data);
      });
    } else {
      say(
        $("handover-status"),
        "error",
        `Could not read the handover (${result.status}): ${detailOf(result.data)}`,
      );
    }
    state.pollTimer = setTimeout(poll, POLL_MS);
  }

  function roleIn(progress) {
    const actor = (state.me && state.me.actor ? state.me.actor : "").toLowerCase();
    if (actor === progress.request.outgoing) return "outgoing";
    if (actor === progress.request.incoming) return "incoming";
    return "observer";
  }

  function render(progress) {
    if (progress.run_id !== state.runId) {
      // Another run of the same handover id (a new handover of the same outgoing admin).
      for (const record of state.cards.values()) record.node.remove();
      state.cards.clear();
      state.reportKey = null;
      $("report").hidden = true;
      $("report-body").replaceChildren();
      state.runId = progress.run_id;
    }
    const moved = state.progress && state.progress.phase !== progress.phase;
    state.progress = progress;
    if (moved) loadMe(); // the list shows phases too, and ended handovers move to its end
    const request = progress.request;
    const ended = ENDED.has(progress.phase);
    const role = roleIn(progress);
    if (!$("handover-status").dataset.kind || $("handover-status").dataset.kind === "error") {
      say($("handover-status"), null, "");
    }
    $("handover").hidden = false;
    $("handover-title").textContent = `Handover ${progress.handover_id}`;
    const phase = $("phase");
    phase.textContent = progress.phase;
    phase.dataset.phase = progress.phase;
    $("people").textContent =
      `${request.outgoing} → ${request.incoming}` + (role === "observer" ? "" : ` (you: ${role})`);
    const variant = [request.variant];
    if (request.reason) variant.push(request.reason);
    if (request.offboarding) variant.push("offboarding");
    if (request.demo) variant.push("DEMO");
    $("variant").textContent = variant.join(" · ");
    tick();
    for (const kind of declared.kinds) {
      const items = progress[kind.field] ?? [];
      if (kind.optional && !items.length && !$(`count-${kind.field}`)) continue; // added later: none here
      const handed = items.filter((item) => item.outcome === "handed_over").length;
      const node = counter(kind);
      node.textContent =
        progress.inventory_at || items.length ? `${handed} of ${items.length} handed over` : "not listed yet";
      node.dataset.handed = String(handed);
      node.dataset.total = String(items.length);
    }
    $("summary-state").textContent = summaryState(progress);
    renderNotes(progress);
    renderTodo(progress, role, ended);
    renderItems(progress);
    renderDigest(progress);
    $("cancel-box").hidden = ended || (role === "observer" && state.me.kind !== "service");
    if (ended) loadReport(progress);
  }

  // Each kind's count in the facts: the page has the runbook's three; a kind added later gets one.
  function counter(kind) {
    const id = `count-${kind.field}`;
    if (!$(id)) {
      const node = h("dd", { "data-testid": id, id });
      $("summary-state").parentNode.before(h("div", {}, h("dt", {}, capitalized(kind.field)), node));
    }
    return $(id);
  }

  function capitalized(text) {
    const words = text.replaceAll("_", " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function summaryState(progress) {
    const summary = progress.summary;
    if (!summary) return ENDED.has(progress.phase) ? "not posted" : "not posted yet";
    if (summary.acknowledged) return `acknowledged by ${done(summary.acknowledged)}`;
    return `posted ${fmtTime(summary.posted_at)}, waiting for ${progress.request.incoming}'s :+1:`;
  }

  function tick() {
    const progress = state.progress;
    const node = $("overlap-left");
    if (!progress) return;
    if (!progress.overlap_ends_at) {
      node.textContent =
        progress.request.variant === "routine"
          ? "no timer (PagerDuty's rotation gives the overlap)"
          : "not started yet";
      return;
    }
    const left = parseTime(progress.overlap_ends_at) - Date.now();
    node.textContent =
      left > 0
        ? `${fmtDuration(left)} (ends ${fmtTime(progress.overlap_ends_at)})`
        : `none: ended ${fmtTime(progress.overlap_ends_at)}`;
  }

  function renderNotes(progress) {
    const notes = [];
    const request = progress.request;
    if (progress.lead) notes.push(`Lead: ${progress.lead}; shadow: ${progress.shadow ?? "?"}.`);
    if (progress.major_incident) {
      notes.push(
        [
          `Major incident #${progress.major_incident.number} ${progress.major_incident.title}`,
          `(${progress.major_incident.status}).`,
        ].join(" "),
      );
    }
    if (progress.mitigated) {
      notes.push(
        `Mitigated: ${done(progress.mitigated)}` +
          (progress.mitigation_note ? `: ${progress.mitigation_note}.` : "."),
      );
    }
    if (progress.acting_as && progress.acting_as !== request.outgoing) {
      notes.push(`Writes are made as ${progress.acting_as}, never from ${request.outgoing}.`);
    }
    if (progress.sessions_ended_first.length) {
      notes.push(`Impersonation sessions ended first: ${progress.sessions_ended_first.join(", ")}.`);
    }
    if (progress.override) {
      const more = progress.extensions.length ? `, continued ${progress.extensions.length} time(s)` : "";
      notes.push(
        `PagerDuty override ${progress.override.id}: incoming is primary ` +
          `${fmtTime(progress.override.start)} – ${fmtTime(progress.override.end)}${more}.`,
      );
    }
    if (progress.on_call) {
      notes.push(
        progress.on_call.on_call
          ? "Incoming is on call on the schedule during the overlap."
          : "Incoming is NOT on call on the schedule during the overlap: check PagerDuty.",
      );
    }
    for (const thread of progress.unclear_threads) {
      notes.push(`Unclear thread ${thread.thread_ts} flagged by ${done(thread.flagged)}: ${thread.question}`);
    }
    for (const refusal of progress.rejected) {
      notes.push(
        `Refused input ${refusal.kind}${refusal.item_id ? ` for ${refusal.item_id}` : ""} ` +
          `from ${refusal.actor} (${fmtTime(refusal.at)}): ${refusal.reason}`,
      );
    }
    if (progress.cancelled) {
      notes.push(`Cancelled by ${done(progress.cancelled)}: ${progress.cancelled.reason}`);
    }
    if (progress.error) notes.push(`Failed: ${progress.error}`);
    const signature = JSON.stringify(notes);
    if (signature === state.notesSignature) return;
    state.notesSignature = signature;
    $("notes").replaceChildren(...notes.map((text) => h("li", {}, text)));
  }

  // --- what is waiting on you ---------------------------------------------------------------

  function keyOf(wait) {
    return wait.kind === "declare_mitigated" || !wait.item_id ? wait.kind : `${wait.kind}:${wait.item_id}`;
  }

  function mine(progress, role, ended) {
    if (ended || !state.me) return [];
    const actor = state.me.actor.toLowerCase();
    const waits = progress.pending.filter((wait) => wait.owner.toLowerCase() === actor);
    // Several of one kind for incoming (an alert storm has thousands): one input for them all first.
    for (const [each, all] of [
      ["take_rollout_ownership", "take_all_rollouts"],
      ["acknowledge_incident", "acknowledge_all_incidents"],
    ]) {
      const count = waits.filter((w) => w.kind === each).length;
      if (count >= 2) waits.unshift({ kind: all, owner: actor, item_id: null });
    }
    // Several status paragraphs owed: one for those that share a cause, picked or suggested.
    if (waits.filter((w) => w.kind === "submit_status").length >= 2) {
      waits.unshift({ kind: "submit_status_for_incidents", owner: actor, item_id: null });
    }
    // Either admin may say the outage is mitigated, whoever leads.
    if (
      progress.phase === OUTAGE &&
      role !== "observer" &&
      !waits.some((w) => w.kind === "declare_mitigated")
    ) {
      waits.unshift({
        kind: "declare_mitigated",
        owner: actor,
        item_id: progress.request.major_incident ?? null,
      });
    }
    return waits;
  }

  function renderTodo(progress, role, ended) {
    const waits = mine(progress, role, ended);
    const wanted = waits.map(keyOf);
    const list = $("todo-list");
    // Gone: given (by you or elsewhere), or the handover moved on.
    for (const [key, record] of [...state.cards]) {
      // Kept while its answer is on the way (a poll can see the input applied first).
      if (wanted.includes(key) || record.form.dataset.busy) continue;
      if (record.node.contains(document.activeElement)) {
        const next = nextFocus(record.node);
        record.node.remove();
        next.focus();
      } else {
        record.node.remove();
      }
      state.cards.delete(key);
      if (record.lastAnswer) {
        logAnswer(record.lastAnswer);
        say($("todo-status"), record.lastKind, record.lastAnswer);
      }
    }
    // New: built once, in the order the handover lists them.
    waits.forEach((wait, index) => {
      const key = wanted[index];
      if (state.cards.has(key)) {
        state.cards.get(key).refresh?.(progress);
        return;
      }
      const record = buildCard(wait, progress);
      if (!record) return;
      state.cards.set(key, record);
      const later = wanted.slice(index + 1).find((other) => state.cards.has(other));
      if (later) list.insertBefore(record.node, state.cards.get(later).node);
      else list.append(record.node);
    });
    $("todo-empty").hidden = state.cards.size > 0;
    $("todo-empty").textContent = ended
      ? "The handover has ended: nothing more is asked of anyone."
      : role === "observer"
        ? "You are not one of this handover's admins: nothing is asked of you."
        : "Nothing is waiting on you right now.";
  }

  function nextFocus(node) {
    const focusable = (card) => card && card.querySelector("textarea, input, button");
    let sibling = node.nextElementSibling;
    while (sibling && !focusable(sibling)) sibling = sibling.nextElementSibling;
    if (!sibling) {
      sibling = node.previousElementSibling;
      while (sibling && !focusable(sibling)) sibling = sibling.previousElementSibling;
    }
    return focusable(sibling) || $("todo-title");
  }

  function logAnswer(text) {
    state.answers += 1;
    $("answers").prepend(h("li", {}, text));
    $("answers-count").textContent = String(state.answers);
    $("answers-box").hidden = false;
  }

  function field(label, name, options = {}) {
    const id = uid(`f-${name}`);
    const hintId = options.hint ? `${id}-hint` : null;
    const attrs = {
      id,
      name,
      "aria-describedby": hintId,
      required: options.required !== false,
      maxlength: options.maxlength,
      autocomplete: "off",
    };
    let input;
    if (options.multiline) {
      input = h("textarea", { ...attrs, rows: options.rows ?? 3 });
    } else {
      input = h("input", {
        ...attrs,
        type: options.type ?? "text",
        inputmode: options.inputmode ?? (options.type === "number" ? "decimal" : null),
        min: options.min,
        max: options.max,
        step: options.step,
        spellcheck: options.type === "number" ? null : "false",
      });
    }
    if (options.value !== undefined && options.value !== null) input.value = String(options.value);
    const wrap = h(
      "div",
      { class: options.wide ? "field wide" : "field" },
      h("label", { for: id }, label),
      input,
      options.hint ? h("p", { class: "hint", id: hintId }, options.hint) : null,
    );
    return { wrap, input };
  }

  function statusParagraph(status) {
    return h(
      "dl",
      { class: "given" },
      h("div", {}, h("dt", {}, "Hypothesis"), h("dd", {}, status.hypothesis)),
      h("div", {}, h("dt", {}, "Last action"), h("dd", {}, status.last_action)),
      h("div", {}, h("dt", {}, "Next action"), h("dd", {}, status.next_action)),
    );
  }

  function buildCard(wait, progress) {
    return (!PLAIN && handMadeCard(wait, progress)) || plainCard(wait, progress);
  }

  // An input with no hand-made card (or all, with ?plain): a plain form from its declaration.
  function plainCard(wait, progress) {
    const input = declared.inputs.find((each) => each.name === wait.kind);
    if (!input || !input.in_console) return null;
    const id = wait.item_id;
    const kind = declared.kinds.find((each) => each.field === input.items);
    const item = kind && id ? (progress[kind.field] ?? []).find((each) => (each[kind.kind] ?? {}).id === id) : null;
    const fields = input.fields.map((f) => ({
      spec: f,
      ...field(f.label, f.name, {
        required: f.required,
        hint: f.hint,
        maxlength: f.maxlength,
        multiline: f.multiline,
        rows: 2,
        wide: f.multiline,
        inputmode: f.number ? "decimal" : null,
      }),
    }));
    const value = (f) => {
      const text = f.input.value.trim();
      if (text === "" && f.spec.nullable) return null;
      return f.spec.number ? number(text) : text;
    };
    const about = id ? ` ${id}` : "";
    return card({
      testid: `${input.name}-form${id ? `-${id}` : ""}`,
      title: `${input.summary}${about}`,
      meta: item ? plainRow(kind, item).what || null : null,
      intro: `From ${input.given_by}.`,
      fields,
      button: "Send",
      label: `${input.summary}${about}`,
      url: `${path("handovers", progress.handover_id)}/${input.route.replace("{item}", encodeURIComponent(id ?? ""))}`,
      body: fields.length ? () => Object.fromEntries(fields.map((f) => [f.spec.name, value(f)])) : undefined,
    });
  }

  function handMadeCard(wait, progress) {
    const id = wait.item_id;
    const base = path("handovers", progress.handover_id);
    const incident = progress.incidents.find((item) => item.incident.id === id);
    const ticket = progress.tickets.find((item) => item.ticket.id === id);
    const rollout = progress.rollouts.find((item) => item.rollout.id === id);
    const incidentTitle = incident
      ? `Incident #${incident.incident.number}: ${incident.incident.title}`
      : `Incident ${id}`;
    const incidentMeta = incident
      ? [
          incident.incident.id,
          incident.incident.status,
          `${incident.incident.urgency} urgency`,
          incident.incident.service_name,
        ].join(" · ")
      : null;
    const incidentLink = incident && safeUrl(incident.incident.html_url);
    const rolloutTitle = rollout ? `Rollout ${rollout.rollout.id}: ${rollout.rollout.flag}` : `Rollout ${id}`;
    const rolloutMeta = rollout
      ? [
          rollout.rollout.state,
          `ramp ${rollout.rollout.ramp_percent}%`,
          `error rate ${errorRate(rollout.rollout.error_rate)}`,
        ].join(" · ")
      : null;

    switch (wait.kind) {
      case "submit_status": {
        const hypothesis = field("Current hypothesis", "hypothesis", { multiline: true, maxlength: 2000 });
        const last = field("Last action", "last_action", { multiline: true, maxlength: 2000 });
        last.input.addEventListener("input", () => (last.input.dataset.settled = "1"));
        offerDraft(last, incident && incident.draft);
        const next = field("Next action", "next_action", { multiline: true, maxlength: 2000 });
        const record = card({
          testid: `status-form-${id}`,
          title: incidentTitle,
          meta: incidentMeta,
          link: incidentLink ? ["Open in PagerDuty", incidentLink] : null,
          intro: "Your status paragraph: it is posted as a note on the incident before it is reassigned.",
          fields: [hypothesis, last, next],
          button: "Send status",
          label: `Status for ${id}`,
          url: `${base}/incidents/${encodeURIComponent(id)}/status`,
          body: () => ({
            hypothesis: hypothesis.input.value.trim(),
            last_action: last.input.value.trim(),
            next_action: next.input.value.trim(),
          }),
        });
        record.refresh = (current) => {
          const now = current.incidents.find((item) => item.incident.id === id);
          offerDraft(last, now && now.draft);
        };
        return record;
      }
      case "submit_status_for_incidents":
        return groupStatusCard(progress, base);
      case "link_engineering_issue": {
        const issue = field("Engineering issue", "issue", {
          hint: "A URL or an issue key, e.g. ENG-1234.",
          maxlength: 500,
        });
        return card({
          testid: `link-form-${id}`,
          title: ticket ? `Ticket ${ticket.ticket.id}: ${ticket.ticket.subject}` : `Ticket ${id}`,
          meta: ticket ? `${ticket.ticket.customer} · waiting on engineering, no issue linked` : null,
          fields: [issue],
          button: "Link issue",
          label: `Engineering issue for ${id}`,
          url: `${base}/tickets/${encodeURIComponent(id)}/engineering-link`,
          body: () => ({ issue: issue.input.value.trim() }),
        });
      }
      case "annotate_rollout": {
        const current = rollout ? rollout.rollout : {};
        const ramp = field("Ramp %", "ramp_percent", {
          type: "number",
          min: 0,
          max: 100,
          step: "any",
          value: current.ramp_percent,
        });
        // Text, not a number field: "unknown" is an answer (the console has no figure, or nobody knows).
        const errors = field("Error rate %", "error_rate", {
          inputmode: "decimal",
          value: current.error_rate ?? "unknown",
          hint: "A percentage, or unknown.",
        });
        const nextStep = field("Next planned ramp step", "next_step", {
          multiline: true,
          rows: 2,
          maxlength: 2000,
          wide: true,
          hint: "e.g. +15% tomorrow if errors stay under 0.5%",
        });
        return card({
          testid: `annotation-form-${id}`,
          title: rolloutTitle,
          meta: rolloutMeta,
          intro: "Ramp and error rate are the console's current figures: correct them if you know better.",
          fields: [ramp, errors, nextStep],
          grid: true,
          button: "Send annotation",
          label: `Annotation for ${id}`,
          url: `${base}/rollouts/${encodeURIComponent(id)}/annotation`,
          body: () => ({
            ramp_percent: number(ramp.input.value),
            error_rate: /^(unknown)?$/i.test(errors.input.value.trim())
              ? null // unknown, or left blank
              : number(errors.input.value),
            next_step: nextStep.input.value.trim(),
          }),
        });
      }
      case "acknowledge_incident": {
        const given = incident && incident.status;
        return card({
          testid: `ack-form-${id}`,
          title: incidentTitle,
          meta: incidentMeta,
          link: incidentLink ? ["Open in PagerDuty", incidentLink] : null,
          extra: given
            ? [
                h("p", { class: "hint" }, `Status from ${done(incident.status_given)}:`),
                statusParagraph(given),
              ]
            : [h("p", { class: "hint" }, "No status paragraph (emergency): read the context digest below.")],
          button: "Acknowledge",
          label: `Acknowledged ${id}`,
          url: `${base}/incidents/${encodeURIComponent(id)}/ack`,
        });
      }
      case "acknowledge_all_incidents":
        return card({
          testid: "ack-all-form",
          title: "Every incident waiting for your acknowledgement",
          intro: "One input for every incident handed over to you that is ready; each is recorded in the report.",
          button: "Acknowledge all",
          label: "Acknowledged all incidents",
          url: `${base}/incidents/ack-all`,
        });
      case "take_all_rollouts":
        return card({
          testid: "own-all-form",
          title: "Every annotated rollout",
          intro: "Take ownership of every annotated rollout at once; each is recorded in the report.",
          button: "Take ownership of all",
          label: "Took ownership of all rollouts",
          url: `${base}/rollouts/ownership-all`,
        });
      case "take_rollout_ownership": {
        const note = rollout && rollout.annotation;
        return card({
          testid: `ownership-form-${id}`,
          title: rolloutTitle,
          meta: rolloutMeta,
          extra: note
            ? [
                h(
                  "dl",
                  { class: "given" },
                  h("div", {}, h("dt", {}, "Ramp"), h("dd", {}, `${note.ramp_percent}%`)),
                  h("div", {}, h("dt", {}, "Error rate"), h("dd", {}, errorRate(note.error_rate))),
                  h("div", {}, h("dt", {}, "Next step"), h("dd", {}, note.next_step)),
                ),
              ]
            : [],
          button: "Take ownership",
          label: `Took ownership of ${id}`,
          url: `${base}/rollouts/${encodeURIComponent(id)}/ownership`,
        });
      }
      case "acknowledge_summary": {
        const summary = progress.summary;
        return card({
          testid: "summary-ack-form",
          title: "The Slack summary",
          meta: summary ? `posted ${fmtTime(summary.posted_at)} in ${summary.channel}` : null,
          extra: summary ? [h("p", { class: "quote" }, ...slackText(summary.text, progress))] : [],
          button: "Acknowledge summary",
          label: "Acknowledged the summary",
          url: `${base}/summary/ack`,
        });
      }
      case "declare_mitigated": {
        const note = field("Note (optional)", "note", {
          multiline: true,
          rows: 2,
          maxlength: 2000,
          required: false,
          hint: "What mitigated it, e.g. failed over to the replica.",
        });
        const major = progress.major_incident;
        return card({
          testid: "mitigated-form",
          title: "Is the outage mitigated?",
          meta: major ? `Major incident #${major.number}: ${major.title} (${major.status})` : null,
          intro: "The formal handover starts once either of you says so (or the major incident is resolved).",
          fields: [note],
          button: "Mitigated",
          label: "Declared the outage mitigated",
          url: `${base}/mitigated`,
          body: () => ({ note: note.input.value.trim() || null }),
        });
      }
      default:
        return null;
    }
  }

  // The status form's draft of the last action: PagerDuty's latest note, to confirm or change.
  // The notes are read beside the forms, so a draft can come after the form is drawn: it goes in
  // only if nobody has written in the field (settled: it has its draft, or the person wrote in it,
  // even to empty it) and nobody is in it.
  function offerDraft(last, draft) {
    const input = last.input;
    if (!draft || input.dataset.settled || input === document.activeElement) return;
    input.value = draft;
    input.dataset.settled = "1";
    const hint = h(
      "p",
      { class: "hint", id: `${input.id}-hint` },
      "Draft: the incident's latest note in PagerDuty. Confirm it or change it.",
    );
    input.setAttribute("aria-describedby", hint.id);
    last.wrap.append(hint);
  }

  // One status paragraph for incidents that share a cause: pick them, or take a suggested group.
  function groupStatusCard(progress, base) {
    const waiting = progress.incidents.filter((item) => item.outcome === "pending" && !item.status_given);
    const boxes = waiting.map((item) => {
      const id = uid(`pick-${item.incident.id}`);
      const box = h("input", { type: "checkbox", id, value: item.incident.id, "data-testid": "pick" });
      const label = `${item.incident.id} · #${item.incident.number} ${item.incident.title}`;
      return { box, wrap: h("li", {}, box, " ", h("label", { for: id }, label)) };
    });
    const pickGroup = (ids) => {
      for (const each of boxes) each.box.checked = ids.includes(each.box.value);
    };
    const suggested = (progress.status_groups ?? []).map((group) => {
      const label = `${group.label}: ${group.incident_ids.length} incidents`;
      const button = h("button", { type: "button", class: "secondary", "data-testid": "group" }, label);
      button.addEventListener("click", () => pickGroup(group.incident_ids));
      return button;
    });
    const hypothesis = field("Current hypothesis", "hypothesis", { multiline: true, maxlength: 2000 });
    const last = field("Last action", "last_action", { multiline: true, maxlength: 2000 });
    const next = field("Next action", "next_action", { multiline: true, maxlength: 2000 });
    const record = card({
      testid: "group-status-form",
      title: "One status for incidents that share a cause",
      intro:
        "Pick the incidents (or a group PagerDuty suggests): each gets this paragraph as its own note, " +
        "and is reassigned.",
      extra: [
        suggested.length ? h("p", { class: "hint" }, "Suggested: ", ...suggested) : null,
        h("ul", { class: "picks" }, ...boxes.map((each) => each.wrap)),
      ],
      fields: [hypothesis, last, next],
      button: "Send status for the picked incidents",
      label: "Status for several incidents",
      url: `${base}/incidents/status`,
      body: () => ({
        incident_ids: boxes.filter((each) => each.box.checked).map((each) => each.box.value),
        hypothesis: hypothesis.input.value.trim(),
        last_action: last.input.value.trim(),
        next_action: next.input.value.trim(),
      }),
    });
    // An incident that has its status now (from here or elsewhere) leaves the list.
    record.refresh = (current) => {
      const still = new Set(
        current.incidents
          .filter((item) => item.outcome === "pending" && !item.status_given)
          .map((item) => item.incident.id),
      );
      for (const each of boxes) if (!still.has(each.box.value)) each.wrap.remove();
    };
    return record;
  }

  function number(text) {
    const trimmed = String(text).trim();
    if (trimmed === "") return null;
    const value = Number(trimmed);
    return Number.isFinite(value) ? value : trimmed; // the API explains what is wrong with it
  }

  function card(spec) {
    const headingId = uid("card");
    const answer = h("p", {
      class: "answer",
      role: "status",
      "aria-live": "polite",
      "data-testid": "answer",
    });
    const button = h("button", { type: "submit", "data-testid": "submit" }, spec.button);
    const fields = (spec.fields ?? []).map((f) => f.wrap);
    const form = h(
      "form",
      { "data-testid": spec.testid, "aria-labelledby": headingId, novalidate: true },
      fields.length ? h("div", { class: spec.grid ? "fields grid" : "fields" }, fields) : null,
      h("div", { class: "actions" }, button),
      answer,
    );
    const node = h(
      "li",
      { class: "card" },
      h("h4", { id: headingId }, spec.title),
      spec.meta ? h("p", { class: "meta" }, spec.meta) : null,
      spec.link
        ? h(
            "p",
            { class: "meta" },
            h("a", { href: spec.link[1], target: "_blank", rel: "noopener noreferrer" }, spec.link[0]),
          )
        : null,
      spec.intro ? h("p", { class: "hint" }, spec.intro) : null,
      ...(spec.extra ?? []),
      form,
    );
    const record = { node, form, lastAnswer: null, lastKind: null };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (form.dataset.busy) return;
      form.dataset.busy = "1";
      form.setAttribute("aria-busy", "true");
      button.setAttribute("aria-disabled", "true");
      say(answer, "pending", "Sending…");
      const result = await api("POST", spec.url, spec.body ? spec.body() : undefined);
      delete form.dataset.busy;
      form.removeAttribute("aria-busy");
      button.removeAttribute("aria-disabled");
      if (refused(result)) return;
      const told = describeAnswer(result);
      say(answer, told.kind, told.text);
      record.lastAnswer = `${spec.label}: ${told.text}`;
      record.lastKind = told.kind;
      if (told.kind === "error") {
        const first = form.querySelector("textarea, input");
        if (first && result.status === 422) first.focus();
      }
      poll();
    });
    return record;
  }

  // --- the items table ---------------------------------------------------------------------

  // Rows made by hand for the runbook's kinds; any other kind (or all, with ?plain) gets a plain one.
  const ROWS = {
    incidents: (item) => ({
      id: item.incident.id,
      what: `#${item.incident.number} ${item.incident.title}`,
      detail: item.detail ?? (item.rescanned ? "found by the re-scan" : ""),
    }),
    tickets: (item) => ({
      id: item.ticket.id,
      what: `${item.ticket.subject} (${item.action})`,
      detail: item.detail ?? (item.engineering_issue ? `issue ${item.engineering_issue}` : ""),
    }),
    rollouts: (item) => ({
      id: item.rollout.id,
      what: `${item.rollout.flag} (${item.rollout.state}, ${item.rollout.ramp_percent}%)`,
      detail: item.detail ?? "",
    }),
  };

  function plainRow(kind, item) {
    const listed = item[kind.kind] ?? {};
    const what = listed.title ?? listed.name ?? listed.subject ?? listed.flag ?? "";
    return { id: listed.id, what, detail: item.detail ?? "" };
  }

  function itemRows(report) {
    const rows = [];
    for (const kind of declared.kinds) {
      const made = ROWS[kind.field] && !PLAIN ? ROWS[kind.field] : (item) => plainRow(kind, item);
      for (const item of report[kind.field] ?? []) {
        rows.push({ kind: capitalized(kind.noun), stage: item.stage, outcome: item.outcome, ...made(item) });
      }
    }
    return rows;
  }

  function outcomeBadge(outcome) {
    return h("span", { class: `badge ${outcome}` }, OUTCOMES[outcome] ?? outcome);
  }

  function renderItems(progress) {
    const rows = itemRows(progress);
    const signature = JSON.stringify(rows);
    if (signature === state.itemsSignature) return;
    state.itemsSignature = signature;
    $("items-body").replaceChildren(
      ...(rows.length
        ? rows.map((row) =>
            h(
              "tr",
              { "data-testid": `item-${row.id}`, "data-outcome": row.outcome },
              h("td", {}, row.kind),
              h("td", {}, h("span", { class: "id" }, row.id), " ", row.what),
              h("td", { "data-testid": "stage" }, row.stage),
              h("td", { "data-testid": "outcome" }, outcomeBadge(row.outcome)),
              h("td", {}, row.detail),
            ),
          )
        : [h("tr", {}, h("td", { colspan: 5, class: "muted" }, "Nothing listed yet."))]),
    );
  }

  // --- the emergency digest -------------------------------------------------------------

  function renderDigest(progress) {
    const digest = progress.digest;
    const box = $("digest-box");
    if (!digest) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const signature = JSON.stringify(digest);
    if (signature === state.digestSignature) return;
    state.digestSignature = signature;
    const entries = (list) =>
      h(
        "ul",
        {},
        list.map((entry) =>
          h(
            "li",
            {},
            `${entry.at ? fmtTime(entry.at) + " " : ""}${slackName(entry.who, progress)}: `,
            ...slackText(entry.text, progress),
          ),
        ),
      );
    const parts = [h("p", { class: "hint" }, `Built ${fmtTime(digest.built_at)}.`)];
    for (const item of digest.incidents)
      parts.push(h("h4", {}, `${item.incident_id}: ${item.title}`), entries(item.entries));
    for (const item of digest.tickets)
      parts.push(h("h4", {}, `${item.ticket_id}: ${item.subject}`), entries(item.entries));
    if (digest.channel.length) {
      parts.push(h("h4", {}, "The channel, last hour"));
      parts.push(
        h(
          "ul",
          {},
          digest.channel.map((thread) =>
            h(
              "li",
              {},
              `${slackName(thread.who, progress)} (${thread.ts}): `,
              ...slackText(thread.text, progress),
              thread.replies.length ? entries(thread.replies) : null,
            ),
          ),
        ),
      );
    }
    if (digest.gaps.length)
      parts.push(h("p", { class: "hint" }, `Could not read: ${digest.gaps.join("; ")}`));
    $("digest-body").replaceChildren(...parts);
  }

  // --- the report -------------------------------------------------------------------------

  async function loadReport(progress) {
    const key = `${progress.handover_id}#${progress.run_id}`;
    if (state.reportKey === key || state.reportLoading) return;
    state.reportLoading = true;
    const result = await api("GET", `${path("handovers", progress.handover_id)}/report`);
    state.reportLoading = false;
    if (refused(result) || !state.progress || state.progress.run_id !== progress.run_id) return;
    if (!result.ok) {
      // 409 while it still runs (a race with the phase): the next poll asks again.
      say(
        $("handover-status"),
        "error",
        `The report is not ready (${result.status}): ${detailOf(result.data)}`,
      );
      return;
    }
    state.reportKey = key;
    whenReleased("report", () => {
      if (!state.progress || state.progress.run_id !== progress.run_id) return; // another one opened since
      renderReport(result.data);
      say($("handover-status"), "ok", `The handover has ended (${result.data.phase}): the report is below.`);
    });
  }

  function renderReport(report) {
    const shown = declared.kinds.filter((kind) => !kind.optional || (report[kind.field] ?? []).length);
    const counts = shown.map((kind) => {
      const items = report[kind.field] ?? [];
      const handed = items.filter((item) => item.outcome === "handed_over").length;
      return `${handed} of ${items.length} ${kind.field.replaceAll("_", " ")}`;
    });
    const at = fmtTime(report.completed_at);
    let ending = `${report.phase} at ${at}`; // completed, cancelled or failed, as it ended
    if (report.cancelled) ending += ` by ${report.cancelled.by}: ${report.cancelled.reason}`;
    if (report.error) ending += `: ${report.error}`;
    const summaryLine = report.summary
      ? slackText(report.summary.text.split("\n")[0], report)
      : ["No summary was posted."];
    const parts = [
      h(
        "p",
        { "data-testid": "report-phase", "data-phase": report.phase },
        h("strong", {}, "Ended: "),
        ending,
      ),
      h("p", { "data-testid": "report-summary" }, h("strong", {}, "Summary: "), ...summaryLine),
      h(
        "p",
        { "data-testid": "report-counts" },
        h("strong", {}, "Handed over: "),
        `${counts.join(", ")} (every item's outcome is in the items table below).`,
      ),
    ];
    if (report.audit) {
      parts.push(
        h(
          "p",
          { "data-testid": "report-audit" },
          h("strong", {}, "Audit: "),
          report.audit.missing_sessions.length
            ? `no platform.impersonation_ended for ${report.audit.missing_sessions.join(", ")}: ` +
                "look at these before revoking access."
            : `every ended session (${report.audit.checked_sessions.length}) is in the audit log.`,
        ),
      );
    }
    if (state.reportUrl) URL.revokeObjectURL(state.reportUrl);
    state.reportUrl = URL.createObjectURL(
      new Blob([JSON.stringify(report, null, 2)], { type: "application/json" }),
    );
    parts.push(
      h(
        "p",
        {},
        h(
          "a",
          {
            href: state.reportUrl,
            download: `${report.handover_id}-report.json`,
            "data-testid": "report-download",
          },
          "Download the report (JSON)",
        ),
      ),
    );
    $("report-body").replaceChildren(...parts);
    $("report").hidden = false;
  }

  // --- wiring ------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", (event) => {
      event.preventDefault();
      signIn($("token").value.trim());
    });
    $("sign-out").addEventListener("click", () => signOut(null));
    $("refresh-list").addEventListener("click", () => loadMe());
    $("handover-list").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-id]");
      if (button) select(button.dataset.id);
    });
    $("open-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const id = $("open-id").value.trim();
      if (id) select(id);
    });
    const cancelForm = $("cancel-form");
    cancelForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = cancelForm.querySelector("[data-testid=answer]");
      if (!state.progress || cancelForm.dataset.busy) return;
      cancelForm.dataset.busy = "1";
      say(answer, "pending", "Sending…");
      const result = await api("POST", `${path("handovers", state.progress.handover_id)}/cancel`, {
        reason: $("cancel-reason").value.trim(),
      });
      delete cancelForm.dataset.busy;
      if (refused(result)) return;
      const told = describeAnswer(result);
      say(answer, told.kind, told.text);
      if (told.kind !== "error") logAnswer(`Cancel: ${told.text}`);
      poll();
    });
    setInterval(tick, 1000);

    // Made by hand until the declarations are in; then plain rows and cards for the rest too.
    loadDeclarations().then(() => {
      if (state.progress) render(state.progress);
    });
    const stored = sessionStorage.getItem(TOKEN_KEY);
    if (stored) {
      signIn(stored);
    } else {
      showSignIn();
    }
  });
})();
