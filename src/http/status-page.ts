/**
 * The status page at `/`: every proxy with its state (worst first), connections and failures per minute,
 * open connections, the latest problems with their reason, detail lines and hint. The server renders the
 * whole page, so it reads the same without JavaScript; a small inline script keeps it live: on every event
 * from /events it fetches /status.json (the same view the server rendered from) and redraws with DOM calls
 * and textContent only. All text that can come from the network (subjects, peers, SNI, paths) is escaped
 * on the server and never parsed as HTML in the browser. A Content-Security-Policy allows only this page's
 * own script and style (by hash) and connections to its own origin.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KINDS } from '../events.js';
import type { ProxyStatus } from '../doctor.js';
import type { ProblemView, ProxyFacts, ProxyView, StatusBook, StatusView } from '../sinks/status.js';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'\u0000-\u001f\u007f]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CSS = `:root{--bad:#c62828;--warn:#b26a00;--ok:#2e7d32;--mute:#5f6b76;--line:#d8dee4}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.4rem 1.2rem;padding:.7rem 1.2rem;background:#1b1f24;color:#e6edf3}
header h1{font-size:1.1rem;margin:0}header a{color:#9ecbff}header .meta{color:#9da7b1;font-size:12px;margin-left:auto}
#live::before{content:"\\25CF ";color:#9da7b1}#live.on::before{color:#3fb950}#live.off::before{color:#f85149}
main{padding:0 1.2rem 2rem}
.summary{margin:1rem 0;padding:.7rem 1rem;border-radius:6px;font-size:1.05rem;font-weight:600;border-left:6px solid}
.summary.ok{background:#e8f5e9;border-color:var(--ok)}.summary.warn{background:#fff4e0;border-color:var(--warn)}.summary.bad{background:#fdecea;border-color:var(--bad)}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line)}
th{font-size:12px;font-weight:600;color:var(--mute);text-align:left;padding:.4rem .6rem;border-bottom:1px solid var(--line);background:#fafbfc}
td{padding:.5rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
tr.st-down td:first-child,tr.st-failing td:first-child{box-shadow:inset 5px 0 var(--bad)}
tr.st-no_log td:first-child,tr.st-stopped td:first-child,tr.st-degraded td:first-child{box-shadow:inset 5px 0 var(--warn)}
tr.st-ok td:first-child{box-shadow:inset 5px 0 var(--ok)}
.proxy{width:22%}.state{width:26%}.window{width:17%}.proxy b{font-size:1.05rem}.proxy small,.file,.start,.since,.note{color:var(--mute);font-size:12px}
.state .what{font-weight:600;overflow-wrap:anywhere}tr.st-down .what,tr.st-failing .what,tr.st-stopped .what{font-family:ui-monospace,monospace;font-size:13px}tr.st-down .what,tr.st-failing .what{color:var(--bad)}.file{font-family:ui-monospace,monospace;overflow-wrap:anywhere}
.badge{display:inline-block;font-size:11px;font-weight:700;letter-spacing:.04em;padding:.1rem .45rem;border-radius:3px;color:#fff;background:var(--mute)}
.badge.down,.badge.failing{background:var(--bad)}.badge.no_log,.badge.stopped,.badge.degraded{background:var(--warn)}.badge.ok{background:var(--ok)}
.state .what{margin-top:.25rem}.since{margin-left:.3rem}.open{text-align:right;font-variant-numeric:tabular-nums}
.window div{white-space:nowrap;font-size:12px;color:var(--mute)}.spark{font-family:ui-monospace,monospace;font-size:13px;letter-spacing:1px;color:#57606a}.spark.fail{color:var(--bad)}
.todo .last{font-family:ui-monospace,monospace;font-size:12px}.todo .hint,.ev .hint{margin-top:.2rem}
.hint::before{content:"\\2192  ";font-weight:700}
h2{font-size:1rem;margin:1.6rem 0 .4rem}h2 small{font-weight:400;color:var(--mute)}
.ev{background:#fff;border:1px solid var(--line);border-left:5px solid var(--mute);border-radius:4px;margin:.45rem 0;padding:.5rem .8rem}
.ev.critical{border-left-color:#8b0000}.ev.error{border-left-color:var(--bad)}.ev.warning{border-left-color:var(--warn)}
.ev .what{font-family:ui-monospace,monospace}.ev .where,.ev .when,.ev .sev{color:var(--mute);font-size:12px;margin-left:.6rem}
.ev .facts{font-size:12px;margin-top:.15rem;word-break:break-all}
.ev pre{margin:.35rem 0;padding:.35rem .5rem;background:#f6f8fa;white-space:pre-wrap;word-break:break-all;font-size:12px;color:#3d444d}
.ev.new{animation:flash 2s ease-out}@keyframes flash{from{background:#fff3b0}to{background:#fff}}
.none{color:var(--mute)}
.notice{margin:1rem 0 0;padding:.5rem 1rem;border:1px dashed var(--mute);border-radius:6px;color:#3d444d;background:#fff}`;

/** The live part: redraws #summary, the proxy table and the problem list from /status.json on every event. */
const SCRIPT = `(function(){
'use strict';
var KINDS=${JSON.stringify([...KINDS, 'gap'])};
function el(tag,cls,text){var e=document.createElement(tag);if(cls)e.className=cls;if(text!=null)e.textContent=text;return e;}
function row(p){
  var tr=el('tr','st-'+p.state);tr.setAttribute('data-proxy',p.proxy);
  var td=el('td','proxy'),a=el('a');a.setAttribute('href','?proxy='+encodeURIComponent(p.proxy));a.appendChild(el('b',null,p.proxy));td.appendChild(a);
  if(p.labels){td.appendChild(document.createTextNode(' '));td.appendChild(el('small',null,p.labels));}
  td.appendChild(el('div','start',p.lastStart));
  p.files.forEach(function(f){td.appendChild(el('div','file',f));});tr.appendChild(td);
  td=el('td','state');td.appendChild(el('span','badge '+p.state,p.badge));
  if(p.since){td.appendChild(document.createTextNode(' '));td.appendChild(el('span','since',p.since));}
  td.appendChild(el('div','what',p.stateText));if(p.stateNote)td.appendChild(el('div','note',p.stateNote));tr.appendChild(td);
  td=el('td','window');td.setAttribute('title',p.sparkTitle);
  var d=el('div');d.appendChild(el('span','spark',p.connectionsSpark));d.appendChild(document.createTextNode(' '+p.connections+' connections'));td.appendChild(d);
  d=el('div');d.appendChild(el('span','spark fail',p.failuresSpark));d.appendChild(document.createTextNode(' '+p.failures+' failures'));td.appendChild(d);tr.appendChild(td);
  tr.appendChild(el('td','open',String(p.open)));
  td=el('td','todo');if(p.lastProblem)td.appendChild(el('div','last',p.lastProblem));if(p.hint)td.appendChild(el('div','hint',p.hint));tr.appendChild(td);
  return tr;
}
function problem(x){
  var a=el('article','ev '+x.severity);a.setAttribute('data-id',x.id);
  var h=el('div','head');h.appendChild(el('b','what',x.what));h.appendChild(document.createTextNode(' '));h.appendChild(el('span','where',x.where));
  h.appendChild(document.createTextNode(' '));h.appendChild(el('span','when',x.when));h.appendChild(document.createTextNode(' '));h.appendChild(el('span','sev',x.severity));a.appendChild(h);
  if(x.facts)a.appendChild(el('div','facts',x.facts));
  if(x.detail.length)a.appendChild(el('pre','detail',x.detail.join('\\n')));
  a.appendChild(el('div','hint',x.hint));
  return a;
}
function render(v){
  var s=document.getElementById('summary');s.className='summary '+v.summaryLevel;s.textContent=v.summary;
  var tb=document.querySelector('#proxies tbody');
  if(v.proxies.length)tb.replaceChildren.apply(tb,v.proxies.map(row));
  else{var tr=el('tr'),td=el('td','none','No proxies configured.');td.setAttribute('colspan','5');tr.appendChild(td);tb.replaceChildren(tr);}
  var box=document.getElementById('problems'),old={};
  Array.prototype.forEach.call(box.querySelectorAll('article[data-id]'),function(a){old[a.getAttribute('data-id')]=a;});
  var cards=v.problems.map(function(x){var a=old[x.id];if(a)return a;a=problem(x);a.classList.add('new');return a;});
  if(cards.length)box.replaceChildren.apply(box,cards);else box.replaceChildren(el('p','none','No problems seen yet.'));
  document.getElementById('updated').textContent='updated '+v.generatedAt.slice(11,19)+' UTC';
  renders++;document.body.setAttribute('data-renders',String(renders));
}
var renders=0;
var busy=false,again=false;
function refresh(){
  if(busy){again=true;return;}
  busy=true;
  fetch('status.json'+location.search,{cache:'no-store'}).then(function(r){if(!r.ok)throw new Error(String(r.status));return r.json();})
    .then(render).catch(function(){}).then(function(){setTimeout(function(){busy=false;if(again){again=false;refresh();}},100);});
}
var live=document.getElementById('live');
var es=new EventSource('events');
es.onopen=function(){live.className='on';live.textContent='live';refresh();};
es.onerror=function(){live.className='off';live.textContent='reconnecting';};
KINDS.forEach(function(k){es.addEventListener(k,refresh);});
setInterval(refresh,30000);
})();`;

