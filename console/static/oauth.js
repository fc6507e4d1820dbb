// oauth.js: the OAuth popup. The authorization page opens in a popup;
// tether's callback page (served with the console's oauth-return.js) tells
// this tab how it ended — postMessage to tether's own origin, or a
// same-origin BroadcastChannel when the authorization server's pages cut
// the popup off from its opener — and closes. The connection page also
// polls the connection, so a message that never comes costs nothing but
// a second.

const pending = new Map(); // connection id -> authorize URL, for "open again"

/**
 * openPopup opens an empty popup at once, inside the click that asked for
 * it (browsers block popups opened later), to be sent to the
 * authorization page when tether has answered. Null when blocked.
 */
export function openPopup() {
  const w = 520;
  const hgt = 680;
  const left = Math.max(0, Math.round(window.screenX + (window.outerWidth - w) / 2));
  const top = Math.max(0, Math.round(window.screenY + (window.outerHeight - hgt) / 3));
  const popup = window.open('', 'tether-oauth', `popup=yes,width=${w},height=${hgt},left=${left},top=${top}`);
  if (popup) {
    try {
      popup.document.title = 'Connecting…';
      popup.document.body.textContent = 'Opening the authorization page…';
    } catch { /* already elsewhere */ }
  }
  return popup;
}

/** sendPopup sends popup (from openPopup) to the authorization page. */
export function sendPopup(popup, connectionId, authorizeUrl) {
  const u = new URL(authorizeUrl);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('the authorization URL is not a web address');
  pending.set(connectionId, u.href);
  if (popup && !popup.closed) {
    popup.location.href = u.href;
    popup.focus();
    return true;
  }
  return false;
}

/** authorizeUrlOf is the last authorization URL opened for a connection. */
export function authorizeUrlOf(connectionId) { return pending.get(connectionId) || null; }

/** closePopup closes a popup that is no longer needed (an error before it was sent). */
export function closePopup(popup) { try { popup?.close(); } catch { /* gone */ } }

/**
 * listenForAuthorizations turns the callback page's messages into a
 * "tether-oauth" event on window, detail {outcome, connection_id, status}.
 */
export function listenForAuthorizations() {
  const relay = (data) => {
    if (!data || data.type !== 'tether:oauth') return;
    window.dispatchEvent(new CustomEvent('tether-oauth', {
      detail: { outcome: String(data.outcome || ''), connection_id: data.connection_id || null, status: data.status || null },
    }));
  };
  window.addEventListener('message', (ev) => {
    if (ev.origin !== window.location.origin) return; // only tether's own pages
    relay(ev.data);
  });
  if ('BroadcastChannel' in window) {
    const bc = new BroadcastChannel('tether-oauth');
    bc.addEventListener('message', (ev) => relay(ev.data));
  }
}
