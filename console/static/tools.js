// tools.js: one tool of a connection — its enable toggle, input defaults
// and pins edited against the tool's own schema, its response field map,
// and a "try it" panel that calls it through the REST invoke.
import { api } from './api.js';
import { busy, h, id, replace } from './dom.js';
import { explain, json } from './format.js';
import { control, properties, typeOf } from './schema.js';

const MODES = [
  ['agent', 'Agent provides it'],
  ['default', 'Default (agent may override)'],
  ['pinned', 'Pinned (hidden from agents)'],
];

/** agentSchema is the schema agents see: pinned fields gone, defaulted ones optional. */
export function agentSchema(tool) {
  const schema = tool.input_schema || {};
  const defaults = tool.input_defaults || {};
  const props = { ...(schema.properties || {}) };
  let required = Array.isArray(schema.required) ? [...schema.required] : [];
  for (const [name, d] of Object.entries(defaults)) {
    if (d.type === 'pinned') delete props[name];
    required = required.filter((r) => r !== name);
  }
  return { ...schema, properties: props, required };
}

function status(el, text, isError) {
  el.textContent = text;
  el.classList.toggle('error', Boolean(isError));
  el.classList.toggle('ok', !isError && Boolean(text));
}

/**
 * toolCard renders one tool. onSaved(tool) receives the updated tool;
 * onCalled() runs after a "try it" call (for the call records).
 */
export function toolCard(connectionId, tool, { onSaved, onCalled }) {
  const nameId = id('tool');
  const toggleId = id('toggle');
  const msg = h('p', { class: 'tool-msg', role: 'status' });
  const toggle = h('input', { type: 'checkbox', id: toggleId, role: 'switch', checked: tool.is_enabled });
  toggle.addEventListener('change', async () => {
    const want = toggle.checked;
    toggle.disabled = true;
    status(msg, want ? 'Enabling…' : 'Disabling…');
    try {
      const updated = await api.updateTool(connectionId, tool.id, { is_enabled: want });
      Object.assign(tool, updated);
      status(msg, want ? 'Enabled: agents see this tool.' : 'Disabled: agents no longer see this tool.');
      onSaved?.(tool);
    } catch (e) {
      toggle.checked = !want;
      status(msg, explain(e, want ? 'enable the tool' : 'disable the tool'), true);
    } finally {
      toggle.disabled = false;
    }
  });
  const counts = h('span', { class: 'counts' });
  const showCounts = () => {
    counts.textContent = `${tool.default_count} default${tool.default_count === 1 ? '' : 's'}, ${tool.pinned_count} pinned`;
  };
  showCounts();
  const saved = (t) => { Object.assign(tool, t); showCounts(); tryBox.rebuild(); onSaved?.(tool); };
  const tryBox = tryPanel(tool, onCalled);
  return h('li', { class: 'tool', dataset: { slug: tool.slug } },
    h('div', { class: 'tool-head' },
      h('div', { class: 'tool-title' },
        h('h3', { id: nameId, text: tool.display_name || tool.tool_path }),
        h('code', { class: 'mono slug', text: tool.slug }),
        tool.is_available ? null : h('span', { class: 'badge status-error', text: 'No longer on the server' })),
      h('div', { class: 'switch' }, toggle,
        h('label', { for: toggleId }, 'Enabled', h('span', { class: 'visually-hidden', text: ` (${tool.tool_path})` })))),
    h('p', { class: 'tool-desc', text: tool.description || 'No description.' }),
    msg,
    h('details', { class: 'panel' }, h('summary', {}, 'Inputs: defaults and pins · ', counts), inputsEditor(connectionId, tool, saved)),
    h('details', { class: 'panel' }, h('summary', { text: 'Response field map' }), fieldMapEditor(connectionId, tool, saved)),
    h('details', { class: 'panel' }, h('summary', { text: 'Try it' }), tryBox.el));
}

function inputsEditor(connectionId, tool, saved) {
  const rows = [];
  const fields = properties(tool.input_schema);
  const defaults = tool.input_defaults || {};
  const body = h('div', { class: 'inputs' });
  if (fields.length === 0) {
    append(body, h('p', { class: 'hint', text: 'This tool takes no input.' }));
  }
  for (const f of fields) {
    const modeId = id('mode');
    const valId = id('val');
    const mode = h('select', { id: modeId }, MODES.map(([v, label]) => h('option', { value: v, text: label })));
    const c = control(f.prop, f.name);
    c.el.id = valId;
    const d = defaults[f.name];
    mode.value = d ? (d.type === 'pinned' ? 'pinned' : 'default') : 'agent';
    if (d) c.set(d.value);
    const sync = () => { c.el.disabled = mode.value === 'agent'; };
    mode.addEventListener('change', sync);
    sync();
    rows.push({ f, mode, c });
    body.append(h('div', { class: 'input-row' },
      h('div', { class: 'input-name' },
        h('code', { class: 'mono', text: f.name }),
        h('span', { class: 'type', text: typeOf(f.prop) === 'json' ? 'JSON' : typeOf(f.prop) }),
        f.required ? h('span', { class: 'type', text: 'required' }) : null,
        f.prop?.description ? h('span', { class: 'hint', text: String(f.prop.description) }) : null),
      h('div', { class: 'field' }, h('label', { for: modeId, text: `How ${f.name} is set` }), mode),
      h('div', { class: 'field' }, h('label', { for: valId, text: `Value of ${f.name}` }), c.el)));
  }
  if ((tool.stale_input_fields || []).length > 0) {
    body.append(h('p', { class: 'warn', text: `Settings for fields the server no longer has: ${tool.stale_input_fields.join(', ')}. Saving drops them.` }));
  }
  const msg = h('p', { class: 'form-msg', role: 'status' });
  const save = h('button', { type: 'submit', text: 'Save inputs' });
  const form = h('form', { class: 'editor', novalidate: true }, body, msg, fields.length ? h('div', { class: 'actions' }, save) : null);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const out = {};
    for (const { f, mode, c } of rows) {
      if (mode.value === 'agent') continue;
      const r = c.read();
      if (!r.ok) { status(msg, r.error, true); c.el.focus(); return; }
      if (r.empty) { status(msg, `Give ${f.name} a value, or let the agent provide it.`, true); c.el.focus(); return; }
      out[f.name] = { value: r.value, type: mode.value };
    }
    await busy(save, 'Saving…', async () => {
      try {
        const t = await api.updateTool(connectionId, tool.id, { input_defaults: Object.keys(out).length ? out : null });
        status(msg, 'Saved. Agents see the new inputs now.');
        saved(t);
      } catch (e) {
        status(msg, explain(e, 'save the inputs'), true);
      }
    });
  });
  return form;
}

