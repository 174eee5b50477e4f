// The Firehose ops dashboard: one page, no build step. Data comes from the ops API on the same
// origin: a Server-Sent Events stream (/api/ops/stream, read with fetch so that the bearer token
// can travel in a header) pushes every partner's summary, the alerts and the queue status once
// a second; the selected partner's charts read /api/ops/series. Charts are Chart.js (Debian's
// libjs-chart.js, served by the binary). The partner table is paginated and filtered on the
// client, so it stays fast with hundreds of partners.
'use strict';

const PAGE_SIZE = 50;
const TOKEN_KEY = 'firehose-ops-token';

const view = {
  partners: [],        // the latest /api/ops/partners rows
  sort: 'volume',
  filter: '',
  onlyProblems: false,
  page: 0,
  selected: null,
  window: '300',
  chartUpdates: 0,     // read by the browser test: charts really redraw
  updates: 0,
};
window.__ops = view;

const $ = (id) => document.getElementById(id);

function token() { return localStorage.getItem(TOKEN_KEY) || ''; }

function headers() {
  const t = token();
  return t ? { Authorization: 'Bearer ' + t } : {};
}

function needToken() {
  $('token-box').hidden = false;
  setConnection('needs token', 'lost');
}

async function getJson(path) {
  const response = await fetch(path, { headers: headers(), cache: 'no-store' });
  if (response.status === 401) {
    needToken();
    throw new Error('unauthorized');
  }
  if (!response.ok) throw new Error(path + ': HTTP ' + response.status);
  return response.json();
}

function setConnection(text, kind) {
  const pill = $('connection');
  pill.textContent = text;
  pill.className = 'pill ' + (kind || '');
}

// --- formatting -----------------------------------------------------------------------------

