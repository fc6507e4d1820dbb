// The console in headless chromium (Debian's, at $CHROMIUM), driven with
// playwright-core. Run by TestConsoleInBrowser (cmd/tether), which starts
// tether, the upstream MCP servers and an authorization server, and
// passes their addresses in the environment. Steps share one browser and
// run in order; any failure exits non-zero.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through TestConsoleInBrowser (go test ./cmd/tether -run TestConsoleInBrowser)`);
  return v;
};
const BASE = env('TETHER_URL');
const KEY = env('TETHER_KEY');
const STATIC_URL = env('STATIC_URL');
const STATIC_TOKEN = env('STATIC_TOKEN');
const OAUTH_URL = env('OAUTH_URL');
const OAUTH_ORIGIN = env('OAUTH_ORIGIN');
const CLOSED_URL = env('CLOSED_URL');
const KEY2 = env('TETHER_KEY2');
const REVOKE_URL = env('REVOKE_URL');
const CHECK_URL = env('CHECK_URL');
const HOSTILE_NAME = env('HOSTILE_NAME');
const HOSTILE_DESCRIPTION = env('HOSTILE_DESCRIPTION');
const SHOTS = env('SCREENSHOTS');
const ORIGIN = new URL(BASE).origin;
const STATIC_NICKNAME = 'CRM <i>tools</i>';

mkdirSync(SHOTS, { recursive: true });

let browser;
let context; // desktop
let page;
const foreign = []; // requests of console pages to other origins

// watch records every request a console page makes to another origin.
function watch(p) {
  p.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && u.origin !== ORIGIN) foreign.push(`${p.url()} -> ${r.url()}`);
  });
  p.on('pageerror', (e) => { console.log(`page error: ${e.message}`); });
}

// Layout shift: the sum of shifts not caused by input, since the load.
const CLS_PROBE = `
  window.__cls = 0;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value;
    }).observe({ type: 'layout-shift', buffered: true });
  } catch (e) {}
  document.addEventListener('securitypolicyviolation', (e) => {
    (window.__violations ||= []).push(e.effectiveDirective || e.violatedDirective);
  });
`;

before(async () => {
  browser = await chromium.launch({
    executablePath: env('CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  await context.addInitScript(CLS_PROBE);
  page = await context.newPage();
  page.setDefaultTimeout(30000);
  watch(page);
});

after(async () => { await browser?.close(); });

const shot = (p, name, fullPage = false) => p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
const nav = (p, name) => p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name });
const agentTools = async () => {
  const r = await fetch(`${CHECK_URL}/mcp-tools`);
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
};
const toolCard = (p, suffix) => p.locator(`li.tool[data-slug$="_${suffix}"]`);
const text = (loc, has) => loc.filter({ hasText: has }).first().waitFor();

// noUnlabelledControls: every control on screen has an accessible name.
async function noUnlabelledControls(p, where) {
  const bad = await p.evaluate(() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
    .filter((el) => el.offsetParent !== null || el.getClientRects().length > 0)
    .filter((el) => {
      if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')) return false;
      if (el.labels && el.labels.length > 0 && [...el.labels].some((l) => l.textContent.trim())) return false;
      if ((el.tagName === 'BUTTON' || el.tagName === 'A') && el.textContent.trim()) return false;
      return true;
    })
    .map((el) => el.outerHTML.slice(0, 120)));
  assert.deepEqual(bad, [], `unlabelled controls on ${where}`);
}

// tabThrough presses Tab up to n times: every stop must show a focus
// outline; returns the names of the controls reached.
async function tabThrough(p, n, where) {
  // Start from the top: the skip link is the page's first stop.
  await p.evaluate(() => { window.scrollTo(0, 0); document.querySelector('a.skip').focus(); });
  const reached = [];
  for (let i = 0; i < n; i++) {
    await p.keyboard.press('Tab');
    const f = await p.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      const s = getComputedStyle(el);
      const name = el.getAttribute('aria-label') || (el.labels && el.labels[0]?.textContent) || el.textContent || el.getAttribute('name') || el.tagName;
      return { name: name.trim().replace(/\s+/g, ' '), outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 };
    });
    if (!f) continue;
    assert.ok(f.outline, `no visible focus on "${f.name}" (${where})`);
    reached.push(f.name);
  }
  return reached;
}

