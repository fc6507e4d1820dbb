// dom.js: building the page without HTML strings. Every text that comes
// from the API (names, descriptions, errors) goes into textContent or an
// attribute, so markup in it shows as text; the page's CSP also requires
// Trusted Types, so an HTML sink would throw.

/**
 * h creates an element: h('a', {href: '#/', class: 'x', onclick: fn}, 'text', child).
 * Props: "class", "text", "dataset", on<event> handlers; true sets an empty
 * attribute; null, undefined and false are skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = String(v);
    else if (k === 'checked') el.checked = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** append adds children: nodes, strings (as text), arrays; null skipped. */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** replace empties el and appends children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let uid = 0;
/** id returns a page-unique id for label/control pairs. */
export function id(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** announce says msg to screen readers through the page's live region. */
export function announce(msg) {
  const region = document.getElementById('announce');
  if (!region) return;
  region.textContent = '';
  // A new text node in a later task is announced even when msg repeats.
  setTimeout(() => { region.textContent = msg; }, 50);
}

/** sleep resolves after ms, or rejects when signal aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(signal.reason); return; }
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); }, { once: true });
  });
}

/**
 * busy runs fn with button disabled and relabelled (e.g. "Testing…"), the
 * button's width kept so nothing around it moves.
 */
export async function busy(button, label, fn) {
  const before = button.textContent;
  button.style.minWidth = `${button.offsetWidth}px`;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  button.textContent = label;
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    // fn may have relabelled the button for what comes next.
    if (button.textContent === label) button.textContent = before;
  }
}

/** field wraps a control with its label (and an optional hint). */
export function field(label, control, hint) {
  const cid = control.id || id('c');
  control.id = cid;
  const parts = [h('label', { for: cid, text: label }), control];
  if (hint) {
    const hid = id('hint');
    control.setAttribute('aria-describedby', hid);
    parts.push(h('p', { class: 'hint', id: hid, text: hint }));
  }
  return h('div', { class: 'field' }, parts);
}

/** copyButton copies text() to the clipboard, or selects target for Ctrl+C. */
export function copyButton(label, text, target) {
  const btn = h('button', { type: 'button', class: 'secondary small', text: label });
  btn.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text());
      announce('Copied to the clipboard');
      btn.textContent = 'Copied';
    } catch {
      if (target) {
        const range = document.createRange();
        range.selectNodeContents(target);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      }
      btn.textContent = 'Press Ctrl+C';
    }
    setTimeout(() => { btn.textContent = label; }, 2000);
  });
  return btn;
}
