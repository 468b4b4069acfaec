// pages-admin.js: channels, users, redemption codes (admin) and settings
// (root).
'use strict';
(function () {
  const OA = window.OA, h = OA.h, t = OA.t, P = OA.pages;
  const note = (e) => h('p.muted', {role: 'note'}, e.message);

  // Channel types that speak OpenAI's protocol (the gateway relays them),
  // with one-api's default base URLs (spec/channel-types.md). "" = required.
  const TYPES = [
    [1, 'OpenAI', 'https://api.openai.com'], [50, 'OpenAI-compatible', ''], [3, 'Azure OpenAI', ''], [8, 'Custom', ''],
    [2, 'API2D', 'https://oa.api2d.net'], [4, 'CloseAI', 'https://api.closeai-proxy.xyz'], [5, 'OpenAI-SB', 'https://api.openai-sb.com'],
    [6, 'OpenAIMax', 'https://api.openaimax.com'], [7, 'OhMyGPT', 'https://api.ohmygpt.com'], [9, 'Ails', 'https://api.caipacity.com'],
    [10, 'AIProxy', 'https://api.aiproxy.io'], [12, 'API2GPT', 'https://api.api2gpt.com'], [13, 'AIGC2D', 'https://api.aigc2d.com'],
    [19, '360', 'https://ai.360.cn'], [20, 'OpenRouter', 'https://openrouter.ai/api'], [22, 'FastGPT', 'https://fastgpt.run/api/openapi'],
    [25, 'Moonshot', 'https://api.moonshot.cn'], [26, 'Baichuan', 'https://api.baichuan-ai.com'], [28, 'Mistral', 'https://api.mistral.ai'],
    [29, 'Groq', 'https://api.groq.com/openai'], [31, 'LingYiWanWu', 'https://api.lingyiwanwu.com'], [32, 'StepFun', 'https://api.stepfun.com'],
    [36, 'DeepSeek', 'https://api.deepseek.com'], [39, 'TogetherAI', 'https://api.together.xyz'], [41, 'Novita', 'https://api.novita.ai/v3/openai'],
    [44, 'SiliconFlow', 'https://api.siliconflow.cn'], [45, 'xAI', 'https://api.x.ai'],
  ];
  const typeName = (n) => (TYPES.find(([k]) => k === n) || [n, '#' + n])[1];
  const defaultURL = (n) => (TYPES.find(([k]) => k === Number(n)) || [0, '', ''])[2];
  const chStatus = (s) => ({1: [t('enabled'), 'ok'], 2: [t('disabled'), 'bad'], 3: [t('auto_disabled'), 'warn']}[s] || [String(s), 'warn']);

  P.channels = async function (main) {
    let p = 0, keyword = '';
    const list = h('div');
    const search = h('input', {id: 'ch-search', type: 'search'});
    main.append(h('form.toolbar', {role: 'search', onsubmit: (e) => { e.preventDefault(); keyword = search.value.trim(); p = 0; load(); }},
      h('div.field.grow', h('label', {for: 'ch-search'}, t('search_channels')), search),
      h('button', {type: 'submit'}, t('search')),
      h('button.primary', {type: 'button', id: 'new-channel', onclick: () => edit(null)}, t('new_channel')),
      h('button', {type: 'button', onclick: testAll}, t('test_all')),
      h('button.danger', {type: 'button', onclick: delDisabled}, t('delete_disabled'))), list);
    async function load() {
      let rows;
      try {
        rows = (keyword ? await OA.api('GET', '/api/channel/search?' + OA.qs({keyword}))
          : await OA.api('GET', '/api/channel/?' + OA.qs({p, page_size: 20}))) || [];
      } catch (e) { OA.clear(list).appendChild(note(e)); return; }
      OA.clear(list).append(OA.table([
        {label: 'ID', get: (r) => r.id, num: true},
        {label: t('name'), get: (r) => r.name},
        {label: t('type'), get: (r) => typeName(r.type)},
        {label: t('status'), get: (r) => OA.badge(...chStatus(r.status))},
        {label: t('group'), get: (r) => r.group},
        {label: t('priority'), get: (r) => r.priority ?? 0, num: true},
        {label: t('weight'), get: (r) => r.weight ?? 0, num: true},
        {label: t('response_time'), get: (r) => r.test_time ? r.response_time + ' ms' : '—', num: true},
        {label: t('used_quota'), get: (r) => OA.quota(r.used_quota), num: true},
        {label: t('actions'), get: (r) => h('div.acts',
          h('button', {type: 'button', onclick: () => test(r)}, t('test')),
          h('button', {type: 'button', onclick: () => edit(r)}, t('edit')),
          h('button', {type: 'button', onclick: () => setStatus(r, r.status === 1 ? 2 : 1)}, r.status === 1 ? t('disable') : t('enable')),
          h('button.danger', {type: 'button', onclick: () => del(r)}, t('delete')))},
      ], rows, t('no_channels')), keyword ? '' : OA.pager(p, rows.length >= 20, (n) => { p = n; load(); }));
    }
    async function test(r) {
      try { const d = await OA.apiRaw('GET', '/api/channel/test/' + r.id); OA.toast(t('test_ok', r.name, d.time != null ? Math.round(d.time * 1000) + ' ms' : '')); } catch (e) { OA.fail(e); }
      load();
    }
    async function testAll() {
      try { await OA.api('GET', '/api/channel/test'); OA.toast(t('test_all_started')); } catch (e) { OA.fail(e); }
    }
    async function delDisabled() {
      if (!await OA.confirm(t('delete_disabled_confirm'), true)) return;
      try { const n = await OA.api('DELETE', '/api/channel/disabled'); OA.toast(t('deleted_n', n ?? 0)); load(); } catch (e) { OA.fail(e); }
    }
    async function setStatus(r, status) {
      try { await OA.api('PUT', '/api/channel/', {id: r.id, status}); load(); } catch (e) { OA.fail(e); }
    }
    async function del(r) {
      if (!await OA.confirm(t('confirm_delete', r.name), true)) return;
      try { await OA.api('DELETE', '/api/channel/' + r.id); load(); } catch (e) { OA.fail(e); }
    }
    async function edit(r) {
      if (r) r = await OA.api('GET', '/api/channel/' + r.id);
      const typeOpts = TYPES.map(([k, n]) => [String(k), n + ' (' + k + ')']);
      if (r && !TYPES.some(([k]) => k === r.type)) typeOpts.push([String(r.type), '#' + r.type]);
      const ok = await OA.dialog(r ? t('edit_channel') : t('new_channel'), (close) => {
        const f = OA.form([
          {name: 'type', label: t('type'), type: 'select', options: typeOpts, value: String(r ? r.type : 1),
            onchange: (el, els) => { els.base_url.placeholder = defaultURL(el.value) || t('required'); }},
          {name: 'name', label: t('name'), value: r ? r.name : '', required: true},
          {name: 'base_url', label: t('base_url'), value: r ? r.base_url || '' : '', placeholder: defaultURL(r ? r.type : 1) || t('required'), hint: t('base_url_hint'), full: true},
          {name: 'key', label: t('key'), type: 'textarea', required: !r, hint: r ? t('key_keep') : t('key_lines'), full: true},
          {name: 'models', label: t('models'), value: r ? r.models : '', required: true, hint: t('models_hint'), full: true},
          {name: 'group', label: t('groups'), value: r ? r.group : 'default', hint: t('groups_hint')},
          {name: 'other', label: t('api_version'), value: r ? r.other || '' : '', hint: t('api_version_hint')},
          {name: 'priority', label: t('priority'), type: 'number', value: r ? r.priority ?? 0 : 0},
          {name: 'weight', label: t('weight'), type: 'number', min: 0, value: r ? r.weight ?? 0 : 0},
          {name: 'model_mapping', label: t('model_mapping'), type: 'textarea', json: true, value: r ? r.model_mapping || '' : '', hint: t('model_mapping_hint'), full: true},
        ], async (v) => {
          const body = {type: Number(v.type), name: v.name, key: v.key, base_url: v.base_url.trim() || defaultURL(v.type), models: v.models,
            group: v.group, other: v.other, priority: Number(v.priority) || 0, weight: Number(v.weight) || 0, model_mapping: v.model_mapping};
          if (r) body.id = r.id;
          await OA.api(r ? 'PUT' : 'POST', '/api/channel/', body);
          close(true);
        }, {extra: h('button', {type: 'button', onclick: () => close()}, t('cancel'))});
        return f;
      });
      if (ok) { OA.toast(t('saved')); load(); }
    }
    load();
  };

  // apiRaw is api but returns the whole envelope (channel tests put the
  // time beside data).
  OA.apiRaw = async function (method, path) {
    const res = await fetch(path, {method, credentials: 'same-origin', headers: {Accept: 'application/json'}});
    let j = null;
    try { j = await res.json(); } catch (e) { /* not JSON */ }
    if (!j || !j.success) throw new OA.ApiError((j && j.message) || 'HTTP ' + res.status, res.status);
    return j;
  };

  // ---- users ----
  const userStatus = (s) => ({1: [t('enabled'), 'ok'], 2: [t('disabled'), 'bad'], 3: [t('deleted'), 'warn']}[s] || [String(s), 'warn']);
  P.users = async function (main) {
    let p = 0, keyword = '';
    const list = h('div');
    const search = h('input', {id: 'user-search', type: 'search'});
    main.append(h('form.toolbar', {role: 'search', onsubmit: (e) => { e.preventDefault(); keyword = search.value.trim(); p = 0; load(); }},
      h('div.field.grow', h('label', {for: 'user-search'}, t('search_users')), search),
      h('button', {type: 'submit'}, t('search')),
      h('button.primary', {type: 'button', id: 'new-user', onclick: create}, t('new_user'))), list);
    async function load() {
      let rows;
      try {
        rows = (keyword ? await OA.api('GET', '/api/user/search?' + OA.qs({keyword, p}))
          : await OA.api('GET', '/api/user/?' + OA.qs({p, page_size: 20}))) || [];
      } catch (e) { OA.clear(list).appendChild(note(e)); return; }
      const me = OA.state.user;
      OA.clear(list).append(OA.table([
        {label: 'ID', get: (r) => r.id, num: true},
        {label: t('username'), get: (r) => r.username},
        {label: t('display_name'), get: (r) => r.display_name},
        {label: t('role'), get: (r) => OA.roleName(r.role)},
        {label: t('status'), get: (r) => OA.badge(...userStatus(r.status))},
        {label: t('group'), get: (r) => r.group},
        {label: t('remaining_quota'), get: (r) => OA.quota(r.quota), num: true},
        {label: t('used_quota'), get: (r) => OA.quota(r.used_quota), num: true},
        {label: t('request_count'), get: (r) => r.request_count, num: true},
        {label: t('actions'), get: (r) => (r.role >= me.role && me.role < 100) || r.id === me.id ? '' : h('div.acts',
          h('button', {type: 'button', onclick: () => edit(r)}, t('edit')),
          h('button', {type: 'button', onclick: () => manage(r, r.status === 1 ? 'disable' : 'enable')}, r.status === 1 ? t('disable') : t('enable')),
          me.role >= 100 && r.role < 10 && h('button', {type: 'button', onclick: () => manage(r, 'promote')}, t('promote')),
          me.role >= 100 && r.role >= 10 && r.role < 100 && h('button', {type: 'button', onclick: () => manage(r, 'demote')}, t('demote')),
          h('button', {type: 'button', onclick: () => topup(r)}, t('top_up')),
          h('button.danger', {type: 'button', onclick: () => del(r)}, t('delete')))},
      ], rows, t('no_rows')), OA.pager(p, rows.length >= (keyword ? 10 : 20), (n) => { p = n; load(); }));
    }
    async function manage(r, action) {
      try { await OA.api('POST', '/api/user/manage', {username: r.username, action}); OA.toast(t('saved')); load(); } catch (e) { OA.fail(e); }
    }
    async function del(r) {
      if (!await OA.confirm(t('confirm_delete', r.username), true)) return;
      try { await OA.api('DELETE', '/api/user/' + r.id); load(); } catch (e) { OA.fail(e); }
    }
    const userFields = (r) => [
      {name: 'username', label: t('username'), value: r ? r.username : '', required: true, max: 12},
      {name: 'display_name', label: t('display_name'), value: r ? r.display_name : '', max: 20},
      {name: 'password', label: r ? t('new_password') : t('password'), type: 'password', required: !r, autocomplete: 'new-password', hint: r ? t('password_keep') : t('password_hint')},
    ];
    async function create() {
      const ok = await OA.dialog(t('new_user'), (close) => OA.form(userFields(null), async (v) => {
        await OA.api('POST', '/api/user/', v); close(true);
      }, {extra: h('button', {type: 'button', onclick: () => close()}, t('cancel'))}));
      if (ok) { OA.toast(t('saved')); load(); }
    }
    async function edit(r) {
      const ok = await OA.dialog(t('edit_user'), (close) => OA.form([...userFields(r),
        {name: 'group', label: t('group'), value: r.group, max: 32},
        {name: 'quota', label: t('remaining_quota'), type: 'number', value: r.quota, hint: t('quota_hint')},
      ], async (v) => {
        const body = {id: r.id, username: v.username, display_name: v.display_name, group: v.group, quota: Number(v.quota)};
        if (v.password) body.password = v.password;
        await OA.api('PUT', '/api/user/', body); close(true);
      }, {extra: h('button', {type: 'button', onclick: () => close()}, t('cancel'))}));
      if (ok) { OA.toast(t('saved')); load(); }
    }
    async function topup(r) {
      const ok = await OA.dialog(t('top_up') + ': ' + r.username, (close) => OA.form([
        {name: 'quota', label: t('quota'), type: 'number', required: true, hint: t('quota_hint')},
        {name: 'remark', label: t('remark')},
      ], async (v) => {
        await OA.api('POST', '/api/topup', {user_id: r.id, quota: Number(v.quota), remark: v.remark}); close(true);
      }, {extra: h('button', {type: 'button', onclick: () => close()}, t('cancel'))}));
      if (ok) { OA.toast(t('saved')); load(); }
    }
    load();
  };

  // ---- redemption codes ----
  P.redemptions = async function (main) {
    let p = 0, keyword = '';
    const list = h('div');
    const search = h('input', {id: 'red-search', type: 'search'});
    main.append(h('form.toolbar', {role: 'search', onsubmit: (e) => { e.preventDefault(); keyword = search.value.trim(); p = 0; load(); }},
      h('div.field.grow', h('label', {for: 'red-search'}, t('search_codes')), search),
      h('button', {type: 'submit'}, t('search')),
      h('button.primary', {type: 'button', id: 'new-codes', onclick: create}, t('new_codes'))), list);
    const st = (s) => ({1: [t('unused'), 'ok'], 2: [t('disabled'), 'bad'], 3: [t('used'), 'warn']}[s] || [String(s), 'warn']);
    async function load() {
      let rows;
      try {
        rows = (keyword ? await OA.api('GET', '/api/redemption/search?' + OA.qs({keyword}))
          : await OA.api('GET', '/api/redemption/?' + OA.qs({p}))) || [];
      } catch (e) { OA.clear(list).appendChild(note(e)); return; }
      OA.clear(list).append(OA.table([
        {label: 'ID', get: (r) => r.id, num: true},
        {label: t('name'), get: (r) => r.name},
        {label: t('status'), get: (r) => OA.badge(...st(r.status))},
        {label: t('quota'), get: (r) => OA.quota(r.quota), num: true},
        {label: t('created'), get: (r) => OA.time(r.created_time)},
        {label: t('redeemed'), get: (r) => OA.time(r.redeemed_time)},
        {label: t('actions'), get: (r) => h('div.acts',
          h('button', {type: 'button', onclick: () => OA.copy(r.key)}, t('copy')),
          r.status !== 3 && h('button', {type: 'button', onclick: () => setStatus(r, r.status === 1 ? 2 : 1)}, r.status === 1 ? t('disable') : t('enable')),
          h('button.danger', {type: 'button', onclick: () => del(r)}, t('delete')))},
      ], rows, t('no_rows')), OA.pager(p, rows.length >= 10, (n) => { p = n; load(); }));
    }
    async function setStatus(r, status) {
      try { await OA.api('PUT', '/api/redemption/?status_only=true', {id: r.id, status}); load(); } catch (e) { OA.fail(e); }
    }
    async function del(r) {
      if (!await OA.confirm(t('confirm_delete', r.name), true)) return;
      try { await OA.api('DELETE', '/api/redemption/' + r.id); load(); } catch (e) { OA.fail(e); }
    }
    async function create() {
      const keys = await OA.dialog(t('new_codes'), (close) => OA.form([
        {name: 'name', label: t('name'), required: true, max: 20},
        {name: 'quota', label: t('quota'), type: 'number', min: 1, value: 500000, required: true, hint: t('quota_hint')},
        {name: 'count', label: t('count'), type: 'number', min: 1, value: 1, required: true, hint: t('count_hint')},
      ], async (v) => {
        close(await OA.api('POST', '/api/redemption/', {name: v.name, quota: Number(v.quota), count: Number(v.count)}));
      }, {extra: h('button', {type: 'button', onclick: () => close()}, t('cancel'))}));
      if (!keys) return;
      load();
      const text = (Array.isArray(keys) ? keys : [keys]).join('\n');
      OA.dialog(t('codes_created'), (close) => {
        const ta = h('textarea.key', {id: 'codes', readonly: true, value: text});
        return h('div', h('label', {for: 'codes'}, t('codes')), ta, h('div.row',
          h('button.primary', {type: 'button', onclick: () => OA.copy(text)}, t('copy_all')), h('button', {type: 'button', onclick: () => close()}, t('close'))));
      });
    }
    load();
  };

  // ---- settings (root) ----
  const OPTIONS = [
    ['registration', [['RegisterEnabled', 'bool', true], ['PasswordRegisterEnabled', 'bool', true], ['QuotaForNewUser', 'int', '0']]],
    ['quota', [['QuotaPerUnit', 'num', '500000'], ['DisplayInCurrencyEnabled', 'bool', true], ['PreConsumedQuota', 'int', '500'], ['LogConsumeEnabled', 'bool', true]]],
    ['channels', [['RetryTimes', 'int', '0'], ['AutomaticDisableChannelEnabled', 'bool', false], ['ChannelDisableThreshold', 'num', '5']]],
    ['ratios', [['ModelRatio', 'json', ''], ['CompletionRatio', 'json', ''], ['GroupRatio', 'json', '']]],
  ];
  P.settings = async function (main) {
    const rows = (await OA.api('GET', '/api/option/')) || [];
    const cur = Object.fromEntries(rows.map((r) => [r.key, r.value]));
    main.appendChild(h('p.muted', t('settings_hint')));
    for (const [group, opts] of OPTIONS) {
      const card = h('div.card');
      card.appendChild(h('h2', t('opt_' + group)));
      for (const [key, kind, def] of opts) {
        const val = cur[key] ?? def;
        const field = {name: key, label: key, hint: t('opt_hint_' + key), match: [key]};
        if (kind === 'bool') Object.assign(field, {type: 'checkbox', value: String(val) === 'true'});
        else if (kind === 'json') Object.assign(field, {type: 'textarea', json: true, value: pretty(val), full: true});
        else Object.assign(field, {type: 'number', value: val, step: kind === 'int' ? 1 : 'any', required: true});
        const f = OA.form([field], async (v) => {
          let value = v[key];
          if (kind === 'bool') value = value ? 'true' : 'false';
          else if (kind === 'json') value = value.trim() ? JSON.stringify(JSON.parse(value)) : '';
          await OA.api('PUT', '/api/option/', {key, value: String(value)});
          OA.toast(t('saved_key', key));
        }, {grid: false});
        card.appendChild(f);
      }
      main.appendChild(card);
    }
  };
  const pretty = (s) => { if (!s) return ''; try { return JSON.stringify(JSON.parse(s), null, 2); } catch (e) { return s; } };
})();
