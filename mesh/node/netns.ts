/**
 * Kernel-shaped links for Node peers: one network namespace per peer, joined through a bridge
 * in a hub namespace, each peer's uplink (the egress of its veth) shaped by the kernel's token
 * bucket filter (`tc qdisc ... tbf`). The signaling server runs in the hub, or in the
 * calling process when `rootLink` joins the root namespace to the bridge by one more veth (the
 * only thing made in the root namespace; it goes with the hub). `close()` deletes every
 * namespace it made (their veths and qdiscs go with them). Needs root (CAP_NET_ADMIN) and iproute2; `netnsUnavailable`
 * says why when the machine cannot. Used by the namespace test and `npm run bench -- --netns`.
 *
 *   const net = createNetnsTopology([{ uplinkBps: 4e6 }, { uplinkBps: 4e6 }]);
 *   spawn(net.wrap(0, [process.execPath, 'mesh/node/run-peer.ts', ...]) ...);
 *   net.close();
 */

import { execFileSync } from 'node:child_process';

export interface NetnsPeer {
  /** Kernel rate of the peer's uplink, bits per second; undefined: unshaped. */
  readonly uplinkBps?: number | undefined;
}

export interface NetnsOptions {
  /** Join the root namespace to the bridge (address `rootAddress`), for an in-process server. */
  readonly rootLink?: boolean;
  /**
   * 'uplink' (the default): one token bucket (tbf) on the peer's veth, shared by all its
   * links, as a real uplink is. 'per-link': one htb class per other peer, each at the rate,
   * as the scenarios' `uplinkMbps` and the app's shaper mean it (a cap on each outgoing link).
   */
  readonly shaping?: 'uplink' | 'per-link';
}

export interface NetnsTopology {
  /** The hub's address: where a server started in the hub listens. */
  readonly hubAddress: string;
  /** The root namespace's address on the bridge (with `rootLink`), else undefined. */
  readonly rootAddress: string | undefined;
  /** Peer i's address. */
  address(i: number): string;
  /** argv that runs `argv` inside peer i's namespace (index -1: the hub). */
  wrap(i: number, argv: readonly string[]): string[];
  /** The qdisc line of peer i's uplink, as `tc qdisc show` prints it (a check and a record). */
  qdisc(i: number): string;
  /** Sets peer i's uplink to `bps` (undefined: unshaped), as a scenario's timeline does. */
  setUplink(i: number, bps: number | undefined): void;
  /** Deletes every namespace; safe to call twice. */
  close(): void;
}

const SUBNET = '10.213.7';
let made = 0;

const ip = (args: readonly string[]) => execFileSync('ip', args, { stdio: 'pipe' }).toString();

/** Why namespaces cannot be made here, or undefined when they can (tries one and deletes it). */
export function netnsUnavailable(): string | undefined {
  const name = `dlcheck${process.pid % 100_000}`;
  try {
    ip(['netns', 'add', name]);
  } catch (e) {
    return `cannot create a network namespace (${firstLine(e)}); run as root with iproute2`;
  }
  try {
    execFileSync('ip', ['netns', 'exec', name, 'tc', 'qdisc', 'show'], { stdio: 'pipe' });
  } catch (e) {
    return `tc does not run in a namespace (${firstLine(e)})`;
  } finally {
    try {
      ip(['netns', 'del', name]);
    } catch {
      // Already gone.
    }
  }
  return undefined;
}

