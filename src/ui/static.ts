import { crc32 } from "../keys/format";

/**
 * The console's only CSS and JS, served by the Worker itself (no assets binding, no
 * bundler) under names that carry a hash of their content, so they can be cached for a
 * year: a changed file gets a new name. The pages work without the script; it only adds
 * copy buttons, <dialog> confirmations, relative times, sends each form once, and clears a
 * shown secret when the page is left.
 */
const CSS = `:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--accent:#0b5cad;--bad:#a40e26;--ok:#116329;--warn:#7d4e00;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:var(--fg);background:var(--bg)}
body{margin:0}header.top{display:flex;gap:1rem;align-items:center;padding:.6rem 1.2rem;border-bottom:1px solid var(--line);flex-wrap:wrap}
header.top nav a{margin-right:1rem}header.top form{margin-left:auto}
main{padding:1rem 1.2rem;max-width:80rem}a{color:var(--accent)}h1{font-size:1.4rem}h2{font-size:1.15rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}tbody th{font-weight:normal}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85rem}
.status-active{color:var(--ok)}.status-revoked,.status-expired{color:var(--bad)}.status-soon,.status-rotating{color:var(--warn)}
.secret{border:2px solid var(--warn);padding:1rem;margin:1rem 0;background:#fff8c5}.secret code{word-break:break-all;font-size:1rem}.secret pre{white-space:pre-wrap;word-break:break-all}
.scroll{overflow-x:auto;max-width:100%;position:relative}main{overflow-wrap:anywhere}td,th{overflow-wrap:break-word}th.name{overflow-wrap:anywhere;min-width:8rem;max-width:20rem}td.details{min-width:12rem;max-width:26rem;overflow-wrap:anywhere}main svg{max-width:100%;height:auto}@media (forced-colors:active){svg text{fill:CanvasText}svg line{stroke:CanvasText}svg .pass{fill:CanvasText}svg .bad{fill:Highlight}}main svg.chart{max-width:none}figure{margin:1rem 0}
.error{border:2px solid var(--bad);padding:.6rem 1rem;color:var(--bad)}.muted{color:var(--muted)}.service{display:block;font-weight:normal}
form.inline{display:inline}fieldset{border:1px solid var(--line);margin:.6rem 0}label{display:block;margin:.3rem 0}
input,select,button{font:inherit;padding:.3rem .5rem}[aria-invalid=true]{border:2px solid var(--bad);outline-color:var(--bad)}select{max-width:100%}button{cursor:pointer}button.danger{color:#fff;background:var(--bad);border:1px solid var(--bad)}
.filters{display:flex;gap:.6rem;flex-wrap:wrap;align-items:end;margin-bottom:1rem}.filters label{margin:0;max-width:100%}.filters input[type=search]{width:18em;max-width:100%}
.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}
dialog{max-width:32rem}dialog::backdrop{background:rgba(0,0,0,.4)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.skip{position:absolute;left:-9999px;top:.4rem}.skip:focus{left:1rem;z-index:10;background:var(--bg);padding:.3rem .6rem;border:2px solid var(--accent)}main:focus{outline:none}
`;