async function noHorizontalScroll(p, where) {
  const w = await p.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(w[0] <= w[1], `${where} is ${w[0]} px wide in a ${w[1]} px window`);
}

test('GET / lands on the console\'s sign-in, served with a strict CSP', async () => {
  const res = await page.goto(`${BASE}/`);
  assert.equal(new URL(page.url()).pathname, '/console/');
  const csp = res.headers()['content-security-policy'];
  for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) {
    assert.ok(csp.split('; ').includes(d), `CSP lacks ${d}: ${csp}`);
  }
  assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), csp);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await noUnlabelledControls(page, 'sign-in');
  const reached = await tabThrough(page, 4, 'sign-in');
  assert.ok(reached.includes('API key'), `Tab reaches the key field: ${reached}`);
  assert.ok(reached.includes('Sign in'), `Tab reaches the button: ${reached}`);
  await shot(page, 'desktop-signin');
});

test('a wrong key gets a clear message and is not kept', async () => {
  await page.getByLabel('API key').fill('tth_not_a_real_key_000000');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await text(page.getByRole('alert'), 'did not accept this API key');
  assert.equal(await page.evaluate(() => sessionStorage.length + localStorage.length), 0);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
});

test('the right key signs in; it is kept in sessionStorage only, never in the URL', async () => {
  await page.getByLabel('API key').fill(KEY);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Connections', level: 1 }).waitFor();
  await text(page.locator('main'), 'No connections yet');
  const stored = await page.evaluate(() => ({ session: Object.values(sessionStorage), local: localStorage.length, cookie: document.cookie }));
  assert.deepEqual(stored, { session: [KEY], local: 0, cookie: '' });
  assert.ok(!page.url().includes(KEY));
});

test('connect: a refused or unreachable URL is explained at the URL field', async () => {
  await nav(page, 'Connect a server').click();
  const url = page.getByLabel('Server URL');
  const error = page.locator('form').first().getByRole('alert');
  await url.fill('mcp.example.com');
  await page.getByRole('button', { name: 'Check server' }).click();
  await text(error, 'Enter the full address of the server');
  await url.fill('http://10.20.30.40/mcp');
  await page.getByRole('button', { name: 'Check server' }).click();
  await text(error, 'tether will not connect to this address');
  assert.equal(await url.getAttribute('aria-invalid'), 'true');
  await url.fill(CLOSED_URL);
  await page.getByRole('button', { name: 'Check server' }).click();
  await text(error, 'Check the URL and that the server is running');
  await shot(page, 'desktop-connect-error');
});

