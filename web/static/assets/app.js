// app.js: the shell: language, header and navigation, hash routing, login
// and registration.
'use strict';
(function () {
  const OA = window.OA, h = OA.h, t = OA.t;

  // Pages: hash -> {title key, render(main), min role}.
  const routes = {
    dashboard: {title: 'nav_dashboard', role: 1},
    tokens: {title: 'nav_tokens', role: 1},
    logs: {title: 'nav_logs', role: 1},
    topup: {title: 'nav_topup', role: 1},
    self: {title: 'nav_self', role: 1},
    channels: {title: 'nav_channels', role: 10},
    users: {title: 'nav_users', role: 10},
    redemptions: {title: 'nav_redemptions', role: 10},
    performance: {title: 'nav_performance', role: 10},
    settings: {title: 'nav_settings', role: 100},
  };

  let timers = [];
  // OA.every runs f every ms while the current page is shown.
  OA.every = (f, ms) => { timers.push(setInterval(f, ms)); };

  OA.go = (hash) => { if (location.hash === hash) render(); else location.hash = hash; };

  function header() {
    const top = OA.clear(document.getElementById('top'));
    const u = OA.state.user;
    const page = location.hash.replace(/^#\//, '').split('?')[0];
    const langBtn = h('button', {type: 'button', id: 'lang', lang: OA.lang === 'zh' ? 'en' : 'zh-CN', 'aria-label': t('switch_lang'),
      onclick: () => { OA.setLang(OA.lang === 'zh' ? 'en' : 'zh'); render(); }}, OA.lang === 'zh' ? 'English' : '简体中文');
    const nav = u ? h('nav', {'aria-label': t('main_nav')}, Object.entries(routes).filter(([, r]) => u.role >= r.role).map(([k, r]) =>
      h('a', {href: '#/' + k, 'aria-current': k === page ? 'page' : null}, t(r.title)))) : h('nav');
    OA.append(top, [h('a.brand', {href: '#/dashboard'}, 'one-api'), nav, h('div.who',
      u && h('span.muted', u.display_name || u.username),
      langBtn,
      u && h('button', {type: 'button', id: 'logout', onclick: logout}, t('logout')))]);
  }

  async function logout() {
    try { await OA.api('GET', '/api/user/logout'); } catch (e) { /* gone anyway */ }
    OA.state.user = null; OA.state.csrf = '';
    OA.go('#/login');
  }

  async function loadSelf() {
    try { OA.state.user = await OA.api('GET', '/api/user/self'); } catch (e) { OA.state.user = null; }
  }
  OA.reloadSelf = loadSelf;

  async function render() {
    for (const id of timers) clearInterval(id);
    timers = [];
    const main = OA.clear(document.getElementById('main'));
    const page = location.hash.replace(/^#\//, '').split('?')[0] || 'dashboard';
    document.documentElement.lang = OA.lang === 'zh' ? 'zh-CN' : 'en';
    if (!OA.state.user && page !== 'login' && page !== 'register') { location.hash = '#/login'; return; }
    header();
    if (page === 'login') return login(main);
    if (page === 'register') return register(main);
    const r = routes[page];
    if (!r) { location.hash = '#/dashboard'; return; }
    document.title = t(r.title) + ' · one-api';
    if (OA.state.user.role < r.role) { OA.append(main, [h('h1', t(r.title)), h('p.err', t('no_permission'))]); return; }
    main.appendChild(h('h1', t(r.title)));
    try { await OA.pages[page](main); } catch (e) { main.appendChild(h('p.formerr', {role: 'alert'}, e.message)); }
    main.focus({preventScroll: true});
  }

  function login(main) {
    document.title = t('login') + ' · one-api';
    if (OA.state.user) { location.hash = '#/dashboard'; return; }
    const f = OA.form([
      {name: 'username', label: t('username'), required: true, autocomplete: 'username'},
      {name: 'password', label: t('password'), type: 'password', required: true, autocomplete: 'current-password', match: ['wrong username or password']},
    ], async (v) => {
      OA.state.user = await OA.api('POST', '/api/user/login', v);
      await loadSelf();
      OA.go('#/dashboard');
    }, {submitLabel: t('login'), grid: false});
    OA.append(main, [h('div.card.login', h('h1', t('login')), f,
      h('p.muted', t('no_account'), ' ', h('a', {href: '#/register'}, t('register'))))]);
    f.els.username.focus();
  }

  function register(main) {
    document.title = t('register') + ' · one-api';
    const f = OA.form([
      {name: 'username', label: t('username'), required: true, max: 12, autocomplete: 'username'},
      {name: 'password', label: t('password'), type: 'password', required: true, autocomplete: 'new-password', hint: t('password_hint'),
        check: (v) => v.length < 8 ? t('password_short') : ''},
      {name: 'password2', label: t('password_again'), type: 'password', required: true, autocomplete: 'new-password',
        check: (v, all) => v !== all.password ? t('password_mismatch') : ''},
      {name: 'display_name', label: t('display_name'), max: 20},
    ], async (v) => {
      await OA.api('POST', '/api/user/register', {username: v.username, password: v.password, display_name: v.display_name});
      OA.toast(t('registered'));
      OA.go('#/login');
    }, {submitLabel: t('register'), grid: false});
    OA.append(main, [h('div.card.login', h('h1', t('register')), f, h('p', h('a', {href: '#/login'}, t('back_to_login'))))]);
  }

  async function boot() {
    try { OA.state.status = await OA.api('GET', '/api/status'); } catch (e) { OA.state.status = {}; }
    await loadSelf();
    window.addEventListener('hashchange', render);
    render();
  }
  boot();
})();
