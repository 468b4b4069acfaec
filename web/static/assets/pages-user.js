// pages-user.js: what every user sees: dashboard, tokens, logs, top up,
// account.
'use strict';
(function () {
  const OA = window.OA, h = OA.h, t = OA.t, P = OA.pages;

  // missing renders a note for a route this gateway does not serve yet.
  const note = (e) => h('p.muted', {role: 'note'}, e.message);

  P.dashboard = async function (main) {
    await OA.reloadSelf();
    const u = OA.state.user;
    main.appendChild(h('div.cards',
      stat(t('remaining_quota'), u.quota), stat(t('used_quota'), u.used_quota),
      stat(t('request_count'), u.request_count, true), stat(t('group'), u.group, true)));
    const days = h('select', {id: 'dash-days'}, h('option', {value: 7}, t('last_n_days', 7)), h('option', {value: 30}, t('last_n_days', 30)));
    const box = h('div');
    main.appendChild(h('div.toolbar', h('div.field', h('label', {for: 'dash-days'}, t('range')), days)));
    main.appendChild(box);
    const models = h('div');
    main.appendChild(h('h2', t('available_models')));
    main.appendChild(models);
    let rows = null;
    const draw = () => {
      OA.clear(box);
      if (rows instanceof Error) { box.appendChild(note(rows)); return; }
      const n = Number(days.value), byDay = new Map(), byModel = new Map();
      const today = new Date();
      for (let i = n - 1; i >= 0; i--) { const d = new Date(today); d.setDate(d.getDate() - i); byDay.set(d.toISOString().slice(0, 10), {req: 0, quota: 0}); }
      for (const r of rows) {
        const day = r.Day || r.day, model = r.ModelName || r.model_name || '?';
        const req = Number(r.RequestCount ?? r.request_count ?? 0), q = Number(r.Quota ?? r.quota ?? 0);
        const tok = Number(r.PromptTokens ?? r.prompt_tokens ?? 0) + Number(r.CompletionTokens ?? r.completion_tokens ?? 0);
        if (!byDay.has(day)) continue;
        const d = byDay.get(day); d.req += req; d.quota += q;
        const m = byModel.get(model) || {model, req: 0, quota: 0, tokens: 0};
        m.req += req; m.quota += q; m.tokens += tok; byModel.set(model, m);
      }
      const labels = [...byDay.keys()].map((d) => d.slice(5));
      box.appendChild(h('div.charts',
        OA.chart(t('requests_per_day'), labels, [{values: [...byDay.values()].map((d) => d.req)}], {bars: true}),
        OA.chart(t('quota_per_day'), labels, [{values: [...byDay.values()].map((d) => d.quota)}], {bars: true})));
      box.appendChild(h('h2', t('per_model')));
      box.appendChild(OA.table([
        {label: t('model'), get: (m) => m.model},
        {label: t('requests'), get: (m) => m.req.toLocaleString(), num: true},
        {label: t('tokens_used'), get: (m) => m.tokens.toLocaleString(), num: true},
        {label: t('quota'), get: (m) => OA.quota(m.quota), num: true},
      ], [...byModel.values()].sort((a, b) => b.quota - a.quota)));
    };
    days.addEventListener('change', draw);
    try { rows = (await OA.api('GET', '/api/user/dashboard')) || []; } catch (e) { rows = e; }
    draw();
    try {
      const list = (await OA.api('GET', '/api/user/available_models')) || [];
      models.appendChild(list.length ? h('div.chips', list.map((m) => h('span.chip', m))) : h('p.muted', t('no_rows')));
    } catch (e) { models.appendChild(note(e)); }
  };
  function stat(k, v, raw) { return h('div.stat', h('div.k', k), h('div.v', raw ? String(v ?? '—') : OA.quota(v))); }

  // ---- tokens ----
  const tokenStatus = (s) => ({1: [t('enabled'), 'ok'], 2: [t('disabled'), 'bad'], 3: [t('expired'), 'warn'], 4: [t('exhausted'), 'warn']}[s] || [String(s), 'warn']);
  P.tokens = async function (main) {
    let p = 0, keyword = '';
    const list = h('div');
    const search = h('input', {id: 'tok-search', type: 'search'});
    main.appendChild(h('form.toolbar', {role: 'search', onsubmit: (e) => { e.preventDefault(); keyword = search.value.trim(); p = 0; load(); }},
      h('div.field.grow', h('label', {for: 'tok-search'}, t('search_tokens')), search),
      h('button', {type: 'submit'}, t('search')),
      h('button.primary', {type: 'button', id: 'new-token', onclick: () => edit(null)}, t('new_token'))));
    main.appendChild(list);
    async function load() {
      let rows;
      try {
        rows = keyword ? await OA.api('GET', '/api/token/search?' + OA.qs({keyword, p}))
          : await OA.api('GET', '/api/token/?' + OA.qs({p, page_size: 20}));
      } catch (e) { OA.clear(list).appendChild(note(e)); return; }
      rows = rows || [];
      OA.clear(list).append(OA.table([
        {label: t('name'), get: (r) => r.name},
        {label: t('status'), get: (r) => OA.badge(...tokenStatus(r.status))},
        {label: t('key'), cls: 'key', get: (r) => keyCell(r.key)},
        {label: t('remaining_quota'), get: (r) => r.unlimited_quota ? t('unlimited') : OA.quota(r.remain_quota), num: true},
        {label: t('used_quota'), get: (r) => OA.quota(r.used_quota), num: true},
        {label: t('expires'), get: (r) => r.expired_time === -1 ? t('never') : OA.time(r.expired_time)},
        {label: t('actions'), get: (r) => h('div.acts',
          h('button', {type: 'button', 'data-act': 'copy', onclick: () => OA.copy('sk-' + r.key)}, t('copy_key')),
          h('button', {type: 'button', onclick: () => edit(r)}, t('edit')),
          h('button', {type: 'button', 'data-act': 'toggle', onclick: () => setStatus(r, r.status === 1 ? 2 : 1)}, r.status === 1 ? t('disable') : t('enable')),
          h('button.danger', {type: 'button', onclick: () => del(r)}, t('delete')))},
      ], rows, t('no_tokens')), OA.pager(p, rows.length >= (keyword ? 10 : 20), (n) => { p = n; load(); }));
    }
    // keyCell shows a masked key; "show" reveals it in place.
    function keyCell(key) {
      const span = h('span', 'sk-' + key.slice(0, 4) + '…' + key.slice(-4));
      const btn = h('button', {type: 'button', 'aria-label': t('show_key'), onclick: () => { span.textContent = 'sk-' + key; btn.remove(); }}, t('show'));
      return h('span.row', span, btn);
    }
    async function setStatus(r, status) {
      try { await OA.api('PUT', '/api/token/?status_only=true', {id: r.id, status}); OA.toast(t('saved')); load(); } catch (e) { OA.fail(e); }
    }
    async function del(r) {
      if (!await OA.confirm(t('confirm_delete', r.name), true)) return;
      try { await OA.api('DELETE', '/api/token/' + r.id); load(); } catch (e) { OA.fail(e); }
    }
    async function edit(r) {
      let models = [];
      try { models = (await OA.api('GET', '/api/user/available_models')) || []; } catch (e) { /* free text then */ }
      const created = await OA.dialog(r ? t('edit_token') : t('new_token'), (close) => {
        const dl = h('datalist', {id: 'tok-models'}, models.map((m) => h('option', {value: m})));
        const f = OA.form([
          {name: 'name', label: t('name'), value: r ? r.name : '', max: 30, required: true},
          {name: 'remain_quota', label: t('quota'), type: 'number', min: 0, value: r ? r.remain_quota : 500000, hint: t('quota_hint')},
          {name: 'unlimited_quota', label: t('unlimited_quota'), type: 'checkbox', value: r ? r.unlimited_quota : false},
          {name: 'expired_time', label: t('expires'), type: 'datetime-local', value: r ? OA.toLocalInput(r.expired_time) : '', hint: t('expires_hint'), match: ['expired']},
          {name: 'models', label: t('model_allow_list'), value: r ? r.models || '' : '', hint: t('models_hint'), list: 'tok-models', full: true},
          {name: 'subnet', label: t('subnets'), value: r ? r.subnet || '' : '', hint: t('subnet_hint'), full: true},
        ], async (v) => {
          const body = {name: v.name, remain_quota: Number(v.remain_quota) || 0, unlimited_quota: v.unlimited_quota,
            expired_time: v.expired_time ? OA.fromLocalInput(v.expired_time) : -1, models: v.models, subnet: v.subnet};
          if (r) body.id = r.id;
          const data = await OA.api(r ? 'PUT' : 'POST', '/api/token/', body);
          close(data || true);
        }, {extra: h('button', {type: 'button', onclick: () => close()}, t('cancel'))});
        return h('div', dl, f);
      });
      if (!created) return;
      load();
      if (!r && created.key) showKey(created.key);
      else OA.toast(t('saved'));
    }
    function showKey(key) {
      OA.dialog(t('token_created'), (close) => {
        const inp = h('input.key', {id: 'new-key', readonly: true, value: 'sk-' + key, 'aria-describedby': 'new-key-hint'});
        return h('div', h('label', {for: 'new-key'}, t('your_key')), inp, h('p.hint', {id: 'new-key-hint'}, t('key_hint')),
          h('div.row', h('button.primary', {type: 'button', id: 'copy-new-key', onclick: () => OA.copy(inp.value)}, t('copy_key')),
            h('button', {type: 'button', onclick: () => close()}, t('close'))));
      });
    }
    load();
  };

  // ---- logs ----
  const logTypes = () => [['0', t('all')], ['1', t('log_topup')], ['2', t('log_consume')], ['3', t('log_manage')], ['4', t('log_system')]];
  P.logs = async function (main) {
    const admin = OA.isAdmin();
    let p = 0, filter = {};
    const size = 20;
    const now = new Date();
    const fields = [
      {name: 'start', label: t('from'), type: 'datetime-local', value: OA.toLocalInput(Math.floor(now.getTime() / 1000) - 7 * 86400)},
      {name: 'end', label: t('to'), type: 'datetime-local', value: ''},
      {name: 'type', label: t('type'), type: 'select', options: logTypes(), value: '0'},
      {name: 'model_name', label: t('model')},
      {name: 'token_name', label: t('token_name')},
    ];
    if (admin) fields.push({name: 'username', label: t('username')}, {name: 'channel', label: t('channel_id'), type: 'number', min: 1});
    const total = h('div.cards');
    const list = h('div');
    const f = OA.form(fields, async (v) => {
      filter = {start_timestamp: OA.fromLocalInput(v.start) || '', end_timestamp: OA.fromLocalInput(v.end) || '', type: v.type === '0' ? '' : v.type,
        model_name: v.model_name, token_name: v.token_name, username: v.username, channel: v.channel};
      p = 0;
      await load();
    }, {submitLabel: t('filter')});
    main.append(h('div.card', f), total, list);
    async function load() {
      const base = admin ? '/api/log/' : '/api/log/self';
      const statPath = admin ? '/api/log/stat' : '/api/log/self/stat';
      let rows;
      try { rows = (await OA.api('GET', base + '?' + OA.qs(Object.assign({p, page_size: size}, filter)))) || []; } catch (e) { OA.clear(list).appendChild(note(e)); return; }
      OA.api('GET', statPath + '?' + OA.qs(filter)).then((st) => {
        OA.clear(total).appendChild(h('div.stat', h('div.k', t('quota_for_filter')), h('div.v', OA.quota(st.quota))));
      }, () => OA.clear(total));
      const cols = [
        {label: t('time'), get: (r) => OA.time(r.created_at)},
        admin && {label: t('user'), get: (r) => r.username},
        {label: t('token_name'), get: (r) => r.token_name},
        {label: t('type'), get: (r) => (logTypes().find(([k]) => k === String(r.type)) || [0, r.type])[1]},
        {label: t('model'), get: (r) => r.model_name},
        admin && {label: t('channel_id'), get: (r) => r.channel || '', num: true},
        {label: t('prompt_tokens'), get: (r) => r.prompt_tokens, num: true},
        {label: t('completion_tokens'), get: (r) => r.completion_tokens, num: true},
        {label: t('quota'), get: (r) => OA.quota(r.quota), num: true},
        {label: t('elapsed'), get: (r) => r.elapsed_time ? r.elapsed_time + ' ms' : '', num: true},
        {label: t('content'), cls: 'content', get: (r) => r.content},
      ].filter(Boolean);
      OA.clear(list).append(OA.table(cols, rows, t('no_logs')), OA.pager(p, rows.length >= size, (n) => { p = n; load(); }));
    }
    f.requestSubmit();
  };

  // ---- top up ----
  P.topup = async function (main) {
    const f = OA.form([{name: 'key', label: t('redemption_code'), required: true, max: 32, full: true, match: ['code', 'redemption', 'redeem']}], async (v) => {
      const q = await OA.api('POST', '/api/user/topup', {key: v.key.trim()});
      OA.toast(t('topped_up', OA.quota(q)));
      f.els.key.value = '';
    }, {submitLabel: t('redeem')});
    main.appendChild(h('div.card', h('p.muted', t('topup_hint')), f));
  };

  // ---- account ----
  P.self = async function (main) {
    await OA.reloadSelf();
    const u = OA.state.user;
    main.appendChild(h('div.card', h('dl.kv',
      h('dt', t('username')), h('dd', u.username), h('dt', t('role')), h('dd', roleName(u.role)),
      h('dt', t('group')), h('dd', u.group), h('dt', t('remaining_quota')), h('dd', OA.quota(u.quota)))));
    const f = OA.form([
      {name: 'display_name', label: t('display_name'), value: u.display_name, max: 20},
      {name: 'password', label: t('new_password'), type: 'password', autocomplete: 'new-password', hint: t('password_keep'),
        check: (v) => v && v.length < 8 ? t('password_short') : ''},
    ], async (v) => {
      const body = {username: u.username, display_name: v.display_name};
      if (v.password) body.password = v.password;
      await OA.api('PUT', '/api/user/self', body);
      await OA.reloadSelf();
      OA.toast(t('saved'));
      f.els.password.value = '';
    });
    main.append(h('h2', t('profile')), h('div.card', f));
    const tokOut = h('div');
    main.append(h('h2', t('access_token')), h('div.card', h('p.muted', t('access_token_hint')),
      h('button', {type: 'button', id: 'rotate', onclick: async () => {
        if (!await OA.confirm(t('rotate_confirm'))) return;
        try {
          const tok = await OA.api('GET', '/api/user/token');
          const inp = h('input.key', {readonly: true, value: tok, id: 'access-token', 'aria-label': t('access_token')});
          OA.clear(tokOut).append(inp, h('button', {type: 'button', onclick: () => OA.copy(tok)}, t('copy')));
        } catch (e) { OA.fail(e); }
      }}, t('rotate')), tokOut));
    if (u.role < 100) {
      main.append(h('h2', t('delete_account')), h('div.card', h('button.danger', {type: 'button', onclick: async () => {
        if (!await OA.confirm(t('delete_account_confirm'), true)) return;
        try { await OA.api('DELETE', '/api/user/self'); OA.state.user = null; OA.go('#/login'); } catch (e) { OA.fail(e); }
      }}, t('delete_account'))));
    }
  };
  const roleName = (r) => r >= 100 ? t('role_root') : r >= 10 ? t('role_admin') : t('role_user');
  OA.roleName = roleName;
})();
