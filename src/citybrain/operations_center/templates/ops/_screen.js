/* The big screen (一屏统览): overview and scenarios drawn with ECharts, kept live over server-sent
   events (/api/v1/ops/stream), rotating through the scenarios unless someone is using the screen or
   a critical alarm is open. Everything it loads is local: ECharts from /vendor, the district
   boundaries from /ops/geo/districts.json. */
const CityScreen = (() => {
  'use strict';
  const STALE_AFTER_MS = 10000;     // no new metric value for this long: the data is stale
  const PAUSE_ON_TOUCH_MS = 60000;  // someone used the screen: stay where they are this long
  const OVERVIEW_DWELL_S = 30;
  const C = {bg: 'transparent', text: '#cfe8ff', muted: '#8fb6dd', line: 'rgba(40,140,255,.25)', cyan: '#6fe3ff', ok: '#21d07a', warn: '#ffb020', bad: '#ff3b30', unknown: '#7a8899'};
  const LEVEL = {free: C.ok, slow: C.warn, jammed: C.bad};
  let O, T, S;
  const values = {};      // metric -> district ('' for none) -> {v, t}
  const figures = {};     // domain -> key -> value
  const alarms = new Map();
  const systems = new Map();
  const charts = {};
  let traffic = null, trafficLayout = null, geo = null, codeToName = {}, nameMap = {}, districtNames = {};
  let mapMetric = null, district = null, lastData = 0, lastMessage = 0, source = null;
  let views = [], viewIndex = 0, viewSince = Date.now(), touchedAt = 0, definitions = {}, scenarioTimer = null;
  const fmtTime = new Intl.DateTimeFormat('zh-CN', {timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false});
  const fmtDate = new Intl.DateTimeFormat('zh-CN', {timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short'});
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; };
  const num = (v, digits) => v == null || Number.isNaN(v) ? '–' : Number(v).toLocaleString(O.lang, {maximumFractionDigits: digits ?? 0, minimumFractionDigits: digits ?? 0});
  const label = (zh, en) => (O.lang === 'en' && en) ? en : zh;
  const dname = (code) => { const n = districtNames[code]; return n ? label(n[0], n[1]) : (code || ''); };

  function put(name, districtCode, v, t) {
    (values[name] = values[name] || {})[districtCode || ''] = {v, t};
    const dot = name.indexOf('.');
    const domain = name.slice(0, dot);
    if (!districtCode && ['datahub', 'gov', 'traffic'].includes(domain)) (figures[domain] = figures[domain] || {})[name.slice(dot + 1)] = v;
  }

  function combined(name, agg) {
    const cells = Object.values(values[name] || {});
    if (!cells.length) return null;
    const vs = cells.map(c => c.v);
    switch (agg) {
      case 'avg': return vs.reduce((a, b) => a + b, 0) / vs.length;
      case 'max': return Math.max(...vs);
      case 'min': return Math.min(...vs);
      case 'last': return cells.reduce((a, b) => (b.t > a.t ? b : a)).v;
      default: return vs.reduce((a, b) => a + b, 0);
    }
  }

  function level(v, warn, alarm, lowerWorse) {
    if (v == null) return '';
    const worse = (x, y) => lowerWorse ? x <= y : x >= y;
    if (alarm != null && worse(v, alarm)) return 'alarm';
    if (warn != null && worse(v, warn)) return 'warn';
    return '';
  }

  function chart(id, dom) {
    if (!charts[id] || charts[id].getDom() !== dom) { if (charts[id]) charts[id].dispose(); charts[id] = echarts.init(dom, null, {renderer: 'canvas'}); }
    return charts[id];
  }

  // -- scaling: a fixed 1920x1080 (or 3840x1080) stage, scaled to fit the window ----------------
  function fit() {
    const stage = $('stage');
    const w = Number(stage.dataset.width), h = Number(stage.dataset.height);
    const s = Math.min(window.innerWidth / w, window.innerHeight / h);
    stage.style.transform = `scale(${s})`;
    stage.dataset.scale = s.toFixed(3);
  }

  // -- header ------------------------------------------------------------------------------------
  function tick() {
    const now = new Date();
    $('clock').textContent = fmtTime.format(now);
    $('date').textContent = fmtDate.format(now);
    const age = lastData ? Date.now() - lastData : Infinity;
    const conn = $('conn');
    const stale = age > STALE_AFTER_MS;
    document.body.classList.toggle('stale', stale && conn.dataset.state !== 'connecting');
    if (conn.dataset.state !== 'reconnecting' && conn.dataset.state !== 'connecting') {
      conn.dataset.state = stale ? 'stale' : 'live';
      conn.textContent = stale ? T.stale : T.live;
    }
    $('fresh').textContent = lastData ? T.updated.replace('{s}', Math.max(0, Math.round(age / 1000))) : '';
    $('fresh').dataset.age = lastData ? Math.round(age / 1000) : '';
    rotate();
  }

  // -- KPI cards -----------------------------------------------------------------------------------
  // charts in a hidden pane have no size; they are drawn when the pane shows
  const overviewShown = () => !$('overview').hidden;

  function renderKpis(flash) {
    if (!overviewShown()) return;
    const box = $('kpis');
    if (!box.children.length) {
      S.kpis.forEach(k => {
        const card = el('div', 'kpi'); card.dataset.metric = k.metric;
        card.append(el('div', 'label', T.kpi[k.label] || k.label));
        const value = el('div', 'value', '–'); value.append(el('span', 'unit', k.unit)); card.append(value);
        const spark = el('div', 'spark'); card.append(spark);
        box.append(card);
      });
    }
    S.kpis.forEach((k, i) => {
      const card = box.children[i];
      const v = combined(k.metric, k.agg);
      const valueEl = card.querySelector('.value');
      const text = num(v, k.digits);
      if (valueEl.firstChild.nodeType === 3 ? valueEl.firstChild.textContent !== text : true) {
        if (valueEl.firstChild.nodeType === 3) valueEl.firstChild.textContent = text; else valueEl.prepend(document.createTextNode(text));
        if (flash) { card.classList.remove('flash'); void card.offsetWidth; card.classList.add('flash'); }
      }
      card.dataset.value = v == null ? '' : v;
      card.classList.remove('warn', 'alarm');
      const lv = level(v, k.warn, k.alarm, false);
      if (lv) card.classList.add(lv);
      if (v != null) {
        const trend = k.trend;
        const last = trend.length ? trend[trend.length - 1] : null;
        if (!last || Date.now() - Date.parse(last[0]) > 15000) { trend.push([new Date().toISOString(), v]); if (trend.length > 120) trend.shift(); }
      }
      const color = lv === 'alarm' ? C.bad : lv === 'warn' ? C.warn : C.cyan;
      chart('spark' + i, card.querySelector('.spark')).setOption({
        animation: false, grid: {left: 0, right: 0, top: 4, bottom: 0}, xAxis: {type: 'time', show: false}, yAxis: {type: 'value', show: false, scale: true},
        series: [{type: 'line', data: k.trend, showSymbol: false, smooth: true, lineStyle: {color, width: 2}, areaStyle: {color: new echarts.graphic.LinearGradient(0, 0, 0, 1, [{offset: 0, color: color + '66'}, {offset: 1, color: color + '00'}])}}],
      });
    });
  }

  // -- domain figures ------------------------------------------------------------------------------
  function renderFigures() {
    const box = $('figures');
    box.textContent = '';
    Object.keys(T.fig).forEach(key => {
      const [domain, name] = key.split('.');
      const v = (figures[domain] || {})[name];
      const f = el('div', 'fig'); f.dataset.figure = key;
      f.append(el('span', 'v', num(v)), el('span', 'k', T.fig[key]));
      box.append(f);
    });
  }

  // -- the district map ----------------------------------------------------------------------------
  function mapOption(metric, focus) {
    const cells = values[metric] || {};
    const data = Object.keys(codeToName).map(code => ({name: codeToName[code], value: cells[code] ? cells[code].v : null, code}));
    const known = data.map(d => d.value).filter(v => v != null);
    const lo = known.length ? Math.min(...known) : 0, hi = known.length ? Math.max(...known) : 1;
    const series = {
      type: 'map', map: 'jinan', roam: false, nameMap: O.lang === 'en' ? nameMap : undefined, selectedMode: false, data,
      label: {show: true, color: '#eaf6ff', fontSize: 15, textBorderColor: '#02122e', textBorderWidth: 3,
        formatter: p => `${p.name}${p.value != null && !Number.isNaN(p.value) ? '\n' + num(p.value, metric === 'water.level_m' ? 2 : 0) : ''}`},
      itemStyle: {borderColor: '#6fe3ff', borderWidth: 1.2, areaColor: '#0b3a7a', shadowColor: 'rgba(0,160,255,.6)', shadowBlur: 12},
      emphasis: {label: {color: '#fff'}, itemStyle: {areaColor: '#1aa3ff'}},
      layoutCenter: ['50%', '52%'], layoutSize: '98%',
    };
    if (focus) { const f = geo.features.find(x => String(x.properties.adcode) === focus); if (f) { series.center = f.properties.centroid || f.properties.center; series.zoom = 2.6; } }
    return {
      animationDurationUpdate: 600,
      tooltip: {trigger: 'item', formatter: p => `${p.name}<br>${num(p.value, 2)}`},
      visualMap: {min: lo, max: hi === lo ? lo + 1 : hi, left: 10, bottom: 10, calculable: false, itemHeight: 120, textStyle: {color: C.muted},
        inRange: {color: ['#0d3f8f', '#1677ff', '#35c3ff', '#ffd76a', '#ff7a45', '#ff3b30']}},
      series: [series],
    };
  }

  function renderMap() {
    if (!geo || !overviewShown()) return;
    const c = chart('map', $('map'));
    c.setOption(mapOption(mapMetric, district), true);
    $('map').dataset.drawn = String(geo.features.length);
    $('map').dataset.metric = mapMetric;
  }

  function renderTabs() {
    const tabs = $('map-tabs');
    tabs.textContent = '';
    S.map_metrics.forEach(m => {
      const b = el('button', null, T.kpi[m.label] || m.metric); b.type = 'button'; b.setAttribute('role', 'tab'); b.dataset.metric = m.metric;
      b.setAttribute('aria-selected', String(m.metric === mapMetric));
      b.addEventListener('click', () => { mapMetric = m.metric; renderTabs(); renderMap(); if (district) renderDistrict(); });
      tabs.append(b);
    });
  }

  async function renderDistrict() {
    const panel = $('district-panel');
    if (!district) { panel.hidden = true; $('map-district').textContent = ''; return; }
    panel.hidden = false;
    $('district-name').textContent = dname(district);
    $('map-district').textContent = '› ' + dname(district);
    const dl = $('district-values'); dl.textContent = '';
    S.map_metrics.forEach(m => { const cell = (values[m.metric] || {})[district]; dl.append(el('dt', null, T.kpi[m.label]), el('dd', null, cell ? num(cell.v, 2) : '–')); });
    const end = new Date(), start = new Date(end - 3600e3);
    const r = await fetch(`/api/v1/ops/metrics/${encodeURIComponent(mapMetric)}/series?` + new URLSearchParams({start: start.toISOString(), end: end.toISOString(), bucket_s: 60, agg: 'avg', district}));
    if (!r.ok) return;
    const s = await r.json();
    chart('district', $('district-trend')).setOption({
      grid: {left: 36, right: 8, top: 8, bottom: 20}, xAxis: {type: 'time', axisLabel: {color: C.muted, fontSize: 10}}, yAxis: {type: 'value', scale: true, axisLabel: {color: C.muted, fontSize: 10}, splitLine: {lineStyle: {color: C.line}}},
      series: [{type: 'line', showSymbol: false, smooth: true, data: s.points.map(p => [p.t, p.value]), lineStyle: {color: C.cyan}}],
    }, true);
  }

  // -- alarms --------------------------------------------------------------------------------------
  const SEV = {critical: 0, warning: 1, info: 2};
  function activeAlarms(severities) {
    return [...alarms.values()].filter(a => a.status !== 'closed' && (!severities || severities.includes(a.severity)))
      .sort((a, b) => (SEV[a.severity] - SEV[b.severity]) || (Date.parse(b.opened_at) - Date.parse(a.opened_at)));
  }

  function alarmItem(a) {
    const li = el('li', a.severity); li.dataset.alarmId = a.id; li.dataset.status = a.status;
    if (a._new) { li.classList.add('new'); a._new = false; }
    li.append(el('span', 'sev', T.severity[a.severity] || a.severity));
    const what = el('span', 'what', `${a.rule_name}${a.district ? ' · ' + dname(a.district) : ''}`);
    const at = fmtTime.format(new Date(a.opened_at));
    const val = a.last_value != null ? num(a.last_value, 2) : '';
    what.append(el('span', 'meta', `${at}  ${a.metric} ${val}${a.recovered_at ? ' · ' + T.recovered : ''}`));
    li.append(what);
    if (a.status === 'open' && O.canHandle) {
      const b = el('button', 'ack', T.ack); b.type = 'button';
      b.addEventListener('click', ev => { ev.stopPropagation(); acknowledge(a.id, b); });
      li.append(b);
    } else li.append(el('span', 'state', T.alarm[a.status] || a.status));
    return li;
  }

  function renderAlarmList(ul, severities, max) {
    ul.textContent = '';
    const list = activeAlarms(severities);
    if (!list.length) { ul.append(el('li', 'empty', T.noAlarms)); return; }
    list.slice(0, max).forEach(a => ul.append(alarmItem(a)));
  }

  function renderAlarms() {
    renderAlarmList($('alarms'), null, 9);
    $('alarm-count').textContent = activeAlarms().length;
    (figures.ops = figures.ops || {}).active_alarms = activeAlarms().length;
  }

  async function acknowledge(id, button) {
    button.disabled = true;
    const r = await fetch(`/api/v1/ops/alarms/${id}/acknowledge`, {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': O.csrf}, body: '{}'});
    if (r.ok) { const a = await r.json(); alarms.set(a.id, a); renderAlarms(); refreshScenario(); } else button.disabled = false;
  }

  // -- systems and traffic -------------------------------------------------------------------------
  function systemCounts() {
    const counts = {up: 0, degraded: 0, down: 0, unknown: 0};
    systems.forEach(s => { counts[s.status] = (counts[s.status] || 0) + 1; });
    (figures.ops = figures.ops || {}).systems_up = counts.up;
    figures.ops.systems = systems.size;
    return counts;
  }

  function systemList(ul) {
    ul.textContent = '';
    const order = {down: 0, degraded: 1, unknown: 2, up: 3};
    [...systems.values()].sort((a, b) => order[a.status] - order[b.status] || a.code.localeCompare(b.code)).forEach(s => {
      const li = el('li'); li.dataset.system = s.code; li.dataset.status = s.status;
      li.append(el('span', 'dot ' + s.status), el('span', null, label(s.name, s.name_en)));
      li.title = T.status[s.status] || s.status;
      ul.append(li);
    });
  }

  function renderSystems() {
    const counts = systemCounts();
    $('systems-count').textContent = `${counts.up} / ${systems.size}`;
    systemList($('systems'));
    if (!overviewShown()) return;
    chart('donut', $('systems-donut')).setOption({
      series: [{type: 'pie', radius: ['55%', '80%'], label: {show: true, position: 'center', formatter: () => `${counts.up}/${systems.size}`, color: '#eaf6ff', fontSize: 20, fontWeight: 700}, labelLine: {show: false},
        data: [{value: counts.up, name: T.status.up, itemStyle: {color: C.ok}}, {value: counts.degraded, name: T.status.degraded, itemStyle: {color: C.warn}},
          {value: counts.down, name: T.status.down, itemStyle: {color: C.bad}}, {value: counts.unknown, name: T.status.unknown, itemStyle: {color: C.unknown}}]}],
    });
  }

  function trafficOption() {
    if (!trafficLayout) return {title: {text: T.trafficOff, left: 'center', top: 'middle', textStyle: {color: C.muted, fontSize: 16, fontWeight: 400}}};
    const js = traffic ? traffic.junctions : {};
    const data = Object.entries(trafficLayout).map(([id, p]) => {
      const j = js[id] || {};
      return {name: id, value: [p.x, p.y, j.queue || 0], itemStyle: {color: LEVEL[j.level] || C.unknown, shadowBlur: 12, shadowColor: LEVEL[j.level] || C.unknown}};
    });
    // the roads between neighbouring junctions (the twin's networks are grids of signals)
    const pts = Object.values(trafficLayout), edges = [];
    const near = (a, b) => Math.abs(a - b) < 1;
    pts.forEach(a => {
      const right = pts.filter(b => near(a.y, b.y) && b.x > a.x).sort((p, q) => p.x - q.x)[0];
      const up = pts.filter(b => near(a.x, b.x) && b.y > a.y).sort((p, q) => p.y - q.y)[0];
      [right, up].forEach(b => { if (b) edges.push({coords: [[a.x, a.y], [b.x, b.y]]}); });
    });
    return {
      animation: false, grid: {left: 24, right: 24, top: 20, bottom: 20},
      xAxis: {type: 'value', show: false, scale: true}, yAxis: {type: 'value', show: false, scale: true},
      tooltip: {formatter: p => p.value ? `${p.name}: ${p.value[2]}` : ''},
      series: [
        {type: 'lines', coordinateSystem: 'cartesian2d', data: edges, silent: true, lineStyle: {color: '#1aa3ff', width: 4, opacity: .45},
          effect: {show: true, period: 4, trailLength: .4, symbolSize: 5, color: '#6fe3ff'}},
        {type: 'scatter', data, symbolSize: v => 22 + Math.min(24, v[2] * 1.5), label: {show: true, formatter: p => p.value[2], color: '#02122e', fontWeight: 700}},
      ],
    };
  }

  function renderTraffic() {
    const t = traffic;
    $('tr-vehicles').textContent = t ? num(t.vehicles) : '–';
    $('tr-speed').textContent = t ? num(t.mean_speed_kmh, 1) : '–';
    $('tr-queue').textContent = t ? num(t.mean_queue, 1) : '–';
    if (!overviewShown()) { refreshScenario(false); return; }
    chart('traffic', $('traffic-grid')).setOption(trafficOption(), !charts.traffic);
    $('traffic-grid').dataset.t = t ? t.t : '';
  }

  // -- scenarios -----------------------------------------------------------------------------------
  async function definition(code) {
    if (!definitions[code]) {
      const r = await fetch(`/api/v1/ops/scenarios/${encodeURIComponent(code)}`);
      if (!r.ok) return null;
      definitions[code] = (await r.json()).definition;
    }
    return definitions[code];
  }

  function figureValue(ref) { const [domain, key] = ref.split('.'); return (figures[domain] || {})[key]; }

  async function lineData(w) {
    const end = new Date(), start = new Date(end - w.window_s * 1000);
    return Promise.all(w.metrics.map(async m => {
      const r = await fetch(`/api/v1/ops/metrics/${encodeURIComponent(m)}/series?` + new URLSearchParams({start: start.toISOString(), end: end.toISOString(), bucket_s: w.bucket_s, agg: w.agg}));
      const s = r.ok ? await r.json() : {points: []};
      return {type: 'line', name: m, showSymbol: false, smooth: true, areaStyle: {opacity: .15}, data: s.points.map(p => [p.t, p.value])};
    }));
  }

  function fillWidget(w, box, slow) {
    const body = box.querySelector('.body');
    switch (w.type) {
      case 'kpi': {
        const v = combined(w.metric, w.agg);
        body.className = 'body big ' + level(v, w.warn, w.alarm, w.lower_is_worse);
        body.dataset.metric = w.metric; body.dataset.value = v == null ? '' : v;
        body.textContent = num(v, w.unit === 'm' || (v != null && Math.abs(v) < 10) ? 2 : 0) + (w.unit ? ' ' + w.unit : '');
        break;
      }
      case 'figure': body.textContent = num(figureValue(w.figure)); body.dataset.figure = w.figure; break;
      case 'bar': {
        const cells = values[w.metric] || {};
        const rows = Object.keys(districtNames).map(code => [dname(code), cells[code] ? cells[code].v : 0]).sort((a, b) => b[1] - a[1]);
        chart(box.id, body).setOption({grid: {left: 70, right: 20, top: 10, bottom: 20}, xAxis: {type: 'value', axisLabel: {color: C.muted}, splitLine: {lineStyle: {color: C.line}}},
          yAxis: {type: 'category', inverse: true, data: rows.map(r => r[0]), axisLabel: {color: C.text}},
          series: [{type: 'bar', data: rows.map(r => r[1]), barWidth: '55%', itemStyle: {color: new echarts.graphic.LinearGradient(0, 0, 1, 0, [{offset: 0, color: '#0a4fb5'}, {offset: 1, color: '#35c3ff'}])}}]});
        break;
      }
      case 'map': if (geo) { chart(box.id, body).setOption(mapOption(w.metric, null), true); body.dataset.drawn = String(geo.features.length); } break;
      case 'alarms': renderAlarmList(body, w.severities, 8); break;
      case 'systems': systemList(body); break;
      case 'traffic': chart(box.id, body).setOption(trafficOption(), true); break;
      case 'line':
        if (slow) lineData(w).then(series => chart(box.id, body).setOption({legend: {top: 0, right: 10, textStyle: {color: C.text}}, tooltip: {trigger: 'axis'}, grid: {left: 50, right: 20, top: 34, bottom: 26},
          xAxis: {type: 'time', splitNumber: 4, axisLabel: {color: C.muted, hideOverlap: true, formatter: '{HH}:{mm}'}}, yAxis: {type: 'value', scale: true, axisLabel: {color: C.muted}, splitLine: {lineStyle: {color: C.line}}}, series}, true));
        break;
    }
  }

  let shown = null;
  async function showScenario(code) {
    const def = await definition(code);
    if (!def) return;
    shown = {code, def};
    $('scenario-title').textContent = label(def.title, def.title_en);
    $('scenario-title').append(el('small', null, T.groups[def.group] || def.group));
    const grid = $('scenario-grid');
    grid.textContent = '';
    grid.style.gridTemplateColumns = `repeat(${def.columns}, 1fr)`;
    grid.dataset.scenario = code;
    def.widgets.forEach((w, i) => {
      const box = el('div', 'panel widget w-' + w.type); box.id = `w-${code}-${i}`; box.dataset.type = w.type;
      box.style.gridColumn = `span ${w.span}`; box.style.gridRow = `span ${w.rows}`;
      box.append(el('h2', null, label(w.title, w.title_en)));
      const body = el(['alarms', 'systems'].includes(w.type) ? 'ul' : 'div', 'body ' + (['kpi', 'figure'].includes(w.type) ? 'big' + (w.type === 'figure' ? ' figure' : '') : 'chart'));
      if (w.type === 'alarms') body.classList.add('alarms'); if (w.type === 'systems') body.classList.add('system-list');
      box.append(body);
      grid.append(box);
    });
    requestAnimationFrame(() => refreshScenario(true));
    clearInterval(scenarioTimer);
    scenarioTimer = setInterval(() => refreshScenario(true), 15000);
  }

  function refreshScenario(slow) {
    if (!shown || $('scenario').hidden) return;
    shown.def.widgets.forEach((w, i) => { const box = $(`w-${shown.code}-${i}`); if (box) fillWidget(w, box, slow); });
  }

  // -- rotation ------------------------------------------------------------------------------------
  // a critical alarm nobody has acknowledged, whose metric is still out of bounds, holds the screen
  function criticalOpen() { return activeAlarms(['critical']).some(a => a.status === 'open' && !a.recovered_at); }

  function renderRotation() {
    const bar = $('rotation'); bar.textContent = '';
    views.forEach((v, i) => {
      const b = el('button', null, v === 'overview' ? T.overview : label(v.title, v.title_en)); b.type = 'button';
      b.dataset.view = v === 'overview' ? 'overview' : v.code;
      b.setAttribute('aria-current', String(i === viewIndex));
      b.addEventListener('click', () => { touchedAt = Date.now(); go(i); });
      bar.append(b);
    });
  }

  function go(i) {
    viewIndex = (i + views.length) % views.length;
    viewSince = Date.now();
    const v = views[viewIndex];
    const code = v === 'overview' ? 'overview' : v.code;
    $('stage').dataset.view = code;
    if (!O.wide) { $('overview').hidden = v !== 'overview'; $('scenario').hidden = v === 'overview'; }
    if (v !== 'overview') showScenario(v.code);
    else if (!O.wide) { Object.values(charts).forEach(c => c.resize()); renderKpis(false); renderMap(); renderSystems(); renderTraffic(); }
    renderRotation();
  }

  function rotate() {
    const stateEl = $('rotation-state');
    if (!O.rotate) { stateEl.textContent = ''; stateEl.dataset.state = 'off'; return; }
    let state = 'rotating';
    if (criticalOpen()) state = 'alarm';
    else if (Date.now() - touchedAt < PAUSE_ON_TOUCH_MS) state = 'paused';
    stateEl.dataset.state = state;
    stateEl.className = 'rotation-state ' + (state === 'rotating' ? '' : state === 'alarm' ? 'alarm' : 'paused');
    stateEl.textContent = state === 'alarm' ? T.pausedAlarm : state === 'paused' ? T.paused : T.rotating;
    if (state === 'alarm') {
      // the alarm list is on the overview: go there and stay (wide screens always show it)
      if (!O.wide && views[viewIndex] !== 'overview') go(0);
      return;
    }
    if (state !== 'rotating') return;
    const v = views[viewIndex];
    const dwell = (O.dwell || (v === 'overview' ? OVERVIEW_DWELL_S : v.dwell_s)) * 1000;
    if (Date.now() - viewSince >= dwell) go(viewIndex + 1);
  }

  // -- live updates --------------------------------------------------------------------------------
  let pendingRender = false;
  function scheduleRender() {
    if (pendingRender) return;
    pendingRender = true;
    setTimeout(() => { pendingRender = false; renderKpis(true); renderFigures(); renderMap(); refreshScenario(false); }, 300);
  }

  function connect() {
    if (source) source.close();
    source = new EventSource('/api/v1/ops/stream');
    const conn = $('conn');
    source.onopen = () => { conn.dataset.state = 'live'; conn.textContent = T.live; lastMessage = Date.now(); };
    source.onerror = () => {
      conn.dataset.state = 'reconnecting'; conn.textContent = T.reconnecting;
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);  // the browser gave up: try again ourselves
    };
    source.addEventListener('ping', () => { lastMessage = Date.now(); });
    source.addEventListener('points', ev => {
      lastMessage = lastData = Date.now();
      JSON.parse(ev.data).forEach(p => put(p.name, p.district, p.value, p.t));
      scheduleRender();
    });
    source.addEventListener('alarm', ev => {
      const a = JSON.parse(ev.data);
      if (!alarms.has(a.id)) a._new = true;
      alarms.set(a.id, a);
      renderAlarms(); refreshScenario(false); rotate();
    });
    source.addEventListener('system', ev => { const s = JSON.parse(ev.data); systems.set(s.code, {...(systems.get(s.code) || {}), ...s}); renderSystems(); refreshScenario(false); });
    source.addEventListener('traffic', ev => { traffic = JSON.parse(ev.data); if (traffic.layout) trafficLayout = traffic.layout; renderTraffic(); });
  }

  async function loadGeo() {
    const r = await fetch('/ops/geo/districts.json');
    if (!r.ok) { $('map').textContent = T.noData; return; }
    geo = await r.json();
    echarts.registerMap('jinan', geo);
    geo.features.forEach(f => { const code = String(f.properties.adcode); codeToName[code] = f.properties.name; if (districtNames[code] && districtNames[code][1]) nameMap[f.properties.name] = districtNames[code][1].replace(/ (District|County)$/, ''); });
    const c = chart('map', $('map'));
    c.on('click', p => { const code = p.data && p.data.code; district = district === code ? null : code; renderMap(); renderDistrict(); });
    renderMap();
    refreshScenario(true);
  }

  function start(options) {
    O = options; T = options.T; S = options.state;
    window.cityScreen = {values, alarms, systems, figures, get view() { return $('stage').dataset.view; }};
    districtNames = S.district_names || {};
    (S.latest || []).forEach(p => put(p.name, p.district, p.value, Date.parse(p.t)));
    Object.entries(S.figures || {}).forEach(([d, f]) => { figures[d] = {...f, ...(figures[d] || {})}; });
    S.alarms.forEach(a => alarms.set(a.id, a));
    S.systems.items.forEach(s => systems.set(s.code, s));
    traffic = S.traffic; trafficLayout = S.traffic_layout;
    if (S.freshness && S.freshness.newest_point) lastData = Date.parse(S.freshness.newest_point);
    mapMetric = S.map_metrics.length ? S.map_metrics[0].metric : null;
    views = O.wide ? [...S.scenarios] : ['overview', ...S.scenarios];
    if (O.only) { const found = S.scenarios.find(s => s.code === O.only); views = [found || {code: O.only, title: O.only, dwell_s: 3600}]; }
    if (!views.length) views = ['overview'];
    fit(); window.addEventListener('resize', () => { fit(); Object.values(charts).forEach(c => c.resize()); });
    ['pointerdown', 'keydown', 'wheel'].forEach(t => window.addEventListener(t, () => { touchedAt = Date.now(); rotate(); }, {passive: true}));
    $('district-back').addEventListener('click', () => { district = null; renderMap(); renderDistrict(); });
    renderTabs(); renderKpis(false); renderFigures(); renderAlarms(); renderSystems(); renderTraffic();
    go(0);
    loadGeo();
    connect();
    tick(); setInterval(tick, 1000);
  }

  return {start};
})();