function append(el, ...c) { el.append(...c); }

function fieldMapEditor(connectionId, tool, saved) {
  const list = h('div', { class: 'map-rows' });
  const addRow = (m = {}) => {
    const pathId = id('path');
    const asId = id('as');
    const row = h('div', { class: 'map-row' },
      h('div', { class: 'field' }, h('label', { for: pathId, text: 'Path in the result' }),
        h('input', { id: pathId, type: 'text', class: 'mono', spellcheck: 'false', placeholder: 'user.email', value: m.path || '' })),
      h('div', { class: 'field' }, h('label', { for: asId, text: 'Name it (optional)' }),
        h('input', { id: asId, type: 'text', class: 'mono', spellcheck: 'false', value: m.as || '' })));
    const remove = h('button', { type: 'button', class: 'secondary small', text: 'Remove' });
    remove.setAttribute('aria-label', `Remove mapping ${m.path || ''}`.trim());
    remove.addEventListener('click', () => { row.remove(); addBtn.focus(); });
    row.append(remove);
    list.append(row);
    return row;
  };
  for (const m of tool.response_field_map?.field_mappings || []) addRow(m);
  const addBtn = h('button', { type: 'button', class: 'secondary', text: 'Add a field' });
  addBtn.addEventListener('click', () => addRow().querySelector('input').focus());
  const msg = h('p', { class: 'form-msg', role: 'status' });
  const save = h('button', { type: 'submit', text: 'Save field map' });
  const form = h('form', { class: 'editor', novalidate: true },
    h('p', { class: 'hint', text: 'Keep only these fields of the result for agents ("narrowed"). A path is dotted into the result\'s structured content, or into the JSON of its first text; none kept means the whole result.' }),
    list, h('div', { class: 'actions' }, addBtn), msg, h('div', { class: 'actions' }, save));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const mappings = [];
    for (const row of list.querySelectorAll('.map-row')) {
      const [p, a] = row.querySelectorAll('input');
      if (!p.value.trim()) continue;
      const m = { path: p.value.trim() };
      if (a.value.trim()) m.as = a.value.trim();
      mappings.push(m);
    }
    await busy(save, 'Saving…', async () => {
      try {
        const t = await api.updateTool(connectionId, tool.id, { response_field_map: mappings.length ? { field_mappings: mappings } : null });
        status(msg, mappings.length ? 'Saved.' : 'Saved: agents get the whole result.');
        saved(t);
      } catch (e) {
        status(msg, explain(e, 'save the field map'), true);
      }
    });
  });
  return form;
}

function tryPanel(tool, onCalled) {
  const el = h('div', { class: 'try' });
  const rebuild = () => {
    const schema = agentSchema(tool);
    const fields = properties(schema);
    const rows = fields.map((f) => {
      const c = control(f.prop, f.name);
      c.el.id = id('try');
      return { f, c };
    });
    const msg = h('p', { class: 'form-msg', role: 'status' });
    const out = h('div', { class: 'results' });
    const run = h('button', { type: 'submit', text: 'Call the tool' });
    const pinned = Object.entries(tool.input_defaults || {}).filter(([, d]) => d.type === 'pinned').map(([n]) => n);
    const form = h('form', { class: 'editor', novalidate: true },
      h('p', { class: 'hint', text: `Calls ${tool.slug} through tether's REST API, exactly as an agent would${pinned.length ? ` (pinned: ${pinned.join(', ')})` : ''}.` }),
      rows.map(({ f, c }) => h('div', { class: 'field' },
        h('label', { for: c.el.id }, h('code', { class: 'mono', text: f.name }), f.required ? ' (required)' : ''), c.el)),
      msg, h('div', { class: 'actions' }, run), out);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const input = {};
      for (const { f, c } of rows) {
        const r = c.read();
        if (!r.ok) { status(msg, r.error, true); c.el.focus(); return; }
        if (!r.empty) input[f.name] = r.value;
      }
      status(msg, '');
      await busy(run, 'Calling…', async () => {
        try {
          const res = await api.invoke(tool.slug, input);
          const isError = res.result?.isError === true;
          status(msg, isError ? 'The tool answered with an error (see the result).' : 'Done.', isError);
          replace(out,
            h('h4', { text: 'Result' }), h('pre', { class: 'mono', tabindex: '0', 'aria-label': 'Result', text: json(res.result) }),
            h('h4', { text: 'Narrowed (what the field map keeps)' }), h('pre', { class: 'mono', tabindex: '0', 'aria-label': 'Narrowed result', text: json(res.narrowed) }));
        } catch (e) {
          replace(out);
          status(msg, explain(e, 'call the tool'), true);
        }
        onCalled?.();
      });
    });
    replace(el, form);
  };
  rebuild();
  return { el, rebuild };
}
