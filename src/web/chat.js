// @ts-check
/**
 * The chat: each prompt goes out twice at once, steered and unsteered, with the same sampling settings and
 * seed, as two streaming /v1/chat/completions calls; the answers stream side by side. Each column keeps its
 * own conversation (the steered chat continues from steered answers), and once both are done the part where
 * they diverge is highlighted.
 */
import { ApiError, streamChat } from './api.js';
import { byId, formatNumber, h } from './dom.js';

/**
 * @typedef {{ role: 'user' | 'assistant', content: string }} Message
 * @typedef {{ text: string, tokens: number | null, seconds: number }} Answer
 * @typedef {{ messages: Message[], steer?: unknown[] }} Inspectable what the token view may read back
 */

const MAX_SEED = 2 ** 31 - 1;

class Column {
  /** @param {string} id */
  constructor(id) {
    this.element = byId(id);
    this.transcript = /** @type {HTMLElement} */ (this.element.querySelector('.transcript'));
    this.meta = /** @type {HTMLElement} */ (this.element.querySelector('.column-meta'));
    this.echo = /** @type {HTMLElement | null} */ (this.element.querySelector('.steering-echo'));
    /** @type {Message[]} */
    this.history = [];
    /** @type {HTMLElement | null} */
    this.answerElement = null;
  }

  /** @param {'idle' | 'streaming' | 'done' | 'error'} state */
  setState(state) {
    this.element.dataset.state = state;
  }

  /** @param {string} prompt */
  begin(prompt) {
    this.history.push({ role: 'user', content: prompt });
    this.answerElement = h('div', { class: 'message assistant streaming' });
    this.transcript.append(h('div', { class: 'message user' }, prompt), this.answerElement);
    this.answerElement.scrollIntoView({ block: 'nearest' });
    this.setState('streaming');
  }

  /** @param {any[]} steering the server's echo of what it applied */
  showSteering(steering) {
    if (!this.echo) return;
    this.echo.replaceChildren(
      ...steering.map((item) => {
        const what = item.source === 'feature' ? `#${item.feature}${item.label ? ` ${item.label}` : ''}` : item.source === 'phrase' ? `“${item.phrase}”` : 'vector';
        const features = item.top_features?.length ? ` ≈ ${item.top_features.slice(0, 3).map((/** @type {any} */ f) => `#${f.index}`).join(' ')}` : '';
        return h('li', { title: JSON.stringify(item) }, `${item.mode} ${what} ${formatNumber(item.strength)} @L${item.layer}${features}`);
      }),
    );
  }

  reset() {
    this.history = [];
    this.transcript.replaceChildren();
    this.echo?.replaceChildren();
    this.meta.textContent = '';
    this.setState('idle');
  }
}

