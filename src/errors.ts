/**
 * Every failure becomes an OpenAI error body `{"error":{"message","type","param","code"}}` here, in one
 * place: the Fastify error handler, the 404 handler, and the SSE writer (mid-stream errors) all call
 * describeError(). 5xx details go to the log, never to the client.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ContextLengthError, QueueFullError } from './engine/types.js';
import type { Metrics } from './metrics.js';
import type { ErrorDetail } from './schemas/errors.js';
import { SteerError } from './steering/resolve.js';

/** An error whose status and OpenAI body are already decided by the code that throws it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** A request that passed the schema but still cannot be served as asked (e.g. a token id past the vocabulary). */
export class InvalidRequestError extends ApiError {
  constructor(param: string | null, message: string, code: string | null = null) {
    super(400, 'invalid_request_error', message, param, code);
  }
}

export class ModelNotFoundError extends ApiError {
  constructor(model: string) {
    super(404, 'invalid_request_error', `The model '${model}' does not exist`, 'model', 'model_not_found');
  }
}

export class ModelLoadingError extends ApiError {
  constructor() {
    super(503, 'unavailable_error', 'the model is still loading', null, 'model_loading');
  }
}

/** The client went away before the answer was ready: nothing can be sent, but the request must still end. */
export class ClientClosedError extends Error {
  constructor() {
    super('the client closed the connection');
    this.name = 'ClientClosedError';
  }
}

/** What the schema validator returns instead of Fastify's own error: the OpenAI param is computed there. */
export class RequestValidationError extends Error {
  readonly statusCode = 400;
  constructor(
    readonly param: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'RequestValidationError';
  }
}

export interface DescribedError {
  status: number;
  body: { error: ErrorDetail };
  headers?: Record<string, string>;
  /** label for steerd_rejected_requests_total (4xx only) */
  rejection?: string;
}

/** Seconds a client should wait after a full queue; the queue drains at generation speed, so retry soon. */
const RETRY_AFTER_SECONDS = 1;

function body(message: string, type: string, param: string | null = null, code: string | null = null) {
  return { error: { message, type, param, code } };
}

/** Fastify's own errors that carry a client status (bad JSON, body too large, bad content type...). */
function describeFastifyError(err: FastifyError): DescribedError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return {
        status: 400,
        body: body('The request body is not valid JSON.', 'invalid_request_error', null, 'invalid_json'),
        rejection: 'invalid_json',
      };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        body: body('The request body is too large.', 'invalid_request_error', null, 'request_too_large'),
        rejection: 'body_too_large',
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        body: body('The request body must be application/json.', 'invalid_request_error', null, 'unsupported_media_type'),
        rejection: 'unsupported_media_type',
      };
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return { status: err.statusCode, body: body(err.message, 'invalid_request_error'), rejection: 'invalid_request' };
  }
  return undefined;
}

/**
 * Maps any thrown value to a status and an OpenAI error body. `contextParam` names the request field a
 * ContextLengthError blames: `messages` for chat, `prompt` for completions.
 */
export function describeError(err: unknown, contextParam: string | null = null): DescribedError {
  if (err instanceof RequestValidationError) {
    return { status: 400, body: body(err.message, 'invalid_request_error', err.param), rejection: 'invalid_request' };
  }
  if (err instanceof SteerError) {
    return { status: 400, body: body(err.message, 'invalid_request_error', err.param), rejection: 'invalid_steer' };
  }
  if (err instanceof ContextLengthError) {
    return {
      status: 400,
      body: body(err.message, 'invalid_request_error', contextParam, 'context_length_exceeded'),
      rejection: 'context_length',
    };
  }
  if (err instanceof QueueFullError) {
    return {
      status: 429,
      body: body(err.message, 'rate_limit_error', null, 'queue_full'),
      headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
      rejection: 'queue_full',
    };
  }
  if (err instanceof ApiError) {
    const rejection = err.status < 500 ? (err.code ?? 'invalid_request') : undefined;
    return { status: err.status, body: body(err.message, err.type, err.param, err.code), rejection };
  }
  if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('FST_')) {
    const described = describeFastifyError(err as FastifyError);
    if (described) return described;
  }
  return { status: 500, body: body('internal server error', 'server_error') };
}

/** The request field a context overflow blames, by endpoint. */
function contextParamFor(request: FastifyRequest): string | null {
  const url = request.routeOptions.url ?? '';
  if (url.endsWith('/chat/completions') || url.endsWith('/compare')) return 'messages';
  if (url.endsWith('/completions')) return 'prompt';
  return null;
}

