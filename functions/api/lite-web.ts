/*
 * Lightweight stand-ins for the fetch API's Headers, Request and Response, for the API Lambda.
 *
 * Why: Node defines those globals lazily, and the first touch of any of them evaluates undici (about 18 ms of
 * CPU at a cold start, more than the rest of a GET's first answer). Hono's Lambda adapter and its Context
 * touch all three on every request. These classes answer what a bodiless request and a string answer need
 * (URL, method, headers, status, text) in plain JavaScript, with the semantics of Node's own classes, and
 * build the real object (undici) the first time anything else is asked: a request body, a stream, clone().
 * So a GET costs no undici, and any other use behaves exactly as before, through the real classes.
 *
 * Installed over the globals by the API Lambda only (installLiteWeb, functions/api/handler.ts); `wflo dev`
 * serves through @hono/node-server with Node's own classes.
 */

type RealHeaders = typeof globalThis.Headers;
type RealRequest = typeof globalThis.Request;
type RealResponse = typeof globalThis.Response;

/** Node's own classes, resolved (and undici evaluated) on first need. */
interface Originals {
  headers(): RealHeaders;
  request(): RealRequest;
  response(): RealResponse;
}

let originals: Originals | undefined;
/** How many times a stand-in built a real object (what tests and the cold-start check watch). */
let materialised = 0;

/** The number of real Request/Response/Headers objects the stand-ins built so far. */
export function liteWebMaterialisations(): number {
  return materialised;
}

function real(): Originals {
  if (!originals) throw new Error('lite-web: installLiteWeb() was not called');
  return originals;
}

/** RFC 9110 token: what a header name may contain. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** HTTP whitespace stripped from both ends of a header value (fetch's "normalize"). */
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
/** What a header value may not contain once normalized: NUL, CR, LF, and anything beyond a byte (ByteString). */
const INVALID_VALUE = /[\0\n\r\u0100-\uffff]/;

function headerName(name: unknown): string {
  const s = `${name}`;
  if (!TOKEN.test(s)) throw new TypeError(`Headers: invalid header name: "${s}"`);
  return s.toLowerCase();
}

function headerValue(value: unknown): string {
  const s = `${value}`.replace(EDGE_WHITESPACE, '');
  if (INVALID_VALUE.test(s)) throw new TypeError(`Headers: invalid header value: "${s}"`);
  return s;
}

const LITE = Symbol('lite-web');
/** The real object behind a stand-in, built on first call. */
const MATERIALISE = Symbol('materialise');

/** Fetch's Headers over a Map (lower-case name → combined value; set-cookie kept as its list). */
export class LiteHeaders {
  readonly #values = new Map<string, string>();
  readonly #cookies: string[] = [];
  readonly [LITE] = true;

  constructor(init?: unknown) {
    if (init === undefined || init === null) return;
    if (typeof init !== 'object' && typeof init !== 'function') {
      throw new TypeError('Headers: the init argument must be a sequence or a record (object)');
    }
    if (Symbol.iterator in (init as object)) {
      for (const pair of init as Iterable<unknown>) {
        const entry = typeof pair === 'string' ? null : [...(pair as Iterable<unknown>)];
        if (entry?.length !== 2) throw new TypeError('Headers: a header pair must have two items');
        this.append(entry[0], entry[1]);
      }
      return;
    }
    for (const key of Reflect.ownKeys(init as object)) {
      const desc = Reflect.getOwnPropertyDescriptor(init as object, key);
      if (!desc?.enumerable) continue;
      if (typeof key === 'symbol') throw new TypeError('Headers: a record key must be a string');
      this.append(key, (init as Record<string, unknown>)[key]);
    }
  }

  append(name: unknown, value: unknown): void {
    const n = headerName(name);
    const v = headerValue(value);
    const had = this.#values.get(n);
    this.#values.set(n, had === undefined ? v : `${had}, ${v}`);
    if (n === 'set-cookie') this.#cookies.push(v);
  }

  set(name: unknown, value: unknown): void {
    const n = headerName(name);
    const v = headerValue(value);
    this.#values.set(n, v);
    if (n === 'set-cookie') this.#cookies.splice(0, this.#cookies.length, v);
  }

