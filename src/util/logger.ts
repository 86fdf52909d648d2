/** A small structured logger: JSON lines when stderr is not a TTY, readable lines when it is. */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds these fields to every line. */
  child(fields: LogFields): Logger;
}

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface ConsoleLoggerOptions {
  level?: LogLevel;
  /** Where lines go; defaults to process.stderr so stdout stays free for data. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  format?: 'json' | 'text';
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { message: value.message, code: (value as { code?: unknown }).code };
  return value;
}

export function createLogger(options: ConsoleLoggerOptions = {}, bound: LogFields = {}): Logger {
  const stream = options.stream ?? process.stderr;
  const min = rank[options.level ?? 'info'];
  const format = options.format ?? (stream.isTTY ? 'text' : 'json');

  const write = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (rank[level] < min) return;
    const all = fields ? { ...bound, ...fields } : bound;
    if (format === 'json') {
      stream.write(JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...all }, jsonSafe) + '\n');
    } else {
      const extra = Object.entries(all)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v, jsonSafe)}`)
        .join(' ');
      const time = new Date().toISOString().slice(11, 23);
      stream.write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${extra ? '  ' + extra : ''}\n`);
    }
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ ...options, format }, { ...bound, ...fields }),
  };
}

/** A logger that discards everything (tests, embedders who do not want logs). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

/**
 * Logs the first occurrence of a repeated problem with its context, then only
 * a summary ("malformed line: 4210 more since last report") at most once per interval,
 * so bad input from the wire can never flood the log.
 */
export class ProblemReporter {
  private readonly suppressed = new Map<string, number>();
  private readonly lastLogged = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  report(kind: string, message: string, fields?: LogFields): void {
    const now = Date.now();
    const last = this.lastLogged.get(kind);
    if (last === undefined || now - last >= this.intervalMs) {
      const more = this.suppressed.get(kind) ?? 0;
      this.logger.warn(message, more > 0 ? { ...fields, suppressed_since_last: more } : fields);
      this.lastLogged.set(kind, now);
      this.suppressed.set(kind, 0);
    } else {
      this.suppressed.set(kind, (this.suppressed.get(kind) ?? 0) + 1);
    }
  }

  /** Logs what was suppressed since the last line (on shutdown). */
  flush(): void {
    for (const [kind, count] of this.suppressed) {
      if (count > 0) this.logger.warn(`${kind}: ${count} more occurrences not logged individually`);
    }
    this.suppressed.clear();
  }
}