const JS = `"use strict";
document.querySelectorAll("[data-copy]").forEach(function (b) {
  b.hidden = false;
  b.addEventListener("click", function () {
    var t = document.getElementById(b.getAttribute("data-copy"));
    if (!t) return;
    // Only the visible word changes: the button keeps the name of its key (a hidden part of it).
    var say = function (word) { if (b.firstChild && b.firstChild.nodeType === 3) b.firstChild.nodeValue = word; else b.textContent = word; };
    // Said aloud too (a live region), and on failure the key is selected for copying by hand.
    var live = document.getElementById(b.getAttribute("data-copy") + "-said");
    // No clipboard API (a page served over plain HTTP): the same as a failed copy.
    var write = navigator.clipboard ? navigator.clipboard.writeText(t.textContent.trim()) : Promise.reject(new Error("no clipboard"));
    write.then(function () {
      say("Copied"); if (live) live.textContent = "Copied";
    }, function () {
      say("Copy failed"); window.getSelection().selectAllChildren(t);
      if (live) live.textContent = "Copy failed: the key is selected, copy it with your keyboard";
    });
  });
});
document.querySelectorAll("[data-dialog]").forEach(function (a) {
  a.addEventListener("click", function (e) {
    var d = document.getElementById(a.getAttribute("data-dialog"));
    if (!d || typeof d.showModal !== "function") return;
    e.preventDefault();
    d.showModal();
    d.addEventListener("close", function () { a.focus(); }, { once: true });
  });
});
document.querySelectorAll("dialog [data-close]").forEach(function (b) {
  b.addEventListener("click", function () { b.closest("dialog").close(); });
});
// "I've saved this key" leaves the page in place of itself: Back then skips the answer that
// showed the key (a POST answer: Back would offer to send the form again).
document.querySelectorAll("[data-saved]").forEach(function (b) {
  b.addEventListener("click", function (e) {
    clearSecrets();
    if (!b.form) return;
    e.preventDefault();
    location.replace(b.form.action);
  });
});
function clearSecrets() {
  document.querySelectorAll("[data-secret]").forEach(function (s) { s.textContent = "(hidden: the key is shown only once)"; });
}
window.addEventListener("pagehide", clearSecrets);
// A date typed into "Custom date" means "On a date": choose it, so the date is not ignored;
// choosing any other expiry afterwards clears the date, so the two never contradict.
document.querySelectorAll("input[name=expiresOn]").forEach(function (d) {
  d.addEventListener("input", function () {
    var r = d.form && d.form.querySelector("input[name=expiry][value=custom]");
    if (r && d.value) r.checked = true;
  });
  if (!d.form) return;
  d.form.querySelectorAll("input[name=expiry]").forEach(function (r) {
    r.addEventListener("change", function () { if (r.checked && r.value !== "custom") d.value = ""; });
  });
});
document.querySelectorAll("form[data-autosubmit]").forEach(function (f) { f.submit(); });
// A refused form comes back with its message first: focus goes there, so a keyboard or
// screen-reader user starts from what to fix, not from the top of the page. So does the
// notice of what an action did (revoked, deleted, role set), which a reader would not
// announce on a page that loads with it (found by a browser QA pass).
(function () {
  var refused = document.querySelector("main .error[role=alert]") || document.querySelector("main .notice[role=status]");
  if (!refused) return;
  refused.setAttribute("tabindex", "-1");
  refused.focus();
})();
// A whole key typed into a search goes by POST to find its key: in a GET it would sit in the
// address bar and the history. So does one cut short (32 or more base62 characters in a row
// that look random: classify.ts holdsKeyMaterial): its lost checksum can be computed again.
// (Without the script the server still never echoes it.)
var KEY_SHAPE = /[a-z][a-z0-9]{0,23}_[a-z][a-z0-9]{0,23}_[0-9A-Za-z]{49}/;
function keyMaterial(text) {
  var whole = (text.match(/[0-9a-z]{47,}/g) || []).concat(text.match(/[0-9A-Z]{47,}/g) || []);
  for (var w = 0; w < whole.length; w++)
    if (/[0-9]/.test(whole[w]) && /[g-zG-Z]/.test(whole[w])) return true;
  var runs = text.match(/[0-9A-Za-z]{32,}/g) || [];
  var kind = function (c) { return c >= "a" ? 0 : c >= "A" ? 1 : 2; };
  for (var i = 0; i < runs.length; i++) {
    var r = runs[i], changes = 0;
    if (!/[a-z]/.test(r) || !/[A-Z]/.test(r)) continue;
    for (var j = 1; j < r.length; j++) if (kind(r[j]) !== kind(r[j - 1])) changes++;
    if (changes >= 0.35 * (r.length - 1)) return true;
  }
  return false;
}
document.querySelectorAll("form[data-find]").forEach(function (f) {
  f.addEventListener("submit", function () {
    var field = f.querySelector("input[name=q], input[name=keyId], input[name=owner]");
    if (!field || !(KEY_SHAPE.test(field.value) || keyMaterial(field.value))) return;
    f.method = "post";
    f.action = f.getAttribute("data-find");
    // A POST carries the session's form token (the server writes it into every POST form and this meta).
    var token = document.querySelector("meta[name=kg-form]");
    if (token && !f.querySelector("input[name=kg_form]")) {
      var input = document.createElement("input");
      input.type = "hidden"; input.name = "kg_form"; input.value = token.getAttribute("content");
      f.appendChild(input);
    }
  });
});
// A form that changes something is sent once: a second click (a double click, an impatient
// user) would rotate an already rotated key, or make a second key nobody sees.
document.querySelectorAll("form[method=post]").forEach(function (f) {
  f.addEventListener("submit", function (e) {
    if (f.hasAttribute("data-sent")) { e.preventDefault(); return; }
    f.setAttribute("data-sent", "");
    f.querySelectorAll("button[type=submit]").forEach(function (b) { b.setAttribute("aria-disabled", "true"); });
  });
});
var rtf = typeof Intl !== "undefined" && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;
document.querySelectorAll("time[data-relative]").forEach(function (t) {
  if (!rtf) return;
  var s = (Date.parse(t.getAttribute("datetime")) - Date.now()) / 1000, a = Math.abs(s);
  var u = a < 60 ? ["second", s] : a < 3600 ? ["minute", s / 60] : a < 86400 ? ["hour", s / 3600] : ["day", s / 86400];
  // The exact time stays on the page (keyboard and touch cannot reach a tooltip); the relative one is added.
  t.textContent = t.textContent + " (" + rtf.format(Math.round(u[1]), u[0]) + ")";
});
`;

const name = (body: string, ext: string) =>
	`${crc32(body).toString(16).padStart(8, "0")}${crc32(body + ext)
		.toString(16)
		.padStart(8, "0")}.${ext}`;

export const STATIC_PREFIX = "/_keygate/ui/static/";
export const CSS_PATH = STATIC_PREFIX + name(CSS, "css");
export const JS_PATH = STATIC_PREFIX + name(JS, "js");

/** The asset at this path, or undefined. Cached for a year: the name changes with the content. */
export function staticAsset(path: string): Response | undefined {
	const asset =
		path === CSS_PATH ? [CSS, "text/css; charset=utf-8"] : path === JS_PATH ? [JS, "text/javascript; charset=utf-8"] : undefined;
	if (!asset) return undefined;
	return new Response(asset[0], { headers: { "Content-Type": asset[1]!, "Cache-Control": "public, max-age=31536000, immutable" } });
}