test('connect a static-credential server and see its tools, HTML shown as text', async () => {
  await nav(page, 'Connections').click();
  await nav(page, 'Connect a server').click();
  await page.getByLabel('Server URL').fill(STATIC_URL);
  await page.getByRole('button', { name: 'Check server' }).click();
  await text(page.locator('.finding'), 'does not advertise OAuth');
  await shot(page, 'desktop-connect');
  await noUnlabelledControls(page, 'connect');
  await page.getByLabel('Name', { exact: true }).fill(STATIC_NICKNAME);
  await page.getByLabel('Bearer token', { exact: true }).check();
  await page.getByLabel('Token', { exact: true }).fill(STATIC_TOKEN);
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  await page.waitForURL(/#\/connections\/[0-9a-f-]{36}$/);
  await page.locator('li.tool').nth(4).waitFor();
  assert.equal(await page.locator('li.tool').count(), 5);
  await page.getByRole('heading', { level: 1, name: STATIC_NICKNAME, exact: true }).waitFor();
  // The server's name and a tool description carry markup: shown as text.
  await page.getByText(HOSTILE_DESCRIPTION, { exact: true }).waitFor();
  await page.getByText(`${HOSTILE_NAME} 3.1.4`, { exact: true }).waitFor();
  const planted = await page.evaluate(() => ({ xss: window.__xss ?? null, nodes: document.querySelectorAll('main img, main script, main b, main i').length }));
  assert.deepEqual(planted, { xss: null, nodes: 0 });
  // The token went to tether, never into the page.
  assert.ok(!(await page.content()).includes(STATIC_TOKEN));
});

test('a tool toggled off leaves /mcp; a pinned input leaves its schema', async () => {
  const before = (await agentTools()).map((t) => t.name);
  const echoSlug = await toolCard(page, 'echo').getAttribute('data-slug');
  assert.ok(before.includes(echoSlug), `${echoSlug} in ${before}`);

  await page.getByLabel('Enabled (echo)').uncheck();
  await text(toolCard(page, 'echo').locator('.tool-msg'), 'Disabled');
  const afterToggle = (await agentTools()).map((t) => t.name);
  assert.ok(!afterToggle.includes(echoSlug), `${echoSlug} still listed: ${afterToggle}`);
  assert.equal(afterToggle.length, before.length - 1);

  const lookup = toolCard(page, 'lookup');
  const lookupSlug = await lookup.getAttribute('data-slug');
  await lookup.getByText('Inputs: defaults and pins').click();
  await lookup.getByLabel('How account is set').selectOption('pinned');
  await lookup.getByLabel('Value of account').fill('acme-1');
  await lookup.getByLabel('How limit is set').selectOption('default');
  await lookup.getByLabel('Value of limit').fill('5');
  await lookup.getByRole('button', { name: 'Save inputs' }).click();
  await text(lookup.locator('.form-msg'), 'Saved');
  await text(lookup.locator('.counts'), '1 default, 1 pinned');
  await shot(page, 'desktop-tool-editor');
  const schema = (await agentTools()).find((t) => t.name === lookupSlug).inputSchema;
  assert.ok(!('account' in schema.properties), `account is pinned: ${JSON.stringify(schema)}`);
  assert.ok('limit' in schema.properties);
  assert.deepEqual(schema.required, ['query']);
});

test('try it: REST invoke with pins and defaults applied, raw and narrowed', async () => {
  const lookup = toolCard(page, 'lookup');
  await lookup.getByText('Try it').click();
  await lookup.locator('.try').getByLabel('query').fill('Ada');
  await lookup.getByRole('button', { name: 'Call the tool' }).click();
  const result = lookup.getByLabel('Result', { exact: true });
  await result.waitFor();
  const raw = JSON.parse(await result.textContent());
  assert.deepEqual(raw.structuredContent, { received: { query: 'Ada', account: 'acme-1', limit: 5 } });

  // A field map narrows what agents get.
  const profile = toolCard(page, 'profile');
  await profile.getByText('Response field map').click();
  await profile.getByRole('button', { name: 'Add a field' }).click();
  await profile.getByLabel('Path in the result').fill('user.email');
  await profile.getByLabel('Name it (optional)').fill('email');
  await profile.getByRole('button', { name: 'Save field map' }).click();
  await text(profile.locator('.form-msg'), 'Saved');
  await profile.getByText('Try it').click();
  await profile.getByRole('button', { name: 'Call the tool' }).click();
  const narrowed = profile.getByLabel('Narrowed result');
  await narrowed.waitFor();
  assert.deepEqual(JSON.parse(await narrowed.textContent()), { email: 'ada@example.com' });

  // A disabled tool: the API's refusal is shown where the user acted.
  const echo = toolCard(page, 'echo');
  await echo.getByText('Try it').click();
  await echo.locator('.try').getByLabel('text').fill('hi');
  await echo.getByRole('button', { name: 'Call the tool' }).click();
  await text(echo.locator('.form-msg.error'), 'Could not call the tool');

  // The calls show in the recent calls.
  await page.getByRole('region', { name: /Recent calls/ }).getByText('rest').first().waitFor();
});

test('test now shows latency and server info', async () => {
  await page.getByRole('button', { name: 'Test now' }).click();
  await text(page.locator('.test-out'), 'Connected in');
  const out = await page.locator('.test-out').textContent();
  assert.ok(out.includes(`${HOSTILE_NAME} 3.1.4`), out);
  assert.ok(/Connected in \d+ ms/.test(out), out);
  await noUnlabelledControls(page, 'connection page');
  const reached = await tabThrough(page, 14, 'connection page');
  assert.ok(reached.includes('Test now'), `Tab reaches Test now: ${reached}`);
  await shot(page, 'desktop-connection', true);
});

test('rename, and disable/enable the connection: /mcp follows', async () => {
  const slugs = async () => (await agentTools()).map((t) => t.name).filter((n) => n.startsWith('crm_'));
  assert.ok((await slugs()).length > 0);
  await page.getByRole('button', { name: 'Disable', exact: true }).click();
  await page.locator('.head-badge').getByText('Disabled').waitFor();
  assert.deepEqual(await slugs(), [], 'a disabled connection has no tools on /mcp');
  await page.getByRole('button', { name: 'Enable', exact: true }).click();
  await page.locator('.head-badge').getByText('Active').waitFor();
  assert.ok((await slugs()).length > 0);

  const name = page.locator('form.rename').getByLabel('Name');
  await name.fill('CRM <i>prod</i>');
  await page.getByRole('button', { name: 'Rename' }).click();
  await page.getByRole('heading', { level: 1, name: 'CRM <i>prod</i>', exact: true }).waitFor();
  await name.fill(STATIC_NICKNAME);
  await page.getByRole('button', { name: 'Rename' }).click();
  await page.getByRole('heading', { level: 1, name: STATIC_NICKNAME, exact: true }).waitFor();
});

test('connect an OAuth server through the popup, end to end', async () => {
  await nav(page, 'Connect a server').click();
  await page.getByLabel('Server URL').fill(OAUTH_URL);
  await page.getByRole('button', { name: 'Check server' }).click();
  await text(page.locator('.finding'), 'lets tether register itself');
  assert.equal(await page.getByLabel('OAuth client ID').count(), 0, 'no client id fields with DCR');
  await page.getByLabel('Name', { exact: true }).fill('Docs');
  // Every request made outside the console's page: the popup's.
  const visited = [];
  const onRequest = (r) => {
    try { if (r.frame().page() !== page) visited.push(r.url()); } catch { /* not a frame's */ }
  };
  context.on('request', onRequest);
  await page.evaluate(() => {
    window.__oauthEvents = [];
    window.addEventListener('tether-oauth', (e) => window.__oauthEvents.push(e.detail));
  });
  const popupSeen = page.waitForEvent('popup');
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  const popup = await popupSeen;
  if (!popup.isClosed()) await popup.waitForEvent('close', { timeout: 30000 });
  context.off('request', onRequest);
  assert.ok(visited.some((u) => u.startsWith(`${OAUTH_ORIGIN}/authorize?`)), `the popup opened the authorization page: ${visited}`);
  assert.ok(visited.some((u) => u.startsWith(`${BASE}/v1/integrations/oauth/callback?`)), `the popup came back to tether: ${visited}`);
  assert.ok(visited.includes(`${BASE}/console/oauth-return.js`), `the callback page ran the console's script: ${visited}`);
  await page.waitForURL(/#\/connections\/[0-9a-f-]{36}$/);
  await page.locator('.head-badge').getByText('Active').waitFor();
  // The callback page told the console (postMessage to tether's origin).
  const told = await page.evaluate(() => window.__oauthEvents);
  const id = page.url().split('/').pop();
  assert.ok(told.some((d) => d.outcome === 'connected' && d.connection_id === id && d.status === 'active'), JSON.stringify(told));
  await page.locator('li.tool[data-slug="docs_add"]').waitFor();
  await page.locator('li.tool[data-slug="docs_echo"]').waitFor();
  assert.ok(await page.getByRole('button', { name: 'Re-authorize' }).isVisible());
});

test('a denied authorization is explained on the connection\'s page', async () => {
  // The user says no at the authorization server, which sends the
  // browser back with error=access_denied (answered here for the server).
  await context.route(`${OAUTH_ORIGIN}/authorize**`, (route) => {
    const q = new URL(route.request().url()).searchParams;
    const back = new URL(q.get('redirect_uri'));
    back.search = new URLSearchParams({ error: 'access_denied', error_description: 'The user declined', state: q.get('state'), iss: OAUTH_ORIGIN }).toString();
    return route.fulfill({ status: 302, headers: { Location: back.href } });
  });
  const popupSeen = page.waitForEvent('popup');
  await page.getByRole('button', { name: 'Re-authorize' }).click();
  const popup = await popupSeen;
  if (!popup.isClosed()) await popup.waitForEvent('close', { timeout: 30000 });
  await context.unroute(`${OAUTH_ORIGIN}/authorize**`);
  await page.locator('.head-badge').getByText('Error').waitFor();
  await text(page.locator('.banner'), 'access_denied');
  await text(page.locator('.banner'), 'The server refused the authorization');
  await shot(page, 'desktop-oauth-denied');
});

test('re-authorize through the popup', async () => {
  const popupSeen = page.waitForEvent('popup');
  await page.getByRole('button', { name: 'Re-authorize' }).click();
  const popup = await popupSeen;
  if (!popup.isClosed()) await popup.waitForEvent('close', { timeout: 30000 });
  await page.locator('.head-badge').getByText('Active').waitFor();
  assert.equal(await page.locator('.banner.bad, .banner.warn').count(), 0);
});

test('delete a connection, with confirmation', async () => {
  await nav(page, 'Connections').click();
  await page.locator('.conn-name', { hasText: STATIC_NICKNAME }).click();
  await page.getByRole('heading', { level: 1, name: STATIC_NICKNAME, exact: true }).waitFor();
  await page.getByRole('button', { name: 'Delete…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete this connection?' });
  await dialog.waitFor();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'Delete…' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete connection' }).click();
  await page.getByRole('heading', { name: 'Connections', level: 1 }).waitFor();
  await page.locator('.conn-name').first().waitFor();
  assert.deepEqual(await page.locator('.conn-name').allTextContents(), ['Docs']);
  await shot(page, 'desktop-connections');
});

test('connect your agent: /mcp URL and config, the key hidden unless asked', async () => {
  await nav(page, 'Connect your agent').click();
  const config = page.getByLabel('JSON configuration', { exact: true });
  await config.waitFor();
  const hidden = JSON.parse(await config.textContent());
  assert.deepEqual(hidden.mcpServers.tether, { type: 'http', url: `${BASE}/mcp`, headers: { Authorization: 'Bearer YOUR_TETHER_API_KEY' } });
  assert.ok(!(await page.locator('main').textContent()).includes(KEY));
  await noUnlabelledControls(page, 'agent panel');
  await shot(page, 'desktop-agent', true);
  await page.getByLabel('Show my API key in the snippets').check();
  const shown = JSON.parse(await config.textContent());
  assert.equal(shown.mcpServers.tether.headers.Authorization, `Bearer ${KEY}`);
  await page.getByLabel('Show my API key in the snippets').uncheck();
  assert.ok(!(await page.locator('main').textContent()).includes(KEY));
});

test('no layout shift as the data loads', async () => {
  await nav(page, 'Connections').click();
  await page.reload();
  await page.locator('.conn-name').first().waitFor();
  await page.waitForTimeout(300);
  const listCLS = await page.evaluate(() => window.__cls);
  await page.locator('.conn-link').first().click();
  await page.reload();
  await page.locator('li.tool').first().waitFor();
  await page.waitForTimeout(300);
  const detailCLS = await page.evaluate(() => window.__cls);
  assert.ok(listCLS < 0.1, `connections: cumulative layout shift ${listCLS}`);
  assert.ok(detailCLS < 0.1, `connection page: cumulative layout shift ${detailCLS}`);
});

test('the CSP blocks an injected inline script', async () => {
  // Injected into the page's own DOM...
  const r = await page.evaluate(() => {
    const s = document.createElement('script');
    try { s.textContent = 'window.__injected = 1'; } catch (e) { /* Trusted Types refuse the text */ }
    document.head.append(s);
    return new Promise((res) => setTimeout(() => res(window.__injected ?? null), 100));
  });
  assert.equal(r, null);
  // ...and into the HTML as served (a stored injection): it never runs.
  const p = await context.newPage();
  await p.route(`${BASE}/console/`, async (route) => {
    const res = await route.fetch();
    const body = (await res.text()).replace('</head>', '<script>window.__injected = 2</script></head>');
    await route.fulfill({ response: res, body });
  });
  await p.goto(`${BASE}/console/`);
  await p.getByRole('heading', { level: 1 }).first().waitFor();
  const seen = await p.evaluate(() => ({ injected: window.__injected ?? null, violations: window.__violations || [] }));
  assert.equal(seen.injected, null);
  assert.ok(seen.violations.includes('script-src-elem'), `violations: ${seen.violations}`);
  await p.close();
});

test('sign out forgets the key', async () => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.reload();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
});

test('works 360 px wide', async () => {
  const mobile = await browser.newContext({ viewport: { width: 360, height: 780 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const m = await mobile.newPage();
  watch(m);
  await m.goto(`${BASE}/console/`);
  await m.getByLabel('API key').fill(KEY);
  await m.getByRole('button', { name: 'Sign in' }).click();
  await m.locator('.conn-name').first().waitFor();
  await noHorizontalScroll(m, 'connections');
  await shot(m, 'mobile-connections');
  await m.locator('.conn-link').first().click();
  await m.locator('li.tool').first().waitFor();
  await m.locator('li.tool').first().getByText('Inputs: defaults and pins').click();
  await noHorizontalScroll(m, 'connection page');
  await shot(m, 'mobile-connection', true);
  await nav(m, 'Connect a server').click();
  await m.getByLabel('Server URL').fill(STATIC_URL);
  await m.getByRole('button', { name: 'Check server' }).click();
  await m.locator('.finding').waitFor();
  await m.getByLabel('API key in a header').check();
  await noHorizontalScroll(m, 'connect');
  await shot(m, 'mobile-connect', true);
  await nav(m, 'Connect your agent').click();
  await m.getByLabel('JSON configuration', { exact: true }).waitFor();
  await noHorizontalScroll(m, 'agent panel');
  await shot(m, 'mobile-agent', true);
  await mobile.close();
});

test('a key revoked mid-session sends the user back to sign in', async () => {
  const p = await context.newPage();
  watch(p);
  await p.goto(`${BASE}/console/`);
  await p.getByLabel('API key').fill(KEY2);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.locator('.conn-name').first().waitFor();
  const r = await fetch(REVOKE_URL, { method: 'POST' });
  assert.equal(r.status, 200, await r.text());
  // tether refuses a revoked key within a second; keep using the page.
  for (let i = 0; i < 20 && !(await p.getByRole('heading', { name: 'Sign in' }).isVisible()); i++) {
    await nav(p, i % 2 ? 'Connections' : 'Connect your agent').click().catch(() => {});
    await p.waitForTimeout(250);
  }
  await text(p.getByRole('alert'), 'Your session ended');
  assert.equal(await p.evaluate(() => sessionStorage.length), 0);
  await p.close();
});

test('the console loaded nothing from another origin', () => {
  assert.deepEqual(foreign, []);
});
