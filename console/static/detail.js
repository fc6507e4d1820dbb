// detail.js: one connection's page — status (live while it settles),
// test, refresh, enable/disable, re-authorize, rename, delete, its tools
// and its recent calls.
import { api } from './api.js';
import { announce, busy, field, h, replace, sleep } from './dom.js';
import { ago, explain, statusBadge, transportName } from './format.js';
import { authorizeUrlOf, closePopup, openPopup, sendPopup } from './oauth.js';
import { toolCard } from './tools.js';

const settling = (c) => c.status === 'pending_oauth' || c.tools_status === 'syncing' || c.tools_status === 'pending';

/** renderDetail shows connection id. */
export async function renderDetail({ main, signal, navigate }, connId) {
  document.title = 'Connection · tether console';
  let conn = null;
  let oauthNote = '';
  let toolsSig = '';
  let wake = null; // resolves the poll's wait early

  const title = h('h1', { text: 'Connection' });
  const badge = h('span', { class: 'head-badge' });
  const sub = h('p', { class: 'sub mono' });
  const banner = h('div', { class: 'banner', role: 'status' });
  const facts = h('dl', { class: 'facts wide' });
  const testOut = h('p', { class: 'test-out', role: 'status' });
  const actionMsg = h('p', { class: 'form-msg', role: 'status' });
  const toolsArea = h('div', { class: 'tools-area', 'aria-busy': 'true' }, h('div', { class: 'skeleton block' }));
  const callsArea = h('div', { class: 'calls-area' }, h('div', { class: 'skeleton block small' }));

  const testBtn = h('button', { type: 'button', text: 'Test now' });
  const refreshBtn = h('button', { type: 'button', class: 'secondary', text: 'Refresh tools' });
  const enableBtn = h('button', { type: 'button', class: 'secondary', text: 'Disable' });
  const reauthBtn = h('button', { type: 'button', class: 'secondary', text: 'Re-authorize', hidden: true });
  const deleteBtn = h('button', { type: 'button', class: 'danger', text: 'Delete…' });
  const nickname = h('input', { type: 'text', required: true, maxlength: '200' });
  const renameBtn = h('button', { type: 'submit', class: 'secondary', text: 'Rename' });
  const renameMsg = h('p', { class: 'form-msg', role: 'status' });
  const renameForm = h('form', { class: 'rename', novalidate: true }, field('Name', nickname), h('div', { class: 'actions' }, renameBtn), renameMsg);

  replace(main,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/', text: 'Connections' }), h('span', { 'aria-hidden': 'true', text: ' › ' }), h('span', { text: 'Connection' })),
    h('div', { class: 'page-head' }, h('div', { class: 'title-line' }, title, badge)),
    sub,
    banner,
    h('section', { class: 'card', 'aria-labelledby': 'overview-h' },
      h('h2', { id: 'overview-h', text: 'Overview' }),
      facts,
      h('div', { class: 'actions wrap' }, testBtn, refreshBtn, enableBtn, reauthBtn, deleteBtn),
      testOut, actionMsg),
    h('section', { class: 'card', 'aria-labelledby': 'rename-h' }, h('h2', { id: 'rename-h', text: 'Name' }), renameForm),
    h('section', { class: 'card', 'aria-labelledby': 'tools-h' },
      h('div', { class: 'section-head' }, h('h2', { id: 'tools-h', text: 'Tools' }), bulkButtons()),
      toolsArea),
    h('section', { class: 'card', 'aria-labelledby': 'calls-h' },
      h('div', { class: 'section-head' }, h('h2', { id: 'calls-h', text: 'Recent calls' }), refreshCallsBtn()),
      callsArea));

  function bulkButtons() {
    const on = h('button', { type: 'button', class: 'secondary small', text: 'Enable all' });
    const off = h('button', { type: 'button', class: 'secondary small', text: 'Disable all' });
    const set = (btn, v) => busy(btn, 'Saving…', async () => {
      try {
        await api.setAllTools(connId, v);
        toolsSig = '';
        await load();
        announce(v ? 'All tools enabled' : 'All tools disabled');
      } catch (e) { actionMsg.textContent = explain(e, 'change the tools'); }
    });
    on.addEventListener('click', () => set(on, true));
    off.addEventListener('click', () => set(off, false));
    return h('div', { class: 'actions' }, on, off);
  }

  function refreshCallsBtn() {
    const b = h('button', { type: 'button', class: 'secondary small', text: 'Refresh' });
    b.addEventListener('click', () => busy(b, 'Loading…', loadCalls));
    return b;
  }

  function showBanner() {
    const parts = [];
    let cls = 'banner';
    if (conn.status === 'pending_oauth') {
      cls += ' info';
      parts.push(h('p', {}, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Waiting for you to authorize tether in the popup. This page updates when you are done.'));
      const url = authorizeUrlOf(connId);
      if (url) parts.push(h('p', {}, 'No popup? ', h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: 'Open the authorization page' }), '.'));
    } else if (conn.status === 'reauth_required') {
      cls += ' warn';
      parts.push(h('p', { text: `tether needs a new authorization to use this server${conn.status_reason ? `: ${conn.status_reason}` : '.'} Use Re-authorize.` }));
    } else if (conn.status === 'error') {
      cls += ' bad';
      parts.push(h('p', { text: `Last attempt failed: ${conn.status_reason || 'unknown error'}` }));
    } else if (conn.tools_status === 'syncing' || conn.tools_status === 'pending') {
      cls += ' info';
      parts.push(h('p', {}, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Fetching the server\'s tools…'));
    } else if (conn.tools_status === 'failed' && conn.status === 'active') {
      cls += ' warn';
      parts.push(h('p', { text: `The last tool sync failed${conn.status_reason ? `: ${conn.status_reason}` : '.'}` }));
    }
    if (oauthNote) parts.push(h('p', { class: 'error', text: oauthNote }));
    banner.className = cls;
    replace(banner, parts);
  }

  function showFacts() {
    const meta = conn.metadata || {};
    const info = meta.server_info;
    const row = (k, v) => h('div', {}, h('dt', { text: k }), h('dd', {}, v));
    replace(facts,
      row('Status', statusBadge(conn.status)),
      row('Server URL', h('span', { class: 'mono break', text: meta.server_url || '—' })),
      row('Transport', `${transportName(meta.transport)}${meta.connected_transport ? ` · worked: ${transportName(meta.connected_transport)}` : ''}`),
      row('Authentication', String(meta.auth_type || '—')),
      row('Server', info ? `${info.name} ${info.version}` : '—'),
      row('Tools', `${(conn.tools || []).length} (${conn.tools_status})`),
      row('Last probe', ago(conn.last_refreshed_at)),
      row('Connected', ago(conn.connected_at)));
  }

  function showTools() {
    const tools = conn.tools || [];
    const sig = tools.map((t) => `${t.id}:${t.updated_at}:${t.is_enabled}`).join('|');
    if (sig === toolsSig) return;
    toolsSig = sig;
    toolsArea.removeAttribute('aria-busy');
    if (tools.length === 0) {
      replace(toolsArea, h('p', { class: 'hint', text: settling(conn) ? 'Tools appear here once tether has listed them.' : 'This server lists no tools.' }));
      return;
    }
    replace(toolsArea, h('ul', { class: 'tools' }, tools.map((t) => toolCard(connId, t, {
      onSaved: (u) => {
        const i = conn.tools.findIndex((x) => x.id === u.id);
        if (i >= 0) conn.tools[i] = u;
        toolsSig = conn.tools.map((x) => `${x.id}:${x.updated_at}:${x.is_enabled}`).join('|');
      },
      onCalled: () => { loadCalls(); setTimeout(loadCalls, 800); },
    }))));
  }

  function show() {
    document.title = `${conn.nickname} · tether console`;
    title.textContent = conn.nickname;
    replace(badge, statusBadge(conn.status));
    main.querySelector('.crumbs span:last-child').textContent = conn.nickname;
    sub.textContent = conn.nickname_slug;
    if (document.activeElement !== nickname) nickname.value = conn.nickname;
    enableBtn.textContent = conn.status === 'disabled' ? 'Enable' : 'Disable';
    reauthBtn.hidden = (conn.metadata || {}).auth_type !== 'oauth';
    refreshBtn.disabled = conn.status !== 'active';
    showBanner();
    showFacts();
    showTools();
  }

  async function load() {
    conn = await api.getConnection(connId, { signal });
    if (!signal.aborted) show();
  }

  async function loadCalls() {
    let calls;
    try {
      calls = await api.calls(connId, 20, { signal });
    } catch (e) {
      if (!signal.aborted) replace(callsArea, h('p', { class: 'error', text: explain(e, 'load the calls') }));
      return;
    }
    if (signal.aborted) return;
    if (calls.length === 0) {
      replace(callsArea, h('p', { class: 'hint', text: 'No calls yet. Agents\' calls and your "try it" calls show here.' }));
      return;
    }
    replace(callsArea, h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Recent calls (scrolls sideways)' },
      h('table', {},
        h('thead', {}, h('tr', {}, ['When', 'Tool', 'Via', 'Outcome', 'Time', 'Error'].map((c) => h('th', { scope: 'col', text: c })))),
        h('tbody', {}, calls.map((c) => h('tr', {},
          h('td', {}, ago(c.created_at)),
          h('td', { class: 'mono', text: c.slug }),
          h('td', { text: c.via }),
          h('td', {}, h('span', { class: `badge outcome-${c.outcome}`, text: c.outcome.replace('_', ' ') })),
          h('td', { text: `${c.duration_ms} ms` }),
          h('td', { text: c.error || '' })))))));
  }

  // Actions.
  testBtn.addEventListener('click', () => busy(testBtn, 'Testing…', async () => {
    testOut.className = 'test-out';
    testOut.textContent = 'Testing the connection…';
    try {
      const r = await api.test(connId);
      if (r.connected) {
        const info = r.serverInfo ? `${r.serverInfo.name} ${r.serverInfo.version}` : 'unknown server';
        testOut.textContent = `Connected in ${r.latencyMs} ms to ${info}${r.protocolVersion ? ` (MCP ${r.protocolVersion})` : ''} over ${transportName(r.transport)}; ${r.toolCount} tools.`;
        testOut.classList.add('ok');
      } else {
        testOut.textContent = `Not connected: ${r.error || 'unknown error'}${r.errorCode ? ` (${r.errorCode})` : ''}`;
        testOut.classList.add('error');
      }
    } catch (e) {
      testOut.textContent = explain(e, 'test the connection');
      testOut.classList.add('error');
    }
    await load().catch(() => {});
  }));
  refreshBtn.addEventListener('click', () => busy(refreshBtn, 'Refreshing…', async () => {
    actionMsg.textContent = '';
    try {
      await api.refreshTools(connId);
      announce('Refreshing the tools');
      await load();
      wake?.();
    } catch (e) { actionMsg.textContent = explain(e, 'refresh the tools'); }
  }));
  enableBtn.addEventListener('click', () => busy(enableBtn, 'Saving…', async () => {
    actionMsg.textContent = '';
    const enable = conn.status === 'disabled';
    try {
      await api.setEnabled(connId, enable);
      await load();
      announce(enable ? 'Connection enabled' : 'Connection disabled: agents no longer see its tools');
      wake?.();
    } catch (e) { actionMsg.textContent = explain(e, enable ? 'enable the connection' : 'disable the connection'); }
  }));
  reauthBtn.addEventListener('click', () => {
    const popup = openPopup();
    busy(reauthBtn, 'Starting…', async () => {
      actionMsg.textContent = '';
      oauthNote = '';
      try {
        const r = await api.reauthorize(connId);
        sendPopup(popup, connId, r.authorize_url);
        await load();
        wake?.();
      } catch (e) {
        closePopup(popup);
        actionMsg.textContent = explain(e, 're-authorize');
      }
    });
  });
  deleteBtn.addEventListener('click', () => confirmDelete());
  renameForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = nickname.value.trim();
    if (!name) { renameMsg.textContent = 'Enter a name.'; nickname.focus(); return; }
    busy(renameBtn, 'Saving…', async () => {
      try {
        conn = await api.rename(connId, name);
        show();
        renameMsg.textContent = 'Renamed. Tool names stay as they were (they follow the first name).';
      } catch (e) { renameMsg.textContent = explain(e, 'rename'); }
    });
  });

  function confirmDelete() {
    const cancel = h('button', { type: 'button', class: 'secondary', text: 'Cancel' });
    const ok = h('button', { type: 'button', class: 'danger', text: 'Delete connection' });
    const err = h('p', { class: 'error', role: 'alert' });
    const dlg = h('dialog', { class: 'confirm', 'aria-labelledby': 'del-h' },
      h('h2', { id: 'del-h', text: 'Delete this connection?' }),
      h('p', { text: `${conn.nickname} and its tool settings are removed, and agents lose its tools at once. Its stored credentials are deleted. This cannot be undone.` }),
      err, h('div', { class: 'actions' }, cancel, ok));
    document.body.append(dlg);
    dlg.addEventListener('close', () => { dlg.remove(); if (document.body.contains(deleteBtn)) deleteBtn.focus(); });
    cancel.addEventListener('click', () => dlg.close());
    ok.addEventListener('click', () => busy(ok, 'Deleting…', async () => {
      try {
        await api.remove(connId);
      } catch (e) { err.textContent = explain(e, 'delete the connection'); return; }
      dlg.close();
      announce(`${conn.nickname} deleted`);
      navigate('#/');
    }));
    dlg.showModal();
    cancel.focus();
  }

  const onOAuth = (ev) => {
    const d = ev.detail;
    if (d.connection_id && d.connection_id !== connId) return;
    if (d.outcome === 'refused') oauthNote = 'The authorization was not completed: tether refused the return from the server (the sign-in page may have expired or been used twice). Use Re-authorize to try again.';
    else if (d.outcome === 'failed') oauthNote = 'The server refused the authorization (see the reason above). Use Re-authorize to try again.';
    else oauthNote = '';
    wake?.();
  };
  window.addEventListener('tether-oauth', onOAuth);
  signal.addEventListener('abort', () => window.removeEventListener('tether-oauth', onOAuth), { once: true });

  try {
    await load();
  } catch (e) {
    if (signal.aborted) return;
    replace(main, h('div', { class: 'page-head' }, h('h1', { text: 'Connection' })),
      h('p', { class: 'error', role: 'alert', text: explain(e, 'load this connection') }),
      h('p', {}, h('a', { href: '#/', text: 'Back to the connections' })));
    return;
  }
  loadCalls();
  // Live while it settles (OAuth, tool sync); slowly otherwise.
  for (;;) {
    const wait = settling(conn) ? 1000 : 15000;
    try {
      await Promise.race([sleep(wait, signal), new Promise((r) => { wake = r; })]);
    } catch { return; }
    wake = null;
    try { await load(); } catch (e) { if (signal.aborted) return; }
  }
}
