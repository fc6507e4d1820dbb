// api.js: the console's only way to tether — its public API (openapi.yaml),
// same origin, with the API key the user pasted. The key lives in this
// module's memory and in sessionStorage (so a reload of this tab keeps
// the user signed in); never in localStorage, a cookie or a URL.

const STORAGE_KEY = 'tether.console.apiKey';
let apiKey = null;
let onUnauthorized = () => {};

/** loadKey restores the key of this tab's session, if any. */
export function loadKey() {
  try { apiKey = sessionStorage.getItem(STORAGE_KEY); } catch { apiKey = null; }
  return apiKey;
}

/** setKey keeps key for this tab. */
export function setKey(key) {
  apiKey = key;
  try { sessionStorage.setItem(STORAGE_KEY, key); } catch { /* memory only */ }
}

/** forgetKey signs out: the key leaves memory and sessionStorage. */
export function forgetKey() {
  apiKey = null;
  try { sessionStorage.removeItem(STORAGE_KEY); } catch { /* nothing kept */ }
}

/** currentKey is the signed-in key, or null. */
export function currentKey() { return apiKey; }

/** whenUnauthorized sets what happens when tether stops accepting the key. */
export function whenUnauthorized(fn) { onUnauthorized = fn; }

/** ApiError is a failed call: HTTP status, tether's error class, a message. */
export class ApiError extends Error {
  constructor(status, code, message, fields) {
    super(message);
    this.status = status;
    this.code = code;
    /** fields maps a body field to its problem (FastAPI-style 422s). */
    this.fields = fields || {};
  }
}

// errorOf reads either dialect's error body.
function errorOf(status, body) {
  if (body && Array.isArray(body.detail)) {
    const fields = {};
    const msgs = body.detail.map((d) => {
      const loc = (d.loc || []).filter((p) => p !== 'body');
      const name = loc.join('.');
      fields[loc[loc.length - 1] ?? name] = d.msg;
      return name ? `${name}: ${d.msg}` : d.msg;
    });
    return new ApiError(status, 'validation', msgs.join('; '), fields);
  }
  if (body && body.error && typeof body.error === 'object') { // Ferni
    return new ApiError(status, String(body.error.code || '').toLowerCase(), String(body.error.message || ''));
  }
  if (body && typeof body.error === 'string') { // Feather
    return new ApiError(status, body.error, String(body.message || ''));
  }
  return new ApiError(status, `http_${status}`, `tether answered ${status}`);
}

/**
 * call sends one API request and returns the decoded JSON (null for an
 * empty body). keyOverride tries a key without keeping it (sign-in).
 */
export async function call(method, path, body, { signal, keyOverride } = {}) {
  const key = keyOverride ?? apiKey;
  const headers = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method, headers, signal, cache: 'no-store', credentials: 'omit', redirect: 'error', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'tether could not be reached. Check your network and try again.');
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (res.ok) return data;
  const err = errorOf(res.status, data);
  if (res.status === 401 && keyOverride === undefined) onUnauthorized(err);
  throw err;
}

const F = '/v1/integrations';
const enc = encodeURIComponent;

/** The calls the console makes, by what they do. */
export const api = {
  listConnections: (o) => call('GET', `${F}/connections`, undefined, o),
  // checkKey is the cheapest call that needs an admin key: sign-in.
  checkKey: (key) => call('GET', `${F}/connections?limit=1`, undefined, { keyOverride: key }),
  getConnection: (id, o) => call('GET', `${F}/connections/${enc(id)}`, undefined, o),
  discover: (serverUrl, transport, o) => call('POST', `${F}/connections/custom-mcp/discover`, { server_url: serverUrl, transport }, o),
  connect: (body, o) => call('POST', `${F}/connections/custom-mcp`, body, o),
  rename: (id, nickname) => call('PATCH', `${F}/connections/${enc(id)}`, { nickname }),
  remove: (id) => call('DELETE', `${F}/connections/${enc(id)}`),
  refreshTools: (id) => call('POST', `${F}/connections/${enc(id)}/refresh-tools`),
  reauthorize: (id) => call('POST', `${F}/connections/${enc(id)}/reauthorize`),
  updateTool: (id, toolId, patch) => call('PATCH', `${F}/connections/${enc(id)}/tools/${enc(toolId)}`, patch),
  setAllTools: (id, enabled) => call('PATCH', `${F}/connections/${enc(id)}/tools`, { is_enabled: enabled }),
  calls: (id, limit, o) => call('GET', `${F}/connections/${enc(id)}/calls?limit=${limit}`, undefined, o),
  agentTools: (o) => call('GET', `${F}/tools`, undefined, o),
  invoke: (slug, input) => call('POST', `${F}/tools/${enc(slug)}/invoke`, { input }),
  // Enabling and testing are Ferni calls: Feather's dialect has neither.
  setEnabled: async (id, enabled) => (await call('PUT', `/api/v2/developers/mcp-servers/${enc(id)}`, { enabled })).data,
  test: async (id) => (await call('POST', `/api/v2/developers/mcp-servers/${enc(id)}/test`)).data,
};
