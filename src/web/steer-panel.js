// @ts-check
/**
 * The steering controls: feature search (GET /v1/features/search, or "#index"), phrases, and the list of
 * items with a strength slider and an add / clamp switch each. `spec()` turns the list into the request's
 * `steer` field (src/steering/steer-schema.ts).
 */
import { ApiError, getJson } from './api.js';
import { byId, formatNumber, h } from './dom.js';

/**
 * @typedef {{ d_sae: number, layer: number, labels: Record<string, string> }} SaeInfo
 * @typedef {'common' | 'rare' | 'ultra' | 'legendary'} Rarity
 * @typedef {{
 *   id: number, feature?: number, phrase?: string, label: string, mode: 'add' | 'clamp', strength: number,
 *   applyTo: 'all' | 'prompt' | 'generation', enabled: boolean, maxActivation?: number, rarity?: Rarity
 * }} SteerItem
 */

/** Add strengths are multiples of the layer's mean residual norm: ±5 already overwhelms most models. */
const ADD_RANGE = { min: -5, max: 5, step: 0.05 };
const DEFAULT_ADD_STRENGTH = 1;
/** Clamp values are SAE activations; without statistics we do not know a feature's scale, so guess wide. */
const DEFAULT_CLAMP_MAX = 20;
const SEARCH_DEBOUNCE_MS = 250;
const SEARCH_LIMIT = 12;

