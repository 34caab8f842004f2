// @ts-check
/**
 * The playground's only door to the server: JSON calls and OpenAI-style SSE streams, with the API key the
 * user pasted (kept in localStorage, sent as a Bearer token; never needed when the server has no keys).
 */

const KEY_STORAGE = 'steerd.apiKey';

let apiKey = localStorage.getItem(KEY_STORAGE) ?? '';

export function getApiKey() {
  return apiKey;
}

/** @param {string} key */
export function setApiKey(key) {
  apiKey = key.trim();
  if (apiKey) localStorage.setItem(KEY_STORAGE, apiKey);
  else localStorage.removeItem(KEY_STORAGE);
}

/** A failed call, with the server's OpenAI-style error when it sent one. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{ error?: { message?: string, code?: string | null, type?: string } } | null} body
   */
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? null;
  }
}

/** @param {Record<string, string>} [extra] */
function headers(extra = {}) {
  return apiKey ? { ...extra, authorization: `Bearer ${apiKey}` } : extra;
}

/** @param {Response} response */
async function toError(response) {
  const body = await response.json().catch(() => null);
  return new ApiError(response.status, body);
}

/**
 * @param {string} path
 * @param {{ signal?: AbortSignal }} [options]
 */
export async function getJson(path, options = {}) {
  const response = await fetch(path, { headers: headers(), signal: options.signal });
  if (!response.ok) throw await toError(response);
  return response.json();
}

/**
 * @param {string} path
 * @param {unknown} body
 * @param {{ signal?: AbortSignal }} [options]
 */
export async function postJson(path, body, options = {}) {
  const response = await fetch(path, {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json' }),
    body: JSON.stringify(body),
    signal: options.signal,
  });
  if (!response.ok) throw await toError(response);
  return response.json();
}

/**
 * Streams a chat completion: yields each chunk object until `data: [DONE]`. An error event mid-stream
 * becomes an ApiError; so does a non-200 answer (which steerd sends as plain JSON before any event).
 * @param {Record<string, unknown>} body
 * @param {AbortSignal} signal
 * @returns {AsyncGenerator<any>}
 */
export async function* streamChat(body, signal) {
  const response = await fetch('/v1/chat/completions', {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json' }),
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    signal,
  });
  if (!response.ok || !response.body) throw await toError(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split('\n')) {
          if (!line.startsWith('data: ')) continue;
          const data = line.slice('data: '.length);
          if (data === '[DONE]') return;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new ApiError(200, chunk);
          yield chunk;
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}
