// core.js: the console's building blocks. Every string that reaches the
// page goes through text nodes (h, text): nothing is ever parsed as HTML,
// so a name like <img src=x onerror=alert(1)> shows as those characters.
'use strict';
(function () {
const OA = (window.OA = window.OA || {});
OA.pages = {};
OA.state = {user: null, status: {}, csrf: ''};

// h builds an element: h('button.primary', {onclick: f}, 'text', child...).
// Attributes named on* become listeners; class/for/aria-* are attributes.
OA.h = function h(tag, attrs, ...kids) {
  const [name, ...cls] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (cls.length) el.className = cls.join(' ');
  if (attrs !== undefined && attrs !== null && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) { kids.unshift(attrs); attrs = null; }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  OA.append(el, kids);
  return el;
};
OA.append = function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === undefined || k === null || k === false) continue;
    el.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
};
OA.clear = (el) => { while (el.firstChild) el.removeChild(el.firstChild); return el; };
const h = OA.h, t = (...a) => OA.t(...a);

// api calls one /api route and returns data, or throws an ApiError with the
// API's message. The CSRF token comes in a response header of every
// session-authenticated answer and goes back on state-changing calls.
class ApiError extends Error { constructor(msg, status) { super(msg); this.status = status; } }
OA.ApiError = ApiError;
OA.api = async function api(method, path, body) {
  const headers = {Accept: 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && OA.state.csrf) headers['X-CSRF-Token'] = OA.state.csrf;
  let res;
  try {
    res = await fetch(path, {method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (e) { throw new ApiError(t('network_error'), 0); }
  const tok = res.headers.get('X-CSRF-Token');
  if (tok) OA.state.csrf = tok;
  let j = null;
  try { j = await res.json(); } catch (e) { /* not JSON */ }
  if (res.status === 404 && (!j || /^not found/.test(j.message || ''))) throw new ApiError(t('route_missing', method + ' ' + path.split('?')[0]), 404);
  if (res.status === 401 && OA.state.user && !path.startsWith('/api/user/login')) { OA.state.user = null; OA.go('#/login'); }
  if (!j) throw new ApiError('HTTP ' + res.status, res.status);
  if (!j.success) throw new ApiError(j.message || ('HTTP ' + res.status), res.status);
  return j.data;
};
OA.qs = (o) => Object.entries(o).filter(([, v]) => v !== '' && v !== undefined && v !== null).map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(v)).join('&');

// toasts
OA.toast = function toast(msg, bad) {
  const el = h('div.toast' + (bad ? '.bad' : ''), msg);
  document.getElementById('toasts').appendChild(el);
  setTimeout(() => el.remove(), bad ? 7000 : 3500);
};
OA.fail = (e) => OA.toast(e && e.message ? e.message : String(e), true);

// dialog opens a modal <dialog> with body; it resolves with the value
// passed to close. Escape closes it (resolving undefined).
OA.dialog = function dialog(title, build) {
  return new Promise((resolve) => {
    const d = h('dialog', {'aria-labelledby': 'dlg-title'});
    let value;
    const close = (v) => { value = v; d.close(); };
    d.addEventListener('close', () => { d.remove(); resolve(value); });
    OA.append(d, [h('h2', {id: 'dlg-title'}, title), build(close)]);
    document.body.appendChild(d);
    d.showModal();
  });
};
OA.confirm = (msg, danger) => OA.dialog(t('confirm'), (close) => h('div', h('p', msg), h('div.row',
  h('button' + (danger ? '.danger' : '.primary'), {type: 'button', onclick: () => close(true)}, t('yes')),
  h('button', {type: 'button', onclick: () => close(false)}, t('cancel')))));

OA.copy = async function copy(text) {
  try { await navigator.clipboard.writeText(text); OA.toast(t('copied')); return; } catch (e) { /* fall back */ }
  const ta = h('textarea', {readonly: true, 'aria-hidden': 'true'});
  ta.value = text;
  document.body.appendChild(ta); ta.select();
  try { document.execCommand('copy'); OA.toast(t('copied')); } catch (e) { OA.toast(t('copy_failed'), true); }
  ta.remove();
};

// form builds a labelled form. fields: [{name, label, type, value, hint,
// options, required, max, json, full}]; submit(values) returns a promise;
// its ApiError message is shown beside the field it names (or above the
// buttons), and what was typed stays.
let fieldSeq = 0;
OA.form = function form(fields, submit, opts = {}) {
  const els = {}, errs = {};
  const formErr = h('div.formerr', {role: 'alert'});
  const f = h('form', {novalidate: true});
  const grid = h('div' + (opts.grid === false ? '' : '.grid2'));
  for (const fd of fields) {
    const id = 'f' + (++fieldSeq);
    const err = h('div.err', {id: id + '-err', role: 'alert'});
    let input;
    const common = {id, name: fd.name, 'aria-describedby': id + '-err' + (fd.hint ? ' ' + id + '-hint' : ''), required: fd.required, maxlength: fd.max, placeholder: fd.placeholder, autocomplete: fd.autocomplete || 'off'};
    if (fd.type === 'textarea') input = h('textarea', common);
    else if (fd.type === 'select') input = h('select', common, fd.options.map(([v, l]) => h('option', {value: v}, l)));
    else input = h('input', Object.assign({type: fd.type || 'text', min: fd.min, step: fd.step, list: fd.list}, common));
    if (fd.type === 'checkbox') input.checked = !!fd.value; else if (fd.value !== undefined && fd.value !== null) input.value = fd.value;
    if (fd.onchange) input.addEventListener('change', () => fd.onchange(input, els));
    els[fd.name] = input; errs[fd.name] = err;
    const wrap = fd.type === 'checkbox'
      ? h('div.field.check', h('label', {for: id}, input, fd.label), fd.hint && h('div.hint', {id: id + '-hint'}, fd.hint), err)
      : h('div.field', h('label', {for: id}, fd.label), input, fd.hint && h('div.hint', {id: id + '-hint'}, fd.hint), err);
    if (fd.full) wrap.classList.add('full');
    grid.appendChild(wrap);
  }
  const btn = h('button.primary', {type: 'submit'}, opts.submitLabel || t('save'));
  OA.append(f, [grid, formErr, h('div.row', btn, opts.extra)]);
  const values = () => {
    const v = {};
    for (const fd of fields) {
      const el = els[fd.name];
      v[fd.name] = fd.type === 'checkbox' ? el.checked : el.value;
    }
    return v;
  };
  const clearErrs = () => { formErr.textContent = ''; for (const e of Object.values(errs)) e.textContent = ''; };
  const show = (msg) => {
    // The longest field name the message mentions gets it: "remain_quota"
    // before "name".
    const low = msg.toLowerCase();
    const hit = fields.map((fd) => [fd, [fd.name, ...(fd.match || [])].filter((n) => low.includes(n.toLowerCase())).sort((a, b) => b.length - a.length)[0]])
      .filter(([, n]) => n).sort((a, b) => b[1].length - a[1].length)[0];
    if (hit) { errs[hit[0].name].textContent = msg; els[hit[0].name].setAttribute('aria-invalid', 'true'); els[hit[0].name].focus(); } else formErr.textContent = msg;
  };
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrs();
    for (const el of Object.values(els)) el.removeAttribute('aria-invalid');
    const v = values();
    for (const fd of fields) {
      let msg = '';
      if (fd.required && fd.type !== 'checkbox' && !String(v[fd.name]).trim()) msg = t('required');
      else if (fd.json && String(v[fd.name]).trim()) { try { const o = JSON.parse(v[fd.name]); if (!o || typeof o !== 'object' || Array.isArray(o)) msg = t('want_json'); } catch (e) { msg = t('bad_json', e.message); } }
      else if (fd.check) msg = fd.check(v[fd.name], v) || '';
      if (msg) { errs[fd.name].textContent = msg; els[fd.name].setAttribute('aria-invalid', 'true'); els[fd.name].focus(); return; }
    }
    btn.disabled = true;
    try { await submit(v); } catch (e) { show(e.message || String(e)); } finally { btn.disabled = false; }
  });
  f.els = els; f.showError = show;
  return f;
};