  delete(name: unknown): void {
    const n = headerName(name);
    this.#values.delete(n);
    if (n === 'set-cookie') this.#cookies.length = 0;
  }

  get(name: unknown): string | null {
    return this.#values.get(headerName(name)) ?? null;
  }

  has(name: unknown): boolean {
    return this.#values.has(headerName(name));
  }

  getSetCookie(): string[] {
    return [...this.#cookies];
  }

  /** Sorted by name, each set-cookie on its own, as fetch iterates headers. */
  #sorted(): [string, string][] {
    const names = [...this.#values.keys()].sort();
    const out: [string, string][] = [];
    for (const n of names) {
      if (n === 'set-cookie') for (const c of this.#cookies) out.push([n, c]);
      else out.push([n, this.#values.get(n)!]);
    }
    return out;
  }

  forEach(callback: (value: string, name: string, headers: LiteHeaders) => void, thisArg?: unknown): void {
    if (typeof callback !== 'function')
      throw new TypeError('Headers.forEach: the callback is not a function');
    for (const [n, v] of this.#sorted()) callback.call(thisArg, v, n, this);
  }

  entries(): IterableIterator<[string, string]> {
    return this.#sorted()[Symbol.iterator]();
  }

  keys(): IterableIterator<string> {
    return this.#sorted()
      .map(([n]) => n)
      [Symbol.iterator]();
  }

  values(): IterableIterator<string> {
    return this.#sorted()
      .map(([, v]) => v)
      [Symbol.iterator]();
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'Headers';
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return isLite(value, LiteHeaders) || isReal(value, 'Headers', () => real().headers());
  }
}

function isLite(value: unknown, cls: abstract new (...args: never[]) => unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    LITE in value &&
    Object.getPrototypeOf(value) === cls.prototype
  );
}

/** A real undici object (without evaluating undici for values that cannot be one). */
function isReal(value: unknown, tag: string, cls: () => abstract new (...args: never[]) => unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.prototype.toString.call(value) === `[object ${tag}]` &&
    !(LITE in value) &&
    Function.prototype[Symbol.hasInstance].call(cls(), value)
  );
}

/** Methods fetch knows and writes in upper case: the ones a stand-in keeps as given. */
const CANONICAL_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);

/**
 * A bodiless request (what API Gateway sends for GET, DELETE, …): URL, method, headers and `body === null`
 * answered here; anything else (signal, clone, text(), …) by a real Request built from the same parts.
 * Any other construction (a body, a Request as input, other options) builds a real Request at once.
 */
export class LiteRequest {
  readonly #url!: string;
  readonly #method!: string;
  readonly #headers!: LiteHeaders;
  #real: Request | undefined;
  readonly [LITE] = true;

  constructor(input: unknown, init?: { method?: unknown; headers?: unknown; body?: unknown }) {
    const url = typeof input === 'string' ? safeUrl(input) : undefined;
    const method = init?.method === undefined ? 'GET' : init.method;
    const simple =
      url !== undefined &&
      typeof method === 'string' &&
      CANONICAL_METHODS.has(method) &&
      (init === undefined ||
        (typeof init === 'object' &&
          init !== null &&
          Object.keys(init).every(
            (k) => k === 'method' || k === 'headers' || (k === 'body' && init.body == null),
          )));
    if (!simple) {
      materialised++;
      // Node's Request reads a Request input only if it is one of its own: a stand-in gives its real one.
      const source = isLite(input, LiteRequest) ? (input as LiteRequest)[MATERIALISE]() : input;
      // biome-ignore lint/correctness/noConstructorReturn: a construction the stand-in does not cover is a real Request
      return new (real().request())(
        source as string,
        init as ConstructorParameters<RealRequest>[1],
      ) as unknown as LiteRequest;
    }
    this.#url = url;
    this.#method = method;
    this.#headers = new LiteHeaders(init?.headers);
  }

  get url(): string {
    return this.#url;
  }
  get method(): string {
    return this.#method;
  }
  get headers(): LiteHeaders {
    return this.#headers;
  }
  get body(): null {
    return null;
  }
  get bodyUsed(): boolean {
    return this.#real ? this.#real.bodyUsed : false;
  }

  /** The real Request with this one's URL, method and headers. */
  [MATERIALISE](): Request {
    if (!this.#real) {
      materialised++;
      this.#real = new (real().request())(this.#url, {
        method: this.#method,
        headers: [...this.#headers] as [string, string][],
      });
    }
    return this.#real;
  }

  get [Symbol.toStringTag](): string {
    return 'Request';
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return isLite(value, LiteRequest) || isReal(value, 'Request', () => real().request());
  }
}

/** The href a real Request would report, or undefined where it would refuse the URL (it then decides). */
function safeUrl(input: string): string | undefined {
  if (!URL.canParse(input)) return undefined;
  const url = new URL(input);
  if (url.username || url.password) return undefined;
  return url.href;
}

const DEFAULT_TEXT_TYPE = 'text/plain;charset=UTF-8';
/** Statuses whose answer has no body (a body with one is refused by fetch). */
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/**
 * An answer with no body or a string body (every JSON answer Hono builds): status, headers, text(), json()
 * and arrayBuffer() answered here; a stream body, clone(), blob(), … by a real Response built from the
 * same parts. Any other construction (a stream or bytes as body, other options) builds a real Response at once.
 */
export class LiteResponse {
  readonly #status!: number;
  readonly #statusText!: string;
  readonly #headers!: LiteHeaders;
  readonly #body!: string | null;
  #used = false;
  #real: Response | undefined;
  readonly [LITE] = true;

