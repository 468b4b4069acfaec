// pages-perf.js: the performance page (admin): live figures from
// /api/metrics/ every 5 s, the last hour from /api/metrics/history, the
// database settings as read back from /api/metrics/db.
'use strict';
(function () {
  const OA = window.OA, h = OA.h, t = OA.t;

  OA.pages.performance = async function (main) {
    const live = h('div.cards', {id: 'perf-live', 'aria-live': 'off'});
    const charts = h('div.charts');
    const settings = h('div');
    const stamp = h('p.muted');
    main.append(h('div.row',
      h('button', {type: 'button', onclick: () => { refresh(); history(); }}, t('refresh')),
      h('button.danger', {type: 'button', id: 'metrics-reset', onclick: reset}, t('reset_metrics'))), stamp,
    h('h2', t('live')), live, h('h2', t('last_hour')), charts, h('h2', t('settings_in_force')), settings);

    const card = (k, v, id) => h('div.stat', h('div.k', k), h('div.v', {'data-metric': id}, String(v)));
    async function refresh() {
      let m;
      try { m = await OA.api('GET', '/api/metrics/'); } catch (e) { OA.clear(live).appendChild(h('p.formerr', e.message)); return; }
      const win = (OA.ms(m.uptime) && m.window_start) ? new Date(m.window_start).toLocaleTimeString() : '';
      const secs = Math.max(1, (Date.now() - new Date(m.window_start).getTime()) / 1000);
      OA.clear(live).append(
        card(t('m_requests'), m.total_requests.toLocaleString(), 'total_requests'),
        card(t('m_rps'), (m.total_requests / secs).toFixed(2), 'rps'),
        card(t('m_success'), m.success_rate + ' %', 'success_rate'),
        card(t('m_failed'), m.failed_requests + ' / ' + m.client_errors, 'failed'),
        card('p50 / p95 / p99', m.p50_latency + ' / ' + m.p95_latency + ' / ' + m.p99_latency, 'latency'),
        card(t('m_overhead'), m.overhead_p50 + ' / ' + m.overhead_p99, 'overhead'),
        card(t('m_streams'), m.streaming_requests + ' · TTFT ' + m.avg_ttft, 'streams'),
        card(t('m_db'), m.db_query_count.toLocaleString() + ' · ' + m.db_avg_duration, 'db'),
        card(t('m_queue'), m.log_queue_depth, 'log_queue_depth'),
        card(t('m_cache'), m.cache_hit_rate + ' %', 'cache_hit_rate'),
        card(t('m_inflight'), m.in_flight, 'in_flight'),
        card(t('m_uptime'), m.uptime, 'uptime'));
      stamp.textContent = t('window_since', win) + ' · ' + t('updated', new Date().toLocaleTimeString());
    }
    async function history() {
      let d;
      try { d = await OA.api('GET', '/api/metrics/history'); } catch (e) { OA.clear(charts).appendChild(h('p.formerr', e.message)); return; }
      const pts = d.points || [];
      const sec = OA.ms(d.interval) / 1000 || 10;
      const labels = pts.map((p) => new Date(p.window_start).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'}));
      const col = (f) => pts.map(f);
      OA.clear(charts).append(
        OA.chart(t('m_rps'), labels, [{values: col((p) => p.total_requests / sec)}]),
        OA.chart(t('c_latency'), labels, [{values: col((p) => OA.ms(p.p50_latency))}, {values: col((p) => OA.ms(p.p99_latency)), cls: 'line2'}], {unit: ' ms', legend: t('legend_p50_p99')}),
        OA.chart(t('m_overhead'), labels, [{values: col((p) => OA.ms(p.overhead_p50))}, {values: col((p) => OA.ms(p.overhead_p99)), cls: 'line2'}], {unit: ' ms', legend: t('legend_p50_p99')}),
        OA.chart(t('m_success'), labels, [{values: col((p) => p.success_rate)}], {min: 100, unit: ' %'}),
        OA.chart(t('c_db'), labels, [{values: col((p) => p.db_query_count / sec)}], {legend: t('legend_db')}),
        OA.chart(t('m_cache'), labels, [{values: col((p) => p.cache_hit_rate)}], {min: 100, unit: ' %'}),
        OA.chart(t('m_inflight'), labels, [{values: col((p) => p.in_flight)}, {values: col((p) => p.log_queue_depth), cls: 'line2'}], {legend: t('legend_inflight')}));
      if (!pts.length) charts.prepend(h('p.muted', t('history_empty', d.interval)));
      drawSettings(d.settings || []);
    }
    let db = null;
    async function drawSettings(cfg) {
      if (!db) { try { db = await OA.api('GET', '/api/metrics/db'); } catch (e) { db = {error: e.message}; } }
      const kv = (obj) => h('dl.kv', Object.entries(obj || {}).map(([k, v]) => [h('dt', k), h('dd', typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v))]));
      OA.clear(settings).append(
        h('div.card', h('h2', t('database')), db.error ? h('p.formerr', db.error) : [
          kv({dialect: db.dialect}), h('h3', t('pool')), kv(db.pool),
          db.sqlite && [h('h3', 'PRAGMA'), kv(db.sqlite.pragmas), h('h3', t('files')), kv(db.sqlite.files),
            h('p', db.sqlite.consistent ? OA.badge(t('consistent'), 'ok') : OA.badge(t('mismatch') + ': ' + (db.sqlite.mismatches || []).join(', '), 'bad'))],
        ]),
        h('div.card', h('h2', t('config')), h('dl.kv', cfg.map((s) => [h('dt', s.key), h('dd', s.value)]))));
    }
    async function reset() {
      if (!await OA.confirm(t('reset_confirm'), true)) return;
      try { await OA.api('POST', '/api/metrics/reset'); OA.toast(t('reset_done')); refresh(); } catch (e) { OA.fail(e); }
    }
    await refresh();
    await history();
    OA.every(refresh, 5000);
    OA.every(history, 10000);
  };
})();
