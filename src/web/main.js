// @ts-check
/**
 * Boots the playground: finds the served model (GET /v1/models), asks for an API key when the server wants
 * one, and wires the steering panel, the side-by-side chat and the token view together.
 */
import { ApiError, getApiKey, getJson, setApiKey } from './api.js';
import { Chat } from './chat.js';
import { byId, formatNumber } from './dom.js';
import { SteerPanel } from './steer-panel.js';
import { TokenView } from './token-view.js';

const LOADING_RETRY_MS = 2000;

/** @type {{ id: string, n_layer: number, n_embd: number, steer_layer: number, mean_residual_norm: number, sae: null | { d_sae: number, layer: number, labels: Record<string, string> } } | null} */
let model = null;

const notice = byId('notice');
const modelInfo = byId('model-info');
const keyInput = /** @type {HTMLInputElement} */ (byId('api-key'));
const runButton = /** @type {HTMLButtonElement} */ (byId('run'));

/** @param {string} text @param {'info' | 'error'} [kind] */
function showNotice(text, kind = 'info') {
  notice.textContent = text;
  notice.classList.toggle('error', kind === 'error');
  notice.hidden = !text;
}

function askForKey() {
  showNotice(getApiKey() ? 'The server rejected this API key: paste a valid one above.' : 'This server needs an API key: paste it above.', 'error');
  keyInput.focus();
}

const steerPanel = new SteerPanel({ onChange: () => {} });
const tokenView = new TokenView({
  model: () => model?.id ?? null,
  onSteerFeature: (star) =>
    steerPanel.add({ feature: star.index, label: star.label || `feature ${star.index}`, rarity: star.rarity ?? undefined }),
});
new Chat({
  model: () => model?.id ?? null,
  steer: () => steerPanel.spec(),
  onAnswers: (answers) => tokenView.setAnswers(answers),
  onUnauthorized: askForKey,
});

async function loadModel() {
  runButton.disabled = true;
  try {
    const { data } = await getJson('/v1/models');
    model = data[0];
    if (!model) throw new Error('the server lists no model');
    const sae = model.sae ? `SAE ${model.sae.d_sae} features @ layer ${model.sae.layer}` : 'no SAE';
    modelInfo.textContent = `${model.id} · ${model.n_layer} layers · width ${model.n_embd} · steer layer ${model.steer_layer} (mean norm ${formatNumber(model.mean_residual_norm)}) · ${sae}`;
    modelInfo.dataset.model = model.id;
    steerPanel.setSae(model.sae);
    showNotice('');
    runButton.disabled = false;
  } catch (err) {
    model = null;
    if (err instanceof ApiError && err.status === 401) return askForKey();
    if (err instanceof ApiError && err.code === 'model_loading') {
      showNotice('The model is still loading…');
      setTimeout(() => void loadModel(), LOADING_RETRY_MS);
      return;
    }
    showNotice(`Cannot reach the server: ${/** @type {Error} */ (err).message}`, 'error');
  }
}

keyInput.value = getApiKey();
keyInput.addEventListener('change', () => {
  setApiKey(keyInput.value);
  void loadModel();
});

void loadModel();