const sha256 = (s: string): string => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;
const CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(CSS)}`,
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const e = escapeHtml;

function renderRow(p: ProxyView): string {
  return `<tr class="st-${e(p.state)}" data-proxy="${e(p.proxy)}">` +
    `<td class="proxy"><a href="?proxy=${e(encodeURIComponent(p.proxy))}"><b>${e(p.proxy)}</b></a>${p.labels ? ` <small>${e(p.labels)}</small>` : ''}` +
    `<div class="start">${e(p.lastStart)}</div>${p.files.map((f) => `<div class="file">${e(f)}</div>`).join('')}</td>` +
    `<td class="state"><span class="badge ${e(p.state)}">${e(p.badge)}</span>${p.since ? ` <span class="since">${e(p.since)}</span>` : ''}` +
    `<div class="what">${e(p.stateText)}</div>${p.stateNote ? `<div class="note">${e(p.stateNote)}</div>` : ''}</td>` +
    `<td class="window" title="${e(p.sparkTitle)}"><div><span class="spark">${e(p.connectionsSpark)}</span> ${p.connections} connections</div>` +
    `<div><span class="spark fail">${e(p.failuresSpark)}</span> ${p.failures} failures</div></td>` +
    `<td class="open">${p.open}</td>` +
    `<td class="todo">${p.lastProblem ? `<div class="last">${e(p.lastProblem)}</div>` : ''}${p.hint ? `<div class="hint">${e(p.hint)}</div>` : ''}</td></tr>`;
}

function renderProblem(x: ProblemView): string {
  return `<article class="ev ${e(x.severity)}" data-id="${e(x.id)}">` +
    `<div class="head"><b class="what">${e(x.what)}</b> <span class="where">${e(x.where)}</span> <span class="when">${e(x.when)}</span> <span class="sev">${e(x.severity)}</span></div>` +
    (x.facts ? `<div class="facts">${e(x.facts)}</div>` : '') +
    (x.detail.length ? `<pre class="detail">${e(x.detail.join('\n'))}</pre>` : '') +
    `<div class="hint">${e(x.hint)}</div></article>`;
}

export function renderStatus(v: StatusView, filter: { proxy?: string } = {}, notice?: string): string {
  const rows = v.proxies.length ? v.proxies.map(renderRow).join('') : '<tr><td class="none" colspan="5">No proxies configured.</td></tr>';
  const problems = v.problems.length ? v.problems.map(renderProblem).join('') : '<p class="none">No problems seen yet.</p>';
  const scope = filter.proxy ? ` <small>of ${e(filter.proxy)} &middot; <a href="./">all proxies</a></small>` : ' <small>of all proxies, newest first</small>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stunnel-doctor: ${e(v.summary)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<noscript><meta http-equiv="refresh" content="30"></noscript>
<style>${CSS}</style></head><body>
<header><h1>stunnel-doctor</h1><span><a href="metrics">metrics</a> &middot; <a href="events">events</a> &middot; <a href="healthz">health</a></span>
<span class="meta"><span id="live">static<noscript> (JavaScript is off: this page reloads every 30 s)</noscript></span> &middot; <span id="updated">updated ${e(v.generatedAt.slice(11, 19))} UTC</span></span></header>
<main>${notice ? `\n<p id="notice" class="notice">${e(notice)}</p>` : ''}
<div id="summary" class="summary ${e(v.summaryLevel)}" role="status">${e(v.summary)}</div>
<table id="proxies"><thead><tr><th>proxy</th><th>state</th><th>last ${v.minutes} min</th><th>open</th><th>latest problem &amp; what to do</th></tr></thead>
<tbody>${rows}</tbody></table>
<h2>Latest problems${scope}</h2>
<div id="problems">${problems}</div>
</main>
<script>${SCRIPT}</script>
</body></html>
`;
}

