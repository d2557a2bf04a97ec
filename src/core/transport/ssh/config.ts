// What ssh(1) would use to reach a host alias, from ~/.ssh/config (or a given file) via the ssh-config
// package. Only the options distest acts on are resolved; `Match exec` is never evaluated (it would run
// commands from the config while merely looking a host up).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as SshConfigModule from 'ssh-config' with { 'resolution-mode': 'import' };

// The package's types describe its ESM build; this CommonJS bundle loads the equivalent CJS build.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { parse: parseSshConfig } = require('ssh-config') as typeof SshConfigModule;

export interface JumpHop { user?: string; host: string; port?: number }

export interface SshHostConfig {
  /** The name the user gave (a `Host` alias or a plain host name). */
  alias: string;
  hostName: string;
  port: number;
  user: string;
  identityFiles: string[];
  identitiesOnly: boolean;
  /** ssh-agent socket; undefined when none is configured or `IdentityAgent none`. */
  agentSocket?: string;
  /** Hops in order (ProxyJump `a,b`: first a, then b, then the target). */
  proxyJump: JumpHop[];
  serverAliveIntervalSec: number;
  serverAliveCountMax: number;
  userKnownHostsFiles: string[];
  hashKnownHosts: boolean;
}

export interface SshConfigSource {
  /** An ssh_config file; default ~/.ssh/config (missing is fine: defaults apply). */
  configFile?: string;
  homeDir?: string;
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

export function resolveSshHost(alias: string, source: SshConfigSource = {}): SshHostConfig {
  const home = source.homeDir ?? os.homedir();
  const env = source.env ?? process.env;
  const configFile = source.configFile ?? path.join(home, '.ssh/config');
  const text = fs.existsSync(configFile) ? expandIncludes(configFile, path.join(home, '.ssh'), new Set()) : '';
  const computed = parseSshConfig(text).compute(alias, { ignoreCase: true, matchExec: false });
  const one = (key: string): string | undefined => {
    const value = computed[key];
    return Array.isArray(value) ? value[0] : value;
  };
  const many = (key: string): string[] => {
    const value = computed[key];
    return value === undefined ? [] : Array.isArray(value) ? value : [value];
  };
  const hostName = one('hostname') ?? alias;
  const user = one('user') ?? os.userInfo().username;
  const port = parsePort(one('port') ?? '22', `Port of ${alias}`);
  const tokens = { h: hostName, u: os.userInfo().username, r: user, d: home, n: alias, p: String(port) };
  const expand = (file: string): string => expandPath(file, home, tokens);
  const explicitIdentities = many('identityfile').filter(f => f.toLowerCase() !== 'none').map(expand);
  const identityFiles = explicitIdentities.length
    ? explicitIdentities
    : DEFAULT_IDENTITIES.map(f => path.join(home, '.ssh', f)).filter(f => fs.existsSync(f));
  const agent = one('identityagent');
  const agentSocket = agent === undefined ? env.SSH_AUTH_SOCK || undefined
    : agent.toLowerCase() === 'none' ? undefined
      : agent === 'SSH_AUTH_SOCK' ? env.SSH_AUTH_SOCK || undefined : expand(agent);
  const jump = one('proxyjump');
  const knownHosts = many('userknownhostsfile').flatMap(v => v.split(/\s+/)).filter(Boolean);
  return {
    alias,
    hostName,
    port,
    user,
    identityFiles,
    identitiesOnly: isYes(one('identitiesonly')),
    agentSocket,
    proxyJump: jump && jump.toLowerCase() !== 'none' ? parseProxyJump(jump) : [],
    serverAliveIntervalSec: Number(one('serveraliveinterval') ?? 0) || 0,
    serverAliveCountMax: Number(one('serveralivecountmax') ?? 3) || 3,
    userKnownHostsFiles: knownHosts.length ? knownHosts.map(expand) : [path.join(home, '.ssh/known_hosts')],
    hashKnownHosts: isYes(one('hashknownhosts')),
  };
}

/** `user@host:port,host2` → hops; IPv6 hosts in brackets (`[::1]:2222`). */
export function parseProxyJump(value: string): JumpHop[] {
  return value.split(',').map(s => s.trim()).filter(Boolean).map(spec => {
    const at = spec.lastIndexOf('@');
    const user = at >= 0 ? spec.slice(0, at) : undefined;
    const rest = at >= 0 ? spec.slice(at + 1) : spec;
    const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest) ?? /^([^:]+)(?::(\d+))?$/.exec(rest);
    if (!match) throw new Error(`cannot read ProxyJump hop "${spec}"`);
    return { user, host: match[1], port: match[2] ? parsePort(match[2], `ProxyJump hop "${spec}"`) : undefined };
  });
}

function parsePort(text: string, what: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${what} is not a port number: ${text}`);
  return port;
}

function isYes(value: string | undefined): boolean {
  return value !== undefined && ['yes', 'true'].includes(value.toLowerCase());
}

function expandPath(file: string, home: string, tokens: Record<string, string>): string {
  const withTokens = file.replace(/%(.)/g, (whole, t: string) => (t === '%' ? '%' : tokens[t] ?? whole));
  if (withTokens === '~') return home;
  return withTokens.startsWith('~/') ? path.join(home, withTokens.slice(2)) : withTokens;
}

/**
 * Inlines `Include` lines (ssh-config does not follow them). Relative names are taken from ~/.ssh like
 * ssh(1) does for the user config; `*` in the last path part is expanded. Included text replaces the
 * Include line, which matches ssh(1) for the common case of an Include at the top of the file.
 */
function expandIncludes(file: string, relativeTo: string, seen: Set<string>): string {
  const real = fs.realpathSync(file);
  if (seen.has(real)) throw new Error(`ssh config ${file} includes itself`);
  const nested = new Set(seen).add(real);
  return fs.readFileSync(file, 'utf8').split('\n').map(line => {
    const include = /^\s*include\s+(.+)$/i.exec(line);
    if (!include) return line;
    return include[1].trim().split(/\s+/).map(s => s.replace(/^"(.*)"$/, '$1')).flatMap(pattern => {
      const expanded = pattern.startsWith('~/') ? path.join(os.homedir(), pattern.slice(2)) : pattern;
      return globFiles(path.isAbsolute(expanded) ? expanded : path.join(relativeTo, expanded));
    }).map(f => expandIncludes(f, relativeTo, nested)).join('\n');
  }).join('\n');
}

function globFiles(pattern: string): string[] {
  const dir = path.dirname(pattern);
  const base = path.basename(pattern);
  if (!base.includes('*')) return fs.existsSync(pattern) ? [pattern] : [];
  const re = new RegExp(`^${base.replace(/[.+^${}()|[\]\\?]/g, '\\$&').replace(/\*/g, '.*')}$`);
  try {
    return fs.readdirSync(dir).filter(f => re.test(f)).sort().map(f => path.join(dir, f));
  } catch {
    return [];
  }
}