const firstLine = (e: unknown) =>
  (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? 'unknown';

/**
 * The token bucket: `rate` as given; a burst of 2 ms of the rate (at least two full frames), so
 * that a message's first frames do not pass at line rate and shorten its span; a queue of 200 ms.
 */
export function tbfArgs(dev: string, bps: number, verb: 'add' | 'replace' = 'add'): string[] {
  const burst = Math.max(3028, Math.ceil(bps / 8 / 500));
  return [
    'qdisc',
    verb,
    'dev',
    dev,
    'root',
    'tbf',
    'rate',
    `${Math.round(bps)}bit`,
    'burst',
    String(burst),
    'latency',
    '200ms',
  ];
}

/** htb classes of peer i's uplink: 1:99 unshaped (the hub), 1:(10 + j) towards peer j. */
function htbArgs(dev: string, bps: number, verb: 'add' | 'change', j: number): string[] {
  const burst = String(Math.max(3028, Math.ceil(bps / 8 / 500)));
  const rate = `${Math.round(bps)}bit`;
  return [
    'class',
    verb,
    'dev',
    dev,
    'parent',
    '1:',
    'classid',
    `1:${10 + j}`,
    'htb',
    'rate',
    rate,
    'ceil',
    rate,
    'burst',
    burst,
    'cburst',
    burst,
  ];
}

/** Makes the namespaces, veths, bridge and qdiscs; throws (after cleaning up) if any step fails. */
export function createNetnsTopology(
  peers: readonly NetnsPeer[],
  options: NetnsOptions = {},
): NetnsTopology {
  if (peers.length < 1 || peers.length > 200) throw new RangeError('1 to 200 peers');
  const tag = `dl${process.pid % 10_000}${String.fromCharCode(97 + (made++ % 26))}`;
  const hub = `${tag}hub`;
  const ns = (i: number) => `${tag}p${i}`;
  const created: string[] = [];
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const name of created.reverse()) {
      try {
        ip(['netns', 'del', name]);
      } catch {
        // Deleted already, or never made whole.
      }
    }
  };
  const inNs = (name: string, args: readonly string[]) => ip(['-n', name, ...args]);
  try {
    ip(['netns', 'add', hub]);
    created.push(hub);
    inNs(hub, ['link', 'set', 'lo', 'up']);
    inNs(hub, ['link', 'add', 'br0', 'type', 'bridge']);
    inNs(hub, ['addr', 'add', `${SUBNET}.1/24`, 'dev', 'br0']);
    inNs(hub, ['link', 'set', 'br0', 'up']);
    if (options.rootLink === true) {
      ip(['link', 'add', `${tag}r`, 'type', 'veth', 'peer', 'name', `${tag}h`, 'netns', hub]);
      ip(['addr', 'add', `${SUBNET}.254/24`, 'dev', `${tag}r`]);
      ip(['link', 'set', `${tag}r`, 'up']);
      inNs(hub, ['link', 'set', `${tag}h`, 'master', 'br0']);
      inNs(hub, ['link', 'set', `${tag}h`, 'up']);
    }
    peers.forEach((peer, i) => {
      const name = ns(i);
      ip(['netns', 'add', name]);
      created.push(name);
      const inner = `${tag}a${i}`;
      const outer = `${tag}b${i}`;
      inNs(name, ['link', 'set', 'lo', 'up']);
      inNs(name, ['link', 'add', inner, 'type', 'veth', 'peer', 'name', outer, 'netns', hub]);
      inNs(name, ['addr', 'add', `${SUBNET}.${10 + i}/24`, 'dev', inner]);
      inNs(name, ['link', 'set', inner, 'up']);
      inNs(hub, ['link', 'set', outer, 'master', 'br0']);
      inNs(hub, ['link', 'set', outer, 'up']);
      const tcIn = (args: readonly string[]) =>
        execFileSync('ip', ['netns', 'exec', name, 'tc', ...args], { stdio: 'pipe' });
      if (peer.uplinkBps === undefined) return;
      if (options.shaping !== 'per-link') {
        tcIn(tbfArgs(inner, peer.uplinkBps));
        return;
      }
      tcIn(['qdisc', 'add', 'dev', inner, 'root', 'handle', '1:', 'htb', 'default', '99']);
      tcIn([
        'class',
        'add',
        'dev',
        inner,
        'parent',
        '1:',
        'classid',
        '1:99',
        'htb',
        'rate',
        '10gbit',
      ]);
      peers.forEach((_, j) => {
        if (j === i) return;
        tcIn(htbArgs(inner, peer.uplinkBps!, 'add', j));
        tcIn([
          'filter',
          'add',
          'dev',
          inner,
          'parent',
          '1:',
          'protocol',
          'ip',
          'prio',
          '1',
          'u32',
          'match',
          'ip',
          'dst',
          `${SUBNET}.${10 + j}/32`,
          'flowid',
          `1:${10 + j}`,
        ]);
      });
    });
  } catch (e) {
    close();
    throw new Error(`netns topology: ${firstLine(e)}`);
  }
  const tc = (i: number, args: readonly string[]) =>
    execFileSync('ip', ['netns', 'exec', ns(i), 'tc', ...args], { stdio: 'pipe' }).toString();
  return {
    hubAddress: `${SUBNET}.1`,
    rootAddress: options.rootLink === true ? `${SUBNET}.254` : undefined,
    address: (i) => `${SUBNET}.${10 + i}`,
    wrap: (i, argv) => ['ip', 'netns', 'exec', i < 0 ? hub : ns(i), ...argv],
    qdisc: (i) => tc(i, ['qdisc', 'show', 'dev', `${tag}a${i}`]).trim(),
    setUplink(i, bps) {
      if (bps === undefined)
        tc(i, ['qdisc', 'replace', 'dev', `${tag}a${i}`, 'root', 'pfifo_fast']);
      else tc(i, tbfArgs(`${tag}a${i}`, bps, 'replace'));
    },
    close,
  };
}