/** What the doctor offers the page: its proxies' files and open connections, and the status model. */
export interface StatusSource {
  status(): ProxyStatus[];
  readonly statusBook: StatusBook;
}

export function statusView(doctor: StatusSource, filter: { proxy?: string } = {}): StatusView {
  const facts: ProxyFacts[] = doctor.status().map((s) => ({
    proxy: s.proxy,
    labels: s.labels,
    files: s.files.map((f) => ({ path: f.path, role: f.role, error: f.error })),
    openConnections: s.openConnections,
  }));
  return doctor.statusBook.view(facts, filter);
}

/**
 * The routes for the HTTP server: `/` (and `/status`) the page, `/status.json` its view. `?proxy=` filters problems.
 * `notice`: a line above the proxies (the demo says what it replays).
 */
export function statusPage(doctor: StatusSource, opts: { notice?: string } = {}) {
  return (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    const path = url.pathname;
    if (path === '/favicon.ico') {
      res.writeHead(204, { 'cache-control': 'max-age=86400' });
      res.end();
      return true;
    }
    if (path !== '/' && path !== '/status' && path !== '/status.json') return false;
    const proxy = url.searchParams.get('proxy') ?? undefined;
    const filter = proxy ? { proxy } : {};
    const view = statusView(doctor, filter);
    const common = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };
    if (path === '/status.json') {
      res.writeHead(200, { ...common, 'content-type': 'application/json; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : `${JSON.stringify(view)}\n`);
      return true;
    }
    res.writeHead(200, { ...common, 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP });
    res.end(req.method === 'HEAD' ? undefined : renderStatus(view, filter, opts.notice));
    return true;
  };
}
