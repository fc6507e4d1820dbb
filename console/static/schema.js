// schema.js: form controls for a tool's input fields, from the tool's own
// JSON Schema: text, number, true/false and enum pickers for scalars, JSON
// for anything else. Each control reads back a typed value.
import { h } from './dom.js';

/** typeOf is a property schema's main type ("string", "integer", …, or "json"). */
export function typeOf(prop) {
  if (!prop || typeof prop !== 'object') return 'json';
  if (Array.isArray(prop.enum) && prop.enum.length > 0) return 'enum';
  let t = prop.type;
  if (Array.isArray(t)) t = t.find((x) => x !== 'null');
  if (!t && Array.isArray(prop.anyOf)) {
    const first = prop.anyOf.find((s) => s && s.type && s.type !== 'null');
    t = first?.type;
  }
  return ['string', 'integer', 'number', 'boolean'].includes(t) ? t : 'json';
}

/** properties lists an object schema's fields, sorted by name. */
export function properties(schema) {
  const props = (schema && typeof schema.properties === 'object' && schema.properties) || {};
  const required = new Set(Array.isArray(schema?.required) ? schema.required : []);
  return Object.keys(props).sort().map((name) => ({ name, prop: props[name], required: required.has(name) }));
}

/**
 * control is an input for one field: {el, read() -> {ok, value, empty, error}, set(value)}.
 * An empty control reads as empty (the field is left out).
 */
export function control(prop, label) {
  const kind = typeOf(prop);
  let el;
  let read;
  let set;
  if (kind === 'enum') {
    const values = prop.enum;
    el = h('select', {},
      h('option', { value: '', text: '(not set)' }),
      values.map((v, i) => h('option', { value: String(i), text: JSON.stringify(v) })));
    read = () => (el.value === '' ? { ok: true, empty: true } : { ok: true, value: values[Number(el.value)] });
    set = (v) => { const i = values.findIndex((x) => JSON.stringify(x) === JSON.stringify(v)); el.value = i < 0 ? '' : String(i); };
  } else if (kind === 'boolean') {
    el = h('select', {},
      h('option', { value: '', text: '(not set)' }), h('option', { value: 'true', text: 'true' }), h('option', { value: 'false', text: 'false' }));
    read = () => (el.value === '' ? { ok: true, empty: true } : { ok: true, value: el.value === 'true' });
    set = (v) => { el.value = v === true ? 'true' : v === false ? 'false' : ''; };
  } else if (kind === 'integer' || kind === 'number') {
    el = h('input', { type: 'number', step: kind === 'integer' ? '1' : 'any', inputmode: kind === 'integer' ? 'numeric' : 'decimal' });
    read = () => {
      if (el.value.trim() === '') return { ok: true, empty: true };
      const n = Number(el.value);
      if (!Number.isFinite(n) || (kind === 'integer' && !Number.isInteger(n))) return { ok: false, error: `${label}: enter ${kind === 'integer' ? 'a whole number' : 'a number'}` };
      return { ok: true, value: n };
    };
    set = (v) => { el.value = v === undefined || v === null ? '' : String(v); };
  } else if (kind === 'string') {
    el = h('input', { type: 'text', spellcheck: 'false' });
    read = () => (el.value === '' ? { ok: true, empty: true } : { ok: true, value: el.value });
    set = (v) => { el.value = v === undefined || v === null ? '' : String(v); };
  } else {
    el = h('textarea', { rows: '3', spellcheck: 'false', class: 'mono' });
    read = () => {
      if (el.value.trim() === '') return { ok: true, empty: true };
      try { return { ok: true, value: JSON.parse(el.value) }; } catch { return { ok: false, error: `${label}: not valid JSON` }; }
    };
    set = (v) => { el.value = v === undefined ? '' : JSON.stringify(v, null, 2); };
  }
  return { el, read, set, kind };
}
