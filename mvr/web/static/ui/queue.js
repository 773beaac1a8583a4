// The queue page: one Alpine.js component over MVR's JSON API (no build step).
"use strict";

/** How often the queue is fetched again, in milliseconds. */
const POLL_MS = 2000;
/** Tickets per page (the API serves at most 100). */
const PAGE_SIZE = 50;
/** sessionStorage entry that keeps the API key for this tab only. */
const KEY_STORAGE = "mvr.apiKey";
/** Every ticket status the filter offers. */
const STATUSES = ["pending", "processing", "completed", "taken", "resolved", "failed"];

/** The server said 401: the page asks for a key and stops this request. */
class KeyNeeded extends Error {}

/** The server answered 4xx/5xx: ``message`` is its {error, detail} in one line. */
class ApiError extends Error {
  constructor(status, body) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? "");
    super(`${body.error ?? "HTTP " + status}: ${detail}`);
    this.status = status;
  }
}

/** S to two decimals, cut rather than rounded (0.9985 is "0.99", never "1.00"). */
function twoDecimals(value) {
  return (Math.floor(value * 100) / 100).toFixed(2);
}

/** Age of an ISO 8601 instant, in the largest whole unit: "42 s", "5 min", "3 h", "2 d". */
function ageOf(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  const units = [[86400, "d"], [3600, "h"], [60, "min"]];
  for (const [size, name] of units) {
    if (seconds >= size) return `${Math.floor(seconds / size)} ${name}`;
  }
  return `${seconds} s`;
}

function isTyping(target) {
  return ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName) || target.isContentEditable;
}

