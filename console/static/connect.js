// connect.js: connecting a server, as the Feather flow goes — paste a URL,
// tether discovers its authorization, the form asks for what is missing,
// connect; OAuth continues in a popup and on the connection's page.
import { api } from './api.js';
import { announce, busy, field, h, id, replace } from './dom.js';
import { explain } from './format.js';
import { closePopup, openPopup, sendPopup } from './oauth.js';

const TRANSPORTS = [
  ['http', 'Automatic: streamable HTTP, then SSE'],
  ['sse', 'SSE, then streamable HTTP'],
  ['streamable_http', 'Streamable HTTP only'],
  ['websocket', 'WebSocket (ws:// or wss://)'],
];

function select(options, value) {
  const s = h('select', {}, options.map(([v, label]) => h('option', { value: v, text: label })));
  s.value = value;
  return s;
}

function nicknameFrom(url) {
  try {
    const u = new URL(url);
    if (/^[\d.]+$|^\[/.test(u.hostname)) return 'My MCP server'; // an address, no name
    return u.hostname.replace(/^(www|mcp|api)\./, '').split('.')[0] || 'My MCP server';
  } catch { return 'My MCP server'; }
}

/** renderConnect shows the connect form. */
export function renderConnect({ main, signal, navigate }) {
  document.title = 'Connect a server · tether console';
  const urlInput = h('input', { type: 'url', required: true, placeholder: 'https://mcp.example.com/mcp', autocomplete: 'url', spellcheck: 'false' });
  const transport = select(TRANSPORTS, 'http');
  const urlError = h('p', { class: 'error', role: 'alert', id: id('err') });
  urlInput.setAttribute('aria-errormessage', urlError.id);
  const check = h('button', { type: 'submit', text: 'Check server' });
  const step2 = h('div', { class: 'step2' });
  const checkForm = h('form', { class: 'card', novalidate: true },
    h('h2', { text: '1. Where is the server?' }),
    field('Server URL', urlInput, 'The MCP endpoint, as the server\'s documentation gives it.'),
    urlError,
    field('Transport', transport),
    h('div', { class: 'actions' }, check));

  checkForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    urlError.textContent = '';
    urlInput.removeAttribute('aria-invalid');
    const url = urlInput.value.trim();
    if (!/^(https?|wss?):\/\/./i.test(url)) {
      urlError.textContent = 'Enter the full address of the server, starting with https:// (or http://, ws://, wss://).';
      urlInput.setAttribute('aria-invalid', 'true');
      urlInput.focus();
      return;
    }
    replace(step2);
    await busy(check, 'Checking…', async () => {
      let found;
      try {
        found = await api.discover(url, transport.value, { signal });
      } catch (e) {
        if (signal.aborted) return;
        // Anything but a refused address means the server could not be
        // read: say what to check, then tether's details.
        urlError.textContent = e.code === 'invalid_url' || e.code === 'network' || e.code === 'validation' || e.code === 'rate_limited'
          ? explain(e, 'check the server')
          : `tether could not reach this server or read how it signs in. Check the URL and that the server is running. (${e.message})`;
        urlInput.setAttribute('aria-invalid', 'true');
        urlInput.focus();
        return;
      }
      if (signal.aborted) return;
      replace(step2, connectForm(url, transport.value, found, navigate, signal));
      announce('Server checked. Fill in the connection details.');
      step2.querySelector('h2')?.focus();
    });
  });

  replace(main,
    h('div', { class: 'page-head' }, h('h1', { text: 'Connect a server' })),
    checkForm, step2);
  urlInput.focus();
}

