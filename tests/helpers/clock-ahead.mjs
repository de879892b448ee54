// A preload (`node --import <this file's URL> …`) that sets the process's wall clock ahead by
// FAKE_CLOCK_OFFSET_MS milliseconds, as on a machine whose clock is wrong: `Date.now()`, `new Date()`
// and `Date()` without arguments read the shifted time; a Date built from a value is that value, and
// timers and `performance.now()` (monotonic clocks) are untouched. With FAKE_CLOCK_STEP_MS, each
// SIGUSR2 the process receives sets its clock ahead by that much more, as an operator or a broken
// time sync would while it runs. For tests/fault-clock-ahead.test.ts.
const number = (name) => {
  const value = Number(process.env[name] ?? 0);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number of milliseconds, got ${process.env[name]}`);
  return value;
};
let offsetMs = number('FAKE_CLOCK_OFFSET_MS');
const stepMs = number('FAKE_CLOCK_STEP_MS');
if (stepMs !== 0) {
  process.on('SIGUSR2', () => {
    offsetMs += stepMs;
    process.stderr.write(`clock-ahead: clock set ahead by ${offsetMs} ms\n`);
  });
}
if (offsetMs !== 0) process.stderr.write(`clock-ahead: clock set ahead by ${offsetMs} ms\n`);

const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);
const now = () => realNow() + offsetMs;

globalThis.Date = new Proxy(RealDate, {
  construct(target, args, newTarget) {
    return Reflect.construct(target, args.length === 0 ? [now()] : args, newTarget);
  },
  apply() {
    return new RealDate(now()).toString();
  },
  get(target, property, receiver) {
    if (property === 'now') return now;
    return Reflect.get(target, property, receiver);
  },
});
