/**
 * GBNF grammars for response_format: any JSON object (node-llama-cpp's json.gbnf) or JSON that follows a
 * schema (node-llama-cpp's JSON-schema-to-GBNF converter, which also checks the grammar natively).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { getLlama, type Llama } from 'node-llama-cpp';
import { InvalidRequestError } from '../errors.js';
import type { ResponseFormat } from '../schemas/common.js';

/** Distinct schemas kept compiled; clients tend to reuse one or two schemas for every request. */
const SCHEMA_CACHE_SIZE = 64;

/**
 * node-llama-cpp's schema grammars end the JSON with four newlines (its way to let a model stop); as a stop
 * string they end the generation there and never reach the client.
 */
const SCHEMA_GRAMMAR_TERMINATOR = '\n'.repeat(4);

export interface OutputConstraint {
  /** GBNF, or null for free text */
  grammar: string | null;
  /** stop strings the grammar relies on */
  stop: string[];
}

function jsonGrammarFile(): string {
  // node-llama-cpp's package exports hide its folder layout: resolve the entry point and walk to llama/grammars
  const entry = createRequire(import.meta.url).resolve('node-llama-cpp');
  return path.join(path.dirname(entry), '..', 'llama', 'grammars', 'json.gbnf');
}

export class GrammarCompiler {
  private jsonObjectGrammar: Promise<string> | undefined;
  private llama: Promise<Llama> | undefined;
  private readonly schemaGrammars = new Map<string, string>();

  /** `llama`: the engine's node-llama-cpp instance; without one, a CPU-free instance is created on first use. */
  constructor(llama?: Llama) {
    if (llama) this.llama = Promise.resolve(llama);
  }

  /** The grammar (and its stop strings) a response_format asks for. */
  async forFormat(format: ResponseFormat | null | undefined): Promise<OutputConstraint> {
    if (!format || format.type === 'text') return { grammar: null, stop: [] };
    if (format.type === 'json_schema' && format.json_schema.schema) {
      return { grammar: await this.jsonSchema(format.json_schema.schema), stop: [SCHEMA_GRAMMAR_TERMINATOR] };
    }
    return { grammar: await this.jsonObject(), stop: [] };
  }

  jsonObject(): Promise<string> {
    this.jsonObjectGrammar ??= readFile(jsonGrammarFile(), 'utf8');
    return this.jsonObjectGrammar;
  }

  async jsonSchema(schema: Record<string, unknown>): Promise<string> {
    const key = JSON.stringify(schema);
    const cached = this.schemaGrammars.get(key);
    if (cached !== undefined) return cached;
    this.llama ??= getLlama({ build: 'never', gpu: false, progressLogs: false });
    const llama = await this.llama;
    let grammar: string;
    try {
      // node-llama-cpp types the schema subset it supports; its converter rejects the rest at run time
      grammar = (await llama.createGrammarForJsonSchema(schema as never)).grammar;
    } catch (err) {
      throw new InvalidRequestError(
        'response_format.json_schema.schema',
        `this JSON schema cannot be turned into a grammar: ${(err as Error).message}`,
      );
    }
    if (this.schemaGrammars.size >= SCHEMA_CACHE_SIZE) {
      this.schemaGrammars.delete(this.schemaGrammars.keys().next().value!);
    }
    this.schemaGrammars.set(key, grammar);
    return grammar;
  }
}
