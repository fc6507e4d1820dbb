// connections.js: the list of connections, with status, the transport
// that worked, last probe, tool count and errors.
import { api } from './api.js';
import { h, replace, sleep } from './dom.js';
import { ago, explain, statusBadge, transportName } from './format.js';

function card(c) {
  const meta = c.metadata || {};
  const info = meta.server_info;
  return h('li', { class: 'conn' },
    h('a', { href: `#/connections/${c.id}`, class: 'conn-link' },
      h('span', { class: 'conn-head' },
        h('span', { class: 'conn-name', text: c.nickname }),
        statusBadge(c.status)),
      h('span', { class: 'conn-slug mono', text: c.nickname_slug })),
    h('dl', { class: 'facts' },
      h('div', {}, h('dt', { text: 'Tools' }), h('dd', { text: String((c.tools || []).length) })),
      h('div', {}, h('dt', { text: 'Transport' }), h('dd', { text: transportName(meta.connected_transport || meta.transport) })),
      h('div', {}, h('dt', { text: 'Last probe' }), h('dd', {}, ago(c.last_refreshed_at))),
      h('div', {}, h('dt', { text: 'Server' }), h('dd', { text: info ? `${info.name} ${info.version}` : '—' }))),
    c.status_reason ? h('p', { class: 'conn-error', text: c.status_reason }) : null);
}

/** renderList shows the connections; it refreshes while one is settling. */
export async function renderList({ main, signal }) {
  document.title = 'Connections · tether console';
  const list = h('div', { class: 'list-area', 'aria-busy': 'true' },
    h('ul', { class: 'conns skeleton', 'aria-hidden': 'true' }, h('li', { class: 'conn' }), h('li', { class: 'conn' })));
  replace(main,
    h('div', { class: 'page-head' },
      h('h1', { text: 'Connections' }),
      h('a', { class: 'button', href: '#/connect', text: 'Connect a server' })),
    list);
  for (;;) {
    let conns;
    try {
      conns = await api.listConnections({ signal });
    } catch (e) {
      if (signal.aborted) return;
      replace(list, h('p', { class: 'error', role: 'alert', text: explain(e, 'load the connections') }));
      list.removeAttribute('aria-busy');
      return;
    }
    if (signal.aborted) return;
    list.removeAttribute('aria-busy');
    if (conns.length === 0) {
      replace(list, h('div', { class: 'empty card' },
        h('p', { text: 'No connections yet. Connect an MCP server and its tools become available to your agents.' }),
        h('a', { class: 'button', href: '#/connect', text: 'Connect a server' })));
    } else {
      replace(list, h('ul', { class: 'conns', 'aria-label': `${conns.length} connections` }, conns.map(card)));
    }
    const settling = conns.some((c) => c.status === 'pending_oauth' || c.tools_status === 'syncing' || c.tools_status === 'pending');
    try { await sleep(settling ? 2000 : 15000, signal); } catch { return; }
  }
}
