/*! articlechat chat widget. Embed it under an article with
 *
 *   <script src="https://HOST/widget.js" data-articlechat-url="https://HOST" async></script>
 *
 * Optional data attributes: data-title, data-greeting, data-position (bottom-right | bottom-left),
 * data-theme (light | dark | auto), data-accent (a CSS colour), data-doc (the document to scope questions to).
 *
 * On start the widget asks the server for its settings (GET /api/widget/config): whether data-doc names a stored
 * document (if not, it logs that to the console and stays hidden), the longest question accepted and the suggested
 * starter questions. Setup problems are told to the page's developer in the console, never to readers.
 *
 * The widget lives in a Shadow DOM: the page's CSS cannot reach it and its CSS cannot reach the page.
 * Everything that comes from the server (answers, passages, titles) is rendered as text, never as HTML.
 */
(() => {
  "use strict";

  const script = document.currentScript || document.querySelector("script[data-articlechat-url]");
  if (!script || document.querySelector("articlechat-widget")) return;

  const SVG_NS = "http://www.w3.org/2000/svg";
  const ICONS = {
    chat: "M21 11.5a8.4 8.4 0 0 1-12.3 7.5L3 21l2-5.4A8.4 8.4 0 1 1 21 11.5z",
    close: "M6 6l12 12M18 6 6 18",
    plus: "M12 5v14M5 12h14",
    send: "M12 19V5M5 12l7-7 7 7",
    info: "M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zM12 16v-4M12 8h.01",
    up: "M7 10v11M7 10l4-8a2.5 2.5 0 0 1 3 3l-1 5h6a2 2 0 0 1 2 2.3l-1.4 7A2 2 0 0 1 17.6 21H3V10h4",
    down: "M17 14V3M17 14l-4 8a2.5 2.5 0 0 1-3-3l1-5H5a2 2 0 0 1-2-2.3l1.4-7A2 2 0 0 1 6.4 3H21v11h-4",
  };
  const COPY = {
    title: "Ask about this article",
    greeting: "Hi! Ask me anything about this article. I answer from its text only and cite the passages I use.",
    declined: "Not in the article",
    network: "Can't reach the chat service. Check your connection and try again.",
    unavailable: "Chat is unavailable on this page.",
    starters: "Suggested questions",
    counter: (length, max) => `${length} / ${max} characters`,
    tooLong: (max) => `Your question is too long. Please shorten it to ${max} characters.`,
    feedbackQuestion: "Was this answer helpful?",
    helpful: "Helpful",
    unhelpful: "Not helpful",
    thanks: "Thanks for your feedback.",
    feedbackFailed: "Your feedback couldn't be sent.",
    cutOff: "The answer was cut off. Please try again.",
    restoreFailed: "Your earlier conversation couldn't be loaded.",
    server: (status) => `The chat service ran into a problem (error ${status}). Please try again.`,
    busy: (seconds) => `Too many questions right now. Please wait ${seconds} s and try again.`,
  };
  const DEFAULT_MAX_CHARS = 1000; // until the server says otherwise
  const COUNTER_FROM = 0.8; // the character counter shows from this share of the limit

  const STYLES = `
:host { all: initial !important; display: block !important; }
[hidden] { display: none !important; }
.root, .root * { box-sizing: border-box; }
.root {
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--text); text-align: left; letter-spacing: normal; -webkit-font-smoothing: antialiased;
}
.root[data-scheme="light"] {
  --bg: #ffffff; --surface: #f0f2f5; --text: #1b1f24; --muted: #58616b; --border: #cfd6de; --link: #0b57c9;
  --declined-bg: #fff7e0; --declined-border: #d9a21b; --declined-text: #573b00;
  --error-bg: #fff0f0; --error-border: #d73a3a; --error-text: #8a1116; --focus: #0b57c9; --mark: #fde68a;
  --shadow: 0 16px 48px rgba(15, 23, 42, .20), 0 2px 8px rgba(15, 23, 42, .10);
}
.root[data-scheme="dark"] {
  --bg: #16191e; --surface: #252b33; --text: #eef1f5; --muted: #aeb7c2; --border: #3b444f; --link: #8ec3ff;
  --declined-bg: #2e2712; --declined-border: #a3801f; --declined-text: #f6dfa2;
  --error-bg: #3b1c1f; --error-border: #f2706a; --error-text: #ffd6d3; --focus: #8ec3ff; --mark: #5c4700;
  --shadow: 0 16px 48px rgba(0, 0, 0, .55), 0 2px 8px rgba(0, 0, 0, .35);
}
button, textarea { font: inherit; color: inherit; margin: 0; }
button { cursor: pointer; }
button:disabled { cursor: default; opacity: .55; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
svg { width: 22px; height: 22px; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round;
  stroke-linejoin: round; flex: none; display: block; }
.sr { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; border: 0; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }

.launcher { position: fixed; bottom: 20px; right: 20px; z-index: 2147483000; width: 58px; height: 58px;
  border: 0; border-radius: 50%; padding: 0; display: grid; place-items: center;
  background: var(--accent); color: var(--on-accent); box-shadow: var(--shadow); transition: transform .15s ease; }
.launcher:hover { transform: scale(1.06); }
.launcher svg { width: 28px; height: 28px; }
.launcher:focus-visible { outline-offset: 3px; }

.panel { position: fixed; bottom: 20px; right: 20px; z-index: 2147483000; width: 384px;
  max-width: calc(100vw - 40px); height: 680px; max-height: calc(100vh - 40px); display: flex;
  flex-direction: column; overflow: hidden; background: var(--bg); color: var(--text);
  border: 1px solid var(--border); border-radius: 18px; box-shadow: var(--shadow); animation: ac-in .18s ease-out; }
.root[data-position="bottom-left"] .launcher, .root[data-position="bottom-left"] .panel { left: 20px; right: auto; }
@keyframes ac-in { from { opacity: 0; transform: translateY(10px) scale(.98); } }

.header { display: flex; align-items: center; gap: 6px; padding: 12px 10px 12px 18px;
  background: var(--accent); color: var(--on-accent); }
.header h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 650; line-height: 1.3; color: inherit;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.icon-button { width: 38px; height: 38px; border: 0; border-radius: 10px; padding: 0; display: grid;
  place-items: center; background: transparent; color: inherit; }
.icon-button:hover { background: rgba(127, 127, 127, .22); }
.header :focus-visible { outline-color: var(--on-accent); outline-offset: -3px; }

.log { flex: 1; overflow-y: auto; padding: 16px 14px; display: flex; flex-direction: column; gap: 12px;
  overscroll-behavior: contain; }
.msg { max-width: 88%; padding: 10px 13px; border-radius: 16px; white-space: pre-wrap; overflow-wrap: anywhere; }
.msg.user { align-self: flex-end; background: var(--accent); color: var(--on-accent); border-bottom-right-radius: 5px; }
.msg.bot { align-self: flex-start; background: var(--surface); color: var(--text); border-bottom-left-radius: 5px; }
.msg.declined { background: var(--declined-bg); color: var(--declined-text); border: 1px solid var(--declined-border); }
.msg.error { background: var(--error-bg); color: var(--error-text); border: 1px solid var(--error-border); }
.msg.status { align-self: center; background: none; color: var(--muted); font-size: 13px; padding: 2px 8px; }
.label { display: flex; align-items: center; gap: 6px; font-size: 12.5px; font-weight: 700; margin-bottom: 3px;
  text-transform: uppercase; letter-spacing: .04em; }
.label svg { width: 16px; height: 16px; }

.cite { display: inline-block; min-width: 24px; margin: 0 2px; padding: 0 6px; border: 1.5px solid var(--link);
  border-radius: 7px; background: transparent; color: var(--link); font-size: 12.5px; font-weight: 700;
  line-height: 19px; vertical-align: 1px; text-align: center; }
.cite:hover, .cite[aria-expanded="true"] { background: var(--link); color: var(--bg); }
.passage { margin: 10px 0 2px; padding: 8px 11px; border-left: 3px solid var(--link); border-radius: 6px;
  background: var(--bg); font-size: 13.5px; white-space: normal; }
.passage figcaption { font-weight: 700; color: var(--muted); margin-bottom: 4px; }
.passage a { color: var(--link); }
.passage blockquote { margin: 0; max-height: 170px; overflow-y: auto; white-space: pre-wrap; }
.passage mark { background: var(--mark); color: var(--text); border-radius: 3px; padding: 0 1px; }

.short { display: block; margin-bottom: 4px; font-weight: 700; }
.starters { display: flex; flex-direction: column; align-items: flex-start; gap: 6px; }
.starters-label { margin: 0; font-size: 12.5px; font-weight: 700; color: var(--muted); text-transform: uppercase;
  letter-spacing: .04em; }
.starter { max-width: 88%; padding: 7px 12px; border: 1.5px solid var(--link); border-radius: 14px;
  background: var(--bg); color: var(--link); text-align: left; font-size: 14px; line-height: 1.35; }
.starter:hover { background: var(--surface); }
.feedback { display: flex; align-items: center; gap: 4px; margin-top: 6px; white-space: normal; }
.feedback button { width: 32px; height: 32px; border: 1px solid transparent; border-radius: 8px; padding: 0;
  display: grid; place-items: center; background: transparent; color: var(--muted); }
.feedback button:hover { border-color: var(--border); }
.feedback button[aria-pressed="true"] { border-color: var(--link); color: var(--link); }
.feedback svg { width: 18px; height: 18px; }
.feedback-status { font-size: 12.5px; color: var(--muted); margin-left: 4px; }
.counter { margin: 0; padding: 0 14px; font-size: 12.5px; color: var(--muted); text-align: right; }
.counter.over { color: var(--error-text); font-weight: 700; }
.composer textarea[aria-invalid="true"] { border-color: var(--error-border); }
.retry { margin-top: 8px; padding: 6px 14px; border: 1.5px solid currentColor; border-radius: 999px;
  background: transparent; font-weight: 650; }
.typing { display: inline-flex; gap: 4px; padding: 4px 0; }
.typing span { width: 7px; height: 7px; border-radius: 50%; background: var(--muted); animation: ac-dot 1s infinite; }
.typing span:nth-child(2) { animation-delay: .15s; }
.typing span:nth-child(3) { animation-delay: .3s; }
@keyframes ac-dot { 0%, 60%, 100% { opacity: .3; } 30% { opacity: 1; } }

.composer { display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px 6px; border-top: 1px solid var(--border); }
.composer textarea { flex: 1; min-height: 44px; max-height: 132px; resize: none; padding: 10px 13px;
  font-size: 16px; line-height: 1.4; border: 1px solid var(--border); border-radius: 14px;
  background: var(--bg); color: var(--text); }
.composer textarea::placeholder { color: var(--muted); opacity: 1; }
.send { width: 44px; height: 44px; border: 0; border-radius: 50%; padding: 0; display: grid; place-items: center;
  background: var(--accent); color: var(--on-accent); }
.foot { margin: 0; padding: 0 12px 9px; font-size: 12px; color: var(--muted); text-align: center; }

@media (max-width: 480px) {
  .root[data-position] .panel { inset: 0; width: 100%; max-width: none; height: 100%; max-height: none;
    border: 0; border-radius: 0; }
  .root[data-position] .launcher { bottom: 16px; }
}
@media (prefers-reduced-motion: reduce) {
  .panel, .typing span { animation: none; }
  .launcher { transition: none; }
}`;

  /** Create an element: props become attributes (on* become listeners); children are nodes or plain text. */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value == null || value === false) continue;
      if (key === "class") el.className = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    el.append(...children); // strings become text nodes
    return el;
  }

  function icon(name) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", ICONS[name]);
    svg.append(path);
    return svg;
  }

  /** The URL when it is absolute http(s), else null: no javascript:, data: or relative links. */
  function safeHttpUrl(value) {
    try {
      const url = new URL(String(value));
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch {
      return null;
    }
  }

  /** [r, g, b] of a CSS colour, or null when it is not one (the canvas ignores what it cannot paint with). */
  function rgbOf(colour) {
    const unset = "#010203";
    const ctx = document.createElement("canvas").getContext("2d");
    ctx.fillStyle = unset;
    ctx.fillStyle = colour || unset;
    if (ctx.fillStyle === unset) return null;
    const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(ctx.fillStyle);
    if (hex) return hex.slice(1).map((part) => parseInt(part, 16));
    const rgb = /rgba?\((\d+), (\d+), (\d+)/.exec(ctx.fillStyle);
    return rgb ? rgb.slice(1).map(Number) : null;
  }

  /** Black or white, whichever contrasts more with ``rgb`` (WCAG relative luminance). */
  function textColourOn(rgb) {
    const [r, g, b] = rgb.map((c) => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    return (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) ? "#111418" : "#ffffff";
  }

  function readConfig(data) {
    const url = safeHttpUrl(data.articlechatUrl || new URL(script.src, location.href).origin);
    const accentRgb = rgbOf(data.accent) || [37, 99, 235];
    return {
      url: url && url.replace(/\/+$/, ""),
      title: data.title || COPY.title,
      greeting: data.greeting || COPY.greeting,
      position: data.position === "bottom-left" ? "bottom-left" : "bottom-right",
      theme: ["light", "dark"].includes(data.theme) ? data.theme : "auto",
      accent: `rgb(${accentRgb.join(", ")})`,
      onAccent: textColourOn(accentRgb),
      doc: data.doc || null,
    };
  }

  /** The conversation's session id, kept per page origin, server and document. */
  function sessionMemory(config) {
    const key = `articlechat:session:${config.url}|${config.doc || "*"}`;
    let fallback = null; // when storage is blocked the conversation lasts as long as the page
    return {
      get() {
        try { return localStorage.getItem(key); } catch { return fallback; }
      },
      set(id) {
        fallback = id;
        try { localStorage.setItem(key, id); } catch { /* kept in memory */ }
      },
      clear() {
        fallback = null;
        try { localStorage.removeItem(key); } catch { /* nothing stored */ }
      },
    };
  }

  /** Parse a text/event-stream body into {event, data} objects (per the HTML spec, any line ending). */
  async function* serverSentEvents(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = "";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? "\n" : value;
      let match;
      while ((match = /\r\n|\r|\n/.exec(buffer))) {
        if (!done && match[0] === "\r" && match.index === buffer.length - 1) break; // may be half of \r\n
        const line = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        if (line === "") {
          if (data.length) yield { event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event = text;
          else if (field === "data") data.push(text);
        }
      }
      if (done) return;
    }
  }

  class ChatError extends Error {
    constructor(message, retryAfter = 0, canRetry = true) {
      super(message);
      this.retryAfter = retryAfter;
      this.canRetry = canRetry;
    }
  }

  /** The server's error message when readers can act on it; one that names a setting is meant for the page's
   * developer: it goes to the console and readers get ``fallback``. */
  function forReaders(message, fallback) {
    if (!message) return fallback;
    if (!/\b(?:ARTICLECHAT|OPENAI)_[A-Z_]+/.test(message)) return message;
    console.warn(`articlechat: ${message}`);
    return fallback;
  }

  /** A ChatError for a failed HTTP response, using the server's {"error": {"message"}} when it has one. */
  async function httpError(response) {
    let message = "";
    try {
      message = (await response.json()).error.message;
    } catch { /* not a JSON error body */ }
    if (response.status === 429) {
      const seconds = Math.max(1, parseInt(response.headers.get("Retry-After"), 10) || 10);
      return new ChatError(COPY.busy(seconds), seconds);
    }
    const generic = COPY.server(response.status);
    return new ChatError(response.status >= 500 ? generic : forReaders(message, generic));
  }

  class Widget {
    constructor(config) {
      this.config = config;
      this.session = sessionMemory(config);
      this.controller = null;
      this.restored = false;
      this.passages = 0; // numbers the passage boxes, for aria-controls
      this.maxChars = DEFAULT_MAX_CHARS;
      this.starters = [];
      this.startersBox = null;
      this.unavailable = false;
      this.corsReported = false;
      this.host = document.createElement("articlechat-widget");
      this.shadow = this.host.attachShadow({ mode: "open" });
      this.build();
      this.applyScheme();
      document.body.append(this.host);
      this.configure();
    }

    build() {
      const { config } = this;
      const style = new CSSStyleSheet();
      style.replaceSync(STYLES);
      this.shadow.adoptedStyleSheets = [style];
      this.launcher = h("button", {
        class: "launcher", type: "button", "aria-label": `Open chat: ${config.title}`, "aria-haspopup": "dialog",
        "aria-expanded": "false", "aria-controls": "panel", onclick: () => this.open(),
      }, icon("chat"));
      this.log = h("div", {
        class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation", tabindex: "0",
      }, h("div", { class: "msg bot" }, config.greeting));
      this.input = h("textarea", {
        id: "question", rows: "1", placeholder: "Ask a question…", autocomplete: "off", "aria-describedby": "counter",
        oninput: () => this.onInput(), onkeydown: (e) => this.onInputKey(e),
      });
      this.sendButton = h("button", { class: "send", type: "submit", "aria-label": "Send question" }, icon("send"));
      this.count = h("span");
      this.limitAlert = h("span", { class: "sr", role: "alert" });
      this.counter = h("p", { class: "counter", id: "counter", hidden: true }, this.count, this.limitAlert);
      this.panel = h("section", {
        id: "panel", class: "panel", role: "dialog", "aria-modal": "true", "aria-labelledby": "title", hidden: true,
        onkeydown: (e) => this.onPanelKey(e),
      },
      h("header", { class: "header" },
        h("h2", { id: "title" }, config.title),
        h("button", {
          class: "icon-button", type: "button", "aria-label": "New conversation", title: "New conversation",
          onclick: () => this.newConversation(),
        }, icon("plus")),
        h("button", {
          class: "icon-button", type: "button", "aria-label": "Close chat", title: "Close",
          onclick: () => this.close(),
        }, icon("close"))),
      this.log,
      h("form", { class: "composer", onsubmit: (e) => { e.preventDefault(); this.submit(); } },
        h("label", { class: "sr", for: "question" }, "Your question"), this.input, this.sendButton),
      this.counter,
      h("p", { class: "foot" }, "Answers come from the article's text only."));
      this.root = h("div", { class: "root", "data-position": config.position, hidden: true }, this.launcher, this.panel);
      this.root.style.setProperty("--accent", config.accent);
      this.root.style.setProperty("--on-accent", config.onAccent);
      this.shadow.append(this.root);
    }

    /** Ask the server whether data-doc exists, the longest question and the starters; then show the launcher. */
    async configure() {
      const { url, doc } = this.config;
      let response;
      try {
        response = await fetch(`${url}/api/widget/config${doc ? `?doc=${encodeURIComponent(doc)}` : ""}`, {
          mode: "cors", credentials: "omit", headers: { Accept: "application/json" },
        });
      } catch {
        this.root.hidden = false;
        if (await this.refusedByCors()) this.markUnavailable();
        return;
      }
      let settings = null;
      try {
        settings = response.ok ? await response.json() : null; // otherwise: an older server, or a passing failure
      } catch { /* not JSON: keep the defaults */ }
      if (settings && settings.exists === false) {
        console.error(`articlechat: data-doc="${doc}" is not a document on ${url}, so the chat widget is hidden. ` +
          `Use an id that ${url}/api/documents lists (articlechat documents).`);
        this.host.remove();
        return;
      }
      if (settings) {
        this.maxChars = Number(settings.max_question_chars) || DEFAULT_MAX_CHARS;
        this.starters = Array.isArray(settings.starters) ? settings.starters.map(String) : [];
      }
      this.root.hidden = false;
      this.showStarters();
      this.onInput();
    }

    /** Whether the server answers but refuses this page's origin: after a request failed, a CORS request to it fails
     * too while a no-cors one (opaque) gets through. The developer gets the fix in the console, once. */
    async refusedByCors() {
      const probe = (mode) => fetch(`${this.config.url}/healthz`, { mode, credentials: "omit", cache: "no-store" })
        .then(() => true, () => false);
      if (await probe("cors") || !(await probe("no-cors"))) return false; // a passing failure, or no server at all
      if (!this.corsReported) {
        this.corsReported = true;
        console.error(`articlechat: ${this.config.url} refused requests from this page's origin ${location.origin} ` +
          `(CORS). Add ${location.origin} to ARTICLECHAT_CORS_ORIGINS on the articlechat server and restart it.`);
      }
      return true;
    }

    /** Readers see one neutral line and no composer when the server refuses this page. */
    markUnavailable() {
      this.unavailable = true;
      this.removeStarters();
      this.input.disabled = true;
      this.syncSend();
      this.log.replaceChildren(h("div", { class: "msg bot", role: "status" }, COPY.unavailable));
    }

    /** The suggested questions, while the conversation has none of its own. */
    showStarters() {
      this.removeStarters();
      if (!this.starters.length || this.unavailable || this.log.querySelector(".msg.user")) return;
      this.startersBox = h("div", { class: "starters", role: "group", "aria-label": COPY.starters },
        h("p", { class: "starters-label", "aria-hidden": "true" }, COPY.starters),
        ...this.starters.map((question) => h("button", {
          class: "starter", type: "button", onclick: () => this.askStarter(question),
        }, question)));
      this.log.append(this.startersBox);
    }

    removeStarters() {
      if (this.startersBox) this.startersBox.remove();
      this.startersBox = null;
    }

    askStarter(question) {
      if (this.controller) return;
      this.input.value = question;
      this.submit();
    }

    tooLong() {
      return this.input.value.trim().length > this.maxChars;
    }

    syncSend() {
      this.sendButton.disabled = Boolean(this.controller) || this.unavailable || this.tooLong();
    }

    /** The character counter: shown near the limit; over it, the question cannot be sent and readers are told. */
    onInput() {
      this.autosize();
      const length = this.input.value.trim().length;
      const over = length > this.maxChars;
      this.counter.hidden = length < this.maxChars * COUNTER_FROM;
      this.counter.classList.toggle("over", over);
      this.count.textContent = COPY.counter(length.toLocaleString("en"), this.maxChars.toLocaleString("en"));
      const alert = over ? ` ${COPY.tooLong(this.maxChars.toLocaleString("en"))}` : "";
      if (this.limitAlert.textContent !== alert) this.limitAlert.textContent = alert;
      this.limitAlert.classList.toggle("sr", !over);
      if (over) this.input.setAttribute("aria-invalid", "true");
      else this.input.removeAttribute("aria-invalid");
      this.syncSend();
    }

    applyScheme() {
      const { theme } = this.config;
      const query = matchMedia("(prefers-color-scheme: dark)");
      const apply = () => {
        this.root.dataset.scheme = theme === "auto" ? (query.matches ? "dark" : "light") : theme;
      };
      if (theme === "auto") query.addEventListener("change", apply);
      apply();
    }

    open() {
      this.panel.hidden = false;
      this.launcher.hidden = true;
      this.launcher.setAttribute("aria-expanded", "true");
      this.input.focus();
      this.scrollToEnd();
      if (!this.restored) {
        this.restored = true;
        this.restore();
      }
    }

    close() {
      this.panel.hidden = true;
      this.launcher.hidden = false;
      this.launcher.setAttribute("aria-expanded", "false");
      this.launcher.focus();
    }

    onPanelKey(event) {
      if (event.key === "Escape") {
        event.preventDefault();
        this.close();
      } else if (event.key === "Tab") {
        this.trapFocus(event);
      }
    }

    /** Keep Tab and Shift+Tab cycling inside the open panel. */
    trapFocus(event) {
      const items = [...this.panel.querySelectorAll("button, textarea, a[href], [tabindex='0']")]
        .filter((el) => !el.disabled && el.getClientRects().length);
      if (!items.length) return;
      const first = items[0];
      const last = items[items.length - 1];
      const active = this.shadow.activeElement;
      if (event.shiftKey && (active === first || !items.includes(active))) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && (active === last || !items.includes(active))) {
        event.preventDefault();
        first.focus();
      }
    }

    onInputKey(event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    }

    autosize() {
      this.input.style.height = "auto";
      this.input.style.height = `${Math.min(this.input.scrollHeight + 2, 132)}px`;
    }

    scrollToEnd() {
      this.log.scrollTop = this.log.scrollHeight;
    }

    addMessage(kind, ...children) {
      const message = h("div", { class: `msg ${kind}` }, ...children);
      this.log.append(message);
      this.scrollToEnd();
      return message;
    }

    question(text) {
      return h("div", { class: "msg user" }, h("span", { class: "sr" }, "You: "), text);
    }

    submit() {
      const question = this.input.value.trim();
      if (!question || this.controller || this.unavailable) return;
      if (this.tooLong()) {
        this.onInput(); // the counter says why; nothing is sent
        return;
      }
      this.input.value = "";
      this.onInput();
      this.input.focus(); // also when sent with the Send button, which is disabled while answering
      this.removeStarters();
      this.log.append(this.question(question));
      this.ask(question);
    }

    /** Stream the answer to ``question`` into a new message; errors become a message with a Retry button. */
    async ask(question) {
      const controller = new AbortController();
      this.controller = controller;
      this.syncSend();
      const message = this.addMessage("bot", h("span", { class: "typing", role: "img", "aria-label": "Answering" },
        h("span"), h("span"), h("span")));
      message.setAttribute("aria-busy", "true");
      try {
        const answer = await this.streamAnswer(question, message, controller.signal);
        this.session.set(answer.session_id);
        this.renderAnswer(message, answer);
      } catch (error) {
        if (controller.signal.aborted) message.remove();
        else this.showError(message, question, error);
      } finally {
        message.removeAttribute("aria-busy");
        if (this.controller === controller) {
          this.controller = null;
          this.syncSend();
        }
      }
    }

    async streamAnswer(question, message, signal, retryUnknownSession = true) {
      const sessionId = this.session.get();
      let response;
      try {
        response = await fetch(`${this.config.url}/api/ask/stream`, {
          method: "POST", mode: "cors", credentials: "omit", signal,
          headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
          body: JSON.stringify({ question, session_id: sessionId || undefined, doc: this.config.doc || undefined }),
        });
      } catch (error) {
        if (signal.aborted) throw error;
        if (await this.refusedByCors()) throw new ChatError(COPY.unavailable, 0, false);
        throw new ChatError(COPY.network);
      }
      if (response.status === 404 && sessionId && retryUnknownSession) {
        this.session.clear(); // the server forgot this conversation: start a new one
        return this.streamAnswer(question, message, signal, false);
      }
      if (!response.ok) throw await httpError(response);
      let text = null;
      try {
        for await (const { event, data } of serverSentEvents(response.body)) {
          if (event === "token") {
            if (!text) {
              text = document.createTextNode("");
              message.replaceChildren(text);
            }
            text.appendData(JSON.parse(data).text);
            this.scrollToEnd();
          } else if (event === "done") {
            return JSON.parse(data);
          } else if (event === "error") {
            throw new ChatError(forReaders(JSON.parse(data).error.message, COPY.cutOff));
          } // "sources" is repeated in "done"
        }
      } catch (error) {
        throw error instanceof ChatError || signal.aborted ? error : new ChatError(COPY.network);
      }
      throw new ChatError(COPY.cutOff);
    }

    /** Show a finished answer: its short answer in bold when it has one, then the text, whose citations [n] become
     * buttons revealing the passage; a decline reads as one. Both get thumbs up and down. */
    renderAnswer(message, answer) {
      message.className = answer.answered ? "msg bot" : "msg bot declined";
      message.replaceChildren(h("span", { class: "sr" }, "Assistant: "));
      const feedback = this.feedback(answer);
      if (!answer.answered) {
        message.append(h("div", { class: "label" }, icon("info"), COPY.declined), answer.answer);
        if (feedback) message.append(feedback);
        return;
      }
      let text = answer.answer;
      const short = typeof answer.short_answer === "string" ? answer.short_answer.trim() : "";
      if (short) {
        message.append(h("strong", { class: "short" }, short));
        // The text leads with the short answer; shown bold above, the quote follows without it.
        if (text.startsWith(`${short}. `)) text = text.slice(short.length + 2);
      }
      this.passages += 1;
      const passage = h("figure", { class: "passage", id: `passage-${this.passages}`, hidden: true });
      const bySource = new Map((answer.sources || []).map((source) => [String(source.n), source]));
      let claim = ""; // the text a citation backs: what precedes its [n]
      text.split(/\[(\d+)\]/).forEach((part, index) => {
        const source = index % 2 ? bySource.get(part) : null;
        if (source) message.append(this.citation(source, passage, claim));
        else if (part) message.append(index % 2 ? `[${part}]` : part);
        if (index % 2 === 0 && part.trim()) claim = part.trim();
      });
      message.append(passage);
      if (feedback) message.append(feedback);
      this.scrollToEnd();
    }

    /** Thumbs up and down for an answer the server stored (it has an exchange id), or null. */
    feedback(answer) {
      if (answer.exchange_id == null || !answer.session_id) return null;
      const status = h("span", { class: "feedback-status", role: "status" });
      const buttons = [["up", COPY.helpful], ["down", COPY.unhelpful]].map(([value, label]) => h("button", {
        type: "button", "aria-label": label, title: label, "aria-pressed": "false", "data-value": value,
      }, icon(value)));
      for (const button of buttons) {
        button.addEventListener("click", () => this.sendFeedback(answer, button, buttons, status));
      }
      return h("div", { class: "feedback", role: "group", "aria-label": COPY.feedbackQuestion }, ...buttons, status);
    }

    async sendFeedback(answer, chosen, buttons, status) {
      try {
        const response = await fetch(`${this.config.url}/api/feedback`, {
          method: "POST", mode: "cors", credentials: "omit", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({
            session_id: answer.session_id, exchange_id: answer.exchange_id, value: chosen.dataset.value,
          }),
        });
        if (!response.ok) throw new ChatError(COPY.feedbackFailed);
        for (const button of buttons) button.setAttribute("aria-pressed", String(button === chosen));
        status.textContent = COPY.thanks;
      } catch {
        status.textContent = COPY.feedbackFailed;
      }
    }

    /** A [n] button that shows passage ``source`` in ``passage``, with ``claim`` marked where it quotes it. */
    citation(source, passage, claim) {
      const button = h("button", {
        class: "cite", type: "button", "aria-expanded": "false", "aria-controls": passage.id,
        "aria-label": `Source ${source.n}: show the quoted passage`,
      }, String(source.n));
      button.addEventListener("click", () => {
        const showing = button.getAttribute("aria-expanded") === "true";
        for (const other of passage.parentNode.querySelectorAll(".cite")) other.setAttribute("aria-expanded", "false");
        passage.hidden = showing;
        if (showing) return;
        button.setAttribute("aria-expanded", "true");
        const name = source.title || source.source;
        const href = safeHttpUrl(source.source);
        const at = claim ? source.text.indexOf(claim) : -1;
        const mark = h("mark", null, claim);
        const quote = h("blockquote", { tabindex: "0" },
          ...(at < 0 ? [source.text] : [source.text.slice(0, at), mark, source.text.slice(at + claim.length)]));
        passage.replaceChildren(
          h("figcaption", null, `[${source.n}] `,
            href ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, name) : name),
          quote);
        passage.scrollIntoView({ block: "nearest" });
        if (at >= 0) quote.scrollTop += mark.getBoundingClientRect().top - quote.getBoundingClientRect().top - 4;
      });
      return button;
    }

    showError(message, question, error) {
      if (!error.canRetry) {
        this.markUnavailable(); // replaces the conversation with the one line readers need
        return;
      }
      message.className = "msg bot error";
      const retry = h("button", { class: "retry", type: "button" }, "Retry");
      retry.addEventListener("click", () => {
        if (this.controller) return; // one answer at a time
        message.remove();
        this.input.focus();
        this.ask(question);
      });
      message.replaceChildren(h("div", { role: "alert" }, error.message), retry);
      this.scrollToEnd();
      if (error.retryAfter) this.countDown(retry, error.retryAfter);
    }

    countDown(button, seconds) {
      button.disabled = true;
      const tick = () => {
        if (seconds <= 0) {
          button.disabled = false;
          button.textContent = "Retry";
          return;
        }
        button.textContent = `Retry in ${seconds} s`;
        seconds -= 1;
        setTimeout(tick, 1000);
      };
      tick();
    }

    /** Reload the stored conversation from the server; a session it no longer knows starts afresh. */
    async restore() {
      const id = this.session.get();
      if (!id) return;
      const status = this.addMessage("status", "Loading your conversation…");
      try {
        const response = await fetch(`${this.config.url}/api/sessions/${encodeURIComponent(id)}/messages`, {
          mode: "cors", credentials: "omit", headers: { Accept: "application/json" },
        });
        if (response.status === 404) {
          if (this.session.get() === id) this.session.clear(); // unless a new conversation began meanwhile
          status.remove();
          return;
        }
        if (!response.ok) throw new ChatError(COPY.restoreFailed);
        const { messages } = await response.json();
        if (messages.length) this.removeStarters();
        status.replaceWith(...messages.map((m) => { // in place: questions asked meanwhile stay below
          if (m.role === "user") return this.question(m.content);
          const answer = h("div");
          this.renderAnswer(answer, {
            answer: m.content, answered: m.answered !== false, sources: m.sources, short_answer: m.short_answer,
            exchange_id: m.exchange_id, session_id: id,
          });
          return answer;
        }));
        this.scrollToEnd();
      } catch {
        status.textContent = COPY.restoreFailed;
      }
    }

    newConversation() {
      if (this.unavailable) return;
      const id = this.session.get();
      if (this.controller) this.controller.abort();
      this.session.clear();
      this.log.replaceChildren(h("div", { class: "msg bot" }, this.config.greeting));
      this.showStarters();
      if (id) {
        fetch(`${this.config.url}/api/sessions/${encodeURIComponent(id)}`, {
          method: "DELETE", mode: "cors", credentials: "omit",
        }).catch(() => {}); // forgetting the old conversation on the server is best effort
      }
      this.input.focus();
    }
  }

  const config = readConfig(script.dataset);
  if (!config.url) {
    console.error("articlechat: data-articlechat-url must be an http(s) URL");
    return;
  }
  const start = () => new Widget(config);
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