  constructor(body?: unknown, init?: unknown) {
    const i = (init ?? {}) as { status?: unknown; statusText?: unknown; headers?: unknown };
    const status = i.status === undefined ? 200 : i.status;
    const statusText = i.statusText === undefined ? '' : i.statusText;
    const simple =
      (body === undefined || body === null || typeof body === 'string') &&
      (init === undefined ||
        init === null ||
        isLite(init, LiteResponse) ||
        (typeof init === 'object' && Object.getPrototypeOf(init) === Object.prototype)) &&
      typeof status === 'number' &&
      Number.isInteger(status) &&
      status >= 200 &&
      status <= 599 &&
      !(typeof body === 'string' && NULL_BODY_STATUS.has(status)) &&
      statusText === '';
    if (!simple) {
      materialised++;
      // biome-ignore lint/correctness/noConstructorReturn: a construction the stand-in does not cover is a real Response
      return new (real().response())(
        body as ConstructorParameters<RealResponse>[0],
        init as ConstructorParameters<RealResponse>[1],
      ) as unknown as LiteResponse;
    }
    this.#status = status as number;
    this.#statusText = '';
    this.#headers = new LiteHeaders(i.headers);
    this.#body = typeof body === 'string' ? body : null;
    if (this.#body !== null && !this.#headers.has('content-type')) {
      this.#headers.append('content-type', DEFAULT_TEXT_TYPE);
    }
  }

