/**
 * Failpoints: named places where a fault test makes this process crash, to prove what survives a
 * crash exactly there. Armed only by the `FAILPOINTS` variable (refused when `NODE_ENV=production`);
 * unarmed, a failpoint is an optional call that is never made (`failpoint?.(name)`), so it costs nothing.
 */

/** Every failpoint the server has, where it sits. */
export const FAILPOINT_NAMES = [
  /** The answer writer took a batch from its buffer; its statement has not been sent. */
  'answers:before-write',
  /** The answer statement committed; no caller of the batch has been answered (no ack sent). */
  'answers:after-commit',
] as const;

export type FailpointName = (typeof FAILPOINT_NAMES)[number];

/** One armed failpoint: crash the `hit`-th time it is reached (1: the first time). */
export interface ArmedFailpoint {
  name: FailpointName;
  hit: number;
}

/** Reached at a failpoint: crashes the process when that failpoint is armed and its hit has come. */
export type Failpoint = (name: FailpointName) => void;

/**
 * Parses `FAILPOINTS`: comma-separated names, each optionally `@n` (crash the n-th time it is reached,
 * e.g. `answers:after-commit@20`, so that a test sees answers acknowledged before the crash). Returns
 * the first entry it cannot read as the error, or the list.
 */
export function parseFailpoints(raw: string): ArmedFailpoint[] | { bad: string } {
  const armed: ArmedFailpoint[] = [];
  for (const entry of raw.split(',').map((e) => e.trim()).filter(Boolean)) {
    const m = /^([a-z:-]+)(?:@([1-9]\d{0,8}))?$/.exec(entry);
    const name = FAILPOINT_NAMES.find((n) => n === m?.[1]);
    if (!m || !name) return { bad: entry };
    armed.push({ name, hit: Number(m[2] ?? 1) });
  }
  return armed;
}

/**
 * The failpoint callback for `armed`, or undefined when nothing is armed (callers then skip the call).
 * An armed failpoint, at its hit, writes one line to stderr (synchronous on a pipe or file) and sends
 * itself SIGKILL: a crash, nothing after it runs, no handler, no drain.
 */
export function failpoints(armed: readonly ArmedFailpoint[]): Failpoint | undefined {
  if (armed.length === 0) return undefined;
  const hits = new Map<FailpointName, number>();
  return (name) => {
    const at = armed.find((a) => a.name === name);
    if (!at) return;
    const n = (hits.get(name) ?? 0) + 1;
    hits.set(name, n);
    if (n < at.hit) return;
    process.stderr.write(`failpoint ${name} reached (hit ${n}): SIGKILL\n`);
    process.kill(process.pid, 'SIGKILL');
  };
}
