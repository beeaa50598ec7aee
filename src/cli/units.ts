/**
 * Parsing of the values people type on a command line: durations ("30", "500ms", "2m"), sizes
 * ("1048576", "64k", "16MiB"), counts, ports and "Name: value" headers. Each parser is a bounded
 * loop over the argument (no regular expressions on input) and throws a UsageError naming the
 * option, so `hybi` can print one clear line and exit 2 instead of a stack trace. Also the start
 * every command shares (`commandLine`) and the files options name (`readOption`).
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command-line mistake: printed as one line followed by a pointer to `--help`, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Splits "12.5ms" into its number and unit. The number is digits with at most one '.', so there is
 * nothing to backtrack over; a sign, an exponent or hex is refused because nobody means them here.
 */
function splitNumber(text: string): { value: number; unit: string } | null {
  let i = 0;
  let dots = 0;
  let digits = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isDigit(c)) digits++;
    else if (c === 0x2e /* . */ && dots === 0) dots++;
    else break;
  }
  if (digits === 0) return null;
  const value = Number(text.slice(0, i));
  if (!Number.isFinite(value)) return null;
  return { value, unit: text.slice(i).trim().toLowerCase() };
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  '': 1000, // a bare number is seconds: what wscat and websocat take
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
};

/**
 * A number with an optional unit, times the unit's factor in `units`; anything else is a
 * UsageError saying it is not `expected` (which includes examples of what is).
 */
function withUnit(option: string, text: string, units: Readonly<Record<string, number>>, expected: string): number {
  const parsed = splitNumber(text.trim());
  const factor = parsed ? units[parsed.unit] : undefined;
  if (!parsed || factor === undefined) throw new UsageError(`--${option}: '${text}' is not ${expected}`);
  return parsed.value * factor;
}

/**
 * A duration in milliseconds. A bare number means seconds ("--timeout 5"); "ms", "s", "m" and "h"
 * are accepted as suffixes. "0" is allowed and means "off" for the options that take it.
 */
export function parseDuration(option: string, text: string): number {
  const ms = Math.round(withUnit(option, text, DURATION_UNITS, 'a duration (try 30, 500ms, 2m)'));
  // setTimeout silently turns anything above 2^31-1 ms into 1 ms; refuse rather than surprise.
  if (ms > 2_147_483_647) throw new UsageError(`--${option}: '${text}' is too long (at most about 24 days)`);
  return ms;
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 * 1024,
  mb: 1024 * 1024,
  mib: 1024 * 1024,
  g: 1024 * 1024 * 1024,
  gb: 1024 * 1024 * 1024,
  gib: 1024 * 1024 * 1024,
};

/** A size in bytes: a bare number is bytes; k/KiB, M/MiB and G/GiB are binary multiples. */
export function parseSize(option: string, text: string): number {
  const bytes = Math.floor(withUnit(option, text, SIZE_UNITS, 'a size (try 65536, 64k, 16MiB)'));
  if (bytes < 1 || bytes > Number.MAX_SAFE_INTEGER) throw new UsageError(`--${option}: '${text}' is out of range`);
  return bytes;
}

/** A whole number within [min, max]. */
export function parseInteger(option: string, text: string, min: number, max: number): number {
  const t = text.trim();
  let ok = t.length > 0 && t.length <= 16;
  for (let i = 0; ok && i < t.length; i++) ok = isDigit(t.charCodeAt(i));
  const n = ok ? Number(t) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${option}: '${text}' is not a whole number from ${min} to ${max}`);
  }
  return n;
}

/** HTTP token characters (RFC 9110 section 5.6.2), the only ones a header name may hold. */
function isTokenChar(c: number): boolean {
  if (c >= 0x30 && c <= 0x39) return true;
  if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) return true;
  return "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c));
}

/**
 * "Name: value" (curl's -H syntax) into a pair. The name must be a token and the value may not
 * hold CR, LF or NUL: a header that smuggled a line break would forge a second header.
 */
export function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon === -1 ? '' : text.slice(0, colon).trim();
  let ok = name.length > 0;
  for (let i = 0; ok && i < name.length; i++) ok = isTokenChar(name.charCodeAt(i));
  if (!ok) throw new UsageError(`-H: '${text}' is not a header (expected 'Name: value')`);
  const value = text.slice(colon + 1).trim();
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0) throw new UsageError(`-H: the value of '${name}' holds a line break or NUL`);
  }
  return [name, value];
}

/** Formats a byte count for people: "512 B", "1.5 KiB", "3.2 MiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  return `${(n / (1024 * 1024 * 1024)).toFixed(1)} GiB`;
}

/** Formats a duration in milliseconds for people: "850ms", "12.3s", "4m05s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m${sec}s` : `${m}m${sec}s`;
}

/** The option table `parseCommandLine` takes: node:util's parseArgs configuration. */
type OptionTable = NonNullable<ParseArgsConfig['options']>;

/** What `parseCommandLine` returns: parseArgs's values and positionals for that table. */
type ParsedCommandLine<T extends OptionTable> = ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>;

/**
 * node:util's parseArgs, with its errors rephrased as one-line UsageErrors: its own messages
 * are several lines long and written for programmers ("Unknown option '--x'. To specify a
 * positional argument starting with a '-', place it at the end of the command after '--', as
 * in '-- "--x"'"), and a usage error must be one short line and exit status 2.
 */
export function parseCommandLine<T extends OptionTable>(argv: string[], options: T): ParsedCommandLine<T> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(rephraseParseError(err, options));
  }
}

function rephraseParseError(err: unknown, options: OptionTable): string {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    // "Unknown option '--x'. To specify a positional argument ...": the first quoted word.
    const open = message.indexOf("'");
    const close = open === -1 ? -1 : message.indexOf("'", open + 1);
    const option = close === -1 ? '' : message.slice(open + 1, close);
    return option ? `unknown option '${option}'` : 'unknown option';
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    // "Option '-n, --count <value>' argument missing" or "Option '-h, --help' does not take an argument".
    const entry = Object.entries(options ?? {}).find(([long]) => message.includes(`--${long} `) || message.includes(`--${long}'`));
    const name = entry ? `--${entry[0]}` : 'an option';
    return entry && (entry[1] as { type: string }).type === 'boolean' ? `${name} takes no value` : `${name} needs a value`;
  }
  // Anything else parseArgs may add later: its first sentence, on one line.
  return message.split('\n', 1)[0]!.split('. ', 1)[0]!;
}

/** The contents of the file an option names (a certificate, a key); a file that cannot be read is a usage error. */
export function readOption(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`--${option}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * The start every command shares: its arguments parsed into settings, or the exit status when
 * there is nothing to run: 0 after printing `help` for --help, 2 after one line on stderr for a
 * usage error (with a pointer to --help).
 */
export function commandLine<S>(command: string, argv: string[], parse: (argv: string[]) => S | null, help: string): S | number {
  let settings: S | null;
  try {
    settings = parse(argv);
  } catch (err) {
    process.stderr.write(`hybi ${command}: ${(err as Error).message}\nTry 'hybi ${command} --help'.\n`);
    return 2;
  }
  if (settings === null) {
    process.stdout.write(help);
    return 0;
  }
  return settings;
}