  get status(): number {
    return this.#status;
  }
  get statusText(): string {
    return this.#statusText;
  }
  get ok(): boolean {
    return this.#status >= 200 && this.#status <= 299;
  }
  get headers(): LiteHeaders {
    return this.#headers;
  }
  get type(): 'default' {
    return 'default';
  }
  get url(): string {
    return '';
  }
  get redirected(): boolean {
    return false;
  }
  get bodyUsed(): boolean {
    return this.#real ? this.#real.bodyUsed : this.#used;
  }
  get body(): ReadableStream<Uint8Array> | null {
    if (this.#body === null && !this.#real) return null;
    return this[MATERIALISE]().body;
  }

  /** The body's text, once (as fetch: a second read of a body is refused). */
  #take(): string {
    if (this.#real) throw new Error('unreachable: a materialised response reads through the real one');
    // No body: nothing to use up, every read is empty (as fetch).
    if (this.#body === null) return '';
    if (this.#used) throw new TypeError('Response: the body has already been read');
    this.#used = true;
    return this.#body;
  }

  async text(): Promise<string> {
    if (this.#real) return this.#real.text();
    return this.#take();
  }

  async json(): Promise<unknown> {
    if (this.#real) return this.#real.json();
    return JSON.parse(this.#take());
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    if (this.#real) return this.#real.arrayBuffer();
    const bytes = new TextEncoder().encode(this.#take());
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  /** The real Response with this one's status, headers and (unread) body. */
  [MATERIALISE](): Response {
    if (!this.#real) {
      if (this.#used) throw new TypeError('Response: the body has already been read');
      materialised++;
      this.#real = new (real().response())(this.#body, {
        status: this.#status,
        statusText: this.#statusText,
        headers: [...this.#headers] as [string, string][],
      });
    }
    return this.#real;
  }

  get [Symbol.toStringTag](): string {
    return 'Response';
  }

  static json(data: unknown, init?: ConstructorParameters<RealResponse>[1]): Response {
    materialised++;
    return real().response().json(data, init);
  }

  static error(): Response {
    materialised++;
    return real().response().error();
  }

  static redirect(...args: Parameters<RealResponse['redirect']>): Response {
    materialised++;
    return real()
      .response()
      .redirect(...args);
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return isLite(value, LiteResponse) || isReal(value, 'Response', () => real().response());
  }
}

/** Members of Request and Response answered by the real object. */
const REQUEST_DELEGATED = [
  'cache',
  'credentials',
  'destination',
  'integrity',
  'keepalive',
  'mode',
  'redirect',
  'referrer',
  'referrerPolicy',
  'signal',
  'duplex',
] as const;
const BODY_METHODS = ['arrayBuffer', 'blob', 'bytes', 'formData', 'json', 'text', 'clone'] as const;

for (const key of REQUEST_DELEGATED) {
  Object.defineProperty(LiteRequest.prototype, key, {
    get(this: LiteRequest) {
      return Reflect.get(this[MATERIALISE](), key);
    },
    configurable: true,
  });
}
/** Defines each of `keys` on a stand-in's prototype as a method the stand-in's real object answers. */
function delegateMethods(prototype: { [MATERIALISE](): object }, keys: readonly string[]): void {
  for (const key of keys) {
    Object.defineProperty(prototype, key, {
      value(this: { [MATERIALISE](): object }, ...args: unknown[]) {
        const r = this[MATERIALISE]();
        return (Reflect.get(r, key) as (...a: unknown[]) => unknown).apply(r, args);
      },
      configurable: true,
      writable: true,
    });
  }
}
delegateMethods(LiteRequest.prototype, BODY_METHODS);
delegateMethods(LiteResponse.prototype, ['blob', 'bytes', 'formData', 'clone']);

/**
 * Puts the stand-ins in place of the global Headers, Request and Response, keeping Node's own (lazy)
 * definitions for the real objects they build. Idempotent. Returns a function that puts Node's back.
 */
export function installLiteWeb(): () => void {
  if (originals) return () => {};
  const names = ['Headers', 'Request', 'Response'] as const;
  const saved = names.map((n) => [n, Object.getOwnPropertyDescriptor(globalThis, n)] as const);
  const lite = { Headers: LiteHeaders, Request: LiteRequest, Response: LiteResponse };
  const put = (n: (typeof names)[number]) =>
    Object.defineProperty(globalThis, n, {
      value: lite[n],
      writable: true,
      configurable: true,
      enumerable: false,
    });
  const [h, q, r] = saved.map(([n, d]) => {
    let cls: unknown;
    return () => {
      if (cls === undefined) {
        // Node's lazy getter evaluates undici and redefines the global as the real class: put ours back.
        cls = d?.get ? d.get.call(globalThis) : d?.value;
        if (originals) put(n);
      }
      return cls;
    };
  }) as [() => RealHeaders, () => RealRequest, () => RealResponse];
  originals = { headers: h, request: q, response: r };
  for (const n of names) put(n);
  return () => {
    for (const [n, d] of saved) {
      if (d) Object.defineProperty(globalThis, n, d);
    }
    originals = undefined;
  };
}