/** HTTP 499 (nginx's "client closed request"): never reaches anyone, but keeps logs and metrics honest. */
const CLIENT_CLOSED_STATUS = 499;

export function registerErrorHandlers(app: FastifyInstance, metrics: Metrics): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof ClientClosedError) {
      request.log.info('client closed the connection before the response');
      return reply.code(CLIENT_CLOSED_STATUS).send();
    }
    const described = describeError(err, contextParamFor(request));
    if (described.status >= 500) {
      request.log.error({ err, method: request.method, url: request.url }, 'request failed');
    } else {
      request.log.info({ status: described.status, error: described.body.error }, 'request rejected');
    }
    if (described.rejection) metrics.rejectedRequests.inc({ reason: described.rejection });
    return reply.code(described.status).headers(described.headers ?? {}).send(described.body);
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    metrics.rejectedRequests.inc({ reason: 'unknown_url' });
    return reply
      .code(404)
      .send(body(`Unknown request URL: ${request.method} ${request.url}`, 'not_found_error', null, 'unknown_url'));
  });
}

/** Formats a zod issue path the way OpenAI names params: `messages[0].content`, `steer[1].feature`. */
export function formatParamPath(path: readonly PropertyKey[]): string | null {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out === '' ? null : out;
}

type Issue = z.core.$ZodIssue;

/** A union branch that failed because the value has another type altogether: not the branch the client meant. */
function isTypeMismatch(issues: readonly Issue[]): boolean {
  return issues.every(
    (issue) =>
      issue.path.length === 0 &&
      (issue.code === 'invalid_type' ||
        (issue.code === 'invalid_union' && issue.errors.length > 0 && issue.errors.every(isTypeMismatch))),
  );
}

/**
 * For a failed union, the issue of the branch the client most likely meant (the value's type matched and it
 * failed the fewest checks), with its path made absolute, so `steer: [{feature: "x"}]` blames
 * `steer[0].feature` rather than the whole `steer`.
 */
function mostSpecificIssue(issue: Issue): { issue: Issue; path: PropertyKey[] } {
  let path = [...issue.path];
  let current = issue;
  while (current.code === 'invalid_union' && current.errors.length > 0) {
    const candidates = current.errors.filter((branch) => branch.length > 0 && !isTypeMismatch(branch));
    if (candidates.length === 0) break;
    const best = candidates.reduce((a, b) => (b.length < a.length ? b : a));
    current = best[0]!;
    path = [...path, ...current.path];
  }
  // a discriminated union reports an unknown discriminator at the object; the field itself is at fault
  if (current.code === 'invalid_union' && current.discriminator && path.at(-1) !== current.discriminator) {
    path.push(current.discriminator);
  }
  return { issue: current, path };
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** For a union whose every branch wanted another type: the types it would take ("string or array"). */
function expectedTypes(issue: Issue): string[] {
  if (issue.code === 'invalid_type') return [issue.expected];
  if (issue.code === 'invalid_union') return issue.errors.flatMap((branch) => branch.flatMap(expectedTypes));
  return [];
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Turns zod's first issue into one OpenAI-style message and param. */
export function toRequestValidationError(error: z.ZodError, data: unknown): RequestValidationError {
  const first = error.issues[0];
  if (!first) return new RequestValidationError(null, 'Invalid request.');
  const { issue, path } = mostSpecificIssue(first);
  if (path.length === 0 && (data === null || typeof data !== 'object' || Array.isArray(data))) {
    return new RequestValidationError(null, 'The request body must be a JSON object.');
  }
  if (issue.code === 'unrecognized_keys') {
    const param = formatParamPath([...path, issue.keys[0] ?? '']);
    return new RequestValidationError(param, `Unrecognized request argument supplied: ${param}`);
  }
  const param = formatParamPath(path);
  const value = valueAt(data, path);
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_union') && value === undefined) {
    return new RequestValidationError(param, `Missing required parameter: '${param}'.`);
  }
  if (issue.code === 'invalid_union' && !issue.discriminator) {
    const expected = [...new Set(expectedTypes(issue))];
    if (expected.length > 0) {
      return new RequestValidationError(
        param,
        `Invalid type for '${param}': expected ${expected.join(' or ')}, but got ${describeType(value)}.`,
      );
    }
  }
  return new RequestValidationError(param, `Invalid value for '${param}': ${issue.message}`);
}