/** Length of the common prefix of two strings, in UTF-16 units. */
function commonPrefix(/** @type {string} */ a, /** @type {string} */ b) {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

export class Chat {
  /**
   * @param {{
   *   model: () => string | null,
   *   steer: () => unknown[],
   *   onAnswers: (answers: { steered: Inspectable, unsteered: Inspectable }) => void,
   *   onUnauthorized: (err: ApiError) => void,
   * }} options
   */
  constructor(options) {
    this.options = options;
    this.steered = new Column('steered');
    this.unsteered = new Column('unsteered');
    /** @type {AbortController | null} */
    this.controller = null;
    this.prompt = /** @type {HTMLTextAreaElement} */ (byId('prompt'));
    this.runButton = /** @type {HTMLButtonElement} */ (byId('run'));
    this.stopButton = /** @type {HTMLButtonElement} */ (byId('stop'));
    this.seed = /** @type {HTMLInputElement} */ (byId('seed'));
    this.seed.value = String(Math.floor(Math.random() * MAX_SEED));

    byId('composer').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.send();
    });
    this.prompt.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        void this.send();
      }
    });
    this.stopButton.addEventListener('click', () => this.controller?.abort());
    byId('new-chat').addEventListener('click', () => {
      this.controller?.abort();
      this.steered.reset();
      this.unsteered.reset();
    });
    byId('reseed').addEventListener('click', () => {
      this.seed.value = String(Math.floor(Math.random() * MAX_SEED));
    });
  }

  /** The sampling fields, shared by both requests so that only the steering differs. */
  sampling() {
    const number = (/** @type {string} */ id) => Number(/** @type {HTMLInputElement} */ (byId(id)).value);
    return {
      temperature: number('temperature'),
      max_tokens: Math.max(1, Math.floor(number('max-tokens'))),
      seed: Math.floor(number('seed')),
    };
  }

  async send() {
    const prompt = this.prompt.value.trim();
    const model = this.options.model();
    if (!prompt || !model || this.controller) return;
    this.prompt.value = '';
    const controller = new AbortController();
    this.controller = controller;
    this.runButton.disabled = true;
    this.stopButton.disabled = false;
    const sampling = this.sampling();
    const steer = this.options.steer();
    const columns = [this.steered, this.unsteered];
    for (const column of columns) column.begin(prompt);
    const requests = [
      this.stream(this.steered, { model, ...sampling, messages: [...this.steered.history], steer }, controller.signal),
      this.stream(this.unsteered, { model, ...sampling, messages: [...this.unsteered.history] }, controller.signal),
    ];
    const [steered, unsteered] = await Promise.allSettled(requests);
    this.controller = null;
    this.runButton.disabled = false;
    this.stopButton.disabled = true;

    const answers = [steered, unsteered].map((result) => (result.status === 'fulfilled' ? result.value : null));
    if (answers.some((answer) => answer === null || answer.text === '')) {
      // keep both conversations in step: a turn only counts when both sides answered
      for (const column of columns) column.history.pop();
      return;
    }
    const [steeredAnswer, unsteeredAnswer] = /** @type {Answer[]} */ (answers);
    columns.forEach((column, i) => column.history.push({ role: 'assistant', content: /** @type {Answer} */ (answers[i]).text }));
    this.markDivergence(steeredAnswer, unsteeredAnswer);
    this.options.onAnswers({
      steered: { messages: [...this.steered.history], steer },
      unsteered: { messages: [...this.unsteered.history] },
    });
  }

  /**
   * @param {Column} column
   * @param {Record<string, unknown>} body
   * @param {AbortSignal} signal
   * @returns {Promise<Answer>}
   */
  async stream(column, body, signal) {
    const element = /** @type {HTMLElement} */ (column.answerElement);
    const started = performance.now();
    let text = '';
    /** @type {number | null} */
    let tokens = null;
    try {
      for await (const chunk of streamChat(body, signal)) {
        if (chunk.steering) column.showSteering(chunk.steering);
        const delta = chunk.choices?.[0]?.delta?.content;
        if (delta) {
          text += delta;
          element.textContent = text;
        }
        if (chunk.usage) tokens = chunk.usage.completion_tokens;
      }
      column.setState('done');
    } catch (err) {
      if (signal.aborted) {
        column.setState('done');
      } else {
        column.setState('error');
        element.classList.add('error');
        element.textContent = `${text}${text ? '\n' : ''}⚠ ${/** @type {Error} */ (err).message}`;
        if (err instanceof ApiError && err.status === 401) this.options.onUnauthorized(err);
        throw err;
      }
    } finally {
      element.classList.remove('streaming');
    }
    const seconds = (performance.now() - started) / 1000;
    column.meta.textContent = `seed ${body.seed}${tokens !== null ? ` · ${tokens} tok · ${formatNumber(tokens / seconds)} tok/s` : ''}`;
    return { text, tokens, seconds };
  }

  /** Highlights, in both answers, everything after their longest common prefix. */
  markDivergence(/** @type {Answer} */ steered, /** @type {Answer} */ unsteered) {
    const shared = commonPrefix(steered.text, unsteered.text);
    for (const [column, answer] of /** @type {const} */ ([[this.steered, steered], [this.unsteered, unsteered]])) {
      const element = /** @type {HTMLElement} */ (column.answerElement);
      const rest = answer.text.slice(shared);
      element.replaceChildren(answer.text.slice(0, shared), rest ? h('span', { class: 'diverged' }, rest) : '');
    }
    const note = shared === steered.text.length && shared === unsteered.text.length ? 'identical' : `diverge after ${shared} chars`;
    this.steered.element.dataset.divergence = note;
    this.steered.meta.textContent += ` · ${note}`;
  }
}
