// @ts-check
/**
 * The token view: reads an answer back through POST /v1/features/inspect (with the steering it was generated
 * under, so a clamped feature shows at its pinned value), shows every token, and on a click that token's
 * "stars" (its top SAE features, coloured by rarity tier) and the text's "constellations" (features that
 * fire together). A star can be added to the steering with one click; clicking it opens its details.
 */
import { getJson, postJson } from './api.js';
import { byId, formatNumber, h, visibleToken } from './dom.js';

/**
 * @typedef {'common' | 'rare' | 'ultra' | 'legendary'} Rarity
 * @typedef {{ index: number, activation: number, label: string | null, density: number | null, rarity: Rarity | null }} Star
 * @typedef {{ position: number, token_id: number, text: string, source: 'prompt' | 'generated', features: Star[] }} InspectedToken
 * @typedef {{ id: number | string, name: string, features: number[], positions: number[], strength: number }} Constellation
 * @typedef {{ tokens: InspectedToken[], constellations: Constellation[] }} Inspection
 * @typedef {import('./chat.js').Inspectable} Inspectable
 */

const TIERS = ['common', 'rare', 'ultra', 'legendary'];
const TOP_K = 8;

/** The rarest tier among a token's stars: the dot under the token. */
function rarestTier(/** @type {Star[]} */ stars) {
  let best = -1;
  for (const star of stars) best = Math.max(best, star.rarity ? TIERS.indexOf(star.rarity) : -1);
  return best >= 0 ? TIERS[best] : undefined;
}

/** Whitespace and U+FFFD: where token texts and the streamed answer may differ while spelling the same text. */
const LOOSE = /[\s\uFFFD]/u;

/**
 * Positions of the tokens that spell `answer` (its last occurrence in the text the tokens spell), so the
 * answer stands out from the chat template and earlier turns. Compared without whitespace and U+FFFD:
 * SentencePiece tokens carry their own leading spaces, and a character split across tokens shows as one
 * U+FFFD per token but as one in the streamed text. Empty when the tokens do not spell the answer.
 * @param {InspectedToken[]} tokens
 * @param {string} answer
 */
function answerPositions(tokens, answer) {
  /** @type {number[]} for each kept UTF-16 unit of the tokens' text, the index of its token */
  const owner = [];
  let text = '';
  tokens.forEach((token, i) => {
    for (const char of token.text) {
      if (LOOSE.test(char)) continue;
      text += char;
      for (let unit = 0; unit < char.length; unit++) owner.push(i);
    }
  });
  const wanted = [...answer].filter((char) => !LOOSE.test(char)).join('');
  const from = wanted ? text.lastIndexOf(wanted) : -1;
  const positions = new Set();
  if (from < 0) return positions;
  for (let at = from; at < from + wanted.length; at++) positions.add(tokens[owner[at] ?? 0]?.position);
  return positions;
}

export class TokenView {
  /** @param {{ model: () => string | null, onSteerFeature: (star: Star) => void }} options */
  constructor(options) {
    this.options = options;
    this.tokensElement = byId('tokens');
    this.status = byId('token-status');
    this.starsElement = byId('stars');
    this.starToken = byId('star-token');
    this.detail = byId('feature-detail');
    this.constellationsElement = byId('constellations');
    this.tabs = [...document.querySelectorAll('.token-view [role=tab]')];
    /** @type {Record<string, Inspectable> | null} */
    this.answers = null;
    /** @type {Map<string, Promise<Inspection>>} */
    this.cache = new Map();
    this.side = 'steered';
    /** @type {Inspection | null} */
    this.inspection = null;
    /** @type {number | null} */
    this.selected = null;
    /** @type {Constellation | null} */
    this.activeConstellation = null;
    for (const tab of this.tabs) {
      tab.addEventListener('click', () => void this.show(/** @type {HTMLElement} */ (tab).dataset.side ?? 'steered'));
    }
  }

  /** @param {Record<string, Inspectable>} answers */
  setAnswers(answers) {
    this.answers = answers;
    this.cache.clear();
    void this.show(this.side);
  }

