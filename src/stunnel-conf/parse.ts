/**
 * A reader for stunnel 5.68 configuration files, as stunnel itself reads them (options.c, stunnel(8)):
 * global options, then `[service]` sections; one `option = value` per line, leading and trailing blanks
 * ignored; whole-line comments starting with `;` or `#`; option names case-insensitive; a UTF-8 byte order
 * mark at the start of a file ignored; `include = DIRECTORY` reads every regular file of the directory in
 * ascending byte order of the names, in the section that is current, and a `[service]` in an included file
 * stays current after it. Service-level options given before the first section are the defaults of every
 * service.
 *
 * Never throws: an unreadable file, a line stunnel would refuse, a value we cannot use or an include loop
 * becomes a problem naming file and line, and the rest is still read (stunnel stops at the first error;
 * we keep going to report them all and to use what is there).
 */
import { readFileSync, readdirSync, statSync, realpathSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/** One `option = value` line. */
export interface ConfOption {
  /** Lower-cased option name. */
  key: string;
  /** The option name as written. */
  name: string;
  value: string;
  file: string;
  line: number;
}

export interface ConfSection {
  /** null for the global section (the options before the first `[service]`). */
  name: string | null;
  file: string | null;
  line: number | null;
  options: ConfOption[];
}

export interface ConfProblem {
  file: string;
  /** null when the whole file is at fault (unreadable). */
  line: number | null;
  message: string;
}

export interface StunnelConf {
  /** The configuration file given. */
  path: string;
  /** Every file read, in reading order. */
  files: string[];
  global: ConfSection;
  services: ConfSection[];
  problems: ConfProblem[];
  /** A digest of the contents read (same files, same text: same digest). */
  digest: string;
}

/** The file system calls the reader needs (injectable for tests; Node's synchronous calls by default). */
export interface ConfFs {
  readFile(path: string): string;
  readdir(path: string): string[];
  isFile(path: string): boolean;
  realpath(path: string): string;
}

/** A configuration file larger than this is refused (a wrong path to a log or a device is not read to its end). */
export const MAX_CONF_BYTES = 4 << 20;

export const nodeConfFs: ConfFs = {
  readFile: (p) => {
    const st = statSync(p);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
    if (st.size > MAX_CONF_BYTES) throw Object.assign(new Error('too large'), { code: `larger than ${MAX_CONF_BYTES} bytes` });
    return readFileSync(p, 'utf8');
  },
  readdir: (p) => readdirSync(p),
  isFile: (p) => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  },
  realpath: (p) => realpathSync(p),
};

/** Files deeper than this in an include chain are refused (stunnel would recurse until it fails). */
export const MAX_INCLUDE_DEPTH = 16;
/** Lines longer than this are refused (stunnel reads lines into a 16 KiB buffer). */
const MAX_LINE = 16 * 1024;

function errCode(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ?? err.message ?? String(e);
}

/** Reads a stunnel configuration file and everything it includes. Never throws. */
export function readStunnelConf(path: string, fs: ConfFs = nodeConfFs): StunnelConf {
  const conf: StunnelConf = {
    path,
    files: [],
    global: { name: null, file: null, line: null, options: [] },
    services: [],
    problems: [],
    digest: '',
  };
  const hash = createHash('sha1');
  let current: ConfSection = conf.global;
  const baseDir = dirname(resolve(path));
  const stack: string[] = [];

  const readOne = (file: string, from: { file: string; line: number } | null): void => {
    let real = file;
    try {
      real = fs.realpath(file);
    } catch {
      // reported by readFile below
    }
    if (stack.includes(real)) {
      conf.problems.push({
        file: from?.file ?? file,
        line: from?.line ?? null,
        message: `include loop: ${file} is already being read (${[...stack, real].join(' -> ')})`,
      });
      return;
    }
    if (stack.length >= MAX_INCLUDE_DEPTH) {
      conf.problems.push({ file: from?.file ?? file, line: from?.line ?? null, message: `includes nested deeper than ${MAX_INCLUDE_DEPTH} files` });
      return;
    }
    let text: string;
    try {
      text = fs.readFile(file);
    } catch (e) {
      conf.problems.push(from
        ? { file: from.file, line: from.line, message: `cannot read included file ${file}: ${errCode(e)}` }
        : { file, line: null, message: `cannot read: ${errCode(e)}` });
      return;
    }
    conf.files.push(file);
    hash.update(file).update('\0').update(text).update('\0');
    stack.push(real);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    for (let i = 0; i < lines.length; i++) {
      const lineNo = i + 1;
      const raw = lines[i]!;
      if (raw.length > MAX_LINE) {
        conf.problems.push({ file, line: lineNo, message: `line longer than ${MAX_LINE} characters` });
        continue;
      }
      const t = raw.trim();
      if (t === '' || t[0] === ';' || t[0] === '#') continue;
      if (t[0] === '[' && t[t.length - 1] === ']') {
        const name = t.slice(1, -1).trim();
        if (name === '') {
          conf.problems.push({ file, line: lineNo, message: 'empty service name "[]"' });
          continue;
        }
        current = { name, file, line: lineNo, options: [] };
        conf.services.push(current);
        continue;
      }
      const eq = t.indexOf('=');
      if (eq < 0) {
        conf.problems.push({ file, line: lineNo, message: `"${short(t)}": No '=' found` });
        continue;
      }
      const name = t.slice(0, eq).trim();
      const value = t.slice(eq + 1).trim();
      if (name === '') {
        conf.problems.push({ file, line: lineNo, message: `"${short(t)}": option name missing before '='` });
        continue;
      }
      const key = name.toLowerCase();
      if (key === 'include') {
        includeDir(value, file, lineNo);
        continue;
      }
      current.options.push({ key, name, value, file, line: lineNo });
    }
    stack.pop();
  };

  const includeDir = (dir: string, file: string, line: number): void => {
    if (dir === '') {
      conf.problems.push({ file, line, message: '"include": a directory is required' });
      return;
    }
    const abs = isAbsolute(dir) ? dir : join(baseDir, dir);
    let names: string[];
    try {
      names = fs.readdir(abs);
    } catch (e) {
      conf.problems.push({ file, line, message: `"include": Failed to include directory "${dir}": ${errCode(e)}` });
      return;
    }
    // scandir(3) with alphasort: every entry, in ascending order; only regular files are read.
    names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const n of names) {
      const p = join(abs, n);
      if (fs.isFile(p)) readOne(p, { file, line });
    }
  };

  readOne(path, null);
  conf.digest = hash.digest('hex').slice(0, 16);
  return conf;
}

function short(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
