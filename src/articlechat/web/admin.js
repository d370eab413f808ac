/*! articlechat admin page: documents (list, add from a URL or a file, remove) and the reader-question report.
 *
 * The admin key is asked once and kept in sessionStorage (this tab only); every request sends it as a Bearer token.
 * Everything that comes from the server is rendered as text, never as HTML.
 */
(() => {
  "use strict";

  const KEY = "articlechat:admin-key";
  const $ = (id) => document.getElementById(id);
  const status = $("status");

  /** Create an element: props become attributes (on* become listeners); children are nodes or plain text. */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value == null || value === false) continue;
      if (key === "class") el.className = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    el.append(...children.filter((c) => c != null));
    return el;
  }

  function say(message, kind = "ok") {
    status.textContent = message;
    status.className = `status ${kind}`;
  }

  const storedKey = {
    get() {
      try { return sessionStorage.getItem(KEY); } catch { return null; }
    },
    set(value) {
      try { sessionStorage.setItem(KEY, value); } catch { /* this page only */ }
    },
    clear() {
      try { sessionStorage.removeItem(KEY); } catch { /* nothing stored */ }
    },
  };

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  /** A request to the admin API with the key; JSON back, or an ApiError with the server's message. */
  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${storedKey.get()}`, Accept: "application/json", ...options.headers };
    let response;
    try {
      response = await fetch(path, { ...options, headers, credentials: "omit" });
    } catch {
      throw new ApiError("The server cannot be reached.", 0);
    }
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const message = body && body.error ? body.error.message : `The server answered ${response.status}.`;
      throw new ApiError(message, response.status);
    }
    return body;
  }

  function signedIn(yes) {
    $("sign-in").hidden = yes;
    $("signed-in").hidden = !yes;
    $("sign-out").hidden = !yes;
  }

  /** Run ``action``; an error is shown, and a refused key asks for the key again. */
  async function attempt(action) {
    try {
      await action();
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        storedKey.clear();
        signedIn(false);
        $("key").focus();
      }
      say(error.message, "error");
    }
  }

  const docId = (doc) => doc.id ?? doc.source;

  function renderDocuments(docs) {
    $("documents").replaceChildren(...docs.map((doc) => {
      const id = docId(doc);
      const remove = h("button", { class: "danger", type: "button", "aria-label": `Remove ${id}` }, "Remove");
      remove.addEventListener("click", () => removeDocument(id));
      const report = h("button", { class: "secondary", type: "button", "aria-label": `Report for ${id}` }, "Report");
      report.addEventListener("click", () => {
        $("report-doc").value = id;
        attempt(showReport);
      });
      return h("tr", { "data-doc": id },
        h("td", null, h("code", null, id)),
        h("td", null, doc.title || ""),
        h("td", { class: "num" }, String(doc.passages ?? doc.chunks ?? "")),
        h("td", null, (doc.ingested_at || "").slice(0, 16).replace("T", " ")),
        h("td", null, h("div", { class: "row" }, report, remove)));
    }));
    $("no-documents").hidden = docs.length > 0;
    const select = $("report-doc");
    const chosen = select.value;
    select.replaceChildren(h("option", { value: "" }, "All documents"),
      ...docs.map((doc) => h("option", { value: docId(doc) }, doc.title ? `${doc.title} (${docId(doc)})` : docId(doc))));
    select.value = docs.some((doc) => docId(doc) === chosen) ? chosen : "";
  }

  async function loadDocuments() {
    renderDocuments(await api("/api/documents"));
  }

  async function removeDocument(id) {
    if (!window.confirm(`Remove “${id}” from the store? Readers can no longer ask about it.`)) return;
    await attempt(async () => {
      const result = await api(`/api/documents/${encodeURIComponent(id)}`, { method: "DELETE" });
      say(`Removed ${result.source} (${result.removed_chunks} passages).`);
      await loadDocuments();
    });
  }

  function added(result) {
    say(`${result.source}: ${result.outcome}.`);
    return loadDocuments();
  }

  async function addUrl(event) {
    event.preventDefault();
    const url = $("url").value.trim();
    say(`Fetching ${url}…`);
    await attempt(async () => {
      await added(await api("/api/documents", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ url }),
      }));
      $("url").value = "";
    });
  }

  async function addFile(event) {
    event.preventDefault();
    const [file] = $("file").files;
    if (!file) return;
    const form = new FormData();
    form.append("file", file);
    if ($("file-id").value.trim()) form.append("id", $("file-id").value.trim());
    say(`Uploading ${file.name}…`);
    await attempt(async () => {
      await added(await api("/api/documents", { method: "POST", body: form }));
      $("file-form").reset();
    });
  }

  function counts(part) {
    return `${part.questions} questions: ${part.answered} answered, ${part.declined} declined; ` +
      `feedback ${part.feedback.up} up, ${part.feedback.down} down`;
  }

  function questionTable(caption, groups) {
    if (!groups.length) return null;
    return h("table", { class: "questions" },
      h("caption", { class: "sr" }, caption),
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "Question"), h("th", { scope: "col", class: "num" }, "Asked"),
        h("th", { scope: "col", class: "num" }, "Answered"), h("th", { scope: "col", class: "num" }, "Declined"))),
      h("tbody", null, ...groups.map((group) => h("tr", null,
        h("td", null, group.question,
          group.wordings.length ? h("span", { class: "also" }, `also: ${group.wordings.join("; ")}`) : null),
        h("td", { class: "num" }, String(group.asked)), h("td", { class: "num" }, String(group.answered)),
        h("td", { class: "num" }, String(group.declined))))));
  }

  function renderReport(report) {
    const parts = [h("p", { class: "totals" }, counts(report))];
    for (const doc of report.documents) {
      const name = doc.doc ? (doc.title ? `${doc.title} (${doc.doc})` : doc.doc) : "Questions over all documents";
      parts.push(h("article", { class: "doc-report", "data-doc": doc.doc || "" },
        h("h3", null, name),
        h("p", { class: "muted" }, counts(doc)),
        h("h4", null, "Most asked"), questionTable("Most asked", doc.most_asked),
        h("h4", null, "Content gaps: questions it did not answer"),
        doc.content_gaps.length ? questionTable("Content gaps", doc.content_gaps) : h("p", { class: "muted" }, "None."),
        h("h4", null, "Unhelpful answers"),
        doc.unhelpful.length
          ? h("ul", { class: "unhelpful" }, ...doc.unhelpful.map((item) => h("li", null, item.question,
            h("blockquote", null, item.answer))))
          : h("p", { class: "muted" }, "None.")));
    }
    if (!report.documents.length) parts.push(h("p", { class: "muted" }, "No questions yet."));
    $("report").replaceChildren(...parts);
  }

  async function showReport() {
    const query = new URLSearchParams();
    if ($("report-doc").value) query.set("doc", $("report-doc").value);
    if ($("report-since").value) query.set("since", $("report-since").value);
    const search = query.toString();
    renderReport(await api(`/api/report${search ? `?${search}` : ""}`));
  }

  async function start() {
    signedIn(true);
    await attempt(async () => {
      await loadDocuments();
      await showReport();
      say("");
    });
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    storedKey.set($("key").value.trim());
    $("key").value = "";
    start();
  });
  $("sign-out").addEventListener("click", () => {
    storedKey.clear();
    signedIn(false);
    $("report").replaceChildren();
    say("The key is forgotten.");
    $("key").focus();
  });
  $("url-form").addEventListener("submit", addUrl);
  $("file-form").addEventListener("submit", addFile);
  $("report-form").addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(showReport);
  });

  if (storedKey.get()) start();
  else signedIn(false);
})();
