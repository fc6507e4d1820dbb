// format.js: words and numbers as the user reads them.
import { h } from './dom.js';

const STATUS = {
  active: 'Active',
  error: 'Error',
  disabled: 'Disabled',
  pending_oauth: 'Waiting for authorization',
  reauth_required: 'Needs re-authorization',
};

/** statusBadge is a connection status as a coloured label (text, not colour alone). */
export function statusBadge(status) {
  return h('span', { class: `badge status-${String(status).replace(/[^a-z_]/g, '')}`, text: STATUS[status] || String(status) });
}

const TRANSPORT = {
  http: 'Automatic (streamable HTTP, then SSE)',
  sse: 'SSE (then streamable HTTP)',
  streamable_http: 'Streamable HTTP',
  websocket: 'WebSocket',
  stdio: 'stdio',
};

/** transportName names a transport. */
export function transportName(t) { return t ? (TRANSPORT[t] || String(t)) : '—'; }

/** ago is a past time in words ("3 min ago"), with the exact time as title. */
export function ago(iso) {
  if (!iso) return h('span', { text: 'never' });
  const t = new Date(iso);
  const s = Math.max(0, Math.round((Date.now() - t.getTime()) / 1000));
  let text;
  if (s < 10) text = 'just now';
  else if (s < 60) text = `${s} s ago`;
  else if (s < 3600) text = `${Math.floor(s / 60)} min ago`;
  else if (s < 86400) text = `${Math.floor(s / 3600)} h ago`;
  else text = t.toLocaleDateString();
  return h('time', { datetime: t.toISOString(), title: t.toLocaleString(), text });
}

/**
 * explain turns an API error into words a user can act on; what names the
 * action ("connect", "check the server").
 */
export function explain(err, what) {
  if (!err || !err.code) return `Could not ${what}: ${err?.message || err}`;
  const m = err.message;
  switch (err.code) {
    case 'network': return m;
    case 'invalid_url':
    case 'mcp_invalid_endpoint':
      return `tether will not connect to this address. ${m}`;
    case 'upstream_error':
    case 'mcp_connection_failed':
      return `The server could not be reached or answered with an error. ${m}`;
    case 'upstream_timeout':
    case 'mcp_timeout':
      return `The server did not answer in time. ${m}`;
    case 'not_found': return 'This connection no longer exists (it may have been deleted elsewhere).';
    case 'rate_limited': return 'Too many requests for this API key right now. Wait a moment and try again.';
    case 'forbidden': return `This API key may not do that. ${m}`;
    case 'validation': return `Please check the form: ${m}`;
    default: return `Could not ${what}: ${m}`;
  }
}

/** json pretty-prints a value for <pre>. */
export function json(v) { return JSON.stringify(v, null, 2); }
