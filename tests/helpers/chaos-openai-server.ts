import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/*
 * An OpenAI-compatible server (`POST /v1/chat/completions`) for the chaos suite and the recovery benchmark:
 * it answers after a delay, fails a share of requests (429, 500, a hang past the client's timeout, a dropped
 * connection), and counts every completion it DELIVERED, per execution and per state. Nothing in a request
 * names its execution (llm-invoke sends the model, the system prompt and the messages only), so each run's
 * input carries a marker (`[chaos:<id>]`, see {@link chaosMarker}) that every request of that run repeats:
 * the goal is the plan's prompt and the first message of every later turn. The server is vitest-free so the
 * benchmark can use it too.
 */

/** What a share of requests gets instead of a completion; rates are fractions of all requests (sum ≤ 1). */
export interface FaultMix {
  /** 429 with `Retry-After: 1`. */
  readonly rate429?: number;
  readonly rate500?: number;
  /** Answered only after `hangMs` (longer than the client's timeout: the client gives up first). */
  readonly rateHang?: number;
  readonly hangMs?: number;
  /** The connection is destroyed without a response. */
  readonly rateDrop?: number;
}

/** One completion delivered to a client: paid, as a real provider would bill it. */
export interface AnsweredCall {
  readonly state: string;
  /** SHA-256 of the system prompt and messages: the same logical call asked again has the same hash. */
  readonly requestHash: string;
}

export interface ChaosServerStats {
  readonly received: number;
  readonly delivered: number;
  readonly faults: Record<'429' | '500' | 'hang' | 'drop', number>;
  /** Completions written after the client had gone (it timed out or died): never delivered, so not paid. */
  readonly abandoned: number;
  readonly inFlight: number;
}

/** The marker a run's input carries so the server can tell its requests apart. */
export function chaosMarker(id: string): string {
  return `[chaos:${id}]`;
}
const MARKER = /\[chaos:([A-Za-z0-9_-]+)\]/;

/** The agent loop's two model states, told apart by their system prompts (statemachines/agent-loop.asl.json). */
export function agentLoopState(system: string | undefined): string {
  if (system?.includes('careful planner')) return 'Plan';
  if (system?.includes('You are an agent')) return 'Act';
  return 'unknown';
}

interface ChatBody {
  model?: string;
  messages?: { role: string; content: string }[];
}

/** A small deterministic PRNG (mulberry32): the same seed gives the same fault sequence. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The chaos server; `start()` listens on a free loopback port, `url` ends in `/v1` (OPENAI_BASE_URL). */
export class ChaosOpenAiServer {
  url = '';
  /** Milliseconds before a completion is sent (the model "thinking"); changeable between phases. */
  delayMs: number;
  faults: FaultMix;
  readonly #answered = new Map<string, AnsweredCall[]>();
  readonly #stateOf: (system: string | undefined) => string;
  readonly #random: () => number;
  readonly #open = new Set<ServerResponse>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #server: Server | undefined;
  #received = 0;
  #delivered = 0;
  #abandoned = 0;
  #inFlight = 0;
  readonly #faults = { '429': 0, '500': 0, hang: 0, drop: 0 };

  constructor(
    options: {
      delayMs?: number;
      faults?: FaultMix;
      seed?: number;
      stateOf?: (system: string | undefined) => string;
    } = {},
  ) {
    this.delayMs = options.delayMs ?? 0;
    this.faults = options.faults ?? {};
    this.#random = prng(options.seed ?? 11);
    this.#stateOf = options.stateOf ?? agentLoopState;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.#serve(req, res, Buffer.concat(chunks)));
    });
    server.keepAliveTimeout = 60_000;
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    for (const timer of this.#timers) clearTimeout(timer);
    for (const res of this.#open) res.socket?.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Every completion delivered for the run with this marker id, in order. */
  answered(id: string): readonly AnsweredCall[] {
    return this.#answered.get(id) ?? [];
  }

  stats(): ChaosServerStats {
    return {
      received: this.#received,
      delivered: this.#delivered,
      faults: { ...this.#faults },
      abandoned: this.#abandoned,
      inFlight: this.#inFlight,
    };
  }

  #serve(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"not found"}}');
      return;
    }
    this.#received++;
    let body: ChatBody;
    try {
      body = JSON.parse(raw.toString('utf8')) as ChatBody;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"invalid JSON"}}');
      return;
    }
    const messages = body.messages ?? [];
    const system = messages.find((m) => m.role === 'system')?.content;
    const conversation = messages.filter((m) => m.role !== 'system');
    const id = MARKER.exec(conversation.map((m) => m.content).join('\n'))?.[1] ?? 'unmarked';
    const state = this.#stateOf(system);
    const requestHash = createHash('sha256').update(JSON.stringify(messages)).digest('hex');

    const { rate429 = 0, rate500 = 0, rateHang = 0, rateDrop = 0, hangMs = 0 } = this.faults;
    const roll = this.#random();
    let delay = this.delayMs;
    if (roll < rate429) {
      this.#fail(res, '429', 429, { 'retry-after': '1' });
      return;
    }
    if (roll < rate429 + rate500) {
      this.#fail(res, '500', 500);
      return;
    }
    if (roll < rate429 + rate500 + rateDrop) {
      this.#faults.drop++;
      res.socket?.destroy();
      return;
    }
    if (roll < rate429 + rate500 + rateDrop + rateHang) {
      this.#faults.hang++;
      delay = hangMs;
    }
    // The agent's turn ends the loop at once; the plan is any text.
    const content = state === 'Act' ? 'Done as planned.\nFINAL: done' : '1. Do what the goal says.';
    const reply = JSON.stringify({
      id: `chatcmpl-${this.#received}`,
      object: 'chat.completion',
      model: body.model ?? 'unknown',
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
    });
    this.#inFlight++;
    this.#open.add(res);
    const send = () => {
      this.#inFlight--;
      this.#open.delete(res);
      // The client gave up (its timeout, or its process died): nothing is delivered, nothing is billed.
      if (res.destroyed || req.socket.destroyed || res.socket === null) {
        this.#abandoned++;
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(reply, () => {
        this.#delivered++;
        const list = this.#answered.get(id) ?? [];
        list.push({ state, requestHash });
        this.#answered.set(id, list);
      });
    };
    if (delay > 0) {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        send();
      }, delay);
      this.#timers.add(timer);
    } else send();
  }

  #fail(res: ServerResponse, kind: '429' | '500', status: number, headers: Record<string, string> = {}) {
    this.#faults[kind]++;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(`{"error":{"message":"chaos: ${status}","type":"server_error"}}`);
  }
}