document.addEventListener("alpine:init", () => {
  Alpine.data("queuePage", () => ({
    items: [],
    total: 0,
    offset: 0,
    limit: PAGE_SIZE,
    filters: { status: "", category: "" },
    statuses: STATUSES,
    categories: [],
    detail: null,
    correction: "",
    message: "",
    messageIsError: false,
    keyInput: "",
    busy: false,

    init() {
      this.loadCategories();
      this.refresh();
      setInterval(() => this.refresh(), POLL_MS);
    },

    /** Call the API; JSON in and out, X-API-Key when one is stored. */
    async request(method, path, body) {
      const headers = { Accept: "application/json" };
      const key = sessionStorage.getItem(KEY_STORAGE);
      if (key) headers["X-API-Key"] = key;
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const response = await fetch(path, { method, headers, body: body && JSON.stringify(body) });
      if (response.status === 401) {
        this.askForKey();
        throw new KeyNeeded();
      }
      const payload = await response.json().catch(() => ({}));
      if (!response.ok) throw new ApiError(response.status, payload);
      return payload;
    },

    askForKey() {
      if (!this.$refs.keyDialog.open) this.$refs.keyDialog.showModal();
    },

    keyEntered() {
      if (!this.keyInput) return;
      sessionStorage.setItem(KEY_STORAGE, this.keyInput);
      this.keyInput = "";
      this.refresh();
    },

    say(text, isError = false) {
      this.message = text;
      this.messageIsError = isError;
    },

    /** Run ``action``; a failure becomes the page's message, never an uncaught error. */
    async attempt(action) {
      try {
        await action();
      } catch (ex) {
        if (!(ex instanceof KeyNeeded)) this.say(ex.message, true);
      }
    },

    queuePath() {
      const query = new URLSearchParams({ limit: this.limit, offset: this.offset });
      for (const [name, value] of Object.entries(this.filters)) if (value) query.set(name, value);
      return `/queue?${query}`;
    },

    async refresh() {
      if (this.busy || this.$refs.keyDialog.open) return;
      this.busy = true;
      await this.attempt(async () => {
        const page = await this.request("GET", this.queuePath());
        this.items = page.items;
        this.total = page.total;
        this.learnCategories(page.items.map((item) => item.category));
        if (this.detail) this.show(await this.request("GET", this.statusPath(this.detail.ticket_id)));
      });
      this.busy = false;
    },

    reload() {
      this.offset = 0;
      this.refresh();
    },

    page(step) {
      this.offset = Math.max(0, this.offset + step * this.limit);
      this.refresh();
    },

    /** Categories MVR knows, from its public OpenAPI document (the correction's enum). */
    async loadCategories() {
      await this.attempt(async () => {
        const spec = await this.request("GET", "/openapi.json");
        this.learnCategories(spec.components?.schemas?.CorrectionIn?.properties?.category?.enum ?? []);
      });
    },

    learnCategories(names) {
      const known = new Set(this.categories);
      for (const name of names) if (name) known.add(name);
      this.categories = [...known].sort();
    },

    statusPath(ticketId) {
      return `/tickets/${encodeURIComponent(ticketId)}/status`;
    },

    show(doc) {
      const changed = !this.detail || this.detail.ticket_id !== doc.ticket_id;
      this.detail = doc;
      this.learnCategories(Object.keys(doc.scores ?? {}));
      if (changed) this.correction = doc.correction?.category ?? doc.category ?? "";
    },

    async open(ticketId) {
      await this.attempt(async () => this.show(await this.request("GET", this.statusPath(ticketId))));
    },

    close() {
      this.detail = null;
    },

    async takeNext() {
      await this.attempt(async () => {
        try {
          this.show(await this.request("GET", "/tickets/next"));
          this.say(`Took ticket ${this.detail.ticket_id}.`);
        } catch (ex) {
          if (!(ex instanceof ApiError && ex.status === 404)) throw ex;
          this.say("Nothing to take: no completed ticket is waiting.");
        }
        this.refresh();
      });
    },

    /** POST a lifecycle step (``resolve`` or ``requeue``) for the open ticket. */
    async act(step) {
      if (!this.detail) return;
      const ticketId = this.detail.ticket_id;
      await this.attempt(async () => {
        this.show(await this.request("POST", `/tickets/${encodeURIComponent(ticketId)}/${step}`));
        this.say(step === "resolve" ? `Resolved ${ticketId}.` : `Put ${ticketId} back in the queue.`);
        this.refresh();
      });
    },

    async correct() {
      if (!this.detail || !this.correction) return;
      const ticketId = this.detail.ticket_id;
      const body = { category: this.correction };
      await this.attempt(async () => {
        this.show(await this.request("POST", `/tickets/${encodeURIComponent(ticketId)}/category`, body));
        this.say(`Recorded ${this.correction} as the category of ${ticketId}.`);
        this.refresh();
      });
    },

    /** Move the open ticket ``step`` rows down (or up) the visible queue. */
    move(step) {
      const index = this.items.findIndex((item) => item.ticket_id === this.detail?.ticket_id);
      const next = this.items[Math.min(this.items.length - 1, Math.max(0, index + step))];
      if (next) this.open(next.ticket_id);
    },

    shortcut(event) {
      if (event.ctrlKey || event.metaKey || event.altKey || this.$refs.keyDialog.open) return;
      if (event.key === "Escape") return this.close();
      if (isTyping(event.target)) return;
      const actions = {
        n: () => this.takeNext(),
        r: () => this.allows("resolve") && this.act("resolve"),
        b: () => this.allows("requeue") && this.act("requeue"),
        c: () => document.getElementById("correct-category")?.focus(),
        j: () => this.move(1),
        k: () => this.move(-1),
      };
      const action = actions[event.key];
      if (action) {
        event.preventDefault();
        action();
      }
    },

    /** Whether the open ticket's status allows ``action`` (its status document lists them). */
    allows(action) {
      return Boolean(this.detail?.actions?.includes(action));
    },

    summary() {
      return this.total ? `${this.offset + 1}–${this.offset + this.items.length} of ${this.total}` : "";
    },

    scoreText(ticket) {
      if (ticket.urgency_score == null) return "—";
      return `${twoDecimals(ticket.urgency_score)} ${ticket.urgency_label ?? ""}`.trim();
    },

    categoryText(item) {
      if (item.correction) return `${item.correction.category} ✎`;
      return item.category ?? "—";
    },

    age: ageOf,

    excerpt(item) {
      const parts = [item.subject, item.excerpt].filter(Boolean);
      return parts.length ? parts.join(" — ") : item.ticket_id;
    },

    number(value) {
      return value == null ? "—" : value.toFixed(3);
    },

    urgency(doc) {
      return doc.explanation?.urgency ?? {};
    },

    cuesText(urgency) {
      if (!urgency.cues) return "—";
      const names = urgency.cues.length ? urgency.cues.join(", ") : "none";
      return urgency.cue_score == null ? names : `${names} (cue score ${urgency.cue_score.toFixed(2)})`;
    },

    sortedScores(doc) {
      return Object.entries(doc.scores ?? {}).sort((a, b) => b[1] - a[1]);
    },

    categoriesOf(doc) {
      const names = Object.keys(doc.scores ?? {});
      return names.length ? names.sort() : this.categories;
    },
  }));
});
