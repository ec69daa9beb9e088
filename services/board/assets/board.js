// Nordstern board: filters that apply on change, and live updates over Server-Sent
// Events. Every page works without this script; it only saves a click and a reload.
"use strict";

document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-autosubmit]");
  if (select && select.form) select.form.submit();
});

const liveUrl = document.body.dataset.live;
if (liveUrl && "EventSource" in window) {
  const status = document.getElementById("live-status");
  const lang = document.querySelector('meta[name="nordstern-lang"]')?.content || "en";
  const said = (en, de) => (lang === "de" ? de : en);
  const source = new EventSource(liveUrl);
  source.addEventListener("ready", () => {
    if (status) status.textContent = said("● live", "● live");
    document.body.dataset.liveReady = "true";
  });
  source.addEventListener("error", () => {
    if (status) status.textContent = said("○ reconnecting", "○ verbinde neu");
  });
  source.addEventListener("score", (message) => {
    // The alert queue lists alerts, not scores: a computation may have raised or
    // cleared one, so the queue is fetched again and swapped in place.
    if (location.pathname === "/alerts") {
      refreshMain();
      return;
    }
    const update = JSON.parse(message.data);
    for (const holder of document.querySelectorAll(`[data-account="${CSS.escape(update.account_id)}"]`)) {
      const badge = holder.querySelector(".badge");
      if (badge) {
        badge.className = `badge ${update.color}`;
        badge.dataset.color = update.color;
        const word = badge.querySelector(".word");
        if (word) word.textContent = update.word;
        const score = badge.querySelector(".score");
        if (score) score.textContent = String(update.score);
      }
      const alerts = holder.querySelector(".alerts a");
      if (alerts && update.open_alerts !== null) alerts.textContent = String(update.open_alerts);
      holder.classList.remove("flash");
      void holder.offsetWidth;
      holder.classList.add("flash");
    }
  });
}

async function refreshMain() {
  const response = await fetch(location.href, { credentials: "same-origin" });
  if (!response.ok) return;
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.getElementById("main");
  const current = document.getElementById("main");
  if (fresh && current) current.replaceWith(fresh);
}
