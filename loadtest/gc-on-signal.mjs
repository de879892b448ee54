// Preload for a child node in a memory test (`node --expose-gc --import ./loadtest/gc-on-signal.mjs …`):
// SIGUSR2 runs a full garbage collection, so that the heap the node's /metrics reports next is what it
// retains, not the height of the allocation sawtooth at that instant. Without --expose-gc it does nothing.
process.on('SIGUSR2', () => globalThis.gc?.());
