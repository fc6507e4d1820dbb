// app.js: the console's entry point — sign-in, the header, and a router
// over the location hash (#/, #/connect, #/agent, #/connections/{id}).
import { api, ApiError, currentKey, forgetKey, loadKey, setKey, whenUnauthorized } from './api.js';
import { announce, busy, field, h, replace } from './dom.js';
import { renderList } from './connections.js';
import { renderConnect } from './connect.js';
import { renderDetail } from './detail.js';
import { renderAgent } from './agent.js';
import { listenForAuthorizations } from './oauth.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const signOutButton = document.getElementById('signout');
let view = null; // the AbortController of the view on screen
let signInNotice = '';

function signedIn(on) {
  nav.hidden = !on;
  signOutButton.hidden = !on;
}

function signOut(notice) {
  forgetKey();
  view?.abort();
  signInNotice = notice || '';
  signedIn(false);
  if (location.hash !== '#/') history.replaceState(null, '', '#/');
  renderSignIn();
}

function renderSignIn() {
  document.title = 'Sign in · tether console';
  const input = h('input', { type: 'password', name: 'api-key', autocomplete: 'off', spellcheck: 'false', required: true, autocapitalize: 'off' });
  const error = h('p', { class: 'error', role: 'alert', id: 'signin-error' });
  input.setAttribute('aria-errormessage', 'signin-error');
  const submit = h('button', { type: 'submit', text: 'Sign in' });
  if (signInNotice) error.textContent = signInNotice;
  const form = h('form', { class: 'card signin', novalidate: true },
    h('h1', { text: 'Sign in' }),
    h('p', { text: 'Paste an API key of your organization. The console keeps it in this tab only (memory and session storage) and sends it to this tether alone; signing out or closing the tab forgets it.' }),
    field('API key', input),
    error,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) {
      error.textContent = 'Paste your API key first.';
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    error.textContent = '';
    await busy(submit, 'Signing in…', async () => {
      try {
        await api.checkKey(key);
      } catch (e) {
        input.setAttribute('aria-invalid', 'true');
        if (e instanceof ApiError && e.status === 401) {
          error.textContent = 'tether did not accept this API key. Check that it is complete and current: it may be mistyped, revoked or expired.';
        } else if (e instanceof ApiError && e.status === 403) {
          error.textContent = 'This key may only call tools (an agent key). Sign in with an admin key of your organization to manage connections.';
        } else {
          error.textContent = e.message || String(e);
        }
        input.focus();
        return;
      }
      signInNotice = '';
      input.value = '';
      setKey(key);
      announce('Signed in');
      route(true);
    });
  });
  replace(main, form);
  input.focus();
}

function markNav(name) {
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.route === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// route shows the view the hash names; focusHeading moves focus to its
// heading, as a page load would, after a navigation.
function route(focusHeading) {
  const hash = location.hash || '#/';
  if (!hash.startsWith('#/')) return; // in-page links such as #main
  if (!currentKey()) { signedIn(false); renderSignIn(); return; }
  signedIn(true);
  view?.abort();
  view = new AbortController();
  const ctx = { main, signal: view.signal, navigate };
  const detail = hash.match(/^#\/connections\/([0-9a-fA-F-]{36})$/);
  let p;
  if (detail) { markNav(''); p = renderDetail(ctx, detail[1]); }
  else if (hash === '#/connect') { markNav('connect'); p = renderConnect(ctx); }
  else if (hash === '#/agent') { markNav('agent'); p = renderAgent(ctx); }
  else { markNav('list'); p = renderList(ctx); }
  Promise.resolve(p).catch((e) => {
    if (e?.name === 'AbortError' || view.signal.aborted) return;
    console.error(e); // eslint-disable-line no-console
  });
  if (focusHeading) {
    const h1 = main.querySelector('h1');
    if (h1) { h1.tabIndex = -1; h1.focus({ preventScroll: false }); }
  }
}

function navigate(hash) {
  if (location.hash === hash) route(true);
  else location.hash = hash;
}

whenUnauthorized(() => signOut('Your session ended: tether no longer accepts this API key. Sign in again.'));
signOutButton.addEventListener('click', () => { signOut(''); announce('Signed out'); });
window.addEventListener('hashchange', () => route(true));
listenForAuthorizations();
loadKey();
route(false);
