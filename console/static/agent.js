// agent.js: "Connect your agent" — the /mcp URL and ready-to-paste
// configuration, with a placeholder for the key unless the user asks to
// see the real one.
import { currentKey } from './api.js';
import { copyButton, h, id, replace } from './dom.js';

const PLACEHOLDER = 'YOUR_TETHER_API_KEY';

/** renderAgent shows the panel. */
export function renderAgent({ main }) {
  document.title = 'Connect your agent · tether console';
  const url = `${location.origin}/mcp`;
  const showId = id('show');
  const show = h('input', { type: 'checkbox', id: showId });
  const snippets = h('div', { class: 'snippets' });
  const urlInput = h('input', { type: 'text', readonly: true, class: 'mono', value: url, id: id('url') });

  const render = () => {
    const key = show.checked ? currentKey() : PLACEHOLDER;
    const config = JSON.stringify({
      mcpServers: { tether: { type: 'http', url, headers: { Authorization: `Bearer ${key}` } } },
    }, null, 2);
    const cli = `claude mcp add --transport http tether ${url} --header "Authorization: Bearer ${key}"`;
    const curl = `curl -s ${location.origin}/v1/integrations/tools -H "Authorization: Bearer ${key}"`;
    const block = (title, hint, text, label) => {
      const pre = h('pre', { class: 'mono snippet', tabindex: '0', 'aria-label': label, text });
      return h('div', { class: 'snippet-block' },
        h('div', { class: 'section-head' }, h('h2', { text: title }), copyButton(`Copy ${label}`, () => text, pre)),
        h('p', { class: 'hint', text: hint }), pre);
    };
    replace(snippets,
      block('JSON configuration', 'An mcpServers entry for clients configured with a JSON file (Claude Code\'s .mcp.json, Cursor, Windsurf and others; some name the key "serverUrl" or leave out "type").', config, 'JSON configuration'),
      block('Command line', 'For clients that add servers from a command line (here Claude Code).', cli, 'command line'),
      block('Check from a terminal', 'Lists the tools agents can call, over the REST tool API.', curl, 'curl command'));
  };
  show.addEventListener('change', render);
  render();

  replace(main,
    h('div', { class: 'page-head' }, h('h1', { text: 'Connect your agent' })),
    h('section', { class: 'card' },
      h('p', { text: 'Agents reach every enabled tool of your active connections through one MCP endpoint (streamable HTTP), authenticated with an API key of your organization.' }),
      h('div', { class: 'field' },
        h('label', { for: urlInput.id, text: 'MCP endpoint' }),
        h('div', { class: 'inline' }, urlInput, copyButton('Copy URL', () => url, urlInput))),
      h('div', { class: 'switch' }, show, h('label', { for: showId, text: 'Show my API key in the snippets' })),
      h('p', { class: 'hint', text: `Hidden by default: the snippets hold ${PLACEHOLDER} until you ask. Anyone who sees the key can call your tools.` })),
    h('section', { class: 'card' }, snippets));
}
