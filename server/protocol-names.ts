/**
 * The names of the wire protocol: namespaces and events, and which proctoring signals count as flags.
 * Part of the protocol module (`protocol.ts` re-exports all of it), kept free of schemas so that the
 * browser pages can import these constants without bundling TypeBox; types come from `protocol.ts`.
 */
import type { ProctorEventType } from './protocol.js';

export const EXAM_NAMESPACE = '/exam';
export const INVIGILATOR_NAMESPACE = '/invigilator';

/** The event names of the `/exam` namespace. */
export const EXAM_EVENTS = {
  start: 'attempt:start',
  answer: 'answer',
  submit: 'submit',
  proctor: 'proctor:event',
  timer: 'timer',
  ended: 'attempt:ended',
  message: 'message',
} as const;

/** The event names of the `/invigilator` namespace. */
export const INVIGILATOR_EVENTS = {
  watch: 'exam:watch',
  extendAttempt: 'attempt:extend',
  extendExam: 'exam:extend',
  message: 'attempt:message',
  announce: 'exam:announce',
  terminate: 'attempt:terminate',
  forceSubmit: 'attempt:submit',
  rosterUpdate: 'roster:update',
  proctorEvent: 'proctor:event',
  ended: 'attempt:ended',
} as const;

/** Proctoring signals that count as a flag on the roster. */
export const FLAG_EVENT_TYPES: readonly ProctorEventType[] = [
  'focus_lost',
  'visibility_hidden',
  'fullscreen_exit',
  'paste',
  'copy',
  'devtools_open',
];