// connectForm is step 2: name and authentication, from what discovery found.
function connectForm(url, transport, found, navigate, signal) {
  const oauth = Boolean(found.authorize_url);
  const dcr = oauth && found.supports_dcr;
  let summary;
  if (dcr) summary = 'This server uses OAuth and lets tether register itself: you will sign in to it in a popup, no client ID needed.';
  else if (oauth) summary = 'This server uses OAuth but does not let tether register itself: enter the client ID (and secret, if any) you registered for tether.';
  else summary = 'This server does not advertise OAuth. Choose how tether should authenticate to it.';

  const nickname = h('input', { type: 'text', required: true, maxlength: '200', value: nicknameFrom(url) });
  const group = id('auth');
  const choices = [];
  if (oauth) choices.push(['oauth', 'OAuth (sign in to the server)']);
  choices.push(['none', 'No authentication'], ['bearer', 'Bearer token'], ['api_key', 'API key in a header']);
  const radios = choices.map(([v, label], i) => {
    const rid = id('r');
    return h('div', { class: 'radio' },
      h('input', { type: 'radio', name: group, id: rid, value: v, checked: i === 0 }),
      h('label', { for: rid, text: label }));
  });
  const token = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false' });
  const apiKey = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false' });
  const header = h('input', { type: 'text', value: 'X-API-Key', spellcheck: 'false' });
  const clientId = h('input', { type: 'text', spellcheck: 'false', autocomplete: 'off' });
  const clientSecret = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false' });
  const redirect = `${location.origin}/v1/integrations/oauth/callback`;
  const extra = {
    oauth: oauth && !dcr ? [
      field('OAuth client ID', clientId, `Register tether at the server with the redirect URI ${redirect}`),
      field('OAuth client secret (optional)', clientSecret),
    ] : [h('p', { class: 'hint', text: 'A popup opens the server\'s sign-in page. Allow popups for this site if your browser asks.' })],
    none: [h('p', { class: 'hint', text: 'tether will call the server without credentials.' })],
    bearer: [field('Token', token, 'Sent as "Authorization: Bearer …". Stored encrypted; never shown again.')],
    api_key: [field('Header name', header), field('API key', apiKey, 'Stored encrypted; never shown again.')],
  };
  const extraArea = h('div', { class: 'auth-extra' });
  const chosen = () => radios.map((r) => r.querySelector('input')).find((r) => r.checked)?.value;
  const showExtra = () => replace(extraArea, extra[chosen()] || []);
  for (const r of radios) r.querySelector('input').addEventListener('change', showExtra);
  showExtra();

  const error = h('p', { class: 'error', role: 'alert' });
  const submit = h('button', { type: 'submit', text: 'Connect' });
  const form = h('form', { class: 'card', novalidate: true },
    h('h2', { text: '2. Connect', tabindex: '-1' }),
    h('p', { class: `finding ${oauth ? 'finding-oauth' : 'finding-static'}`, text: summary }),
    field('Name', nickname, 'How you will recognise it; its tools are named after it.'),
    h('fieldset', {}, h('legend', { text: 'Authentication' }), radios),
    extraArea,
    error,
    h('div', { class: 'actions' }, submit));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const auth = chosen();
    const body = { nickname: nickname.value.trim(), server_url: url, transport, auth_type: auth };
    const need = (input, msg) => {
      if (input.value.trim()) return false;
      error.textContent = msg;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return true;
    };
    if (need(nickname, 'Give the connection a name.')) return;
    if (auth === 'bearer') {
      if (need(token, 'Enter the token.')) return;
      body.token = token.value.trim();
    } else if (auth === 'api_key') {
      if (need(header, 'Enter the header name.') || need(apiKey, 'Enter the API key.')) return;
      body.api_key = apiKey.value.trim();
      body.api_key_header = header.value.trim();
    } else if (auth === 'oauth' && !dcr) {
      if (need(clientId, 'Enter the client ID you registered for tether.')) return;
      body.oauth_client_id = clientId.value.trim();
      if (clientSecret.value) body.oauth_client_secret = clientSecret.value;
    }
    // The popup must open inside this click, before tether answers.
    const popup = auth === 'oauth' ? openPopup() : null;
    await busy(submit, auth === 'oauth' ? 'Starting authorization…' : 'Connecting…', async () => {
      let res;
      try {
        res = await api.connect(body);
      } catch (e) {
        closePopup(popup);
        error.textContent = explain(e, 'connect');
        return;
      }
      token.value = '';
      apiKey.value = '';
      clientSecret.value = '';
      if (res.authorize_url) sendPopup(popup, res.connection_id, res.authorize_url);
      announce(res.authorize_url ? 'Waiting for you to authorize in the popup' : 'Connected');
      if (!signal.aborted) navigate(`#/connections/${res.connection_id}`);
    });
  });
  return form;
}
