// @ts-check
/** A tiny element builder, so the modules read as markup without a framework. */

/**
 * h('button', { class: 'x', onclick: fn, dataset: { id: 1 }, style: { '--glow': 0.5 } }, 'text', child)
 * Text children are inserted as text nodes, never as HTML, so labels and model output cannot inject markup.
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...(Node | string | number | null | undefined | false | (Node | string)[])} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else if (key === 'class') element.className = value;
    else if (key === 'dataset') Object.assign(element.dataset, value);
    // through the CSSOM: the page's content security policy blocks style attributes
    else if (key === 'style') for (const [property, css] of Object.entries(value)) element.style.setProperty(property, String(css));
    else if (key === 'value' || key === 'checked') /** @type {any} */ (element)[key] = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'number' ? String(child) : child);
  }
  return element;
}

/** @param {string} id */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element;
}

/** Formats an activation or strength compactly: 3 significant digits, no exponent for everyday values. */
export function formatNumber(/** @type {number} */ value) {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1000 || magnitude < 0.001) return value.toExponential(2);
  return String(Number(value.toPrecision(3)));
}

/** Shows whitespace in token text: a token of spaces or newlines would otherwise be invisible. */
export function visibleToken(/** @type {string} */ text) {
  return text.replaceAll('\n', '↵').replaceAll('\t', '⇥') || '∅';
}