// table renders rows; cols: [{label, get(row) -> Node|string, num}].
OA.table = function table(cols, rows, empty) {
  if (!rows || !rows.length) return h('p.muted', empty || t('no_rows'));
  return h('div.table-wrap', h('table',
    h('thead', h('tr', cols.map((c) => h('th' + (c.num ? '.num' : ''), {scope: 'col'}, c.label)))),
    h('tbody', rows.map((r) => h('tr', cols.map((c) => h('td' + (c.num ? '.num' : '') + (c.cls ? '.' + c.cls : ''), c.get(r))))))));
};

// pager: p is 0-based; more is whether the page was full.
OA.pager = (p, more, go) => h('nav.pager', {'aria-label': t('pages')},
  h('button', {type: 'button', disabled: p <= 0, onclick: () => go(p - 1)}, t('prev')),
  h('span', t('page_n', p + 1)),
  h('button', {type: 'button', disabled: !more, onclick: () => go(p + 1)}, t('next')));

// Quota in one-api's units, with money when the options say so.
OA.quota = function quota(q) {
  q = Number(q) || 0;
  const s = OA.state.status, per = Number(s.quota_per_unit) || 500000;
  const n = q.toLocaleString();
  if (s.display_in_currency === false) return n;
  return n + ' (≈ $' + (q / per).toFixed(q / per < 1 ? 4 : 2) + ')';
};
OA.time = (sec) => (!sec || sec < 0) ? '—' : new Date(sec * 1000).toLocaleString(OA.lang === 'zh' ? 'zh-CN' : 'en-GB');
OA.badge = (text, kind) => h('span.badge.' + kind, text);
OA.isAdmin = () => OA.state.user && OA.state.user.role >= 10;
OA.isRoot = () => OA.state.user && OA.state.user.role >= 100;
// toLocalInput turns unix seconds into a datetime-local value.
OA.toLocalInput = (sec) => { if (!sec || sec < 0) return ''; const d = new Date(sec * 1000); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 16); };
OA.fromLocalInput = (v) => v ? Math.floor(new Date(v).getTime() / 1000) : 0;

