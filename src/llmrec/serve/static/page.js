"use strict";
// Item text is data: every value is set through textContent, never parsed as HTML.
const $ = (id) => document.getElementById(id);
// The key is kept for this tab only (sessionStorage, gone when the tab closes), never in
// localStorage: any script running on this origin could read it from there for good.
$("key").value = sessionStorage.getItem("llmrec-key") || "";
$("key").addEventListener("change", () => sessionStorage.setItem("llmrec-key", $("key").value));

// What each candidate source means, in words a shopper or a viewer understands.
const SOURCE_WORDS = {
  ease: "people with your taste liked it",
  itemknn: "people with your taste liked it",
  als: "people with your taste liked it",
  bpr: "people with your taste liked it",
  covisit: "often chosen together with what you chose",
  sasrec: "often comes next after what you chose recently",
  content: "similar to what you liked",
  content_cf: "similar to what you liked",
  popular: "popular right now",
};

function sourceWords(sources) {
  return [...new Set(sources.map((s) => SOURCE_WORDS[s]).filter(Boolean))].slice(0, 2);
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "Authorization": "Bearer " + $("key").value, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    throw new Error(response.status + ": " + detail);
  }
  return data;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

function reasonText(item) {
  const r = item.reasons;
  const parts = [];
  if (r && r.history.length) parts.push("because you liked " + r.history.slice(0, 2).map((h) => h.title).join(" and "));
  if (r && r.keywords.length) parts.push("also " + r.keywords.slice(0, 3).join(", "));
  if (!parts.length) parts.push(...sourceWords(r ? r.sources : item.sources));
  return parts.join("; ");
}

function show(items, user) {
  const list = $("items");
  list.replaceChildren();
  for (const item of items) {
    const li = element("li");
    li.dataset.itemId = item.item_id;
    li.append(element("div", "title", item.title || item.item_id));
    if (item.description) li.append(element("div", "description", item.description));
    if (item.generated_description) li.append(element("div", "generated", item.generated_description));
    const reason = reasonText(item);
    if (reason) li.append(element("div", "reason", reason));
    if (user) {
      const actions = element("div", "actions");
      for (const [label, type] of [["Like", "like"], ["Dislike", "dislike"], ["Not interested", "not_interested"]]) {
        const button = element("button", type, label);
        button.addEventListener("click", () => feedback(user, item.item_id, type));
        actions.append(button);
      }
      li.append(actions);
    }
    list.append(li);
  }
}

async function recommend() {
  const user = $("user").value.trim();
  if (!user) return;
  $("status").textContent = "loading…";
  try {
    const data = await call("GET", "/users/" + encodeURIComponent(user) + "/recommendations?k=10&explain=true");
    show(data.items, user);
    const why = {
      model: "picked from what they did",
      interests: "from the interests they stated",
      friends: "from what their friends like",
      popular: "popular items: no history yet",
    }[data.strategy] || data.strategy;
    $("status").textContent = "for user " + user + ": " + why;
  } catch (error) {
    $("status").textContent = error.message;
  }
}

async function feedback(user, item, type) {
  try {
    await call("POST", "/events", { events: [{ user_id: user, item_id: item, event_type: type }] });
    await recommend();
  } catch (error) {
    $("status").textContent = error.message;
  }
}

async function search() {
  const query = $("query").value.trim();
  if (!query) return;
  $("status").textContent = "searching…";
  try {
    const user = $("user").value.trim();
    const data = await call("POST", "/search", { query, k: 10, user_id: user || null });
    show(data.items, user);
    $("status").textContent = "search: " + query;
  } catch (error) {
    $("status").textContent = error.message;
  }
}

$("load").addEventListener("click", recommend);
$("search").addEventListener("click", search);
$("query").addEventListener("keydown", (e) => { if (e.key === "Enter") search(); });
