/**
 * The WebSocket to `/ws` of the page's own server: reconnects by itself with
 * a capped exponential backoff (0.5 s doubling to 5 s), and hands text
 * messages (parsed) and binary ones (preview frames) to the page.
 */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ConnectionEvents {
  onState(state: ConnectionState, detail: string): void;
  onText(msg: Record<string, unknown>): void;
  onBinary(buf: ArrayBuffer): void;
}

export class Connection {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  state: ConnectionState = 'connecting';

  constructor(
    private readonly url: () => string,
    private readonly events: ConnectionEvents,
  ) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.ws?.close(1000, 'page closed');
  }

  send(msg: unknown): boolean {
    if (this.ws === null || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  private set(state: ConnectionState, detail: string): void {
    this.state = state;
    this.events.onState(state, detail);
  }

  private open(): void {
    this.timer = null;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url());
    } catch (e) {
      this.set('closed', `cannot connect: ${(e as Error).message}`);
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.set(this.attempt === 0 ? 'connecting' : 'reconnecting', this.attempt === 0 ? 'connecting…' : `reconnecting (attempt ${this.attempt + 1})…`);
    ws.onopen = () => {
      this.attempt = 0;
      this.set('open', 'connected');
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data === 'string') {
        let m: unknown;
        try {
          m = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (typeof m === 'object' && m !== null) this.events.onText(m as Record<string, unknown>);
      } else if (ev.data instanceof ArrayBuffer) {
        this.events.onBinary(ev.data);
      }
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return this.set('closed', 'closed');
      const delay = Math.min(5000, 500 * 2 ** Math.min(this.attempt, 4));
      this.attempt++;
      const why = ev.reason ? `: ${ev.reason}` : ev.code === 1006 ? ' (server unreachable)' : ` (code ${ev.code})`;
      this.set('reconnecting', `disconnected${why}; reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${this.attempt})`);
      this.timer = setTimeout(() => this.open(), delay);
    };
  }
}
