// Fleet.Orleans operator status page. Plain browser JavaScript, no build step: the Api serves this file
// as it is. Data comes from the operator API with the token kept in this tab's sessionStorage; changes
// arrive on the Server-Sent Events stream, so the page never polls.
'use strict';

(() => {
  const TOKEN_KEY = 'fleet.operator-token';
  const STATUSES = ['none', 'pending', 'verifying', 'verified', 'failed'];
  const FILTERS = ['status', 'platform', 'os_version', 'team_id'];
  const PAGE_SIZE = 50;
  const PROBLEM_LIMIT = 500;
  const REFRESH_GAP_MS = 1000;
  const MAX_BACKOFF_MS = 30000;

  const $ = (id) => document.getElementById(id);
  const view = { stream: null, route: null, cursors: [], listRequest: 0 };

  // ---- small DOM helpers: text only, never markup from data ----

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) {
        node.setAttribute(name, value);
      }
    }

    for (const child of children.flat()) {
      if (child !== null && child !== undefined) {
        node.append(child instanceof Node ? child : String(child));
      }
    }

    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      node.setAttribute(name, value);
    }

    node.append(...children);

    return node;
  }

  function show(id, visible) {
    $(id).hidden = !visible;
  }

  function say(id, text) {
    const node = $(id);
    node.textContent = text || '';
    node.hidden = !text;
  }

  function statusBadge(status) {
    return el('span', { class: 'status', 'data-status': status }, status);
  }

  function hostLink(host) {
    const label = host.hostname ? `${host.hostname} (${host.host_id})` : host.host_id;

    return el('a', { href: `#/hosts/${encodeURIComponent(host.host_id)}`, 'data-host-id': host.host_id }, label);
  }

  function time(value) {
    return value ? new Date(value).toLocaleString() : '—';
  }

  // "3 m 20 s" since an instant; cells carrying data-since are recomputed every second, without requests.
  function since(value) {
    return el('span', { 'data-since': value }, duration(value));
  }

  function duration(value) {
    let seconds = Math.max(0, Math.floor((Date.now() - Date.parse(value)) / 1000));
    const parts = [];
    for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]]) {
      if (seconds >= size) {
        parts.push(`${Math.floor(seconds / size)} ${unit}`);
        seconds %= size;
      }
    }

    if (parts.length < 2) {
      parts.push(`${seconds} s`);
    }

    return parts.slice(0, 2).join(' ');
  }

  function tickDurations() {
    for (const node of document.querySelectorAll('[data-since]')) {
      node.textContent = duration(node.getAttribute('data-since'));
    }
  }

  function fillRows(tableId, rows, columns) {
    const body = $(tableId).tBodies[0];
    body.replaceChildren(...(rows.length > 0
      ? rows
      : [el('tr', null, el('td', { class: 'empty', colspan: columns }, 'None.'))]));
  }

  function facts(listId, pairs) {
    $(listId).replaceChildren(...pairs.flatMap(([name, value]) =>
      [el('dt', null, name), el('dd', { 'data-fact': name }, value === null || value === undefined || value === '' ? '—' : value)]));
  }

  function reasonText(reason) {
    return reason ? [el('span', { class: 'reason-code' }, reason.code), ' ', reason.message] : '—';
  }

  // At most one run per gap; calls in between fold into one trailing run.
  function throttle(action) {
    let last = 0;
    let timer = null;

    return () => {
      if (timer !== null) {
        return;
      }

      const wait = Math.max(0, last + REFRESH_GAP_MS - Date.now());
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        action();
      }, wait);
    };
  }

  // ---- the API ----

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function problemText(status, body) {
    if (body && (body.title || body.detail)) {
      return `${body.title || 'Error'} (${status}): ${body.detail || ''}`.trim();
    }

    return `The API answered ${status}.`;
  }

  async function api(path, options) {
    const response = await fetch(path, {
      ...options,
      headers: { Accept: 'application/json', Authorization: `Bearer ${token()}` },
      cache: 'no-store',
    });
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }

    if (response.status === 401) {
      signOut('The operator token was refused (401 Unauthorized): it is not one of the tokens the Api accepts. '
        + 'Enter a valid operator token.');
      throw new Error('unauthorized');
    }

    return { ok: response.ok, status: response.status, body, problem: response.ok ? null : problemText(response.status, body) };
  }

  // ---- live events: fetch + ReadableStream, because EventSource cannot send a bearer token ----

  function openStream(path, onEvent, onReady) {
    const controller = new AbortController();
    let backoff = 1000;

    const setLive = (state, text) => {
      $('live').setAttribute('data-state', state);
      $('live').textContent = text;
    };

    const dispatch = (block) => {
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':') || line === '') {
          continue;
        }

        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') {
          name = value;
        } else if (field === 'data') {
          data.push(value);
        }
      }

      if (data.length === 0) {
        return;
      }

      const payload = JSON.parse(data.join('\n'));
      if (name === 'ready') {
        backoff = 1000;
        setLive('live', 'live');
        onReady();
      } else if (name === 'host') {
        onEvent(payload);
      }
    };

    const run = async () => {
      while (!controller.signal.aborted) {
        try {
          const response = await fetch(path, {
            headers: { Accept: 'text/event-stream', Authorization: `Bearer ${token()}` },
            cache: 'no-store',
            signal: controller.signal,
          });
          if (response.status === 401) {
            signOut('The operator token was refused (401 Unauthorized) by the event stream. Enter a valid operator token.');
            return;
          }

          if (!response.ok || !response.body) {
            throw new Error(`event stream answered ${response.status}`);
          }

          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) {
              break;
            }

            buffer += value.replace(/\r\n?/g, '\n');
            let end;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              dispatch(buffer.slice(0, end));
              buffer = buffer.slice(end + 2);
            }
          }
        } catch (error) {
          if (controller.signal.aborted) {
            return;
          }

          console.warn('Fleet event stream:', error);
        }

        setLive('retrying', `reconnecting in ${Math.round(backoff / 1000)} s`);
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    };

    setLive('off', 'connecting');
    run();

    return () => controller.abort();
  }

  function closeStream() {
    if (view.stream) {
      view.stream();
      view.stream = null;
    }
  }

  // ---- sign-in ----

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    closeStream();
    $('live').setAttribute('data-state', 'off');
    $('live').textContent = 'offline';
    show('overview', false);
    show('host', false);
    show('sign-out', false);
    show('sign-in', true);
    say('sign-in-error', message);
    $('token-input').focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const candidate = $('token-input').value.trim();
    if (!candidate) {
      return;
    }

    sessionStorage.setItem(TOKEN_KEY, candidate);
    try {
      const answer = await api('/api/v1/hosts/summary');
      if (!answer.ok) {
        signOut(answer.problem);
        return;
      }
    } catch (error) {
      if (error.message !== 'unauthorized') {
        signOut(`The Api could not be reached: ${error.message}`);
      }

      return;
    }

    $('token-input').value = '';
    say('sign-in-error', '');
    view.route = null;
    route();
  }

  // ---- routing: #/?filters for the overview, #/hosts/<id> for one host ----

  function currentRoute() {
    const hash = location.hash.replace(/^#/, '') || '/';
    const hostMatch = /^\/hosts\/([^/?]+)$/.exec(hash);
    if (hostMatch) {
      return { page: 'host', hostId: decodeURIComponent(hostMatch[1]), key: hash };
    }

    const query = new URLSearchParams(hash.includes('?') ? hash.slice(hash.indexOf('?') + 1) : '');
    const filters = {};
    for (const name of FILTERS) {
      const value = query.get(name);
      if (value) {
        filters[name] = value;
      }
    }

    return { page: 'overview', filters, key: hash };
  }

  function route() {
    if (!token()) {
      signOut('');
      return;
    }

    const next = currentRoute();
    if (view.route && view.route.key === next.key) {
      return;
    }

    const samePage = view.route && view.route.page === next.page;
    view.route = next;
    show('sign-in', false);
    show('sign-out', true);
    if (next.page === 'host') {
      showHost(next.hostId);
    } else {
      showOverview(next.filters, samePage);
    }
  }

  // ---- the overview ----

  const refreshOverview = throttle(() => loadOverview(false));

  function showOverview(filters, samePage) {
    show('host', false);
    show('overview', true);
    const form = $('filters');
    for (const name of FILTERS) {
      ensureOption(form.elements[name], filters[name]);
      form.elements[name].value = filters[name] || '';
    }

    view.cursors = [];
    if (samePage) {
      loadList();
      return;
    }

    // Load now, and again whenever the stream (re)connects, since changes made while it was down were missed.
    closeStream();
    loadOverview(true);
    view.stream = openStream('/api/v1/events', refreshOverview, refreshOverview);
  }

  function ensureOption(field, value) {
    if (field.tagName === 'SELECT' && value && ![...field.options].some((o) => o.value === value)) {
      field.append(el('option', { value }, value));
    }
  }

  async function loadOverview(fromFirstPage) {
    if (fromFirstPage) {
      view.cursors = [];
    }

    try {
      say('overview-error', '');
      await Promise.all([loadSummary(), loadProblems(), loadList(currentCursor())]);
    } catch (error) {
      if (error.message !== 'unauthorized') {
        say('overview-error', `The Api could not be reached: ${error.message}`);
      }
    }
  }

  async function loadSummary() {
    const answer = await api('/api/v1/hosts/summary');
    if (!answer.ok) {
      say('overview-error', answer.problem);
      return;
    }

    const summary = answer.body;
    $('total').textContent = `(${summary.total} in all)`;
    $('status-counts').replaceChildren(...STATUSES.map((status) =>
      el('div', { class: 'count', 'data-status': status, id: `count-${status}` },
        el('b', null, summary.by_status[status] ?? 0), status)));
    drawBars('status-chart', STATUSES.map((s) => [s, summary.by_status[s] ?? 0, `bar-${s}`]));
    const platforms = Object.entries(summary.by_platform);
    drawBars('platform-chart', platforms.map(([p, n]) => [p, n, 'bar-platform']));

    const select = $('filters').elements.platform;
    for (const [platform] of platforms) {
      ensureOption(select, platform);
    }
  }

  // A horizontal bar per row, scaled to the largest count; drawn as SVG elements, no inline script or style.
  function drawBars(chartId, rows) {
    const chart = $(chartId);
    const rowHeight = 22;
    const labelWidth = 90;
    const width = 420;
    const most = Math.max(1, ...rows.map(([, n]) => n));
    const height = Math.max(rowHeight, rows.length * rowHeight);
    chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
    chart.setAttribute('height', String(height));
    chart.replaceChildren(...rows.flatMap(([label, count, css], i) => {
      const y = i * rowHeight;
      const barWidth = Math.round(((width - labelWidth - 50) * count) / most);

      return [
        svg('text', { x: '0', y: String(y + 15) }, document.createTextNode(label)),
        svg('rect', { x: String(labelWidth), y: String(y + 4), width: String(Math.max(barWidth, count > 0 ? 2 : 0)), height: '14', class: css, 'data-label': label, 'data-count': String(count) }),
        svg('text', { x: String(labelWidth + barWidth + 6), y: String(y + 15) }, document.createTextNode(String(count))),
      ];
    }));
  }

  async function listAll(status) {
    const answer = await api(`/api/v1/hosts?status=${status}&limit=${PROBLEM_LIMIT}`);

    return answer.ok ? answer.body : { hosts: [], total: 0 };
  }

  function newestFirst(a, b) {
    return Date.parse(b.status_changed_at) - Date.parse(a.status_changed_at);
  }

  async function loadProblems() {
    const [failed, pending, verifying] = await Promise.all(['failed', 'pending', 'verifying'].map(listAll));
    $('failed-count').textContent = `(${failed.total})`;
    fillRows('failed', failed.hosts.sort(newestFirst).map((h) => el('tr', { 'data-host-id': h.host_id },
      el('td', null, hostLink(h)),
      el('td', null, h.platform || 'unknown'),
      el('td', { class: 'reason' }, reasonText(h.reason)),
      el('td', null, since(h.status_changed_at)))), 4);

    const stuck = [...pending.hosts, ...verifying.hosts].sort(newestFirst);
    $('stuck-count').textContent = `(${pending.total + verifying.total})`;
    fillRows('stuck', stuck.map((h) => el('tr', { 'data-host-id': h.host_id },
      el('td', null, hostLink(h)),
      el('td', null, h.platform || 'unknown'),
      el('td', null, statusBadge(h.status)),
      el('td', null, since(h.status_changed_at)))), 4);
  }

  function currentCursor() {
    return view.cursors.length > 0 ? view.cursors[view.cursors.length - 1] : undefined;
  }

  async function loadList(cursor) {
    const query = new URLSearchParams(view.route.filters);
    query.set('limit', String(PAGE_SIZE));
    if (cursor) {
      query.set('cursor', cursor);
    }

    // Filters can change while a page is on its way: only the latest request may fill the table.
    const request = ++view.listRequest;
    const answer = await api(`/api/v1/hosts?${query}`);
    if (request !== view.listRequest) {
      return;
    }

    if (!answer.ok) {
      say('list-error', answer.problem);
      fillRows('host-list', [], 6);
      $('list-total').textContent = '';
      return;
    }

    say('list-error', '');
    const page = answer.body;
    $('list-total').textContent = `(${page.total} matching)`;
    fillRows('host-list', page.hosts.map((h) => el('tr', { 'data-host-id': h.host_id },
      el('td', null, hostLink(h)),
      el('td', null, statusBadge(h.status)),
      el('td', null, h.platform || 'unknown'),
      el('td', null, h.os_version || '—'),
      el('td', null, h.team_id || '—'),
      el('td', null, time(h.last_seen_at)))), 6);
    $('next-page').hidden = !page.next_cursor;
    $('next-page').dataset.cursor = page.next_cursor || '';
    $('first-page').hidden = view.cursors.length === 0;
  }

  function applyFilters(event) {
    event.preventDefault();
    const form = $('filters');
    const query = new URLSearchParams();
    for (const name of FILTERS) {
      const value = form.elements[name].value.trim();
      if (value) {
        query.set(name, value);
      }
    }

    const text = query.toString();
    location.hash = text ? `#/?${text}` : '#/';
  }

  // ---- one host ----

  const refreshHost = throttle(() => loadHost());

  function showHost(hostId) {
    show('overview', false);
    show('host', true);
    say('refetch-message', '');
    say('host-error', '');
    $('host-title').textContent = hostId;
    closeStream();
    loadHost();
    view.stream = openStream(`/api/v1/events?host_id=${encodeURIComponent(hostId)}`, onHostEvent, refreshHost);
  }

  function onHostEvent(event) {
    if (!view.route || view.route.page !== 'host' || event.host.host_id !== view.route.hostId) {
      return;
    }

    // Show the new state at once; the throttled reload fills in the rest of the host.
    setHostStatus(event.host.status);
    refreshHost();
  }

  async function loadHost() {
    const hostId = view.route.hostId;
    let answer;
    try {
      answer = await api(`/api/v1/hosts/${encodeURIComponent(hostId)}`);
    } catch (error) {
      if (error.message !== 'unauthorized') {
        say('host-error', `The Api could not be reached: ${error.message}`);
      }

      return;
    }

    if (!view.route || view.route.hostId !== hostId) {
      return;
    }

    if (!answer.ok) {
      say('host-error', answer.problem);
      return;
    }

    say('host-error', '');
    renderHost(answer.body);
  }

  function renderHost(host) {
    const d = host.details || {};
    $('host-title').textContent = d.hostname ? `${d.hostname} (${host.host_id})` : host.host_id;
    setHostStatus(host.refetch ? host.refetch.status : 'none');

    facts('vitals', [
      ['Hostname', d.hostname], ['Platform', d.platform], ['OS version', d.os_version], ['OS build', d.os_build],
      ['Serial', d.serial], ['Hardware', d.hardware_model], ['osquery', d.osquery_version],
      ['Team', host.team_id], ['OS settings', host.os_settings], ['Enrolled', time(host.enrolled_at)],
      ['Last seen', time(host.last_seen_at)], ['Vitals updated', time(host.detail_updated_at)],
      ['MDM', host.mdm ? (host.mdm.enrolled ? `enrolled, last seen ${time(host.mdm.last_seen_at)}` : 'checked out') : 'not enrolled'],
    ]);

    const r = host.refetch;
    if (r && r.epoch === view.requestedEpoch && (r.status === 'verified' || r.status === 'failed')) {
      const why = r.reason ? `: ${r.reason.code} ${r.reason.message}` : '';
      say('refetch-message', `Refetch epoch ${r.epoch} ${r.status} at ${time(r.completed_at)}${why}.`);
      view.requestedEpoch = undefined;
    }

    facts('refetch-facts', r ? [
      ['Status', statusBadge(r.status)], ['Epoch', r.epoch], ['Policy', r.policy], ['Requested', time(r.requested_at)],
      ['Deadline', time(r.deadline)], ['Attempt', `${r.attempt} of ${r.max_attempts}`], ['Reason', reasonText(r.reason)],
      ['osquery part', part(r.osquery)], ['MDM part', part(r.mdm)], ['Note', r.note], ['Completed', time(r.completed_at)],
    ] : [['Status', 'never refetched']]);

    fillRows('timeline', [...host.transitions].reverse().map((t) => el('tr', { 'data-to': t.to },
      el('td', null, time(t.at)),
      el('td', null, t.epoch),
      el('td', null, statusBadge(t.from), ' → ', statusBadge(t.to)),
      el('td', { class: 'reason' }, reasonText(t.reason)))), 4);

    fillRows('profiles', host.profiles.map((p) => el('tr', null,
      el('td', null, p.identifier), el('td', null, p.display_name || '—'), el('td', null, p.operation),
      el('td', null, statusBadge(p.status)), el('td', null, p.detail || '—'), el('td', null, time(p.updated_at)))), 6);

    const id = host.identity;
    facts('identity', id ? [
      ['State', id.state], ['Subject', id.subject], ['Serial number', id.serial_number], ['Issuer', id.issuer],
      ['Valid from', time(id.not_before)], ['Valid until', time(id.not_after)],
      ['Renewal window', time(id.renewal_window_starts_at)], ['Thumbprint', id.thumbprint], ['Reason', reasonText(id.reason)],
    ] : [['Certificate', 'none presented (hosts get one when they enroll over MDM)']]);
  }

  function part(p) {
    return p ? [statusBadge(p.status), ` attempt ${p.attempt} of ${p.max_attempts}`, p.reason ? ' — ' : '', p.reason ? reasonText(p.reason) : ''] : '—';
  }

  function setHostStatus(status) {
    const badge = $('host-status');
    badge.textContent = status;
    badge.setAttribute('data-status', status);
    const order = { pending: 0, verifying: 1, verified: 2, failed: 2 };
    const at = order[status];
    for (const [i, step] of [...$('progress').children].entries()) {
      let state = 'todo';
      if (at !== undefined && i < at) {
        state = 'done';
      } else if (at !== undefined && i === at) {
        state = i === 2 ? status : 'current';
      }

      step.setAttribute('data-state', state);
      if (i === 2) {
        step.textContent = i === at ? status[0].toUpperCase() + status.slice(1) : 'Verified or failed';
      }
    }
  }

  async function refetch() {
    const hostId = view.route.hostId;
    const button = $('refetch');
    button.disabled = true;
    say('refetch-message', '');
    try {
      const answer = await api(`/api/v1/hosts/${encodeURIComponent(hostId)}/refetch`, { method: 'POST' });
      if (answer.ok) {
        const r = answer.body;
        view.requestedEpoch = r.epoch;
        say('refetch-message', `Refetch epoch ${r.epoch} is ${r.status}; deadline ${time(r.deadline)}. Progress shows here live.`);
        setHostStatus(r.status);
      } else {
        say('host-error', answer.problem);
      }
    } catch (error) {
      if (error.message !== 'unauthorized') {
        say('host-error', `The Api could not be reached: ${error.message}`);
      }
    } finally {
      button.disabled = false;
    }
  }

  // ---- start ----

  function start() {
    const dashboard = document.body.getAttribute('data-dashboard-url');
    if (dashboard) {
      $('dashboard-link').href = dashboard;
      $('dashboard-link').hidden = false;
    }

    $('sign-in-form').addEventListener('submit', signIn);
    $('sign-out').addEventListener('click', () => signOut(''));
    $('filters').addEventListener('submit', applyFilters);
    $('refetch').addEventListener('click', refetch);
    $('next-page').addEventListener('click', () => {
      view.cursors.push($('next-page').dataset.cursor);
      loadList(currentCursor());
    });
    $('first-page').addEventListener('click', () => {
      view.cursors = [];
      loadList();
    });
    window.addEventListener('hashchange', route);
    setInterval(tickDurations, 1000);
    route();
  }

  document.addEventListener('DOMContentLoaded', start);
})();