// Go duration strings ("1.5ms", "2m5s", "850µs") in milliseconds.
OA.ms = function ms(s) {
  if (typeof s === 'number') return s;
  const u = {h: 3600e3, m: 60e3, s: 1e3, ms: 1, 'µs': 1e-3, 'us': 1e-3, ns: 1e-6};
  let total = 0;
  for (const m of String(s || '').matchAll(/([0-9.]+)(h|ms|m|s|µs|us|ns)/g)) total += parseFloat(m[1]) * u[m[2]];
  return total;
};

// chart draws an SVG line or bar chart; series: [{values, cls}]. Built
// with createElementNS and attributes only (no inline style, no HTML).
const SVG = 'http://www.w3.org/2000/svg';
const s = (tag, attrs, ...kids) => { const el = document.createElementNS(SVG, tag); for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v); for (const k of kids) el.appendChild(typeof k === 'string' ? document.createTextNode(k) : k); return el; };
OA.chart = function chart(title, labels, series, opts = {}) {
  const W = 320, H = 140, L = 40, B = 18, T = 6;
  const all = series.flatMap((x) => x.values).filter((v) => isFinite(v));
  const max = Math.max(opts.min || 0, ...all, 0) || 1;
  const n = Math.max(labels.length, 1);
  const x = (i) => L + (W - L - 4) * (n === 1 ? 0.5 : i / (n - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const svg = s('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title});
  svg.appendChild(s('line', {class: 'axis', x1: L, y1: H - B, x2: W, y2: H - B}));
  svg.appendChild(s('text', {x: 2, y: T + 8}, fmtNum(max) + (opts.unit || '')));
  svg.appendChild(s('text', {x: 2, y: H - B}, '0'));
  if (labels.length) {
    svg.appendChild(s('text', {x: L, y: H - 4}, String(labels[0])));
    svg.appendChild(s('text', {x: W - 4, y: H - 4, 'text-anchor': 'end'}, String(labels[labels.length - 1])));
  }
  for (const ser of series) {
    if (opts.bars) {
      const bw = Math.max(2, (W - L - 4) / n - 2);
      ser.values.forEach((v, i) => svg.appendChild(s('rect', {class: 'bar', x: L + i * (W - L - 4) / n, y: y(v), width: bw, height: Math.max(0, H - B - y(v))}, s('title', {}, labels[i] + ': ' + fmtNum(v)))));
    } else if (ser.values.length) {
      svg.appendChild(s('polyline', {class: ser.cls || 'line', points: ser.values.map((v, i) => x(i) + ',' + y(isFinite(v) ? v : 0)).join(' ')}));
    }
  }
  return h('figure.chart', h('h3', title), svg, opts.legend && h('div.legend', opts.legend));
};
const fmtNum = (v) => v >= 100 ? Math.round(v).toLocaleString() : (Math.round(v * 100) / 100).toString();
OA.fmtNum = fmtNum;
})();
