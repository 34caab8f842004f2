/**
 * Renders chat messages into the model's prompt with the Jinja chat template stored in its GGUF
 * (`tokenizer.chat_template`), the way transformers' apply_chat_template does. A model without a template
 * (or with one this Jinja implementation cannot parse) gets a plain "role: content" transcript.
 */
import { Template } from '@huggingface/jinja';
import { InvalidRequestError } from '../errors.js';
import type { ChatMessage } from '../schemas/chat-completions.js';

export interface TemplateTokens {
  /** text of the BOS token, e.g. "<s>" ('' when the model has none) */
  bos: string;
  eos: string;
  /** the tokenizer adds BOS itself, so a BOS the template writes must not be doubled */
  addBos: boolean;
}

interface TemplateMessage {
  role: string;
  content: string;
  name?: string;
}

function toTemplateMessage(message: ChatMessage): TemplateMessage {
  const content =
    typeof message.content === 'string' ? message.content : message.content.map((part) => part.text).join('\n');
  // "developer" is OpenAI's newer name for "system"; chat templates only know the latter
  const role = message.role === 'developer' ? 'system' : message.role;
  return message.name === undefined ? { role, content } : { role, content, name: message.name };
}

function plainTranscript(messages: readonly TemplateMessage[]): string {
  return messages.map((m) => `${m.role}: ${m.content}\n`).join('') + 'assistant:';
}

export class ChatTemplate {
  private readonly template: Template | null;
  /** why the GGUF template is not used, when it is not (for the start-up log) */
  readonly fallbackReason: string | null;

  constructor(
    source: string | null,
    private readonly tokens: TemplateTokens,
  ) {
    let template: Template | null = null;
    let reason: string | null = source ? null : 'the model has no chat template';
    if (source) {
      try {
        template = new Template(source);
      } catch (err) {
        reason = `its chat template does not parse (${(err as Error).message})`;
      }
    }
    this.template = template;
    this.fallbackReason = reason;
  }

  /** The prompt text for these messages, ending where the assistant's reply begins. */
  render(messages: readonly ChatMessage[]): string {
    const converted = messages.map(toTemplateMessage);
    if (!this.template) return plainTranscript(converted);
    let text: string;
    try {
      text = this.template.render({
        messages: converted,
        bos_token: this.tokens.bos,
        eos_token: this.tokens.eos,
        add_generation_prompt: true,
      });
    } catch (err) {
      // templates reject conversations they do not support (e.g. roles that do not alternate) this way
      throw new InvalidRequestError('messages', `the model's chat template rejected the messages: ${(err as Error).message}`);
    }
    if (this.tokens.addBos && this.tokens.bos && text.startsWith(this.tokens.bos)) text = text.slice(this.tokens.bos.length);
    return text;
  }
}