  /** @param {string} side */
  async show(side) {
    this.side = side;
    for (const tab of this.tabs) tab.setAttribute('aria-selected', String(/** @type {HTMLElement} */ (tab).dataset.side === side));
    const answer = this.answers?.[side];
    if (!answer) return;
    let pending = this.cache.get(side);
    if (!pending) {
      const model = this.options.model();
      pending = postJson('/v1/features/inspect', { model, messages: answer.messages, ...(answer.steer ? { steer: answer.steer } : {}), top_k: TOP_K });
      this.cache.set(side, pending);
      pending.catch(() => this.cache.delete(side));
    }
    this.tokensElement.dataset.state = 'loading';
    this.status.textContent = 'Reading the features of every token…';
    try {
      const inspection = await pending;
      if (this.side !== side) return;
      this.render(inspection, answer.messages.at(-1)?.content ?? '');
    } catch (err) {
      if (this.side !== side) return;
      this.tokensElement.dataset.state = 'error';
      this.tokensElement.replaceChildren();
      this.status.textContent = `No token view: ${/** @type {Error} */ (err).message}`;
    }
  }

  /**
   * @param {Inspection} inspection
   * @param {string} answer the latest assistant message, highlighted among the context tokens
   */
  render(inspection, answer) {
    this.inspection = inspection;
    this.selected = null;
    this.activeConstellation = null;
    const inAnswer = answerPositions(inspection.tokens, answer);
    const strongest = Math.max(1e-9, ...inspection.tokens.map((token) => token.features[0]?.activation ?? 0));
    this.tokensElement.replaceChildren(
      ...inspection.tokens.flatMap((token) => [
        h(
          'span',
          {
            class: `token${inAnswer.size && !inAnswer.has(token.position) ? ' context' : ''}`,
            dataset: { position: token.position, ...(rarestTier(token.features) ? { rarity: rarestTier(token.features) } : {}) },
            style: { '--glow': (0.35 * (token.features[0]?.activation ?? 0)) / strongest },
            title: `#${token.position} id ${token.token_id} · ${token.features.length} stars`,
            onclick: () => this.select(token.position),
          },
          visibleToken(token.text),
        ),
        // a newline token shows as ↵ and also breaks the line, so the text keeps its shape
        token.text.includes('\n') ? h('br') : '',
      ]),
    );
    this.tokensElement.dataset.state = 'ready';
    this.status.textContent = `${inspection.tokens.length} tokens · ${inspection.constellations.length} constellations · click a token to see its stars`;
    this.starsElement.replaceChildren();
    this.starToken.textContent = '';
    this.detail.hidden = true;
    this.renderConstellations();
  }

  /** @param {number} position */
  select(position) {
    const token = this.inspection?.tokens.find((candidate) => candidate.position === position);
    if (!token) return;
    this.selected = position;
    for (const element of this.tokensElement.querySelectorAll('.token')) {
      element.classList.toggle('selected', /** @type {HTMLElement} */ (element).dataset.position === String(position));
    }
    this.starToken.textContent = `“${visibleToken(token.text)}” at ${position}`;
    const strongest = Math.max(1e-9, ...token.features.map((star) => star.activation));
    this.starsElement.replaceChildren(
      ...token.features.map((star) => {
        const label = star.label || `feature ${star.index}`;
        return h(
          'li',
          {
            class: `star ${star.rarity ?? ''}`,
            dataset: { feature: star.index, rarity: star.rarity ?? '' },
            title: `${label}\nactivation ${star.activation}${star.density !== null ? `\nfires on ${formatNumber(star.density * 100)}% of tokens` : ''}${star.rarity ? ` (${star.rarity})` : ''}`,
            onclick: () => void this.showFeature(star.index),
          },
          h('span', { class: 'glyph' }, '★'),
          h('span', { class: 'label' }, h('small', {}, `#${star.index}`), label),
          h('span', { class: 'bar' }, h('span', { style: { width: `${(100 * star.activation) / strongest}%` } })),
          h('span', { class: 'act' }, formatNumber(star.activation)),
          h(
            'button',
            {
              type: 'button',
              class: 'steer-add',
              title: 'add this feature to the steering',
              onclick: (/** @type {Event} */ event) => {
                event.stopPropagation();
                this.options.onSteerFeature(star);
              },
            },
            '+ steer',
          ),
        );
      }),
    );
    if (token.features.length === 0) this.starsElement.append(h('li', { class: 'hint' }, 'No feature fires on this token.'));
    this.renderConstellations();
  }

