/**
 * Presence across nodes, on a real Redis: two Presence instances are two nodes sharing one key
 * prefix. A student who leaves one node while still connected on the other stays connected; the
 * Redis work of a leave does not grow with the number of students in the exam.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';
import { Presence, type PresenceChange } from '../server/realtime/presence.js';
import { TEST_REDIS_URL } from './helpers/db.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet } as unknown as FastifyBaseLogger;
const prefix = `presence-test-${randomBytes(4).toString('hex')}:`;
const examId = 7;

let redisA: Redis;
let redisB: Redis;
let a: Presence;
let b: Presence;
const changes: { node: 'A' | 'B'; change: PresenceChange }[] = [];

beforeAll(async () => {
  redisA = new Redis(TEST_REDIS_URL);
  redisB = new Redis(TEST_REDIS_URL);
  a = new Presence(redisA, prefix, (list) => list.forEach((change) => changes.push({ node: 'A', change })), quiet);
  b = new Presence(redisB, prefix, (list) => list.forEach((change) => changes.push({ node: 'B', change })), quiet);
  a.start();
  b.start();
  // Both nodes have beaten once (each is live for the other).
  for (let i = 0; i < 100 && (await redisA.zcard(`${prefix}presence:nodes`)) < 2; i++) await new Promise((r) => setTimeout(r, 20));
});

afterAll(async () => {
  await a.stop();
  await b.stop();
  const keys = await redisA.keys(`${prefix}*`);
  if (keys.length) await redisA.del(...keys);
  redisA.disconnect();
  redisB.disconnect();
});

const leftFor = (studentId: number) => changes.filter((c) => c.change.studentId === studentId && !c.change.connected);

describe('presence', () => {
  it('a student connected on two nodes stays connected when one of them goes, and is gone when both have', async () => {
    await a.join(examId, 1, 11);
    await b.join(examId, 1, 11);
    await a.leave(examId, 1);
    expect(leftFor(1)).toEqual([]);
    expect((await a.online(examId)).has(1)).toBe(true);
    await b.leave(examId, 1);
    expect(leftFor(1)).toEqual([{ node: 'B', change: { examId, studentId: 1, attemptId: 11, connected: false } }]);
    expect((await a.online(examId)).has(1)).toBe(false);
  });

  it("a leave reads the student's own fields, never the whole exam: the same commands with 1 or 2,000 students connected", async () => {
    const leaveCommands = async (studentId: number) => {
      const monitor = await new Redis(TEST_REDIS_URL).monitor();
      const seen: string[] = [];
      monitor.on('monitor', (_time: string, args: string[]) => {
        // Not the heartbeats (every 2 s): their ZADD and their look for dead nodes (from -inf).
        const heartbeat = args[0] === 'zadd' || (args[0] === 'zrangebyscore' && args[2] === '-inf');
        if (args.some((arg) => arg.startsWith(prefix)) && !heartbeat) seen.push(`${args[0]} ${args.length - 1}`);
      });
      await new Promise((r) => setTimeout(r, 50));
      await a.join(examId, studentId, null);
      await new Promise((r) => setTimeout(r, 100)); // MONITOR reports a little after the command
      seen.length = 0;
      await a.leave(examId, studentId);
      await new Promise((r) => setTimeout(r, 100));
      const commands = [...seen]; // what follows (the next joins) is not this leave's
      monitor.disconnect();
      return commands;
    };
    const alone = await leaveCommands(100);
    for (let s = 1000; s < 3000; s++) await b.join(examId, s, s);
    const crowded = await leaveCommands(101);
    // MULTI/EXEC carry no key; the HMGET asks for this student's field on the one other live node.
    expect(alone).toEqual(['hdel 2', 'srem 2', 'zrangebyscore 3', 'hmget 2']);
    expect(crowded).toEqual(alone);
    expect(crowded.map((c) => c.split(' ')[0])).not.toContain('hkeys');
    expect(crowded.map((c) => c.split(' ')[0])).not.toContain('hgetall');
    expect(leftFor(100)).toHaveLength(1);
    expect(leftFor(101)).toHaveLength(1);
  });
});
