import { createServer } from 'node:http';
import { ScriptedProtocolServer, type ServerRequest, type ServerResponse } from './protocol-server.ts';

export interface RecordedMessagesRequest {
  readonly method: string | undefined;
  readonly path: string | undefined;
  readonly headers: ServerRequest['headers'];
  readonly body: {
    model: string;
    max_tokens: number;
    system?: string;
    messages: { role: string; content: string }[];
    temperature?: number;
  };
}

/**
 * What the server answers next: a message (`usage: null` leaves the usage object out), an HTTP error with
 * optional extra headers (e.g. `Retry-After`), or a raw body; or a fault (see the base).
 */
export type MessagesReply =
  | {
      kind: 'message';
      /** One text block per entry; `null` inserts a non-text (thinking) block the adapter must skip. */
      blocks: (string | null)[];
      stopReason?: string;
      usage?: { input: number; output: number; cacheRead?: number; cacheCreation?: number } | null;
      model?: string;
    }
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  | { kind: 'raw'; body: string };

function anthropicError(status: number): string {
  const type =
    status === 429
      ? 'rate_limit_error'
      : status === 529
        ? 'overloaded_error'
        : status >= 500
          ? 'api_error'
          : 'invalid_request_error';
  return JSON.stringify({ type: 'error', error: { type, message: `status ${status}` } });
}

function json(res: ServerResponse, status: number, body: string, headers?: Record<string, string>): void {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_test', ...headers });
  res.end(body);
}

/**
 * The Anthropic Messages protocol (`POST /v1/messages`) on loopback; `url` is the base without `/v1`, as
 * the adapter takes it. Like the real API it refuses requests without `anthropic-version` (400) or
 * `x-api-key` (401).
 */
export class AnthropicProtocolServer extends ScriptedProtocolServer<RecordedMessagesRequest, MessagesReply> {
  fallback = (req: RecordedMessagesRequest): MessagesReply => ({
    kind: 'message',
    blocks: [`echo: ${req.body.messages.at(-1)?.content ?? ''}`],
    usage: { input: 100, output: 20 },
  });

  protected createServer(handler: (req: ServerRequest, res: ServerResponse) => void) {
    return createServer(handler);
  }

  protected read(req: ServerRequest, body: Buffer): RecordedMessagesRequest | undefined {
    if (req.method !== 'POST' || req.url !== '/v1/messages') return undefined;
    return {
      method: req.method,
      path: req.url,
      headers: req.headers,
      body: JSON.parse(body.toString('utf8')) as RecordedMessagesRequest['body'],
    };
  }

  protected notFound(res: ServerResponse): void {
    json(
      res,
      404,
      JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'not found' } }),
    );
  }

  protected override refuse(req: RecordedMessagesRequest, res: ServerResponse): boolean {
    if (!req.headers['anthropic-version']) {
      json(res, 400, anthropicError(400));
      return true;
    }
    if (!req.headers['x-api-key']) {
      json(
        res,
        401,
        JSON.stringify({
          type: 'error',
          error: { type: 'authentication_error', message: 'x-api-key header is required' },
        }),
      );
      return true;
    }
    return false;
  }

  protected reply(res: ServerResponse, r: MessagesReply, req: RecordedMessagesRequest): void {
    if (r.kind === 'status') json(res, r.status, r.body ?? anthropicError(r.status), r.headers);
    else if (r.kind === 'raw') json(res, 200, r.body);
    else {
      json(
        res,
        200,
        JSON.stringify({
          id: `msg_${this.requests.length}`,
          type: 'message',
          role: 'assistant',
          model: r.model ?? req.body.model,
          content: r.blocks.map((text) =>
            text === null ? { type: 'thinking', thinking: 'hmm', signature: 'sig' } : { type: 'text', text },
          ),
          stop_reason: r.stopReason ?? 'end_turn',
          stop_sequence: null,
          ...(r.usage === null
            ? {}
            : {
                usage: {
                  input_tokens: r.usage?.input ?? 10,
                  output_tokens: r.usage?.output ?? 5,
                  cache_read_input_tokens: r.usage?.cacheRead ?? 0,
                  cache_creation_input_tokens: r.usage?.cacheCreation ?? 0,
                },
              }),
        }),
      );
    }
  }
}