export class SteerPanel {
  /** @param {{ onChange: () => void }} options */
  constructor({ onChange }) {
    this.onChange = onChange;
    /** @type {SteerItem[]} */
    this.items = [];
    /** @type {SaeInfo | null} */
    this.sae = null;
    this.nextId = 1;
    this.searchInput = /** @type {HTMLInputElement} */ (byId('search-input'));
    this.searchStatus = byId('search-status');
    this.results = byId('search-results');
    this.list = byId('steer-items');
    this.empty = byId('steer-empty');
    /** @type {AbortController | null} */
    this.pendingSearch = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.searchTimer = undefined;

    this.searchInput.addEventListener('input', () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => void this.search(this.searchInput.value), SEARCH_DEBOUNCE_MS);
    });
    byId('feature-search').addEventListener('submit', (event) => {
      event.preventDefault();
      clearTimeout(this.searchTimer);
      void this.search(this.searchInput.value);
    });
    byId('add-phrase').addEventListener('submit', (event) => {
      event.preventDefault();
      const input = /** @type {HTMLInputElement} */ (byId('phrase-input'));
      const phrase = input.value.trim();
      if (!phrase) return;
      this.add({ phrase, label: `“${phrase}”` });
      input.value = '';
    });
    this.render();
  }

  /** @param {SaeInfo | null} sae */
  setSae(sae) {
    this.sae = sae;
    this.searchInput.disabled = !sae;
    this.searchInput.placeholder = sae ? `search ${sae.d_sae} features, or #index` : 'no SAE loaded (start with --sae)';
    this.searchStatus.textContent = sae ? '' : 'Feature steering needs an SAE: start the server with --sae. Phrases work without one.';
  }

  /** @param {{ feature?: number, phrase?: string, label: string, maxActivation?: number, rarity?: Rarity }} item */
  add(item) {
    if (item.feature !== undefined && this.items.some((existing) => existing.feature === item.feature)) return;
    /** @type {SteerItem} */
    const added = { id: this.nextId++, mode: 'add', strength: DEFAULT_ADD_STRENGTH, applyTo: 'all', enabled: true, ...item };
    this.items.push(added);
    this.render();
    this.onChange();
    if (added.feature !== undefined && added.maxActivation === undefined) void this.fetchStatistics(added);
  }

  /** A feature's max activation sizes its clamp slider; search results do not carry it. */
  async fetchStatistics(/** @type {SteerItem} */ item) {
    try {
      const feature = await getJson(`/v1/features/${item.feature}`);
      item.maxActivation = feature.max_activation ?? undefined;
      item.rarity ??= feature.rarity ?? undefined;
      if (this.items.includes(item)) this.render();
    } catch {
      // without statistics the slider keeps its generic range; nothing is lost
    }
  }

  /** The request's `steer` list: enabled items only; an empty list steers nothing. */
  spec() {
    return this.items
      .filter((item) => item.enabled)
      .map((item) => ({
        ...(item.feature !== undefined ? { feature: item.feature } : { phrase: item.phrase }),
        strength: item.strength,
        mode: item.mode,
        ...(item.applyTo === 'all' ? {} : { apply_to: item.applyTo }),
      }));
  }

  /** @param {string} query */
  async search(query) {
    this.pendingSearch?.abort();
    const text = query.trim();
    this.results.replaceChildren();
    this.searchStatus.textContent = '';
    if (!text || !this.sae) return;
    const controller = new AbortController();
    this.pendingSearch = controller;
    try {
      const byIndex = /^#?(\d+)$/.exec(text);
      if (byIndex) {
        const index = Number(byIndex[1]);
        if (index >= this.sae.d_sae) throw new Error(`the SAE has features 0..${this.sae.d_sae - 1}`);
        const feature = await getJson(`/v1/features/${index}`, { signal: controller.signal }).catch((err) => {
          // without the features endpoints the label from /v1/models still identifies it
          if (err instanceof ApiError && err.status === 404 && err.code === 'unknown_url') return { index, label: this.sae?.labels[String(index)] ?? '' };
          throw err;
        });
        this.showResults([{ ...feature, match: 'index' }]);
      } else {
        const params = new URLSearchParams({ q: text, limit: String(SEARCH_LIMIT) });
        const { data } = await getJson(`/v1/features/search?${params}`, { signal: controller.signal });
        this.showResults(data);
        if (data.length === 0) this.searchStatus.textContent = `No feature matches “${text}”.`;
      }
    } catch (err) {
      if (controller.signal.aborted) return;
      this.searchStatus.textContent = `Search failed: ${/** @type {Error} */ (err).message}`;
    }
  }

  /** @param {{ index: number, label?: string | null, rarity?: Rarity, density?: number, score?: number, match?: string, max_activation?: number }[]} features */
  showResults(features) {
    this.results.replaceChildren(
      ...features.map((feature) => {
        const label = feature.label || `feature ${feature.index}`;
        const meta = [
          `#${feature.index}`,
          feature.density !== undefined ? `fires on ${formatNumber(feature.density * 100)}% of tokens` : null,
          feature.match && feature.match !== 'index' ? `by ${feature.match}` : null,
        ].filter(Boolean);
        return h(
          'li',
          { class: feature.rarity ?? '', dataset: { feature: feature.index } },
          h('span', { class: 'label', title: label }, feature.rarity ? h('span', { class: 'rarity' }, feature.rarity) : null, label),
          h('span', { class: 'meta' }, meta.join(' · ')),
          h(
            'button',
            {
              type: 'button',
              class: 'add-feature',
              onclick: () =>
                this.add({ feature: feature.index, label, rarity: feature.rarity, maxActivation: feature.max_activation }),
            },
            '+ steer',
          ),
        );
      }),
    );
  }

  render() {
    this.empty.hidden = this.items.length > 0;
    this.list.replaceChildren(...this.items.map((item) => this.renderItem(item)));
  }

  /** @param {SteerItem} item */
  renderItem(item) {
    const update = () => this.onChange();
    const range = this.rangeFor(item);
    const slider = /** @type {HTMLInputElement} */ (
      h('input', { type: 'range', class: 'strength-slider', 'aria-label': 'strength', ...range, value: String(item.strength) })
    );
    const number = /** @type {HTMLInputElement} */ (
      h('input', { type: 'number', class: 'strength-value', 'aria-label': 'strength value', step: range.step, value: String(item.strength) })
    );
    slider.addEventListener('input', () => {
      item.strength = Number(slider.value);
      number.value = slider.value;
      update();
    });
    number.addEventListener('change', () => {
      const value = Number(number.value);
      if (!Number.isFinite(value)) return;
      item.strength = item.mode === 'clamp' ? Math.max(0, value) : value;
      number.value = String(item.strength);
      slider.value = String(item.strength);
      update();
    });
    /** @param {'add' | 'clamp'} mode */
    const setMode = (mode) => {
      if (item.mode === mode) return;
      item.mode = mode;
      // each mode's strength means something else: a residual-norm multiple, or the activation to pin
      item.strength = mode === 'clamp' ? Number(formatNumber(item.maxActivation ?? 5)) : DEFAULT_ADD_STRENGTH;
      this.render();
      update();
    };
    const modeButton = (/** @type {'add' | 'clamp'} */ mode, /** @type {string} */ title) =>
      h('button', { type: 'button', 'aria-pressed': String(item.mode === mode), title, onclick: () => setMode(mode) }, mode);
    return h(
      'li',
      { class: `steer-item ${item.rarity ?? ''}${item.enabled ? '' : ' disabled'}`, dataset: { id: item.id } },
      h(
        'header',
        {},
        h('input', {
          type: 'checkbox',
          checked: item.enabled,
          'aria-label': 'enabled',
          onchange: (/** @type {Event} */ event) => {
            item.enabled = /** @type {HTMLInputElement} */ (event.target).checked;
            this.render();
            update();
          },
        }),
        h('span', { class: 'name', title: item.label }, item.label),
        item.feature !== undefined ? h('span', { class: 'index' }, `#${item.feature}`) : null,
        h('button', { type: 'button', class: 'remove', title: 'remove', onclick: () => this.remove(item) }, '×'),
      ),
      h('div', { class: 'controls' }, slider, number),
      h(
        'div',
        { class: 'row' },
        item.feature !== undefined
          ? h('span', { class: 'segmented' }, modeButton('add', 'add the decoder direction'), modeButton('clamp', 'pin the activation'))
          : h('span', {}, 'add'),
        h(
          'select',
          {
            'aria-label': 'apply to',
            onchange: (/** @type {Event} */ event) => {
              item.applyTo = /** @type {any} */ (/** @type {HTMLSelectElement} */ (event.target).value);
              update();
            },
          },
          ...['all', 'prompt', 'generation'].map((where) => h('option', { value: where, selected: item.applyTo === where }, `on ${where}`)),
        ),
        h('span', {}, item.mode === 'clamp' ? 'SAE units' : '× mean norm'),
      ),
    );
  }

  /** @param {SteerItem} item */
  rangeFor(item) {
    if (item.mode === 'add') return { min: String(ADD_RANGE.min), max: String(ADD_RANGE.max), step: String(ADD_RANGE.step) };
    const max = item.maxActivation ? Math.max(1, 2 * item.maxActivation) : DEFAULT_CLAMP_MAX;
    return { min: '0', max: formatNumber(max), step: formatNumber(max / 200) };
  }

  /** @param {SteerItem} item */
  remove(item) {
    this.items = this.items.filter((other) => other !== item);
    this.render();
    this.onChange();
  }
}
