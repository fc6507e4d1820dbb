// oauth-return.js runs on tether's OAuth callback page (in the popup the
// console opened): it tells the console how the authorization ended and
// closes the popup. The message goes to tether's own origin only
// (postMessage's targetOrigin), and over a same-origin BroadcastChannel
// for when the popup lost its opener on the authorization server's pages.
(function () {
  'use strict';
  var d = document.body.dataset;
  var msg = { type: 'tether:oauth', outcome: d.outcome || '', connection_id: d.connectionId || null, status: d.status || null };
  var told = false;
  try {
    if (window.opener && window.opener !== window) {
      window.opener.postMessage(msg, window.location.origin);
      told = true;
    }
  } catch (e) { /* opener gone */ }
  try {
    var bc = new BroadcastChannel('tether-oauth');
    bc.postMessage(msg);
    bc.close();
    told = true;
  } catch (e) { /* no BroadcastChannel */ }
  // A window the console opened closes; one the user opened stays (and
  // shows the page's message).
  if (told) window.close();
})();