function fmtNumber(value, digits = 0) {
  if (value === null || value === undefined) return '–';
  return Number(value).toLocaleString(undefined, {
    minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function fmtAge(seconds) {
  if (seconds === null || seconds === undefined) return 'never';
  if (seconds < 1) return 'now';
  if (seconds < 60) return Math.round(seconds) + ' s ago';
  if (seconds < 3600) return Math.round(seconds / 60) + ' min ago';
  if (seconds < 86400) return Math.round(seconds / 3600) + ' h ago';
  return Math.round(seconds / 86400) + ' d ago';
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// --- the partner table ----------------------------------------------------------------------

const STATE_ORDER = { down: 0, degraded: 1, silent: 2, ok: 3 };
const SORTS = {
  id: (a, b) => a.id.localeCompare(b.id),
  state: (a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || a.id.localeCompare(b.id),
  volume: (a, b) => b.rate_per_s - a.rate_per_s || b.events_window - a.events_window ||
      a.id.localeCompare(b.id),
  errors: (a, b) => b.error_pct - a.error_pct || a.id.localeCompare(b.id),
  duplicates: (a, b) => b.duplicate_pct - a.duplicate_pct || a.id.localeCompare(b.id),
  last_seen: (a, b) => (a.last_seen_age_s ?? 1e12) - (b.last_seen_age_s ?? 1e12),
};

function visibleRows() {
  let rows = view.partners;
  if (view.filter) rows = rows.filter((p) => p.id.includes(view.filter));
  if (view.onlyProblems) rows = rows.filter((p) => p.state !== 'ok');
  return rows.slice().sort(SORTS[view.sort]);
}

function renderTable() {
  const rows = visibleRows();
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  view.page = Math.min(view.page, pages - 1);
  const slice = rows.slice(view.page * PAGE_SIZE, (view.page + 1) * PAGE_SIZE);
  const body = $('partners-body');
  const fresh = document.createDocumentFragment();
  for (const p of slice) {
    const tr = el('tr', { 'data-partner': p.id },
      el('td', {}, p.id),
      el('td', {}, el('span', { class: 'state ' + p.state }, p.state)),
      el('td', { class: 'num' }, fmtNumber(p.rate_per_s, 1)),
      el('td', { class: 'num' }, fmtNumber(p.error_pct, 1)),
      el('td', { class: 'num' }, fmtNumber(p.duplicate_pct, 1)),
      el('td', { class: 'num' }, fmtAge(p.last_seen_age_s)),
      el('td', { class: 'num' }, fmtNumber(p.lag_max_ms)));
    if (p.id === view.selected) tr.classList.add('selected');
    tr.addEventListener('click', () => select(p.id));
    fresh.append(tr);
  }
  body.replaceChildren(fresh);
  $('page-info').textContent = rows.length
    ? `${view.page * PAGE_SIZE + 1}–${view.page * PAGE_SIZE + slice.length} of ${rows.length}`
    : 'no partner matches';
  $('prev').disabled = view.page === 0;
  $('next').disabled = view.page >= pages - 1;
  for (const th of document.querySelectorAll('th[data-sort]')) {
    th.classList.toggle('sorted', th.dataset.sort === view.sort);
  }
}

// --- tiles, alerts, down list ---------------------------------------------------------------

function renderSummary(partners, alerts, status) {
  const states = partners.states;
  $('tile-partners').textContent = fmtNumber(partners.partners_total);
  $('tile-states').textContent =
    `${states.ok} ok · ${states.degraded} degraded · ${states.down} down · ${states.silent} silent`;
  const rate = partners.partners.reduce((sum, p) => sum + p.rate_per_s, 0);
  $('tile-rate').textContent = fmtNumber(rate, rate < 100 ? 1 : 0);
  const firing = alerts.active.filter((a) => a.state === 'firing');
  $('tile-alerts').textContent = firing.length;
  $('tile-pending').textContent = `${alerts.active.length - firing.length} pending`;
  const queue = status.queue;
  $('tile-lag').textContent = fmtNumber(queue.lag_records_max);
  $('tile-lag-detail').textContent = queue.consumers
    .map((c) => `${c.name} ${fmtNumber(c.lag_records)}`).join(' · ') || 'no consumer';
  const ledger = status.ledger;
  if (ledger.available) {
    const run = ledger.run;
    $('tile-ledger').textContent = [run.day, run.status, run.finished_at].filter(Boolean).join(' · ') ||
      'run #' + (run.run_id ?? '?');
    $('tile-ledger-detail').textContent = Object.entries(run)
      .filter(([key]) => /count|read|duplicates|conflicts|quarantined|digest/.test(key))
      .map(([key, value]) => `${key}: ${value}`).join(' · ');
  } else {
    $('tile-ledger').textContent = 'none';
    $('tile-ledger-detail').textContent = ledger.reason || '';
  }

  const list = $('alerts');
  list.replaceChildren(...(alerts.active.length ? alerts.active.map((a) =>
    el('li', {}, el('span', { class: 'sev-' + a.severity }, a.state === 'firing' ? '● ' : '○ '),
      a.message || `${a.rule} ${a.subject} (pending)`)) : [el('li', { class: 'muted' }, 'none')]));
  const recent = $('recent-alerts');
  recent.replaceChildren(...alerts.recent.slice(0, 8).map((a) =>
    el('li', {}, `${a.rule} ${a.subject} — resolved ${new Date(a.resolved_at).toLocaleTimeString()}`)));

  const down = partners.partners.filter((p) => p.state === 'down');
  $('down').replaceChildren(...(down.length ? down.map((p) =>
    el('li', {}, el('span', { class: 'state down' }, 'down'), ' ', p.id, ' — last seen ',
      fmtAge(p.last_seen_age_s))) : [el('li', { class: 'muted' }, 'none')]));
}

function onUpdate(update) {
  view.updates += 1;
  view.partners = update.partners.partners;
  $('clock').textContent = new Date(update.partners.now).toLocaleTimeString();
  renderSummary(update.partners, update.alerts, update.status);
  renderTable();
  if (!view.selected && view.partners.length) {
    select(visibleRows()[0].id);
  } else if (view.selected) {
    refreshCharts();
  }
}

// --- charts ---------------------------------------------------------------------------------

let volumeChart = null;
let errorChart = null;
let chartBusy = false;

function lineChart(canvas, label, color, yTitle, max) {
  return new Chart(canvas, {
    type: 'line',
    data: { labels: [], datasets: [{ label, data: [], borderColor: color, backgroundColor: color + '33',
      fill: true, pointRadius: 0, borderWidth: 1.5, tension: 0.2 }] },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { labels: { color: '#d8dee6' } } },
      scales: {
        x: { ticks: { color: '#8695a6', maxTicksLimit: 6, maxRotation: 0 }, grid: { color: '#2a3541' } },
        y: { beginAtZero: true, suggestedMax: max, title: { display: true, text: yTitle, color: '#8695a6' },
          ticks: { color: '#8695a6' }, grid: { color: '#2a3541' } },
      },
    },
  });
}

function select(id) {
  view.selected = id;
  $('detail-title').textContent = id;
  renderTable();
  refreshCharts();
}

async function refreshCharts() {
  if (!view.selected || chartBusy) return;
  chartBusy = true;
  try {
    const series = await getJson(`/api/ops/series?partner=${encodeURIComponent(view.selected)}` +
      `&window=${encodeURIComponent(view.window)}`);
    const labels = series.events.map((_, i) =>
      new Date((series.start_unix_s + i * series.step_s) * 1000).toLocaleTimeString());
    const per = series.step_s === 1 ? 'events / s' : 'events / min';
    if (!volumeChart) {
      volumeChart = lineChart($('chart-volume'), 'volume', '#58a6ff', per);
      errorChart = lineChart($('chart-errors'), 'error rate %', '#f85149', '%', 5);
    }
    volumeChart.data.labels = labels;
    volumeChart.data.datasets[0].data = series.events;
    volumeChart.options.scales.y.title.text = per;
    volumeChart.update('none');
    errorChart.data.labels = labels;
    errorChart.data.datasets[0].data = series.error_pct;
    errorChart.update('none');
    const totals = Object.entries(series.errors)
      .map(([kind, values]) => [kind, values.reduce((a, b) => a + b, 0)])
      .filter(([, total]) => total > 0);
    $('detail-errors').textContent = totals.length
      ? 'ingest errors in the window: ' + totals.map(([k, n]) => `${k} ${n}`).join(' · ')
      : 'no ingest errors in the window';
    view.chartUpdates += 1;
  } catch (error) {
    console.warn(error);
  } finally {
    chartBusy = false;
  }
}

// --- the stream -----------------------------------------------------------------------------

// Reads the SSE stream with fetch (EventSource cannot send an Authorization header).
async function stream() {
  for (;;) {
    try {
      const response = await fetch('/api/ops/stream', { headers: headers(), cache: 'no-store' });
      if (response.status === 401) {
        needToken();
        return;
      }
      if (!response.ok) throw new Error('stream: HTTP ' + response.status);
      setConnection('live', 'live');
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6)).join('\n');
          if (data) onUpdate(JSON.parse(data));
        }
      }
    } catch (error) {
      console.warn(error);
    }
    setConnection('reconnecting…', 'lost');
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

// --- controls -------------------------------------------------------------------------------

function wire() {
  for (const th of document.querySelectorAll('th[data-sort]')) {
    th.addEventListener('click', () => { view.sort = th.dataset.sort; view.page = 0; renderTable(); });
  }
  $('filter').addEventListener('input', (e) => { view.filter = e.target.value.trim(); view.page = 0; renderTable(); });
  $('only-problems').addEventListener('change', (e) => { view.onlyProblems = e.target.checked; view.page = 0; renderTable(); });
  $('prev').addEventListener('click', () => { view.page -= 1; renderTable(); });
  $('next').addEventListener('click', () => { view.page += 1; renderTable(); });
  for (const button of document.querySelectorAll('.window-picker button')) {
    button.addEventListener('click', () => {
      document.querySelectorAll('.window-picker button').forEach((b) => b.classList.remove('active'));
      button.classList.add('active');
      view.window = button.dataset.window;
      refreshCharts();
    });
  }
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    localStorage.setItem(TOKEN_KEY, $('token').value);
    $('token-box').hidden = true;
    stream();
  });
}

wire();
stream();
