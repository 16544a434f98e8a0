/**
 * The status page at `/`: every proxy with its state and its latest failures (reason, detail lines, hint),
 * server-rendered and readable without JavaScript; a little script adds new failures live from /events.
 * All text that can come from the network (subjects, peers, SNI) is escaped.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DoctorEvent } from '../events.js';
import type { ProxyStatus } from '../doctor.js';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'\u0000-\u001f\u007f]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1f24;background:#fafbfc}
h1{font-size:1.3rem;margin:0 0 .2rem}small{color:#57606a}
table{border-collapse:collapse;margin:.8rem 0 1.4rem;min-width:60%}td,th{padding:.35rem .7rem;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.unk{color:#57606a}
.ev{border-left:4px solid #d0d7de;background:#fff;margin:.5rem 0;padding:.45rem .7rem}
.ev.critical{border-color:#a40e26}.ev.error{border-color:#cf222e}.ev.warning{border-color:#bf8700}
.ev .k{font-weight:600}.ev pre{margin:.3rem 0;white-space:pre-wrap;font-size:12px;color:#57606a}.ev .h{margin-top:.2rem}
code{font-size:12px}`;

function renderEvent(e: DoctorEvent): string {
  const where = [e.proxy, e.service ? `[${e.service}]` : '', e.connection !== null ? `#${e.connection}` : ''].filter(Boolean).join(' ');
  return `<div class="ev ${e.severity}" data-id="${escapeHtml(e.id)}"><span class="k">${escapeHtml(`${e.kind}/${e.reason}`)}</span> ` +
    `<small>${escapeHtml(e.time ?? '')} &middot; ${escapeHtml(where)} &middot; ${escapeHtml(e.severity)}</small>` +
    (e.detail.length ? `<pre>${escapeHtml(e.detail.join('\n'))}</pre>` : '') +
    `<div class="h">&rarr; ${escapeHtml(e.hint)}</div></div>`;
}

export function renderStatus(status: ProxyStatus[]): string {
  const rows = status.map((s) => {
    const state = s.configOk === null ? '<span class="unk">unknown</span>' : s.configOk ? '<span class="ok">running</span>' : '<span class="bad">configuration failed</span>';
    const files = s.files.map((f) => `<code>${escapeHtml(f.path)}</code>${f.error ? ` <span class="bad">${escapeHtml(f.error)}</span>` : ''}`).join('<br>');
    return `<tr data-proxy="${escapeHtml(s.proxy)}"><td><b>${escapeHtml(s.proxy)}</b>${Object.entries(s.labels).map(([k, v]) => ` <small>${escapeHtml(k)}=${escapeHtml(v)}</small>`).join('')}</td>` +
      `<td>${state}</td><td>${escapeHtml(s.lastStart ?? '-')}${s.version ? ` <small>stunnel ${escapeHtml(s.version)}</small>` : ''}</td>` +
      `<td>${s.openConnections}</td><td class="fails">${s.recentFailures.filter((e) => e.severity === 'error' || e.severity === 'critical').length}</td><td>${files}</td></tr>`;
  }).join('\n');
  const recent = status.flatMap((s) => s.recentFailures).sort((a, b) => (b.time ?? '').localeCompare(a.time ?? '')).slice(0, 50);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>stunnel-doctor</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${CSS}</style></head><body>
<h1>stunnel-doctor</h1><small>why each stunnel tunnel fails &middot; <a href="/metrics">metrics</a> &middot; <a href="/events">events</a> &middot; <a href="/healthz">health</a></small>
<table id="proxies"><thead><tr><th>proxy</th><th>state</th><th>last start</th><th>open connections</th><th>recent failures</th><th>log</th></tr></thead>
<tbody>${rows || '<tr><td colspan="6">no proxies</td></tr>'}</tbody></table>
<h2 style="font-size:1.1rem">Latest problems</h2><div id="events">${recent.map(renderEvent).join('\n') || '<p id="none">No problems seen yet.</p>'}</div>
<script>
(function(){
  var box=document.getElementById('events');
  function esc(s){return String(s).replace(/[&<>"']/g,function(c){return '&#'+c.charCodeAt(0)+';';});}
  var es=new EventSource('/events');
  es.onmessage=null;
  function add(ev){
    var e=JSON.parse(ev.data); if(e.severity==='info') return;
    if(document.querySelector('[data-id="'+CSS.escape(e.id)+'"]')) return;
    var none=document.getElementById('none'); if(none) none.remove();
    var where=[e.proxy,e.service?'['+e.service+']':'',e.connection!==null?'#'+e.connection:''].filter(Boolean).join(' ');
    var d=document.createElement('div'); d.className='ev '+e.severity; d.setAttribute('data-id',e.id);
    d.innerHTML='<span class="k">'+esc(e.kind+'/'+e.reason)+'</span> <small>'+esc(e.time||'')+' &middot; '+esc(where)+' &middot; '+esc(e.severity)+'</small>'+
      (e.detail.length?'<pre>'+esc(e.detail.join('\\n'))+'</pre>':'')+'<div class="h">&rarr; '+esc(e.hint)+'</div>';
    box.insertBefore(d,box.firstChild);
    var row=document.querySelector('tr[data-proxy="'+CSS.escape(e.proxy)+'"] td.fails'); if(row&&(e.severity==='error'||e.severity==='critical')) row.textContent=String(Number(row.textContent)+1);
  }
  ['config_failed','config_warning','connect_failed','cert_verify_failed','tls_handshake_failed','connection_rejected'].forEach(function(k){es.addEventListener(k,add);});
})();
</script></body></html>`;
}

/** The route for the HTTP server: `/` (and `/status`). */
export function statusPage(doctor: { status(): ProxyStatus[] }) {
  return (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    if (url.pathname !== '/' && url.pathname !== '/status') return false;
    const body = renderStatus(doctor.status());
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