  renderConstellations() {
    const constellations = this.inspection?.constellations ?? [];
    const selected = this.selected;
    this.constellationsElement.replaceChildren(
      ...constellations.map((constellation) =>
        h(
          'li',
          {
            class: `constellation${constellation === this.activeConstellation ? ' active' : ''}${selected !== null && constellation.positions.includes(selected) ? ' touches' : ''}`,
            dataset: { id: constellation.id },
            onclick: () => this.toggleConstellation(constellation),
          },
          h('div', { class: 'name' }, constellation.name),
          h(
            'div',
            { class: 'meta' },
            `${constellation.features.length} stars (${constellation.features.map((index) => `#${index}`).join(' ')}) · ${constellation.positions.length} tokens · strength ${formatNumber(constellation.strength)}`,
          ),
        ),
      ),
    );
    if (constellations.length === 0 && this.inspection) this.constellationsElement.append(h('li', { class: 'hint' }, 'No features fire together in this text.'));
  }

  /** @param {Constellation} constellation */
  toggleConstellation(constellation) {
    this.activeConstellation = this.activeConstellation === constellation ? null : constellation;
    const positions = new Set(this.activeConstellation?.positions ?? []);
    for (const element of this.tokensElement.querySelectorAll('.token')) {
      element.classList.toggle('in-constellation', positions.has(Number(/** @type {HTMLElement} */ (element).dataset.position)));
    }
    this.renderConstellations();
  }

  /** Label, statistics, top contexts and nearest features of one star (GET /v1/features/{index}). */
  async showFeature(/** @type {number} */ index) {
    this.detail.hidden = false;
    this.detail.dataset.feature = String(index);
    this.detail.replaceChildren(h('span', { class: 'hint' }, `loading feature #${index}…`));
    try {
      const feature = await getJson(`/v1/features/${index}`);
      if (this.detail.dataset.feature !== String(index)) return;
      this.detail.replaceChildren(
        h('div', {}, feature.rarity ? h('span', { class: `rarity ${feature.rarity}` }, feature.rarity) : null, h('strong', {}, `#${index} ${feature.label ?? ''}`)),
        h(
          'div',
          { class: 'hint' },
          [
            feature.density !== null && feature.density !== undefined ? `fires on ${formatNumber(feature.density * 100)}% of tokens` : null,
            feature.max_activation ? `max activation ${formatNumber(feature.max_activation)}` : null,
          ]
            .filter(Boolean)
            .join(' · '),
        ),
        feature.top_contexts?.length
          ? h(
              'ul',
              {},
              ...feature.top_contexts.slice(0, 5).map((/** @type {{ text: string, token: string, activation: number }} */ context) => h('li', {}, highlight(context.text, context.token), ` (${formatNumber(context.activation)})`)),
            )
          : '',
        feature.nearest?.length
          ? h('div', { class: 'hint' }, 'nearest: ', feature.nearest.slice(0, 5).map((/** @type {{ index: number, label: string | null, cosine: number }} */ n) => `#${n.index} ${n.label ?? ''} (${formatNumber(n.cosine)})`).join(', '))
          : '',
      );
    } catch (err) {
      if (this.detail.dataset.feature === String(index)) this.detail.replaceChildren(h('span', { class: 'hint' }, `feature #${index}: ${/** @type {Error} */ (err).message}`));
    }
  }
}

/** A top context with its firing token marked: the statistics mark it [[ like this ]] in the text. */
function highlight(/** @type {string} */ text, /** @type {string} */ token) {
  const marked = /\[\[(.*?)\]\]/s.exec(text);
  if (marked) return [text.slice(0, marked.index), h('mark', {}, marked[1] ?? ''), text.slice(marked.index + marked[0].length)];
  const at = token ? text.lastIndexOf(token) : -1;
  if (at < 0) return [text];
  return [text.slice(0, at), h('mark', {}, token), text.slice(at + token.length)];
}
