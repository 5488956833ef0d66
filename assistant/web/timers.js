// Timers, alarms and the shopping list on the kiosk page: a small list of what is running (from
// GET /v1/timers and /v1/notes, refreshed every second while the page is visible) and a banner
// when one rings (the session's "announcement" message, passed on by app.js as an event). The
// panel is hidden while it has nothing to show; style.css gives it its place and a bounded height.
"use strict";

(() => {
  const key = () => new URLSearchParams(location.search).get("key")
    || localStorage.getItem("assistant-api-key") || "";
  const panel = document.createElement("aside");
  panel.id = "timers";
  panel.setAttribute("aria-label", "Timers and lists");
  const banner = document.createElement("p");
  banner.id = "announcement";
  banner.setAttribute("role", "alert");
  banner.hidden = true;
  const list = document.createElement("ul");
  list.id = "timer-list";
  const notes = document.createElement("ul");
  notes.id = "note-list";
  panel.append(banner, list, notes);
  panel.hidden = true;
  const fill = () => { panel.hidden = banner.hidden && !list.children.length && !notes.children.length; };

  function spell(seconds) {
    const m = Math.floor(seconds / 60), s = seconds % 60;
    return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m}:${String(s).padStart(2, "0")}`;
  }

  async function get(path) {
    const headers = key() ? { Authorization: `Bearer ${key()}` } : {};
    const response = await fetch(path, { headers });
    return response.ok ? (await response.json()).data : [];
  }

  async function refresh() {
    if (document.hidden) return;
    try {
      const [timers, items] = await Promise.all([get("/v1/timers"), get("/v1/notes")]);
      list.replaceChildren(...timers.map((t) => {
        const item = document.createElement("li");
        const name = t.label || t.kind;
        item.className = t.kind;
        item.textContent = t.kind === "alarm" ? `${name} at ${t.at}` : `${name}: ${spell(t.left_seconds)}`;
        return item;
      }));
      notes.replaceChildren(...items.map((n) => {
        const item = document.createElement("li");
        item.textContent = `☐ ${n.text}`;
        return item;
      }));
      fill();
    } catch (error) { /* the server is away: try again next time */ }
  }

  document.addEventListener("assistant-announcement", (event) => {
    banner.textContent = event.detail;
    banner.hidden = false;
    fill();
    setTimeout(() => { banner.hidden = true; fill(); }, 15000);
    refresh();
  });
  document.addEventListener("DOMContentLoaded", () => {
    (document.getElementById("app") || document.body).append(panel);
    refresh();
    setInterval(refresh, 1000);
  });
})();
